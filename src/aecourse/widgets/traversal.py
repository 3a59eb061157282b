"""The live latent traversal (chapter 04-disentangle): one slider per latent, the decoded image following them.

What it shows: the image decoded from the current code, with the code itself under it
and, given ``measures`` (e.g. :func:`aecourse.morphometry.measure`), numbers such as the
stroke thickness and slant of that image. In a disentangled model one slider changes the
thickness, another the slant, and nothing else. With ``inputs`` a dropdown chooses the
input whose code the sliders start from. Every move decodes one image.

From Python::

    w = latent_traversal(vae, inputs=test.images[:50], measures=measure)
    w.set_latent(3, 2.0)            # move latent 3 to +2 (the slider widens to fit)
    w.decoded()                     # the decoded image, (H, W)
    w.measured["thickness"]         # its stroke width, pixels
    w.start_from(7); w.reset()      # start from input 7's code; back to the base code

From the keyboard: Tab reaches the "start from" dropdown, its "previous input" / "next
input" buttons, "random" and "reset" (Space or Enter presses them), then each slider's
handle, which the left and right arrow keys move one step.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from ..contracts import check_number, invalid
from ..viz import decode_function, decode_images, latent_index, latent_names, model_device, single_code
from ..viz.alt import num
from .common import (WIDGET_CLASS, NamedSliders, control_row, default_latent_dim, picture, place_slider, png_bytes,
                     show_png, slider_settings, stepper, unpack_inputs)

__all__ = ["LatentTraversal", "latent_traversal"]


@torch.no_grad()
def _encode_means(model, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Codes (n, latent_dim) of inputs: ``encode_mean`` if the model has it, else ``encode``,
    taking the first element (the posterior mean) when ``encode`` returns ``(mu, logvar)``."""
    encode = getattr(model, "encode_mean", None) or getattr(model, "encode", None)
    if encode is None or not callable(encode):
        raise invalid("model", "a model with encode(x) (or encode_mean(x)) to turn inputs= into codes",
                      f"{type(model).__name__}, which has neither", "pass z0 instead", error=TypeError, shown=True)
    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else False
    device = model_device(model)
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
        raise invalid("model.encode(x)", "codes (n, latent_dim) (or a tuple whose first element is)",
                      f"shape {tuple(z.shape)} for {len(x)} inputs", shown=True)
    return z.numpy()


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


class LatentTraversal(NamedSliders, widgets.VBox):
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
        self.image = picture()
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
            control_row(controls),
            widgets.HBox([widgets.VBox(self.sliders, layout=widgets.Layout(margin="0 16px 0 0", flex="0 0 auto")),
                          widgets.VBox([self.image, self.readout], layout=widgets.Layout(min_width="0"))]),
        ], layout=widgets.Layout(max_width="100%"))

        self.add_class(WIDGET_CLASS)
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
        i = latent_index(i, len(self.sliders), "i")
        value = check_number("value", float(value), fix="a latent value")
        place_slider(self.sliders[i], value)

    def reset(self) -> None:
        """Every latent back to the base code ``z0``."""
        self._set_all(self.z0)

    def start_from(self, index: int) -> None:
        """Make input ``index``'s code the base code and move the sliders there."""
        if self.codes is None:
            raise ValueError("this traversal was built without inputs=; there is no input to start from")
        if not 0 <= int(index) < len(self.codes):
            raise invalid("index", f"an input index from 0 to {len(self.codes) - 1}", index)
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

    def _set_all(self, code: np.ndarray) -> None:
        self._hold = True
        try:
            for slider, value in zip(self.sliders, code):
                place_slider(slider, float(value))
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
        self._decoded = decode_images(self.model, self._z, image_shape=self.image_shape)[0]
        parts, said = [], []
        if self._measures is not None:
            values = self._measures(self._decoded[None])
            if not isinstance(values, dict):
                raise invalid("measures(images)", "a dict of name -> value(s)", type(values).__name__,
                              error=TypeError, shown=True)
            self.measured = {str(k): float(np.asarray(v, dtype=float).reshape(-1)[0]) for k, v in values.items()}
            shown = [k for k in ("thickness", "slant") if k in self.measured] or list(self.measured)
            parts.append(" &middot; ".join(_format_measure(k, self.measured[k]) for k in shown))
            said = [f"{k} {num(self.measured[k])}" for k in shown]
        code = ", ".join(f"{v:+.2f}" for v in self._z)
        h, w = self._decoded.shape
        named = ", ".join(f"{name} {v:+.2f}" for name, v in zip(self.names, self._z))
        show_png(self.image, png_bytes(self._decoded, vmin=0.0, vmax=1.0, scale=self.scale),
                 alt=f"Decoded image ({h}x{w} pixels, mean brightness {num(self._decoded.mean())}) of the code "
                     f"{named}" + (f"; measured {', '.join(said)}" if said else ""))
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
    decode_function(model)  # fail early on a model that cannot decode
    low, high, step, scale, image_shape = slider_settings(span, step, scale, image_shape)
    if measures is not None and not callable(measures):
        raise invalid("measures", "a callable images -> dict (like aecourse.morphometry.measure)",
                      type(measures).__name__, error=TypeError, shown=True)

    codes = None
    if inputs is not None:
        x, input_names, _ = unpack_inputs(inputs, input_names, None)
        codes = _encode_means(model, x)
    if z0 is None:
        z0 = codes[0] if codes is not None else np.zeros(default_latent_dim(model), dtype=np.float32)
    base = single_code(z0, "z0")
    if codes is not None and codes.shape[1] != len(base):
        raise invalid("z0", f"a code of the {codes.shape[1]} latents the model encodes inputs to",
                      f"{len(base)} latents", shown=True)
    names = latent_names(names, len(base))
    return LatentTraversal(model, base, names, span=(low, high), step=step, image_shape=image_shape,
                           scale=scale, codes=codes, input_names=input_names, measures=measures, seed=seed)
