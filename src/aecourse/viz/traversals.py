"""Latent traversals: decode codes to images, sweep one latent, lay the sweeps out as a grid.

Also the helpers that other modules use to run a decoder the way these figures do
(:func:`decode_function`, :func:`model_device`) and to check a latent index, a span and
latent names in the one message shape of :mod:`aecourse.contracts`
(:func:`latent_index`, :func:`check_span`, :func:`latent_names`): the widgets and
:mod:`aecourse.interventions` call them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..contracts import as_array, as_codes, check_int, invalid
from .alt import names_text, num, set_alt
from .figures import image_grid, to_numpy_images

__all__ = ["decode_images", "traversal_images", "traversal_grid",
           "decode_function", "model_device", "latent_index", "check_span", "latent_names", "single_code"]


# --------------------------------------------------------------------------- running a decoder
def decode_function(model):
    """``model.decode`` for an autoencoder, the callable itself for a plain decoder ``decode(z) -> images``.

    Raises a TypeError for anything else, so a widget can call it to fail early on a
    model that cannot decode.
    """
    if hasattr(model, "decode") and callable(model.decode):
        return model.decode
    if callable(model):
        return model
    raise invalid("model", "an autoencoder with decode(z) or a callable decode(z) -> images",
                  type(model).__name__, "build one with aecourse.models or aecourse.vae", error=TypeError,
                  shown=True)


def model_device(model) -> torch.device:
    """The device of a module's first parameter (or buffer); the CPU for a plain callable or an empty module.

    Where inputs go before the model sees them.
    """
    if isinstance(model, torch.nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device("cpu")


def _codes(z, name: str = "z") -> np.ndarray:
    """Codes as a float32 array ``(n, latent_dim)``; a single code ``(latent_dim,)`` becomes ``(1, latent_dim)``."""
    return as_codes(z, name, single=True).cpu().float().numpy()


def single_code(z, name: str = "z0") -> np.ndarray:
    """One code, ``(latent_dim,)`` or ``(1, latent_dim)``, as a float32 array ``(latent_dim,)``.

    The base code of a traversal or an intervention; a batch of several codes is refused.
    """
    codes = _codes(z, name)
    if len(codes) != 1:
        raise invalid(name, "a single code (latent_dim,)", f"{len(codes)} codes", shown=True)
    return codes[0]


def _outputs_to_images(out, n: int, image_shape) -> np.ndarray:
    """Decoder output (n, 1, H, W), (n, H, W) or flat (n, D) as a float array (n, H, W)."""
    if isinstance(out, (tuple, list)):
        raise invalid("decode(z)", "images (batch, 1, H, W) or (batch, D)", "a tuple", error=TypeError, shown=True)
    out = as_array(out, "decode(z)", finite=False)
    shapes = "images (batch, 1, H, W), (batch, H, W) or (batch, H*W)"
    if out.ndim < 2 or out.shape[0] != n or out.ndim > 4:
        raise invalid("decode(z)", f"{shapes}, one per code", f"shape {out.shape} for {n} codes", shown=True)
    if image_shape is not None:
        h, w = (int(s) for s in image_shape)
        if out[0].size != h * w:
            raise invalid("image_shape", f"(H, W) with the {out[0].size} values per code the decoder returns "
                          f"(shape {out.shape[1:]})", f"{tuple(image_shape)}: {h * w} pixels", shown=True)
        return out.reshape(n, h, w)
    if out.ndim == 4 and out.shape[1] != 1:
        raise invalid("decode(z)", "grey images (batch, 1, H, W) to be shown",
                      f"{out.shape[1]} channels (shape {out.shape})", shown=True)
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
    decode = decode_function(model)
    codes = _codes(z)
    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    try:
        out = decode(torch.from_numpy(codes).to(model_device(model)))
    finally:
        if is_module:
            model.train(was_training)
    return _outputs_to_images(out, len(codes), image_shape)


# --------------------------------------------------------------------------- checks shared by traversals and widgets
def latent_index(dim, latent_dim: int, name: str = "dim") -> int:
    """``dim`` as an int, checked to be a latent index ``0 <= dim < latent_dim``."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < latent_dim:
        raise invalid(name, f"a latent index from 0 to {latent_dim - 1}", dim)
    return int(dim)


def check_span(span, name: str = "span") -> tuple[float, float]:
    """``span`` as ``(low, high)``: two finite numbers with ``low < high`` (a slider's or a sweep's range)."""
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        raise invalid(name, "a pair (low, high) of numbers", span) from None
    if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
        raise invalid(name, "finite with low < high", span)
    return low, high


def latent_names(names, latent_dim: int) -> list[str]:
    """One label per latent: ``names`` as strings, or ``z0, z1, ...`` when None."""
    if names is None:
        return [f"z{i}" for i in range(latent_dim)]
    if isinstance(names, str):
        raise invalid("names", "a list of strings, one per latent", "a single string", error=TypeError, shown=True)
    names = [str(name) for name in names]
    if len(names) != latent_dim:
        raise invalid("names", f"one name per latent ({latent_dim})",
                      f"{len(names)} entries", shown=True)
    return names


# --------------------------------------------------------------------------- traversals


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
    base = single_code(z0, "z0")[None]
    dim = latent_index(dim, base.shape[1])
    values = as_array(values, "values", ndim=1, dtype=np.float32)
    if len(values) == 0:
        raise invalid("values", "a non-empty 1-D sequence of finite numbers", f"shape {values.shape}", shown=True)
    codes = np.repeat(base, len(values), axis=0)
    codes[:, dim] = values
    return decode_images(model, codes, image_shape=image_shape)


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
    base = single_code(z0, "z0")
    latent_dim = len(base)
    labels = latent_names(names, latent_dim)
    dims = list(range(latent_dim)) if dims is None else [latent_index(d, latent_dim) for d in dims]
    if not dims:
        raise invalid("dims", "at least one latent index", "[]", "dims is empty", shown=True)
    steps = check_int("steps", steps, low=2)
    values = np.linspace(*check_span(span), steps)
    rows = [traversal_images(model, base, d, values, image_shape=image_shape) for d in dims]
    fig = image_grid(np.concatenate(rows), nrow=len(dims), titles=[f"{v:+.2g}" for v in values],
                     row_labels=[labels[d] for d in dims], size=size)
    # How much each row changes: the mean absolute pixel difference between neighbouring columns, summed.
    change = [float(np.abs(np.diff(r, axis=0)).mean(axis=(1, 2)).sum()) for r in rows]
    flat = [labels[d] for d, c in zip(dims, change) if c < 1e-3]
    most = int(np.argmax(change))
    h, w = rows[0].shape[1:]
    text = (f"Latent traversals: {len(dims)} rows (latents {names_text([labels[d] for d in dims], 10)}), each "
            f"decoding the base code with that latent swept from {num(values[0])} to {num(values[-1])} in "
            f"{steps} steps ({h}x{w} images); total pixel change along each row: "
            + ", ".join(f"{labels[d]} {num(c)}" for d, c in zip(dims, change))
            + f"; most change along {labels[dims[most]]}"
            + (f"; constant rows: {names_text(flat)}" if flat else ""))
    return set_alt(fig, text)
