"""Datasets for the course; none of them needs the network unless you ask.

Every dataset is returned as a :class:`LabelledImages`: a float32 image tensor
of shape ``(n, 1, H, W)`` with values in [0, 1], plus a table of the factors
that generated (or label) each image.

- :func:`make_glyph_digits` -- procedural 28x28 digits drawn from stroke
  skeletons, with *known* factors (digit, thickness, slant, scale, shift).
  This is the course's stand-in for MNIST: every image comes with the ground
  truth that disentanglement metrics need.
- :func:`load_sklearn_digits` -- 1,797 real handwritten 8x8 digits bundled
  with scikit-learn (no download).
- :func:`load_mnist` -- MNIST from IDX files you already have, or downloaded
  on request (``download=True``).

Two vector datasets (not images) serve the sparse chapters and come in their
own small containers:

- :func:`sparse_patterns` -- the three 4-dimensional input patterns A, B, C
  of the sparse-autoencoder worked example, as :class:`NamedVectors`.
- :func:`make_sparse_features` -- synthetic data built from a *known*
  dictionary of sparse features (:class:`SparseFeatures`), so feature
  recovery can be measured against the truth.

:func:`load` picks one by name; :func:`available_datasets` lists the names.

Pixel coordinates follow the image convention used throughout the course:
``x`` grows to the right (columns), ``y`` grows *downwards* (rows), and the
centre of pixel ``(row i, col j)`` sits at ``(x, y) = (j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import numbers
import os
import struct
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

__all__ = [
    "LabelledImages",
    "NamedVectors",
    "SparseFeatures",
    "SPARSE_PRESETS",
    "sparse_patterns",
    "make_sparse_features",
    "FactorInfo",
    "GLYPH_FACTORS",
    "make_glyph_digits",
    "render_glyph",
    "load_sklearn_digits",
    "load_mnist",
    "read_idx",
    "default_data_dir",
    "available_datasets",
    "load",
]


# ---------------------------------------------------------------------------
# The container every dataset returns
# ---------------------------------------------------------------------------


@dataclass(repr=False)
class LabelledImages:
    """Images together with the factors that generated (or label) them.

    Parameters
    ----------
    images : Tensor, shape (n, 1, H, W)
        float32 pixel intensities in [0, 1].
    factors : ndarray, shape (n, k)
        float64 factor values, one column per factor. Class-like factors
        (such as the digit) are stored as their integer values.
    factor_names : tuple of str, length k
        Column names of ``factors``.
    name : str, optional
        A short label for printing, e.g. ``"glyphs"``.

    Examples
    --------
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
            raise TypeError(
                f"images must be a torch.Tensor of shape (n, 1, H, W), got {type(self.images).__name__}"
            )
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(
                f"images must have shape (n, 1, H, W) (one grey channel), got {tuple(self.images.shape)}; "
                "add the channel axis with images[:, None] if you have (n, H, W)"
            )
        if not self.images.is_floating_point():
            raise ValueError(
                f"images must be floating point in [0, 1], got dtype {self.images.dtype}; "
                "scale integer pixels first, e.g. images.float() / 255"
            )
        self.images = self.images.to(torch.float32)
        if len(self.images):
            low, high = torch.aminmax(self.images)
            if not (low >= 0 and high <= 1):  # written this way round so NaN fails too
                raise ValueError(
                    f"images must lie in [0, 1], got values from {low.item():g} to {high.item():g}; "
                    "rescale them, e.g. (x - x.min()) / (x.max() - x.min())"
                )

        self.factor_names = tuple(self.factor_names)
        if not all(isinstance(f, str) for f in self.factor_names):
            raise TypeError(f"factor_names must be strings, got {self.factor_names!r}")
        if len(set(self.factor_names)) != len(self.factor_names):
            raise ValueError(f"factor_names must be unique, got {self.factor_names!r}")

        self.factors = np.asarray(self.factors, dtype=np.float64)
        if self.factors.ndim == 1 and len(self.factor_names) == 1:
            self.factors = self.factors[:, None]  # a single factor given as a vector
        n, k = len(self.images), len(self.factor_names)
        if self.factors.shape != (n, k):
            raise ValueError(
                f"factors must have shape (n, k) = ({n}, {k}) to match {n} images and "
                f"factor_names {self.factor_names!r}, got {self.factors.shape}"
            )

    # -- basic protocol ------------------------------------------------------

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx) -> LabelledImages:
        """Select images; always returns a LabelledImages (an int keeps n = 1).

        ``idx`` may be an int, a slice, or an integer / boolean array (numpy,
        torch or list).
        """
        if isinstance(idx, numbers.Integral):
            i = int(idx)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} is out of range for {len(self)} images")
            idx = slice(i % len(self), i % len(self) + 1)  # keep the batch axis
        if isinstance(idx, slice):
            images, factors = self.images[idx], self.factors[idx]
        else:
            idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx)
            if idx.dtype != bool and not np.issubdtype(idx.dtype, np.integer):
                if idx.size:  # an empty list comes out as float64; that is fine
                    raise IndexError(f"index arrays must hold integers or booleans, got dtype {idx.dtype}")
                idx = idx.astype(np.int64)
            images, factors = self.images[torch.from_numpy(idx)], self.factors[idx]
        return LabelledImages(images, factors, self.factor_names, self.name)

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        label = f"{self.name!r}, " if self.name else ""
        return f"LabelledImages({label}n={len(self)}, image={shape}, factors={self.factor_names})"

    # -- convenience ---------------------------------------------------------

    def factor(self, name: str) -> np.ndarray:
        """The values of one factor, shape (n,)."""
        if name not in self.factor_names:
            raise KeyError(f"unknown factor {name!r}; this dataset has factors {self.factor_names}")
        return self.factors[:, self.factor_names.index(name)]

    def loader(self, batch_size: int = 128, shuffle: bool = True, seed: int = 0) -> DataLoader:
        """A DataLoader over the images only, yielding Tensors (b, 1, H, W).

        The order is fixed by ``seed``: two loaders made with the same seed
        yield the same batches. One loader reshuffles on every pass (epoch),
        in a sequence that is itself reproducible.
        """
        _check_int("batch_size", batch_size, low=1)
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
        """Randomly split into ``(train, test)``; train gets ``fraction`` of the images."""
        if not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"fraction must be a number strictly between 0 and 1, got {fraction!r}")
        n_train = int(round(fraction * len(self)))
        if not 0 < n_train < len(self):
            raise ValueError(
                f"fraction={fraction} of {len(self)} images leaves an empty train or test part; "
                "use a fraction nearer 0.5 or more images"
            )
        order = np.random.default_rng(seed).permutation(len(self))
        return self[order[:n_train]], self[order[n_train:]]


