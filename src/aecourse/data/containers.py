"""The containers the datasets come in, and the check of a factor's sampling range.

- :class:`LabelledImages` -- what every image dataset returns: a float32 image tensor
  ``(n, 1, H, W)`` in [0, 1] plus a table of factors ``(n, k)`` that generated (or label)
  each image, with indexing, ``split`` and a reproducible ``loader``.
- :class:`NamedVectors` -- a handful of named input vectors ``(n, d)`` (the sparse
  chapters' worked example).
- :class:`FactorInfo` -- one generative factor's name, default range, unit and meaning.
- :func:`check_range` -- a factor argument that is either a number (fix the factor) or a
  ``(low, high)`` pair (sample it), as :func:`~aecourse.data.make_glyph_digits` and
  :func:`~aecourse.data.make_sparse_features` take them.

This module imports only :mod:`aecourse.contracts`; every other module of
:mod:`aecourse.data` builds on it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from aecourse.contracts import as_array, check_int, check_number, invalid

__all__ = ["LabelledImages", "NamedVectors", "FactorInfo", "check_range"]


@dataclass(repr=False)
class LabelledImages:
    """Images together with the factors that generated (or label) them.

    Parameters
    ----------
    images : Tensor, shape (n, 1, H, W)
        float32 pixel intensities in [0, 1] (a NumPy array is converted).
    factors : ndarray, shape (n, k)
        float64 factor values, one column per factor. Class-like factors
        (such as the digit) are stored as their integer values. With a single
        factor a vector ``(n,)`` is accepted.
    factor_names : tuple of str, length k
        Column names of ``factors``.
    name : str, optional
        A short label for printing, e.g. ``"glyphs"``.

    Raises
    ------
    TypeError
        ``images`` is not a tensor or array, or a factor name is not a string.
    ValueError
        Wrong shapes, integer or out-of-range pixels, repeated factor names.

    Examples
    --------
    >>> from aecourse.data import make_glyph_digits
    >>> data = make_glyph_digits(1000)
    >>> train, test = data.split(0.8)
    >>> for x in train.loader(batch_size=64):   # x : Tensor (64, 1, 28, 28)
    ...     break
    >>> train.factor("slant").shape
    (800,)
    """

    images: torch.Tensor
    factors: np.ndarray
    factor_names: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        # Accept numpy images and list factors for convenience, but check
        # everything here so a mistake fails now, not deep inside training.
        if isinstance(self.images, np.ndarray):
            self.images = torch.from_numpy(self.images)
        if not isinstance(self.images, torch.Tensor):
            raise invalid("images", "a torch.Tensor of shape (n, 1, H, W)", type(self.images).__name__,
                          error=TypeError, shown=True)
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise invalid("images", "a batch of shape (n, 1, H, W) (one grey channel)",
                          f"shape {tuple(self.images.shape)}",
                          "add the channel axis with images[:, None] if you have (n, H, W)", shown=True)
        if not self.images.is_floating_point():
            raise invalid("images", "floating point in [0, 1]", f"dtype {self.images.dtype}",
                          "scale integer pixels first, e.g. images.float() / 255", shown=True)
        self.images = self.images.to(torch.float32)
        if len(self.images):
            low, high = torch.aminmax(self.images)
            if not (low >= 0 and high <= 1):  # written this way round so NaN fails too
                raise invalid("images", "in [0, 1]", f"values from {low.item():g} to {high.item():g}",
                              "rescale them, e.g. (x - x.min()) / (x.max() - x.min())", shown=True)

        self.factor_names = tuple(self.factor_names)
        if not all(isinstance(f, str) for f in self.factor_names):
            raise invalid("factor_names", "strings", self.factor_names, error=TypeError)
        if len(set(self.factor_names)) != len(self.factor_names):
            raise invalid("factor_names", "unique", self.factor_names)

        self.factors = as_array(self.factors, "factors", finite=False)
        if self.factors.ndim == 1 and len(self.factor_names) == 1:
            self.factors = self.factors[:, None]  # a single factor given as a vector
        n, k = len(self.images), len(self.factor_names)
        if self.factors.shape != (n, k):
            raise invalid("factors", f"of shape (n, k) = ({n}, {k}) to match {n} images and "
                          f"factor_names {self.factor_names!r}", f"shape {self.factors.shape}", shown=True)

    # -- basic protocol ------------------------------------------------------

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx) -> LabelledImages:
        """Select images; always returns a LabelledImages (an int keeps n = 1).

        Parameters
        ----------
        idx : int, slice, or array_like of int or bool, shape (m,) or (n,)
            An integer or boolean index (NumPy, torch or list).

        Returns
        -------
        LabelledImages
            ``images`` ``(m, 1, H, W)`` and ``factors`` ``(m, k)`` of the selected rows.
        """
        if isinstance(idx, numbers.Integral):
            i, n = int(idx), len(self)
            if not -n <= i < n:
                raise invalid("index", f"from {-n} to {n - 1}", i, f"it is out of range for {n} images",
                              error=IndexError)
            idx = slice(i % n, i % n + 1)  # keep the batch axis
        if isinstance(idx, slice):
            images, factors = self.images[idx], self.factors[idx]
        else:
            idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx)
            if idx.dtype != bool and not np.issubdtype(idx.dtype, np.integer):
                if idx.size:  # an empty list comes out as float64; that is fine
                    raise invalid("index arrays", "integers or booleans", f"dtype {idx.dtype}",
                                  error=IndexError, shown=True)
                idx = idx.astype(np.int64)
            images, factors = self.images[torch.from_numpy(idx)], self.factors[idx]
        return LabelledImages(images, factors, self.factor_names, self.name)

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        label = f"{self.name!r}, " if self.name else ""
        return f"LabelledImages({label}n={len(self)}, image={shape}, factors={self.factor_names})"

    # -- convenience ---------------------------------------------------------

    def factor(self, name: str) -> np.ndarray:
        """The values of one factor.

        Parameters
        ----------
        name : str
            One of :attr:`factor_names`.

        Returns
        -------
        ndarray of float64, shape (n,)
        """
        if name not in self.factor_names:
            raise invalid("name", f"one of this dataset's factors {self.factor_names}", name, error=KeyError)
        return self.factors[:, self.factor_names.index(name)]

    def loader(self, batch_size: int = 128, shuffle: bool = True, seed: int = 0) -> DataLoader:
        """A DataLoader over the images only.

        The order is fixed by ``seed``: two loaders made with the same seed
        yield the same batches. One loader reshuffles on every pass (epoch),
        in a sequence that is itself reproducible.

        Parameters
        ----------
        batch_size : int
            Images per batch (>= 1); the last batch may be smaller.
        shuffle : bool
            Random order (from ``seed``) or the stored order.
        seed : int

        Returns
        -------
        DataLoader
            Yields Tensors ``(b, 1, H, W)``.
        """
        batch_size = check_int("batch_size", batch_size, low=1)
        generator = torch.Generator().manual_seed(int(seed))
        order = RandomSampler(self.images, generator=generator) if shuffle else SequentialSampler(self.images)
        # The sampler hands out whole lists of indices and we index the tensor
        # once per batch: far faster than collating images one at a time.
        return DataLoader(
            _IndexedTensor(self.images),
            sampler=BatchSampler(order, batch_size=batch_size, drop_last=False),
            batch_size=None,
        )

    def split(self, fraction: float = 0.8, seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
        """Randomly split into ``(train, test)``.

        Parameters
        ----------
        fraction : float in (0, 1)
            Share of the images that goes to ``train``.
        seed : int
            Same seed, same split.

        Returns
        -------
        train, test : LabelledImages
            ``round(fraction * n)`` and the remaining images; neither may be empty.
        """
        n_train = split_count(fraction, len(self), "images")
        order = np.random.default_rng(seed).permutation(len(self))
        return self[order[:n_train]], self[order[n_train:]]


class _IndexedTensor(Dataset):
    """Dataset view of a tensor whose items are fetched a batch at a time.

    ``dataset[indices]`` with a list of ``b`` indices is ``tensor[indices]``, shape ``(b, ...)``.
    """

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, indices) -> torch.Tensor:
        return self.tensor[indices]


@dataclass(repr=False)
class NamedVectors:
    """A handful of input vectors, each with a name.

    These are 1-D vectors, not images, so they do not pretend to be
    :class:`LabelledImages`; the inputs live in ``.x`` (train with ``fit(model, data.x)``).

    Parameters
    ----------
    x : Tensor, shape (n, d)
        float32 inputs (anything ``torch.as_tensor`` takes is converted).
    names : tuple of str, length n
        One name per row, e.g. ``("A", "B", "C")``.
    name : str
        A short label for printing.
    """

    x: torch.Tensor
    names: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        self.x = torch.as_tensor(self.x, dtype=torch.float32)
        self.names = tuple(str(n) for n in self.names)
        if self.x.ndim != 2:
            raise invalid("x", "of shape (n, d)", f"shape {tuple(self.x.shape)}", shown=True)
        if len(self.names) != len(self.x):
            raise invalid("names", "one name per row", f"{len(self.names)} names for {len(self.x)} vectors",
                          shown=True)

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"NamedVectors({label}n={len(self)}, d={self.x.shape[1]}, names={self.names})"


class FactorInfo(NamedTuple):
    """One generative factor: its name, default sampling range, unit and meaning.

    Attributes
    ----------
    name : str
        The column name in :attr:`LabelledImages.factor_names`.
    low, high : float
        The default sampling range.
    unit : str
        E.g. ``"pixels"``, ``"class"``.
    meaning : str
        What changing the factor does to the image.
    """

    name: str
    low: float
    high: float
    unit: str
    meaning: str


def split_count(fraction: float, n: int, items: str) -> int:
    """How many of ``n`` items go to the first part of a ``fraction`` split; both parts must be non-empty."""
    fraction = check_number("fraction", fraction, low=0, high=1, low_open=True, high_open=True)
    cut = int(round(fraction * n))
    if not 0 < cut < n:
        raise invalid("fraction", "a share that leaves both parts non-empty", f"fraction={fraction} of {n} {items}",
                      f"use a fraction nearer 0.5 or more {items}", shown=True)
    return cut


def check_range(name: str, value, positive: bool = False) -> tuple[float, float]:
    """A factor range: a single number fixes the factor, ``(low, high)`` samples it.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : float or (float, float)
        A finite number, or a pair of finite numbers with ``low <= high``.
    positive : bool
        Require ``low > 0`` (a thickness, a scale, a magnitude).

    Returns
    -------
    (low, high) : tuple of float
        Equal when a single number was given.

    Raises
    ------
    ValueError
        In the one message shape of :mod:`aecourse.contracts`.
    """
    fix = "pass a number to fix the factor or a (low, high) pair to sample it"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        low = high = check_number(name, value, low=0 if positive else None, low_open=positive, fix=fix)
        return low, high
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise invalid(name, "a number (to fix it) or a (low, high) pair (to sample it)", value) from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise invalid(f"{name} range", "finite with low <= high", f"({low}, {high})", shown=True)
    if positive and low <= 0:
        raise invalid(name, "a range of numbers > 0", f"range ({low}, {high})", shown=True)
    return low, high
