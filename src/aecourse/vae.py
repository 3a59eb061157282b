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
:class:`AnnealedCapacityLoss`  ``gamma * |KL - C|`` with a capacity ``C``
                   that grows during training (Burgess et al. 2018)
:class:`FactorVAELoss`  ``KL + gamma * TC``, the total correlation
                   estimated by a discriminator (Kim & Mnih 2018)
:func:`beta_tcvae_loss`  the KL split into index-code mutual information,
                   total correlation and dimension-wise KL, with the total
                   correlation weighted by ``beta`` (Chen et al. 2018)
:class:`BetaTCVAEPerturbationLoss`  beta-TCVAE plus ``ps_weight`` times the
                   perturbation-simplicity loss of Zhu, Xu & Tao (2021), with
                   its own trainable recogniser (chapter 07-where-what)
=================  =====================================================

Shapes: ``x`` is ``(batch, channels, height, width)`` in [0, 1] and is
modelled as independent Bernoulli pixels (binary dSprites, anti-aliased
glyphs); ``z`` is ``(batch, latent_dim)``.

Architectures (:class:`VAEConfig` ``encoder`` / ``decoder``): fully connected
networks (``"mlp"``, the default, as Chen et al. 2018 used for dSprites), the
beta-VAE papers' convolutional networks for 32x32 and 64x64 images
(``"conv"``), and for the decoder also the spatially masked decoder of
:class:`aecourse.wherewhat.MaskedDecoder` (``"masked"``).

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
    "conv_encoder",
    "conv_decoder",
    "reparameterize",
    "gaussian_kl",
    "gaussian_log_density",
    "bernoulli_reconstruction",
    "kl_decomposition",
    "ae_loss",
    "vae_loss",
    "beta_tcvae_loss",
    "BetaTCVAEPerturbationLoss",
    "AnnealedCapacityLoss",
    "FactorVAELoss",
    "permute_dims",
    "MaskAreaPenalty",
    "OBJECTIVES",
    "make_objective",
]

LOG_2PI = math.log(2 * math.pi)


