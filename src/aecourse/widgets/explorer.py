"""The intervention explorer (chapter 06-interventions): set one latent to a value and see how every latent responds.

What it shows: starting from a base code ``z0``, the intervention ``do(z_j = v)`` sets
latent ``j`` to ``v``; the widget shows the decoded image ``decode(z_int)`` and a bar per
latent of ``|R(z_int) - R(z0)|`` with ``R(z) = encode(decode(z))``
(:func:`aecourse.interventions.latent_response`), the intervened latent's bar in red, and
a line naming the latents that respond most. In a disentangled model only the intervened
latent responds; a latent the decoder ignores gives no response at all, not even its own.

From Python::

    w = intervention_explorer(zoo.load("dsprites_beta_tcvae"))
    w.set_intervention(3, 2.0)      # do(z3 = 2), redrawn once
    w.responses.argmax()            # which latent responds most
    w.dim, w.value = 1, -1.5        # the same through the properties
    w.next_dim_button.click()       # what the keyboard's "next latent" does

From the keyboard: Tab reaches the "intervene on" dropdown, its "previous latent" /
"next latent" buttons (Space or Enter presses them; the choice wraps around) and the
slider's handle, which the left and right arrow keys move one step.
"""

from __future__ import annotations

import html
import io

import ipywidgets as widgets
import numpy as np
from matplotlib import image as mpimg
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..contracts import Autoencoder, check_number, require
from ..interventions import latent_response
from ..viz import decode_images, latent_index, latent_names, single_code
from ..viz.alt import num
from .common import (WIDGET_CLASS, NamedSliders, control_row, default_latent_dim, picture, place_slider, png_bytes,
                     show_png, slider_settings, stepper)

__all__ = ["InterventionExplorer", "intervention_explorer", "HIGHLIGHT_COLOUR", "OTHER_COLOUR"]

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


class InterventionExplorer(NamedSliders, widgets.VBox):
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
        self._respond = lambda z: latent_response(model, z[None])[0].numpy().astype(np.float64)
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
        self.image = picture(margin="4px 16px 4px 0")
        self.response_image = picture()
        self.readout = widgets.HTML()
        super().__init__([
            control_row([self.dim_selector, self.prev_dim_button, self.next_dim_button, self.slider]),
            widgets.HBox([self.image, widgets.VBox([widgets.HTML("<b>response of each latent</b>"),
                                                    self.response_image], layout=widgets.Layout(min_width="0"))]),
            self.readout,
        ], layout=widgets.Layout(max_width="100%"))
        self.add_class(WIDGET_CLASS)
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
        dim = latent_index(dim, len(self.z0))
        value = check_number("value", float(value), fix="the value the intervened latent is set to")
        self._hold = True
        try:
            self.dim_selector.value = dim
            place_slider(self.slider, value)  # widens the slider to fit, so the value is exact
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
        self._decoded = decode_images(self.model, z, image_shape=self.image_shape)[0]
        self._responses = np.abs(self._respond(z) - self._base_response)
        name = self.names[self.dim]
        h, w = self._decoded.shape
        show_png(self.image, png_bytes(self._decoded, vmin=0.0, vmax=1.0, scale=self.scale),
                 alt=f"Decoded image ({h}x{w} pixels, mean brightness {num(self._decoded.mean())}) of the base code "
                     f"with do({name} = {self.value:+.2f})")
        bars, self.bar_colours = self._bars.png(self._responses, self.dim)
        order = [j for j in np.argsort(-self._responses, kind="stable") if j != self.dim][:3]
        show_png(self.response_image, bars,
                 alt=f"Bar chart of each latent's response |R(z) - R(z0)| to do({name} = {self.value:+.2f}): "
                     + ", ".join(f"{n} {num(r)}" + (" (intervened, red)" if j == self.dim else "")
                                 for j, (n, r) in enumerate(zip(self.names, self._responses))))
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
    require(model, Autoencoder, fix="the explorer measures responses R(z) = encode(decode(z))")
    low, high, step, scale, image_shape = slider_settings(span, step, scale, image_shape)
    if z0 is None:
        z0 = np.zeros(default_latent_dim(model), dtype=np.float32)
    base = single_code(z0, "z0")
    names = latent_names(names, len(base))
    return InterventionExplorer(model, base, names, span=(low, high), step=step, image_shape=image_shape,
                                scale=scale)
