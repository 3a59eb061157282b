"""Static figures for the sparse chapters (02-sparse, 03-features).

Like the rest of :mod:`aecourse.viz`, every function returns a matplotlib ``Figure`` and
closes it in pyplot, so a cell that ends with the call shows it once and
tests can inspect it. The numbers behind each figure come from
:mod:`aecourse.metrics`; interactive views live in :mod:`aecourse.widgets`.

- :func:`activation_heatmap` -- inputs x units, the activation table as a picture.
- :func:`feature_grid` -- decoder features of image models as images.
- :func:`plot_log_density` -- histogram of log10 activation frequency, dead units apart.
- :func:`plot_sparsity_tradeoff` -- L0, dead fraction, FVU and MMCS along a sweep.
- :func:`plot_feature_matrix` -- latent x true-feature table, rows in matched order.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .. import metrics
from ..contracts import as_array, invalid
from .alt import names_text, num, set_alt, set_panel_alt, span_text
from .figures import finish, image_grid
from .heatmaps import matrix_alt

__all__ = ["activation_heatmap", "feature_grid", "plot_log_density", "plot_sparsity_tradeoff", "plot_feature_matrix"]


def activation_heatmap(z, row_names: Sequence[str] | None = None, unit_names: Sequence[str] | None = None, *,
                       annotate: bool | None = None, cmap: str = "Blues", title: str = "latent activations"):
    """The activation table as a heatmap: one row per input, one column per unit.

    Parameters
    ----------
    z : shape (n, latent_dim)
        Codes, e.g. ``model.encode(sparse_patterns().x)``.
    row_names, unit_names : optional labels (default ``"input i"``, ``"Lat j"`` counting from 1
        as in the worked example).
    annotate : bool, optional
        Write each value in its cell; default when the table is small (<= 200 cells).
    """
    z = as_array(z, "z", ndim=2, finite=False, fix="codes of shape (n, latent_dim)")
    n, m = z.shape
    row_names = list(row_names) if row_names is not None else [f"input {i}" for i in range(n)]
    unit_names = list(unit_names) if unit_names is not None else [f"Lat{j + 1}" for j in range(m)]
    if len(row_names) != n or len(unit_names) != m:
        raise invalid("row_names and unit_names", f"one name per input and per unit ({n} row names and {m} unit names)",
                      f"{len(row_names)} and {len(unit_names)}", shown=True)
    annotate = n * m <= 200 if annotate is None else annotate
    fig, ax = plt.subplots(figsize=(min(1.0 + 0.7 * m, 14), min(0.8 + 0.45 * n, 10)))
    top = max(float(np.abs(z).max()), 1e-12)
    im = ax.imshow(z, cmap=cmap, vmin=min(0.0, float(z.min())), vmax=top, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="activation")
    ax.set_xticks(range(m), unit_names, fontsize=8, rotation=90 if m > 12 else 0)
    ax.set_yticks(range(n), row_names, fontsize=8)
    if annotate:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{z[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if z[i, j] > 0.6 * top else "black")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    active = int((z > 0).sum())
    text = (matrix_alt(z, row_names, unit_names, what=title, row_label="inputs", col_label="units")
            + f"; {active} of {n * m} activations above 0")
    return finish(fig, text)


def feature_grid(features, shape: tuple[int, int] = (28, 28), n: int = 64, *, order=None, titles=None,
                 suptitle: str | None = "decoder features"):
    """Decoder features of an image model as images (red adds ink, blue removes it).

    Parameters
    ----------
    features : (latent_dim, H*W) array, or a model with ``.dictionary``
    shape : (H, W) of one image
    n : how many features to show
    order : optional indices of the features to show, in order (e.g. most frequent first)
    """
    if hasattr(features, "dictionary"):
        features = features.dictionary
    f = as_array(features, "features", finite=False)
    if f.ndim != 2 or f.shape[1] != shape[0] * shape[1]:
        raise invalid("features", f"(latent_dim, {shape[0] * shape[1]}) for shape {shape}", f"shape {f.shape}",
                      shown=True)
    idx = np.arange(len(f)) if order is None else np.asarray(order, dtype=int)
    total = len(f)
    f = f[idx[:n]]
    f = f / np.maximum(np.abs(f).max(axis=1, keepdims=True), 1e-12)  # each feature on its own scale
    fig = image_grid(f.reshape(-1, 1, *shape), titles=titles, cmap="RdBu_r", vmin=-1.0, vmax=1.0,
                     suptitle=suptitle)
    shown = [int(i) for i in idx[:n]]
    which = "in order" if order is None else f"in the given order ({names_text([str(i) for i in shown])})"
    strong = 100 * (np.abs(f.reshape(len(f), -1)) > 0.25).mean(1)  # pixels above a quarter of the feature's peak
    return set_alt(fig, f"{suptitle or 'Decoder features'}: {len(f)} of {total} features {which} as "
                        f"{shape[0]}x{shape[1]} images, red where a feature adds ink and blue where it removes it, "
                        f"each on its own scale; share of a feature's pixels above a quarter of its peak: "
                        f"{span_text(strong)} percent")


def plot_log_density(z=None, *, frequency=None, bins: int = 30, low: float = -5.0, label: str | None = None,
                     ax=None):
    """Histogram of ``log10`` activation frequency per unit, with dead units counted apart.

    Bricken et al. (2023) read these plots to spot dead units (frequency 0,
    shown as a separate bar at the left) and dense ones (near 10^0 = every input).
    """
    counts, edges, n_dead = metrics.log_density_histogram(z, frequency=frequency, bins=bins, low=low)
    own = ax is None
    fig, ax = plt.subplots(figsize=(5, 3)) if own else (ax.figure, ax)
    width = edges[1] - edges[0]
    ax.stairs(counts, edges, fill=True, alpha=0.7, label=label)
    ax.bar(low - 1.5 * width, n_dead, width=width, color="#d62728", label=f"dead ({n_dead})")
    ax.set_xlabel("log10 activation frequency (fraction of inputs a unit fires on)")
    ax.set_ylabel("units")
    ax.legend(fontsize=7)
    ax.set_title("feature density", fontsize=10)
    total = int(np.sum(counts)) + int(n_dead)
    live = [(edges[i], edges[i + 1]) for i in np.nonzero(np.asarray(counts) > 0)[0]]
    where = (f"the other {total - n_dead} between 10^{num(live[0][0])} and 10^{num(live[-1][1])}" if live
             else "no live unit")
    peak = int(np.argmax(counts)) if len(counts) else 0
    most = (f"; most units ({int(counts[peak])}) near 10^{num((edges[peak] + edges[peak + 1]) / 2)}"
            if live else "")
    text = (f"Histogram of log10 activation frequency{f' ({label})' if label else ''} over {total} units: "
            f"{n_dead} dead (never fire, the red bar at the left), {where}{most}")
    set_panel_alt(ax, text)
    if own:
        fig.tight_layout()
        return finish(fig, text)
    return fig


def plot_sparsity_tradeoff(results: Sequence[Mapping[str, float]], x: str = "l1_coeff",
                           keys: Sequence[str] = ("l0", "dead_fraction", "fvu", "mmcs"), *, logx: bool = True):
    """One panel per metric along a hyperparameter sweep (default: the L1 coefficient).

    ``results`` is a list of dicts, one per run, each holding ``x`` and the
    ``keys`` (e.g. ``{"l1_coeff": 0.3, "l0": 8.4, "dead_fraction": 0.0, ...}``).
    Too small a coefficient: dense codes (L0 high); too large: units die and
    the variance unexplained climbs.
    """
    if not results:
        raise invalid("results", "one dict per run of the sweep", "an empty list", shown=True)
    missing = [k for k in (x, *keys) if any(k not in r for r in results)]
    if missing:
        raise invalid("results", f"dicts with the keys {[x, *keys]}", f"some missing {sorted(set(missing))}",
                      shown=True)
    rows = sorted(results, key=lambda r: r[x])
    xs = np.array([r[x] for r in rows], dtype=float)
    labels = {"l0": "L0 (active units per input)", "dead_fraction": "dead fraction",
              "fvu": "fraction of variance unexplained", "mmcs": "MMCS", "recovered": "recovered fraction"}
    fig, axes = plt.subplots(1, len(keys), figsize=(3.0 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(xs, [r[key] for r in rows], marker="o")
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_title(labels.get(key, key), fontsize=9)
    fig.tight_layout()
    trends = "; ".join(f"{labels.get(key, key)} {num(rows[0][key])} to {num(rows[-1][key])}" for key in keys)
    return finish(fig, f"Sparsity sweep, {len(rows)} runs over {x} {span_text(xs)}"
                       f"{' (log scale)' if logx else ''}, one line chart per metric; from the smallest to the "
                       f"largest {x}: {trends}")


def plot_feature_matrix(matrix, order=None, *, cmap: str = "RdBu_r", xlabel: str = "true feature",
                        ylabel: str = "latent (matched order)", title: str = "latents vs true features"):
    """A latent x true-feature table (cosines or activation correlations) as a heatmap.

    Parameters
    ----------
    matrix : shape (latent_dim, n_true)
        E.g. :func:`aecourse.metrics.cosine_matrix` or
        :func:`aecourse.metrics.activation_correlation`.
    order : optional row order, e.g. ``matched_cosines(learned, true).order``:
        each true feature's matched latent then sits on the diagonal.
    """
    mat = as_array(matrix, "matrix", ndim=2, finite=False, fix="a (latent_dim, n_true) table")
    if order is not None:
        order = np.asarray(order, dtype=int)
        if sorted(order.tolist()) != list(range(len(mat))):
            raise invalid("order", f"a permutation of the latent indices 0..{len(mat) - 1} (rows of matrix)",
                          order.tolist())
        mat = mat[order]
    fig, ax = plt.subplots(figsize=(5, 5 * min(len(mat) / max(mat.shape[1], 1), 2.0)))
    im = ax.imshow(mat, cmap=cmap, vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title, fontsize=10)
    fig.tight_layout()
    rows, cols = mat.shape
    k = min(rows, cols)
    diag = np.diag(mat[:k, :k])
    text = (f"Heatmap '{title}': {rows} rows ({ylabel}) x {cols} columns ({xlabel}), colour from -1 (blue) to 1 "
            f"(red), values {span_text(mat)}; along the diagonal (each true feature and the latent in its row) "
            f"mean {num(np.mean(diag))}, lowest {num(np.min(diag))}")
    return finish(fig, text)