#: Architectures a VAEConfig may name.
ENCODERS = ("mlp", "conv")
DECODERS = ("mlp", "conv", "masked")
CONV_SIDES = (32, 64)


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
        Widths of the MLP encoder's hidden layers; the MLP decoder mirrors
        them (unused by the conv and masked networks).
        The MLP follows Chen et al. (2018), who trained dSprites VAEs with
        fully connected ReLU networks; smaller widths keep CPU training quick.
    encoder : "mlp" or "conv"
        ``"conv"`` is the beta-VAE papers' convolutional encoder for 64x64
        images, shortened by one stride-2 layer for 32x32 ones; see
        :func:`conv_encoder`. Only square 32x32 or 64x64 images.
    decoder : "mlp", "conv" or "masked"
        ``"conv"`` mirrors the conv encoder (:func:`conv_decoder`);
        ``"masked"`` is :class:`aecourse.wherewhat.MaskedDecoder` (every
        latent acts through a learned spatial mask on an 8x8 grid), for
        square images whose side is 8 times a power of two.

    Configs saved before ``encoder`` and ``decoder`` existed load as the
    MLPs they were.
    """

    in_shape: tuple[int, int, int] = (1, 32, 32)
    latent_dim: int = 10
    hidden: tuple[int, ...] = (512, 256)
    encoder: str = "mlp"
    decoder: str = "mlp"

    def __post_init__(self):
        self.in_shape = tuple(int(s) for s in self.in_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        if len(self.in_shape) != 3 or min(self.in_shape) < 1:
            raise ValueError(f"in_shape must be (channels, height, width), got {self.in_shape}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; expected one of {ENCODERS}")
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; expected one of {DECODERS}")
        _, h, w = self.in_shape
        for part, kind in (("encoder", self.encoder), ("decoder", self.decoder)):
            if kind == "conv" and not (h == w and h in CONV_SIDES):
                raise ValueError(
                    f"the conv {part} takes square 32x32 or 64x64 images, got {h}x{w}; resize the images "
                    f"(e.g. DSpritesGroundTruth(resolution=32)) or use {part}='mlp'"
                )
        ratio = h // 8
        if self.decoder == "masked" and not (h == w and h % 8 == 0 and ratio & (ratio - 1) == 0):
            raise ValueError(
                f"the masked decoder makes square images whose side is 8 times a power of two (8, 16, 32, 64, ...), "
                f"got {h}x{w}; resize the images (e.g. DSpritesGroundTruth(resolution=32)) or use decoder='mlp'"
            )


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def conv_encoder(in_shape: tuple[int, int, int], latent_dim: int) -> nn.Sequential:
    """The convolutional encoder, ``(batch, c, s, s) -> (batch, 2 * latent_dim)`` for side ``s`` 32 or 64.

    ``Conv2d(c, 32, 4, 2, 1) - ReLU - Conv2d(32, 32, 4, 2, 1) - ReLU - Conv2d(32, 64, 4, 2, 1) - ReLU``
    ``[- Conv2d(64, 64, 4, 2, 1) - ReLU for 64x64] - Flatten - Linear(64*4*4, 256) - ReLU``
    ``- Linear(256, 2 * latent_dim)``

    The convolutional encoder of the beta-VAE papers for 64x64 images
    (Higgins et al. 2017; Burgess et al. 2018, https://arxiv.org/abs/1804.03599),
    also the one of Locatello et al. 2019, except that disentanglement_lib's
    ``conv_encoder`` uses 2x2 kernels in its last two convolutions (its
    source marks that as not matching the paper). 32x32 images skip the last
    convolution, so both sizes end on a 4x4 map.
    """
    c, side, _ = in_shape
    n = 4  # side / 8 for 32x32, side / 16 for 64x64
    layers: list[nn.Module] = [nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
                               nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU()]
    if side == 64:
        layers += [nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU()]
    layers += [nn.Flatten(), nn.Linear(64 * n * n, 256), nn.ReLU(), nn.Linear(256, 2 * latent_dim)]
    return nn.Sequential(*layers)


def conv_decoder(out_shape: tuple[int, int, int], latent_dim: int) -> nn.Sequential:
    """The mirror of :func:`conv_encoder`: codes ``(batch, latent_dim)`` -> logits ``(batch, c, s, s)``.

    ``Linear(d, 256) - ReLU - Linear(256, 64*4*4) - ReLU - Unflatten``
    ``[- ConvTranspose2d(64, 64, 4, 2, 1) - ReLU for 64x64] - ConvTranspose2d(64, 32, 4, 2, 1) - ReLU``
    ``- ConvTranspose2d(32, 32, 4, 2, 1) - ReLU - ConvTranspose2d(32, c, 4, 2, 1)``
    """
    c, side, _ = out_shape
    n = 4
    layers: list[nn.Module] = [nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 64 * n * n), nn.ReLU(),
                               nn.Unflatten(1, (64, n, n))]
    if side == 64:
        layers += [nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU()]
    layers += [nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
               nn.ConvTranspose2d(32, c, 4, 2, 1)]
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A Gaussian-encoder, Bernoulli-decoder VAE.

    The encoder outputs ``2 * latent_dim`` numbers: the posterior mean and
    the log-variance (log-variance, not variance, so the network output is
    unconstrained). Which networks encode and decode is set by the config's
    ``encoder`` and ``decoder`` (MLPs on flattened images by default).
    """

    def __init__(self, config: VAEConfig | None = None, **kwargs):
        super().__init__()
        self.config = config if config is not None else VAEConfig(**kwargs)
        c = self.config
        d_in = prod(c.in_shape)
        # The MLP modules keep their original structure, so checkpoints saved before conv existed still load.
        if c.encoder == "conv":
            self.encoder = conv_encoder(c.in_shape, c.latent_dim)
        else:
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([d_in, *c.hidden, 2 * c.latent_dim]))
        if c.decoder == "conv":
            self.decoder = conv_decoder(c.in_shape, c.latent_dim)
        elif c.decoder == "masked":
            from .wherewhat import MaskedDecoder

            self.decoder = MaskedDecoder(c.latent_dim, c.in_shape)
        else:
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
        return self.decoder(z).reshape(len(z), *self.config.in_shape)

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


