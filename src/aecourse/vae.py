"""Variational autoencoders for chapters 04-disentangle to 07-where-what.

One model class, :class:`VAE`, and the objectives that turn it into the
models the disentanglement literature compares:

=================  =====================================================
objective          what it adds to the reconstruction term
=================  =====================================================
:func:`ae_loss`    nothing: the encoder mean is decoded as is (a plain AE
                   with exactly the VAE's architecture, for a fair baseline)
:func:`vae_loss`   ``beta * KL(q(z|x) || N(0, I))``; ``beta=1`` is the VAE
                   (Kingma & Welling 2014), ``beta>1`` the beta-VAE
                   (Higgins et al. 2017)
:func:`beta_tcvae_loss`  the KL split into index-code mutual information,
                   total correlation and dimension-wise KL, with the total
                   correlation weighted by ``beta`` (Chen et al. 2018)
=================  =====================================================

Shapes: ``x`` is ``(batch, channels, height, width)`` in [0, 1] and is
modelled as independent Bernoulli pixels (binary dSprites, anti-aliased
glyphs); ``z`` is ``(batch, latent_dim)``.

API shared with :mod:`aecourse.models`: ``encode(x)`` returns the posterior
**mean** (the representation every metric reads), ``decode(z)`` returns
pixel probabilities, ``model(x)`` the mean reconstruction. The extra pieces a
VAE needs are ``posterior(x) -> (mu, logvar)`` and ``decode_logits(z)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import prod
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "VAEConfig",
    "VAE",
    "reparameterize",
    "gaussian_kl",
    "gaussian_log_density",
    "bernoulli_reconstruction",
    "kl_decomposition",
    "ae_loss",
    "vae_loss",
    "beta_tcvae_loss",
    "OBJECTIVES",
    "make_objective",
]

LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    """Everything needed to rebuild a :class:`VAE`.

    Parameters
    ----------
    in_shape : tuple of int
        ``(channels, height, width)`` of one image.
    latent_dim : int
        Number of latent dimensions (10 is the disentanglement_lib default).
    hidden : tuple of int
        Widths of the encoder's hidden layers; the decoder mirrors them.
        The MLP follows Chen et al. (2018), who trained dSprites VAEs with
        fully connected ReLU networks; smaller widths keep CPU training quick.
    """

    in_shape: tuple[int, int, int] = (1, 32, 32)
    latent_dim: int = 10
    hidden: tuple[int, ...] = (512, 256)

    def __post_init__(self):
        self.in_shape = tuple(int(s) for s in self.in_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        if len(self.in_shape) != 3 or min(self.in_shape) < 1:
            raise ValueError(f"in_shape must be (channels, height, width), got {self.in_shape}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden}")


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A Gaussian-encoder, Bernoulli-decoder VAE on flattened images.

    The encoder outputs ``2 * latent_dim`` numbers: the posterior mean and
    the log-variance (log-variance, not variance, so the network output is
    unconstrained).
    """

    def __init__(self, config: VAEConfig | None = None, **kwargs):
        super().__init__()
        self.config = config if config is not None else VAEConfig(**kwargs)
        c = self.config
        d_in = prod(c.in_shape)
        self.encoder = nn.Sequential(nn.Flatten(), _mlp([d_in, *c.hidden, 2 * c.latent_dim]))
        self.decoder = _mlp([c.latent_dim, *reversed(c.hidden), d_in])

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _check_input(self, x: torch.Tensor) -> None:
        want = self.config.in_shape
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"VAE expects images of shape (batch, {', '.join(map(str, want))}), got {tuple(x.shape)}. "
                "Add a channel axis with x.unsqueeze(1) if it is missing."
            )

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(batch, latent_dim)``: the parameters of q(z|x)."""
        self._check_input(x)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``(batch, latent_dim)``: the representation metrics read."""
        return self.posterior(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(batch, *in_shape)`` for codes ``(batch, latent_dim)``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"decode expects codes of shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z).view(len(z), *self.config.in_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities ``(batch, *in_shape)`` in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The mean reconstruction (no sampling), for figures and MSE."""
        return self.decode(self.encode(x))


# --------------------------------------------------------------------------- the pieces of the ELBO
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``.

    Writing the sample as a deterministic function of ``(mu, logvar)`` plus
    outside noise is what lets gradients flow into the encoder
    (Kingma & Welling 2014, section 2.4).
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, shape ``(batch, latent_dim)``.

    Closed form: ``0.5 * (mu**2 + exp(logvar) - logvar - 1)``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mu, exp(logvar)); broadcasts like its inputs."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def bernoulli_reconstruction(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Negative Bernoulli log-likelihood summed over pixels, shape ``(batch,)``."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> dict[str, torch.Tensor]:
    """Split the average KL into mutual information, total correlation and dimension-wise KL.

    Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"
    (https://arxiv.org/abs/1802.04942), eq. (2):

    ``E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || prod_j q(z_j)) + sum_j KL(q(z_j) || p(z_j))``

    The aggregate posterior ``q(z) = 1/N sum_n q(z|x_n)`` is estimated from
    the minibatch with **minibatch-weighted sampling** (their eq. S5):
    ``log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N M)`` for a batch of
    ``M`` out of ``N`` training points, and likewise per dimension for
    ``log q(z_ij)``. disentanglement_lib's ``beta_tcvae`` drops the
    ``log(NM)`` constants (they do not change the gradient); keeping them
    makes the three terms estimates of the real quantities.

    Parameters
    ----------
    z : Tensor, shape (batch, latent_dim)
        One sample from each q(z|x_i).
    mu, logvar : Tensor, shape (batch, latent_dim)
    dataset_size : int
        ``N``, the number of distinct training points (737,280 for dSprites).

    Returns
    -------
    dict with ``"mi"``, ``"tc"``, ``"dwkl"``: scalar tensors (batch means).
    """
    m = z.shape[0]
    if dataset_size < m:
        raise ValueError(f"dataset_size ({dataset_size}) must be at least the batch size ({m})")
    log_nm = math.log(dataset_size * m)
    # log q(z_i | x_j) for every pair (i, j) and dimension: (batch, batch, latent_dim)
    pair = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])
    log_qz_given_x = gaussian_log_density(z, mu, logvar).sum(1)
    log_qz = torch.logsumexp(pair.sum(2), dim=1) - log_nm
    log_prod_qzj = (torch.logsumexp(pair, dim=1) - log_nm).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return {
        "mi": (log_qz_given_x - log_qz).mean(),
        "tc": (log_qz - log_prod_qzj).mean(),
        "dwkl": (log_prod_qzj - log_pz).mean(),
    }


