"""DCI: disentanglement, completeness and informativeness from a predictor's feature importances.

Paper: Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
Representations" (ICLR, https://openreview.net/forum?id=By-7dz-AZ).
Reference implementation: disentanglement_lib ``evaluation/metrics/dci.py`` (``compute_dci``,
``compute_importance_gbt``, ``disentanglement``, ``completeness``), with Locatello et al.'s
10,000 train and 5,000 test points.

Shapes: observational with a test split: ``codes_train`` ``(n, num_latents)``,
``factors_train`` ``(n, num_factors)``, ``codes_test`` ``(m, num_latents)``,
``factors_test`` ``(m, num_factors)``. The importance matrix is ``(num_latents, num_factors)``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from ..contracts import invalid
from .ground_truth import check_sample, derive_seed, generator, standardize_train_test

__all__ = ["dci"]


def _dci_from_importance(r: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Disentanglement and completeness from a ``(latents, factors)`` importance matrix.

    disentanglement_lib's ``disentanglement`` and ``completeness`` (and their ``_per_code``,
    ``_per_factor`` parts). Returns ``(d, c, d_per_latent (latents,), c_per_factor (factors,))``.
    """
    latents, k = r.shape
    d_per = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=k) if k > 1 else np.ones(latents)
    c_per = 1.0 - scipy.stats.entropy(r + 1e-11, base=latents) if latents > 1 else np.ones(k)
    w = r if r.sum() > 0 else np.ones_like(r)
    d = float(np.sum(d_per * w.sum(axis=1) / w.sum()))
    c = float(np.sum(c_per * w.sum(axis=0) / w.sum()))
    return d, c, d_per, c_per


def dci(codes_train, factors_train, codes_test, factors_test, *,
        estimator: str | Callable[[], Any] = "gbt", rng=None) -> dict:
    """DCI disentanglement, completeness and informativeness (Eastwood & Williams 2018,
    "A Framework for the Quantitative Evaluation of Disentangled Representations",
    https://openreview.net/forum?id=By-7dz-AZ), as in disentanglement_lib
    ``evaluation/metrics/dci.py`` (Locatello et al.: 10,000 train, 5,000 test points).

    For each factor a classifier predicts the factor from all latents; its
    absolute feature importances form column ``j`` of the importance matrix
    ``R`` (latents x factors).

    * disentanglement: ``1 - H_k(R_i,: / sum)`` per latent (entropy in base
      ``k`` = number of factors), weighted by the latent's share of total
      importance;
    * completeness: ``1 - H_L(R_:,j / sum)`` per factor (base ``L`` = number
      of latents), weighted by the factor's share;
    * informativeness: mean classification accuracy over factors (train and
      test) — disentanglement_lib's ``informativeness_*`` are accuracies,
      not errors.

    ``estimator``:

    * ``"gbt"`` (default, as disentanglement_lib): one
      ``GradientBoostingClassifier()`` per factor, importance
      ``feature_importances_``. Slow (one tree per class per stage).
    * ``"logistic"`` (fast): ``LogisticRegression(max_iter=1000)`` on latents
      standardised with the training mean and std; importance is the mean
      over classes of ``|coef|``. Not in disentanglement_lib (the DCI paper
      itself uses lasso / random forests); use it for quick looks.
    * a zero-argument callable returning a scikit-learn classifier that has
      ``feature_importances_`` or ``coef_`` after fitting (codes are
      standardised for it too).

    Returns ``{"disentanglement", "completeness", "informativeness_train",
    "informativeness_test", "importance" (latents, k),
    "disentanglement_per_latent", "completeness_per_factor"}``. Invariant to
    permuting latents and to positive rescaling (trees see only the order;
    linear estimators see standardised codes), up to the randomness of the
    estimators' tie-breaking.
    """
    x_tr, y_tr = check_sample(codes_train, factors_train, ("codes_train", "factors_train"))
    x_te, y_te = check_sample(codes_test, factors_test, ("codes_test", "factors_test"))
    rng = generator(rng)
    latents, k = x_tr.shape[1], y_tr.shape[1]
    if estimator == "gbt":
        make = lambda: GradientBoostingClassifier(random_state=derive_seed(rng))  # noqa: E731
    elif estimator == "logistic":
        make = lambda: LogisticRegression(max_iter=1000)  # noqa: E731
        x_tr, x_te = standardize_train_test(x_tr, x_te)
    elif callable(estimator):
        make = estimator
        x_tr, x_te = standardize_train_test(x_tr, x_te)
    else:
        raise invalid("estimator", "'gbt', 'logistic' or a callable that returns a scikit-learn classifier",
                      estimator)
    r = np.zeros((latents, k))
    acc_tr, acc_te = [], []
    for j in range(k):
        model = make()
        model.fit(x_tr, y_tr[:, j])
        if hasattr(model, "feature_importances_"):
            imp = np.abs(model.feature_importances_)
        else:
            imp = np.abs(np.atleast_2d(model.coef_)).mean(axis=0)
        r[:, j] = imp
        acc_tr.append(np.mean(model.predict(x_tr) == y_tr[:, j]))
        acc_te.append(np.mean(model.predict(x_te) == y_te[:, j]))
    d, c, d_per, c_per = _dci_from_importance(r)
    return {"disentanglement": d, "completeness": c,
            "informativeness_train": float(np.mean(acc_tr)),
            "informativeness_test": float(np.mean(acc_te)),
            "importance": r, "disentanglement_per_latent": d_per,
            "completeness_per_factor": c_per}
