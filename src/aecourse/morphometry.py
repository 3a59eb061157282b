"""Morphometrics of digit images: stroke thickness, slant, area and length.

Measuring a decoded image, rather than looking at it, is how chapter 04
proves that one latent controls stroke thickness and another the slant. The
measures follow Morpho-MNIST:

    D. C. Castro, J. Tan, B. Kainz, E. Konukoglu and B. Glocker (2019).
    "Morpho-MNIST: Quantitative Assessment and Diagnostics for Representation
    Learning". Journal of Machine Learning Research 20(178): 1-29.
    Reference implementation: github.com/dccastro/Morpho-MNIST
    (``morphomnist/measure.py`` and ``morphomnist/morpho.py``).

The pipeline for one image (``H x W``, ink bright on a dark background):

1. **upscale** ``scale`` times (default 4) with a bicubic (order 3) pyramid
   expansion, which also smooths a little, for sub-pixel accuracy;
2. **binarise** at a *relative* threshold: a pixel is ink when it is at
   least ``min + threshold * (max - min)`` of that image (default halfway),
   so faint, blurry decoder outputs are measured like crisp ones;
3. **skeletonise** the ink (the one-pixel-wide centre line of the strokes)
   and take the Euclidean **distance transform** of the ink (distance of
   each ink pixel to the nearest background pixel);
4. **thickness** = 2 x the mean distance on the skeleton, **length** = the
   length of the skeleton, **area** = the number of ink pixels, all
   converted back to pixels of the original image;
5. **slant** from the second-order central moments of the grey image:
   ``slant = arctan(-mu11 / mu02)`` with ``x`` to the right and ``y`` down.

Units: thickness and length in pixels, area in square pixels, slant in
radians. Sign convention: **positive slant leans right** (the top of the
digit is to the right of its bottom, like italics). This matches the glyph
digits of :func:`aecourse.data.make_glyph_digits`: a glyph drawn with shear
factor ``s`` has slant ``arctan(s)`` plus its skeleton's own lean, so the
measure increases with the factor.

Main functions: :func:`measure` (all four at once, sharing the expensive
steps), :func:`thickness`, :func:`slant`, :func:`area`, :func:`length`, and
:func:`monotonicity` (Spearman's rho of a measure along a traversal).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage, stats

from .contracts import as_array, check_choice, check_int, check_number, invalid
from .viz import traversal_images

__all__ = ["MEASURES", "measure", "thickness", "slant", "area", "length", "monotonicity", "as_image_batch",
           "traversal_measures"]

#: The names of the measures :func:`measure` returns, in order.
MEASURES: tuple[str, ...] = ("area", "length", "thickness", "slant")


# --------------------------------------------------------------------------- input handling
def as_image_batch(images, image_shape: tuple[int, int] | None = None, *, name: str = "images") -> np.ndarray:
    """A batch of grey images as a float64 array ``(n, H, W)``.

    Parameters
    ----------
    images : ndarray or Tensor
        Shape ``(n, H, W)``, ``(n, 1, H, W)`` or flat ``(n, H * W)`` (then
        ``image_shape`` is required). Finite values; ink is bright.
    image_shape : (int, int), optional
        ``(H, W)`` of one image, to unflatten ``(n, H * W)`` input. For other
        shapes it is checked against the images when given.
    name : str
        What to call the argument in error messages.

    Returns
    -------
    ndarray, shape (n, H, W), float64

    Raises
    ------
    TypeError
        If ``images`` is not numeric array-like.
    ValueError
        On an empty batch, a shape that is not one of the above, a mismatched
        ``image_shape``, or NaN / infinite values.
    """
    array = as_array(images, name, finite=False)
    if image_shape is not None:
        try:
            image_shape = tuple(int(s) for s in image_shape)
        except TypeError:
            raise invalid("image_shape", "a pair (H, W)", image_shape, error=TypeError) from None
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise invalid("image_shape", "a pair of positive integers (H, W)", image_shape)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2:
        if image_shape is None:
            raise invalid(name, "(n, H, W), (n, 1, H, W), or flat (n, H*W) with image_shape",
                          f"shape {array.shape} without image_shape",
                          "pass image_shape=(H, W) to unflatten flat images. For a single (H, W) image add a batch "
                          "axis: image[None]", shown=True)
        if array.shape[1] != image_shape[0] * image_shape[1]:
            raise invalid(name, f"flat images of {image_shape[0] * image_shape[1]} values",
                          f"{array.shape[1]} values per image, which is not image_shape={image_shape}", shown=True)
        array = array.reshape(len(array), *image_shape)
    if array.ndim != 3:
        raise invalid(name, "of shape (n, H, W), (n, 1, H, W) or (n, H*W) with image_shape", f"shape {array.shape}",
                      shown=True)
    if image_shape is not None and array.shape[1:] != image_shape:
        raise invalid(name, f"images of image_shape={image_shape}", f"{array.shape[1]}x{array.shape[2]} images",
                      shown=True)
    if len(array) == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise invalid(name, "a non-empty batch", f"shape {array.shape}", "pass at least one image", shown=True)
    if not np.isfinite(array).all():
        raise invalid(name, "finite (no NaN or inf)", "non-finite values", shown=True)
    return array


def _check_params(threshold: float, scale: int) -> tuple[float, int]:
    """``threshold`` as a float strictly in (0, 1) and ``scale`` as an int >= 1."""
    threshold = check_number("threshold", threshold, low=0, high=1, low_open=True, high_open=True,
                             fix="threshold is relative to each image's intensity range")
    return threshold, check_int("scale", scale, low=1, fix="scale is the upscaling factor")


# --------------------------------------------------------------------------- the pipeline
def _upscale(images: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic pyramid expansion of every image, ``(n, H, W)`` to ``(n, scale*H, scale*W)``.

    As in Morpho-MNIST: scikit-image's ``pyramid_expand`` with ``order=3``
    (resize, then a Gaussian of sigma ``2 * scale / 6``). All images go
    through in one call, as channels.
    """
    if scale == 1:
        return images
    from skimage.transform import pyramid_expand

    stacked = np.moveaxis(images, 0, -1)  # (H, W, n): each image a channel
    big = pyramid_expand(stacked, upscale=scale, order=3, preserve_range=True, channel_axis=-1)
    return np.ascontiguousarray(np.moveaxis(big, -1, 0))