# --------------------------------------------------------------------------- objectives (loss_fn for train.fit)
LossFn = Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, dict]]


def _check_vae(model) -> None:
    if not hasattr(model, "posterior") or not hasattr(model, "decode_logits"):
        raise TypeError(
            f"this objective needs a VAE (with posterior and decode_logits), got {type(model).__name__}; "
            "build one with aecourse.vae.VAE(...)"
        )


def _sampled_elbo_terms(model, x):
    """Encode, sample once, decode: ``(mu, logvar, z, recon, kl)`` with batch-mean recon and KL."""
    _check_vae(model)
    mu, logvar = model.posterior(x)
    z = reparameterize(mu, logvar)
    recon = bernoulli_reconstruction(model.decode_logits(z), x).mean()
    kl = gaussian_kl(mu, logvar).sum(1).mean()
    return mu, logvar, z, recon, kl


def ae_loss() -> LossFn:
    """Reconstruction only, decoding the encoder mean: a deterministic autoencoder.

    It uses :class:`VAE`'s architecture (the log-variance head is ignored),
    so AE-vs-VAE comparisons differ in the objective alone.
    """

    def loss_fn(model, x):
        _check_vae(model)
        mu, _ = model.posterior(x)
        recon = bernoulli_reconstruction(model.decode_logits(mu), x).mean()
        return recon, {"recon": recon.item()}

    return loss_fn


def vae_loss(beta: float = 1.0) -> LossFn:
    """The negative ELBO with the KL weighted by ``beta``.

    ``beta=1`` is the VAE of Kingma & Welling (2014); ``beta>1`` is the
    beta-VAE of Higgins et al. (2017), which trades reconstruction for a
    code closer to the factorised prior. Returns ``(loss, logs)`` per batch,
    averaged over the batch and summed over pixels and latents.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")

    def loss_fn(model, x):
        _, _, _, recon, kl = _sampled_elbo_terms(model, x)
        return recon + beta * kl, {"recon": recon.item(), "kl": kl.item()}

    return loss_fn


def beta_tcvae_loss(beta: float = 6.0, *, dataset_size: int, alpha: float = 1.0, gamma: float = 1.0) -> LossFn:
    """beta-TCVAE: ``recon + alpha * MI + beta * TC + gamma * DWKL`` (Chen et al. 2018, eq. 4).

    With ``alpha = gamma = 1`` (the paper's and disentanglement_lib's choice)
    this equals ``recon + KL + (beta - 1) * TC``. The three terms come from
    :func:`kl_decomposition` (minibatch-weighted sampling), so the batch
    should be reasonably large (Chen et al. use 2048; 256 works here).
    """
    if beta < 0 or alpha < 0 or gamma < 0:
        raise ValueError(f"beta, alpha and gamma must be >= 0, got {beta}, {alpha}, {gamma}")

    def loss_fn(model, x):
        mu, logvar, z, recon, kl = _sampled_elbo_terms(model, x)
        parts = kl_decomposition(z, mu, logvar, dataset_size)
        loss = recon + alpha * parts["mi"] + beta * parts["tc"] + gamma * parts["dwkl"]
        return loss, {"recon": recon.item(), "kl": kl.item(), **{k: v.item() for k, v in parts.items()}}

    return loss_fn


#: Objective names used by the zoo and the chapters.
OBJECTIVES = ("ae", "vae", "beta_vae", "beta_tcvae")


def make_objective(name: str, *, beta: float | None = None, dataset_size: int | None = None) -> LossFn:
    """Build an objective by name: ``"ae"``, ``"vae"``, ``"beta_vae"`` or ``"beta_tcvae"``."""
    if name == "ae":
        return ae_loss()
    if name == "vae":
        return vae_loss(1.0)
    if name == "beta_vae":
        return vae_loss(4.0 if beta is None else beta)
    if name == "beta_tcvae":
        if dataset_size is None:
            raise ValueError("beta_tcvae needs dataset_size (the number of training images)")
        return beta_tcvae_loss(6.0 if beta is None else beta, dataset_size=dataset_size)
    raise ValueError(f"unknown objective {name!r}; expected one of {OBJECTIVES}")


VAE.config_class = VAEConfig  # what build_model rebuilds a checkpoint's config into


def _register() -> None:
    # Checkpoints name their class; registering here lets load_checkpoint rebuild a VAE.
    from .models import MODEL_CLASSES

    MODEL_CLASSES.setdefault("VAE", VAE)


_register()
