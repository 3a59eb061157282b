"""dSprites, generated procedurally with the original's factors, order and geometry.

dSprites (Matthey et al., 2017, deepmind/dsprites-dataset) is the standard
benchmark of disentanglement: 737,280 binary 64x64 images of one white shape
on black, one image for every combination of six latent factors, stored in a
fixed order. This module regenerates it without a download:

=============  =======  ======================================
factor         classes  values (``latents_values``)
=============  =======  ======================================
color          1        1.0
shape          3        1 square, 2 ellipse, 3 heart
scale          6        ``linspace(0.5, 1, 6)``
orientation    40       ``linspace(0, 2*pi, 40)`` radians
posX           32       ``linspace(0, 1, 32)``
posY           32       ``linspace(0, 1, 32)``
=============  =======  ======================================

The flat index of an image is
``shape*245760 + scale*40960 + orientation*1024 + posX*32 + posY``
(:func:`index_of`, :func:`classes_of`), exactly as in the original ``.npz``.

Geometry (pixel ``(r, c)`` is on when its centre ``(c + 0.5, r + 0.5)`` lies
inside the shape; the shape's reference point is ``(16 + 32*posX,
16 + 32*posY)`` with ``posY`` the row measured from the top; orientation
rotates counter-clockwise on screen):

- square: half-side ``9.6*scale`` px;
- ellipse: semi-axes ``12.75*scale`` (horizontal at orientation 0) and
  ``7.25*scale`` px;
- heart: the classic parametric heart ``x = sin(t)**3``,
  ``y = (13 cos t - 5 cos 2t - 2 cos 3t - cos 4t)/16``, lobes up, stretched
  to ``9.75*scale`` px horizontally and ``10.5*scale`` px vertically and
  lowered by ``0.15*10.5*scale`` px (fitted to the original's frames).

Against 317 frames of the original (``dsprites_gif_frames.npz``) the
renderer is off by 0.13 mismatched pixels per frame on average for squares,
0.89 for ellipses and 5.1 for hearts (see ``tests/test_dsprites.py``).
Rendering is plain vectorised numpy: 10,000 images take about 0.5 s and the
whole dataset about 32 s at 64x64 (6 s at 32x32) on the 2-core CI machine
(``benchmarks/bench_data.py``).

Functions
---------
- :func:`render` -- images for an ``(n, 6)`` array of class indices.
- :func:`make_dsprites` -- a random subset, or chosen indices, as
  :class:`~aecourse.data.containers.LabelledImages`.
- :func:`render_all` -- the whole dataset as uint8 chunks (a float copy of
  all of it would take 12 GB).
- :func:`load_dsprites_npz` -- the original file, if you have it, through
  the same API.
- :func:`sample_factors`, :func:`fix_factor` -- batches for the
  disentanglement metrics (one factor held fixed, the others random).
- :class:`DSpritesGroundTruth` -- the dataset as the chapter-05 metrics
  (:mod:`aecourse.measure`) draw from it, rendered on demand.

``load("dsprites", ...)`` in :mod:`aecourse.data` is :func:`make_dsprites`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from aecourse.contracts import check_int, invalid
from aecourse.data.containers import LabelledImages

__all__ = [
    "DSpritesGroundTruth",
    "LATENT_NAMES",
    "LATENT_SIZES",
    "LATENT_BASES",
    "N_IMAGES",
    "FACTOR_NAMES",
    "SHAPE_NAMES",
    "latents_values_for",
    "index_of",
    "classes_of",
    "render",
    "render_all",
    "make_dsprites",
    "load_dsprites_npz",
    "sample_factors",
    "fix_factor",
]

LATENT_NAMES: tuple[str, ...] = ("color", "shape", "scale", "orientation", "posX", "posY")
LATENT_SIZES: np.ndarray = np.array([1, 3, 6, 40, 32, 32], dtype=np.int64)
#: Multiplier of each latent class in the flat index: (737280, 245760, 40960, 1024, 32, 1).
LATENT_BASES: np.ndarray = np.concatenate([np.cumprod(LATENT_SIZES[::-1])[::-1][1:], [1]]).astype(np.int64)
N_IMAGES: int = int(np.prod(LATENT_SIZES))  # 737,280
#: Column names of ``make_dsprites(...).factors`` (color dropped: it is constant).
FACTOR_NAMES: tuple[str, ...] = LATENT_NAMES[1:]
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")

_SCALES = np.linspace(0.5, 1.0, 6)
_ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
_POSITIONS = np.linspace(0.0, 1.0, 32)

_SQUARE_HALF = 9.6
_ELLIPSE_AXES = (12.75, 7.25)
_HEART_SX, _HEART_SY, _HEART_DROP = 9.75, 10.5, 0.15
_HEART_GRID = 801  # resolution of the heart's look-up mask
_HEART_EXTENT = 1.6  # the mask covers [-1.6, 1.6]^2 in heart units


# ---------------------------------------------------------------------------
# Index arithmetic
# ---------------------------------------------------------------------------


def _as_classes(classes) -> np.ndarray:
    """Validate an ``(n, 6)`` (or ``(6,)``) array of latent class indices."""
    arr = np.asarray(classes)
    if arr.ndim == 1 and arr.shape[0] == 6:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise invalid("latent classes", f"of shape (n, 6) in dSprites order {LATENT_NAMES}", f"shape {arr.shape}",
                      shown=True)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise invalid("latent classes", "whole numbers (class indices, not values)", "non-integer values",
                          shown=True)
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= LATENT_SIZES)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise invalid(f"the {LATENT_NAMES[col]!r} class (row {row})", f"in 0..{LATENT_SIZES[col] - 1}",
                      int(arr[row, col]), f"{arr[row, col]} is out of range for {LATENT_NAMES[col]!r}")
    return arr


def index_of(classes) -> np.ndarray:
    """Flat dSprites index of each row of latent classes.

    Parameters
    ----------
    classes : array_like of int, shape (n, 6) or (6,)
        Class indices in the order of :data:`LATENT_NAMES`.

    Returns
    -------
    ndarray of int64, shape (n,)
        ``shape*245760 + scale*40960 + orientation*1024 + posX*32 + posY``.
    """
    return _as_classes(classes) @ LATENT_BASES


def classes_of(index) -> np.ndarray:
    """Latent classes of flat dSprites indices (the inverse of :func:`index_of`).

    Parameters
    ----------
    index : array_like of int, shape (n,)
        Flat indices in ``0 .. 737279``.

    Returns
    -------
    ndarray of int64, shape (n, 6)
    """
    idx = np.asarray(index)
    if idx.ndim == 0:
        idx = idx[None]
    if idx.ndim != 1:
        raise invalid("index", "a 1-d array of flat indices", f"shape {idx.shape}", shown=True)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise invalid("index", "integers (flat indices)", f"dtype {idx.dtype}", shown=True)
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= N_IMAGES):
        raise invalid("index", f"in 0..{N_IMAGES - 1}", f"{idx.min()}..{idx.max()}",
                      "a flat index out of range names no image", shown=True)
    return (idx[:, None] // LATENT_BASES) % LATENT_SIZES


def latents_values_for(classes) -> np.ndarray:
    """The original ``latents_values`` rows for latent classes.

    Parameters
    ----------
    classes : array_like of int, shape (n, 6) or (6,)

    Returns
    -------
    ndarray of float64, shape (n, 6)
        color 1.0; shape 1, 2 or 3; scale in [0.5, 1]; orientation in
        radians in [0, 2 pi]; posX and posY in [0, 1].
    """
    c = _as_classes(classes)
    out = np.empty(c.shape, dtype=np.float64)
    out[:, 0] = 1.0
    out[:, 1] = c[:, 1] + 1.0
    out[:, 2] = _SCALES[c[:, 2]]
    out[:, 3] = _ORIENTATIONS[c[:, 3]]
    out[:, 4] = _POSITIONS[c[:, 4]]
    out[:, 5] = _POSITIONS[c[:, 5]]
    return out


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

_heart_mask_cache: np.ndarray | None = None


def _heart_mask() -> np.ndarray:
    """Boolean mask (G, G) of the parametric heart on [-E, E]^2, row = y up."""
    global _heart_mask_cache
    if _heart_mask_cache is None:
        t = np.linspace(0.0, 2 * np.pi, 2001)
        hx = np.sin(t) ** 3
        hy = (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) / 16
        grid = np.linspace(-_HEART_EXTENT, _HEART_EXTENT, _HEART_GRID)
        x0, y0, x1, y1 = hx[:-1], hy[:-1], hx[1:], hy[1:]
        # Even-odd rule, one scanline per grid row: count edge crossings left of each point.
        gy = grid[:, None]
        crosses = (y0 <= gy) != (y1 <= gy)  # (G, edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (gy - y0) * (x1 - x0) / (y1 - y0)
        xc = np.where(crosses, xc, np.inf)  # (G, edges)
        xc.sort(axis=1)
        count = np.stack([np.searchsorted(row, grid) for row in xc])  # crossings left of each point
        _heart_mask_cache = (count % 2) == 1
    return _heart_mask_cache


def _render_chunk(c: np.ndarray, resolution: int) -> np.ndarray:
    f = resolution / 64.0  # pixel size in original pixels is 1/f
    g = ((np.arange(resolution, dtype=np.float32) + 0.5) / f)  # pixel centres in 64-px units
    s = _SCALES[c[:, 2]].astype(np.float32)[:, None, None]
    theta = _ORIENTATIONS[c[:, 3]]
    ct = np.cos(theta).astype(np.float32)[:, None, None]
    st = np.sin(theta).astype(np.float32)[:, None, None]
    cx = (16 + 32 * _POSITIONS[c[:, 4]]).astype(np.float32)
    cy = (16 + 32 * _POSITIONS[c[:, 5]]).astype(np.float32)
    u = (g[None, :] - cx[:, None])[:, None, :] / s  # (n, 1, W) screen x, scaled
    v = (cy[:, None] - g[None, :])[:, :, None] / s  # (n, H, 1) screen y, up
    # Rotate the pixel by -theta into the shape's own frame (shape rotates by +theta, CCW).
    x = ct * u + st * v
    y = ct * v - st * u
    out = np.zeros((len(c), resolution, resolution), dtype=np.uint8)
    shape = c[:, 1]
    sq = shape == 0
    if sq.any():
        out[sq] = np.maximum(np.abs(x[sq]), np.abs(y[sq])) <= _SQUARE_HALF
    el = shape == 1
    if el.any():
        a, b = _ELLIPSE_AXES
        out[el] = (x[el] / a) ** 2 + (y[el] / b) ** 2 <= 1
    he = shape == 2
    if he.any():
        mask = _heart_mask()
        k = (_HEART_GRID - 1) / (2 * _HEART_EXTENT)
        hx = x[he] / _HEART_SX
        hy = y[he] / _HEART_SY - _HEART_DROP
        ix = np.clip(np.rint((hx + _HEART_EXTENT) * k), 0, _HEART_GRID - 1).astype(np.intp)
        iy = np.clip(np.rint((hy + _HEART_EXTENT) * k), 0, _HEART_GRID - 1).astype(np.intp)
        out[he] = mask[iy, ix]
    return out


def _check_resolution(resolution) -> int:
    """``resolution`` as an int, the side of the rendered images."""
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or not 1 <= resolution <= 64:
        raise invalid("resolution", "an integer from 1 to 64", resolution, "64 is the original")
    return int(resolution)


def render(classes, *, resolution: int = 64, chunk: int = 2048) -> np.ndarray:
    """Draw the dSprites images for rows of latent classes.

    Parameters
    ----------
    classes : array_like of int, shape (n, 6) or (6,)
        Class indices in the order of :data:`LATENT_NAMES`.
    resolution : int, default 64
        Side of the output in pixels. Below 64 the same geometry is sampled
        at the centres of coarser pixels (e.g. 32 is four times cheaper);
        only 64 reproduces the original pixel for pixel.
    chunk : int, default 2048
        Images drawn per vectorised step (bounds the temporary memory).

    Returns
    -------
    ndarray of uint8, shape (n, resolution, resolution)
        Binary images, 1 inside the shape.
    """
    c = _as_classes(classes)
    resolution = _check_resolution(resolution)
    out = np.empty((len(c), resolution, resolution), dtype=np.uint8)
    for start in range(0, len(c), chunk):
        out[start:start + chunk] = _render_chunk(c[start:start + chunk], resolution)
    return out


def render_all(chunk_size: int = 16384, *, resolution: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The whole dataset, in flat-index order, as chunks of uint8 images.

    All 737,280 images at 64x64 take 3 GB as uint8 (12 GB as float32), so
    they come as a generator; concatenate them only if you have the memory.

    Parameters
    ----------
    chunk_size : int, default 16384
        Images per chunk.
    resolution : int, default 64

    Yields
    ------
    index : ndarray of int64, shape (m,)
        Flat indices of the chunk (consecutive).
    images : ndarray of uint8, shape (m, resolution, resolution)
    """
    resolution = _check_resolution(resolution)
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    for start in range(0, N_IMAGES, chunk_size):
        index = np.arange(start, min(start + chunk_size, N_IMAGES), dtype=np.int64)
        yield index, render(classes_of(index), resolution=resolution)


