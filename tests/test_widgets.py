"""The widgets, driven from Python as a learner drives them with the mouse or the keyboard: the sparse activation
table, and the previous/next buttons and picture sizes of every widget."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg

from aecourse.data import sparse_patterns
from aecourse.models import DenseAutoencoder
from aecourse.sae import SparseAutoencoder
from aecourse.widgets import (SparseActivationTable, intervention_explorer, latent_traversal, png_bytes, png_size,
                              sparse_activation_table, step_selection)

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
    (dict(unit_names=["x"]), r"unit_names must be one name per unit \(the model has 5 units\), got 1 entries"),
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


# --------------------------------------------------------------------------- keyboard and small screens
def test_previous_and_next_buttons_step_the_input_and_wrap_around(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    assert w.prev_input_button.description == "previous input" and w.next_input_button.description == "next input"
    w.next_input_button.click()
    assert w.input_selector.value == 1 and "<b>B</b>" in w.table_html.value  # the table follows the button
    w.next_input_button.click()
    w.next_input_button.click()  # past the last input: back to the first, so the button never disables
    assert w.input_selector.value == 0 and "<b>A</b>" in w.table_html.value
    w.prev_input_button.click()
    assert w.input_selector.value == 2 and "<b>C</b>" in w.table_html.value


def test_unit_buttons_step_the_unit_and_redraw_its_side(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    assert w.unit_selector.value == 0
    before = w.top_examples.value
    w.next_unit_button.click()
    assert w.unit_selector.value == 1 and w.top_examples.value != before and "Lat2 is active" in w.top_examples.value
    w.prev_unit_button.click()
    w.prev_unit_button.click()
    assert w.unit_selector.value == 4 and "never fires" in w.top_examples.value


def test_every_control_has_a_label(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    controls = [w.input_selector, w.unit_selector, w.prev_input_button, w.next_input_button,
                w.prev_unit_button, w.next_unit_button]
    assert all(c.description.strip() for c in controls)
    assert all(b.tooltip for b in controls[2:])
    labels = [c.description for c in controls]
    assert len(set(labels)) == len(labels), f"two controls share an accessible name: {labels}"


def test_step_selection_validates_and_wraps():
    from ipywidgets import Dropdown

    d = Dropdown(options=[("a", 0), ("b", 1), ("c", 2)], value=1)
    assert step_selection(d, 1) == 2 and step_selection(d, 1) == 0 and step_selection(d, -2) == 1
    assert d.value == 1
    with pytest.raises(ValueError, match="no options"):
        step_selection(Dropdown(options=[]), 1)


def test_images_are_drawn_at_their_own_size_and_never_wider_than_the_output():
    """The 02 layout: 28x28 inputs at scale 4 are 112 px, not stretched to the column (they drew 508 px wide),
    and the strip of eight top examples shrinks to fit rather than widening the widget."""
    torch.manual_seed(0)
    images = torch.rand(40, 1, 28, 28)
    model = SparseAutoencoder(in_shape=(1, 28, 28), latent_dim=16)
    w = sparse_activation_table(model, images, top_k=8)
    for img in (w.input_image, w.feature_image, w.top_examples_image):
        width, _ = png_size(img.value)
        assert img.layout.width == f"{width}px" and img.layout.max_width == "100%"
        assert img.layout.height == "auto" and img.layout.align_self == "flex-start"
    assert w.input_image.layout.width == "112px" and w.feature_image.layout.width == "112px"
    n = len(inputs_listed(w.top_examples.value))
    assert w.top_examples_image.layout.width == f"{(n * 28 + n - 1) * 4}px"
    # controls first, over both columns; the right column may shrink, the left one is capped
    controls, columns = w.children
    assert w.input_selector in controls.children and w.next_unit_button in controls.children
    assert controls.layout.flex_flow == "row wrap"
    left, right = columns.children
    assert right.layout.min_width == "0" and left.layout.max_width == "45%"


def test_png_size_reads_the_header():
    assert png_size(png_bytes(np.zeros((3, 5)), scale=2)) == (10, 6)
    assert png_size(b"") == (0, 0) and png_size(b"not a png at all, no header here") == (0, 0)


class ShiftDecoder(torch.nn.Module):
    """Decodes z to a 4x4 image whose brightness is z's mean; encodes an image to (its mean, 0, 0)."""

    latent_dim = 3

    def decode(self, z):
        return torch.sigmoid(z.mean(1))[:, None, None, None].expand(-1, 1, 4, 4)

    def encode(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([m, torch.zeros_like(m), torch.zeros_like(m)], 1)


def test_traversal_start_from_steps_with_the_buttons():
    inputs = torch.linspace(0, 1, 5)[:, None, None, None].expand(-1, 1, 4, 4)
    w = latent_traversal(ShiftDecoder(), inputs=inputs, input_names=list("abcde"), scale=8)
    assert (w.prev_input_button.description, w.next_input_button.description) == ("previous input", "next input")
    before = w.image.value
    w.next_input_button.click()
    assert w.input_selector.value == 1 and w.z[0] == pytest.approx(0.25) and w.image.value != before
    w.prev_input_button.click()
    w.prev_input_button.click()
    assert w.input_selector.value == 4 and w.z[0] == pytest.approx(1.0)
    assert w.image.layout.width == "32px" and w.image.layout.max_width == "100%"
    assert w.readout.layout.max_width == "360px"  # a long code wraps instead of widening the widget
    assert w.children[0].layout.flex_flow == "row wrap"


def test_traversal_without_inputs_has_no_stepper():
    w = latent_traversal(ShiftDecoder(), np.zeros(3))
    assert w.prev_input_button is None and w.next_input_button is None


def test_intervention_explorer_latent_steps_with_the_buttons():
    w = intervention_explorer(ShiftDecoder(), np.zeros(3), span=(-3, 3))
    w.value = 2.0
    bars = w.response_image.value
    w.next_dim_button.click()
    assert w.dim == 1 and w.value == 2.0 and w.bar_colours[1] != w.bar_colours[0]
    assert w.response_image.value != bars
    w.prev_dim_button.click()
    w.prev_dim_button.click()
    assert w.dim == 2 and w.next_dim_button.description == "next latent"
    width, _ = png_size(w.response_image.value)
    assert w.response_image.layout.width == f"{width}px" and w.image.layout.width == "16px"


# --------------------------------------------------------------------------- accessible names and alt texts
from html.parser import HTMLParser
from pathlib import Path

import ipywidgets

from aecourse import standing
from aecourse.widgets import standing_table
from aecourse.widgets.common import SLIDER_NAMES_JS, WIDGET_CLASS, DescribedImage

REPO = Path(__file__).resolve().parents[1]
# What a learner operates; an HTML or Image widget shows, a Box lays out.
CONTROLS = (ipywidgets.Button, ipywidgets.Dropdown, ipywidgets.FloatSlider, ipywidgets.IntSlider,
            ipywidgets.FloatLogSlider, ipywidgets.ToggleButton, ipywidgets.Checkbox, ipywidgets.Text,
            ipywidgets.Select, ipywidgets.SelectMultiple, ipywidgets.RadioButtons, ipywidgets.ToggleButtons)


def tree(widget) -> list:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out.extend(tree(child))
    return out


class _HTMLAudit(HTMLParser):
    """Collects what an HTML widget's markup lacks: img without alt, table without a name, empty header cells."""

    def __init__(self):
        super().__init__()
        self.problems, self._th, self._tables = [], None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and not (attrs.get("alt") or "").strip():
            self.problems.append("an <img> without alt")
        if tag == "table":
            self._tables.append(bool((attrs.get("aria-label") or "").strip()))
        if tag == "caption" and self._tables:
            self._tables[-1] = True
        if tag == "th":
            self._th = ""

    def handle_data(self, data):
        if self._th is not None:
            self._th += data

    def handle_endtag(self, tag):
        if tag == "th":
            if not self._th.strip():
                self.problems.append("an empty <th>")
            self._th = None
        if tag == "table" and self._tables and not self._tables.pop():
            self.problems.append("a <table> with neither a caption nor an aria-label")


def accessibility_problems(widget) -> list[str]:
    """Every control with no accessible name, every picture with no alt text, every table without a name."""
    problems, names = [], []
    for w in tree(widget):
        kind = type(w).__name__
        if isinstance(w, ipywidgets.Image):
            if not isinstance(w, DescribedImage):
                problems.append(f"{kind}: a plain Image (its tooltip never reaches the <img>)")
            if not (w.tooltip or "").strip():
                problems.append(f"{kind} {len(w.value)} bytes: no alt text (tooltip)")
        elif isinstance(w, ipywidgets.HTML):
            audit = _HTMLAudit()
            audit.feed(w.value)
            problems += [f"HTML {w.value[:60]!r}: {p}" for p in audit.problems]
        elif isinstance(w, CONTROLS):
            name = (w.description or "").strip() or (w.tooltip or "").strip()
            if not name:
                problems.append(f"{kind}: no description or tooltip")
            names.append(name)
        elif not isinstance(w, ipywidgets.Box):
            problems.append(f"{kind}: a widget this audit does not know (add it to CONTROLS or teach it)")
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        problems.append(f"controls sharing an accessible name: {doubles}")
    return problems


def _every_widget(pattern_model, tmp_path, monkeypatch):
    monkeypatch.setenv(standing.DATA_HOME_ENV, str(tmp_path / "data"))
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    torch.manual_seed(0)
    images = torch.rand(12, 1, 6, 6)
    image_sae = SparseAutoencoder(in_shape=(1, 6, 6), latent_dim=8)
    inputs = torch.linspace(0, 1, 5)[:, None, None, None].expand(-1, 1, 4, 4)
    measures = lambda imgs: {"thickness": np.full(len(imgs), 1.5), "slant": np.zeros(len(imgs))}  # noqa: E731
    return {
        "table (vectors)": sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT),
        "table (images)": sparse_activation_table(image_sae, images, top_k=3),
        "traversal": latent_traversal(ShiftDecoder(), inputs=inputs, input_names=list("abcde"), measures=measures),
        "traversal (no inputs)": latent_traversal(ShiftDecoder(), np.zeros(3), names=["ink", "slant", "size"]),
        "explorer": intervention_explorer(ShiftDecoder(), np.zeros(3)),
        "standing": standing_table(REPO),
    }