def _binarise(images: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Ink masks at ``min + threshold * (max - min)`` per image, and which images are blank (max == min)."""
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    spread = high - low
    blank = (spread <= 1e-12 * np.maximum(1.0, np.abs(high))).reshape(-1)
    ink = images >= low + threshold * spread
    ink[blank] = False
    return ink, blank


def _skeleton_length(skeleton: np.ndarray) -> float:
    """Length of a one-pixel-wide skeleton, in its own pixels.

    Each pair of 8-connected skeleton pixels is one link, counted once: 1 for
    horizontal and vertical neighbours, sqrt(2) for diagonal ones.
    """
    s = skeleton
    straight = np.count_nonzero(s[:, :-1] & s[:, 1:]) + np.count_nonzero(s[:-1, :] & s[1:, :])
    diagonal = np.count_nonzero(s[:-1, :-1] & s[1:, 1:]) + np.count_nonzero(s[:-1, 1:] & s[1:, :-1])
    return straight + math.sqrt(2.0) * diagonal


def _shape_measures(images: np.ndarray, threshold: float, scale: int) -> dict[str, np.ndarray]:
    """Area, length and thickness of every image (steps 1-4 of the module docstring)."""
    from skimage.morphology import skeletonize

    ink, blank = _binarise(_upscale(images, scale), threshold)
    n = len(images)
    out = {"area": ink.sum(axis=(1, 2)) / scale**2, "length": np.zeros(n), "thickness": np.full(n, np.nan)}
    for i in np.flatnonzero(~blank):
        skeleton = skeletonize(ink[i])
        if not skeleton.any():  # cannot happen for non-empty ink, but never divide by zero
            continue
        distance = ndimage.distance_transform_edt(ink[i])
        out["thickness"][i] = 2.0 * distance[skeleton].mean() / scale
        out["length"][i] = _skeleton_length(skeleton) / scale
    return out


def _slant(images: np.ndarray) -> np.ndarray:
    """``arctan(-mu11 / mu02)`` of each grey image after subtracting its minimum."""
    mass = images - images.min(axis=(1, 2), keepdims=True)
    total = mass.sum(axis=(1, 2))
    h, w = images.shape[1:]
    y = np.arange(h, dtype=np.float64)[None, :, None]
    x = np.arange(w, dtype=np.float64)[None, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (mass * x).sum(axis=(1, 2)) / total
        my = (mass * y).sum(axis=(1, 2)) / total
        mu11 = (mass * (x - mx[:, None, None]) * (y - my[:, None, None])).sum(axis=(1, 2)) / total
        mu02 = (mass * (y - my[:, None, None]) ** 2).sum(axis=(1, 2)) / total
        angle = np.arctan(-mu11 / mu02)
    angle[(total <= 0) | ~(mu02 > 0)] = np.nan  # blank image, or ink in a single row: no slant
    return angle


# --------------------------------------------------------------------------- public measures
def measure(images, *, image_shape: tuple[int, int] | None = None, threshold: float = 0.5,
            scale: int = 4) -> dict[str, np.ndarray]:
    """Area, length, thickness and slant of every image, Morpho-MNIST style.

    Castro et al. (2019), "Morpho-MNIST: Quantitative Assessment and
    Diagnostics for Representation Learning", JMLR 20(178). The steps are in
    the module docstring; the expensive ones (upscaling, skeleton, distance
    transform) are shared by all measures.

    Parameters
    ----------
    images : ndarray or Tensor, shape (n, H, W), (n, 1, H, W) or (n, H*W)
        Grey images, ink bright on a dark background (e.g. decoder outputs in
        [0, 1]). Flat input needs ``image_shape``.
    image_shape : (int, int), optional
        ``(H, W)`` of one image, for flat input.
    threshold : float in (0, 1)
        Relative binarisation threshold: ink is ``>= min + threshold * (max - min)``
        of each upscaled image. Morpho-MNIST's default, 0.5.
    scale : int >= 1
        Upscaling factor for sub-pixel accuracy. Morpho-MNIST's default, 4.

    Returns
    -------
    dict of str to ndarray of shape (n,)
        ``"area"`` (square pixels), ``"length"`` (pixels), ``"thickness"``
        (pixels) and ``"slant"`` (radians, positive leans right), all in
        units of the *original* image. ``pandas.DataFrame(measure(x))`` gives
        a table. A blank image (constant intensity) has area 0, length 0 and
        NaN thickness and slant.

    Notes
    -----
    Differences from the reference implementation:

    * the skeleton is scikit-image's ``skeletonize`` (thinning) with a
      separate ``scipy.ndimage.distance_transform_edt``, where the reference
      uses ``medial_axis``; both centre lines lie on the ridge of the
      distance map for strokes, and thickness differs by a fraction of a pixel;
    * slant is computed from the grey image at its original resolution after
      subtracting the image's minimum (so a uniform haze, common in blurry
      decoder outputs, does not pull the slant towards 0); the reference uses
      the upscaled image as it is. On clean images the two agree closely;
    * the bounding-parallelogram width and height are not computed.

    Thickness carries a small upward bias of at most ``1 / scale`` pixel (the
    distance transform measures to the centre of the first background pixel),
    as in the reference.

    Examples
    --------
    >>> from aecourse.data import render_glyph
    >>> m = measure(render_glyph(3, thickness=2.5, slant=0.2)[None])
    >>> sorted(m)
    ['area', 'length', 'slant', 'thickness']
    """
    threshold, scale = _check_params(threshold, scale)
    array = as_image_batch(images, image_shape)
    out = _shape_measures(array, threshold, scale)
    out["slant"] = _slant(array)
    return {key: out[key] for key in MEASURES}


def thickness(images, *, image_shape: tuple[int, int] | None = None, threshold: float = 0.5,
              scale: int = 4) -> np.ndarray:
    """Mean stroke thickness of every image, in pixels (Morpho-MNIST).

    Upscale ``scale`` times, binarise at the relative ``threshold``,
    skeletonise; thickness is twice the mean distance-transform value on the
    skeleton, divided by ``scale``. See :func:`measure` for the parameters,
    the reference (Castro et al. 2019) and what differs from it.

    Returns
    -------
    ndarray, shape (n,)
        Thickness in pixels of the original image; NaN for a blank image.
    """
    threshold, scale = _check_params(threshold, scale)
    return _shape_measures(as_image_batch(images, image_shape), threshold, scale)["thickness"]


def length(images, *, image_shape: tuple[int, int] | None = None, threshold: float = 0.5,
           scale: int = 4) -> np.ndarray:
    """Length of every image's skeleton, in pixels (Morpho-MNIST).

    Neighbouring skeleton pixels add 1 (side by side) or sqrt(2) (diagonal);
    the total is divided by ``scale``. See :func:`measure`.

    Returns
    -------
    ndarray, shape (n,)
        Stroke length in pixels of the original image; 0 for a blank image.
    """
    threshold, scale = _check_params(threshold, scale)
    return _shape_measures(as_image_batch(images, image_shape), threshold, scale)["length"]


def area(images, *, image_shape: tuple[int, int] | None = None, threshold: float = 0.5,
         scale: int = 4) -> np.ndarray:
    """Ink area of every image, in square pixels (Morpho-MNIST).

    The number of ink pixels of the upscaled, binarised image divided by
    ``scale ** 2``. See :func:`measure`.

    Returns
    -------
    ndarray, shape (n,)
        Area in square pixels of the original image; 0 for a blank image.
    """
    threshold, scale = _check_params(threshold, scale)
    array = as_image_batch(images, image_shape)
    ink, _ = _binarise(_upscale(array, scale), threshold)
    return ink.sum(axis=(1, 2)) / scale**2


def slant(images, *, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Slant of every image from its second-order moments, in radians (Morpho-MNIST).

    With ``x`` the column (to the right), ``y`` the row (downwards) and
    ``mu11``, ``mu02`` the central moments of the intensity,
    ``slant = arctan(-mu11 / mu02)``: the angle from the vertical of the line
    the ink's rows drift along, as in Castro et al. (2019). ``-mu11 / mu02``
    is the horizontal shear that best explains the ink, so a bar sheared by
    ``x -> x + s * (centre_y - y)`` measures ``arctan(s)``.

    Sign convention: **positive leans right** (top to the right of the
    bottom, like italics), the same as the ``slant`` factor of
    :func:`aecourse.data.make_glyph_digits`.

    Parameters
    ----------
    images : ndarray or Tensor, shape (n, H, W), (n, 1, H, W) or (n, H*W)
        Grey images, ink bright. Each image's minimum is subtracted first (a
        uniform background adds nothing); the reference uses the upscaled
        image without this step.
    image_shape : (int, int), optional
        ``(H, W)`` of one image, for flat input.

    Returns
    -------
    ndarray, shape (n,)
        Slant in radians in (-pi/2, pi/2); NaN for a blank image or ink in a
        single row.
    """
    return _slant(as_image_batch(images, image_shape))


