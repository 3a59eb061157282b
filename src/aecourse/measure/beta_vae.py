"""beta-VAE score: a linear classifier guesses the fixed factor from mean code differences.

Paper: Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework" (ICLR, https://openreview.net/forum?id=Sy2fzU9gl).
Reference implementation: disentanglement_lib ``evaluation/metrics/beta_vae.py``
(``compute_beta_vae_sklearn``, ``_generate_training_sample``), with Locatello et al.'s defaults.

Shapes: interventional, so it takes a :class:`~aecourse.measure.GroundTruthData` ``data`` and
``represent(observations) -> (n, num_latents)``; each point encodes two ``(batch_size, ...)``
batches and becomes one feature row ``(num_latents,)`` with the fixed factor as its label.
"""

from __future__ import annotations

import numpy as np

from ..contracts import check_int
from .ground_truth import GroundTruthData, Represent, derive_seed, encode_batches, generator, logistic_regression

__all__ = ["beta_vae_score"]


def beta_vae_score(data: GroundTruthData, represent: Represent, rng=None, *,
                   batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                   classifier=None, solver: str = "liblinear", chunk: int = 32) -> dict:
    """beta-VAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with
    a Constrained Variational Framework", https://openreview.net/forum?id=Sy2fzU9gl),
    as in disentanglement_lib ``evaluation/metrics/beta_vae.py``
    (``compute_beta_vae_sklearn``) with Locatello et al.'s defaults: batch 64,
    10,000 training and 5,000 evaluation points.

    A point: pick a factor ``j`` uniformly; draw two batches of
    ``batch_size`` factor settings, copy factor ``j`` of the first batch into
    the second, encode both, and take the feature
    ``mean_over_batch |z1 - z2|`` with label ``j``. disentanglement_lib's
    ``LogisticRegression()`` (the scikit-learn defaults of its time:
    liblinear, one-vs-rest, ``C=1``, 100 iterations; see
    :func:`~aecourse.measure.ground_truth.logistic_regression`) is fitted on
    the training points, on the raw features; the score
    (``"eval_accuracy"``) is its accuracy on the evaluation points. Chance
    level is about ``1/k``.

    Options (not disentanglement_lib): ``solver="lbfgs"`` (or another
    scikit-learn solver) fits a multinomial regression with ``max_iter=1000``
    instead, which is what this course used before issue 21; ``classifier``
    may be any scikit-learn classifier.
    Returns ``{"eval_accuracy", "train_accuracy"}``.

    Differences: ``chunk`` points are encoded per ``represent`` call, which
    does not change the result. Not invariant to rescaling latents (the
    regression is regularised and sees unstandardised features), as in the
    original.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    num_train = check_int("num_train", num_train, low=1)
    num_eval = check_int("num_eval", num_eval, low=1)
    chunk = check_int("chunk", chunk, low=1)
    logistic_regression(solver)  # refuse an unknown solver before encoding anything
    rng = generator(rng)
    k = len(data.factor_sizes)

    def points(n):
        labels = rng.integers(k, size=n)
        batches = []
        for j in labels:
            f1 = np.asarray(data.sample_factors(batch_size, rng))
            f2 = np.asarray(data.sample_factors(batch_size, rng)).copy()
            f2[:, j] = f1[:, j]
            batches += [f1, f2]
        z = encode_batches(data, represent, batches, rng, 2 * chunk)
        x = np.stack([np.mean(np.abs(z[2 * i] - z[2 * i + 1]), axis=0) for i in range(n)])
        return x, labels

    x_train, y_train = points(num_train)
    model = classifier if classifier is not None else logistic_regression(solver, derive_seed(rng))
    model.fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = points(num_eval)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return {"eval_accuracy": eval_acc, "train_accuracy": train_acc}