def _labelled(images_u8: np.ndarray, classes: np.ndarray, name: str) -> LabelledImages:
    """uint8 images ``(m, r, r)`` and latent classes ``(m, 6)`` as a LabelledImages (color dropped)."""
    images = torch.from_numpy(images_u8).to(torch.float32)[:, None]
    return LabelledImages(images, classes[:, 1:].astype(np.float64), FACTOR_NAMES, name)


def _check_indices(indices) -> np.ndarray:
    """``indices`` as int64 flat dSprites indices, shape ``(m,)``."""
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise invalid("indices", "a 1-d array of flat dSprites indices", f"shape {idx.shape}", shown=True)
    classes_of(idx)  # validates dtype and range
    return idx.astype(np.int64)


def _both_n_and_indices() -> ValueError:
    return invalid("indices", "None when n is given", "both n and indices",
                   "give either n (a random subset) or indices, not both", shown=True)


def make_dsprites(n: int | None = None, seed: int = 0, *, indices=None, resolution: int = 64) -> LabelledImages:
    """dSprites images with their factors, generated on demand.

    Parameters
    ----------
    n : int, optional
        Number of images drawn uniformly at random without replacement
        (reproducible through ``seed``). Give either ``n`` or ``indices``.
        The whole dataset does not fit in memory as float32 (12 GB); use
        :func:`render_all` for it.
    seed : int, default 0
    indices : array_like of int, shape (m,), optional
        Flat dSprites indices (see :func:`index_of`) to draw, in that order.
    resolution : int, default 64
        Image side; smaller is faster (see :func:`render`).

    Returns
    -------
    LabelledImages
        ``images`` float32 ``(m, 1, resolution, resolution)`` in {0, 1};
        ``factors`` float64 ``(m, 5)`` holding the *class indices* of
        ``("shape", "scale", "orientation", "posX", "posY")`` (0..2, 0..5,
        0..39, 0..31, 0..31), as the disentanglement metrics expect. The
        constant color factor is dropped. Physical values:
        ``latents_values_for(classes_of(index))``.
    """
    resolution = _check_resolution(resolution)
    if indices is not None:
        if n is not None:
            raise _both_n_and_indices()
        idx = _check_indices(indices)
    else:
        if n is None:
            raise invalid("n", "an integer (a random subset) unless indices are given", None,
                          f"all {N_IMAGES:,} images as float32 would take 12 GB, so iterate over render_all() "
                          "for the whole dataset")
        n = check_int("n", n, low=0, high=N_IMAGES)
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(N_IMAGES, size=int(n), replace=False))
    classes = classes_of(idx)
    return _labelled(render(classes, resolution=resolution), classes, "dsprites")


