"""FactorVAE score: a majority-vote classifier guesses the fixed factor from the quietest latent.

Paper: Kim & Mnih 2018, "Disentangling by Factorising" (ICML, https://arxiv.org/abs/1802.05983).
Reference implementation: disentanglement_lib ``evaluation/metrics/factor_vae.py``
(``compute_factor_vae``, ``_prune_dims``, ``_generate_training_batch``), with Locatello et al.'s
defaults.

Shapes: interventional, so it takes a :class:`~aecourse.measure.GroundTruthData` ``data`` and
``represent(observations) -> (n, num_latents)``; each vote encodes one ``(batch_size, ...)``
batch with one factor held fixed. The vote table is ``(num_factors, num_latents)``.
"""

from __future__ import annotations

import numpy as np

from ..contracts import check_int, check_number, invalid
from .ground_truth import GroundTruthData, Represent, encode, encode_batches, fixed_factor_batches, generator

__all__ = ["factor_vae_score", "factor_vae_sweep"]


def factor_vae_score(data: GroundTruthData, represent: Represent, rng=None, *,
                     batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                     num_variance_estimate: int = 10000, prune_threshold: float = 0.05,
                     chunk: int = 32) -> dict:
    """FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising",
    https://arxiv.org/abs/1802.05983), as in disentanglement_lib
    ``evaluation/metrics/factor_vae.py`` with the defaults of Locatello et al.
    (batch 64, 10,000 train votes, 5,000 eval votes, 10,000 points for the
    global variances, prune threshold 0.05).

    1. Global variance of each latent (``ddof=1``) over
       ``num_variance_estimate`` random observations; latents whose standard
       deviation is below ``prune_threshold`` are *collapsed* and ignored.
    2. A vote: pick a factor ``j`` uniformly, draw ``batch_size`` factor
       settings sharing the value of ``j``, encode them, and take the active
       latent with the smallest ``local variance / global variance``. Count
       votes in a ``(factors, latents)`` table.
    3. The classifier is the majority vote: each latent predicts the factor
       that voted for it most on the training votes. The score
       (``"eval_accuracy"``) is that classifier's accuracy on fresh eval votes.

    Returns ``{"eval_accuracy", "train_accuracy", "num_active_dims",
    "votes" (k, latents), "classifier" (latents,)}``. Chance level is about
    ``1/k``. Invariant to permuting latents; positive rescaling changes
    nothing unless it moves a latent's standard deviation across
    ``prune_threshold`` (a fixed number, not relative to the code's scale: the
    same model can score differently at another threshold).

    Differences: the argmin over active latents is mapped back to the full
    latent index before voting (disentanglement_lib uses the index within
    the active subset, which misattributes votes when a collapsed latent
    precedes an active one). ``chunk`` votes are encoded per ``represent``
    call for speed; this does not change the result. No active latent gives
    all scores 0, as in disentanglement_lib.
    """
    return factor_vae_sweep(data, represent, (prune_threshold,), rng, batch_size=batch_size,
                            num_train=num_train, num_eval=num_eval,
                            num_variance_estimate=num_variance_estimate, chunk=chunk)[prune_threshold]


def factor_vae_sweep(data: GroundTruthData, represent: Represent, prune_thresholds, rng=None, *,
                     batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                     num_variance_estimate: int = 10000, chunk: int = 32) -> dict[float, dict]:
    """:func:`factor_vae_score` at several prune thresholds, from one set of encoded votes.

    How much does the score depend on the threshold that calls a latent collapsed? The
    global variances and the training and evaluation batches are drawn and encoded once
    (in the order :func:`factor_vae_score` draws them), then each threshold in
    ``prune_thresholds`` (standard deviations, ``>= 0``) decides the active latents and
    its votes. Returns ``{threshold: factor_vae_score's dict}``; the entry for one
    threshold equals ``factor_vae_score(..., prune_threshold=threshold)`` with the same
    ``rng``. Holds every encoded batch in memory: ``(num_train + num_eval) * batch_size``
    codes.
    """
    batch_size = check_int("batch_size", batch_size, low=2, fix="a variance needs two codes per batch")
    num_train = check_int("num_train", num_train, low=1)
    num_eval = check_int("num_eval", num_eval, low=1)
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, low=2)
    thresholds = [check_number("prune_threshold", t, low=0) for t in np.atleast_1d(prune_thresholds).tolist()]
    if not thresholds:
        raise invalid("prune_thresholds", "at least one threshold", "none")
    chunk = check_int("chunk", chunk, low=1)
    rng = generator(rng)
    k = len(data.factor_sizes)
    f = np.asarray(data.sample_factors(num_variance_estimate, rng))
    z = encode(represent, data.sample_observations_from_factors(f, rng))
    global_var = np.var(z, axis=0, ddof=1)
    num_latents = z.shape[1]
    actives = {t: np.sqrt(global_var) >= t for t in thresholds}
    out = {t: {"eval_accuracy": 0.0, "train_accuracy": 0.0, "num_active_dims": 0,
               "votes": np.zeros((k, num_latents), dtype=np.int64),
               "classifier": np.zeros(num_latents, dtype=np.int64)}
           for t, active in actives.items() if not active.any()}  # no active latent: all scores 0, as there
    if len(out) == len(actives):
        return out

    def draw(n):
        idx, batches = fixed_factor_batches(data, n, batch_size, rng)
        return idx, [np.var(zb, axis=0, ddof=1) for zb in encode_batches(data, represent, batches, rng, chunk)]

    train, ev = draw(num_train), draw(num_eval)

    def votes(drawn, active_idx):
        table = np.zeros((k, num_latents), dtype=np.int64)
        for j, local_var in zip(*drawn):
            ratio = local_var[active_idx] / global_var[active_idx]
            table[j, active_idx[np.argmin(ratio)]] += 1
        return table

    cols = np.arange(num_latents)
    for t, active in actives.items():
        if t in out:
            continue
        active_idx = np.flatnonzero(active)
        table = votes(train, active_idx)
        classifier = np.argmax(table, axis=0)
        train_acc = table[classifier, cols].sum() / max(table.sum(), 1)
        table_ev = votes(ev, active_idx)
        eval_acc = table_ev[classifier, cols].sum() / max(table_ev.sum(), 1)
        out[t] = {"eval_accuracy": float(eval_acc), "train_accuracy": float(train_acc),
                  "num_active_dims": int(active.sum()), "votes": table, "classifier": classifier}
    return out