class _IndexedTensor(torch.utils.data.Dataset):
    """Dataset view of a tensor whose items are fetched a batch at a time."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, indices) -> torch.Tensor:
        return self.tensor[indices]


# ---------------------------------------------------------------------------
# Validation helpers (scikit-learn style: say what was expected and how to fix)
# ---------------------------------------------------------------------------


def _check_int(name: str, value, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _check_number(name: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def _check_range(name: str, value, positive: bool = False) -> tuple[float, float]:
    """A factor range: a single number fixes the factor, (low, high) samples it."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        low = high = _check_number(name, value)
    else:
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be a number (to fix it) or a (low, high) pair (to sample it), got {value!r}"
            ) from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{name} range must be finite with low <= high, got ({low}, {high})")
    if positive and low <= 0:
        raise ValueError(f"{name} must be > 0, got range ({low}, {high})")
    return low, high


# ---------------------------------------------------------------------------
# Procedural glyph digits
# ---------------------------------------------------------------------------
#
# Each digit is a *skeleton*: a few polylines in glyph units, with x to the
# right, y downwards, the glyph filling y in [-1, 1] and x roughly in
# [-0.6, 0.6]. An image places the skeleton (scale, slant, shift) and inks
# every pixel by its distance to the nearest stroke, so the factors are
# exact, continuous and independent of each other.


