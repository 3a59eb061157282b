"""Supervised disentanglement metrics, with disentanglement_lib's definitions and defaults.

The metrics follow Locatello et al. 2019, "Challenging Common Assumptions in
the Unsupervised Learning of Disentangled Representations" (ICML,
https://arxiv.org/abs/1811.12359) and its library
``google-research/disentanglement_lib`` (files under
``disentanglement_lib/evaluation/metrics/``). The code here is written
afresh on NumPy and scikit-learn; each docstring names the paper, the
library file, the defaults, and where this version differs.

Conventions
-----------
* ``codes`` are ``(n, num_latents)`` floats (one row per observation, e.g.
  the encoder means); ``factors`` are ``(n, num_factors)`` non-negative
  discrete integers (class indices of the ground-truth factors).
  disentanglement_lib stores both transposed; here rows are samples.
* Every function returns a ``dict`` of plain floats / NumPy arrays.
* ``rng`` may be an ``int`` seed, ``None`` or a ``numpy.random.Generator``.

Two kinds of metric
-------------------
*Observational* metrics need only a sample of codes with their factors and
take arrays: :func:`mig`, :func:`dci`, :func:`sap`,
:func:`modularity_explicitness`. Use :func:`sample_codes` to draw such a
sample from a dataset.

*Interventional* metrics need batches in which one factor is held fixed,
so they take a **dataset** and a **representation function**:
:func:`beta_vae_score`, :func:`factor_vae_score`. The dataset protocol
(:class:`GroundTruthData`) is disentanglement_lib's, minus TensorFlow:

* ``factor_sizes``: sequence of ints, the number of values of each factor;
* ``sample_factors(n, rng) -> (n, k)`` int array of factor classes;
* ``sample_observations_from_factors(factors, rng) -> observations`` (any
  array-like of length ``n`` that ``represent`` accepts).

``represent(observations) -> (n, num_latents)`` maps observations to codes
(e.g. ``lambda x: model.encode(torch.as_tensor(x))[0].numpy()``).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.preprocessing import label_binarize
from sklearn.svm import LinearSVC

__all__ = [
    "GroundTruthData",
    "sample_codes",
    "histogram_discretize",
    "discrete_mutual_info",
    "discrete_entropy",
    "mig",
    "factor_vae_score",
    "beta_vae_score",
    "dci",
    "sap",
    "modularity_explicitness",
]


class GroundTruthData(Protocol):
    """A dataset of discrete ground-truth factors (disentanglement_lib's ``GroundTruthData``).

    Only the three members below are used. ``rng`` is a
    ``numpy.random.Generator``.
    """

    factor_sizes: Sequence[int]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def sample_observations_from_factors(self, factors: np.ndarray,
                                         rng: np.random.Generator) -> Any: ...


Represent = Callable[[Any], Any]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _rng(rng) -> np.random.Generator:
    return np.random.default_rng(rng)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def _as_2d(a, dtype=None) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=dtype)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"expected a 2-d (n, dims) array, got shape {a.shape}")
    return a


def _codes_factors(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes = _as_2d(codes, np.float64)
    factors = _as_2d(factors)
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes have {codes.shape[0]} rows but factors {factors.shape[0]}")
    if not np.issubdtype(factors.dtype, np.integer):
        if not np.all(factors == np.round(factors)):
            raise ValueError("factors must be discrete integer classes")
        factors = factors.astype(np.int64)
    return codes, factors


def _represent(represent: Represent, observations) -> np.ndarray:
    return _as_2d(represent(observations), np.float64)


def sample_codes(data: GroundTruthData, represent: Represent, n: int, rng=None,
                 *, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` random factor settings, render and encode them.

    Returns ``(codes (n, latents), factors (n, k))``. Like
    ``utils.generate_batch_factor_code`` in disentanglement_lib (batch size 16
    there too), which all observational metrics use to get their sample.
    """
    rng = _rng(rng)
    codes, factors = [], []
    done = 0
    while done < n:
        m = min(batch_size, n - done)
        f = np.asarray(data.sample_factors(m, rng))
        codes.append(_represent(represent, data.sample_observations_from_factors(f, rng)))
        factors.append(f)
        done += m
    return np.concatenate(codes), np.concatenate(factors).astype(np.int64)


def histogram_discretize(codes, num_bins: int = 20) -> np.ndarray:
    """Equal-width binning of each latent into ``num_bins`` bins (ints ``1..num_bins``).

    disentanglement_lib ``utils._histogram_discretize``: ``np.digitize`` with
    the left edges of ``np.histogram(z, num_bins)``; Locatello et al. use 20 bins.
    """
    codes = _as_2d(codes, np.float64)
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1][:-1]
        out[:, i] = np.digitize(codes[:, i], edges)
    return out


