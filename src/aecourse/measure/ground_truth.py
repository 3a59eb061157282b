"""The data side of the metrics: the ground-truth dataset protocol, sampling codes with their factors.

Follows disentanglement_lib's ``data/ground_truth/ground_truth_data.py`` (the
``GroundTruthData`` interface, minus TensorFlow) and the sampling helpers of
``evaluation/metrics/utils.py`` (``generate_batch_factor_code``). Rows are samples here;
disentanglement_lib stores codes and factors transposed.

Shapes
------
* ``codes``: ``(n, num_latents)`` float64, one row per observation (e.g. the encoder means);
* ``factors``: ``(n, num_factors)`` int64, the class index of each ground-truth factor;
* ``represent(observations) -> (n, num_latents)``: observations to codes
  (:data:`aecourse.contracts.Represent`; :func:`aecourse.contracts.encoder_fn` makes one from a model);
* ``rng``: an ``int`` seed, ``None`` or a ``numpy.random.Generator``.

The other helpers here (checking a sample, fixed-factor batches, standardising train and test
codes) are what several metric files share.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from ..contracts import Represent, as_array, check_choice, check_int, invalid

__all__ = ["GroundTruthData", "Represent", "sample_codes", "generator", "derive_seed", "as_sample",
           "check_sample", "encode", "fixed_factor_batches", "encode_batches", "standardize_train_test",
           "LOGISTIC_SOLVERS", "logistic_regression"]


class GroundTruthData(Protocol):
    """A dataset of discrete ground-truth factors (disentanglement_lib's ``GroundTruthData``).

    Only the three members below are used. ``rng`` is a ``numpy.random.Generator``.

    * ``factor_sizes``: the number of values of each factor, ``(num_factors,)``;
    * ``sample_factors(n, rng) -> (n, num_factors)`` int array of factor classes;
    * ``sample_observations_from_factors(factors, rng) -> observations``: any array-like of
      length ``n`` that ``represent`` accepts (for dSprites ``(n, 1, H, W)`` images).
    """

    factor_sizes: Sequence[int]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def sample_observations_from_factors(self, factors: np.ndarray,
                                         rng: np.random.Generator) -> Any: ...


# --------------------------------------------------------------------------- randomness
def generator(rng) -> np.random.Generator:
    """``rng`` (an ``int`` seed, ``None`` or a Generator) as a ``numpy.random.Generator``."""
    return np.random.default_rng(rng)


def derive_seed(rng: np.random.Generator) -> int:
    """A seed for a scikit-learn estimator, drawn from ``rng``."""
    return int(rng.integers(2**31 - 1))


# --------------------------------------------------------------------------- checking samples
def as_sample(a, name: str, dtype=np.float64) -> np.ndarray:
    """``a`` (array, tensor, lists) as a 2-D ``(n, dims)`` array; a 1-D ``(n,)`` becomes one column."""
    a = as_array(a, name, ndim=(1, 2), dtype=dtype)
    return a[:, None] if a.ndim == 1 else a


def check_sample(codes, factors, names: tuple[str, str] = ("codes", "factors")) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` as float64 ``(n, num_latents)`` and ``factors`` as int64 ``(n, num_factors)``, same ``n``."""
    codes = as_sample(codes, names[0])
    factors = as_sample(factors, names[1], dtype=None)
    if codes.shape[0] != factors.shape[0]:
        raise invalid(names[1], f"one row per row of {names[0]} ({codes.shape[0]} rows)",
                      f"{factors.shape[0]} rows", shown=True)
    if not np.issubdtype(factors.dtype, np.integer):
        if not np.all(factors == np.round(factors)):
            raise invalid(names[1], "discrete integer classes", "non-integer values", shown=True)
        factors = factors.astype(np.int64)
    return codes, factors


def encode(represent: Represent, observations) -> np.ndarray:
    """``represent(observations)`` as float64 codes ``(n, num_latents)``."""
    return as_sample(represent(observations), "represent(observations)")


# --------------------------------------------------------------------------- sampling
def sample_codes(data: GroundTruthData, represent: Represent, n: int, rng=None,
                 *, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` random factor settings, render and encode them.

    Returns ``(codes (n, num_latents) float64, factors (n, num_factors) int64)``. Like
    ``utils.generate_batch_factor_code`` in disentanglement_lib (batch size 16 there too),
    which all observational metrics use to get their sample.
    """
    n = check_int("n", n, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    rng = generator(rng)
    codes, factors = [], []
    done = 0
    while done < n:
        m = min(batch_size, n - done)
        f = np.asarray(data.sample_factors(m, rng))
        codes.append(encode(represent, data.sample_observations_from_factors(f, rng)))
        factors.append(f)
        done += m
    return np.concatenate(codes), np.concatenate(factors).astype(np.int64)


def fixed_factor_batches(data: GroundTruthData, n_votes: int, batch_size: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per vote: a random factor index ``j`` and a ``(batch_size, num_factors)`` batch with factor ``j`` held fixed.

    The sampling of disentanglement_lib's ``factor_vae._generate_training_sample``.
    """
    k = len(data.factor_sizes)
    idx = rng.integers(k, size=n_votes)
    batches = []
    for j in idx:
        f = np.asarray(data.sample_factors(batch_size, rng)).copy()
        f[:, j] = f[0, j]
        batches.append(f)
    return idx, batches


def encode_batches(data: GroundTruthData, represent: Represent, batches: list[np.ndarray],
                   rng: np.random.Generator, chunk: int) -> list[np.ndarray]:
    """Render and encode a list of equal-size factor batches, ``chunk`` batches per ``represent`` call.

    Returns one ``(batch_size, num_latents)`` code array per batch.
    """
    out = []
    for start in range(0, len(batches), chunk):
        part = batches[start:start + chunk]
        f = np.concatenate(part)
        z = encode(represent, data.sample_observations_from_factors(f, rng))
        out.extend(np.split(z, len(part)))
    return out


def standardize_train_test(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and test codes standardised with the training mean and std (a constant latent keeps std 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


# --------------------------------------------------------------------------- the linear read-out
#: Solvers :func:`logistic_regression` accepts: ``"liblinear"`` is disentanglement_lib's, the rest are options.
LOGISTIC_SOLVERS = ("liblinear", "lbfgs", "newton-cg", "sag", "saga")


def logistic_regression(solver: str = "liblinear", random_state: int | None = None):
    """The logistic regression of the beta-VAE score and of explicitness.

    disentanglement_lib calls ``LogisticRegression()`` with the defaults of the
    scikit-learn of Locatello et al.'s study (before 0.22): ``solver="liblinear"``,
    one-vs-rest over classes, ``C=1``, ``max_iter=100``. Current scikit-learn's
    ``liblinear`` refuses more than two classes, so ``"liblinear"`` (the default)
    wraps it in ``OneVsRestClassifier``, which predicts and normalises probabilities
    as that old one-vs-rest mode did. Any other solver is an option, not
    disentanglement_lib: a multinomial ``LogisticRegression(solver=solver,
    max_iter=1000)`` (what this course used before issue 21).
    """
    solver = check_choice("solver", solver, LOGISTIC_SOLVERS)
    if solver == "liblinear":
        return OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=random_state))
    return LogisticRegression(solver=solver, max_iter=1000, random_state=random_state)
