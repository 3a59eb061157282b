"""Discretised codes and plug-in information: what MIG and modularity are built from.

Follows disentanglement_lib's ``evaluation/metrics/utils.py`` (``_histogram_discretize``,
``discrete_mutual_info``, ``discrete_entropy``), with rows as samples.

Shapes: ``codes`` ``(n, num_latents)`` floats; ``discrete_codes`` ``(n, num_latents)`` ints;
``factors`` ``(n, num_factors)`` ints. Information is in nats.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

from ..contracts import check_int
from .ground_truth import as_sample

__all__ = ["histogram_discretize", "discrete_mutual_info", "discrete_entropy"]


def histogram_discretize(codes, num_bins: int = 20) -> np.ndarray:
    """Equal-width binning of each latent into ``num_bins`` bins: ints ``1..num_bins``, shape ``(n, num_latents)``.

    disentanglement_lib ``utils._histogram_discretize``: ``np.digitize`` with
    the left edges of ``np.histogram(z, num_bins)``; Locatello et al. use 20 bins.
    """
    codes = as_sample(codes, "codes")
    num_bins = check_int("num_bins", num_bins, low=1)
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
    z, y = as_sample(discrete_codes, "discrete_codes", dtype=None), as_sample(factors, "factors", dtype=None)
    m = np.zeros((z.shape[1], y.shape[1]))
    for i in range(z.shape[1]):
        for j in range(y.shape[1]):
            m[i, j] = mutual_info_score(y[:, j], z[:, i])
    return m


def discrete_entropy(factors) -> np.ndarray:
    """Entropy (nats) of each discrete column, ``(num_factors,)``, as ``I(y; y)`` (disentanglement_lib ``utils.discrete_entropy``)."""
    y = as_sample(factors, "factors", dtype=None)
    return np.array([mutual_info_score(y[:, j], y[:, j]) for j in range(y.shape[1])])
