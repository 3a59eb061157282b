"""Morpho-MNIST-style morphometrics measure what shapes with known answers have."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecourse.data import make_glyph_digits, render_glyph
from aecourse.morphometry import MEASURES, area, as_image_batch, length, measure, monotonicity, slant, thickness

SIZE = 28


def bar(width: int, height: int = 20, size: int = SIZE) -> np.ndarray:
    """A vertical white bar ``width`` pixels wide and ``height`` tall, centred, on black."""
    img = np.zeros((size, size))
    top, left = (size - height) // 2, (size - width) // 2
    img[top:top + height, left:left + width] = 1.0
    return img


def sheared_bar(shear: float, half_width: float = 1.5, half_height: float = 9.0, size: int = SIZE) -> np.ndarray:
    """A bar sheared like the glyphs: ``x += shear * (centre_y - y)`` (positive leans right).

    Anti-aliased: each pixel's grey level is the fraction of its 8 x 8
    sub-pixel centres inside the parallelogram.
    """
    k = 8
    y, x = (np.mgrid[0:size * k, 0:size * k] + 0.5) / k  # sub-pixel centres; y points down
    c = size / 2
    inside = (np.abs(x - c - shear * (c - y)) <= half_width) & (np.abs(y - c) <= half_height)
    return inside.reshape(size, k, size, k).mean(axis=(1, 3))


def glyphs(digit: int, thickness_values=None, slant_values=None) -> np.ndarray:
    """One digit drawn with each thickness (slant 0.1) or each slant (thickness 2)."""
    if thickness_values is not None:
        return np.stack([render_glyph(digit, thickness=t, slant=0.1)[0].numpy() for t in thickness_values])
    return np.stack([render_glyph(digit, thickness=2.0, slant=s)[0].numpy() for s in slant_values])


# --------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("width", [2, 3, 4, 5, 6])
def test_bar_thickness_is_its_width(width):
    m = measure(bar(width)[None])
    assert m["thickness"][0] == pytest.approx(width, abs=0.25)
    assert m["area"][0] == pytest.approx(20 * width, rel=0.05)
    assert m["slant"][0] == pytest.approx(0.0, abs=1e-9)
    # the skeleton runs along the bar, shortened by about half a width at each end
    assert 20 - width - 1.5 <= m["length"][0] <= 20


def test_thickness_increases_with_bar_width_even_without_upscaling():
    widths = [2, 3, 4, 5, 6, 7]
    measured = thickness(np.stack([bar(w) for w in widths]), scale=1)
    assert np.all(np.diff(measured) > 0)
    assert measured == pytest.approx(widths, abs=1.0)


@pytest.mark.parametrize("shear", [-0.4, -0.2, -0.05, 0.0, 0.1, 0.3, 0.45])
def test_sheared_bar_measures_its_shear_angle(shear):
    assert slant(sheared_bar(shear)[None])[0] == pytest.approx(np.arctan(shear), abs=0.01)


def test_slant_sign_positive_leans_right():
    right = sheared_bar(0.3)
    rows = np.nonzero(right.any(axis=1))[0]
    top_cols = np.nonzero(right[rows[0]])[0].mean()
    bottom_cols = np.nonzero(right[rows[-1]])[0].mean()
    assert top_cols > bottom_cols  # the fixture really leans right
    assert slant(right[None])[0] > 0.25
    assert slant(right[None, :, ::-1])[0] == pytest.approx(-slant(right[None])[0])  # mirrored: leans left


def test_a_uniform_background_does_not_change_slant():
    img = sheared_bar(0.3)
    assert slant((0.1 + 0.8 * img)[None])[0] == pytest.approx(slant(img[None])[0])


def test_blank_images_have_no_thickness_or_slant():
    m = measure(np.stack([np.zeros((SIZE, SIZE)), np.full((SIZE, SIZE), 0.3), bar(3)]))
    assert np.isnan(m["thickness"][:2]).all() and np.isnan(m["slant"][:2]).all()
    assert m["area"][:2].tolist() == [0.0, 0.0] and m["length"][:2].tolist() == [0.0, 0.0]
    assert np.isfinite(m["thickness"][2])  # one blank image does not spoil the others


def test_single_functions_agree_with_measure():
    images = np.stack([bar(3), sheared_bar(0.2), glyphs(5, slant_values=[0.3])[0]])
    m = measure(images)
    assert list(m) == list(MEASURES)
    assert all(v.shape == (3,) for v in m.values())
    np.testing.assert_allclose(thickness(images), m["thickness"])
    np.testing.assert_allclose(length(images), m["length"])
    np.testing.assert_allclose(area(images), m["area"])
    np.testing.assert_allclose(slant(images), m["slant"])


def test_input_layouts_give_the_same_answer():
    images = np.stack([bar(4), sheared_bar(-0.25)])
    expected = measure(images)
    for layout in (images[:, None], torch.from_numpy(images).float(), torch.from_numpy(images[:, None]).float()):
        got = measure(layout)
        for key in MEASURES:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)
    flat = measure(images.reshape(2, -1), image_shape=(SIZE, SIZE))
    np.testing.assert_allclose(flat["thickness"], expected["thickness"])
    # a non-square image: a 3-wide bar in a 20 x 12 image, flat
    tall = np.zeros((20, 12))
    tall[3:17, 5:8] = 1
    assert thickness(tall.reshape(1, -1), image_shape=(20, 12))[0] == pytest.approx(3, abs=0.25)


# --------------------------------------------------------------------------- glyph digits
@pytest.mark.parametrize("digit", range(10))
def test_glyph_thickness_factor_is_measured(digit):
    values = np.linspace(1.0, 3.5, 11)
    m = measure(glyphs(digit, thickness_values=values))
    assert monotonicity(values, m["thickness"]) > 0.95
    assert np.abs(m["thickness"] - values).mean() < 0.3  # in pixels, as the factor is
    assert np.ptp(m["slant"]) < 0.06  # while the slant barely moves (radians; 0.042 at most today)


@pytest.mark.parametrize("digit", range(10))
def test_glyph_slant_factor_is_measured(digit):
    values = np.linspace(-0.35, 0.35, 11)
    m = measure(glyphs(digit, slant_values=values))
    assert monotonicity(values, m["slant"]) > 0.95
    # each step of the factor adds about its angle (a round pen dilutes it a little)
    change = m["slant"][-1] - m["slant"][0]
    assert 0.8 * (np.arctan(0.35) - np.arctan(-0.35)) < change < 1.1 * (np.arctan(0.35) - np.arctan(-0.35))
    assert np.ptp(m["thickness"]) < 0.3  # while the thickness barely moves (pixels)


def test_symmetric_upright_glyph_has_no_slant():
    assert abs(slant(glyphs(8, slant_values=[0.0]))[0]) < 0.01
    assert abs(slant(glyphs(0, slant_values=[0.0]))[0]) < 0.01


def test_random_glyph_dataset_factors_are_recovered():
    data = make_glyph_digits(300, seed=1)
    m = measure(data.images)
    assert monotonicity(data.factor("thickness"), m["thickness"]) > 0.9
    assert monotonicity(data.factor("slant"), m["slant"]) > 0.85  # each digit's own lean adds scatter
    assert abs(monotonicity(data.factor("thickness"), m["slant"])) < 0.2
    assert abs(monotonicity(data.factor("slant"), m["thickness"])) < 0.2


# --------------------------------------------------------------------------- monotonicity
def test_monotonicity_is_spearman_rho():
    x = np.arange(8.0)
    assert monotonicity(x, x**3) == pytest.approx(1.0)
    assert monotonicity(x, -np.exp(x)) == pytest.approx(-1.0)
    assert monotonicity(x, [0, 1, 0, 1, 0, 1, 0, 1]) < 0.5
    assert monotonicity(x, [0, 1, 2, np.nan, 4, 5, 6, 7]) == pytest.approx(1.0)  # NaN pairs left out
    assert np.isnan(monotonicity(x, np.ones(8)))  # constant: undefined
    assert np.isnan(monotonicity([1, 2], [1, 2]))
    with pytest.raises(ValueError, match="same length"):
        monotonicity(x, x[:-1])


# --------------------------------------------------------------------------- errors
def test_flat_input_needs_image_shape():
    with pytest.raises(ValueError, match=r"image_shape=\(H, W\).*image\[None\]"):
        measure(np.zeros((SIZE, SIZE)))
    with pytest.raises(ValueError, match="not image_shape"):
        measure(np.zeros((2, 784)), image_shape=(27, 27))
    with pytest.raises(ValueError, match="image_shape"):
        thickness(np.zeros((2, SIZE, SIZE)), image_shape=(SIZE, 27))
    with pytest.raises(ValueError, match="pair of positive integers"):
        slant(np.zeros((2, 784)), image_shape=(784,))


@pytest.mark.parametrize("shape", [(SIZE,), (2, 3, SIZE, SIZE), (1, 1, 1, SIZE, SIZE), (0, SIZE, SIZE)])
def test_bad_shapes_are_rejected(shape):
    with pytest.raises(ValueError, match=r"\(n, H, W\)|empty"):
        measure(np.zeros(shape))


def test_bad_values_and_types_are_rejected():
    bad = bar(3)[None].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        slant(bad)
    with pytest.raises(TypeError, match="tensor or an array of numbers"):
        measure([["a", "b"]])
    with pytest.raises(TypeError, match="tensor or an array of numbers"):
        thickness(object())


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.0}, {"threshold": "half"},
                                    {"scale": 0}, {"scale": 2.5}, {"scale": True}])
def test_bad_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError, match="threshold|scale"):
        measure(bar(3)[None], **kwargs)


def test_as_image_batch_returns_float_batches():
    out = as_image_batch(torch.ones(2, 1, 5, 4))
    assert out.shape == (2, 5, 4) and out.dtype == np.float64