def load_dsprites_npz(path, n: int | None = None, seed: int = 0, *, indices=None) -> LabelledImages:
    """The original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``, as :func:`make_dsprites` returns it.

    Parameters
    ----------
    path : str or Path
        The original file (keys ``imgs`` (737280, 64, 64), ``latents_classes``
        and ``latents_values`` (737280, 6)); a smaller file with the same
        keys and column layout also works.
    n, seed, indices
        As in :func:`make_dsprites`; with neither ``n`` nor ``indices``
        every image in the file is returned (12 GB for the full original).

    Returns
    -------
    LabelledImages
        Same layout as :func:`make_dsprites`: float32 images
        ``(m, 1, 64, 64)``, factor class indices ``(m, 5)``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no dSprites file at {path}; download dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz from "
            "github.com/deepmind/dsprites-dataset, or generate the data with make_dsprites()"
        )
    with np.load(path, allow_pickle=False, encoding="latin1") as z:
        missing = [k for k in ("imgs", "latents_classes") if k not in z.files]
        if missing:
            raise invalid(str(path), "a dSprites file with keys 'imgs' and 'latents_classes'",
                          f"keys {sorted(z.files)}", f"keys {missing} missing", shown=True)
        imgs = z["imgs"]
        classes = z["latents_classes"]
    if imgs.ndim != 3 or imgs.shape[1:] != (64, 64):
        raise invalid(f"'imgs' in {path}", "of shape (n, 64, 64)", f"shape {imgs.shape}", shown=True)
    if classes.shape != (len(imgs), 6):
        raise invalid(f"'latents_classes' in {path}", f"of shape ({len(imgs)}, 6)", f"shape {classes.shape}",
                      shown=True)
    classes = _as_classes(classes)
    if indices is not None:
        if n is not None:
            raise _both_n_and_indices()
        rows = np.asarray(indices)
        if rows.ndim != 1 or (rows.size and (not np.issubdtype(rows.dtype, np.integer)
                                              or rows.min() < 0 or rows.max() >= len(imgs))):
            raise invalid("indices", f"1-d integers in 0..{len(imgs) - 1}", rows)
    elif n is not None:
        n = check_int("n", n, low=0, high=len(imgs))
        rows = np.sort(np.random.default_rng(seed).choice(len(imgs), size=int(n), replace=False))
    else:
        rows = np.arange(len(imgs))
    return _labelled(np.ascontiguousarray(imgs[rows], dtype=np.uint8), classes[rows], "dsprites")


# ---------------------------------------------------------------------------
# Sampling for disentanglement metrics
# ---------------------------------------------------------------------------


def sample_factors(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Latent classes drawn uniformly and independently per factor.

    Parameters
    ----------
    n : int
    rng : numpy Generator or int seed, optional

    Returns
    -------
    ndarray of int64, shape (n, 6)
        In the order of :data:`LATENT_NAMES` (color is always 0).
    """
    n = check_int("n", n, low=0)
    rng = np.random.default_rng(rng)
    return rng.integers(0, LATENT_SIZES, size=(n, 6)).astype(np.int64)


