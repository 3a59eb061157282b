"""Figures the course shows again and again.

Every function returns a matplotlib ``Figure`` and closes it in pyplot, so
a notebook cell that ends with the call shows the figure exactly once and
tests can inspect it without a display.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["image_grid", "show_reconstructions", "latent_scatter", "plot_history", "to_numpy_images"]


def to_numpy_images(images) -> np.ndarray:
    """``(n, 1, h, w)`` or ``(n, h, w)`` tensor/array to a float array ``(n, h, w)``."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().float().numpy()
    images = np.asarray(images, dtype=float)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim == 2:  # flat vectors of a square image
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"cannot reshape vectors of length {images.shape[1]} into square images")
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(f"expected images shaped (n, 1, h, w) or (n, h, w), got {images.shape}")
    return images


def _finish(fig):
    plt.close(fig)  # the returned figure is displayed by the notebook, once
    return fig


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
    return _finish(fig)


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
    return image_grid(torch.cat([r.cpu() for r in rows]), nrow=len(rows), row_labels=names)


def latent_scatter(z, color, *, name: str = "", ax=None, categorical: bool | None = None,
                   s: float = 4.0, alpha: float = 0.7):
    """Scatter a 2-D code ``z`` (n, 2) coloured by a factor ``color`` (n,).

    Categorical factors (few distinct integer values, like the digit) get a
    legend; continuous ones (thickness, slant) get a colour bar.
    """
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    color = np.asarray(color)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter needs a 2-D code of shape (n, 2), got {z.shape}; "
                         "train with latent_dim=2 or project first (e.g. PCA)")
    if len(color) != len(z):
        raise ValueError(f"color has {len(color)} values for {len(z)} points")
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
    if own:
        fig.tight_layout()
        return _finish(fig)
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
    return _finish(fig)


# --------------------------------------------------------------------------- latent traversals
__all__ += ["decode_images", "traversal_images", "traversal_grid"]


def _decode_function(model):
    """``model.decode`` for an autoencoder, the callable itself for a plain decoder."""
    if hasattr(model, "decode") and callable(model.decode):
        return model.decode
    if callable(model):
        return model
    raise TypeError(f"model must have a decode(z) method (an aecourse autoencoder) or be a callable "
                    f"decode(z) -> images, got {type(model).__name__}")


def _model_device(model) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device("cpu")


def _as_codes(z, name: str = "z") -> np.ndarray:
    """Codes as float32 ``(n, latent_dim)``; a single code ``(latent_dim,)`` becomes ``(1, latent_dim)``."""
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    try:
        z = np.array(z, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(z).__name__}") from None
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"{name} must be one code (latent_dim,) or a batch of codes (n, latent_dim), "
                         f"got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return z


def _outputs_to_images(out, n: int, image_shape) -> np.ndarray:
    """Decoder output (n, 1, H, W), (n, H, W) or flat (n, D) as a float array (n, H, W)."""
    if isinstance(out, (tuple, list)):
        raise TypeError("the decoder returned a tuple; decode(z) must return images (batch, 1, H, W) or (batch, D)")
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().float().numpy()
    out = np.asarray(out, dtype=float)
    if out.ndim < 2 or out.shape[0] != n:
        raise ValueError(f"decode returned shape {out.shape} for {n} codes; expected (batch, 1, H, W), "
                         "(batch, H, W) or (batch, H*W)")
    if image_shape is not None:
        h, w = (int(s) for s in image_shape)
        if out[0].size != h * w:
            raise ValueError(f"image_shape={tuple(image_shape)} has {h * w} pixels but the decoder returns "
                             f"{out[0].size} values per code (shape {out.shape[1:]})")
        return out.reshape(n, h, w)
    if out.ndim == 4 and out.shape[1] != 1:
        raise ValueError(f"decode returned {out.shape[1]} channels (shape {out.shape}); only grey images "
                         "(batch, 1, H, W) can be shown")
    if out.ndim > 4:
        raise ValueError(f"decode returned shape {out.shape}; expected (batch, 1, H, W), (batch, H, W) "
                         "or (batch, H*W)")
    return to_numpy_images(out)