def test_every_control_picture_and_table_of_every_widget_is_named(pattern_model, tmp_path, monkeypatch):
    for what, widget in _every_widget(pattern_model, tmp_path, monkeypatch).items():
        assert WIDGET_CLASS in widget._dom_classes, f"{what}: no {WIDGET_CLASS} class (the slider names need it)"
        assert accessibility_problems(widget) == [], what


def test_the_audit_catches_what_it_looks_for():
    """The audit above can fail: an unnamed button, a plain Image, an unnamed table, an <img> without alt."""
    bad = ipywidgets.VBox([ipywidgets.Button(), ipywidgets.Image(value=b"x"),
                           ipywidgets.HTML("<table><tr><th></th></tr></table><img src='x'>"),
                           ipywidgets.Button(description="go"), ipywidgets.Button(description="go")])
    problems = accessibility_problems(bad)
    for expected in ("Button: no description", "a plain Image", "no alt text", "an empty <th>",
                     "neither a caption nor an aria-label", "an <img> without alt", "sharing an accessible name"):
        assert any(expected in p for p in problems), (expected, problems)


def test_picture_alt_texts_follow_what_is_shown(pattern_model):
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    w.unit_selector.value = 2
    assert w.feature_image.tooltip.startswith("Bar chart of the feature of Lat3 over 4 input dimensions")
    images = torch.zeros(4, 1, 3, 3)
    images[2, 0, 1, 1] = 1.0
    model = SparseAutoencoder(in_shape=(1, 3, 3), latent_dim=2)
    with torch.no_grad():
        model.encoder.weight.zero_(), model.encoder.bias.zero_(), model.b_dec.zero_()
        model.encoder.weight[0, 4] = 1.0  # unit 0 fires on the centre pixel: input 2 only
        model.decoder.weight.zero_()
        model.decoder.weight[1 * 3 + 2, 0] = -0.8  # and writes (removes ink) at row 1, column 2
    t = sparse_activation_table(model, images, names=list("wxyz"), unit_names=["u0", "u1"])
    t.input_selector.value = 2
    assert t.input_image.tooltip == "Picture of input y (3x3 pixels); 1 of 2 units active on it"
    t.unit_selector.value = 0
    assert t.top_examples_image.tooltip == "Pictures of the 1 inputs that make u0 fire most, strongest first: y (1.00)"
    assert t.feature_image.tooltip.endswith("strongest weight -0.8 at row 1, column 2")

    trav = latent_traversal(ShiftDecoder(), np.zeros(3), names=["ink", "slant", "size"])
    trav.set_latent(0, 2.5)
    assert "ink +2.50, slant +0.00, size +0.00" in trav.image.tooltip
    explorer = intervention_explorer(ShiftDecoder(), np.zeros(3))
    explorer.set_intervention(1, -2.0)
    assert "do(z1 = -2.00)" in explorer.image.tooltip
    assert explorer.response_image.tooltip.startswith("Bar chart of each latent's response |R(z) - R(z0)| to do(z1 = -2.00)")
    assert "z1 " in explorer.response_image.tooltip and "(intervened, red)" in explorer.response_image.tooltip