def _arc(cx, cy, rx, ry, start, stop, n=16):
    """Points on an elliptical arc; angles in degrees, counter-clockwise as seen on screen."""
    theta = np.radians(np.linspace(start, stop, n))
    return np.stack([cx + rx * np.cos(theta), cy - ry * np.sin(theta)], axis=1)  # minus: y points down


def _bezier(*control, n=12):
    """Points on a Bezier curve through the given control points."""
    p = np.asarray(control, dtype=float)
    t = np.linspace(0, 1, n)[:, None]
    while len(p) > 1:  # de Casteljau: repeatedly interpolate neighbouring points
        p = np.stack([(1 - t) * a + t * b for a, b in zip(p[:-1], p[1:])])
    return p[0]


def _line(*points):
    return np.asarray(points, dtype=float)


def _join(*parts):
    """One continuous stroke made of consecutive parts."""
    return np.concatenate(parts)


# Each digit: a list of strokes (polylines), drawn the way a hand would.
_SKELETONS: dict[int, list[np.ndarray]] = {
    # a tall oval
    0: [_arc(0.0, 0.0, 0.52, 0.98, 90, 450, n=33)],
    # an upright stroke with a small flag at the top
    1: [_line((-0.28, -0.68), (0.06, -1.0), (0.06, 1.0))],
    # a hook over a gently curved diagonal, then the base line
    2: [_join(
        _arc(0.0, -0.48, 0.5, 0.5, 160, -30, n=14),
        _bezier((0.43, -0.23), (0.1, 0.3), (-0.55, 0.98), n=8)[1:],
        _line((0.58, 0.98)),
    )],
    # two bowls open to the left, meeting in the middle
    3: [_join(_arc(-0.02, -0.5, 0.45, 0.48, 150, -90, n=14), _arc(0.0, 0.47, 0.52, 0.51, 90, -150, n=16))],
    # an open four: down-and-across stroke, then the long upright
    4: [_line((-0.3, -1.0), (-0.52, 0.32), (0.58, 0.32)), _line((0.3, -0.7), (0.3, 1.0))],
    # flag, short down stroke, big bowl
    5: [_join(_line((0.52, -1.0), (-0.34, -1.0), (-0.42, -0.12)), _arc(0.0, 0.45, 0.52, 0.53, 130, -150, n=16))],
    # a sweeping stem into a closed loop at the bottom
    6: [_join(_bezier((0.38, -1.0), (-0.5, -0.45), (-0.5, 0.45), n=10), _arc(0, 0.47, 0.5, 0.51, 180, -180, n=24))],
    # the top bar, then a slightly curved stem
    7: [_line((-0.55, -0.98), (0.55, -0.98)), _bezier((0.55, -0.98), (0.05, -0.1), (-0.05, 1.0), n=10)],
    # two loops, the lower one larger
    8: [_arc(0.0, -0.52, 0.4, 0.46, 270, -90, n=24), _arc(0.0, 0.47, 0.5, 0.51, 90, 450, n=24)],
    # a loop on top, a stem from its right side
    9: [_arc(0.0, -0.48, 0.48, 0.5, 0, 360, n=24), _bezier((0.48, -0.48), (0.45, 0.3), (0.25, 1.0), n=10)],
}


def _to_segments(strokes: list[np.ndarray], max_len: float = 0.3) -> np.ndarray:
    """Cut polylines into straight pieces no longer than ``max_len`` glyph units.

    Returns an array of shape (s, 2, 2): s pieces, (start, end), (x, y).
    Short pieces matter for speed: each piece only inks a small window of
    pixels around itself (see ``_ink``), so long lines are split up.
    """
    pieces = []
    for stroke in strokes:
        for a, b in zip(stroke[:-1], stroke[1:]):
            k = max(1, math.ceil(np.linalg.norm(b - a) / max_len))
            t = np.linspace(0, 1, k + 1)[:, None]
            points = a + t * (b - a)
            pieces.append(np.stack([points[:-1], points[1:]], axis=1))
    return np.concatenate(pieces)


_SEGMENTS = {d: torch.from_numpy(_to_segments(s)).to(torch.float32) for d, s in _SKELETONS.items()}

