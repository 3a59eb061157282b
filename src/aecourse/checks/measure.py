"""Public checks for chapter 05-measure (the learner's MIG, piece by piece).

Each check looks for the usual mistakes first (bins from the whole array, the last edge kept,
bits instead of nats, a missing entropy, the runner-up forgotten, ...) and names the one it finds.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.metrics import adjusted_mutual_info_score, mutual_info_score, normalized_mutual_info_score

from ..measure import discrete_entropy, discrete_mutual_info, histogram_discretize
from ..measure import mig as reference_mig
from .core import call, expect, expect_close, expect_shape, expect_value, passed

__all__ = ["discretize", "mutual_information", "mig"]
CHAPTER = "05-measure"  # passes of these checks are recorded for this chapter (core.passed)


def _sample(seed: int, n: int = 2000):
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 3, n), rng.integers(0, 8, n)], 1)
    codes = np.stack([factors[:, 1] + 0.3 * rng.normal(size=n), rng.normal(size=n),
                      factors[:, 0] * 2.0 + rng.normal(size=n)], 1)
    return codes, factors


def _array(got, name: str) -> np.ndarray:
    __tracebackhide__ = True
    expect(got is not None, f"`{name}` returned None", "end the function with `return ...`")
    expect(isinstance(got, (np.ndarray, list, torch.Tensor)),
           f"`{name}` should return a NumPy array, got {type(got).__name__}", "return one array")
    return np.asarray(got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got)


# --------------------------------------------------------------------------- exercise 1
def discretize(fn) -> None:
    """``fn(codes, num_bins)``: equal-width histogram bins per latent, as disentanglement_lib."""
    __tracebackhide__ = True
    codes, _ = _sample(0)
    given = codes.copy()
    got = _array(call(fn, given, 20, name="discretize"), "discretize")
    expect(np.array_equal(given, codes), "`discretize` changed its input codes in place",
           "write the bin indices into a new integer array; the caller still needs the codes")
    expect_shape(got, codes.shape, "the discretised codes", "one bin index per entry, same shape as codes")
    expect(np.issubdtype(got.dtype, np.integer), f"bin indices should be integers, got dtype {got.dtype}",
           "np.digitize returns integers; do not write the bins into a float array")
    want = histogram_discretize(codes, 20)
    if np.array_equal(got, want):
        passed("discretize matches disentanglement_lib's histogram binning")
        return
    stretched = codes.copy()
    stretched[:, 0] = 5 * stretched[:, 0] + 2
    other = _array(call(fn, stretched, 20, name="discretize"), "discretize")
    expect(other.shape != got.shape or np.array_equal(other[:, 1:], got[:, 1:]),
           "rescaling latent 0 changed the bins of the other latents: the bins come from the whole array, "
           "not from each column's own range", "bin each column (latent) separately, from its own minimum to maximum")
    expect(got.max() <= 20, f"bin indices go up to {got.max()}, but 20 bins are numbered 1 to 20: the last edge "
           "was kept", "np.histogram returns num_bins + 1 edges; the last is the right end of the range, not a bin start")
    expect(not np.array_equal(got, want - 1), "the bins are numbered 0 to 19; disentanglement_lib numbers them "
           "1 to 20", "np.digitize with the left edges already counts from 1: no shift is needed")
    expect(False, "the bins differ from disentanglement_lib's",
           "equal-width bins per column, from the bin edges of np.histogram without its last edge (see the text)")


# --------------------------------------------------------------------------- exercise 2
def mutual_information(fn) -> None:
    """``fn(discrete_codes, factors)``: (latents, factors) matrix of I(z_i; y_j) in nats."""
    __tracebackhide__ = True
    codes, factors = _sample(1)
    d = histogram_discretize(codes, 20)
    got = _array(call(fn, d, factors, name="mutual_information"), "mutual_information")
    expect(got.shape != (2, 3), "the matrix has shape (2, 3): rows and columns are swapped",
           "one ROW per latent (3 here), one COLUMN per factor (2 here)")
    expect_shape(got, (3, 2), "the mutual information matrix", "one row per latent, one column per factor")
    want = discrete_mutual_info(d, factors)

    def score(f):
        return np.array([[f(factors[:, k], d[:, i]) for k in range(2)] for i in range(3)])

    mistakes = [
        (want / np.log(2), "these are bits (log base 2); the course measures information in nats",
         "mutual_info_score already returns nats: no conversion"),
        (score(normalized_mutual_info_score), "this is the NORMALISED mutual information",
         "MIG divides by the entropy itself later; here the plain mutual information is wanted"),
        (score(adjusted_mutual_info_score), "this is the ADJUSTED mutual information (corrected for chance)",
         "the plug-in estimate is wanted: the plain mutual_info_score"),
    ]
    expect_value(got.astype(float), want, "I(z_i; y_j) on a toy code", mistakes, atol=1e-5,
                  hint="entry (i, k) is the mutual information between discrete latent i and factor k")
    passed("mutual_information matches the plug-in estimate")


# --------------------------------------------------------------------------- exercise 3
def mig(fn) -> None:
    """``fn(codes, factors)``: the Mutual Information Gap with 20 bins."""
    __tracebackhide__ = True
    codes, factors = _sample(2)
    got = call(fn, codes, factors, name="mig")
    expect(got is not None, "`mig` returned None", "end the function with `return ...`")
    expect(np.ndim(got) == 0, f"mig should return one number, got {type(got).__name__} of shape {np.shape(got)}",
           "average the per-factor gaps into one float")
    got = float(got)
    expect(got >= -1e-9, f"MIG is negative ({got:.3g}), but a gap between the largest and the second largest "
           "mutual information cannot be", "sort so that the LARGEST value comes first")
    ref = reference_mig(codes, factors)
    m, entropy = ref["mutual_info"], discrete_entropy(factors)
    top = np.sort(m, axis=0)[::-1]
    by_latent = np.sort(m, axis=1)[:, ::-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = np.array([[mutual_info_score(factors[:, k], codes[:, i]) for k in range(2)] for i in range(3)])
    raw_top = np.sort(raw, axis=0)[::-1]
    mistakes = [
        (np.mean(top[0] - top[1]), "the gaps are not divided by the factor's entropy H(y_k)",
         "dividing by H(y_k) puts every factor on a 0-1 scale"),
        (np.mean(top[0] / entropy), "the runner-up is not subtracted: this is the best latent's share, not the gap",
         "MIG subtracts the SECOND largest mutual information from the largest"),
        (np.mean((by_latent[:, 0] - by_latent[:, 1]) / entropy.mean()),
         "the mutual information matrix was sorted along the wrong axis (over factors, not over latents)",
         "for each factor (column), compare the latents (rows)"),
        (np.mean((raw_top[0] - raw_top[1]) / entropy), "the codes were not discretised: every continuous value is "
         "its own bin, so every latent seems to know every factor", "bin the codes into 20 bins first"),
    ]
    expect_value(got, ref["mig"], "MIG of a toy code", mistakes, atol=1e-6,
                  hint="per factor: the gap between the two latents that know it best, on the factor's 0-1 scale; "
                       "then the mean over factors")
    perm = codes[:, ::-1]
    expect_close(float(call(fn, perm, factors, name="mig")), got, "MIG after permuting the latents",
                 hint="sort each factor's column of the MI matrix; do not rely on latent order")
    rng = np.random.default_rng(3)
    noise = float(call(fn, rng.normal(size=codes.shape), factors, name="mig"))
    expect(noise < 0.05, f"MIG of pure noise is {noise:.3f}; it should be near 0",
           "noise knows nothing about the factors, so every gap is about 0")
    passed("mig matches disentanglement_lib's MIG and ignores latent order")