def test_faded_rows_keep_their_contrast(pattern_model):
    """Rows below dim_below are faded to 0.65 opacity: #6f6f6f on white, 5:1 (WCAG asks 4.5:1); 0.35 was 2.4:1."""
    w = sparse_activation_table(pattern_model, sparse_patterns(), unit_names=LAT)
    opacities = {float(o) for o in re.findall(r"opacity:([0-9.]+)", w.table_html.value)}
    assert opacities == {0.65}
    grey = 255 * (1 - 0.87 * 0.65)  # JupyterLab's light theme text is rgba(0, 0, 0, 0.87)
    lum = lambda c: ((c / 255 + 0.055) / 1.055) ** 2.4  # noqa: E731 - sRGB to linear
    assert (1.0 + 0.05) / (lum(grey) + 0.05) >= 4.5


def test_widgets_with_sliders_name_their_handles_when_displayed(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    w = latent_traversal(ShiftDecoder(), np.zeros(3), names=["ink", "slant", "size"])
    assert w.slider_names() == ["ink", "slant", "size"]
    w._ipython_display_()
    (bundle, raw), (script, _) = shown
    assert raw and "application/vnd.jupyter.widget-view+json" in bundle
    assert script.data == SLIDER_NAMES_JS and f".{WIDGET_CLASS} .widget-slider" in SLIDER_NAMES_JS
    assert intervention_explorer(ShiftDecoder(), np.zeros(3)).slider_names() == ["value"]
