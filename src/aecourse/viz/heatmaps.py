"""Matrices as annotated heatmaps (chapters 05-measure and 06-interventions) and the response-map panels.

:func:`heatmap` is the one drawing behind every table-like figure of the course;
:func:`response_heatmap` and :func:`response_map_figure` draw what
:mod:`aecourse.interventions` computes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..contracts import as_array, invalid
from .alt import num, set_panel_alt, span_text
from .figures import finish

__all__ = ["heatmap", "response_heatmap", "response_map_figure"]


# --------------------------------------------------------------------------- matrices as tables (05, 06)
def _cell_words(mat: np.ndarray, row_names: list[str], col_names: list[str], pick) -> str:
    i, j = np.unravel_index(pick(np.where(np.isfinite(mat), mat, np.nan)), mat.shape)
    return f"{num(mat[i, j])} at ({row_names[i]}, {col_names[j]})"


def matrix_alt(mat: np.ndarray, row_names: list[str], col_names: list[str], *, what: str, row_label: str = "",
               col_label: str = "", outlined: int = 0) -> str:
    """The alt text of a matrix drawn as a heatmap: its size, the names, the largest and smallest cells."""
    rows, cols = mat.shape
    row_word = f"row{'s' if rows != 1 else ''}" + (f" ({row_label})" if row_label else "")
    col_word = f"column{'s' if cols != 1 else ''}" + (f" ({col_label})" if col_label else "")
    text = f"Heatmap of {what}: {rows} {row_word} x {cols} {col_word}"
    if np.isfinite(mat).any():
        text += (f"; largest value {_cell_words(mat, row_names, col_names, np.nanargmax)}, "
                 f"smallest {_cell_words(mat, row_names, col_names, np.nanargmin)}")
    else:
        text += "; no finite values"
    if rows * cols <= 12 and np.isfinite(mat).all():
        text += "; values by row: " + "; ".join(
            f"{row_names[i]}: " + ", ".join(num(v) for v in mat[i]) for i in range(rows))
    if outlined:
        text += f"; {outlined} cell{'s' if outlined != 1 else ''} outlined in red"
    return text


def _numpy_matrix(matrix, name: str) -> np.ndarray:
    matrix = as_array(matrix, name, finite=False)
    if matrix.ndim != 2 or matrix.size == 0:
        raise invalid(name, "a non-empty 2-D matrix", f"shape {matrix.shape}", shown=True)
    return matrix


def _labels(names, count: int, default: str, what: str) -> list[str]:
    if names is None:
        return [f"{default}{i}" for i in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        cells = "rows" if what == "row_names" else "columns"
        raise invalid(what, f"one name per {cells[:-1]}", f"{len(names)} entries for {count} {cells}", shown=True)
    return names


def _same_shape(values, shape, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a tensor: keep its dtype (counts stay integers)
        values = values.detach().cpu().numpy()
    values = as_array(values, name, dtype=None, finite=False)
    if values.shape != shape:
        raise invalid(name, f"one entry per cell, shape {shape} (the matrix's)", f"shape {values.shape}",
                      shown=True)
    return values


def heatmap(matrix, *, ax=None, title: str = "", row_label: str = "", col_label: str = "",
            row_names: Sequence[str] | None = None, col_names: Sequence[str] | None = None,
            cmap: str = "Blues", vmin: float = 0.0, vmax: float | None = None,
            colorbar: str | None = "", annotate: bool | float = True, text=None, fmt: str = "{:.2f}",
            outline=None):
    """A matrix as an annotated heatmap: the one drawing behind every table-like figure in the course.

    Parameters
    ----------
    matrix : array or Tensor, shape (rows, cols)
        The values that set each cell's colour.
    ax : matplotlib Axes, optional
        Draw into it (part of a larger figure); the figure is then left open.
    title, row_label, col_label : str
    row_names, col_names : sequence of str, optional
        Tick labels (default ``z0, z1, ...``).
    cmap : str
        A matplotlib colormap name.
    vmin, vmax : float
        The colour range; ``vmax=None`` uses the matrix's maximum.
    colorbar : str or None
        The colour bar's label; ``None`` draws no colour bar (e.g. to share one
        between panels: ``fig.colorbar(ax.images[0], ax=axes)``).
    annotate : bool or float
        ``True`` writes every cell, ``False`` none, a number only the cells whose
        value is at least that number (so faint cells stay quiet).
    text : array, shape (rows, cols), optional
        What to write in the cells (default: the matrix itself), e.g. counts
        over a heatmap of shares. Zero entries are left blank.
    fmt : str
        Format of the written numbers.
    outline : bool array, shape (rows, cols), optional
        Cells to outline in red (e.g. a classifier's answers).

    Returns
    -------
    matplotlib.figure.Figure
    """
    mat = _numpy_matrix(matrix, "matrix")
    rows, cols = mat.shape
    row_names = _labels(row_names, rows, "z", "row_names")
    col_names = _labels(col_names, cols, "z", "col_names")
    words = mat if text is None else _same_shape(text, mat.shape, "text")
    marked = np.zeros(mat.shape, bool) if outline is None else _same_shape(outline, mat.shape, "outline").astype(bool)
    top = max(float(np.nanmax(mat)), vmin + 1e-12) if vmax is None else float(vmax)
    if not top > vmin:
        raise invalid("vmax", f"above vmin ({vmin})", top)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(min(1.2 + 0.55 * cols, 14), min(1.0 + 0.45 * rows, 10)))
    else:
        fig = ax.figure
    im = ax.imshow(mat, cmap=cmap, vmin=vmin, vmax=top, aspect="auto", interpolation="nearest")
    if colorbar is not None:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=colorbar)
    ax.set_xticks(range(cols), col_names, fontsize=8, rotation=90 if cols > 12 else 0)
    ax.set_yticks(range(rows), row_names, fontsize=8)
    ax.set_xlabel(col_label), ax.set_ylabel(row_label)
    if annotate is not False:
        threshold = -np.inf if annotate is True else float(annotate)
        for (i, j), value in np.ndenumerate(mat):
            if value >= threshold and (text is None or words[i, j]):
                r, g, b, _ = im.cmap(im.norm(value))  # dark cells get white text, light cells black
                ax.text(j, i, fmt.format(words[i, j]), ha="center", va="center", fontsize=7,
                        color="black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white")
    for i, j in zip(*np.nonzero(marked)):
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="crimson", linewidth=2))
    if title:
        ax.set_title(title, fontsize=10)
    what = " ".join(p for p in (title, f"({colorbar})" if colorbar and title else colorbar) if p) or "values"
    text = matrix_alt(mat.astype(float), row_names, col_names, what=what, row_label=row_label,
                      col_label=col_label, outlined=int(marked.sum()))
    set_panel_alt(ax, text)
    if own:
        fig.tight_layout()
        return finish(fig, text)
    return fig


# --------------------------------------------------------------------------- interventional assays (06-interventions)

def response_heatmap(matrix, *, ax=None, title: str = "", row_label: str = "intervention on latent",
                     col_label: str = "response of latent", row_names: Sequence[str] | None = None,
                     col_names: Sequence[str] | None = None, annotate: bool = True):
    """A response matrix as a heatmap: rows are interventions, columns responses.

    :func:`heatmap` with the labels and colour bar of chapter 06; the other
    parameters are :func:`heatmap`'s.

    Parameters
    ----------
    matrix : array or Tensor, shape (rows, d), non-negative
        :func:`aecourse.interventions.response_matrix` (d, d), or a
        conditioned response matrix (factors, d): then pass the factor names
        as ``row_names`` and e.g. ``row_label="factor traversed"``.
    annotate : bool
        Write each value in its cell.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return heatmap(matrix, ax=ax, title=title, row_label=row_label, col_label=col_label, row_names=row_names,
                   col_names=col_names, colorbar="RMS response", annotate=bool(annotate))


def response_map_figure(maps: Mapping, *, names: Sequence[str] = ("z_a", "z_b"), arrows: int = 16):
    """Three panels of a response map: magnitude (with the field as arrows), divergence, mean curvature.

    Parameters
    ----------
    maps : dict
        From :func:`aecourse.interventions.response_map` (keys ``values``,
        ``field``, ``magnitude``, ``divergence``, ``curvature``).
    names : (str, str)
        Axis labels of the two latents (``dims[0]`` horizontal, ``dims[1]`` vertical).
    arrows : int
        At most this many arrows per side on the magnitude panel.

    Returns
    -------
    matplotlib.figure.Figure
        Divergence and curvature use a diverging colour map centred on 0:
        blue where responses converge (negative divergence).
    """
    missing = [k for k in ("values", "field", "magnitude", "divergence", "curvature") if k not in maps]
    if missing:
        raise invalid("maps", "the dict that aecourse.interventions.response_map returns", f"one that lacks {missing}",
                      shown=True)
    if len(names) != 2:
        raise invalid("names", "two labels (horizontal, vertical)", names)
    values = np.asarray(maps["values"], dtype=float)
    field = np.asarray(maps["field"], dtype=float)
    extent = (values[0], values[-1], values[0], values[-1])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True)
    panels = [("magnitude", "|R(z) - z|", "viridis", False), ("divergence", "divergence", "RdBu_r", True),
              ("curvature", "mean curvature", "RdBu_r", True)]
    for ax, (key, title, cmap, centred) in zip(axes, panels):
        # grid[a, b] has dims[0] = values[a]: transpose so dims[0] runs horizontally, origin at the bottom.
        image = np.asarray(maps[key], dtype=float).T
        limit = max(float(np.nanmax(np.abs(image))), 1e-12)
        vmin, vmax = (-limit, limit) if centred else (0.0, limit)
        im = ax.imshow(image, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(names[0])
    axes[0].set_ylabel(names[1])
    step = max(1, int(np.ceil(len(values) / arrows)))
    picks = np.arange(0, len(values), step)
    va, vb = np.meshgrid(values[picks], values[picks], indexing="ij")
    sub = field[np.ix_(picks, picks)]
    axes[0].quiver(va, vb, sub[..., 0], sub[..., 1], color="white", angles="xy", scale_units="xy",
                   scale=None, width=0.006)
    fig.tight_layout()
    return finish(fig, _response_map_alt(maps, values, names))


def _response_map_alt(maps: Mapping, values: np.ndarray, names: Sequence[str]) -> str:
    magnitude = np.asarray(maps["magnitude"], dtype=float)
    words = [f"Response map over {names[0]} (horizontal) and {names[1]} (vertical), each {span_text(values)} "
             f"on a {magnitude.shape[0]}x{magnitude.shape[1]} grid, in three panels"]
    if np.isfinite(magnitude).any():
        a, b = np.unravel_index(np.nanargmax(magnitude), magnitude.shape)
        words.append(f"magnitude |R(z) - z| {span_text(magnitude)}, largest at {names[0]} = {num(values[a])}, "
                     f"{names[1]} = {num(values[b])}, with the response field as arrows")
    words.append(f"divergence {span_text(maps['divergence'])} (blue where responses converge)")
    words.append(f"mean curvature {span_text(maps['curvature'])}")
    return "; ".join(words)
