"""Tests for aecourse.data: containers, glyph digits, sklearn digits, MNIST IDX files.

No test touches the network: an autouse fixture makes any urlopen fail.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import io
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from aecourse.data import digits as digit_files
from aecourse.data import glyphs as glyph_renderer
from aecourse.data import (
    GLYPH_FACTORS,
    LabelledImages,
    available_datasets,
    load,
    load_mnist,
    load_sklearn_digits,
    make_glyph_digits,
    read_idx,
    render_glyph,
)

DEFAULTS = {p.name: p.default for p in inspect.signature(make_glyph_digits).parameters.values()}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def glyphs():
    return make_glyph_digits(3000, seed=0)


# -- measurement helpers -------------------------------------------------------


def centroid(image: torch.Tensor) -> tuple[float, float]:
    """Ink-weighted (x, y) in pixel coordinates: x = column + 0.5, y = row + 0.5."""
    img = image.reshape(image.shape[-2:]).double()
    rows, cols = torch.meshgrid(torch.arange(img.shape[0]), torch.arange(img.shape[1]), indexing="ij")
    mass = img.sum()
    return float((img * (cols + 0.5)).sum() / mass), float((img * (rows + 0.5)).sum() / mass)


def half_centroids_x(image: torch.Tensor) -> tuple[float, float]:
    """Ink centroid x of the upper and lower half of the ink (split at its centroid row)."""
    img = image.reshape(image.shape[-2:]).double()
    _, cy = centroid(img)
    rows = torch.arange(img.shape[0]).double()[:, None] + 0.5
    cols = torch.arange(img.shape[1]).double()[None, :] + 0.5
    top, bottom = img * (rows < cy), img * (rows >= cy)
    return float((top * cols).sum() / top.sum()), float((bottom * cols).sum() / bottom.sum())


def bbox(image: torch.Tensor, level: float = 0.5) -> tuple[int, int]:
    """(height, width) of the box holding pixels with ink above ``level``."""
    rows, cols = np.nonzero(image.reshape(image.shape[-2:]).numpy() > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def dense_reference(digit, thickness, slant, scale, shift_x, shift_y, size=28):
    """The renderer written the slow, obvious way: every pixel against every segment."""
    seg = glyph_renderer._place(
        glyph_renderer._SEGMENTS[digit],
        *(torch.tensor([v], dtype=torch.float32) for v in (slant, scale, shift_x, shift_y)),
        size,
    )[0].double()  # (s, 2, 2)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    p = torch.stack([xs, ys], -1).reshape(-1, 1, 2).double()  # (P, 1, 2)
    a, d = seg[None, :, 0], seg[None, :, 1] - seg[None, :, 0]
    t = (((p - a) * d).sum(-1) / (d * d).sum(-1)).clamp(0, 1)
    dist = (p - a - t[..., None] * d).norm(dim=-1).min(dim=1).values
    return (thickness / 2 + 0.5 - dist).clamp(0, 1).reshape(1, size, size)


# -- LabelledImages ---------------------------------------------------------------


def small_set(n=10):
    images = torch.rand(n, 1, 4, 4)
    factors = np.column_stack([np.arange(n), np.arange(n) * 10.0])
    return LabelledImages(images, factors, ("a", "b"), name="toy")


def test_labelled_images_basics():
    s = small_set()
    assert len(s) == 10
    assert s.factors.dtype == np.float64 and s.images.dtype == torch.float32
    np.testing.assert_array_equal(s.factor("b"), np.arange(10) * 10.0)
    assert "toy" in repr(s) and "n=10" in repr(s)


@pytest.mark.parametrize(
    "idx, expected",
    [
        (3, [3]),
        (-1, [9]),
        (slice(2, 5), [2, 3, 4]),
        (np.array([7, 1]), [7, 1]),
        ([0, 0, 2], [0, 0, 2]),
        (torch.tensor([4, 5]), [4, 5]),
        (np.arange(10) % 3 == 0, [0, 3, 6, 9]),
        ([], []),
    ],
)
def test_labelled_images_indexing(idx, expected):
    s = small_set()
    sub = s[idx]
    assert isinstance(sub, LabelledImages)
    assert sub.factor_names == s.factor_names and sub.name == s.name
    np.testing.assert_array_equal(sub.factor("a"), expected)
    assert torch.equal(sub.images, s.images[expected])


def test_labelled_images_index_errors():
    s = small_set()
    with pytest.raises(IndexError, match="out of range"):
        s[10]
    with pytest.raises(IndexError, match="integers or booleans"):
        s[np.array([0.5])]


def test_labelled_images_validation():
    good = torch.rand(5, 1, 3, 3)
    with pytest.raises(ValueError, match=r"\(n, 1, H, W\)"):
        LabelledImages(torch.rand(5, 3, 3), np.zeros((5, 1)), ("a",))
    with pytest.raises(ValueError, match="shape \\(n, k\\) = \\(5, 2\\)"):
        LabelledImages(good, np.zeros((4, 2)), ("a", "b"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LabelledImages(good * 2 + 0.1, np.zeros((5, 1)), ("a",))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LabelledImages(torch.full((5, 1, 3, 3), float("nan")), np.zeros((5, 1)), ("a",))
    with pytest.raises(ValueError, match="floating point"):
        LabelledImages(torch.zeros(5, 1, 3, 3, dtype=torch.uint8), np.zeros((5, 1)), ("a",))
    with pytest.raises(ValueError, match="unique"):
        LabelledImages(good, np.zeros((5, 2)), ("a", "a"))
    # A vector is accepted for a single factor, numpy images are converted.
    one = LabelledImages(good.numpy(), np.arange(5), ("a",))
    assert one.factors.shape == (5, 1) and isinstance(one.images, torch.Tensor)


def test_factor_unknown_name_lists_valid_ones(glyphs):
    with pytest.raises(KeyError, match="thickness"):
        glyphs.factor("thicknes")


def test_split_is_a_deterministic_partition():
    s = small_set(100)
    train, test = s.split(0.8, seed=1)
    assert (len(train), len(test)) == (80, 20)
    ids = np.concatenate([train.factor("a"), test.factor("a")])
    np.testing.assert_array_equal(np.sort(ids), np.arange(100))
    again, _ = s.split(0.8, seed=1)
    other, _ = s.split(0.8, seed=2)
    np.testing.assert_array_equal(train.factor("a"), again.factor("a"))
    assert not np.array_equal(train.factor("a"), other.factor("a"))
    for bad in (0, 1, 1.5, -0.1, "half"):
        with pytest.raises(ValueError, match="fraction"):
            s.split(bad)
    with pytest.raises(ValueError, match="empty"):
        small_set(2).split(0.1)


def test_loader_batches_and_determinism():
    s = small_set(50)
    batches = list(s.loader(batch_size=16, seed=3))
    assert [b.shape for b in batches] == [(16, 1, 4, 4)] * 3 + [(2, 1, 4, 4)]
    assert len(s.loader(batch_size=16)) == 4
    # every image exactly once per epoch
    seen = torch.cat(batches)
    assert sorted(seen.sum(dim=(1, 2, 3)).tolist()) == sorted(s.images.sum(dim=(1, 2, 3)).tolist())
    same = list(s.loader(batch_size=16, seed=3))
    other = list(s.loader(batch_size=16, seed=4))
    assert all(torch.equal(a, b) for a, b in zip(batches, same))
    assert not torch.equal(torch.cat(batches), torch.cat(other))
    ordered = torch.cat(list(s.loader(batch_size=16, shuffle=False)))
    assert torch.equal(ordered, s.images)
    with pytest.raises(ValueError, match="batch_size"):
        s.loader(batch_size=0)


# -- glyph digits: shapes, determinism, validation ---------------------------------


def test_glyphs_shapes_dtypes_ranges(glyphs):
    assert glyphs.images.shape == (3000, 1, 28, 28) and glyphs.images.dtype == torch.float32
    assert glyphs.factors.shape == (3000, 6) and glyphs.factors.dtype == np.float64
    assert glyphs.factor_names == ("digit", "thickness", "slant", "scale", "shift_x", "shift_y")
    assert glyphs.factor_names == tuple(f.name for f in GLYPH_FACTORS)
    assert 0 <= glyphs.images.min() and glyphs.images.max() == 1
    digits = glyphs.factor("digit")
    assert set(digits) == set(range(10)) and np.all(digits == np.round(digits))
    assert np.bincount(digits.astype(int)).min() > 200  # roughly uniform
    for info in GLYPH_FACTORS[1:]:
        values = glyphs.factor(info.name)
        assert info.low <= values.min() < info.low + 0.05 * (info.high - info.low)
        assert info.high - 0.05 * (info.high - info.low) < values.max() <= info.high


def test_glyph_factor_table_matches_defaults():
    info = {f.name: (f.low, f.high) for f in GLYPH_FACTORS}
    for name in ("thickness", "slant", "scale"):
        assert info[name] == DEFAULTS[name]
    assert info["shift_x"] == info["shift_y"] == DEFAULTS["shift"]
    assert all(f.unit and f.meaning for f in GLYPH_FACTORS)


def test_glyphs_determinism(glyphs):
    same = make_glyph_digits(3000, seed=0, batch_size=97)  # different batching, same bytes
    assert torch.equal(same.images, glyphs.images)
    np.testing.assert_array_equal(same.factors, glyphs.factors)
    other = make_glyph_digits(3000, seed=1)
    assert not torch.equal(other.images, glyphs.images)
    prefix = make_glyph_digits(100, seed=0)  # a prefix of the longer stream
    assert torch.equal(prefix.images, glyphs.images[:100])


def test_torch_thread_setting_is_restored():
    before = torch.get_num_threads()
    make_glyph_digits(50)
    assert torch.get_num_threads() == before


def test_fixing_a_factor_keeps_the_others():
    free = make_glyph_digits(200, seed=5)
    fixed = make_glyph_digits(200, seed=5, thickness=2.0)
    assert np.all(fixed.factor("thickness") == 2.0)
    for name in ("digit", "slant", "scale", "shift_x", "shift_y"):
        np.testing.assert_array_equal(fixed.factor(name), free.factor(name))


def test_glyph_options():
    some = make_glyph_digits(300, seed=0, digits=[3, 8], slant=0.0, scale=(1.0, 1.0))
    assert set(some.factor("digit")) == {3, 8}
    assert np.all(some.factor("slant") == 0) and np.all(some.factor("scale") == 1)
    big = make_glyph_digits(20, seed=0, size=64)
    assert big.images.shape == (20, 1, 64, 64)
    one = make_glyph_digits(1, seed=0)  # most digits absent
    assert one.images.shape == (1, 1, 28, 28) and one.images.sum() > 0


def test_render_glyph_matches_dataset(glyphs):
    for i in range(0, 3000, 300):
        d, *rest = glyphs.factors[i]
        kwargs = dict(zip(("thickness", "slant", "scale", "shift_x", "shift_y"), rest))
        image = render_glyph(int(d), **kwargs)
        assert image.shape == (1, 28, 28) and image.dtype == torch.float32
        assert torch.equal(image, glyphs.images[i])


@pytest.mark.parametrize("digit", range(10))
def test_windowed_renderer_equals_dense_reference(digit):
    rng = np.random.default_rng(digit)
    for _ in range(5):
        f = dict(
            thickness=rng.uniform(0.5, 5), slant=rng.uniform(-0.5, 0.5), scale=rng.uniform(0.6, 1.3),
            shift_x=rng.uniform(-3, 3), shift_y=rng.uniform(-3, 3),
        )
        fast = render_glyph(digit, **f)
        slow = dense_reference(digit, **f).float()
        assert torch.allclose(fast, slow, atol=1e-5), f


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(n=2.5), "n must be an integer"),
        (dict(n=True), "n must be an integer"),
        (dict(size=4), "size must be an integer >= 8"),
        (dict(digits=[1, 10]), "digit must be an integer from 0 to 9"),
        (dict(digits=["7"]), "digit must be an integer from 0 to 9"),
        (dict(digits=[]), "digits must be a non-empty iterable"),
        (dict(digits=5), "digits must be an iterable"),
        (dict(thickness=(3.0, 1.0)), "low <= high"),
        (dict(thickness=(0.0, 1.0)), "thickness must be a range of numbers > 0"),
        (dict(scale=-1), "scale must be a finite number > 0"),
        (dict(slant="steep"), "slant must be a number"),
        (dict(shift=(1, 2, 3)), "shift must be a number"),
        (dict(shift=(0, float("inf"))), "finite"),
        (dict(shift=float("nan")), "shift must be a finite number"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(seed="abc"), "seed must be an integer"),
    ],
)
def test_glyph_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_glyph_digits(**{"n": 10, **kwargs})


def test_render_glyph_errors():
    with pytest.raises(ValueError, match="0 to 9"):
        render_glyph(11)
    with pytest.raises(ValueError, match="thickness must be a finite number > 0"):
        render_glyph(1, thickness=0)
    with pytest.raises(ValueError, match="slant must be a finite number"):
        render_glyph(1, slant=(0.1, 0.2))  # a range is for make_glyph_digits, not for one image
    with pytest.raises(ValueError, match="shift_y must be a finite number"):
        render_glyph(1, shift_y=float("nan"))


# -- glyph digits: the factors do what their names say ---------------------------

BASE = dict(thickness=2.0, slant=0.0, scale=1.0, shift_x=0.0, shift_y=0.0)


@pytest.mark.parametrize("digit", range(10))
def test_thicker_means_more_ink(digit):
    ink = [render_glyph(digit, **{**BASE, "thickness": t}).sum().item() for t in np.linspace(1.0, 3.5, 6)]
    assert all(b > a * 1.1 for a, b in zip(ink, ink[1:])), ink


@pytest.mark.parametrize("digit", range(10))
def test_positive_slant_leans_right(digit):
    def lean(slant):  # centroid x of the upper half minus that of the lower half
        top, bottom = half_centroids_x(render_glyph(digit, **{**BASE, "slant": slant}))
        return top - bottom

    upright = lean(0.0)
    assert lean(0.3) > upright + 1.0
    assert lean(-0.3) < upright - 1.0
    if digit in (0, 1, 8):  # upright symmetric shapes: the sign alone tells the lean
        assert lean(0.3) > 0.5 and lean(-0.3) < -0.5


@pytest.mark.parametrize("digit", range(10))
def test_larger_scale_means_larger_box(digit):
    small = bbox(render_glyph(digit, **{**BASE, "scale": 0.8}))
    large = bbox(render_glyph(digit, **{**BASE, "scale": 1.1}))
    assert large[0] > small[0]  # taller
    assert large[0] * large[1] > small[0] * small[1]


@pytest.mark.parametrize("digit", range(10))
def test_shift_moves_the_centroid(digit):
    x0, y0 = centroid(render_glyph(digit, **BASE))
    for dx, dy in [(2.0, 0.0), (-1.5, 0.0), (0.0, 2.0), (0.0, -1.0), (1.3, -1.7)]:
        x, y = centroid(render_glyph(digit, **{**BASE, "shift_x": dx, "shift_y": dy}))
        # +x moves right (towards higher columns), +y moves down (higher rows)
        assert abs((x - x0) - dx) < 0.1 and abs((y - y0) - dy) < 0.1, (dx, dy, x - x0, y - y0)


def test_every_digit_is_nonempty_and_in_frame(glyphs):
    assert glyphs.images.sum(dim=(1, 2, 3)).min() > 10  # pixels' worth of ink; a thin, small 1 has ~17
    edges = torch.cat([glyphs.images[..., 0, :], glyphs.images[..., -1, :],
                       glyphs.images[..., :, 0], glyphs.images[..., :, -1]], dim=-1)
    assert edges.max() < 1e-6
    # The worst corners of the default ranges too: largest, thickest, most slanted and shifted.
    for digit in range(10):
        for slant in (-0.35, 0.35):
            for sx in (-2.0, 2.0):
                for sy in (-2.0, 2.0):
                    image = render_glyph(digit, thickness=3.5, slant=slant, scale=1.1, shift_x=sx, shift_y=sy)[0]
                    border = torch.cat([image[0], image[-1], image[:, 0], image[:, -1]])
                    assert border.max() < 1e-6, (digit, slant, sx, sy)


def test_digits_are_distinguishable(glyphs):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x = glyphs.images.reshape(len(glyphs), -1).numpy()
    y = glyphs.factor("digit").astype(int)
    # One BLAS thread: on a shared 2-core machine multi-threaded BLAS is ~20x slower here.
    with threadpool_limits(1):
        model = LogisticRegression(max_iter=300).fit(x[:2000], y[:2000])
    accuracy = model.score(x[2000:], y[2000:])
    assert accuracy > 0.9, accuracy


# -- scikit-learn digits ----------------------------------------------------------------


def test_sklearn_digits():
    d = load_sklearn_digits()
    assert d.images.shape == (1797, 1, 8, 8) and d.images.dtype == torch.float32
    assert d.images.min() == 0 and d.images.max() == 1
    assert d.factor_names == ("digit",)
    assert set(d.factor("digit")) == set(range(10))


# -- MNIST from IDX files ------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(root, split="train", n=5, compress=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        payload = idx_bytes(array)
        if compress:
            (root / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (root / name).write_bytes(payload)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist_parses_idx(tmp_path, compress, split):
    images, labels = write_mnist(tmp_path, split, n=7, compress=compress)
    d = load_mnist(tmp_path, split=split)
    assert d.images.shape == (7, 1, 28, 28) and d.images.dtype == torch.float32
    np.testing.assert_allclose(d.images[:, 0].numpy(), images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.factor("digit"), labels)
    assert d.factor_names == ("digit",)


def test_load_mnist_default_root_from_env(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    write_mnist(tmp_path / "mnist", "test", n=3)
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path))
    assert len(load_mnist(split="test")) == 3


def test_load_mnist_missing_files_explains_the_options(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(tmp_path / "nowhere")
    message = str(err.value)
    for expected in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", str(tmp_path / "nowhere"),
                     "download=True", "make_glyph_digits", "load_sklearn_digits"):
        assert expected in message


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b"\x00\x00\x0d\x03" + b[4:],  # wrong dtype code (float)
        lambda b: b"\x08\x03\x00\x00" + b[4:],  # garbage magic
        lambda b: b[:-10],  # truncated data
        lambda b: b[:6],  # truncated header
        lambda b: b"",  # empty
    ],
)
def test_corrupt_idx_raises_value_error_naming_the_file(tmp_path, corrupt):
    write_mnist(tmp_path, "train", n=4)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_corrupt_gzip_raises_value_error(tmp_path):
    write_mnist(tmp_path, "train", n=4, compress=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])  # a truncated gzip stream
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def test_mismatched_images_and_labels(tmp_path):
    write_mnist(tmp_path, "train", n=4)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3)))
    with pytest.raises(ValueError, match="do not match"):
        load_mnist(tmp_path)


def test_read_idx_shapes(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), array)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")


def test_load_mnist_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist(tmp_path, split="validation")


def test_download_offline_message(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError) as err:
        load_mnist(tmp_path, download=True)
    message = str(err.value)
    assert "offline" in message and "make_glyph_digits" in message and "load_sklearn_digits" in message
    assert str(tmp_path) in message


def test_download_writes_verified_files(tmp_path, monkeypatch):
    # A fake mirror serving tiny gzipped IDX files; checksums patched to match.
    rng = np.random.default_rng(0)
    served = {
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(rng.integers(0, 256, (6, 28, 28)))),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(rng.integers(0, 10, 6))),
    }
    monkeypatch.setattr(digit_files, "_MNIST_MD5", {k: hashlib.md5(v).hexdigest() for k, v in served.items()})
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        assert timeout <= 30
        if url.startswith(digit_files._MNIST_MIRRORS[0]):  # the first mirror is down
            raise urllib.error.URLError("timed out")
        return io.BytesIO(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    d = load_mnist(tmp_path / "new", split="test", download=True)
    assert len(d) == 6 and sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(served)
    assert len(calls) == 4  # each file: first mirror fails, second succeeds
    # A second call finds the files and does not download again.
    load_mnist(tmp_path / "new", split="test", download=True)
    assert len(calls) == 4


def test_download_rejects_bad_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered"))
    with pytest.raises(ConnectionError, match="checksum mismatch"):
        load_mnist(tmp_path, download=True)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


# -- loading by name -------------------------------------------------------------------------


def test_available_and_load():
    assert {"glyphs", "sklearn_digits", "mnist"} <= set(available_datasets())
    g = load("glyphs", n=12, seed=4)
    assert torch.equal(g.images, make_glyph_digits(12, seed=4).images)
    assert len(load("sklearn_digits")) == 1797


def test_load_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"name must be one of \[.*glyphs.*mnist.*sklearn_digits.*\], got 'mnsit'"):
        load("mnsit")
