"""Alt text for every figure: what it shows, with its data, in the notebook output and on the website.

One mechanism, used by every figure of the library:

- :func:`set_alt` stores a text on a matplotlib ``Figure`` (:func:`alt_text` reads it back);
  :func:`set_panel_alt` stores one on an ``Axes`` a figure function drew into (``ax=``), so a
  learner's own figure made of library panels is described panel by panel.
- :func:`figure_alt` is the text a figure is shown with: its own, else one put together from its
  panels (their stored texts, else their titles, axis labels and what they hold) -- also for
  the figures a chapter draws with pyplot itself.
- :func:`install` (called when :mod:`aecourse.viz` is imported inside IPython) makes every
  displayed ``Figure`` carry that text. IPython renders the PNG as before (the inline backend's
  settings: ``retina``, ``dpi``); the display then holds

  ============================  =========================================================
  ``data["image/png"]``         the picture, unchanged
  ``metadata["image/png"]``     ``{"alt": <text>}`` (plus ``width``/``height`` for retina):
                                the convention the website builder reads
  ``data["text/plain"]``        the text (instead of ``<Figure size 640x480 with 1 Axes>``):
                                what a screen reader, a terminal or a text diff shows
  ``data["text/html"]``         ``<img src="data:image/png;base64,..." alt="<text>">``
  ============================  =========================================================

Why the HTML copy: JupyterLab 4 and Notebook 7 draw an ``image/png`` output as an ``<img>``
without any ``alt`` (``renderImage`` in ``@jupyterlab/rendermime`` reads only ``width``,
``height``, ``needs_background`` and ``unconfined`` from the metadata), and so does nbconvert's
HTML template (7.17); honouring ``metadata["image/png"]["alt"]`` there would take a JupyterLab
extension of our own. Every one of them prefers ``text/html`` to ``image/png``, and
JupyterLab's sanitiser keeps an ``<img>`` with a ``data:`` source and its ``alt`` even in an
untrusted notebook, so the HTML copy is what puts the text on the ``<img>`` in all of them.
The price is the picture stored twice in a saved notebook (the PNG and its base64 in the
HTML); ``install(html=False)`` (or ``AECOURSE_FIGURE_HTML=0``) keeps the PNG, its metadata and
the text only.

The hook wraps ``shell.display_formatter.format`` rather than registering a printer for
``Figure``: the inline backend pops every per-type ``Figure`` printer whenever it is
(re)configured (``%matplotlib inline``, ``%config InlineBackend...``), and a mime-bundle
printer would have the PNG drawn twice. ``display(fig, display_id=True)`` and its updates
(:class:`~aecourse.viz.LiveTrainingFigure`) go through the same path.
"""

from __future__ import annotations

import base64
import html
import os
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from IPython import get_ipython  # a dependency (ipykernel); None outside a kernel
from matplotlib.figure import Figure

__all__ = ["set_alt", "alt_text", "set_panel_alt", "panel_alt", "figure_alt", "describe_figure", "install",
           "figure_bundle", "num", "span_text", "names_text"]

_FIGURE_ATTR = "_aecourse_alt"
_PANEL_ATTR = "_aecourse_panel_alt"
_WRAPPED = "_aecourse_alt_wrapped"


