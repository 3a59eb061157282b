"""The sparse activation table widget, driven from Python as a learner would drive it with the mouse."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg

from aecourse.data import sparse_patterns
from aecourse.models import DenseAutoencoder, SparseAutoencoder
from aecourse.widgets import SparseActivationTable, png_bytes, sparse_activation_table

LAT = ["Lat1", "Lat2", "Lat3", "Lat4", "Lat5"]


def units_in_table(html: str) -> list[int]:
    return [int(j) for j in re.findall(r'data-unit="(\d+)"', html)]


def faded_units(html: str) -> list[int]:
    return [int(j) for j in re.findall(r'data-unit="(\d+)" style="opacity', html)]


def inputs_listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-input="(\d+)"', html)]


def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(data), format="png")


@pytest.fixture
def pattern_model() -> SparseAutoencoder:
    """A hand-set SAE on the patterns A=[1,0,0,1], B=[0,1,1,0], C=[1,1,0,0] with known codes:

    A: [1.0, 0.0, 0.5, 0.02, 0]   B: [0.0, 1.0, 0.5, 0.0, 0]   C: [0.5, 0.5, 1.0, 0.0, 0]
    (unit 5, "Lat5", never fires).
    """
    model = SparseAutoencoder(in_shape=4, latent_dim=5)
    with torch.no_grad():
        model.encoder.weight.copy_(torch.tensor([
            [0.5, 0.0, 0.0, 0.5],
            [0.0, 0.5, 0.5, 0.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.02],
            [-1.0, -1.0, -1.0, -1.0],
        ]))
        model.encoder.bias.zero_()
        model.b_dec.zero_()
    return model


def test_codes_are_what_the_fixture_says(pattern_model):
    z = pattern_model.encode(sparse_patterns().x)
    assert torch.allclose(z, torch.tensor([[1, 0, .5, .02, 0], [0, 1, .5, 0, 0], [.5, .5, 1, 0, 0]]))


def test_pick_an_input_see_its_units_sorted_and_faded(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    assert isinstance(w, SparseActivationTable)
    assert w.input_selector.value == 0 and "<b>A</b>" in w.table_html.value
    assert units_in_table(w.table_html.value) == [0, 2, 3, 1, 4]  # strongest first
    assert faded_units(w.table_html.value) == [3, 1, 4]  # 0.02 is below 10% of 1.0, and the zeros
    assert "3 of 5 units active" in w.table_html.value

    w.input_selector.value = 2  # pattern C
    html = w.table_html.value
    assert "<b>C</b>" in html and "3 of 5 units active" in html
    assert units_in_table(html) == [2, 0, 1, 3, 4]
    assert faded_units(html) == [3, 4]
    assert re.search(r'data-unit="2"><td>Lat3</td><td[^>]*>1.000</td>', html)
    assert w.input_image is None and w.top_examples_image is None  # vectors: no pictures of inputs


def test_max_rows_summarises_the_rest(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), max_rows=2)
    assert units_in_table(w.table_html.value) == [0, 2]
    assert "and 3 more units, all at or below 0.020" in w.table_html.value


def test_pick_a_unit_see_its_top_inputs_and_feature(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT, top_k=2)
    w.unit_selector.value = 2
    assert inputs_listed(w.top_examples.value) == [2, 0]  # C (1.0), then A (0.5; ties keep input order), top_k=2
    assert "Lat3 is active on 100.0% of the inputs" in w.top_examples.value
    first = w.feature_image.value
    decode_png(first)

    w.unit_selector.value = 3
    assert inputs_listed(w.top_examples.value) == [0]  # fires on A only
    assert w.feature_image.value != first  # a different decoder column, drawn

    w.unit_selector.value = 4
    assert inputs_listed(w.top_examples.value) == [] and "never fires" in w.top_examples.value


def test_unit_dropdown_labels_show_firing_rates(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    labels = [label for label, _ in w.unit_selector.options]
    assert labels[0] == "Lat1 (fires on 67%)" and labels[4] == "Lat5 (fires on 0%)"
    assert w.unit_selector.value == 0  # starts at input A's strongest unit


def test_image_inputs_show_input_top_examples_and_feature_as_images():
    torch.manual_seed(0)
    images = torch.rand(10, 1, 6, 6)
    model = SparseAutoencoder(in_shape=(1, 6, 6), latent_dim=8)
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.weight[2 * 6 + 3, 1] = 1.0  # unit 1 writes one pixel: row 2, column 3
    w = sparse_activation_table(model, images, top_k=3, scale=2)

    w.input_selector.value = 7
    shown = decode_png(w.input_image.value)
    assert shown.shape[:2] == (12, 12)
    assert np.allclose(shown[::2, ::2, 0], images[7, 0].numpy(), atol=0.01)  # the grey value of every pixel

    w.unit_selector.value = 1
    feature = decode_png(w.feature_image.value)
    redness = feature[..., 0] - feature[..., 2]
    assert np.unravel_index(np.argmax(redness), redness.shape) == (4, 6)  # pixel (2, 3) at scale 2
    strip = decode_png(w.top_examples_image.value)
    n_shown = len(inputs_listed(w.top_examples.value))
    assert strip.shape[:2] == (12, n_shown * 12 + (n_shown - 1) * 2)
    best = inputs_listed(w.top_examples.value)[0]
    assert np.allclose(strip[::2, :12:2, 0], images[best, 0].numpy(), atol=0.01)


def test_works_with_any_course_autoencoder():
    torch.manual_seed(0)
    model = DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=3, hidden=(8,))
    w = sparse_activation_table(model, torch.rand(5, 1, 4, 4), names=list("abcde"))
    assert len(units_in_table(w.table_html.value)) == 3
    w.unit_selector.value = 2
    assert decode_png(w.feature_image.value).shape[:2] == (16, 16)


def test_png_bytes_round_trip():
    img = np.linspace(0, 1, 12).reshape(3, 4)
    back = decode_png(png_bytes(img, vmin=0, vmax=1, scale=1))
    assert np.allclose(back[..., 0], img, atol=0.01)
    with pytest.raises(ValueError, match="2-D array"):
        png_bytes(np.zeros(5))


@pytest.mark.parametrize("kwargs,match", [
    (dict(names=["a", "b"]), "one name per input"),
    (dict(unit_names=["x"]), "unit_names has 1 entries but the model has 5 units"),
    (dict(images=np.zeros((2, 4, 4))), "one per input"),
    (dict(top_k=0), "top_k must be an integer >= 1"),
    (dict(dim_below=2), "dim_below"),
])
def test_errors_say_what_was_expected(pattern_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sparse_activation_table(pattern_model, sparse_patterns(), **kwargs)


def test_model_without_encode_is_refused():
    with pytest.raises(TypeError, match="encode"):
        sparse_activation_table(torch.nn.Linear(4, 4), sparse_patterns())
