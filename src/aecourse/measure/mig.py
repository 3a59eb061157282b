"""Mutual Information Gap (MIG).

Paper: Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders" (NeurIPS, https://arxiv.org/abs/1802.04942).
Reference implementation: disentanglement_lib ``evaluation/metrics/mig.py`` (``compute_mig``,
``_compute_mig``), on codes from ``utils.generate_batch_factor_code``.

Shapes: ``codes`` ``(n, num_latents)``, ``factors`` ``(n, num_factors)`` discrete ints
(:func:`aecourse.measure.sample_codes` draws both). Observational: one sample, no test split.
"""

from __future__ import annotations

import numpy as np

from .discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from .ground_truth import check_sample

__all__ = ["mig"]


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
    codes, factors = check_sample(codes, factors)
    m = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    h = discrete_entropy(factors)
    s = np.sort(m, axis=0)[::-1]
    second = s[1] if s.shape[0] > 1 else np.zeros(s.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(h > 0, (s[0] - second) / np.where(h > 0, h, 1.0), np.nan)
    score = float(np.nanmean(per)) if np.any(h > 0) else float("nan")
    return {"mig": score, "per_factor": per, "mutual_info": m, "entropy": h,
            "top_latent": np.argmax(m, axis=0)}