def fix_factor(classes, j, value=None, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A copy of ``classes`` with factor ``j`` set to one value in every row.

    Parameters
    ----------
    classes : array_like of int, shape (n, 6)
    j : int or str
        Factor, as a column of :data:`LATENT_NAMES` or its name.
    value : int, optional
        The class to fix; drawn at random (from ``rng``) when omitted.
    rng : numpy Generator or int seed, optional

    Returns
    -------
    ndarray of int64, shape (n, 6)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> batch = fix_factor(sample_factors(64, rng), "scale", rng=rng)  # one scale, rest random
    """
    c = _as_classes(classes).copy()
    if isinstance(j, str):
        if j not in LATENT_NAMES:
            raise invalid("j", f"a factor index 0..5 or one of {LATENT_NAMES}", j, "unknown factor name")
        j = LATENT_NAMES.index(j)
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= j < 6:
        raise invalid("j", f"a factor index 0..5 or one of {LATENT_NAMES}", j)
    if value is None:
        value = int(np.random.default_rng(rng).integers(LATENT_SIZES[j]))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < LATENT_SIZES[j]:
        raise invalid(f"value for {LATENT_NAMES[j]!r}", f"a class in 0..{LATENT_SIZES[j] - 1}", value)
    c[:, j] = value
    return c


class DSpritesGroundTruth:
    """dSprites as a ground-truth dataset for the chapter-05 metrics (:mod:`aecourse.measure`).

    It follows disentanglement_lib's ``GroundTruthData`` protocol with the five
    factors that vary (``shape, scale, orientation, posX, posY``; the constant
    color is dropped, as disentanglement_lib does), and renders images on
    demand, so the metrics can draw as many as they like without holding
    the 737,280-image set in memory.

    Parameters
    ----------
    resolution : int, default 64
        Image side of the observations (use the resolution the model was trained at).

    Examples
    --------
    >>> data = DSpritesGroundTruth(resolution=32)
    >>> f = data.sample_factors(4, np.random.default_rng(0))      # (4, 5) class indices
    >>> data.sample_observations_from_factors(f, None).shape
    (4, 1, 32, 32)
    """

    factor_names: tuple[str, ...] = LATENT_NAMES[1:]
    factor_sizes: tuple[int, ...] = tuple(int(s) for s in LATENT_SIZES[1:])
    num_images: int = N_IMAGES

    def __init__(self, resolution: int = 64):
        self.resolution = _check_resolution(resolution)

    def __repr__(self) -> str:
        return f"DSpritesGroundTruth(resolution={self.resolution})"

    def sample_factors(self, n: int, rng=None) -> np.ndarray:
        """``(n, 5)`` int64 class indices drawn uniformly."""
        return sample_factors(n, rng)[:, 1:]

    def sample_observations_from_factors(self, factors, rng=None) -> np.ndarray:
        """float32 images ``(n, 1, resolution, resolution)`` for ``(n, 5)`` factor classes."""
        f = np.asarray(factors)
        if f.ndim != 2 or f.shape[1] != 5:
            raise invalid("factors", f"of shape (n, 5) in the order {self.factor_names}", f"shape {f.shape}",
                          shown=True)
        classes = np.concatenate([np.zeros((len(f), 1), dtype=np.int64), f.astype(np.int64)], axis=1)
        return render(classes, resolution=self.resolution)[:, None].astype(np.float32)

    def sample(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``(factors (n, 5), images (n, 1, r, r))`` drawn uniformly at random."""
        rng = np.random.default_rng(rng)
        f = self.sample_factors(n, rng)
        return f, self.sample_observations_from_factors(f, rng)