# Half the glyph's height in pixels at scale 1 on a 28x28 canvas: the glyph
# is 16 px tall, so the largest, thickest, most shifted default glyph still
# leaves the outermost pixels blank.
_HALF_HEIGHT_28 = 8.0


class FactorInfo(NamedTuple):
    """One generative factor: its name, default sampling range, unit and meaning."""

    name: str
    low: float
    high: float
    unit: str
    meaning: str


GLYPH_FACTORS: tuple[FactorInfo, ...] = (
    FactorInfo("digit", 0, 9, "class", "which digit skeleton is drawn"),
    FactorInfo("thickness", 1.0, 3.5, "pixels", "stroke width"),
    FactorInfo("slant", -0.35, 0.35, "shear", "x += slant * (centre_y - y); positive leans right, like italics"),
    FactorInfo("scale", 0.8, 1.1, "x", "size multiplier about the image centre (1 = 16 px tall on 28x28)"),
    FactorInfo("shift_x", -2.0, 2.0, "pixels", "horizontal translation; positive moves right"),
    FactorInfo("shift_y", -2.0, 2.0, "pixels", "vertical translation; positive moves down"),
)


def _place(segments: torch.Tensor, slant, scale, shift_x, shift_y, size: int) -> torch.Tensor:
    """Map glyph-unit segments (s, 2, 2) into pixel coordinates for b images.

    The factor arguments are Tensors of shape (b,); returns (b, s, 2, 2).
    Order: scale about the centre, then shear (so slant is the same angle at
    any scale), then shift.
    """
    centre = size / 2
    unit = scale[:, None, None] * (_HALF_HEIGHT_28 * size / 28)  # pixels per glyph unit, (b, 1, 1)
    gx, gy = segments[None, ..., 0], segments[None, ..., 1]  # (1, s, 2) each
    x = centre + unit * gx - slant[:, None, None] * (unit * gy) + shift_x[:, None, None]
    y = centre + unit * gy + shift_y[:, None, None]
    return torch.stack([x, y], dim=-1)


def _ink(segments: torch.Tensor, thickness: torch.Tensor, size: int) -> torch.Tensor:
    """Anti-aliased strokes: render segments (b, s, 2, 2) in pixels to images (b, size, size).

    A pixel's ink is ``clip(thickness/2 + 0.5 - distance, 0, 1)`` with
    ``distance`` from the pixel centre to the nearest segment: 1 inside the
    stroke, 0 beyond it, and a one-pixel linear ramp at the edge, so the ink
    changes smoothly as thickness changes.

    Rather than measuring every pixel against every segment (b * s * size^2
    distances), each segment measures only the k x k window of pixels it can
    reach; the windows are merged with a scatter-max, since the nearest
    segment gives the most ink.
    """
    b, s = segments.shape[:2]
    start, end = segments[:, :, 0], segments[:, :, 1]  # (b, s, 2)
    radius = thickness / 2 + 0.5  # (b,) ink > 0 strictly within this distance

    # A pixel centre gets ink only within `reach` of a segment's midpoint.
    half_length = 0.5 * (end - start).norm(dim=-1).max().item()
    reach = half_length + radius.max().item()
    k = math.floor(2 * reach) + 1  # pixel centres that fit in [mid - reach, mid + reach]
    pad = k + 1  # a border wide enough that windows never fall off the canvas
    width = size + 2 * pad

    # Column and row of each window's pixels (whole numbers, kept as floats for
    # the geometry). The window starts at the first centre j + 0.5 >= mid - reach.
    mid = (start + end) / 2
    first = torch.ceil(mid - reach - 0.5).clamp(-pad, size + pad - k)  # (b, s, 2)
    offsets = torch.arange(k, dtype=torch.float32)
    cols = first[..., 0, None, None] + offsets[None, :]  # (b, s, 1, k)
    rows = first[..., 1, None, None] + offsets[:, None]  # (b, s, k, 1)

    # Distance from each window pixel's centre to its segment.
    ax, ay = start[..., 0, None, None], start[..., 1, None, None]  # (b, s, 1, 1)
    dx, dy = end[..., 0, None, None] - ax, end[..., 1, None, None] - ay
    ux, uy = (cols + 0.5) - ax, (rows + 0.5) - ay  # pixel centre relative to the start
    # Project onto the segment and clamp to its ends (this gives round caps).
    t = ((ux * dx + uy * dy) / (dx * dx + dy * dy).clamp_min(1e-12)).clamp(0, 1)
    ex, ey = ux - t * dx, uy - t * dy
    distance = torch.sqrt(ex * ex + ey * ey)  # (b, s, k, k)
    ink = (radius[:, None, None, None] - distance).clamp(0, 1)

    # Merge all windows into padded canvases with a max, then crop the border.
    image_offset = torch.arange(b)[:, None, None, None] * (width * width)
    flat_index = image_offset + (rows.long() + pad) * width + (cols.long() + pad)  # (b, s, k, k)
    canvas = torch.zeros(b * width * width, dtype=torch.float32)
    canvas.scatter_reduce_(0, flat_index.reshape(-1), ink.reshape(-1), reduce="amax")
    return canvas.view(b, width, width)[:, pad : pad + size, pad : pad + size]