def discrete_mutual_info(discrete_codes, factors) -> np.ndarray:
    """``(num_latents, num_factors)`` matrix of mutual information (nats) between discrete columns.

    Plug-in estimate via ``sklearn.metrics.mutual_info_score``
    (disentanglement_lib ``utils.discrete_mutual_info``).
    """
    z, y = _as_2d(discrete_codes), _as_2d(factors)
    m = np.zeros((z.shape[1], y.shape[1]))
    for i in range(z.shape[1]):
        for j in range(y.shape[1]):
            m[i, j] = mutual_info_score(y[:, j], z[:, i])
    return m


def discrete_entropy(factors) -> np.ndarray:
    """Entropy (nats) of each discrete column, as ``I(y; y)`` (disentanglement_lib ``utils.discrete_entropy``)."""
    y = _as_2d(factors)
    return np.array([mutual_info_score(y[:, j], y[:, j]) for j in range(y.shape[1])])


# --------------------------------------------------------------------------
# MIG
# --------------------------------------------------------------------------

def mig(codes, factors, *, num_bins: int = 20) -> dict:
    """Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs",
    https://arxiv.org/abs/1802.04942), as in disentanglement_lib ``evaluation/metrics/mig.py``.

    Each latent is discretised into ``num_bins`` (default 20) equal-width
    histogram bins; ``I(z_i; y_j)`` is the plug-in mutual information
    (``sklearn.metrics.mutual_info_score``). For each factor the gap between
    the largest and second-largest ``I(z_i; y_j)`` over latents is divided by
    the factor's entropy ``H(y_j)``; MIG is the mean over factors.
    disentanglement_lib's default sample is 10,000 points (``num_train``).

    Returns ``{"mig", "per_factor" (k,), "mutual_info" (latents, k),
    "entropy" (k,), "top_latent" (k,)}``.

    Differences: a factor that is constant in the sample (entropy 0) gets a
    ``nan`` gap and is left out of the mean (disentanglement_lib divides by
    zero). A code with a single latent has gap ``I(z_1; y_j) / H(y_j)``.
    Invariant to permuting latents and to strictly monotone rescaling of any
    latent only up to binning (positive affine maps leave the equal-width bins
    unchanged).
    """
    codes, factors = _codes_factors(codes, factors)
    m = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    h = discrete_entropy(factors)
    s = np.sort(m, axis=0)[::-1]
    second = s[1] if s.shape[0] > 1 else np.zeros(s.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(h > 0, (s[0] - second) / np.where(h > 0, h, 1.0), np.nan)
    score = float(np.nanmean(per)) if np.any(h > 0) else float("nan")
    return {"mig": score, "per_factor": per, "mutual_info": m, "entropy": h,
            "top_latent": np.argmax(m, axis=0)}


# --------------------------------------------------------------------------
# FactorVAE score
# --------------------------------------------------------------------------

def _fixed_factor_batches(data, n_votes, batch_size, rng):
    """Per vote: a random factor index and a batch of factors with that factor held fixed."""
    k = len(data.factor_sizes)
    idx = rng.integers(k, size=n_votes)
    batches = []
    for j in idx:
        f = np.asarray(data.sample_factors(batch_size, rng)).copy()
        f[:, j] = f[0, j]
        batches.append(f)
    return idx, batches


def _encode_batches(data, represent, batches, rng, chunk):
    """Encode a list of equal-size factor batches, ``chunk`` batches per ``represent`` call."""
    out = []
    for start in range(0, len(batches), chunk):
        part = batches[start:start + chunk]
        f = np.concatenate(part)
        z = _represent(represent, data.sample_observations_from_factors(f, rng))
        out.extend(np.split(z, len(part)))
    return out


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
    ``1/k``. Invariant to permuting latents and to positive rescaling.

    Differences: the argmin over active latents is mapped back to the full
    latent index before voting (disentanglement_lib uses the index within
    the active subset, which misattributes votes when a collapsed latent
    precedes an active one). ``chunk`` votes are encoded per ``represent``
    call for speed; this does not change the result. No active latent gives
    all scores 0, as in disentanglement_lib.
    """
    rng = _rng(rng)
    k = len(data.factor_sizes)
    f = np.asarray(data.sample_factors(num_variance_estimate, rng))
    z = _represent(represent, data.sample_observations_from_factors(f, rng))
    global_var = np.var(z, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    num_latents = z.shape[1]
    if not active.any():
        return {"eval_accuracy": 0.0, "train_accuracy": 0.0, "num_active_dims": 0,
                "votes": np.zeros((k, num_latents), dtype=np.int64),
                "classifier": np.zeros(num_latents, dtype=np.int64)}
    active_idx = np.flatnonzero(active)

    def votes(n):
        idx, batches = _fixed_factor_batches(data, n, batch_size, rng)
        table = np.zeros((k, num_latents), dtype=np.int64)
        for j, zb in zip(idx, _encode_batches(data, represent, batches, rng, chunk)):
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


# --------------------------------------------------------------------------
# beta-VAE score
# --------------------------------------------------------------------------

def beta_vae_score(data: GroundTruthData, represent: Represent, rng=None, *,
                   batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                   classifier=None, chunk: int = 32) -> dict:
    """beta-VAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with
    a Constrained Variational Framework", https://openreview.net/forum?id=Sy2fzU9gl),
    as in disentanglement_lib ``evaluation/metrics/beta_vae.py``
    (``compute_beta_vae_sklearn``) with Locatello et al.'s defaults: batch 64,
    10,000 training and 5,000 evaluation points.

    A point: pick a factor ``j`` uniformly; draw two batches of
    ``batch_size`` factor settings, copy factor ``j`` of the first batch into
    the second, encode both, and take the feature
    ``mean_over_batch |z1 - z2|`` with label ``j``. A
    ``LogisticRegression()`` (scikit-learn defaults) is fitted on the
    training points; the score (``"eval_accuracy"``) is its accuracy on the
    evaluation points. Chance level is about ``1/k``.

    ``classifier`` may be any scikit-learn classifier to use instead.
    Returns ``{"eval_accuracy", "train_accuracy"}``.

    Differences: the logistic regression's ``max_iter`` is raised to 1000 so
    it converges; ``chunk`` points are encoded per ``represent`` call. Not
    invariant to rescaling latents (the regression is regularised), as in the
    original.
    """
    rng = _rng(rng)
    k = len(data.factor_sizes)

    def points(n):
        labels = rng.integers(k, size=n)
        batches = []
        for j in labels:
            f1 = np.asarray(data.sample_factors(batch_size, rng))
            f2 = np.asarray(data.sample_factors(batch_size, rng)).copy()
            f2[:, j] = f1[:, j]
            batches += [f1, f2]
        z = _encode_batches(data, represent, batches, rng, 2 * chunk)
        x = np.stack([np.mean(np.abs(z[2 * i] - z[2 * i + 1]), axis=0) for i in range(n)])
        return x, labels

    x_train, y_train = points(num_train)
    model = classifier if classifier is not None else LogisticRegression(
        max_iter=1000, random_state=_seed(rng))
    model.fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = points(num_eval)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return {"eval_accuracy": eval_acc, "train_accuracy": train_acc}


# --------------------------------------------------------------------------
# DCI
# --------------------------------------------------------------------------

def _standardize(train, test):
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _dci_from_importance(r: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Disentanglement and completeness from a ``(latents, factors)`` importance matrix."""
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
    x_tr, y_tr = _codes_factors(codes_train, factors_train)
    x_te, y_te = _codes_factors(codes_test, factors_test)
    rng = _rng(rng)
    latents, k = x_tr.shape[1], y_tr.shape[1]
    if estimator == "gbt":
        make = lambda: GradientBoostingClassifier(random_state=_seed(rng))  # noqa: E731
    elif estimator == "logistic":
        make = lambda: LogisticRegression(max_iter=1000)  # noqa: E731
        x_tr, x_te = _standardize(x_tr, x_te)
    elif callable(estimator):
        make = estimator
        x_tr, x_te = _standardize(x_tr, x_te)
    else:
        raise ValueError(f"unknown estimator {estimator!r}")
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


# --------------------------------------------------------------------------
# SAP
# --------------------------------------------------------------------------

def sap(codes_train, factors_train, codes_test, factors_test, *,
        continuous_factors: bool = False, standardize: bool = True) -> dict:
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

    Differences: with ``standardize=True`` (default) each latent is
    standardised with its training mean and std before the SVM, so the score
    does not depend on the latents' scale (``C=0.01`` is a strong penalty,
    so disentanglement_lib's unscaled version depends on it);
    ``standardize=False`` reproduces disentanglement_lib. Invariant to
    permuting latents; with standardisation, also to positive rescaling.
    """
    x_tr, y_tr = _codes_factors(codes_train, factors_train)
    x_te, y_te = _codes_factors(codes_test, factors_test)
    if standardize:
        x_tr, x_te = _standardize(x_tr, x_te)
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


# --------------------------------------------------------------------------
# Modularity and explicitness
# --------------------------------------------------------------------------

def _modularity(m: np.ndarray) -> tuple[float, np.ndarray]:
    sq = np.square(m)
    top = sq.max(axis=1)
    k = sq.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - top) / (top * (k - 1.0)) if k > 1 else np.zeros_like(top)
    per = np.where(top > 0, 1.0 - delta, 0.0)
    return float(np.mean(per)), per


def _auc(model, x, y) -> float:
    proba = model.predict_proba(x)
    classes = model.classes_
    if classes.size == 2:
        return float(roc_auc_score(y == classes[1], proba[:, 1]))
    onehot = label_binarize(y, classes=classes)
    present = onehot.sum(axis=0)
    keep = (present > 0) & (present < len(y))  # AUC undefined for absent classes
    return float(roc_auc_score(onehot[:, keep], proba[:, keep], average="macro"))


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, *,
                            num_bins: int = 20) -> dict:
    """Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled
    Embeddings with the F-Statistic Loss", https://arxiv.org/abs/1802.05312), as in
    disentanglement_lib ``evaluation/metrics/modularity_explicitness.py``
    (Locatello et al.: 10,000 train, 5,000 test points, 20 histogram bins).

    * modularity: with ``m_ij = I(z_i; y_j)`` from the ``num_bins``-bin
      discretisation of the training codes, each latent scores
      ``1 - (sum_j m_ij^2 - max_j m_ij^2) / (max_j m_ij^2 (k - 1))`` (0 if it
      carries no information); modularity is the mean over latents. It is
      high when each latent informs about one factor only.
    * explicitness: per factor, a ``LogisticRegression()`` on all latents
      (standardised with the training mean and std) and its one-vs-rest
      macro ROC-AUC on train and test; averaged over factors.

    Returns ``{"modularity", "explicitness_train", "explicitness_test",
    "modularity_per_latent", "mutual_info"}``.

    Differences: the regression gets ``max_iter=1000``; classes absent from
    an evaluation split are left out of the AUC average (disentanglement_lib's
    ``MultiLabelBinarizer`` then misaligns columns or fails). Modularity is
    invariant to permuting and positively rescaling latents (up to bin-edge
    rounding); explicitness too (standardised inputs).
    """
    x_tr, y_tr = _codes_factors(codes_train, factors_train)
    x_te, y_te = _codes_factors(codes_test, factors_test)
    m = discrete_mutual_info(histogram_discretize(x_tr, num_bins), y_tr)
    mod, mod_per = _modularity(m)
    xs_tr, xs_te = _standardize(x_tr, x_te)
    e_tr, e_te = [], []
    for j in range(y_tr.shape[1]):
        if np.unique(y_tr[:, j]).size < 2:
            continue
        clf = LogisticRegression(max_iter=1000).fit(xs_tr, y_tr[:, j])
        e_tr.append(_auc(clf, xs_tr, y_tr[:, j]))
        e_te.append(_auc(clf, xs_te, y_te[:, j]))
    return {"modularity": mod,
            "explicitness_train": float(np.mean(e_tr)) if e_tr else float("nan"),
            "explicitness_test": float(np.mean(e_te)) if e_te else float("nan"),
            "modularity_per_latent": mod_per, "mutual_info": m}
