"""Interactive views of what a model's units do (ipywidgets).

Each widget is built by a function that returns it, so a notebook cell that
ends with the call shows it, and tests drive it from Python without a
browser: set a control's ``.value``, then read the HTML string or the PNG
bytes of the outputs. Static figures (heatmaps, histograms, sweeps) live in
:mod:`aecourse.figures_sparse`.

- :func:`sparse_activation_table` -- pick an input, see which units fire and
  how strongly; pick a unit, see the inputs that make it fire most and the
  feature it writes.
- :func:`latent_traversal` -- one slider per latent, the decoded image (and,
  optionally, its thickness and slant) updating live.
- :func:`intervention_explorer` -- set one latent to a value (an
  intervention) and see the decoded image and how much every latent
  responds, ``|R(z_int) - R(z0)|`` with ``R(z) = encode(decode(z))``.

Keyboard and small screens: every dropdown has a "previous" and a "next"
button beside it (Tab to reach them, Space or Enter to press), because
ArrowDown in a focused dropdown can move JupyterLab's cell selection instead
of the option (an ipywidgets bug); a slider moves with the left and right
arrow keys once Tab has reached its handle. Every picture is shown at its
own pixel size and never wider than the output area (a picture in a flex
column would otherwise be stretched to the column's width), so each widget
fits a 1280 x 800 screen with its controls, pictures and tables in view.
"""

from __future__ import annotations

import html
import io
import struct

import ipywidgets as widgets
from matplotlib import image as mpimg
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aecourse import interventions as _iv
from aecourse import viz as _viz

__all__ = ["SparseActivationTable", "sparse_activation_table", "png_bytes", "png_size", "step_selection",
           "stepper"]

BAR_COLOUR = "#1f77b4"
BAR_WIDTH_PX = 140

# JupyterLab pads table cells to 30 px rows; the activation tables ask for 18 px, so twelve units and
# eight top examples fit on a 1280 x 800 screen beside the pictures. The doubled class outranks
# JupyterLab's single-class rules wherever the page loads them.
TABLE_OPEN = ("<style>.aecourse-table.aecourse-table td, .aecourse-table.aecourse-table th "
              "{padding:1px 6px;line-height:16px}</style>"
              '<table class="aecourse-table" style="border-collapse:collapse;font-family:monospace;font-size:12px">')