def _render(digit: int, factors: np.ndarray, size: int) -> torch.Tensor:
    """Render b images (b, size, size) of one digit; factors (b, 5) are
    (thickness, slant, scale, shift_x, shift_y)."""
    f = torch.from_numpy(factors).to(torch.float32)
    segments = _place(_SEGMENTS[digit], f[:, 1], f[:, 2], f[:, 3], f[:, 4], size)
    return _ink(segments, f[:, 0], size)


def render_glyph(
    digit: int,
    thickness: float = 2.0,
    slant: float = 0.0,
    scale: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    size: int = 28,
) -> torch.Tensor:
    """Render one glyph digit with the given factors.

    Same renderer as :func:`make_glyph_digits` (same factors, same pixels),
    handy for latent traversals and for tests.

    Parameters
    ----------
    digit : int in 0..9
    thickness : float
        Stroke width in pixels (> 0).
    slant : float
        Horizontal shear: ``x += slant * (centre_y - y)``; positive leans right.
    scale : float
        Size multiplier about the image centre (> 0); 1 is 16 px tall on 28x28.
    shift_x, shift_y : float
        Translation in pixels; +x moves right, +y moves down.
    size : int
        Side of the square image in pixels.

    Returns
    -------
    image : Tensor, shape (1, size, size)
        float32 in [0, 1].
    """
    _check_digit(digit)
    _check_int("size", size, low=8)
    factors = np.array([[
        _check_number("thickness", thickness, positive=True),
        _check_number("slant", slant),
        _check_number("scale", scale, positive=True),
        _check_number("shift_x", shift_x),
        _check_number("shift_y", shift_y),
    ]])
    return _render(int(digit), factors, size).contiguous()  # a copy, not a view of the padded canvas


def _check_digit(digit) -> int:
    if isinstance(digit, bool) or not isinstance(digit, numbers.Integral) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer from 0 to 9, got {digit!r}")
    return int(digit)


