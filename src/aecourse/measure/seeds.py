"""Scores over several seeds: a bootstrap interval of the mean, and how often each model ranks first.

One training run is one draw: Locatello et al. (2019) found the random seed moving a score as much
as the objective does, and reported every setting over many seeds. With a handful of seeds per
model these two summaries say how far a comparison can be trusted:

* :func:`bootstrap_interval`: the mean of a model's seeds with a percentile-bootstrap interval
  (Efron & Tibshirani 1993, ch. 13): resample the seeds with replacement, take each resample's
  mean, and read the interval off the resampled means' quantiles. With five seeds it is rough
  (the percentile interval is too narrow for very small samples); it is still far better than no
  interval.
* :func:`rank_first_frequency`: resample every model's seeds at once and count how often each
  model has the best mean: "model A ranks first in 80% of resamples".

Not part of disentanglement_lib (whose study reports violin plots over 50 seeds); the numbers
here are plain NumPy, seeded, so the same call gives the same interval.
"""

from __future__ import annotations

import numpy as np

from ..contracts import check_int, check_number, invalid

__all__ = ["bootstrap_interval", "rank_first_frequency"]


def _scores(name: str, values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0 or not np.all(np.isfinite(v)):
        raise invalid(name, "a 1-D sequence of finite scores, one per seed", values)
    return v


def bootstrap_interval(values, *, confidence: float = 0.95, num_resamples: int = 10000,
                       rng: np.random.Generator | int | None = 0) -> dict[str, float]:
    """Mean of ``values`` (one score per seed) and its percentile-bootstrap interval.

    Parameters
    ----------
    values : sequence of float, shape (n_seeds,)
    confidence : float in (0, 1)
        0.95 gives the 2.5% and 97.5% quantiles of the resampled means.
    num_resamples : int
    rng : int seed, Generator or None

    Returns
    -------
    dict
        ``mean``, ``low``, ``high`` and ``n`` (the number of seeds).

    Examples
    --------
    >>> bootstrap_interval([0.3, 0.3, 0.3])
    {'mean': 0.3, 'low': 0.3, 'high': 0.3, 'n': 3}
    """
    v = _scores("values", values)
    confidence = check_number("confidence", confidence, low=0, high=1, low_open=True, high_open=True,
                              fix="e.g. 0.95")
    num_resamples = check_int("num_resamples", num_resamples, low=1)
    rng = np.random.default_rng(rng)
    means = v[rng.integers(0, len(v), size=(num_resamples, len(v)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"mean": float(v.mean()), "low": float(low), "high": float(high), "n": int(len(v))}


def rank_first_frequency(scores: dict[str, "np.ndarray | list[float]"], *, num_resamples: int = 10000,
                         rng: np.random.Generator | int | None = 0) -> dict[str, float]:
    """How often each model has the highest mean score when every model's seeds are resampled.

    Parameters
    ----------
    scores : dict of name -> sequence of float
        One score per seed for each model (models may have different numbers of seeds).
    num_resamples : int
    rng : int seed, Generator or None

    Returns
    -------
    dict of name -> float
        Fractions that sum to 1; a tie for first splits its resample evenly.

    Examples
    --------
    >>> rank_first_frequency({"a": [0.9, 0.8], "b": [0.1, 0.2]})
    {'a': 1.0, 'b': 0.0}
    """
    if not isinstance(scores, dict) or len(scores) < 1:
        raise invalid("scores", "a dict of model name -> scores per seed", scores)
    arrays = {name: _scores(f"scores[{name!r}]", v) for name, v in scores.items()}
    num_resamples = check_int("num_resamples", num_resamples, low=1)
    rng = np.random.default_rng(rng)
    means = np.stack([v[rng.integers(0, len(v), size=(num_resamples, len(v)))].mean(axis=1)
                      for v in arrays.values()], axis=1)  # (resamples, models)
    best = means == means.max(axis=1, keepdims=True)
    share = (best / best.sum(axis=1, keepdims=True)).mean(axis=0)
    return {name: float(s) for name, s in zip(arrays, share)}