def _check_latent_dim(model, latent_dim: int) -> None:
    """For objectives with networks of their own that read codes: they must match the model's latent size."""
    if model.latent_dim != latent_dim:
        raise ValueError(f"this objective was built for latent_dim={latent_dim}, the model has "
                         f"{model.latent_dim}; pass latent_dim=model.latent_dim to make_objective")


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


class BetaTCVAEPerturbationLoss(nn.Module):
    """beta-TCVAE plus perturbation simplicity: ``beta_tcvae + ps_weight * perturbation_loss``.

    The second term is :func:`aecourse.wherewhat.perturbation_loss` (Zhu, Xu
    & Tao 2021): ``ps_batch`` codes are drawn from the prior ``N(0, I)`` (the
    codes the decoder must render well, and the ones traversals and the TPL
    score visit), one latent of each is moved by ``eps``
    (:func:`~aecourse.wherewhat.sample_perturbations`), and the
    :class:`~aecourse.wherewhat.PerturbationRecogniser` held by this module
    must tell from the two decoded images which latent moved and by how
    much. Its gradient reaches the decoder and the recogniser alike (not the
    encoder: the codes come from the prior).

    Because the recogniser has weights, this objective is an ``nn.Module``:
    give its ``parameters()`` to the optimiser along with the VAE's (as
    :func:`aecourse.zoo.train` does). Call it like the other objectives,
    ``loss_fn(model, x) -> (loss, logs)``; ``logs`` adds ``"ps"`` (the
    unweighted term), ``"ps_ce"``, ``"ps_mse"`` and ``"ps_acc"`` to
    beta-TCVAE's. The noise comes from the global torch generator, like the
    VAE's reparameterisation, so a seeded run repeats exactly.

    Parameters
    ----------
    beta : float
        beta-TCVAE's total-correlation weight.
    dataset_size : int
    latent_dim : int
    image_shape : (channels, height, width)
    ps_weight : float
        Weight of the perturbation-simplicity term (0 leaves it out).
    ps_batch : int, optional
        Codes per step for the term (default: the data batch size).
    eps_scale : float
        Largest ``|eps|`` (see :func:`~aecourse.wherewhat.sample_perturbations`).
    alpha, gamma : float
        beta-TCVAE's MI and dimension-wise KL weights (:func:`beta_tcvae_loss`).
    """

    def __init__(self, beta: float = 6.0, *, dataset_size: int, latent_dim: int,
                 image_shape: tuple[int, int, int], ps_weight: float = 1.0, ps_batch: int | None = None,
                 eps_scale: float = 2.0, alpha: float = 1.0, gamma: float = 1.0):
        super().__init__()
        from .wherewhat import PerturbationRecogniser

        if ps_weight < 0:
            raise ValueError(f"ps_weight must be >= 0, got {ps_weight}")
        if ps_batch is not None and ps_batch < 1:
            raise ValueError(f"ps_batch must be >= 1 or None, got {ps_batch}")
        self.tcvae = beta_tcvae_loss(beta, dataset_size=dataset_size, alpha=alpha, gamma=gamma)
        self.recogniser = PerturbationRecogniser(latent_dim, image_shape)
        self.latent_dim, self.ps_weight, self.ps_batch, self.eps_scale = latent_dim, ps_weight, ps_batch, eps_scale

    def forward(self, model, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        from .wherewhat import perturbation_loss, sample_perturbations

        _check_latent_dim(model, self.latent_dim)
        loss, logs = self.tcvae(model, x)
        n = self.ps_batch or len(x)
        z = torch.randn(n, self.latent_dim, device=x.device)
        dims, eps = sample_perturbations(n, self.latent_dim, scale=self.eps_scale)
        ps, ps_logs = perturbation_loss(model.decode, self.recogniser, z, dims.to(x.device), eps.to(x.device))
        return loss + self.ps_weight * ps, {**logs, "ps": ps.item(), **ps_logs}


class AnnealedCapacityLoss(nn.Module):
    """Capacity-annealed beta-VAE: ``recon + gamma * |KL - C(t)|`` (Burgess et al. 2018).

    "Understanding disentangling in beta-VAE" (https://arxiv.org/abs/1804.03599):
    instead of a fixed KL weight, the KL is held near a target capacity
    ``C(t)`` (in nats) that grows linearly from 0 to ``c_max`` over
    ``anneal_steps`` training steps and then stays there. A tight budget
    early on lets only the factor that buys the most reconstruction in
    (position, for dSprites); as it grows, scale, then orientation and shape
    follow, each into its own latent. Defaults are disentanglement_lib's
    ``AnnealedVAE`` (``gamma=1000``, ``c_max=25``, ``iteration_threshold``
    100,000 steps of batch 64); its study also tries ``c_max`` 5 to 100.

    The schedule needs the step number, so this objective is stateful:
    every call made with the model in training mode and gradients enabled
    counts as one step (``steps_done``); evaluation calls under
    ``torch.no_grad()`` or ``model.eval()`` leave it alone. Build a fresh
    objective for a fresh training run. ``logs`` add ``"capacity"``.

    Parameters
    ----------
    gamma : float
        Weight of ``|KL - C|``, large enough that the KL tracks ``C``.
    c_max : float
        Final capacity in nats (summed over latents, averaged over the batch).
    anneal_steps : int
        Steps over which ``C`` grows from 0 to ``c_max``.
    """

    def __init__(self, gamma: float = 1000.0, c_max: float = 25.0, anneal_steps: int = 100000):
        super().__init__()
        if gamma < 0 or c_max < 0:
            raise ValueError(f"gamma and c_max must be >= 0, got {gamma} and {c_max}")
        if anneal_steps < 1:
            raise ValueError(f"anneal_steps must be >= 1, got {anneal_steps}")
        self.gamma, self.c_max, self.anneal_steps = float(gamma), float(c_max), int(anneal_steps)
        self.steps_done = 0

    def capacity(self, step: int | None = None) -> float:
        """``C`` at ``step`` (default: the current step)."""
        step = self.steps_done if step is None else step
        return self.c_max * min(1.0, step / self.anneal_steps)

    def forward(self, model, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        _, _, _, recon, kl = _sampled_elbo_terms(model, x)
        c = self.capacity()
        if model.training and torch.is_grad_enabled():
            self.steps_done += 1
        loss = recon + self.gamma * (kl - c).abs()
        return loss, {"recon": recon.item(), "kl": kl.item(), "capacity": c}


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Shuffle each column of ``z`` (batch, latent_dim) independently.

    The rows of the result are samples of ``prod_j q(z_j)``: every latent
    keeps its marginal, but the latents no longer belong to the same image
    (Kim & Mnih 2018, Algorithm 1). Uses the global torch generator.
    """
    order = torch.argsort(torch.rand(z.shape, device=z.device), dim=0)
    return torch.gather(z, 0, order)


class FactorVAELoss(nn.Module):
    """FactorVAE: ``recon + KL + gamma * TC`` with the TC estimated by a discriminator (Kim & Mnih 2018).

    "Disentangling by Factorising" (https://arxiv.org/abs/1802.05983). A
    discriminator ``D`` learns to tell codes ``z ~ q(z)`` (one sample per
    image) from codes whose latents were shuffled across the batch
    (:func:`permute_dims`, samples of ``prod_j q(z_j)``); the density-ratio
    trick turns its logits into the total-correlation estimate
    ``TC ~= E[log D(z) - log(1 - D(z))]``, which the VAE is penalised by.
    As in disentanglement_lib's ``FactorVAE``, the shuffled codes come from
    the same batch.

    One call returns the sum of two losses whose gradients do not mix: the
    VAE's (the discriminator's weights are read detached, so this part does
    not train ``D``) and the discriminator's cross-entropy on detached codes
    (which does not train the VAE). So one optimiser over the VAE's and this
    module's ``parameters()`` trains both (as :func:`aecourse.zoo.train`
    does); the paper uses a second Adam for ``D``. ``logs`` add ``"tc"``
    (the estimate), ``"disc_loss"`` and ``"disc_acc"``.

    Parameters
    ----------
    gamma : float
        TC weight; the paper's best on dSprites is 35 (disentanglement_lib
        tries 10 to 100).
    latent_dim : int
    hidden : tuple of int
        ``D``'s hidden widths (leaky ReLU 0.2). The paper uses six layers of
        1,000 units; three of 256 are plenty for 10 latents and CPU-cheap.
    """

    def __init__(self, gamma: float = 35.0, *, latent_dim: int, hidden: tuple[int, ...] = (256, 256, 256)):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        widths = [latent_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.discriminator = nn.Sequential(*layers, nn.Linear(widths[-1], 2))  # logits: [joint, shuffled]
        self.gamma, self.latent_dim = float(gamma), latent_dim

    def estimate_tc(self, z: torch.Tensor) -> torch.Tensor:
        """``E[log D(z) - log(1 - D(z))]`` over the batch: the TC estimate (gradients reach ``z``, not ``D``)."""
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        logits = torch.func.functional_call(self.discriminator, frozen, (z,))
        return (logits[:, 0] - logits[:, 1]).mean()

    def discriminator_loss(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cross-entropy, accuracy)`` of ``D`` on ``z`` against :func:`permute_dims` of it (``z`` detached)."""
        z = z.detach()
        logits = self.discriminator(torch.cat([z, permute_dims(z)]))
        labels = torch.arange(2, device=z.device).repeat_interleave(len(z))  # 0: joint, 1: shuffled
        return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()

    def forward(self, model, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        _check_latent_dim(model, self.latent_dim)
        _, _, z, recon, kl = _sampled_elbo_terms(model, x)
        tc = self.estimate_tc(z)
        disc_loss, acc = self.discriminator_loss(z)
        loss = recon + kl + self.gamma * tc
        return loss + disc_loss, {"recon": recon.item(), "kl": kl.item(), "tc": tc.item(),
                                  "disc_loss": disc_loss.item(), "disc_acc": acc.item()}


class MaskAreaPenalty(nn.Module):
    """Any objective plus ``weight * sum_j area(M_j)``: an incentive for the masks of a masked decoder to shrink.

    ``area`` is :func:`aecourse.wherewhat.mask_area`, the fraction of the grid
    a mask covers, so ``weight`` is in nats per whole-grid mask. Nothing in
    a VAE objective rewards small masks (a broad mask costs nothing), so
    without a penalty they stay nearly as broad as they start; the penalty
    makes every latent pay for the area it may touch.

    An option, off in the zoo: on dSprites it did not help. In 1,500-step
    trials of ``dsprites_where`` (32x32, batch 256) the masks stayed at
    94-98% of the grid without it; with ``weight=20`` all ten shrank alike,
    to about 65% (6x6 of the 8x8 cells), none specialising, while the
    reconstruction got worse (43 against 35 nats) and MIG fell (0.07
    against 0.25). That fits the data: a single sprite can be anywhere, so
    every factor acts wherever the sprite is and needs a broad mask.

    It is an nn.Module so that an objective with weights of its own
    (e.g. :class:`BetaTCVAEPerturbationLoss`) keeps them visible through
    ``parameters()``. ``logs`` gain ``"mask_area"``, the mean area.

    Parameters
    ----------
    objective : callable ``(model, x) -> (loss, logs)``
    weight : float
        >= 0.
    """

    def __init__(self, objective, weight: float):
        super().__init__()
        if weight < 0:
            raise ValueError(f"the mask-area weight must be >= 0, got {weight}")
        self.objective, self.weight = objective, weight

    def forward(self, model, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        from .wherewhat import mask_area

        loss, logs = self.objective(model, x)
        masks = getattr(getattr(model, "decoder", None), "masks", None)
        if masks is None:
            raise TypeError("a mask-area penalty needs a VAE with decoder='masked' (its decoder has masks()); "
                            "set mask_weight=0 for other models")
        area = mask_area(masks())
        return loss + self.weight * area.sum(), {**logs, "mask_area": area.mean().item()}


#: Objective names used by the zoo and the chapters.
OBJECTIVES = ("ae", "vae", "beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "beta_tcvae_ps")


def make_objective(name: str, *, beta: float | None = None, dataset_size: int | None = None,
                   latent_dim: int | None = None, image_shape: tuple[int, int, int] | None = None,
                   ps_weight: float = 1.0, ps_batch: int | None = None, mask_weight: float = 0.0,
                   alpha: float = 1.0, gamma: float = 1.0, c_max: float = 25.0,
                   anneal_steps: int = 100000) -> LossFn:
    """Build an objective by name, one of :data:`OBJECTIVES`.

    ``"beta_tcvae"`` needs ``dataset_size``; ``"beta_tcvae_ps"``
    (:class:`BetaTCVAEPerturbationLoss`) also ``latent_dim`` and
    ``image_shape``, and takes ``ps_weight`` and ``ps_batch``; it returns an
    ``nn.Module`` whose parameters must be trained too. The other objectives
    ignore the keywords they do not use. ``mask_weight > 0`` adds a
    :class:`MaskAreaPenalty` to any objective (masked decoders only).
    ``alpha`` and ``gamma`` weight beta-TCVAE's index-code MI and
    dimension-wise KL (:func:`beta_tcvae_loss`; 1 and 1 in the paper).
    ``"annealed_vae"`` (:class:`AnnealedCapacityLoss`) takes ``beta`` as its
    ``gamma`` (default 1000), and ``c_max`` and ``anneal_steps``;
    ``"factor_vae"`` (:class:`FactorVAELoss`, an ``nn.Module`` whose
    discriminator must be trained too) takes ``beta`` as its ``gamma``
    (default 35) and needs ``latent_dim``.
    """
    if mask_weight:
        inner = make_objective(name, beta=beta, dataset_size=dataset_size, latent_dim=latent_dim,
                               image_shape=image_shape, ps_weight=ps_weight, ps_batch=ps_batch,
                               alpha=alpha, gamma=gamma, c_max=c_max, anneal_steps=anneal_steps)
        return MaskAreaPenalty(inner, mask_weight)
    if name == "ae":
        return ae_loss()
    if name == "vae":
        return vae_loss(1.0)
    if name == "beta_vae":
        return vae_loss(4.0 if beta is None else beta)
    if name == "factor_vae":
        if latent_dim is None:
            raise ValueError("factor_vae needs latent_dim (its discriminator reads codes), e.g. latent_dim=model.latent_dim")
        return FactorVAELoss(35.0 if beta is None else beta, latent_dim=latent_dim)
    if name == "annealed_vae":
        return AnnealedCapacityLoss(1000.0 if beta is None else beta, c_max=c_max, anneal_steps=anneal_steps)
    if name in ("beta_tcvae", "beta_tcvae_ps"):
        if dataset_size is None:
            raise ValueError(f"{name} needs dataset_size (the number of training images)")
        beta = 6.0 if beta is None else beta
        if name == "beta_tcvae":
            return beta_tcvae_loss(beta, dataset_size=dataset_size, alpha=alpha, gamma=gamma)
        if latent_dim is None or image_shape is None:
            raise ValueError("beta_tcvae_ps needs latent_dim and image_shape (its recogniser looks at decoded "
                             "images), e.g. latent_dim=model.latent_dim, image_shape=model.config.in_shape")
        return BetaTCVAEPerturbationLoss(beta, dataset_size=dataset_size, latent_dim=latent_dim,
                                         image_shape=image_shape, ps_weight=ps_weight, ps_batch=ps_batch,
                                         alpha=alpha, gamma=gamma)
    raise ValueError(f"unknown objective {name!r}; expected one of {OBJECTIVES}")


VAE.config_class = VAEConfig  # what build_model rebuilds a checkpoint's config into


def _register() -> None:
    # Checkpoints name their class; registering here lets load_checkpoint rebuild a VAE.
    from .models import MODEL_CLASSES

    MODEL_CLASSES.setdefault("VAE", VAE)


_register()
