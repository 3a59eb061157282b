"""Modularity (does each latent inform about one factor only?) and explicitness (a linear read-out's ROC-AUC).

Paper: Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings with the F-Statistic Loss"
(NeurIPS, https://arxiv.org/abs/1802.05312).
Reference implementation: disentanglement_lib ``evaluation/metrics/modularity_explicitness.py``
(``compute_modularity_explicitness``, ``modularity``, ``explicitness_per_factor``), with
Locatello et al.'s 10,000 train and 5,000 test points and 20 histogram bins.

Shapes: observational with a test split: ``codes_train`` ``(n, num_latents)``,
``factors_train`` ``(n, num_factors)``, ``codes_test`` ``(m, num_latents)``,
``factors_test`` ``(m, num_factors)``. The mutual information matrix is
``(num_latents, num_factors)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize

from .discrete import discrete_mutual_info, histogram_discretize
from .ground_truth import check_sample, logistic_regression, standardize_train_test

__all__ = ["modularity_explicitness"]


def _modularity(m: np.ndarray) -> tuple[float, np.ndarray]:
    """Modularity and its per-latent scores ``(num_latents,)`` from a ``(num_latents, num_factors)`` MI matrix."""
    sq = np.square(m)
    top = sq.max(axis=1)
    k = sq.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - top) / (top * (k - 1.0)) if k > 1 else np.zeros_like(top)
    per = np.where(top > 0, 1.0 - delta, 0.0)
    return float(np.mean(per)), per


def _auc(model, x, y) -> float:
    """One-vs-rest macro ROC-AUC of a fitted classifier on ``x (n, num_latents)``, ``y (n,)``."""
    proba = model.predict_proba(x)
    classes = model.classes_
    if classes.size == 2:
        return float(roc_auc_score(y == classes[1], proba[:, 1]))
    onehot = label_binarize(y, classes=classes)
    present = onehot.sum(axis=0)
    keep = (present > 0) & (present < len(y))  # AUC undefined for absent classes
    return float(roc_auc_score(onehot[:, keep], proba[:, keep], average="macro"))


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, *,
                            num_bins: int = 20, solver: str = "liblinear") -> dict:
    """Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled
    Embeddings with the F-Statistic Loss", https://arxiv.org/abs/1802.05312), as in
    disentanglement_lib ``evaluation/metrics/modularity_explicitness.py``
    (Locatello et al.: 10,000 train, 5,000 test points, 20 histogram bins).

    * modularity: with ``m_ij = I(z_i; y_j)`` from the ``num_bins``-bin
      discretisation of the training codes, each latent scores
      ``1 - (sum_j m_ij^2 - max_j m_ij^2) / (max_j m_ij^2 (k - 1))`` (0 if it
      carries no information); modularity is the mean over latents. It is
      high when each latent informs about one factor only.
    * explicitness: per factor, disentanglement_lib's ``LogisticRegression()``
      (liblinear, one-vs-rest, ``C=1``, 100 iterations: the scikit-learn
      defaults of its time, see
      :func:`~aecourse.measure.ground_truth.logistic_regression`) on all
      latents (standardised with the training mean and std) and its
      one-vs-rest macro ROC-AUC on train and test; averaged over factors.
      ``solver="lbfgs"`` (an option, not disentanglement_lib) fits a
      multinomial regression with ``max_iter=1000`` instead.

    Returns ``{"modularity", "explicitness_train", "explicitness_test",
    "modularity_per_latent", "mutual_info"}``.

    Differences: classes absent from
    an evaluation split are left out of the AUC average (disentanglement_lib's
    ``MultiLabelBinarizer`` then misaligns columns or fails). Modularity is
    invariant to permuting and positively rescaling latents (up to bin-edge
    rounding); explicitness too (standardised inputs).
    """
    x_tr, y_tr = check_sample(codes_train, factors_train, ("codes_train", "factors_train"))
    x_te, y_te = check_sample(codes_test, factors_test, ("codes_test", "factors_test"))
    logistic_regression(solver)  # refuse an unknown solver at once
    m = discrete_mutual_info(histogram_discretize(x_tr, num_bins), y_tr)
    mod, mod_per = _modularity(m)
    xs_tr, xs_te = standardize_train_test(x_tr, x_te)
    e_tr, e_te = [], []
    for j in range(y_tr.shape[1]):
        if np.unique(y_tr[:, j]).size < 2:
            continue
        clf = logistic_regression(solver, random_state=0).fit(xs_tr, y_tr[:, j])
        e_tr.append(_auc(clf, xs_tr, y_tr[:, j]))
        e_te.append(_auc(clf, xs_te, y_te[:, j]))
    return {"modularity": mod,
            "explicitness_train": float(np.mean(e_tr)) if e_tr else float("nan"),
            "explicitness_test": float(np.mean(e_te)) if e_te else float("nan"),
            "modularity_per_latent": mod_per, "mutual_info": m}
