"""Dense and convolutional autoencoders (chapters 00-setup and 01-dense), small enough to read in one sitting.

Every model here has the same shape of API, so chapters can swap one for
another:

* ``model.encode(x) -> z``   images to codes,
* ``model.decode(z) -> x_hat``  codes to images,
* ``model(x) -> x_hat``      the round trip,
* ``model.config``           the dataclass it was built from (checkpoints store it).

Shapes: ``x`` is ``(batch, channels, height, width)`` with values in [0, 1];
``z`` is ``(batch, latent_dim)``.

The sparse autoencoders of chapters 02-sparse and 03-features are in
:mod:`aecourse.sae`, the VAEs in :mod:`aecourse.vae`; :mod:`aecourse.checkpoints`
saves, loads and rebuilds all of them by class name.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import torch
from torch import nn

from .contracts import check_int

__all__ = [
    "AEConfig",
    "DenseAutoencoder",
    "ConvAutoencoder",
    "count_parameters",
]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def _activation(name: str) -> nn.Module:
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}"
        ) from None


@dataclass
class AEConfig:
    """Everything needed to rebuild an autoencoder.

    Parameters
    ----------
    in_shape : tuple of int
        ``(channels, height, width)`` of one input image.
    latent_dim : int
        Width of the bottleneck (the code).
    hidden : tuple of int
        Hidden widths of the encoder, outermost first (the decoder mirrors
        them). ``()`` makes a *linear* map when ``activation="identity"``.
        For :class:`ConvAutoencoder` these are the channel counts of the
        stride-2 convolutions.
    activation : str
        Nonlinearity between hidden layers: relu, gelu, tanh, sigmoid, identity.
    output : str
        Activation on the reconstruction. ``"sigmoid"`` keeps pixels in
        [0, 1]; ``"identity"`` is what the linear-autoencoder-vs-PCA
        comparison needs.
    """

    in_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 16
    hidden: tuple[int, ...] = (256,)
    activation: str = "relu"
    output: str = "sigmoid"

    def __post_init__(self):
        self.in_shape = tuple(int(s) for s in self.in_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        if len(self.in_shape) != 3 or min(self.in_shape) < 1:
            raise ValueError(
                f"in_shape must be (channels, height, width) with positive sizes, got {self.in_shape}"
            )
        self.latent_dim = check_int("latent_dim", self.latent_dim, low=1)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden}")
        _activation(self.activation), _activation(self.output)  # validate names early


class _Autoencoder(nn.Module):
    """Shared plumbing: input checking, the round trip, the config."""

    config_class = AEConfig  # what aecourse.checkpoints.build_model rebuilds a checkpoint's config into
    config: AEConfig
    encoder: nn.Module
    decoder: nn.Module

    def _check_input(self, x: torch.Tensor) -> None:
        want = self.config.in_shape
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"{type(self).__name__} expects images of shape (batch, {', '.join(map(str, want))}), "
                f"got {tuple(x.shape)}. Add a channel axis with x.unsqueeze(1) if it is missing."
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(batch, *in_shape)`` to codes ``(batch, latent_dim)``."""
        self._check_input(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, latent_dim)`` to images ``(batch, *in_shape)``."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"decode expects codes of shape (batch, {self.config.latent_dim}), got {tuple(z.shape)}"
            )
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim


class DenseAutoencoder(_Autoencoder):
    """A multilayer perceptron squeezed through a bottleneck.

    ``x -> flatten -> [Linear, act]* -> Linear -> z -> [Linear, act]* -> Linear -> output act -> unflatten``

    With ``hidden=()`` and ``activation="identity", output="identity"`` it
    is a *linear* autoencoder, which (trained with squared error) learns the
    same subspace as PCA; chapter 01 shows this.
    """

    def __init__(self, config: AEConfig | None = None, **kwargs):
        super().__init__()
        self.config = config = config or AEConfig(**kwargs)
        widths = [prod(config.in_shape), *config.hidden]
        enc: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), _activation(config.activation)]
        enc.append(nn.Linear(widths[-1], config.latent_dim))
        self.encoder = nn.Sequential(*enc)

        back = widths[::-1]  # mirror image of the encoder
        dec: list[nn.Module] = [nn.Linear(config.latent_dim, back[0])]
        for a, b in zip(back[:-1], back[1:]):
            dec += [_activation(config.activation), nn.Linear(a, b)]
        dec += [_activation(config.output), nn.Unflatten(1, config.in_shape)]
        self.decoder = nn.Sequential(*dec)


class ConvAutoencoder(_Autoencoder):
    """Stride-2 convolutions down, transposed convolutions up.

    Each ``hidden`` entry is one 4x4 stride-2 convolution (halving height
    and width), so the image side must be divisible by ``2**len(hidden)``:
    28x28 with two layers gives a 7x7 feature map, 64x64 with four gives 4x4.
    Convolutions share weights across positions, which is why this model
    needs far fewer parameters than the dense one for the same quality.
    """

    def __init__(self, config: AEConfig | None = None, **kwargs):
        kwargs.setdefault("hidden", (32, 64))
        super().__init__()
        self.config = config = config or AEConfig(**kwargs)
        c, h, w = config.in_shape
        down = 2 ** len(config.hidden)
        if not config.hidden or h % down or w % down:
            raise ValueError(
                f"ConvAutoencoder halves the image once per hidden layer: {h}x{w} is not divisible "
                f"by 2**{len(config.hidden)}={down}. Use fewer hidden layers or another image size."
            )
        chans = [c, *config.hidden]
        feat = (chans[-1], h // down, w // down)

        enc: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(a, b, 4, stride=2, padding=1), _activation(config.activation)]
        enc += [nn.Flatten(), nn.Linear(prod(feat), config.latent_dim)]
        self.encoder = nn.Sequential(*enc)

        back = chans[::-1]
        dec: list[nn.Module] = [
            nn.Linear(config.latent_dim, prod(feat)),
            _activation(config.activation),
            nn.Unflatten(1, feat),
        ]
        for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
            dec.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            last = i == len(back) - 2
            dec.append(_activation(config.output if last else config.activation))
        self.decoder = nn.Sequential(*dec)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

