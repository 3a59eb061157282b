"""What the library's modules agree on: input validation, the loss-function type, model protocols.

Every public function checks its inputs at the boundary with the helpers below, so every
error a learner sees has one shape (scikit-learn's ``check_scalar`` is the model)::

    {name} must be {what is expected}, got {what was given}[; {how to fix it}]

``ValueError`` for a bad number (wrong kind or out of range) or an array of the wrong shape,
``TypeError`` for the wrong kind of object (not an array, not a model). The helpers return the value converted
(``float``, ``int``, a float64 array, a float32 tensor), so a caller validates and converts
in one line.

This module imports nothing else from :mod:`aecourse`; every other module may import it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

__all__ = [
    "invalid", "check_number", "check_int", "check_choice",
    "as_array", "as_tensor", "as_codes",
    "LossFn", "Represent", "Encoder", "Autoencoder", "VariationalAutoencoder", "require",
    "check_latent_dim", "encoder_fn",
]


# --------------------------------------------------------------------------- the one message shape
def _shown(value: Any) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def invalid(name: str, expected: str, got: Any, fix: str = "", *, error: type[Exception] = ValueError,
            shown: bool = False) -> Exception:
    """The exception (not raised) for ``name`` that is not ``expected``.

    ``got`` is shown with ``repr`` (arrays by their shape) unless ``shown`` is true, in which
    case it is already the text to show (e.g. ``"shape (3, 4)"``).

    >>> raise invalid("beta", "a finite number >= 0", -1.0, "the KL weight cannot be negative")
    Traceback (most recent call last):
    ValueError: beta must be a finite number >= 0, got -1.0; the KL weight cannot be negative
    """
    message = f"{name} must be {expected}, got {got if shown else _shown(got)}"
    return error(f"{message}; {fix}" if fix else message)


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, fix: str = "") -> float:
    """``value`` as a float, checked to be a finite real number within the bounds.

    ``low_open`` / ``high_open`` make a bound strict (``> low`` instead of ``>= low``).
    Booleans are refused (``True`` is not a learning rate).
    """
    bounds = _bounds(low, high, low_open, high_open)
    expected = "a finite number" + (f" {bounds}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise invalid(name, expected, value, fix)
    if ((low is not None and (value <= low if low_open else value < low))
            or (high is not None and (value >= high if high_open else value > high))):
        raise invalid(name, expected, value, fix)
    return float(value)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None, fix: str = "") -> int:
    """``value`` as an int, checked to be an integer (not a bool, not 3.0) within ``[low, high]``."""
    bounds = _bounds(low, high, False, False)
    expected = "an integer" + (f" {bounds}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(name, expected, value, fix)
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, expected, value, fix)
    return int(value)


def check_choice(name: str, value: Any, choices, fix: str = "") -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    choices = list(choices)
    if value not in choices:
        raise invalid(name, f"one of {choices}", value, fix)
    return value


# --------------------------------------------------------------------------- arrays, tensors, codes
def as_array(a: Any, name: str, *, ndim: int | tuple[int, ...] | None = None, finite: bool = True,
             dtype=np.float64, fix: str = "") -> np.ndarray:
    """``a`` (array, tensor, nested lists) as a NumPy array of ``dtype``.

    Tensors are detached and moved to the CPU. ``ndim`` (one or several allowed) and
    ``finite`` (no NaN or inf) are checked when given.
    """
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        a = a.double() if np.dtype(dtype) == np.float64 else a
        a = a.numpy()
    try:
        a = np.asarray(a, dtype=dtype)
    except (TypeError, ValueError):
        raise invalid(name, "a tensor or an array of numbers", type(a).__name__, fix, error=TypeError,
                      shown=True) from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise invalid(name, f"a {want} array", f"shape {a.shape}", fix, shown=True)
    if finite and np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        raise invalid(name, "finite (no NaN or inf)", "non-finite values",
                      fix or "check the model or the data that produced it", shown=True)
    return a


def as_tensor(a: Any, name: str, *, min_dim: int = 1, nonempty: bool = True, fix: str = "") -> torch.Tensor:
    """``a`` (tensor, array, or a dataset with ``.images``) as a float32 tensor on its device.

    Checked to have at least ``min_dim`` dimensions and, with ``nonempty``, at least one row.
    """
    if hasattr(a, "images") and not isinstance(a, (torch.Tensor, np.ndarray)):
        a = a.images
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise invalid(name, "a Tensor, a NumPy array or a dataset with .images", type(a).__name__, fix,
                      error=TypeError, shown=True)
    if a.dim() < min_dim or (nonempty and len(a) == 0):
        raise invalid(name, "a non-empty batch (n, ...)", f"shape {tuple(a.shape)}", fix, shown=True)
    return a.float()


def as_codes(z: Any, name: str = "z", *, latent_dim: int | None = None, single: bool = False) -> torch.Tensor:
    """A batch of latent codes as a float32 tensor ``(n, latent_dim)``.

    With ``single``, one code ``(latent_dim,)`` becomes a batch of one. ``latent_dim`` is
    checked when known (a model's). Call ``.numpy()`` on the result for an array.
    """
    if not isinstance(z, torch.Tensor):
        try:
            z = torch.as_tensor(np.asarray(z, dtype=np.float32))
        except (TypeError, ValueError):
            raise invalid(name, "a tensor or an array of numbers", type(z).__name__, error=TypeError,
                          shown=True) from None
    z = z.detach()
    if not z.is_floating_point():
        z = z.float()
    if single and z.dim() == 1:
        z = z[None]
    width = latent_dim if latent_dim is not None else "latent_dim"
    if z.dim() != 2 or z.shape[1] == 0:
        raise invalid(name, f"a batch of codes of shape (n, {width})", f"shape {tuple(z.shape)}",
                      f"a single code becomes a batch of one with {name}[None]", shown=True)
    if latent_dim is not None and z.shape[1] != latent_dim:
        raise invalid(name, f"codes of shape (n, {latent_dim}) (the model's latent_dim)",
                      f"{z.shape[1]} latents per row", shown=True)
    if not torch.isfinite(z).all():
        raise invalid(name, "finite (no NaN or inf)", "non-finite values", shown=True)
    return z


# --------------------------------------------------------------------------- types and protocols
#: An objective for :func:`aecourse.train.fit`: ``loss_fn(model, batch)`` returns the loss, or
#: ``(loss, logs)`` with a dict of floats to log (``{"recon": ..., "kl": ...}``).
LossFn = Callable[[nn.Module, torch.Tensor], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]

#: ``represent(observations) -> codes``: a batch of observations (NumPy, ``(n, 1, H, W)``) to an
#: array of codes ``(n, latent_dim)``; what the disentanglement metrics call (disentanglement_lib's
#: ``representation_function``). :func:`encoder_fn` makes one from a model.
Represent = Callable[[Any], Any]


@runtime_checkable
class Encoder(Protocol):
    """Anything with ``encode(x) -> z``: ``(n, ...)`` inputs to ``(n, latent_dim)`` codes."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Autoencoder(Protocol):
    """An encoder with a decoder back: ``decode(z) -> x_hat`` of the inputs' shape."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class VariationalAutoencoder(Protocol):
    """What the VAE objectives need: a Gaussian posterior and decoder logits."""

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor: ...


_DESCRIBED = {
    Encoder: "an encoder (with encode())",
    Autoencoder: "an autoencoder (with encode() and decode())",
    VariationalAutoencoder: "a VAE (with posterior() and decode_logits())",
}


def require(model: Any, protocol: type, name: str = "model", fix: str = "") -> Any:
    """``model`` if it has the methods of ``protocol``, else a TypeError in the one shape."""
    if not isinstance(model, protocol):
        raise invalid(name, _DESCRIBED.get(protocol, protocol.__name__), type(model).__name__,
                      fix or "build one with aecourse.models, aecourse.sae or aecourse.vae", error=TypeError,
                      shown=True)
    return model


def check_latent_dim(model: Any, latent_dim: int, what: str = "this objective",
                     fix: str = "pass latent_dim=model.latent_dim to make_objective") -> None:
    """A ValueError unless ``model.latent_dim`` is ``latent_dim``, the size ``what`` was built for.

    For objectives and networks of their own that read a model's codes (a discriminator, a recogniser).
    """
    got = getattr(model, "latent_dim", None)
    if got != latent_dim:
        raise invalid("model.latent_dim", f"{latent_dim} ({what} was built for latent_dim={latent_dim})", got, fix)


def encoder_fn(model: Any, *, batch_size: int = 1024) -> Callable[[Any], np.ndarray]:
    """``represent(observations) -> codes``: the model's encoder as a NumPy function.

    The metrics of chapter 05 and the model zoo call it with batches of observations
    ``(n, 1, H, W)`` (arrays or tensors) and get float64 codes ``(n, latent_dim)``. It runs the
    model in eval mode without gradients, on the model's device, ``batch_size`` at a time; a
    VAE's ``encode`` gives the posterior mean, as the disentanglement literature scores it.
    """
    require(model, Encoder)
    batch_size = check_int("batch_size", batch_size, low=1)

    @torch.no_grad()
    def represent(observations) -> np.ndarray:
        x = torch.as_tensor(np.asarray(observations, dtype=np.float32)
                            if not isinstance(observations, torch.Tensor) else observations).float()
        params = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
        device = params.device if params is not None else torch.device("cpu")
        was_training = getattr(model, "training", False)
        if isinstance(model, nn.Module):
            model.eval()
        try:
            codes = [model.encode(x[i:i + batch_size].to(device)).detach().cpu()
                     for i in range(0, len(x), batch_size)]
        finally:
            if isinstance(model, nn.Module):
                model.train(was_training)
        return torch.cat(codes).double().numpy() if codes else np.zeros((0, 0))

    return represent
