"""Saving, loading and rebuilding the course's models: the one registry of model classes.

A checkpoint stores a model's weights, its class name, its config (as plain
Python types) and a content hash. :data:`MODEL_CLASSES` maps the class names
a checkpoint may hold to the classes that rebuild them; it is a plain dict
written out here, so the modules that define the models import nothing from
this one (there is no registration by side effect):

    checkpoints -> models (DenseAutoencoder, ConvAutoencoder)
                -> sae    (SparseAutoencoder)
                -> vae    (VAE, whose masked decoder comes from masks)

A new model class that checkpoints should rebuild is added to the dict, with
a ``config_class`` attribute naming the dataclass its config is rebuilt into.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .models import AEConfig, ConvAutoencoder, DenseAutoencoder
from .sae import SparseAutoencoder
from .vae import VAE

__all__ = [
    "MODEL_CLASSES",
    "build_model",
    "config_dict",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
]

CHECKPOINT_FORMAT = "aecourse-checkpoint"
CHECKPOINT_VERSION = 1

#: Class name (as a checkpoint stores it) -> the class that rebuilds it.
MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "DenseAutoencoder": DenseAutoencoder,
    "ConvAutoencoder": ConvAutoencoder,
    "SparseAutoencoder": SparseAutoencoder,
    "VAE": VAE,
}


class CheckpointError(ValueError):
    """A checkpoint file that is missing, corrupt, or for a different model."""


def build_model(name: str, config) -> nn.Module:
    """Rebuild a model from its class name and config (what checkpoints store).

    ``config`` is the model's config dataclass or a plain dict of it; each
    class says which dataclass it takes in its ``config_class`` attribute
    (:class:`~aecourse.models.AEConfig` unless stated otherwise).
    """
    if name not in MODEL_CLASSES:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(MODEL_CLASSES)}")
    cls = MODEL_CLASSES[name]
    if isinstance(config, dict):
        config = getattr(cls, "config_class", AEConfig)(**config)
    return cls(config)


def config_dict(model: nn.Module) -> dict:
    """The model's config as plain Python types (safe for ``torch.load(weights_only=True)``)."""
    d = asdict(model.config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _digest(state_dict: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(model: nn.Module, path: str | Path, **meta) -> Path:
    """Save weights, the model's class and config, and a content hash.

    ``meta`` holds plain values (numbers, strings, lists) such as the
    training history or the seed. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_class": type(model).__name__,
        "config": config_dict(model) if hasattr(model, "config") else None,
        "state_dict": state,
        "sha256": _digest(state),
        "meta": meta,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def load_checkpoint(path: str | Path, model: nn.Module | None = None, *, map_location="cpu"):
    """Load a checkpoint written by :func:`save_checkpoint`.

    With ``model`` given, its weights are replaced (after checking the class
    and every tensor shape match) and ``(model, meta)`` is returned; without
    it the model is rebuilt from the stored class and config.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CheckpointError
        The file is corrupt or truncated, is not an aecourse checkpoint, its
        contents do not match its hash, or it belongs to a different model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model first or check the path")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}): the file is corrupt or truncated. "
            "Delete it and re-train, or re-download it."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a torch file but not an aecourse checkpoint (made by save_checkpoint)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, this aecourse reads {CHECKPOINT_VERSION}"
        )
    state = payload["state_dict"]
    if _digest(state) != payload.get("sha256"):
        raise CheckpointError(f"{path}: weights do not match the stored sha256; the file was damaged or edited")

    stored = payload["model_class"]
    if model is None:
        if stored not in MODEL_CLASSES or payload["config"] is None:
            raise CheckpointError(f"{path} holds a {stored}; pass a model instance to load it into")
        model = build_model(stored, payload["config"])
    elif type(model).__name__ != stored:
        raise CheckpointError(f"{path} holds a {stored}, but the model given is a {type(model).__name__}")

    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if problems:
        raise CheckpointError(
            f"{path} does not fit this model (different config?): " + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        )
    model.load_state_dict(state)
    return model, payload.get("meta", {})