def monotonicity(values, measured) -> float:
    """Spearman's rank correlation between the values set and a measure of the result.

    Use it along a latent traversal: ``values`` are the latent's values,
    ``measured`` a morphometric of the decoded images. ``+1`` means the
    measure increases with every step, ``-1`` that it decreases with every
    step, ``0`` no monotone relation.

    Parameters
    ----------
    values : array-like, shape (n,)
    measured : array-like, shape (n,)
        Pairs with a NaN in either are left out (e.g. a blank decoded image).

    Returns
    -------
    float
        Spearman's rho (``scipy.stats.spearmanr``); NaN when fewer than 3
        finite pairs remain or one side is constant.
    """
    a = as_array(values, "values", finite=False)
    b = as_array(measured, "measured", finite=False)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise invalid("values and measured", "1-D of the same length", f"shapes {a.shape} and {b.shape}", shown=True)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(a, b).statistic)



# --------------------------------------------------------------------------- measuring latent traversals
def traversal_measures(model, bases, dim: int, values, *, names=("thickness", "slant")) -> dict[str, np.ndarray]:
    """Morphometrics along one latent's traversal, averaged over several starting codes.

    For each base code, latent ``dim`` is set to each of ``values`` (the other
    latents stay), the codes are decoded and measured; the curves are then
    averaged over the bases (NaNs from blank images are skipped).

    Parameters
    ----------
    model : autoencoder with ``decode``, or a callable ``decode(z) -> images``
    bases : array or Tensor, shape (b, latent_dim)
        Starting codes, e.g. the posterior means of ``b`` test images.
    dim : int
        The latent to sweep.
    values : array-like, shape (k,)
        Absolute values of the swept latent.
    names : sequence of str
        Which of :data:`MEASURES` to return.

    Returns
    -------
    dict of str to ndarray of shape (k,)
        The mean measure at each value.
    """
    for i, n in enumerate(names):
        check_choice(f"names[{i}]", n, MEASURES)
    values = as_array(values, "values")
    bases = as_array(bases, "bases")
    if bases.ndim != 2:
        raise invalid("bases", "codes of shape (b, latent_dim)", f"shape {bases.shape}", shown=True)
    images = np.concatenate([traversal_images(model, z, dim, values) for z in bases])
    m = measure(images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return {n: np.nanmean(m[n].reshape(len(bases), len(values)), axis=0) for n in names}
