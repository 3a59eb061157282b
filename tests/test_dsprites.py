"""Procedural dSprites: index arithmetic, latents, fidelity to the original frames, API."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aecourse.data import dsprites as D
from aecourse.data import LabelledImages

_REPO = Path(__file__).resolve().parents[1]
# The reference frames live in the workspace's shared/ folder (next to the repo, or inside a checkout).
GIF_FRAMES = next(
    (p for p in (_REPO / "shared" / "data" / "dsprites_gif_frames.npz",
                 _REPO.parent / "shared" / "data" / "dsprites_gif_frames.npz") if p.is_file()),
    _REPO.parent / "shared" / "data" / "dsprites_gif_frames.npz",
)


# --- index arithmetic and latents -------------------------------------------------------------


def test_sizes_and_bases():
    assert D.LATENT_NAMES == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert D.LATENT_SIZES.tolist() == [1, 3, 6, 40, 32, 32]
    assert D.LATENT_BASES.tolist() == [737280, 245760, 40960, 1024, 32, 1]
    assert D.N_IMAGES == 737280


def test_index_matches_formula_and_round_trips():
    c = D.sample_factors(5000, 1)
    idx = D.index_of(c)
    expected = c[:, 1] * 245760 + c[:, 2] * 40960 + c[:, 3] * 1024 + c[:, 4] * 32 + c[:, 5]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(D.classes_of(idx), c)
    assert D.index_of([0, 2, 5, 39, 31, 31]).tolist() == [D.N_IMAGES - 1]


def test_all_latents_in_original_order():
    # All 737,280 rows via the arithmetic (no images): the original npz enumerates
    # the factors in C order, posY fastest.
    classes = D.classes_of(np.arange(D.N_IMAGES))
    assert classes.shape == (737280, 6)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in D.LATENT_SIZES], indexing="ij"), -1).reshape(-1, 6)
    np.testing.assert_array_equal(classes, grid)
    values = D.latents_values_for(classes)
    assert values.shape == (737280, 6)
    assert np.all(values[:, 0] == 1.0)
    assert set(np.unique(values[:, 1])) == {1.0, 2.0, 3.0}
    np.testing.assert_allclose(np.unique(values[:, 2]), np.linspace(0.5, 1, 6))
    np.testing.assert_allclose(np.unique(values[:, 3]), np.linspace(0, 2 * np.pi, 40))
    np.testing.assert_allclose(np.unique(values[:, 4]), np.linspace(0, 1, 32))
    np.testing.assert_allclose(np.unique(values[:, 5]), np.linspace(0, 1, 32))
    assert values[1, 5] == pytest.approx(1 / 31) and values[32, 4] == pytest.approx(1 / 31)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([[0, 3, 0, 0, 0, 0]], "out of range for 'shape'"),
        ([[0, 0, 0, 0, 0, -1]], "out of range for 'posY'"),
        ([[0, 0, 0]], r"shape \(n, 6\)"),
        ([[0, 0.5, 0, 0, 0, 0]], "whole numbers"),
    ],
)
def test_bad_classes(bad, match):
    with pytest.raises(ValueError, match=match):
        D.index_of(bad)


def test_bad_index():
    with pytest.raises(ValueError, match="out of range"):
        D.classes_of([D.N_IMAGES])
    with pytest.raises(ValueError, match="integers"):
        D.classes_of([1.5])


# --- fidelity against the original --------------------------------------------------------------


@pytest.mark.skipif(not GIF_FRAMES.is_file(), reason="shared/data/dsprites_gif_frames.npz not present")
def test_fidelity_to_original_frames():
    with np.load(GIF_FRAMES) as z:
        imgs, classes = z["imgs"], z["latents_classes"]
    mism = (D.render(classes) != imgs).sum(axis=(1, 2))
    per_shape = {name: mism[classes[:, 1] == s].mean() for s, name in enumerate(D.SHAPE_NAMES)}
    print("mean mismatched pixels per frame:", per_shape)  # measured: 0.13, 0.89, 5.11
    assert per_shape["square"] <= 1
    assert per_shape["ellipse"] <= 1
    assert per_shape["heart"] <= 8


def test_geometry_basics():
    # Square, scale 1, orientation 0, posX = posY = 0: half-side 9.6 around (16, 16) spans
    # [6.4, 25.6], so pixel centres 6.5 .. 25.5 are on (pixels 6..25, 20 px).
    sq = D.render([0, 0, 5, 0, 0, 0])[0]
    rows, cols = np.nonzero(sq)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (6, 25, 6, 25)
    # Ellipse is wide at orientation 0, tall at orientation 10 (pi/2 * 40/39 ~ a quarter turn).
    wide = D.render([0, 1, 5, 0, 16, 16])[0]
    tall = D.render([0, 1, 5, 10, 16, 16])[0]
    assert np.ptp(np.nonzero(wide)[1]) > np.ptp(np.nonzero(wide)[0])
    assert np.ptp(np.nonzero(tall)[0]) > np.ptp(np.nonzero(tall)[1])
    # posY is the row from the top; posX the column.
    low = D.render([0, 2, 5, 0, 0, 31])[0]
    assert np.nonzero(low)[0].mean() > 40 and np.nonzero(low)[1].mean() < 24
    # Heart: point down (the bottom row is narrower than the top rows).
    heart = D.render([0, 2, 5, 0, 16, 16])[0]
    r = np.nonzero(heart.any(1))[0]
    assert heart[r.max()].sum() < heart[r.min() + 3].sum()


def test_render_resolution():
    c = D.sample_factors(50, 3)
    full, half = D.render(c), D.render(c, resolution=32)
    assert full.dtype == np.uint8 and full.shape == (50, 64, 64) and half.shape == (50, 32, 32)
    assert set(np.unique(full)) <= {0, 1}
    # Same geometry: areas agree (4 full-resolution pixels per half-resolution pixel).
    np.testing.assert_allclose(half.sum((1, 2)) * 4, full.sum((1, 2)), rtol=0.25, atol=8)
    with pytest.raises(ValueError, match="resolution"):
        D.render(c, resolution=65)


# --- make_dsprites, render_all ---------------------------------------------------------------


def test_make_dsprites_subset_and_determinism():
    a = D.make_dsprites(200, seed=5)
    b = D.make_dsprites(200, seed=5)
    c = D.make_dsprites(200, seed=6)
    assert isinstance(a, LabelledImages)
    assert a.images.shape == (200, 1, 64, 64) and a.images.dtype == torch.float32
    assert a.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert torch.equal(a.images, b.images) and np.array_equal(a.factors, b.factors)
    assert not np.array_equal(a.factors, c.factors)
    assert set(torch.unique(a.images).tolist()) <= {0.0, 1.0}
    assert a.factors.max(0).tolist() <= [2, 5, 39, 31, 31]


def test_make_dsprites_indices_match_render():
    idx = np.array([0, 12345, 245760 * 2 + 7, D.N_IMAGES - 1])
    data = D.make_dsprites(indices=idx, resolution=32)
    classes = D.classes_of(idx)
    np.testing.assert_array_equal(data.factors, classes[:, 1:])
    np.testing.assert_array_equal(data.images[:, 0].numpy(), D.render(classes, resolution=32))


def test_make_dsprites_errors():
    with pytest.raises(ValueError, match="render_all"):
        D.make_dsprites()
    with pytest.raises(ValueError, match="not both"):
        D.make_dsprites(3, indices=[1, 2])
    with pytest.raises(ValueError, match="n must be"):
        D.make_dsprites(-1)
    with pytest.raises(ValueError, match="out of range"):
        D.make_dsprites(indices=[D.N_IMAGES])


def test_render_all_chunks():
    gen = D.render_all(chunk_size=1000, resolution=8)
    index, images = next(gen)
    np.testing.assert_array_equal(index, np.arange(1000))
    assert images.shape == (1000, 8, 8) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, D.render(D.classes_of(index), resolution=8))
    with pytest.raises(ValueError, match="chunk_size"):
        next(D.render_all(chunk_size=0))


# --- the original npz ------------------------------------------------------------------------


def _fake_npz(path, n=10, **override):
    idx = np.arange(0, n * 70001, 70001) % D.N_IMAGES
    classes = D.classes_of(idx)
    arrays = {
        "imgs": D.render(classes),
        "latents_classes": classes,
        "latents_values": D.latents_values_for(classes),
        "metadata": np.array("fake"),
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return classes


def test_load_dsprites_npz(tmp_path):
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    classes = _fake_npz(path)
    data = D.load_dsprites_npz(path)
    assert isinstance(data, LabelledImages) and data.images.shape == (10, 1, 64, 64)
    assert data.factor_names == D.make_dsprites(1).factor_names
    np.testing.assert_array_equal(data.factors, classes[:, 1:])
    gen = D.make_dsprites(indices=D.index_of(classes))
    assert torch.equal(data.images, gen.images)
    sub = D.load_dsprites_npz(path, 4, seed=1)
    assert len(sub) == 4 and torch.equal(sub.images, D.load_dsprites_npz(path, 4, seed=1).images)
    assert len(D.load_dsprites_npz(path, indices=[0, 9])) == 2


def test_load_dsprites_npz_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_dsprites"):
        D.load_dsprites_npz(tmp_path / "missing.npz")
    wrong_keys = tmp_path / "keys.npz"
    np.savez(wrong_keys, images=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="missing"):
        D.load_dsprites_npz(wrong_keys)
    wrong_shape = tmp_path / "shape.npz"
    _fake_npz(wrong_shape, imgs=np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"\(n, 64, 64\)"):
        D.load_dsprites_npz(wrong_shape)
    wrong_classes = tmp_path / "classes.npz"
    _fake_npz(wrong_classes, latents_classes=np.zeros((10, 5), np.int64))
    with pytest.raises(ValueError, match="latents_classes"):
        D.load_dsprites_npz(wrong_classes)


# --- sampling helpers ------------------------------------------------------------------------


def test_sample_and_fix_factor():
    rng = np.random.default_rng(0)
    c = D.sample_factors(1000, rng)
    assert c.shape == (1000, 6) and np.all(c[:, 0] == 0)
    assert np.all(c.max(0) == D.LATENT_SIZES - 1)  # every class reachable
    np.testing.assert_array_equal(D.sample_factors(20, 3), D.sample_factors(20, 3))
    fixed = D.fix_factor(c, "scale", rng=rng)
    assert len(np.unique(fixed[:, 2])) == 1
    np.testing.assert_array_equal(np.delete(fixed, 2, 1), np.delete(c, 2, 1))
    assert np.all(D.fix_factor(c, 1, 2)[:, 1] == 2)
    with pytest.raises(ValueError, match="must be a class in 0..2"):
        D.fix_factor(c, "shape", 3)
    with pytest.raises(ValueError, match="unknown factor"):
        D.fix_factor(c, "size")


def test_dsprites_through_the_dataset_registry():
    from aecourse.data import available_datasets, load

    assert "dsprites" in available_datasets()
    data = load("dsprites", n=5, seed=1)
    assert data.images.shape == (5, 1, 64, 64)
    assert data.factor_names == ("shape", "scale", "orientation", "posX", "posY")
