"""The sparse activation table (02-sparse, 03-features): which units an input turns on, what turns a unit on.

What it shows: on the left, the chosen input (its picture for image inputs) and its
units listed strongest first with bars, the near-zero ones faded, so you see how few
fire; on the right, the chosen unit's feature (the decoder column it writes: red adds
ink, blue removes it, or a bar chart for vector inputs) and the inputs that make it fire
most. The controls sit above both columns; for 28x28 inputs at ``scale=4`` the whole
widget is about 480 px tall, so it fits a 1280 x 800 screen.

From Python::

    w = sparse_activation_table(sae, sparse_patterns(), unit_names=["Lat1", "Lat2", "Lat3", "Lat4"])
    w.input_selector.value = 2          # choose input 2; w.table_html.value is its table
    w.unit_selector.value = 0           # choose unit 0; w.top_examples.value lists its top inputs
    w.next_input_button.click()         # what the keyboard's "next input" does

From the keyboard: Tab reaches the "input" dropdown, its "previous input" / "next input"
buttons, then the "unit" dropdown and its "previous unit" / "next unit" buttons; Space or
Enter presses a button (the selection wraps around at the ends).
"""

from __future__ import annotations

import html
import io

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from ..contracts import Autoencoder, check_int, check_number, invalid, require
from ..viz import model_device
from ..viz.alt import names_text, num
from .common import WIDGET_CLASS, control_row, picture, png_bytes, show_png, stepper, unpack_inputs

__all__ = ["SparseActivationTable", "sparse_activation_table", "TABLE_OPEN", "BAR_COLOUR"]

BAR_COLOUR = "#1f77b4"
BAR_WIDTH_PX = 140

# JupyterLab pads table cells to 30 px rows; the activation tables ask for 18 px, so twelve units and
# eight top examples fit on a 1280 x 800 screen beside the pictures. The doubled class outranks
# JupyterLab's single-class rules wherever the page loads them.
TABLE_OPEN = ("<style>.aecourse-table.aecourse-table td, .aecourse-table.aecourse-table th "
              "{padding:1px 6px;line-height:16px}</style>"
              '<table class="aecourse-table" style="border-collapse:collapse;font-family:monospace;font-size:12px">')
# Faded rows (below dim_below of the strongest) keep a 5:1 contrast on JupyterLab's light theme: its text is
# rgba(0, 0, 0, 0.87), so 0.65 of it is #6f6f6f on white (0.35, as before, was 2.4:1, under WCAG's 4.5:1).
FADED_OPACITY = 0.65
_HEAD = '<tr><th scope="col">{first}</th><th scope="col">activation</th><th scope="col">bar</th></tr>'


def _table_open(label: str) -> str:
    """:data:`TABLE_OPEN` with an accessible name (``aria-label``) for the table."""
    return TABLE_OPEN.replace('<table ', f'<table aria-label="{html.escape(label, quote=True)}" ', 1)


def _feature_png(feature: np.ndarray, shape: tuple[int, int] | None, scale: int) -> bytes:
    """A decoder feature as an image (red = adds ink, blue = removes ink) or, for vectors, a bar chart."""
    if shape is not None:
        limit = float(np.abs(feature).max()) or 1.0
        return png_bytes(feature.reshape(shape), cmap="RdBu_r", vmin=-limit, vmax=limit, scale=scale)
    fig = Figure(figsize=(max(2.0, 0.25 * len(feature)), 1.6), dpi=80)
    ax = fig.add_subplot()
    ax.bar(np.arange(1, len(feature) + 1), feature, color=[BAR_COLOUR if v >= 0 else "#d62728" for v in feature])
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("input dimension", fontsize=7)
    ax.tick_params(labelsize=6)
    if len(feature) <= 16:
        ax.set_xticks(np.arange(1, len(feature) + 1))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _feature_alt(unit: str, feature: np.ndarray, shape: tuple[int, int] | None) -> str:
    """What the feature picture shows, with its numbers."""
    if shape is not None:
        strongest = int(np.argmax(np.abs(feature)))
        r, c = divmod(strongest, shape[1])
        return (f"Feature of {unit}: the decoder column it writes, as a {shape[0]}x{shape[1]} image, red where it "
                f"adds ink and blue where it removes it; strongest weight {num(feature[strongest])} at row {r}, "
                f"column {c}")
    values = ", ".join(num(v) for v in feature[:16]) + (", ..." if len(feature) > 16 else "")
    return (f"Bar chart of the feature of {unit} over {len(feature)} input dimensions (the decoder column it "
            f"writes): {values}")


