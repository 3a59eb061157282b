"""Numbers that say how sparse a code is, how well it reconstructs, and which features it found.

Conventions
-----------
* Codes ``z`` are ``(n, latent_dim)``: one row per input, one column per unit.
* A **dictionary** is ``(n_features, d)``: one feature direction per *row*.
  A :class:`~aecourse.sae.SparseAutoencoder` gives its decoder columns
  in this layout as ``model.dictionary`` (and may be passed directly);
  :func:`~aecourse.data.make_sparse_features` gives the truth as
  ``data.dictionary``.
* Every function accepts torch tensors or NumPy arrays and returns plain
  Python floats or NumPy arrays.

Sparsity and reconstruction: :func:`l0`, :func:`activation_frequency`,
:func:`dead_fraction`, :func:`log_density_histogram`,
:func:`fraction_variance_unexplained`, :func:`shrinkage`.

Feature recovery (against a known dictionary): :func:`cosine_matrix`,
:func:`mmcs`, :func:`recovered_fraction`, :func:`matched_cosines`,
:func:`expected_random_mmcs`, and :func:`activation_correlation` (codes
against the true coefficients, for a latent x true-feature table). All of them compare *directions*, so they do
not change when learned features are permuted or multiplied by positive
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .contracts import as_array, check_int, check_number, invalid

__all__ = [
    "l0",
    "activation_frequency",
    "dead_fraction",
    "log_density_histogram",
    "fraction_variance_unexplained",
    "shrinkage",
    "cosine_matrix",
    "mmcs",
    "recovered_fraction",
    "Matching",
    "matched_cosines",
    "expected_random_mmcs",
    "activation_correlation",
]


# --------------------------------------------------------------------------- input handling
def _codes(z, name: str = "z") -> np.ndarray:
    """Codes ``(n, latent_dim)`` as a finite float64 array with at least one row."""
    z = as_array(z, name)
    if z.ndim != 2 or z.shape[0] == 0:
        raise invalid(name, "a non-empty batch of codes, shape (n, latent_dim)", f"shape {z.shape}",
                      "compute it with model.encode(x)", shown=True)
    return z


def _dictionary(d, name: str) -> np.ndarray:
    """A dictionary (n_features, d) from an array, a tensor, or a model with ``.dictionary``."""
    if hasattr(d, "dictionary"):  # a SparseAutoencoder or a SparseFeatures dataset
        d = d.dictionary
    d = as_array(d, name)
    if d.ndim != 2 or 0 in d.shape:
        raise invalid(name, "a dictionary of shape (n_features, d), one feature per row", f"shape {d.shape}",
                      "a decoder weight W_dec of shape (d, latent_dim) is the transpose: use model.dictionary",
                      shown=True)
    return d


def _one_of(z, frequency, what: str) -> None:
    """Exactly one of codes ``z`` and ``frequency=`` must be given."""
    if (z is None) == (frequency is None):
        raise invalid("exactly one of z and frequency=", "given", "neither" if z is None else "both",
                      what, shown=True)


def _frequency(frequency) -> np.ndarray:
    freq = as_array(frequency, "frequency", ndim=1)
    if len(freq) == 0 or freq.min() < 0 or freq.max() > 1:
        raise invalid("frequency", "one fraction in [0, 1] per unit", f"shape {freq.shape}" if len(freq) == 0
                      else f"values in [{freq.min():.3g}, {freq.max():.3g}]", "compute it with activation_frequency(z)",
                      shown=True)
    return freq


def _pair(x, x_hat, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``x_hat`` as float64 arrays of the same shape ``(n, ...)`` with ``n >= min_rows``."""
    x, x_hat = as_array(x, "x"), as_array(x_hat, "x_hat")
    if x.shape != x_hat.shape or x.ndim < 2 or len(x) < min_rows:
        rows = f" with n >= {min_rows}" if min_rows > 1 else ""
        raise invalid("x and x_hat", f"arrays of the same shape (n, ...){rows}", f"{x.shape} and {x_hat.shape}",
                      shown=True)
    return x, x_hat


# --------------------------------------------------------------------------- sparsity
def l0(z, threshold: float = 0.0) -> float:
    """Mean number of active units per input: ``mean_i #{j : |z_ij| > threshold}``.

    The "L0 norm" of SAE papers (e.g. Gao et al. 2024). With ReLU or TopK
    codes the default threshold 0 counts exact nonzeros; sigmoid codes are
    never exactly 0, so pass a threshold (e.g. 0.1) for them.

    Parameters
    ----------
    z : array or Tensor, shape (n, latent_dim)
    threshold : float
    """
    return float((np.abs(_codes(z)) > threshold).sum(1).mean())


def activation_frequency(z, threshold: float = 0.0) -> np.ndarray:
    """Fraction of inputs on which each unit is active (``z > threshold``), shape (latent_dim,).

    Called *feature density* by Bricken et al. (2023), whose log-density
    histograms (:func:`log_density_histogram`) show dead units and units that
    fire on almost everything at a glance.
    """
    return (_codes(z) > threshold).mean(0)


