"""Vector datasets for the sparse chapters: the worked example's patterns and synthetic sparse features.

- :func:`sparse_patterns` -- the three 4-dimensional input patterns A, B, C of the
  sparse-autoencoder worked example, as :class:`~aecourse.data.containers.NamedVectors`
  (``x`` of shape ``(3, 4)``).
- :class:`SparseFeatures`, :func:`make_sparse_features` -- synthetic inputs ``(n, d)``
  built from a *known* dictionary of sparse features ``(n_features, d)``, so feature
  recovery can be measured against the truth; :data:`SPARSE_PRESETS` names two sizes.

These are 1-D vectors, not images, so they do not pretend to be LabelledImages:
their inputs live in ``.x`` (train with ``fit(model, data.x)``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch

from aecourse.contracts import check_choice, check_int, check_number, invalid
from aecourse.data.containers import NamedVectors, check_range, split_count

__all__ = ["sparse_patterns", "SparseFeatures", "SPARSE_PRESETS", "make_sparse_features"]


def sparse_patterns() -> NamedVectors:
    """The three input patterns of the sparse-autoencoder worked example.

    ====  ==  ==  ==  ==
    name  x1  x2  x3  x4
    ====  ==  ==  ==  ==
    A      1   0   0   1
    B      0   1   1   0
    C      1   1   0   0
    ====  ==  ==  ==  ==

    Returns
    -------
    NamedVectors
        ``x`` : Tensor, shape (3, 4), float32 of 0s and 1s; ``names`` ``("A", "B", "C")``.
    """
    x = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.float32)
    return NamedVectors(x, ("A", "B", "C"), name="sparse_patterns")


@dataclass(repr=False)
class SparseFeatures:
    """Synthetic data made of sparse combinations of known feature directions.

    ``x[i] = sum_f activations[i, f] * dictionary[f]``, i.e. ``x = activations @ dictionary``.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        float32 inputs.
    dictionary : Tensor, shape (n_features, d)
        The true features, **one unit-norm direction per row** (the layout of
        :attr:`aecourse.sae.SparseAutoencoder.dictionary` and of
        :mod:`aecourse.metrics`).
    activations : Tensor, shape (n, n_features)
        The true coefficients: zero where a feature is off, its magnitude where on.
    p_active : float
        Probability that any one feature fires in any one input.
    magnitude : (float, float)
        Range of the uniform magnitudes of active features.
    seed : int or None
    name : str
    """

    x: torch.Tensor
    dictionary: torch.Tensor
    activations: torch.Tensor
    p_active: float
    magnitude: tuple[float, float]
    seed: int | None = None
    name: str = "sparse_features"

    def __post_init__(self) -> None:
        n, d = self.x.shape
        if self.dictionary.shape[1] != d or self.activations.shape != (n, len(self.dictionary)):
            raise invalid("x, dictionary and activations", "of shapes (n, d), (n_features, d), (n, n_features)",
                          f"{tuple(self.x.shape)}, {tuple(self.dictionary.shape)}, {tuple(self.activations.shape)}",
                          shown=True)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def d(self) -> int:
        """Dimension of the inputs."""
        return self.x.shape[1]

    @property
    def n_features(self) -> int:
        """Number of true features."""
        return len(self.dictionary)

    def mean_active(self) -> float:
        """Average number of active features per input (about ``p_active * n_features``)."""
        return float((self.activations > 0).sum(1).float().mean())

    def __getitem__(self, idx) -> SparseFeatures:
        """A subset of the inputs, with the same dictionary.

        Parameters
        ----------
        idx : int, slice or index array
            As for a tensor; an int keeps the batch axis (n = 1).

        Returns
        -------
        SparseFeatures
            ``x`` ``(m, d)``, ``activations`` ``(m, n_features)``, ``dictionary`` unchanged.
        """
        if isinstance(idx, numbers.Integral):
            idx = slice(int(idx), int(idx) + 1 if idx != -1 else None)
        return SparseFeatures(self.x[idx], self.dictionary, self.activations[idx], self.p_active,
                              self.magnitude, self.seed, self.name)

    def split(self, fraction: float = 0.8) -> tuple[SparseFeatures, SparseFeatures]:
        """First ``fraction`` of the inputs and the rest (inputs are already i.i.d., so no shuffle).

        Parameters
        ----------
        fraction : float in (0, 1)

        Returns
        -------
        train, test : SparseFeatures
            The first ``round(fraction * n)`` inputs and the others; neither may be empty.
        """
        cut = split_count(fraction, len(self), "inputs")
        return self[:cut], self[cut:]

    def __repr__(self) -> str:
        return (f"SparseFeatures(n={len(self)}, d={self.d}, n_features={self.n_features}, "
                f"p_active={self.p_active:.4g} (~{self.p_active * self.n_features:.3g} active), "
                f"magnitude={self.magnitude}, seed={self.seed})")


# Presets of make_sparse_features: (d, n_features); p_active defaults to
# 4 / n_features, so about 4 features are active in each input.
SPARSE_PRESETS: dict[str, dict[str, int]] = {
    "default": {"d": 32, "n_features": 64},
    "hard": {"d": 64, "n_features": 256},
}


def make_sparse_features(
    n: int = 20_000,
    d: int | None = None,
    n_features: int | None = None,
    p_active: float | None = None,
    magnitude: float | tuple[float, float] = (0.5, 1.5),
    seed: int | None = 0,
    preset: str | None = None,
) -> SparseFeatures:
    """Inputs that are sparse sums of known unit-norm features (a benchmark with ground truth).

    ``n_features`` directions are drawn uniformly on the unit sphere of R^d
    (the *dictionary*); in each input, every feature fires independently with
    probability ``p_active``, with a magnitude drawn uniformly from
    ``magnitude``; the input is the sum of the active features' magnitude x
    direction. With more features than dimensions the features are in
    *superposition* and cannot all be orthogonal: this is the setting of
    Sharkey, Braun & Millidge (2022), "Taking features out of superposition
    with sparse autoencoders", where an SAE should recover the dictionary.

    Parameters
    ----------
    n : int
        Number of inputs.
    d : int, optional
        Input dimension (default 32, or the preset's).
    n_features : int, optional
        Number of true features (default 64, or the preset's).
    p_active : float in (0, 1], optional
        Firing probability of each feature; default ``4 / n_features``
        (about 4 active features per input).
    magnitude : float or (low, high)
        Uniform range of active magnitudes (> 0); a number fixes them.
    seed : int or None
        Same seed, same data. The dictionary depends only on (seed, d,
        n_features), and inputs are a prefix-stable stream: the first 100
        inputs of ``n=1000`` equal ``n=100``.
    preset : {"default", "hard"}, optional
        ``"default"``: d=32, 64 features; ``"hard"``: d=64, 256 features
        (4x overcomplete). Explicit ``d`` / ``n_features`` override it.

    Returns
    -------
    SparseFeatures
        ``x`` (n, d) float32, ``dictionary`` (n_features, d) unit rows,
        ``activations`` (n, n_features) true coefficients.

    Examples
    --------
    >>> data = make_sparse_features(10_000, seed=0)
    >>> data.x.shape, data.dictionary.shape
    (torch.Size([10000, 32]), torch.Size([64, 32]))
    """
    if preset is None:
        preset = "default"
    preset = check_choice("preset", preset, sorted(SPARSE_PRESETS))
    n = check_int("n", n, low=1)
    d = check_int("d", SPARSE_PRESETS[preset]["d"] if d is None else d, low=1)
    n_features = check_int("n_features", SPARSE_PRESETS[preset]["n_features"] if n_features is None else n_features,
                           low=1)
    if p_active is None:
        p_active = min(1.0, 4 / n_features)
    p_active = check_number("p_active", p_active, low=0, high=1, low_open=True,
                            fix=f"p_active is a probability, e.g. {4 / n_features:.4g} for about 4 active "
                                "features per input")
    low, high = check_range("magnitude", magnitude, positive=True)
    if seed is not None:
        seed = check_int("seed", seed, low=0)

    # Two independent streams from one seed: the dictionary does not change
    # when n changes, and input i does not change when n grows.
    root = np.random.SeedSequence(seed)
    dict_rng, data_rng = (np.random.default_rng(s) for s in root.spawn(2))
    directions = dict_rng.standard_normal((n_features, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)  # Gaussian / norm: uniform on the sphere

    u = data_rng.random((n, 2 * n_features))  # per input: n_features coin flips, then n_features magnitudes
    on = u[:, :n_features] < p_active
    coefficients = np.where(on, low + u[:, n_features:] * (high - low), 0.0)
    x = coefficients @ directions

    is_preset = dict(d=d, n_features=n_features) == SPARSE_PRESETS[preset]
    return SparseFeatures(
        x=torch.from_numpy(x.astype(np.float32)),
        dictionary=torch.from_numpy(directions.astype(np.float32)),
        activations=torch.from_numpy(coefficients.astype(np.float32)),
        p_active=p_active,
        magnitude=(low, high),
        seed=seed,
        name=f"sparse_features-{preset}" if is_preset else "sparse_features",
    )

