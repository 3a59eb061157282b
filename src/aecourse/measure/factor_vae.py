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

from ..contracts import check_int, check_number
from .ground_truth import GroundTruthData, Represent, encode, encode_batches, fixed_factor_batches, generator

__all__ = ["factor_vae_score"]


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
    batch_size = check_int("batch_size", batch_size, low=2, fix="a variance needs two codes per batch")
    num_train = check_int("num_train", num_train, low=1)
    num_eval = check_int("num_eval", num_eval, low=1)
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, low=2)
    prune_threshold = check_number("prune_threshold", prune_threshold, low=0)
    chunk = check_int("chunk", chunk, low=1)
    rng = generator(rng)
    k = len(data.factor_sizes)
    f = np.asarray(data.sample_factors(num_variance_estimate, rng))
    z = encode(represent, data.sample_observations_from_factors(f, rng))
    global_var = np.var(z, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    num_latents = z.shape[1]
    if not active.any():
        return {"eval_accuracy": 0.0, "train_accuracy": 0.0, "num_active_dims": 0,
                "votes": np.zeros((k, num_latents), dtype=np.int64),
                "classifier": np.zeros(num_latents, dtype=np.int64)}
    active_idx = np.flatnonzero(active)

    def votes(n):
        idx, batches = fixed_factor_batches(data, n, batch_size, rng)
        table = np.zeros((k, num_latents), dtype=np.int64)
        for j, zb in zip(idx, encode_batches(data, represent, batches, rng, chunk)):
            ratio = np.var(zb[:, active_idx], axis=0, ddof=1) / global_var[active_idx]
            table[j, active_idx[np.argmin(ratio)]] += 1
        return table

    train = votes(num_train)
    classifier = np.argmax(train, axis=0)
    cols = np.arange(num_latents)
    train_acc = train[classifier, cols].sum() / max(train.sum(), 1)
    ev = votes(num_eval)
    eval_acc = ev[classifier, cols].sum() / max(ev.sum(), 1)
    return {"eval_accuracy": float(eval_acc), "train_accuracy": float(train_acc),
            "num_active_dims": int(active.sum()), "votes": train, "classifier": classifier}
