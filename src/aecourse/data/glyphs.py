"""Procedural glyph digits: 28x28 handwritten-style digits drawn from stroke skeletons, with known factors.

Each digit 0-9 is a *skeleton* of a few polylines; an image places it with a
stroke ``thickness``, a ``slant``, a ``scale`` and a shift, and inks every pixel
by its distance to the nearest stroke, so the factors are exact, continuous and
independent of each other. This is the course's stand-in for MNIST: every image
comes with the ground truth that disentanglement metrics need.

- :data:`GLYPH_FACTORS` -- the six factors (:class:`~aecourse.data.containers.FactorInfo`):
  name, default range, unit, meaning.
- :func:`make_glyph_digits` -- ``n`` images with sampled factors, as
  :class:`~aecourse.data.containers.LabelledImages` (``(n, 1, size, size)``, factors ``(n, 6)``).
- :func:`render_glyph` -- one image ``(1, size, size)`` for given factors (traversals, tests).

Pixel coordinates follow the image convention used throughout the course:
``x`` grows to the right (columns), ``y`` grows *downwards* (rows), and the
centre of pixel ``(row i, col j)`` sits at ``(x, y) = (j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch

from aecourse.contracts import check_int, check_number, invalid
from aecourse.data.containers import FactorInfo, LabelledImages, check_range

__all__ = ["GLYPH_FACTORS", "make_glyph_digits", "render_glyph"]


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


_SEGMENTS: dict[int, torch.Tensor] = {
    d: torch.from_numpy(_to_segments(s)).to(torch.float32) for d, s in _SKELETONS.items()
}

# Half the glyph's height in pixels at scale 1 on a 28x28 canvas: the glyph
# is 16 px tall, so the largest, thickest, most shifted default glyph still
# leaves the outermost pixels blank.
_HALF_HEIGHT_28 = 8.0

#: The factors of :func:`make_glyph_digits`, in the column order of its ``factors``.
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
    digit = _check_digit(digit)
    size = check_int("size", size, low=8)
    factors = np.array([[
        check_number("thickness", thickness, low=0, low_open=True),
        check_number("slant", slant),
        check_number("scale", scale, low=0, low_open=True),
        check_number("shift_x", shift_x),
        check_number("shift_y", shift_y),
    ]])
    return _render(digit, factors, size).contiguous()  # a copy, not a view of the padded canvas


def _check_digit(digit) -> int:
    """``digit`` as an int, checked to name one of the ten skeletons."""
    if isinstance(digit, bool) or not isinstance(digit, numbers.Integral) or not 0 <= digit <= 9:
        raise invalid("digit", "an integer from 0 to 9", digit)
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
    n = check_int("n", n, low=1)
    if seed is not None:
        seed = check_int("seed", seed, low=0)
    size = check_int("size", size, low=8)
    batch_size = check_int("batch_size", batch_size, low=1)
    try:
        digit_set = np.array(sorted({_check_digit(d) for d in digits}), dtype=np.int64)
    except TypeError:
        raise invalid("digits", "an iterable of integers 0..9", digits) from None
    if len(digit_set) == 0:
        raise invalid("digits", "a non-empty iterable of integers 0..9", "an empty one",
                      "pass at least one digit, e.g. digits=range(10)", shown=True)
    ranges = np.array([
        check_range("thickness", thickness, positive=True),
        check_range("slant", slant),
        check_range("scale", scale, positive=True),
        check_range("shift", shift),
        check_range("shift", shift),
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