@torch.no_grad()
def decode_images(model, z, *, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode codes to grey images, as numpy.

    Parameters
    ----------
    model : autoencoder with ``decode``, or a callable ``decode(z) -> images``
        Runs in ``eval`` mode (restored afterwards) without gradients, on the
        device of the model's parameters.
    z : array or Tensor, shape (latent_dim,) or (n, latent_dim)
    image_shape : (int, int), optional
        ``(H, W)``, needed when the decoder returns flat vectors that are not
        square images.

    Returns
    -------
    ndarray, shape (n, H, W), float
    """
    decode = _decode_function(model)
    codes = _as_codes(z)
    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    try:
        out = decode(torch.from_numpy(codes).to(_model_device(model)))
    finally:
        if is_module:
            model.train(was_training)
    return _outputs_to_images(out, len(codes), image_shape)


def _check_dim(dim, latent_dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < latent_dim:
        raise ValueError(f"dim must be a latent index from 0 to {latent_dim - 1}, got {dim!r}")
    return int(dim)


def traversal_images(model, z0, dim: int, values, *, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode ``z0`` with latent ``dim`` set to each of ``values`` in turn.

    Parameters
    ----------
    model : autoencoder with ``decode``, or a callable ``decode(z) -> images``
    z0 : array or Tensor, shape (latent_dim,) or (1, latent_dim)
        The base code; every other latent keeps its value.
    dim : int
        Which latent to move.
    values : array-like, shape (k,)
        The values latent ``dim`` takes (absolute values, not offsets from ``z0``).
    image_shape : (int, int), optional
        ``(H, W)`` for decoders that return flat vectors.

    Returns
    -------
    ndarray, shape (k, H, W)
        One decoded image per value; feed it to
        :func:`aecourse.morphometry.measure` to measure the traversal.
    """
    base = _as_codes(z0, "z0")
    if len(base) != 1:
        raise ValueError(f"z0 must be a single code (latent_dim,), got {len(base)} codes")
    dim = _check_dim(dim, base.shape[1])
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all():
        raise ValueError(f"values must be a non-empty 1-D sequence of finite numbers, got shape {values.shape}")
    codes = np.repeat(base, len(values), axis=0)
    codes[:, dim] = values
    return decode_images(model, codes, image_shape=image_shape)


def _check_span(span) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        raise ValueError(f"span must be a pair (low, high) of numbers, got {span!r}") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
        raise ValueError(f"span must be finite with low < high, got {span!r}")
    return low, high


def _latent_names(names, latent_dim: int) -> list[str]:
    if names is None:
        return [f"z{i}" for i in range(latent_dim)]
    if isinstance(names, str):
        raise TypeError("names must be a list of strings, one per latent, not a single string")
    names = [str(name) for name in names]
    if len(names) != latent_dim:
        raise ValueError(f"names has {len(names)} entries but the code has {latent_dim} latents; "
                         "give one name per latent")
    return names


def traversal_grid(model, z0, *, dims: Sequence[int] | None = None, span: tuple[float, float] = (-3.0, 3.0),
                   steps: int = 9, names: Sequence[str] | None = None,
                   image_shape: tuple[int, int] | None = None, size: float = 0.9):
    """Latent traversals as one figure: a row per latent, a column per value.

    Row ``r`` decodes ``z0`` with latent ``dims[r]`` swept through
    ``linspace(*span, steps)`` and every other latent held at ``z0``. A
    latent that controls one factor changes one thing along its row; a
    dead latent leaves its row constant.

    Parameters
    ----------
    model : autoencoder with ``decode``, or a callable ``decode(z) -> images``
    z0 : array or Tensor, shape (latent_dim,)
        The base code (e.g. an input's posterior mean, or zeros: the prior mean).
    dims : sequence of int, optional
        The latents to traverse, in row order (default: all).
    span : (low, high)
        Absolute values of the swept latent at the first and last column
        (default (-3, 3): +-3 prior standard deviations for a VAE).
    steps : int >= 2
        Columns.
    names : sequence of str, optional
        One label per latent (all ``latent_dim`` of them, default ``z0, z1, ...``).
    image_shape : (int, int), optional
        ``(H, W)`` for decoders that return flat vectors.
    size : float
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(dims) * steps`` axes; the first row's titles are the values.
    """
    base = _as_codes(z0, "z0")
    if len(base) != 1:
        raise ValueError(f"z0 must be a single code (latent_dim,), got {len(base)} codes")
    latent_dim = base.shape[1]
    labels = _latent_names(names, latent_dim)
    dims = list(range(latent_dim)) if dims is None else [_check_dim(d, latent_dim) for d in dims]
    if not dims:
        raise ValueError("dims is empty; pass at least one latent index")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    values = np.linspace(*_check_span(span), int(steps))
    rows = [traversal_images(model, base[0], d, values, image_shape=image_shape) for d in dims]
    return image_grid(np.concatenate(rows), nrow=len(dims), titles=[f"{v:+.2g}" for v in values],
                      row_labels=[labels[d] for d in dims], size=size)


# --------------------------------------------------------------------------- matrices as tables (05-measure, 06-interventions)
__all__ += ["heatmap"]


def _numpy_matrix(matrix, name: str) -> np.ndarray:
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().double().numpy()
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    return matrix


def _labels(names, count: int, default: str, what: str) -> list[str]:
    if names is None:
        return [f"{default}{i}" for i in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        raise ValueError(f"{what} has {len(names)} entries for {count} {'rows' if what == 'row_names' else 'columns'}; "
                         "give one name each")
    return names


def _same_shape(values, shape, name: str) -> np.ndarray:
    values = np.asarray(values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values)
    if values.shape != shape:
        raise ValueError(f"{name} has shape {values.shape} but the matrix is {shape}; give one entry per cell")
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
        raise ValueError(f"vmax ({top}) must be above vmin ({vmin})")
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
    if own:
        fig.tight_layout()
        return _finish(fig)
    return fig


# --------------------------------------------------------------------------- interventional assays (06-interventions)
__all__ += ["response_heatmap", "response_map_figure"]


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
        raise ValueError(f"maps lacks {missing}; pass the dict that aecourse.interventions.response_map returns")
    if len(names) != 2:
        raise ValueError(f"names must be two labels (horizontal, vertical), got {names!r}")
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
    return _finish(fig)