# --------------------------------------------------------------------------- storing it
def set_alt(fig: Figure, text: str) -> Figure:
    """Store ``text`` as ``fig``'s alt text (replacing any) and return ``fig``."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    text = " ".join(str(text).split())
    if not text:
        raise ValueError("text must be a non-empty description of what the figure shows, got an empty string")
    setattr(fig, _FIGURE_ATTR, text)
    return fig


def alt_text(fig) -> str | None:
    """The alt text stored on ``fig`` by :func:`set_alt` (None if there is none)."""
    return getattr(fig, _FIGURE_ATTR, None)


def set_panel_alt(ax: Axes, text: str) -> Axes:
    """Store ``text`` as the description of one panel ``ax`` (a figure function drawing into ``ax=``)."""
    setattr(ax, _PANEL_ATTR, " ".join(str(text).split()))
    return ax


def panel_alt(ax) -> str | None:
    """The description stored on ``ax`` by :func:`set_panel_alt` (None if there is none)."""
    return getattr(ax, _PANEL_ATTR, None)


def figure_alt(fig: Figure) -> str:
    """The text ``fig`` is displayed with: :func:`alt_text`, else :func:`describe_figure`."""
    return alt_text(fig) or describe_figure(fig)


# --------------------------------------------------------------------------- describing any figure
def _panel_words(ax: Axes) -> str:
    stored = panel_alt(ax)
    if stored:
        return stored
    words = []
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    kinds = []
    if ax.images:
        kinds.append("an image" if len(ax.images) == 1 else f"{len(ax.images)} images")
    if ax.lines:
        kinds.append("1 line" if len(ax.lines) == 1 else f"{len(ax.lines)} lines")
    if ax.collections:
        points = sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets"))
        if points:
            kinds.append(f"{points} points")
    bars = [p for p in ax.patches if p.__class__.__name__ == "Rectangle"]
    if bars:
        kinds.append(f"{len(bars)} bars")
    words.append(f"'{title}'" if title else "a panel")
    if kinds:
        words.append("with " + ", ".join(kinds))
    xl, yl = ax.get_xlabel(), ax.get_ylabel()
    if xl or yl:
        words.append("(" + ", ".join(p for p in (f"x: {xl}" if xl else "", f"y: {yl}" if yl else "") if p) + ")")
    legend = ax.get_legend()
    if legend is not None:
        entries = [t.get_text() for t in legend.get_texts()][:6]
        if entries:
            words.append("legend: " + ", ".join(entries))
    return " ".join(words)


def _is_colorbar(ax: Axes) -> bool:
    return ax.get_label() == "<colorbar>" or hasattr(ax, "_colorbar")


def describe_figure(fig: Figure) -> str:
    """A description put together from ``fig``'s panels: what it is when nobody wrote one.

    Panels described by a library function (:func:`set_panel_alt`) say so with their data; other
    panels are described from their titles, axis labels, legends and what they hold (lines,
    points, bars, images). Colour bars are left out.
    """
    panels = [ax for ax in fig.axes if not _is_colorbar(ax) and ax.get_visible()]
    suptitle = fig.get_suptitle()
    head = f"Figure '{suptitle}'" if suptitle else "Figure"
    if not panels:
        return f"{head} with no panels"
    described = [_panel_words(ax) for ax in panels]
    if len(panels) == 1:
        return f"{head}: {described[0]}"
    shown = described[:8]
    more = f"; and {len(panels) - 8} more panels" if len(panels) > 8 else ""
    return f"{head} with {len(panels)} panels: " + "; ".join(shown) + more


# --------------------------------------------------------------------------- words for numbers
def num(x) -> str:
    """A number in at most three significant digits (``0.0123``, ``12.3``, ``1.23e+04``)."""
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.3g}"


def span_text(values) -> str:
    """``"from a to b"`` over the finite values (``"no finite values"`` when none)."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if not values.size:
        return "no finite values"
    low, high = float(values.min()), float(values.max())
    return f"{num(low)}" if low == high else f"from {num(low)} to {num(high)}"


def names_text(names: Sequence[str], limit: int = 6) -> str:
    """``"a, b, c"``, or ``"a, b, ..., z (26)"`` for long lists."""
    names = [str(n) for n in names]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[: limit - 1]) + f", ..., {names[-1]} ({len(names)})"


# --------------------------------------------------------------------------- into the notebook output
def _png_b64(data) -> str:
    if isinstance(data, bytes):
        return base64.b64encode(data).decode("ascii")
    return str(data).replace("\n", "")


def figure_bundle(fig: Figure, data: dict, md: dict, *, html_copy: bool = True) -> tuple[dict, dict]:
    """Add ``fig``'s alt text to a display's ``(data, metadata)`` that already holds its ``image/png``.

    ``metadata["image/png"]["alt"]``, ``text/plain`` and (``html_copy``) a ``text/html`` ``<img>`` with
    the same PNG and ``alt``. A bundle without ``image/png`` (an SVG-only configuration) gets the
    ``text/plain`` alone.
    """
    text = figure_alt(fig)
    data, md = dict(data), dict(md or {})
    data["text/plain"] = text
    if "image/png" not in data:
        return data, md
    png_md = dict(md.get("image/png") or {})
    png_md["alt"] = text
    md["image/png"] = png_md
    if html_copy:
        size = "".join(f' {k}="{int(png_md[k])}"' for k in ("width", "height") if isinstance(png_md.get(k), (int, float)))
        data["text/html"] = (f'<img src="data:image/png;base64,{_png_b64(data["image/png"])}"{size} '
                             f'alt="{html.escape(text, quote=True)}"/>')
    return data, md


def _html_default() -> bool:
    return os.environ.get("AECOURSE_FIGURE_HTML", "1").strip().lower() not in ("0", "false", "no", "off")


def install(shell=None, *, html: bool | None = None) -> bool:
    """Make every ``Figure`` that ``shell`` (default: the running IPython) displays carry its alt text.

    Idempotent; a second call only changes ``html``. Returns False outside IPython.

    Parameters
    ----------
    shell : IPython InteractiveShell, optional
    html : bool, optional
        Also emit the ``text/html`` ``<img alt=...>`` copy (default: yes, unless the environment
        variable ``AECOURSE_FIGURE_HTML`` is ``0``); see the module docstring for why.
    """
    if shell is None:
        shell = get_ipython()  # None outside IPython
    formatter = getattr(shell, "display_formatter", None)
    if formatter is None:
        return False
    html_copy = _html_default() if html is None else bool(html)
    current = formatter.format
    if getattr(current, _WRAPPED, False):
        current.html_copy = html_copy
        return True

    def format(obj, include=None, exclude=None):  # noqa: A001 - the name IPython calls
        data, md = current(obj, include=include, exclude=exclude)
        if isinstance(obj, Figure) and data:
            data, md = figure_bundle(obj, data, md, html_copy=format.html_copy)
            if include:
                data = {k: v for k, v in data.items() if k in include}
            if exclude:
                data = {k: v for k, v in data.items() if k not in exclude}
        return data, md

    format.html_copy = html_copy
    setattr(format, _WRAPPED, True)
    format.__wrapped__ = current
    formatter.format = format
    return True
