"""What the three widgets share: PNG pictures, previous/next steppers, layout rows, input unpacking.

- Pictures: :func:`png_bytes` turns a 2-D array into crisp PNG bytes (matplotlib's
  ``imsave``, no figure, fast enough for every slider move), :func:`png_size` reads a PNG's
  size back, and :func:`show_png` puts the bytes in an ``Image`` drawn at its own pixel size
  and never wider than the output area, with an alt text that says what it shows (the
  ``<img>``'s ``title``: ipywidgets' ``Image`` has no ``alt``, see :class:`DescribedImage`).
- Keyboard: :func:`stepper` gives a dropdown a "previous" and a "next" button (Tab to reach
  them, Space or Enter to press), because ArrowDown in a focused dropdown can move
  JupyterLab's cell selection instead of the option (an ipywidgets bug);
  :func:`step_selection` is what they do, wrapping around so neither button ever disables
  (a disabled button drops the keyboard focus).
- Slider names: ipywidgets 8 gives a slider's handle (``role="slider"``) no accessible name (its
  SliderView never passes noUiSlider's ``handleAttributes``; the visible description is a
  ``<label>`` tied to nothing), so a screen reader says "slider, 0.3" and axe-core reports
  ``aria-input-field-name``. :class:`NamedSliders` (a mix-in of the widgets with sliders) displays,
  after the widget, a small script that names every slider handle inside an aecourse widget
  after its visible description (``aria-label``) and keeps doing so as sliders are redrawn. It runs
  where the output is trusted (the session that ran the cell: JupyterLab, Notebook 7); a notebook
  reopened untrusted drops it and shows nothing in its place.
- Layout: :func:`control_row` lays controls side by side and wraps them on a narrow screen.
- Inputs: :func:`unpack_inputs` accepts a tensor or array, or a dataset with ``.x`` (and
  ``.names``) or ``.images``; :func:`slider_settings` checks a span, a step, a scale and an
  image shape in the one message shape of :mod:`aecourse.contracts`.
"""

from __future__ import annotations

import io
import struct

import ipywidgets as widgets
import numpy as np
from matplotlib import image as mpimg
from traitlets import Unicode

from ..contracts import as_array, as_tensor, check_int, check_number, invalid
from ..viz import check_span

__all__ = ["png_bytes", "png_size", "DescribedImage", "picture", "show_png", "WIDGET_CLASS", "SLIDER_NAMES_JS",
           "NamedSliders", "step_selection", "stepper", "control_row",
           "place_slider", "unpack_inputs", "default_latent_dim", "slider_settings"]


# --------------------------------------------------------------------------- pictures
def png_bytes(image, *, cmap: str = "gray", vmin: float | None = None, vmax: float | None = None,
              scale: int = 4) -> bytes:
    """A 2-D array as PNG bytes, each pixel blown up to ``scale`` x ``scale`` (crisp, no blur).

    Uses matplotlib's ``imsave`` (no figure, no pyplot state), so it is fast
    enough to run on every slider move.
    """
    image = as_array(image, "image", finite=False)
    if image.ndim != 2:
        raise invalid("png_bytes(image)", "a 2-D array (height, width)", f"shape {image.shape}", shown=True)
    big = np.kron(image, np.ones((scale, scale)))
    buf = io.BytesIO()
    mpimg.imsave(buf, big, cmap=cmap, vmin=vmin, vmax=vmax, format="png")
    return buf.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of PNG bytes, read from the IHDR chunk (``(0, 0)`` for no image)."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return struct.unpack(">II", data[16:24])


class DescribedImage(widgets.Image):
    """An ipywidgets ``Image`` whose ``tooltip`` becomes its ``<img>``'s ``title``: its accessible name.

    ipywidgets 8 draws an ``Image`` as a bare ``<img>`` with no ``alt`` trait; its views set a
    ``title`` from ``tooltip`` only when the model's ``description`` is empty, and an ``Image`` has
    no ``description`` at all (the view then fails on it). This one syncs an empty
    ``description``, so the tooltip reaches the ``<img>`` as ``title``, which screen readers read
    and axe-core's ``image-alt`` rule accepts.
    """

    description = Unicode("", help="always empty: lets the front end turn the tooltip into the title").tag(sync=True)

    @property
    def alt(self) -> str:
        """What the picture shows (the tooltip)."""
        return self.tooltip or ""


def picture(margin: str = "4px 0", alt: str = "") -> DescribedImage:
    """An empty PNG image widget, by default without side margins (shrunk to max-width 100%, they would stick out)."""
    return DescribedImage(format="png", layout=widgets.Layout(margin=margin), tooltip=alt or None)


def show_png(image: widgets.Image, data: bytes, alt: str | None = None) -> None:
    """Put PNG bytes in an Image widget, drawn at their own pixel size but never wider than the output.

    Without an explicit width a picture in a flex column is stretched to the
    column's width (a 112 px feature drew 508 px wide); ``max-width: 100%``
    with ``height: auto`` shrinks a wide strip to fit and keeps its aspect ratio.
    ``alt`` (what the picture shows, with its data) becomes the image's tooltip and accessible
    name (:class:`DescribedImage`).
    """
    width, _ = png_size(data)
    if alt is not None:
        image.tooltip = " ".join(alt.split())
    image.value = data
    image.layout.width = f"{width}px" if width else "0px"
    image.layout.max_width = "100%"
    image.layout.height = "auto"
    image.layout.align_self = "flex-start"  # no stretching across a row or a column either


# --------------------------------------------------------------------------- accessible names of sliders
WIDGET_CLASS = "aecourse-widget"  # the CSS class of every aecourse widget's outer box

