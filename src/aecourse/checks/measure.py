"""Public checks for chapter 05-measure (the learner's MIG, piece by piece)."""

from __future__ import annotations

import numpy as np

from ..disentanglement import discrete_mutual_info, histogram_discretize
from ..disentanglement import mig as reference_mig
from . import call, expect, expect_close, expect_shape, passed

__all__ = ["discretize", "mutual_information", "mig"]


def _sample(seed: int, n: int = 2000):
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 3, n), rng.integers(0, 8, n)], 1)
    codes = np.stack([factors[:, 1] + 0.3 * rng.normal(size=n), rng.normal(size=n),
                      factors[:, 0] * 2.0 + rng.normal(size=n)], 1)
    return codes, factors


def discretize(fn) -> None:
    """``fn(codes, num_bins)``: equal-width histogram bins per latent, as disentanglement_lib."""
    __tracebackhide__ = True
    codes, _ = _sample(0)
    got = call(fn, codes, 20, name="discretize")
    expect_shape(np.asarray(got), codes.shape, "the discretised codes", "one bin index per entry, same shape as codes")
    got = np.asarray(got)
    expect(np.issubdtype(got.dtype, np.integer), f"bin indices should be integers, got dtype {got.dtype}",
           "np.digitize returns integers")
    expect(np.array_equal(got, histogram_discretize(codes, 20)), "the bins differ from disentanglement_lib's",
           "for each column: edges = np.histogram(column, num_bins)[1][:-1]; np.digitize(column, edges)")
    expect(np.array_equal(call(fn, 5 * codes + 2, 20, name="discretize"), got),
           "rescaling a latent changed its bins", "bins must be computed per column from that column's range")
    passed("discretize matches disentanglement_lib's histogram binning")


def mutual_information(fn) -> None:
    """``fn(discrete_codes, factors)``: (latents, factors) matrix of I(z_i; y_j) in nats."""
    __tracebackhide__ = True
    codes, factors = _sample(1)
    d = histogram_discretize(codes, 20)
    got = call(fn, d, factors, name="mutual_information")
    expect_shape(np.asarray(got), (3, 2), "the mutual information matrix", "rows are latents, columns factors")
    expect_close(np.asarray(got, dtype=float), discrete_mutual_info(d, factors), "I(z_i; y_j) on a toy code",
                 hint="sklearn.metrics.mutual_info_score(factors[:, j], discrete_codes[:, i])")
    passed("mutual_information matches the plug-in estimate")


def mig(fn) -> None:
    """``fn(codes, factors)``: the Mutual Information Gap with 20 bins."""
    __tracebackhide__ = True
    codes, factors = _sample(2)
    got = call(fn, codes, factors, name="mig")
    expect(np.ndim(got) == 0, f"mig should return one number, got {type(got).__name__}",
           "average the per-factor gaps into a float")
    expect_close(float(got), reference_mig(codes, factors)["mig"], "MIG of a toy code", atol=1e-6,
                 hint="per factor: (largest I - second largest I) / H(factor); then the mean over factors")
    perm = codes[:, ::-1]
    expect_close(float(call(fn, perm, factors, name="mig")), float(got), "MIG after permuting the latents",
                 hint="sort each factor's column of the MI matrix; do not rely on latent order")
    rng = np.random.default_rng(3)
    noise = float(call(fn, rng.normal(size=codes.shape), factors, name="mig"))
    expect(noise < 0.05, f"MIG of pure noise is {noise:.3f}; it should be near 0")
    passed("mig matches disentanglement_lib's MIG and ignores latent order")
