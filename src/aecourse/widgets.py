"""Interactive views of what a model's units do (ipywidgets).

Each widget is built by a function that returns it, so a notebook cell that
ends with the call shows it, and tests drive it from Python without a
browser: set a control's ``.value``, then read the HTML string or the PNG
bytes of the outputs. Static figures (heatmaps, histograms, sweeps) live in
:mod:`aecourse.figures_sparse`.

- :func:`sparse_activation_table` -- pick an input, see which units fire and
  how strongly; pick a unit, see the inputs that make it fire most and the
  feature it writes.
"""

from __future__ import annotations

import html
import io

import ipywidgets as widgets
from matplotlib import image as mpimg
import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["SparseActivationTable", "sparse_activation_table", "png_bytes"]

BAR_COLOUR = "#1f77b4"
BAR_WIDTH_PX = 140


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
class SparseActivationTable(widgets.HBox):
    """Explore a sparse code: which units an input turns on, and what turns a unit on.

    Build it with :func:`sparse_activation_table`. Controls and outputs are
    attributes, so code (and tests) can drive it:

    Attributes
    ----------
    input_selector : ipywidgets.Dropdown
        ``.value`` is the index of the selected input.
    unit_selector : ipywidgets.Dropdown
        ``.value`` is the index of the selected unit.
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

        self.input_selector = widgets.Dropdown(options=[(name, i) for i, name in enumerate(names)], value=0,
                                               description="input")
        self.unit_selector = widgets.Dropdown(
            options=[(f"{unit_names[j]} (fires on {self.frequency[j]:.0%})", j) for j in range(z.shape[1])],
            value=int(np.argmax(z[0])), description="unit")
        self.table_html = widgets.HTML()
        self.top_examples = widgets.HTML()
        image_layout = widgets.Layout(margin="4px 0")
        self.input_image = widgets.Image(format="png", layout=image_layout) if images is not None else None
        self.top_examples_image = widgets.Image(format="png", layout=image_layout) if images is not None else None
        self.feature_image = widgets.Image(format="png", layout=image_layout)

        left = [self.input_selector] + ([self.input_image] if self.input_image else []) + [self.table_html]
        right = ([self.unit_selector, widgets.HTML("<b>feature it writes</b> (decoder column)"), self.feature_image,
                  widgets.HTML("<b>inputs that make it fire most</b>")]
                 + ([self.top_examples_image] if self.top_examples_image else []) + [self.top_examples])
        super().__init__([widgets.VBox(left, layout=widgets.Layout(margin="0 24px 0 0")), widgets.VBox(right)])

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
            '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">'
            "<tr><th>unit</th><th>activation</th><th></th></tr>" + "".join(rows) + more + "</table>"
        )
        if self.input_image is not None:
            self.input_image.value = png_bytes(self.images[i], vmin=0.0, vmax=1.0, scale=self.scale)

    def show_unit(self, j: int) -> None:
        """Show unit ``j``'s feature and its top-activating inputs."""
        acts = self.z[:, j]
        order = [int(i) for i in np.argsort(-acts, kind="stable")[: self.top_k] if acts[i] > 0]
        self.feature_image.value = _feature_png(self.features[j], self.feature_shape, self.scale)
        if not order:
            self.top_examples.value = (f"<i>{html.escape(self.unit_names[j])} never fires on these "
                                       f"{len(acts)} inputs: a dead unit (here).</i>")
            if self.top_examples_image is not None:
                self.top_examples_image.value = b""
            return
        rows = "".join(
            f'<tr data-input="{i}"><td>{html.escape(self.names[i])}</td>'
            f'<td style="text-align:right;padding:0 8px">{acts[i]:.3f}</td><td>{_bar(acts[i], self.z_max)}</td></tr>'
            for i in order
        )
        self.top_examples.value = (
            f"<div>{html.escape(self.unit_names[j])} is active on {self.frequency[j]:.1%} of the inputs</div>"
            '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">'
            "<tr><th>input</th><th>activation</th><th></th></tr>" + rows + "</table>"
        )
        if self.top_examples_image is not None:
            self.top_examples_image.value = _strip([self.images[i] for i in order], self.scale)


def sparse_activation_table(model, inputs, *, names=None, images=None, unit_names=None, top_k: int = 8,
                            max_rows: int = 12, dim_below: float = 0.1, scale: int = 4) -> SparseActivationTable:
    """An interactive activation table for a (sparse) autoencoder.

    Left: choose an input; its units are listed strongest first with bars
    (near-zero ones faded), so you see how few fire. Right: choose a unit;
    see the feature it writes into the reconstruction and the inputs that
    make it fire most.

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
        An ipywidgets ``HBox``; see its attributes to drive it from code.

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