def dead_fraction(z=None, *, frequency=None, threshold: float = 0.0, min_frequency: float = 0.0) -> float:
    """Fraction of units that are dead: active on at most ``min_frequency`` of the inputs.

    Give either codes ``z`` (n, latent_dim) or a precomputed ``frequency``
    (latent_dim,) from :func:`activation_frequency`. With the defaults a unit
    is dead when it never fires on the inputs given, so measure on enough
    inputs (thousands) for a rare unit to show up.
    """
    _one_of(z, frequency, "z: codes, shape (n, latent_dim); frequency=: shape (latent_dim,)")
    if frequency is None:
        frequency = activation_frequency(z, threshold)
    freq = _frequency(frequency)
    return float((freq <= min_frequency).mean())


def log_density_histogram(z=None, *, frequency=None, bins: int = 30, low: float = -5.0,
                          threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Histogram of ``log10`` activation frequency (feature density), plus the dead-unit count.

    Dead units have frequency 0, whose log is -inf; they are counted apart
    instead of being dropped silently. Plot the result with
    :func:`aecourse.viz.sparse.plot_log_density`, or with
    ``plt.stairs(counts, edges)``.

    Parameters
    ----------
    z : shape (n, latent_dim), or ``frequency=`` shape (latent_dim,)
    bins : int
        Number of equal-width bins on ``[low, 0]``.
    low : float
        Left edge, log10 of the rarest density shown (denser units with
        density below ``10**low`` land in the first bin).

    Returns
    -------
    counts : ndarray (bins,) of int
    edges : ndarray (bins + 1,)
    n_dead : int
    """
    _one_of(z, frequency, "z: codes, shape (n, latent_dim); frequency=: shape (latent_dim,)")
    bins = check_int("bins", bins, low=1)
    low = check_number("low", low, high=0, high_open=True, fix="low is log10 of a frequency")
    if frequency is None:
        frequency = activation_frequency(z, threshold)
    freq = as_array(frequency, "frequency", ndim=1)
    alive = freq > 0
    logs = np.clip(np.log10(freq[alive]), low, 0.0)
    counts, edges = np.histogram(logs, bins=bins, range=(low, 0.0))
    return counts, edges, int((~alive).sum())


# --------------------------------------------------------------------------- reconstruction
def fraction_variance_unexplained(x, x_hat) -> float:
    """``FVU = sum ||x - x_hat||^2 / sum ||x - mean(x)||^2`` over the batch.

    The reconstruction error relative to the error of always predicting the
    mean input: 0 for a perfect reconstruction, 1 for the mean predictor,
    above 1 for something worse. It is Gao et al.'s (2024) "normalized MSE"
    and SAELens's ``1 - explained_variance``; unlike raw MSE it can be compared
    across datasets of different scale.

    Parameters
    ----------
    x, x_hat : shape (n, ...), same shape
    """
    x, x_hat = _pair(x, x_hat, min_rows=2)
    x, x_hat = x.reshape(len(x), -1), x_hat.reshape(len(x), -1)
    total = ((x - x.mean(0)) ** 2).sum()
    if total == 0:
        raise invalid("x", "inputs that vary", "all inputs equal",
                      "x has no variance, so the fraction unexplained is undefined", shown=True)
    return float(((x - x_hat) ** 2).sum() / total)


def shrinkage(x, x_hat) -> float:
    """Relative reconstruction bias ``gamma`` (Rajamanoharan et al. 2024, "Improving dictionary
    learning with gated sparse autoencoders", section 5).

    ``gamma = argmin_g E ||x_hat / g - x||^2 = E ||x_hat||^2 / E <x_hat, x>``.

    1 means reconstructions are unbiased in scale (and 0 that ``x_hat`` is all zeros); below 1 means they are
    systematically too short (*shrinkage*, the price an L1 penalty charges
    every active code); above 1, too long. TopK has no penalty on the kept
    codes, so it should sit near 1. Measure on inputs with ``b_dec``
    subtracted (``x - model.b_dec``, ``x_hat - model.b_dec``) to look at the
    codes' contribution alone.

    Parameters
    ----------
    x, x_hat : shape (n, ...), same shape
    """
    x, x_hat = _pair(x, x_hat, min_rows=0)
    energy, inner = float((x_hat**2).sum()), float((x * x_hat).sum())
    if energy == 0:
        return 0.0  # every code shrunk to nothing (e.g. an L1 penalty so strong that all units died)
    if inner <= 0:
        raise invalid("x_hat", "pointing towards x on average (<x_hat, x> > 0)", f"<x_hat, x> = {inner:.3g}",
                      "no positive scale fits", shown=True)
    return energy / inner


# --------------------------------------------------------------------------- feature recovery
def cosine_matrix(learned, true) -> np.ndarray:
    """Cosine similarities between every learned and every true feature, shape (n_learned, n_true).

    Zero-length learned features (e.g. a unit whose decoder column is 0) get
    cosine 0 with everything instead of NaN.
    """
    a, b = _dictionary(learned, "learned"), _dictionary(true, "true")
    if a.shape[1] != b.shape[1]:
        raise invalid("learned", f"features of the true dimension d = {b.shape[1]}", f"d = {a.shape[1]}",
                      "both dictionaries must be (n_features, d) with the same d", shown=True)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def mmcs(learned, true) -> float:
    """Mean max cosine similarity (Sharkey, Braun & Millidge 2022).

    For each true feature, the cosine of the closest learned feature; then the
    mean over true features:

        MMCS = (1 / n_true) sum_g max_l cos(l, g)

    1 means every true feature has an exact copy in the learned dictionary.
    Signed cosines, as in the paper: a learned feature pointing the opposite
    way does not count (an SAE's codes are non-negative, so it cannot use it).

    Parameters
    ----------
    learned : (n_learned, d), or a model with ``.dictionary``
    true : (n_true, d)
    """
    return float(cosine_matrix(learned, true).max(axis=0).mean())


def recovered_fraction(learned, true, threshold: float = 0.9) -> float:
    """Share of true features whose closest learned feature has cosine > ``threshold``."""
    threshold = check_number("threshold", threshold, low=-1, high=1, fix="threshold is a cosine")
    return float((cosine_matrix(learned, true).max(axis=0) > threshold).mean())


@dataclass(frozen=True)
class Matching:
    """A one-to-one matching of learned to true features (from :func:`matched_cosines`).

    Attributes
    ----------
    learned_index : ndarray (n_true,) of int
        The learned feature matched to each true feature; -1 when there are
        fewer learned than true features and this one is left unmatched.
    cosines : ndarray (n_true,)
        The matched pairs' cosines (0 for unmatched true features).
    score : float
        Mean of ``cosines`` over all true features.
    order : ndarray (n_learned,) of int
        A permutation of the learned units: matched units in the order of the
        true features they match, then the unmatched ones. ``z[:, order]``
        puts the code columns in true-feature order, so a latent x true-feature
        table shows the diagonal.
    """

    learned_index: np.ndarray
    cosines: np.ndarray
    score: float
    order: np.ndarray


def matched_cosines(learned, true) -> Matching:
    """Best one-to-one matching of learned to true features (Hungarian algorithm).

    MMCS lets one learned feature be the closest to several true features; a
    one-to-one matching does not, so a dictionary that merges two features is
    caught. Solved with :func:`scipy.optimize.linear_sum_assignment`
    maximising the total cosine.

    Returns
    -------
    Matching
    """
    from scipy.optimize import linear_sum_assignment

    cos = cosine_matrix(learned, true)  # (n_learned, n_true)
    rows, cols = linear_sum_assignment(cos, maximize=True)
    n_learned, n_true = cos.shape
    learned_index = np.full(n_true, -1, dtype=np.int64)
    learned_index[cols] = rows
    cosines = np.zeros(n_true)
    cosines[cols] = cos[rows, cols]
    matched = learned_index[learned_index >= 0]
    rest = np.setdiff1d(np.arange(n_learned), matched)
    return Matching(learned_index, cosines, float(cosines.mean()), np.concatenate([matched, rest]))


def expected_random_mmcs(d: int, n_learned: int) -> float:
    """The MMCS that ``n_learned`` random unit vectors in R^d score on average (chance level).

    For random directions, the cosine ``t`` with a fixed unit vector has
    ``(t + 1) / 2 ~ Beta((d - 1) / 2, (d - 1) / 2)``; the expected maximum of
    ``n_learned`` independent ones is ``integral_{-1}^{1} (1 - F(t)^n) dt - 1``.
    For d = 32 and 64 learned features it is about 0.42: MMCS well above
    that means the model learned something.
    """
    from scipy import integrate, stats

    d = check_int("d", d, low=2)
    n_learned = check_int("n_learned", n_learned, low=1)
    a = (d - 1) / 2
    cdf = lambda t: stats.beta.cdf((t + 1) / 2, a, a)  # noqa: E731
    value, _ = integrate.quad(lambda t: 1 - cdf(t) ** n_learned, -1, 1, limit=200)
    return float(value - 1)


def activation_correlation(z, true_activations) -> np.ndarray:
    """Pearson correlation of every latent's code with every true feature's coefficient.

    Parameters
    ----------
    z : shape (n, latent_dim)
        Learned codes for n inputs.
    true_activations : shape (n, n_features)
        The true coefficients of the same inputs (``SparseFeatures.activations``).

    Returns
    -------
    ndarray, shape (latent_dim, n_features)
        Correlations in [-1, 1]; a unit that never varies (dead) gets 0.
        Rows reordered with ``matched_cosines(...).order`` put a recovered
        feature's unit on the diagonal.
    """
    z, a = _codes(z), _codes(true_activations, "true_activations")
    if len(z) != len(a):
        raise invalid("true_activations", f"one row per row of z ({len(z)} rows)", f"{len(a)} rows",
                      "both must describe the same inputs", shown=True)
    z, a = z - z.mean(0), a - a.mean(0)
    zn, an = np.linalg.norm(z, axis=0), np.linalg.norm(a, axis=0)
    corr = (z.T @ a) / np.maximum(np.outer(zn, an), 1e-12)
    corr[zn == 0, :] = 0.0
    corr[:, an == 0] = 0.0
    return corr