def make_glyph_digits(
    n: int = 10_000,
    seed: int | None = 0,
    *,
    size: int = 28,
    digits: Iterable[int] = range(10),
    thickness: float | tuple[float, float] = (1.0, 3.5),
    slant: float | tuple[float, float] = (-0.35, 0.35),
    scale: float | tuple[float, float] = (0.8, 1.1),
    shift: float | tuple[float, float] = (-2.0, 2.0),
    batch_size: int = 1024,
) -> LabelledImages:
    """Procedural handwritten-style digits with known generative factors.

    Each image draws one digit skeleton with a stroke ``thickness``, a
    ``slant``, a ``scale`` and a shift, all sampled independently and
    uniformly from the given ranges (a single number fixes a factor). See
    ``GLYPH_FACTORS`` for units and meanings.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int or None
        Same seed, same images (bit for bit). The images are a prefix-stable
        stream: the first 100 images of ``n=1000`` equal ``n=100``, and fixing
        one factor leaves the others' values unchanged. None draws fresh ones.
    size : int
        Image side in pixels; the glyph scales with it, thickness and shift
        stay in pixels.
    digits : iterable of int
        Which digits to draw (uniformly), e.g. ``[3, 8]``.
    thickness : float or (low, high)
        Stroke width in pixels.
    slant : float or (low, high)
        Shear coefficient: ``x += slant * (centre_y - y)``, positive leans right.
    scale : float or (low, high)
        Size multiplier about the centre; 1 is 16 px tall on a 28 px image.
    shift : float or (low, high)
        Range for both ``shift_x`` (+ right) and ``shift_y`` (+ down), pixels.
    batch_size : int
        Images rendered at a time; affects memory use only, never the images.

    Returns
    -------
    LabelledImages
        ``images`` : Tensor, shape (n, 1, size, size), float32 in [0, 1];
        ``factors`` : shape (n, 6), columns ``("digit", "thickness", "slant",
        "scale", "shift_x", "shift_y")``.

    Notes
    -----
    With the default ranges no ink reaches the outermost row or column of a
    28x28 image. Wider ranges are allowed; ink beyond the frame is cut off.
    """
    n = _check_int("n", n, low=1)
    if seed is not None:
        seed = _check_int("seed", seed, low=0)
    size = _check_int("size", size, low=8)
    batch_size = _check_int("batch_size", batch_size, low=1)
    try:
        digit_set = np.array(sorted({_check_digit(d) for d in digits}), dtype=np.int64)
    except TypeError:
        raise ValueError(f"digits must be an iterable of integers 0..9, got {digits!r}") from None
    if len(digit_set) == 0:
        raise ValueError("digits is empty; pass at least one digit from 0 to 9, e.g. digits=range(10)")
    ranges = np.array([
        _check_range("thickness", thickness, positive=True),
        _check_range("slant", slant),
        _check_range("scale", scale, positive=True),
        _check_range("shift", shift),
        _check_range("shift", shift),
    ])  # (5, 2): low, high for thickness, slant, scale, shift_x, shift_y

    # One row of uniforms per image, drawn in a single call: row i is the
    # same for every n (prefix-stable), and every factor has its own column.
    u = np.random.default_rng(seed).random((n, 6))
    digit = digit_set[np.minimum((u[:, 0] * len(digit_set)).astype(np.int64), len(digit_set) - 1)]
    continuous = ranges[:, 0] + u[:, 1:] * (ranges[:, 1] - ranges[:, 0])  # (n, 5)

    # Render digit by digit (each skeleton has its own number of segments), a
    # batch at a time, on one thread: these are many medium-sized tensor ops,
    # and on a small machine shared with other work (2 cores, a notebook next
    # to a training run) multi-threaded ops wait on each other and run 5-10x
    # slower, while one thread is never more than ~1.5x slower.
    images = torch.empty(n, 1, size, size, dtype=torch.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for d in np.unique(digit):
            rows = np.flatnonzero(digit == d)
            for batch in np.array_split(rows, math.ceil(len(rows) / batch_size)):
                images[torch.from_numpy(batch), 0] = _render(int(d), continuous[batch], size)
    finally:
        torch.set_num_threads(threads)

    factors = np.column_stack([digit.astype(np.float64), continuous])
    names = tuple(f.name for f in GLYPH_FACTORS)
    return LabelledImages(images, factors, names, name="glyphs")


# ---------------------------------------------------------------------------
# Real handwritten digits
# ---------------------------------------------------------------------------


def load_sklearn_digits() -> LabelledImages:
    """The 1,797 8x8 handwritten digits bundled with scikit-learn (no download).

    Returns
    -------
    LabelledImages
        ``images`` : Tensor, shape (1797, 1, 8, 8), float32 in [0, 1]
        (the raw values 0..16 divided by 16); factor ``"digit"``.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    return LabelledImages(images, bunch.target[:, None], ("digit",), name="sklearn_digits")


# ---------------------------------------------------------------------------
# MNIST from IDX files
# ---------------------------------------------------------------------------

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# md5 of the .gz files, as published with MNIST (and used by torchvision).
_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_DOWNLOAD_TIMEOUT_S = 10
_OFFLINE_FALLBACKS = "make_glyph_digits() or load_sklearn_digits(), which need no network"


def default_data_dir() -> Path:
    """Where datasets live: ``$AECOURSE_DATA`` if set, else ``~/.aecourse/data``."""
    return Path(os.environ.get("AECOURSE_DATA") or Path.home() / ".aecourse" / "data")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into a numpy array of its stored shape.

    The header is 2 zero bytes, a dtype code, the number of dimensions, then
    one big-endian uint32 per dimension. Only unsigned bytes (code 0x08, what
    MNIST uses) are supported.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no IDX file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # includes gzip.BadGzipFile and truncated archives
        raise ValueError(
            f"{path} is not a readable IDX file ({err}); delete it and copy or download it again"
        ) from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file (bad magic number {data[:4].hex() or 'empty'}, "
            "expected 0000 08 followed by the number of dimensions); delete it and copy or download it again"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path} has a truncated IDX header; delete it and copy or download it again")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(shape)
    if len(data) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: header says shape {shape} ({expected} bytes) "
            f"but the file has {len(data)} bytes; delete it and copy or download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download_mnist(root: Path, names: Iterable[str]) -> None:
    """Fetch the ``.gz`` files into root, trying each mirror in turn."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        filename = f"{name}.gz"
        errors = []
        for mirror in _MNIST_MIRRORS:
            try:
                with urllib.request.urlopen(mirror + filename, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:  # timeouts, resets, ...
                errors.append(f"{mirror}: {err}")
                continue
            if hashlib.md5(payload, usedforsecurity=False).hexdigest() != _MNIST_MD5[filename]:
                errors.append(f"{mirror}: checksum mismatch")
                continue
            # Write to a temporary file and rename, so an interrupted download
            # never leaves a half-written file that looks complete.
            with tempfile.NamedTemporaryFile(dir=root, delete=False) as tmp:
                tmp.write(payload)
            os.replace(tmp.name, root / filename)
            break
        else:
            raise ConnectionError(
                f"could not download {filename} from any MNIST mirror; you appear to be offline "
                f"(or the mirrors are unreachable). Copy the MNIST IDX files into {root} yourself, "
                f"or use {_OFFLINE_FALLBACKS}.\nTried:\n  " + "\n  ".join(errors)
            )


def load_mnist(
    root: str | os.PathLike | None = None, split: str = "train", download: bool = False
) -> LabelledImages:
    """MNIST digits from the standard IDX files.

    Parameters
    ----------
    root : path, optional
        Folder holding ``train-images-idx3-ubyte`` etc., raw or ``.gz``.
        Defaults to ``$AECOURSE_DATA/mnist`` or ``~/.aecourse/data/mnist``.
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    download : bool
        Fetch missing files from a public mirror (needs the network). Off by
        default: nothing in the course touches the network unless asked.

    Returns
    -------
    LabelledImages
        ``images`` : Tensor, shape (n, 1, 28, 28), float32 in [0, 1];
        factor ``"digit"``.
    """
    if split not in _MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(_MNIST_FILES)}, got {split!r}")
    root = Path(root).expanduser() if root is not None else default_data_dir() / "mnist"
    names = _MNIST_FILES[split]

    missing = [name for name in names if _find_idx(root, name) is None]
    if missing and download:
        _download_mnist(root, missing)
    elif missing:
        raise FileNotFoundError(
            f"MNIST {split} files not found in {root}: expected "
            + " and ".join(f"{name}[.gz]" for name in names)
            + f". Pass download=True to fetch them, or copy the files there, or use {_OFFLINE_FALLBACKS}."
        )

    image_path, label_path = (_find_idx(root, name) for name in names)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{image_path} (shape {images.shape}) and {label_path} (shape {labels.shape}) do not match: "
            "expected images (n, H, W) and labels (n,); delete them and copy or download them again"
        )
    tensor = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    return LabelledImages(tensor, labels[:, None], ("digit",), name=f"mnist-{split}")