def _strip(images: list[np.ndarray], scale: int) -> bytes:
    """Images side by side, separated by a thin mid-grey line, as one PNG."""
    h = images[0].shape[0]
    gap = np.full((h, 1), 0.5)
    row = np.concatenate([part for img in images for part in (img, gap)][:-1], axis=1)
    return png_bytes(row, vmin=0.0, vmax=1.0, scale=scale)


def _bar(value: float, top: float, colour: str = BAR_COLOUR) -> str:
    width = 0 if top <= 0 else int(round(BAR_WIDTH_PX * max(value, 0.0) / top))
    return (f'<div aria-hidden="true" style="background:{colour};width:{width}px;height:10px;display:inline-block">'
            '</div>')


@torch.no_grad()
def _codes_and_features(model, x: torch.Tensor, batch_size: int = 1024):
    """Codes (n, m) for all inputs, and each unit's feature (m, D): what it adds to the output."""
    require(model, Autoencoder)
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        z = torch.cat([model.encode(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
        if z.dim() != 2:
            raise invalid("model.encode(x)", "codes (n, latent_dim)", f"shape {tuple(z.shape)}", shown=True)
        if hasattr(model, "dictionary"):  # SparseAutoencoder: the decoder columns themselves
            features = model.dictionary.cpu()
        else:  # any decoder: the change in output when unit j goes from 0 to 1
            eye = torch.eye(z.shape[1], device=device)
            features = (model.decode(eye) - model.decode(torch.zeros_like(eye))).flatten(1).cpu()
    finally:
        model.train(was_training)
    return z.numpy().astype(np.float64), features.numpy().astype(np.float64)


# --------------------------------------------------------------------------- the widget
class SparseActivationTable(widgets.VBox):
    """Explore a sparse code: which units an input turns on, and what turns a unit on.

    Build it with :func:`sparse_activation_table`. Controls and outputs are
    attributes, so code (and tests) can drive it:

    Attributes
    ----------
    input_selector : ipywidgets.Dropdown
        ``.value`` is the index of the selected input.
    unit_selector : ipywidgets.Dropdown
        ``.value`` is the index of the selected unit.
    prev_input_button, next_input_button : ipywidgets.Button
        Step the input selector back and on (wrapping around), for the keyboard.
    prev_unit_button, next_unit_button : ipywidgets.Button
        The same for the unit selector.
    columns : ipywidgets.HBox
        The two columns under the controls (the input's side, the unit's side).
    table_html : ipywidgets.HTML
        The selected input's activations, strongest first, with bars; rows
        below ``dim_below`` x the input's strongest activation are dimmed.
        Each row carries ``data-unit="j"``.
    input_image : ipywidgets.Image or None
        The selected input as a PNG (None without images).
    top_examples : ipywidgets.HTML
        The inputs on which the selected unit fires most, strongest first
        (``data-input="i"`` per row).
    top_examples_image : ipywidgets.Image or None
        The same top examples side by side as one PNG (None without images).
    feature_image : ipywidgets.Image
        The selected unit's decoder feature as a PNG: an image (red adds
        ink, blue removes it) for image inputs, a bar chart for vectors.
    z : ndarray, shape (n, latent_dim)
        The codes shown.
    features : ndarray, shape (latent_dim, D)
        Each unit's feature (decoder column), flattened.
    """

    def __init__(self, z: np.ndarray, features: np.ndarray, names: list[str], unit_names: list[str],
                 images: np.ndarray | None, feature_shape: tuple[int, int] | None, *, top_k: int, max_rows: int,
                 dim_below: float, scale: int):
        self.z, self.features, self.names, self.unit_names = z, features, names, unit_names
        self.images, self.feature_shape = images, feature_shape
        self.top_k, self.max_rows, self.dim_below, self.scale = top_k, max_rows, dim_below, scale
        self.frequency = (z > 0).mean(0)
        self.z_max = float(z.max()) if z.size else 0.0

        label_style = {"description_width": "initial"}
        self.input_selector = widgets.Dropdown(options=[(name, i) for i, name in enumerate(names)], value=0,
                                               description="input", style=label_style,
                                               layout=widgets.Layout(width="auto", max_width="260px"))
        self.unit_selector = widgets.Dropdown(
            options=[(f"{unit_names[j]} (fires on {self.frequency[j]:.0%})", j) for j in range(z.shape[1])],
            value=int(np.argmax(z[0])), description="unit", style=label_style,
            layout=widgets.Layout(width="auto", max_width="260px"))
        self.prev_input_button, self.next_input_button = stepper(self.input_selector, "input")
        self.prev_unit_button, self.next_unit_button = stepper(self.unit_selector, "unit")
        self.table_html = widgets.HTML()
        self.top_examples = widgets.HTML()
        self.input_image = picture() if images is not None else None
        self.top_examples_image = picture() if images is not None else None
        self.feature_image = picture()

        # Controls on top, both columns below them: at 1280 x 800 the whole widget (about 500 px)
        # is in view once its top is. The right column may shrink (min_width 0) so the strip of
        # top examples scales down instead of pushing the widget past the output's width.
        controls = control_row([self.input_selector, self.prev_input_button, self.next_input_button,
                                 widgets.HTML(layout=widgets.Layout(width="16px")),
                                 self.unit_selector, self.prev_unit_button, self.next_unit_button])
        left = ([self.input_image] if self.input_image else []) + [self.table_html]
        right = ([widgets.HTML("<b>feature it writes</b> (decoder column)"), self.feature_image,
                  widgets.HTML("<b>inputs that make it fire most</b>")]
                 + ([self.top_examples_image] if self.top_examples_image else []) + [self.top_examples])
        self.columns = widgets.HBox([
            widgets.VBox(left, layout=widgets.Layout(margin="0 24px 0 0", flex="0 1 auto", max_width="45%")),
            widgets.VBox(right, layout=widgets.Layout(flex="1 1 0%", min_width="0")),
        ])
        super().__init__([controls, self.columns], layout=widgets.Layout(max_width="100%"))

        self.add_class(WIDGET_CLASS)
        self.input_selector.observe(lambda change: self.show_input(change["new"]), names="value")
        self.unit_selector.observe(lambda change: self.show_unit(change["new"]), names="value")
        self.show_input(0)
        self.show_unit(self.unit_selector.value)

    # -- what each side shows ------------------------------------------------

    def show_input(self, i: int) -> None:
        """Fill the activation table (and input image) for input ``i``."""
        acts = self.z[i]
        order = np.argsort(-acts, kind="stable")
        strongest = float(acts[order[0]])
        dim_at = self.dim_below * strongest if strongest > 0 else np.inf
        n_active = int((acts > 0).sum())
        rows = []
        for j in order[: self.max_rows]:
            value = float(acts[j])
            faint = value < dim_at
            style = f' style="opacity:{FADED_OPACITY}"' if faint else ""
            rows.append(f'<tr data-unit="{j}"{style}><td>{html.escape(self.unit_names[j])}</td>'
                        f'<td style="text-align:right;padding:0 8px">{value:.3f}</td>'
                        f"<td>{_bar(value, self.z_max)}</td></tr>")
        hidden = len(acts) - min(len(acts), self.max_rows)
        more = (f'<tr><td colspan="3" style="opacity:{FADED_OPACITY}">... and {hidden} more units, '
                f"all at or below {float(acts[order[self.max_rows]]):.3f}</td></tr>") if hidden else ""
        self.table_html.value = (
            f"<div><b>{html.escape(self.names[i])}</b>: {n_active} of {len(acts)} units active (&gt; 0); "
            f"faded rows are below {self.dim_below:.0%} of the strongest</div>"
            + _table_open(f"Units of input {self.names[i]}, strongest first") +
            _HEAD.format(first="unit") + "".join(rows) + more + "</table>"
        )
        if self.input_image is not None:
            h, w = self.images[i].shape
            show_png(self.input_image, png_bytes(self.images[i], vmin=0.0, vmax=1.0, scale=self.scale),
                     alt=f"Picture of input {self.names[i]} ({h}x{w} pixels); {n_active} of {len(acts)} units "
                         "active on it")

    def show_unit(self, j: int) -> None:
        """Show unit ``j``'s feature and its top-activating inputs."""
        acts = self.z[:, j]
        order = [int(i) for i in np.argsort(-acts, kind="stable")[: self.top_k] if acts[i] > 0]
        show_png(self.feature_image, _feature_png(self.features[j], self.feature_shape, self.scale),
                 alt=_feature_alt(self.unit_names[j], self.features[j], self.feature_shape))
        if not order:
            self.top_examples.value = (f"<i>{html.escape(self.unit_names[j])} never fires on these "
                                       f"{len(acts)} inputs: a dead unit (here).</i>")
            if self.top_examples_image is not None:
                show_png(self.top_examples_image, b"", alt=f"No inputs: {self.unit_names[j]} never fires on these")
            return
        rows = "".join(
            f'<tr data-input="{i}"><td>{html.escape(self.names[i])}</td>'
            f'<td style="text-align:right;padding:0 8px">{acts[i]:.3f}</td><td>{_bar(acts[i], self.z_max)}</td></tr>'
            for i in order
        )
        self.top_examples.value = (
            f"<div>{html.escape(self.unit_names[j])} is active on {self.frequency[j]:.1%} of the inputs</div>"
            + _table_open(f"Inputs on which {self.unit_names[j]} fires most, strongest first") +
            _HEAD.format(first="input") + rows + "</table>"
        )
        if self.top_examples_image is not None:
            show_png(self.top_examples_image, _strip([self.images[i] for i in order], self.scale),
                     alt=f"Pictures of the {len(order)} inputs that make {self.unit_names[j]} fire most, strongest "
                         f"first: " + names_text([f"{self.names[i]} ({acts[i]:.2f})" for i in order], 8))


def sparse_activation_table(model, inputs, *, names=None, images=None, unit_names=None, top_k: int = 8,
                            max_rows: int = 12, dim_below: float = 0.1, scale: int = 4) -> SparseActivationTable:
    """An interactive activation table for a (sparse) autoencoder.

    Left: choose an input (the dropdown, or the "previous input" / "next
    input" buttons); its units are listed strongest first with bars
    (near-zero ones faded), so you see how few fire. Right: choose a unit
    (likewise); see the feature it writes into the reconstruction and the
    inputs that make it fire most. The controls sit above both columns, and
    the whole widget is about 480 px tall for 28x28 inputs at ``scale=4``.

    Parameters
    ----------
    model : autoencoder with ``encode`` and ``decode``
        A :class:`~aecourse.sae.SparseAutoencoder` (its ``dictionary`` gives
        the features) or any course model (the feature of unit j is then
        ``decode(e_j) - decode(0)``).
    inputs : Tensor (n, *in_shape), or a dataset
        ``NamedVectors`` (names taken from it), ``SparseFeatures`` or ``LabelledImages``.
    names : list of str, optional
        One label per input (default: from ``inputs.names`` or ``"input i"``).
    images : (n, H, W) or (n, 1, H, W), optional
        Pictures of the inputs; default: the inputs themselves when they are images.
    unit_names : list of str, optional
        One label per unit (default ``"unit j"``), e.g. ``["Lat1", "Lat2", ...]``.
    top_k : int
        Top-activating inputs shown per unit.
    max_rows : int
        Units listed per input (the rest are summarised in one line).
    dim_below : float
        Rows with activation below this fraction of the input's strongest are faded.
    scale : int
        Each image pixel becomes ``scale`` x ``scale`` screen pixels.

    Returns
    -------
    SparseActivationTable
        An ipywidgets ``VBox`` (controls, then the two columns); see its
        attributes to drive it from code.

    Examples
    --------
    >>> w = sparse_activation_table(sae, sparse_patterns(), unit_names=["Lat1", "Lat2", "Lat3", "Lat4"])
    >>> w.input_selector.value = 2          # pattern C
    >>> "data-unit" in w.table_html.value
    True
    """
    top_k, max_rows, scale = (check_int(label, value, low=1) for label, value in
                              (("top_k", top_k), ("max_rows", max_rows), ("scale", scale)))
    dim_below = check_number("dim_below", dim_below, low=0, high=1, fix="a fraction of the strongest activation")
    x, names, images = unpack_inputs(inputs, names, images)
    z, features = _codes_and_features(model, x)
    m = z.shape[1]
    if unit_names is None:
        unit_names = [f"unit {j}" for j in range(m)]
    unit_names = [str(u) for u in unit_names]
    if len(unit_names) != m:
        raise invalid("unit_names", f"one name per unit (the model has {m} units)", f"{len(unit_names)} entries",
                      shown=True)
    feature_shape = None
    if x.dim() == 4 and x.shape[1] == 1 and features.shape[1] == x.shape[2] * x.shape[3]:
        feature_shape = (int(x.shape[2]), int(x.shape[3]))
    return SparseActivationTable(z, features, names, unit_names, images, feature_shape, top_k=top_k,
                                 max_rows=max_rows, dim_below=dim_below, scale=scale)
