"""The figures every chapter shows: image grids, reconstructions, latent scatters, training curves.

Every function returns a matplotlib ``Figure`` and closes it in pyplot (:func:`finish`), so
a notebook cell that ends with the call shows the figure exactly once and
tests can inspect it without a display.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..contracts import as_array, invalid
from .alt import names_text, num, set_alt, set_panel_alt, span_text

__all__ = ["image_grid", "show_reconstructions", "latent_scatter", "plot_history", "to_numpy_images", "finish"]


def to_numpy_images(images) -> np.ndarray:
    """``(n, 1, h, w)`` or ``(n, h, w)`` tensor/array to a float array ``(n, h, w)``."""
    images = as_array(images, "images", finite=False)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim == 2:  # flat vectors of a square image
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise invalid("images", "square images, or vectors whose length is a square",
                          f"vectors of length {images.shape[1]}", "cannot reshape them into square images; "
                          "pass image_shape=(H, W) where there is one", shown=True)
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise invalid("images", "shaped (n, 1, h, w) or (n, h, w)", f"shape {images.shape}", shown=True)
    return images


def finish(fig, alt: str | None = None):
    """Close ``fig`` in pyplot, store its alt text (:func:`aecourse.viz.alt.set_alt`) and return it.

    The notebook then displays the returned figure once, with ``alt`` as its description. Every
    figure function of :mod:`aecourse.viz` ends with it and says what its figure shows, with its
    data (``tests/test_viz.py`` checks each one).
    """
    plt.close(fig)
    if alt is not None:
        set_alt(fig, alt)
    return fig


def _grid_alt(imgs: np.ndarray, nrow: int, ncol: int, titles, row_labels, suptitle) -> str:
    n, h, w = imgs.shape
    parts = [f"{suptitle}: " if suptitle else "",
             f"Grid of {n} image{'s' if n != 1 else ''} ({h}x{w} pixels) in {nrow} row{'s' if nrow != 1 else ''} "
             f"of {ncol}"]
    if row_labels is not None:
        parts.append(f"; rows: {names_text(list(row_labels)[:nrow])}")
    if titles is not None:
        parts.append(f"; titled {names_text(list(titles)[:n])}")
    parts.append(f"; pixel values {span_text(imgs)}")
    return "".join(parts)


def image_grid(images, nrow: int | None = None, *, titles: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, cmap: str = "gray", vmin: float = 0.0,
               vmax: float = 1.0, size: float = 1.1, suptitle: str | None = None):
    """Show ``images`` (n, 1, h, w) in a grid with ``nrow`` rows."""
    imgs = to_numpy_images(images)
    n = len(imgs)
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol = int(np.ceil(n / nrow))
    fig, axes = plt.subplots(nrow, ncol, figsize=(size * ncol, size * nrow), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=8)
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrow]):
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return finish(fig, _grid_alt(imgs, nrow, ncol, titles, row_labels, suptitle))


@torch.no_grad()
def show_reconstructions(model, x, n: int = 8, *, inputs=None, labels=("input", "reconstruction")):
    """Inputs on top, the model's reconstructions below.

    ``inputs`` (optional) is what the model sees when it differs from the
    target ``x`` (a denoising autoencoder sees a noisy copy); then three
    rows are shown: noisy input, reconstruction, clean target.
    """
    x = x[:n]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    seen = x if inputs is None else inputs[:n]
    recon = model(seen.to(device)).cpu()
    model.train(was_training)
    if inputs is None:
        rows, names = [x, recon], list(labels)
    else:
        rows, names = [seen, recon, x], ["noisy input", "reconstruction", "clean target"]
    fig = image_grid(torch.cat([r.cpu() for r in rows]), nrow=len(rows), row_labels=names)
    x_cpu = x.detach().cpu().float()
    mse = float(((recon.float().reshape(x_cpu.shape) - x_cpu) ** 2).mean()) if recon.numel() == x_cpu.numel() else None
    k = len(x)
    if inputs is None:
        text = (f"Reconstructions: {k} {names[0]}s (top row) and the model's {names[1]}s (bottom row)")
    else:
        text = (f"Denoising: {k} noisy inputs (top row), the model's reconstructions (middle) and the clean "
                "targets (bottom)")
    target = "the inputs" if inputs is None else "the clean targets"
    err = f"; mean squared error against {target} {num(mse)}" if mse is not None else ""
    return set_alt(fig, text + err)


def latent_scatter(z, color, *, name: str = "", ax=None, categorical: bool | None = None,
                   s: float = 4.0, alpha: float = 0.7):
    """Scatter a 2-D code ``z`` (n, 2) coloured by a factor ``color`` (n,).

    Categorical factors (few distinct integer values, like the digit) get a
    legend; continuous ones (thickness, slant) get a colour bar.
    """
    z = as_array(z, "z", finite=False)
    color = np.asarray(color)
    if z.ndim != 2 or z.shape[1] != 2:
        raise invalid("z", "a 2-D code of shape (n, 2)", f"shape {z.shape}",
                      "train with latent_dim=2 or project first (e.g. PCA)", shown=True)
    if len(color) != len(z):
        raise invalid("color", f"one value per point ({len(z)})", f"{len(color)} values for {len(z)} points",
                      shown=True)
    if categorical is None:
        categorical = len(np.unique(color)) <= 12 and np.allclose(color, np.round(color))
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.2, 3.8))
    else:
        fig = ax.figure
    if categorical:
        cmap = plt.get_cmap("tab10")
        for i, v in enumerate(np.unique(color)):
            m = color == v
            ax.scatter(z[m, 0], z[m, 1], s=s, alpha=alpha, color=cmap(i % 10), label=str(int(v)))
        ax.legend(title=name, markerscale=3, fontsize=7, title_fontsize=8, loc="best", ncol=2)
    else:
        sc = ax.scatter(z[:, 0], z[:, 1], c=color, s=s, alpha=alpha, cmap="viridis")
        fig.colorbar(sc, ax=ax, label=name)
    ax.set_xlabel("$z_1$"), ax.set_ylabel("$z_2$")
    ax.set_title(f"latent space coloured by {name}" if name else "latent space", fontsize=10)
    factor = name or "the factor"
    if categorical:
        values = [str(int(v)) for v in np.unique(color)]
        colouring = f"{len(values)} values of {factor} ({names_text(values, 10)}) in colours"
    else:
        colouring = f"colour shows {factor}, {span_text(color)}"
    text = (f"Scatter of {len(z)} codes in the 2-D latent space: z1 {span_text(z[:, 0])}, z2 {span_text(z[:, 1])}; "
            f"{colouring}")
    set_panel_alt(ax, text)
    if own:
        fig.tight_layout()
        return finish(fig, text)
    return fig


def plot_history(histories, *, logy: bool = True, title: str = "training curves"):
    """Loss curves of one :class:`~aecourse.train.History` or a ``{label: History}`` mapping."""
    if not isinstance(histories, Mapping):
        histories = {"model": histories}
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, (label, h) in enumerate(histories.items()):
        color = plt.get_cmap("tab10")(i % 10)
        epochs = np.arange(1, len(h.train_loss) + 1)
        ax.plot(epochs, h.train_loss, color=color, label=f"{label} (train)")
        if h.val_loss:
            ax.plot(epochs, h.val_loss, color=color, linestyle="--", label=f"{label} (held out)")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch"), ax.set_ylabel("loss"), ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return finish(fig, _history_alt(histories, title, logy))


def _curve_words(values) -> str:
    values = [float(v) for v in values]
    if not values:
        return "no values"
    if len(values) == 1:
        return num(values[0])
    return f"{num(values[0])} to {num(values[-1])} (lowest {num(min(values))})"


def _history_alt(histories: Mapping, title: str, logy: bool) -> str:
    runs = []
    for label, h in histories.items():
        words = f"{label}: train loss {_curve_words(h.train_loss)} over {len(h.train_loss)} epochs"
        if h.val_loss:
            words += f", held-out loss {_curve_words(h.val_loss)}"
        runs.append(words)
    scale = ", log scale" if logy else ""
    return f"Line chart '{title}' of loss against epoch{scale}: " + "; ".join(runs)