# Names each slider handle inside an aecourse widget after the slider's visible description; one observer per
# page (later displays only re-run the naming), coalesced to one pass per animation frame.
SLIDER_NAMES_JS = """<script>
(() => {
  if (window.aecourseNameSliders) { window.aecourseNameSliders(); return; }
  const name = () => document.querySelectorAll('.%(cls)s .widget-slider').forEach(slider => {
    const label = slider.querySelector('.widget-label');
    const text = label ? label.textContent.trim() : '';
    if (!text) return;
    slider.querySelectorAll('.noUi-handle').forEach(h => {
      if (h.getAttribute('aria-label') !== text) h.setAttribute('aria-label', text);
    });
  });
  let pending = false;
  const soon = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; name(); }); } };
  window.aecourseNameSliders = name;
  new MutationObserver(soon).observe(document.body, {childList: true, subtree: true});
  name();
})();
</script>""" % {"cls": WIDGET_CLASS}


class NamedSliders:
    """Mix-in for a widget with sliders: displaying it also displays :data:`SLIDER_NAMES_JS` (see the module docstring).

    ``.slider_names()`` is what each handle is named: the sliders' descriptions.
    """

    def _ipython_display_(self):
        from IPython.display import HTML, display

        display(self._repr_mimebundle_(), raw=True)
        display(HTML(SLIDER_NAMES_JS))

    def slider_names(self) -> list[str]:
        """The accessible name each slider handle gets: its description."""
        sliders = (widgets.FloatSlider, widgets.IntSlider, widgets.FloatLogSlider)
        return [w.description for w in _descendants(self) if isinstance(w, sliders)]


def _descendants(widget) -> list:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out.extend(_descendants(child))
    return out


# --------------------------------------------------------------------------- keyboard stepping
def step_selection(selector: widgets.Dropdown, delta: int) -> int:
    """Move ``selector`` ``delta`` options on (negative: back), wrapping around; returns the new index.

    Wrapping rather than stopping at the ends keeps both buttons enabled: a
    disabled button drops the keyboard focus, and a keyboard user would lose
    their place.
    """
    n = len(selector.options)
    if n == 0:
        raise invalid("selector", "a dropdown with options to step through", "one with no options", shown=True)
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


def place_slider(slider: widgets.FloatSlider, value: float) -> None:
    """Set ``slider`` to ``value`` exactly, widening its range first when the value lies outside it.

    A FloatSlider clips its value to ``[min, max]``; a code outside the span would
    otherwise be shown (and decoded) as the nearest end.
    """
    if value < slider.min:
        slider.min = value
    if value > slider.max:
        slider.max = value
    if slider.value == value:
        return
    slider.value = value


# --------------------------------------------------------------------------- layout
def control_row(children: list) -> widgets.HBox:
    """Controls side by side, wrapping onto a second line on a narrow screen rather than overflowing it."""
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap", align_items="center",
                                                        grid_gap="2px 4px"))


# --------------------------------------------------------------------------- inputs and arguments
def unpack_inputs(inputs, names, images):
    """``(x, names, images)`` from a tensor/array, or a dataset with ``.x`` (and ``.names``) or ``.images``.

    ``x`` is a float32 tensor ``(n, ...)``; ``names`` one string per input (default
    ``"input i"``); ``images`` ``(n, H, W)`` or None (image inputs show themselves).
    """
    if hasattr(inputs, "x"):  # NamedVectors, SparseFeatures
        if names is None and hasattr(inputs, "names"):
            names = inputs.names
        inputs = inputs.x
    elif hasattr(inputs, "images"):  # LabelledImages
        inputs = inputs.images
    x = as_tensor(as_array(inputs, "inputs", dtype=np.float32, finite=False), "inputs", min_dim=2)
    if images is None and x.dim() == 4:  # image inputs show themselves
        images = x
    if images is not None:
        images = as_array(images, "images", dtype=np.float32, finite=False)
        if images.ndim == 4 and images.shape[1] == 1:
            images = images[:, 0]
        if images.ndim != 3 or len(images) != len(x):
            raise invalid("images", f"(n, H, W) or (n, 1, H, W) with n = {len(x)} (one per input)",
                          f"shape {images.shape}", shown=True)
    if names is None:
        names = [f"input {i}" for i in range(len(x))]
    names = [str(s) for s in names]
    if len(names) != len(x):
        raise invalid("names", f"one name per input ({len(x)})", f"{len(names)} entries", shown=True)
    return x, list(names), images


def default_latent_dim(model) -> int:
    """``model.latent_dim`` (or ``model.config.latent_dim``): how long a default base code of zeros is."""
    for owner in (model, getattr(model, "config", None)):
        value = getattr(owner, "latent_dim", None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
            return int(value)
    raise invalid("model", "a model that says its latent size (model.latent_dim)", type(model).__name__,
                  "cannot tell the latent size: pass z0 (a code to start from) or inputs (to encode)", shown=True)


def slider_settings(span, step, scale, image_shape) -> tuple[float, float, float, int, tuple[int, int] | None]:
    """``(low, high, step, scale, image_shape)`` checked: a span, a step within its width, a scale >= 1, an (H, W)."""
    low, high = check_span(span)
    step = check_number("step", step, low=0, high=high - low, low_open=True,
                        fix="the slider's resolution, at most the span's width")
    scale = check_int("scale", scale, low=1)
    if image_shape is not None:
        try:
            image_shape = tuple(int(s) for s in image_shape)
        except (TypeError, ValueError):
            raise invalid("image_shape", "a pair of positive integers (H, W)", image_shape) from None
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise invalid("image_shape", "a pair of positive integers (H, W)", image_shape)
    return low, high, step, scale, image_shape