# ---------------------------------------------------------------------------
# Vector datasets for the sparse chapters
# ---------------------------------------------------------------------------
#
# These are 1-D vectors, not images, so they do not pretend to be
# LabelledImages: each has its own tiny container whose inputs live in ``.x``
# (train with ``fit(model, data.x)``).


@dataclass(repr=False)
class NamedVectors:
    """A handful of input vectors, each with a name.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        float32 inputs.
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
            raise ValueError(f"x must have shape (n, d), got {tuple(self.x.shape)}")
        if len(self.names) != len(self.x):
            raise ValueError(f"names has {len(self.names)} entries for {len(self.x)} vectors; give one name per row")

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"NamedVectors({label}n={len(self)}, d={self.x.shape[1]}, names={self.names})"


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
        :attr:`aecourse.models.SparseAutoencoder.dictionary` and of
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
            raise ValueError(
                f"shapes do not fit: x {tuple(self.x.shape)}, dictionary {tuple(self.dictionary.shape)}, "
                f"activations {tuple(self.activations.shape)}; expected (n, d), (n_features, d), (n, n_features)"
            )

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
        """A subset of the inputs (same dictionary); ``idx`` as for a tensor (slice, index array)."""
        if isinstance(idx, numbers.Integral):
            idx = slice(int(idx), int(idx) + 1 if idx != -1 else None)
        return SparseFeatures(self.x[idx], self.dictionary, self.activations[idx], self.p_active,
                              self.magnitude, self.seed, self.name)

    def split(self, fraction: float = 0.8) -> tuple[SparseFeatures, SparseFeatures]:
        """First ``fraction`` of the inputs and the rest (inputs are already i.i.d., so no shuffle)."""
        if not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"fraction must be a number strictly between 0 and 1, got {fraction!r}")
        cut = int(round(fraction * len(self)))
        if not 0 < cut < len(self):
            raise ValueError(f"fraction={fraction} of {len(self)} inputs leaves an empty part")
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
    if preset not in SPARSE_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(SPARSE_PRESETS)}")
    n = _check_int("n", n, low=1)
    d = _check_int("d", SPARSE_PRESETS[preset]["d"] if d is None else d, low=1)
    n_features = _check_int("n_features", SPARSE_PRESETS[preset]["n_features"] if n_features is None else n_features,
                            low=1)
    if p_active is None:
        p_active = min(1.0, 4 / n_features)
    p_active = _check_number("p_active", p_active)
    if not 0 < p_active <= 1:
        raise ValueError(f"p_active is a probability and must be in (0, 1], got {p_active}; "
                         f"e.g. {4 / n_features:.4g} for about 4 active features per input")
    low, high = _check_range("magnitude", magnitude, positive=True)
    if seed is not None:
        seed = _check_int("seed", seed, low=0)

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


# ---------------------------------------------------------------------------
# Loading by name
# ---------------------------------------------------------------------------

# name -> function returning a dataset. Adding a dataset is one line here.
_DATASETS: dict[str, Callable[..., LabelledImages | NamedVectors | SparseFeatures]] = {
    "glyphs": make_glyph_digits,
    "sklearn_digits": load_sklearn_digits,
    "mnist": load_mnist,
    "sparse_patterns": sparse_patterns,
    "sparse_features": make_sparse_features,
}


def _make_dsprites(**kwargs) -> LabelledImages:
    from .dsprites import make_dsprites  # imported here: dsprites.py builds on this module

    return make_dsprites(**kwargs)


_DATASETS["dsprites"] = _make_dsprites


def available_datasets() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_DATASETS)


def load(name: str, **kwargs) -> LabelledImages | NamedVectors | SparseFeatures:
    """Load a dataset by name; keyword arguments go to its function.

    Image datasets return :class:`LabelledImages`; ``"sparse_patterns"`` and
    ``"sparse_features"`` return vectors (:class:`NamedVectors`,
    :class:`SparseFeatures`).

    >>> data = load("glyphs", n=500, seed=1)
    """
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available datasets are {available_datasets()}")
    return _DATASETS[name](**kwargs)
