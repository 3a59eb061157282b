"""SAP score, Separated Attribute Predictability: the gap between the two latents that best predict a factor alone.

Paper: Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled Latent
Concepts from Unlabeled Observations" (ICLR, https://arxiv.org/abs/1711.00848).
Reference implementation: disentanglement_lib ``evaluation/metrics/sap_score.py``
(``compute_sap``, ``compute_score_matrix``, ``compute_avg_diff_top_two``), with Locatello et al.'s
10,000 train and 5,000 test points.

Shapes: observational with a test split: ``codes_train`` ``(n, num_latents)``,
``factors_train`` ``(n, num_factors)``, ``codes_test`` ``(m, num_latents)``,
``factors_test`` ``(m, num_factors)``. The score matrix is ``(num_latents, num_factors)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from .ground_truth import check_sample, standardize_train_test

__all__ = ["sap"]


def sap(codes_train, factors_train, codes_test, factors_test, *,
        continuous_factors: bool = False, standardize: bool = False) -> dict:
    """SAP score, Separated Attribute Predictability (Kumar et al. 2018, "Variational
    Inference of Disentangled Latent Concepts from Unlabeled Observations",
    https://arxiv.org/abs/1711.00848), as in disentanglement_lib
    ``evaluation/metrics/sap_score.py`` (Locatello et al.: 10,000 train,
    5,000 test points, ``continuous_factors=False``).

    Score matrix ``S`` (latents x factors): with discrete factors,
    ``S_ij`` is the test accuracy of a ``LinearSVC(C=0.01,
    class_weight="balanced")`` predicting factor ``j`` from latent ``i``
    alone; with ``continuous_factors=True`` it is the squared correlation
    (R^2) on the training sample (0 for a constant latent). SAP is the mean
    over factors of the gap between the two largest entries of the column.

    Returns ``{"sap", "score_matrix" (latents, k), "per_factor" (k,)}``.

    The default, ``standardize=False``, is disentanglement_lib's SAP: the SVM
    sees the raw latents. ``C=0.01`` is a strong penalty, so that score
    depends on the latents' scale (a latent with a small range is
    under-fitted). ``standardize=True`` is an option, not disentanglement_lib:
    each latent is standardised with its training mean and std first, so the
    score no longer depends on the scale. Invariant to permuting latents;
    with ``standardize=True``, also to positive rescaling.
    """
    x_tr, y_tr = check_sample(codes_train, factors_train, ("codes_train", "factors_train"))
    x_te, y_te = check_sample(codes_test, factors_test, ("codes_test", "factors_test"))
    if standardize:
        x_tr, x_te = standardize_train_test(x_tr, x_te)
    latents, k = x_tr.shape[1], y_tr.shape[1]
    s = np.zeros((latents, k))
    for i in range(latents):
        for j in range(k):
            if continuous_factors:
                cov = np.cov(x_tr[:, i], y_tr[:, j], ddof=1)
                if cov[0, 0] > 1e-12 and cov[1, 1] > 0:
                    s[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
            else:
                if np.unique(y_tr[:, j]).size < 2:
                    s[i, j] = np.mean(y_te[:, j] == y_tr[0, j])
                    continue
                svc = LinearSVC(C=0.01, class_weight="balanced")
                svc.fit(x_tr[:, i:i + 1], y_tr[:, j])
                s[i, j] = np.mean(svc.predict(x_te[:, i:i + 1]) == y_te[:, j])
    srt = np.sort(s, axis=0)
    per = srt[-1] - (srt[-2] if latents > 1 else 0.0)
    return {"sap": float(np.mean(per)), "score_matrix": s, "per_factor": per}