# --------------------------------------------------------------------------- rendering helpers
def png_bytes(image, *, cmap: str = "gray", vmin: float | None = None, vmax: float | None = None,
              scale: int = 4) -> bytes:
    """A 2-D array as PNG bytes, each pixel blown up to ``scale`` x ``scale`` (crisp, no blur).

    Uses matplotlib's ``imsave`` (no figure, no pyplot state), so it is fast
    enough to run on every slider move.
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"png_bytes needs a 2-D array (height, width), got shape {image.shape}")
    big = np.kron(image, np.ones((scale, scale)))
    buf = io.BytesIO()
    mpimg.imsave(buf, big, cmap=cmap, vmin=vmin, vmax=vmax, format="png")
    return buf.getvalue()


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


def _strip(images: list[np.ndarray], scale: int) -> bytes:
    """Images side by side, separated by a thin mid-grey line, as one PNG."""
    h = images[0].shape[0]
    gap = np.full((h, 1), 0.5)
    row = np.concatenate([part for img in images for part in (img, gap)][:-1], axis=1)
    return png_bytes(row, vmin=0.0, vmax=1.0, scale=scale)


def _bar(value: float, top: float, colour: str = BAR_COLOUR) -> str:
    width = 0 if top <= 0 else int(round(BAR_WIDTH_PX * max(value, 0.0) / top))
    return (f'<div style="background:{colour};width:{width}px;height:10px;display:inline-block"></div>')


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of PNG bytes, read from the IHDR chunk (``(0, 0)`` for no image)."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return struct.unpack(">II", data[16:24])


def _picture() -> widgets.Image:
    """An empty PNG Image widget without side margins (shrunk to max-width 100%, margins would stick out)."""
    return widgets.Image(format="png", layout=widgets.Layout(margin="4px 0"))


def _show_png(image: widgets.Image, data: bytes) -> None:
    """Put PNG bytes in an Image widget, drawn at their own pixel size but never wider than the output.

    Without an explicit width a picture in a flex column is stretched to the
    column's width (a 112 px feature drew 508 px wide); ``max-width: 100%``
    with ``height: auto`` shrinks a wide strip to fit and keeps its aspect ratio.
    """
    width, _ = png_size(data)
    image.value = data
    image.layout.width = f"{width}px" if width else "0px"
    image.layout.max_width = "100%"
    image.layout.height = "auto"
    image.layout.align_self = "flex-start"  # no stretching across a row or a column either


# --------------------------------------------------------------------------- keyboard stepping
def step_selection(selector: widgets.Dropdown, delta: int) -> int:
    """Move ``selector`` ``delta`` options on (negative: back), wrapping around; returns the new index.

    Wrapping rather than stopping at the ends keeps both buttons enabled: a
    disabled button drops the keyboard focus, and a keyboard user would lose
    their place.
    """
    n = len(selector.options)
    if n == 0:
        raise ValueError("the selector has no options to step through")
    index = selector.index if selector.index is not None else 0
    selector.index = (index + int(delta)) % n
    return selector.index


def stepper(selector: widgets.Dropdown, what: str) -> tuple[widgets.Button, widgets.Button]:
    """A "previous" and a "next" button that step ``selector`` (see :func:`step_selection`).

    Parameters
    ----------
    selector : ipywidgets.Dropdown
        The dropdown the buttons step through.
    what : str
        What the options are ("input", "unit", ...): the buttons read
        "previous <what>" and "next <what>", their accessible names.

    Returns
    -------
    (previous, next) : tuple of ipywidgets.Button
    """
    buttons = []
    for delta, word in ((-1, "previous"), (1, "next")):
        button = widgets.Button(description=f"{word} {what}", tooltip=f"{word} {what} (Space or Enter)",
                                layout=widgets.Layout(width="auto"))
        button.on_click(lambda _, delta=delta: step_selection(selector, delta))
        buttons.append(button)
    return buttons[0], buttons[1]


def _control_row(children: list) -> widgets.HBox:
    """Controls side by side, wrapping onto a second line on a narrow screen rather than overflowing it."""
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap", align_items="center",
                                                        grid_gap="2px 4px"))


# --------------------------------------------------------------------------- input handling
def _as_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().float().numpy()
    try:
        return np.asarray(a, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a tensor or an array, got {type(a).__name__}") from None


def _unpack_inputs(inputs, names, images):
    """Accept a tensor/array, or a dataset with ``.x`` (and ``.names``) or ``.images``."""
    if hasattr(inputs, "x"):  # NamedVectors, SparseFeatures
        if names is None and hasattr(inputs, "names"):
            names = inputs.names
        inputs = inputs.x
    elif hasattr(inputs, "images"):  # LabelledImages
        inputs = inputs.images
    x = torch.as_tensor(_as_numpy(inputs, "inputs"))
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"inputs must be a non-empty batch (n, ...), got shape {tuple(x.shape)}")
    if images is None and x.dim() == 4:  # image inputs show themselves
        images = x
    if images is not None:
        images = _as_numpy(images, "images")
        if images.ndim == 4 and images.shape[1] == 1:
            images = images[:, 0]
        if images.ndim != 3 or len(images) != len(x):
            raise ValueError(f"images must be (n, H, W) or (n, 1, H, W) with n = {len(x)} (one per input), "
                             f"got shape {images.shape}")
    if names is None:
        names = [f"input {i}" for i in range(len(x))]
    names = [str(s) for s in names]
    if len(names) != len(x):
        raise ValueError(f"names has {len(names)} entries for {len(x)} inputs; give one name per input")
    return x, list(names), images


@torch.no_grad()
def _codes_and_features(model, x: torch.Tensor, batch_size: int = 1024):
    """Codes (n, m) for all inputs, and each unit's feature (m, D): what it adds to the output."""
    if not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise TypeError(f"model must have encode() and decode() (an aecourse autoencoder), got {type(model).__name__}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        z = torch.cat([model.encode(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
        if z.dim() != 2:
            raise ValueError(f"model.encode should return codes (n, latent_dim), got shape {tuple(z.shape)}")
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
        self.input_image = _picture() if images is not None else None
        self.top_examples_image = _picture() if images is not None else None
        self.feature_image = _picture()

        # Controls on top, both columns below them: at 1280 x 800 the whole widget (about 500 px)
        # is in view once its top is. The right column may shrink (min_width 0) so the strip of
        # top examples scales down instead of pushing the widget past the output's width.
        controls = _control_row([self.input_selector, self.prev_input_button, self.next_input_button,
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
            style = ' style="opacity:0.35"' if faint else ""
            rows.append(f'<tr data-unit="{j}"{style}><td>{html.escape(self.unit_names[j])}</td>'
                        f'<td style="text-align:right;padding:0 8px">{value:.3f}</td>'
                        f"<td>{_bar(value, self.z_max)}</td></tr>")
        hidden = len(acts) - min(len(acts), self.max_rows)
        more = (f'<tr><td colspan="3" style="opacity:0.6">... and {hidden} more units, '
                f"all at or below {float(acts[order[self.max_rows]]):.3f}</td></tr>") if hidden else ""
        self.table_html.value = (
            f"<div><b>{html.escape(self.names[i])}</b>: {n_active} of {len(acts)} units active (&gt; 0); "
            f"faded rows are below {self.dim_below:.0%} of the strongest</div>"
            + TABLE_OPEN +
            "<tr><th>unit</th><th>activation</th><th></th></tr>" + "".join(rows) + more + "</table>"
        )
        if self.input_image is not None:
            _show_png(self.input_image, png_bytes(self.images[i], vmin=0.0, vmax=1.0, scale=self.scale))

    def show_unit(self, j: int) -> None:
        """Show unit ``j``'s feature and its top-activating inputs."""
        acts = self.z[:, j]
        order = [int(i) for i in np.argsort(-acts, kind="stable")[: self.top_k] if acts[i] > 0]
        _show_png(self.feature_image, _feature_png(self.features[j], self.feature_shape, self.scale))
        if not order:
            self.top_examples.value = (f"<i>{html.escape(self.unit_names[j])} never fires on these "
                                       f"{len(acts)} inputs: a dead unit (here).</i>")
            if self.top_examples_image is not None:
                _show_png(self.top_examples_image, b"")
            return
        rows = "".join(
            f'<tr data-input="{i}"><td>{html.escape(self.names[i])}</td>'
            f'<td style="text-align:right;padding:0 8px">{acts[i]:.3f}</td><td>{_bar(acts[i], self.z_max)}</td></tr>'
            for i in order
        )
        self.top_examples.value = (
            f"<div>{html.escape(self.unit_names[j])} is active on {self.frequency[j]:.1%} of the inputs</div>"
            + TABLE_OPEN +
            "<tr><th>input</th><th>activation</th><th></th></tr>" + rows + "</table>"
        )
        if self.top_examples_image is not None:
            _show_png(self.top_examples_image, _strip([self.images[i] for i in order], self.scale))


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
        A :class:`~aecourse.models.SparseAutoencoder` (its ``dictionary`` gives
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
    for label, value, low in (("top_k", top_k, 1), ("max_rows", max_rows, 1), ("scale", scale, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
    if not 0 <= dim_below <= 1:
        raise ValueError(f"dim_below is a fraction of the strongest activation, in [0, 1]; got {dim_below!r}")
    x, names, images = _unpack_inputs(inputs, names, images)
    z, features = _codes_and_features(model, x)
    m = z.shape[1]
    if unit_names is None:
        unit_names = [f"unit {j}" for j in range(m)]
    unit_names = [str(u) for u in unit_names]
    if len(unit_names) != m:
        raise ValueError(f"unit_names has {len(unit_names)} entries but the model has {m} units")
    feature_shape = None
    if x.dim() == 4 and x.shape[1] == 1 and features.shape[1] == x.shape[2] * x.shape[3]:
        feature_shape = (int(x.shape[2]), int(x.shape[3]))
    return SparseActivationTable(z, features, names, unit_names, images, feature_shape, top_k=top_k,
                                 max_rows=max_rows, dim_below=dim_below, scale=scale)


# --------------------------------------------------------------------------- live latent traversal
__all__ += ["LatentTraversal", "latent_traversal"]


@torch.no_grad()
def _encode_means(model, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Codes (n, latent_dim) of inputs: ``encode_mean`` if the model has it, else ``encode``,
    taking the first element (the posterior mean) when ``encode`` returns ``(mu, logvar)``."""
    encode = getattr(model, "encode_mean", None) or getattr(model, "encode", None)
    if encode is None or not callable(encode):
        raise TypeError(f"inputs= needs a model with encode(x) (or encode_mean(x)) to turn inputs into codes; "
                        f"{type(model).__name__} has neither. Pass z0 instead.")
    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else False
    device = _viz._model_device(model)
    if is_module:
        model.eval()
    try:
        parts = []
        for i in range(0, len(x), batch_size):
            out = encode(x[i:i + batch_size].to(device))
            if isinstance(out, (tuple, list)):  # a VAE's (mu, logvar): the mean is the representation
                out = out[0]
            parts.append(torch.as_tensor(out).detach().cpu().float())
        z = torch.cat(parts)
    finally:
        if is_module:
            model.train(was_training)
    if z.dim() != 2 or len(z) != len(x):
        raise ValueError(f"the model's encoder should return codes (n, latent_dim) (or a tuple whose first "
                         f"element is), got shape {tuple(z.shape)} for {len(x)} inputs")
    return z.numpy()


def _default_latent_dim(model) -> int:
    for owner in (model, getattr(model, "config", None)):
        value = getattr(owner, "latent_dim", None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
            return int(value)
    raise ValueError(f"cannot tell the latent size of {type(model).__name__}; pass z0 (a code to start from) "
                     "or inputs (to encode)")


def _format_measure(name: str, value: float) -> str:
    if not np.isfinite(value):
        return f"{name}: n/a"
    if name == "slant":
        return f"slant: {value:+.3f} rad ({np.degrees(value):+.1f}&deg;)"
    if name in ("thickness", "length"):
        return f"{name}: {value:.2f} px"
    if name == "area":
        return f"area: {value:.1f} px&sup2;"
    return f"{html.escape(name)}: {value:.3g}"


class LatentTraversal(widgets.VBox):
    """Move latents with sliders and watch the decoded image change.

    Build it with :func:`latent_traversal`. Controls and outputs are
    attributes, so code (and tests) can drive it:

    Attributes
    ----------
    sliders : list of ipywidgets.FloatSlider
        One per latent, labelled with its name; moving one decodes one image.
    image : ipywidgets.Image
        The decoded image as a PNG.
    readout : ipywidgets.HTML
        The current code, and the ``measures`` of the decoded image when given.
    measured : dict of str to float
        The latest ``measures`` values (empty without ``measures``).
    reset_button : ipywidgets.Button
        Sets every slider back to the base code ``z0``.
    input_selector : ipywidgets.Dropdown or None
        With ``inputs``: ``.value`` is the index of the input whose code is
        the base code; choosing one moves all sliders to its code.
    prev_input_button, next_input_button : ipywidgets.Button or None
        With ``inputs``: start from the previous / next input (wrapping
        around), for the keyboard.
    random_button : ipywidgets.Button or None
        With ``inputs``: picks a random input as the base code.
    z0 : ndarray, shape (latent_dim,)
        The base code (what reset returns to).
    codes : ndarray (n, latent_dim) or None
        The codes of ``inputs`` (posterior means for a VAE).
    names : list of str
        The latents' labels.
    """

    def __init__(self, model, z0: np.ndarray, names: list[str], *, span: tuple[float, float], step: float,
                 image_shape, scale: int, codes: np.ndarray | None, input_names: list[str] | None,
                 measures, seed: int | None):
        self.model, self.names, self.image_shape, self.scale = model, names, image_shape, scale
        self.codes, self._measures = codes, measures
        self.measured: dict[str, float] = {}
        self._rng = np.random.default_rng(seed)
        self._hold = False  # True while many sliders move at once: decode once at the end
        self._z = np.array(z0, dtype=np.float32)
        self.z0 = self._z.copy()
        self._decoded: np.ndarray | None = None

        low, high = span
        self.sliders = [
            widgets.FloatSlider(value=float(np.clip(v, low, high)), min=low, max=high, step=step, description=name,
                                continuous_update=True, readout_format=".2f",
                                style={"description_width": "initial"}, layout=widgets.Layout(width="320px"))
            for name, v in zip(names, self._z)
        ]
        self.image = widgets.Image(format="png", layout=widgets.Layout(margin="4px 0"))
        self.readout = widgets.HTML()
        self.reset_button = widgets.Button(description="reset", tooltip="sliders back to the base code z0",
                                           icon="undo", layout=widgets.Layout(width="90px"))
        self.input_selector = None
        self.random_button = None
        self.prev_input_button = self.next_input_button = None
        controls = [self.reset_button]
        if codes is not None:
            self.input_selector = widgets.Dropdown(options=[(name, i) for i, name in enumerate(input_names)],
                                                   value=0, description="start from",
                                                   style={"description_width": "initial"},
                                                   layout=widgets.Layout(width="auto", max_width="280px"))
            self.prev_input_button, self.next_input_button = stepper(self.input_selector, "input")
            self.random_button = widgets.Button(description="random", tooltip="start from a random input",
                                                icon="random", layout=widgets.Layout(width="90px"))
            controls = [self.input_selector, self.prev_input_button, self.next_input_button, self.random_button,
                        self.reset_button]
        # The readout is capped in width so a long code (z = [...]) wraps instead of widening the column.
        self.readout.layout = widgets.Layout(max_width="360px")
        super().__init__([
            _control_row(controls),
            widgets.HBox([widgets.VBox(self.sliders, layout=widgets.Layout(margin="0 16px 0 0", flex="0 0 auto")),
                          widgets.VBox([self.image, self.readout], layout=widgets.Layout(min_width="0"))]),
        ], layout=widgets.Layout(max_width="100%"))

        for i, slider in enumerate(self.sliders):
            slider.observe(lambda change, i=i: self._slider_moved(i, change["new"]), names="value")
        self.reset_button.on_click(lambda _: self.reset())
        if codes is not None:
            self.input_selector.observe(lambda change: self.start_from(change["new"]), names="value")
            self.random_button.on_click(lambda _: self.random_input())
        self._set_all(self.z0)

    # -- state -----------------------------------------------------------------

    @property
    def z(self) -> np.ndarray:
        """The current code, shape (latent_dim,) (a copy)."""
        return self._z.copy()

    def decoded(self) -> np.ndarray:
        """The image decoded from the current code, shape (H, W) (a copy)."""
        return self._decoded.copy()

    # -- actions ---------------------------------------------------------------

    def set_latent(self, i: int, value: float) -> None:
        """Set latent ``i`` to ``value``, as moving its slider would (the slider widens to fit)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.sliders):
            raise ValueError(f"latent index must be an integer from 0 to {len(self.sliders) - 1}, got {i!r}")
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"latent value must be finite, got {value!r}")
        self._place(self.sliders[int(i)], value)

    def reset(self) -> None:
        """Every latent back to the base code ``z0``."""
        self._set_all(self.z0)

    def start_from(self, index: int) -> None:
        """Make input ``index``'s code the base code and move the sliders there."""
        if self.codes is None:
            raise ValueError("this traversal was built without inputs=; there is no input to start from")
        if not 0 <= int(index) < len(self.codes):
            raise ValueError(f"input index must be from 0 to {len(self.codes) - 1}, got {index!r}")
        self.z0 = self.codes[int(index)].copy()
        if self.input_selector.value != int(index):
            self.input_selector.value = int(index)  # observed: calls start_from again, which lands here no more
            return
        self.reset()

    def random_input(self) -> int:
        """Start from a random input; returns its index."""
        if self.codes is None:
            raise ValueError("this traversal was built without inputs=; there is no input to pick")
        index = int(self._rng.integers(len(self.codes)))
        self.start_from(index)
        return index

    # -- plumbing --------------------------------------------------------------

    @staticmethod
    def _place(slider: widgets.FloatSlider, value: float) -> None:
        # A FloatSlider clips its value to [min, max]; widen first so the code is exact.
        if value < slider.min:
            slider.min = value
        if value > slider.max:
            slider.max = value
        if slider.value == value:
            return
        slider.value = value

    def _set_all(self, code: np.ndarray) -> None:
        self._hold = True
        try:
            for slider, value in zip(self.sliders, code):
                self._place(slider, float(value))
        finally:
            self._hold = False
        self._z = np.asarray(code, dtype=np.float32).copy()
        self._refresh()

    def _slider_moved(self, i: int, value: float) -> None:
        self._z[i] = value
        if not self._hold:
            self._refresh()

    def _refresh(self) -> None:
        """Decode the current code (one image) and redraw the image and readout."""
        self._decoded = _viz.decode_images(self.model, self._z, image_shape=self.image_shape)[0]
        _show_png(self.image, png_bytes(self._decoded, vmin=0.0, vmax=1.0, scale=self.scale))
        parts = []
        if self._measures is not None:
            values = self._measures(self._decoded[None])
            if not isinstance(values, dict):
                raise TypeError(f"measures must return a dict of name -> value(s), got {type(values).__name__}")
            self.measured = {str(k): float(np.asarray(v, dtype=float).reshape(-1)[0]) for k, v in values.items()}
            shown = [k for k in ("thickness", "slant") if k in self.measured] or list(self.measured)
            parts.append(" &middot; ".join(_format_measure(k, self.measured[k]) for k in shown))
        code = ", ".join(f"{v:+.2f}" for v in self._z)
        parts.append(f'<span style="font-family:monospace;font-size:11px;opacity:0.7">z = [{code}]</span>')
        self.readout.value = "<br>".join(parts)


def latent_traversal(model, z0=None, *, names=None, span: tuple[float, float] = (-3.0, 3.0), step: float = 0.1,
                     image_shape: tuple[int, int] | None = None, scale: int = 4, inputs=None, input_names=None,
                     measures=None, seed: int | None = 0) -> LatentTraversal:
    """A live latent traversal: one slider per latent, the decoded image updating as you move them.

    Start from a code ``z0`` (or an input's code), move one latent, and see
    what it controls: in a disentangled model one slider changes the stroke
    thickness, another the slant, and nothing else. ``measures`` puts numbers
    under the picture (e.g. :func:`aecourse.morphometry.measure`).

    Parameters
    ----------
    model : autoencoder with ``decode`` (and ``encode`` for ``inputs``), or a callable ``decode(z) -> images``
        Decoding runs without gradients, in ``eval`` mode (restored
        afterwards), on the device of the model's parameters; one image per
        slider move.
    z0 : array or Tensor, shape (latent_dim,), optional
        The base code, where the sliders start and where reset returns.
        Default: the first input's code with ``inputs``, else zeros (the
        prior mean of a VAE), sized by ``model.latent_dim``.
    names : list of str, optional
        One label per latent (default ``z0, z1, ...``).
    span : (low, high)
        The sliders' range (absolute latent values; default +-3, three prior
        standard deviations). A code outside it widens that slider.
    step : float
        Slider resolution.
    image_shape : (int, int), optional
        ``(H, W)`` when the decoder returns flat vectors that are not square.
    scale : int
        Each image pixel becomes ``scale`` x ``scale`` screen pixels.
    inputs : Tensor (n, ...) or a dataset with ``.images`` / ``.x``, optional
        Inputs to start from: they are encoded once (``model.encode_mean`` if
        the model has it; otherwise ``model.encode``, whose first element is
        taken when it returns ``(mu, logvar)``), and a dropdown, its
        "previous input" / "next input" buttons and a "random" button choose
        the base code among them.
    input_names : list of str, optional
        Labels for the inputs (default ``"input i"``).
    measures : callable, optional
        ``measures(images (1, H, W)) -> dict`` of name to value(s), shown
        live under the image (thickness and slant first when present) and
        kept in ``.measured``.
    seed : int or None
        Seed of the "random" button.

    Returns
    -------
    LatentTraversal
        An ipywidgets ``VBox``; drive it with ``.set_latent(i, value)`` or
        the ``.sliders``, read ``.z`` and ``.decoded()``.

    Examples
    --------
    >>> from aecourse.morphometry import measure
    >>> w = latent_traversal(vae, inputs=test.images[:50], measures=measure)
    >>> w.set_latent(3, 2.0)          # move latent 3 to +2
    >>> w.measured["thickness"]       # stroke width of the decoded image, pixels
    """
    _viz._decode_function(model)  # fail early on a model that cannot decode
    low, high = _viz._check_span(span)
    if isinstance(step, bool) or not isinstance(step, (int, float, np.floating)) or not 0 < step <= high - low:
        raise ValueError(f"step must be a number in (0, {high - low}] (the span's width), got {step!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    if measures is not None and not callable(measures):
        raise TypeError(f"measures must be a callable images -> dict (like aecourse.morphometry.measure), "
                        f"got {type(measures).__name__}")
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be a pair of positive integers (H, W), got {image_shape!r}")

    codes = None
    if inputs is not None:
        x, input_names, _ = _unpack_inputs(inputs, input_names, None)
        codes = _encode_means(model, x)
    if z0 is None:
        z0 = codes[0] if codes is not None else np.zeros(_default_latent_dim(model), dtype=np.float32)
    base = _viz._as_codes(z0, "z0")
    if len(base) != 1:
        raise ValueError(f"z0 must be a single code (latent_dim,), got {len(base)} codes")
    base = base[0]
    if codes is not None and codes.shape[1] != len(base):
        raise ValueError(f"z0 has {len(base)} latents but the model encodes inputs to {codes.shape[1]}")
    names = _viz._latent_names(names, len(base))
    return LatentTraversal(model, base, names, span=(low, high), step=float(step), image_shape=image_shape,
                           scale=int(scale), codes=codes, input_names=input_names, measures=measures, seed=seed)


# --------------------------------------------------------------------------- interventions and responses
__all__ += ["InterventionExplorer", "intervention_explorer"]

HIGHLIGHT_COLOUR = "#d62728"
OTHER_COLOUR = "#9aa5b1"


class _ResponseBars:
    """The bar chart of |R(z_int) - R(z0)| per latent, the intervened latent in red, as PNG bytes.

    One figure per explorer, redrawn in place and drawn once per move:
    building, laying out and saving a new figure each time took two to four
    times as long (measured on a busy 2-core machine).
    """

    def __init__(self, names: list[str]):
        n = len(names)
        self.fig = Figure(figsize=(max(2.6, 0.38 * n + 0.8), 2.1), dpi=80)  # no pyplot: no global state
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot()
        self.bars = self.ax.bar(np.arange(n), np.zeros(n), color=OTHER_COLOUR)
        self.ax.set_xticks(np.arange(n), names, fontsize=7, rotation=90 if n > 12 else 0)
        self.ax.set_ylabel("|R(z) - R(z0)|", fontsize=7)
        self.ax.tick_params(axis="y", labelsize=6)
        self.ax.set_ylim(0, 1.0)
        self.fig.tight_layout()  # once: tick labels keep their width (two decimals) as the scale changes

    def png(self, responses: np.ndarray, dim: int) -> tuple[bytes, list[str]]:
        """Draw ``responses`` with latent ``dim`` highlighted; returns the PNG and each bar's colour."""
        colours = [HIGHLIGHT_COLOUR if j == dim else OTHER_COLOUR for j in range(len(responses))]
        for bar, height, colour in zip(self.bars, responses, colours):
            bar.set_height(float(height))
            bar.set_color(colour)
        self.ax.set_ylim(0, max(0.1, 1.15 * float(responses.max())))  # a floor, so round-off noise is not blown up
        # One draw, then the pixels as PNG: savefig would lay the figure out and draw it twice.
        self.canvas.draw()
        buf = io.BytesIO()
        mpimg.imsave(buf, np.asarray(self.canvas.buffer_rgba()), format="png")
        return buf.getvalue(), colours


class InterventionExplorer(widgets.VBox):
    """Intervene on one latent and watch the image and every latent's response.

    Build it with :func:`intervention_explorer`. The intervened code is
    ``z_int = z0`` with latent ``dim`` set to ``value``; the image is
    ``decode(z_int)`` and the bars are ``|R(z_int) - R(z0)|`` per latent,
    with ``R(z) = encode(decode(z))`` (:func:`aecourse.interventions.latent_response`).

    Attributes
    ----------
    dim_selector : ipywidgets.Dropdown
        ``.value`` is the intervened latent; choosing another keeps the
        slider's value (the new latent is set to it).
    prev_dim_button, next_dim_button : ipywidgets.Button
        Intervene on the previous / next latent (wrapping around), for the keyboard.
    slider : ipywidgets.FloatSlider
        The value the intervened latent is set to.
    image : ipywidgets.Image
        ``decode(z_int)`` as a PNG.
    response_image : ipywidgets.Image
        The bar chart of responses as a PNG (intervened latent in red).
    readout : ipywidgets.HTML
        The intervention and the latents that respond most.
    bar_colours : list of str
        Colour of each bar in the latest chart (``HIGHLIGHT_COLOUR`` for the intervened latent).
    z0 : ndarray, shape (d,)
        The base code.
    names : list of str
    """

    def __init__(self, model, z0: np.ndarray, names: list[str], *, span: tuple[float, float], step: float,
                 image_shape, scale: int):
        self.model, self.names, self.image_shape, self.scale = model, names, image_shape, scale
        self._respond = lambda z: _iv.latent_response(model, z[None])[0].numpy().astype(np.float64)
        self.z0 = np.asarray(z0, dtype=np.float32).copy()
        self._base_response = self._respond(self.z0)
        self._decoded: np.ndarray | None = None
        self._responses = np.zeros(len(self.z0))
        self.bar_colours: list[str] = []
        self._hold = False  # True while both controls move at once: draw once at the end
        self._bars = _ResponseBars(names)

        low, high = span
        self.dim_selector = widgets.Dropdown(options=[(name, j) for j, name in enumerate(names)], value=0,
                                             description="intervene on", style={"description_width": "initial"},
                                             layout=widgets.Layout(width="auto", max_width="240px"))
        self.prev_dim_button, self.next_dim_button = stepper(self.dim_selector, "latent")
        self.slider = widgets.FloatSlider(value=float(np.clip(self.z0[0], low, high)), min=low, max=high, step=step,
                                          description="value", continuous_update=True, readout_format=".2f",
                                          layout=widgets.Layout(width="320px"))
        self.image = widgets.Image(format="png", layout=widgets.Layout(margin="4px 16px 4px 0"))
        self.response_image = widgets.Image(format="png", layout=widgets.Layout(margin="4px 0"))
        self.readout = widgets.HTML()
        super().__init__([
            _control_row([self.dim_selector, self.prev_dim_button, self.next_dim_button, self.slider]),
            widgets.HBox([self.image, widgets.VBox([widgets.HTML("<b>response of each latent</b>"),
                                                    self.response_image], layout=widgets.Layout(min_width="0"))]),
            self.readout,
        ], layout=widgets.Layout(max_width="100%"))
        self.dim_selector.observe(lambda change: self._control_moved(), names="value")
        self.slider.observe(lambda change: self._control_moved(), names="value")
        self._refresh()

    # -- state -----------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The intervened latent; setting it redraws."""
        return int(self.dim_selector.value)

    @dim.setter
    def dim(self, j: int) -> None:
        self.set_intervention(j, self.value)

    @property
    def value(self) -> float:
        """The value the intervened latent is set to; setting it redraws (the slider widens to fit)."""
        return float(self.slider.value)

    @value.setter
    def value(self, v: float) -> None:
        self.set_intervention(self.dim, v)

    @property
    def z(self) -> np.ndarray:
        """The intervened code ``z_int``, shape (d,) (a copy)."""
        z = self.z0.copy()
        z[self.dim] = self.value
        return z

    @property
    def responses(self) -> np.ndarray:
        """``|R(z_int) - R(z0)|`` per latent, shape (d,) (a copy)."""
        return self._responses.copy()

    @property
    def decoded(self) -> np.ndarray:
        """``decode(z_int)`` as an image, shape (H, W) (a copy)."""
        return self._decoded.copy()

    def set_intervention(self, dim: int, value: float) -> None:
        """Intervene on latent ``dim`` with ``value``, redrawing once."""
        dim = _viz._check_dim(dim, len(self.z0))
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"the intervention value must be finite, got {value!r}")
        self._hold = True
        try:
            self.dim_selector.value = dim
            LatentTraversal._place(self.slider, value)  # widens the slider to fit, so the value is exact
        finally:
            self._hold = False
        self._refresh()

    # -- plumbing --------------------------------------------------------------

    def _control_moved(self) -> None:
        if not self._hold:
            self._refresh()

    def _refresh(self) -> None:
        """Decode and respond to the current intervention; redraw image, bars and readout."""
        z = self.z
        self._decoded = _viz.decode_images(self.model, z, image_shape=self.image_shape)[0]
        self._responses = np.abs(self._respond(z) - self._base_response)
        _show_png(self.image, png_bytes(self._decoded, vmin=0.0, vmax=1.0, scale=self.scale))
        bars, self.bar_colours = self._bars.png(self._responses, self.dim)
        _show_png(self.response_image, bars)
        order = [j for j in np.argsort(-self._responses, kind="stable") if j != self.dim][:3]
        others = ", ".join(f"{html.escape(self.names[j])} {self._responses[j]:.2f}" for j in order)
        self.readout.value = (
            f"do({html.escape(self.names[self.dim])} = {self.value:+.2f}), from {self.z0[self.dim]:+.2f}: "
            f"its own response {self._responses[self.dim]:.2f}"
            + (f"; largest other responses: {others}" if others else ""))


def intervention_explorer(model, z0=None, *, names=None, span: tuple[float, float] = (-3.0, 3.0), step: float = 0.1,
                          image_shape: tuple[int, int] | None = None, scale: int = 4) -> InterventionExplorer:
    """Intervene on a latent with a slider; see the decoded image and how every latent responds.

    Starting from a base code ``z0``, set one latent to a new value
    (``do(z_j = v)``), decode, and encode the image again: the bars show
    ``|R(z_int) - R(z0)|`` per latent, ``R(z) = encode(decode(z))``. In a
    disentangled model only the intervened latent responds (its bar, in
    red); a latent the decoder ignores gives no response at all, not even
    its own; a dependence between latents shows as other bars rising.

    Parameters
    ----------
    model : autoencoder with ``encode`` and ``decode``
        Runs without gradients, in ``eval`` mode (restored afterwards).
    z0 : array or Tensor, shape (d,), optional
        The base code (default: zeros, the prior mean, sized by ``model.latent_dim``).
    names : list of str, optional
        One label per latent (default ``z0, z1, ...``).
    span : (low, high)
        The slider's range (absolute values of the intervened latent).
    step : float
        Slider resolution.
    image_shape : (int, int), optional
        ``(H, W)`` when the decoder returns flat vectors that are not square.
    scale : int
        Each image pixel becomes ``scale`` x ``scale`` screen pixels.

    Returns
    -------
    InterventionExplorer
        An ipywidgets ``VBox``; drive it with ``.set_intervention(dim, value)``
        (or ``.dim`` / ``.value``), read ``.responses`` and ``.decoded``.

    Examples
    --------
    >>> w = intervention_explorer(zoo.load("dsprites_beta_tcvae"))
    >>> w.set_intervention(3, 2.0)      # do(z3 = 2)
    >>> w.responses.argmax()            # which latent responds most
    """
    _viz._decode_function(model)  # fail early on a model that cannot decode
    if not callable(getattr(model, "encode", None)):
        raise TypeError(f"model must have encode() as well as decode() to measure responses; "
                        f"{type(model).__name__} has no encode()")
    low, high = _viz._check_span(span)
    if isinstance(step, bool) or not isinstance(step, (int, float, np.floating)) or not 0 < step <= high - low:
        raise ValueError(f"step must be a number in (0, {high - low}] (the span's width), got {step!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be a pair of positive integers (H, W), got {image_shape!r}")
    if z0 is None:
        z0 = np.zeros(_default_latent_dim(model), dtype=np.float32)
    base = _viz._as_codes(z0, "z0")
    if len(base) != 1:
        raise ValueError(f"z0 must be a single code (latent_dim,), got {len(base)} codes")
    names = _viz._latent_names(names, base.shape[1])
    return InterventionExplorer(model, base[0], names, span=(low, high), step=float(step), image_shape=image_shape,
                                scale=int(scale))
