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
=================  =====================================================

Chapter 07's objectives (beta-TCVAE plus perturbation simplicity, the
mask-area penalty) are in :mod:`aecourse.wherewhat`; every objective by name
is :func:`aecourse.objectives.make_objective`.

Shapes: ``x`` is ``(batch, channels, height, width)`` in [0, 1] and is
modelled as independent Bernoulli pixels (binary dSprites, anti-aliased
glyphs); ``z`` is ``(batch, latent_dim)``.

Architectures (:class:`VAEConfig` ``encoder`` / ``decoder``): fully connected
networks (``"mlp"``, the default, as Chen et al. 2018 used for dSprites), the
beta-VAE papers' convolutional networks for 32x32 and 64x64 images
(``"conv"``), and for the decoder also the spatially masked decoder of
:class:`aecourse.masks.MaskedDecoder` (``"masked"``) and the spatial broadcast
decoder of :class:`aecourse.broadcast.BroadcastDecoder` (``"broadcast"``).

Imports: :mod:`aecourse.contracts`, :mod:`aecourse.masks` and :mod:`aecourse.broadcast` only.

API shared with :mod:`aecourse.models`: ``encode(x)`` returns the posterior
**mean** (the representation every metric reads), ``decode(z)`` returns
pixel probabilities, ``model(x)`` the mean reconstruction. The extra pieces a
VAE needs are ``posterior(x) -> (mu, logvar)`` and ``decode_logits(z)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import prod
import torch
import torch.nn.functional as F
from torch import nn

from .contracts import LossFn, VariationalAutoencoder, check_int, check_latent_dim, check_number, require
from .broadcast import BroadcastDecoder
from .masks import MaskedDecoder

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
    "AnnealedCapacityLoss",
    "FactorVAELoss",
    "permute_dims",
]

LOG_2PI = math.log(2 * math.pi)


#: Architectures a VAEConfig may name.
ENCODERS = ("mlp", "conv")
DECODERS = ("mlp", "conv", "masked", "broadcast")
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
    decoder : "mlp", "conv", "masked" or "broadcast"
        ``"conv"`` mirrors the conv encoder (:func:`conv_decoder`);
        ``"masked"`` is :class:`aecourse.masks.MaskedDecoder` (every
        latent acts through a learned spatial mask on an 8x8 grid), for
        square images whose side is 8 times a power of two;
        ``"broadcast"`` is :class:`aecourse.broadcast.BroadcastDecoder`
        (Watters et al. 2019: the code copied to every pixel with the
        pixel's coordinates, one small MLP per pixel), for square images.

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
        self.latent_dim = check_int("latent_dim", self.latent_dim, low=1)
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
        if self.decoder == "broadcast" and h != w:
            raise ValueError(f"the broadcast decoder makes square images, got {h}x{w}; resize the images "
                             "(e.g. DSpritesGroundTruth(resolution=32)) or use decoder='mlp'")
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

    config_class = VAEConfig  # what aecourse.checkpoints.build_model rebuilds a checkpoint's config into

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
            self.decoder = MaskedDecoder(c.latent_dim, c.in_shape)
        elif c.decoder == "broadcast":
            self.decoder = BroadcastDecoder(c.latent_dim, c.in_shape)
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
    ``log(NM)`` constants (they do not change the gradient); they are kept
    here so that the three terms are on the scale of the real quantities.
    They are still **biased** minibatch estimates, not the quantities
    themselves: with fully collapsed posteriors (every ``q(z|x_n)`` the same,
    so the true MI and TC are 0) a batch gives ``MI = log N`` and
    ``TC = (D - 1) log N`` (``D`` latents) and ``DWKL = -D log N``, which
    cancel in the sum. Their sum is exactly the single-sample estimate
    ``log q(z|x) - log p(z)``, which equals the KL only in expectation; each
    term is biased, by an amount that depends on the batch size ``M`` and on
    ``N``.

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
_NEEDS_A_VAE = "this objective needs a VAE: build one with aecourse.vae.VAE(...)"


def _sampled_elbo_terms(model, x):
    """Encode, sample once, decode: ``(mu, logvar, z, recon, kl)`` with batch-mean recon and KL."""
    require(model, VariationalAutoencoder, fix=_NEEDS_A_VAE)
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
        require(model, VariationalAutoencoder, fix=_NEEDS_A_VAE)
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
    beta = check_number("beta", beta, low=0)

    def loss_fn(model, x):
        _, _, _, recon, kl = _sampled_elbo_terms(model, x)
        return recon + beta * kl, {"recon": recon.item(), "kl": kl.item()}

    return loss_fn


def beta_tcvae_loss(beta: float = 6.0, *, dataset_size: int, alpha: float = 1.0, gamma: float = 1.0) -> LossFn:
    """beta-TCVAE: ``recon + alpha * MI + beta * TC + gamma * DWKL`` (Chen et al. 2018, eq. 4).

    With ``alpha = gamma = 1`` (the paper's and disentanglement_lib's choice)
    this is ``recon + KL + (beta - 1) * TC``, where the KL is the
    single-sample estimate ``log q(z|x) - log p(z)`` (equal to the analytic KL
    only in expectation) and TC is the minibatch estimate. The three terms
    come from :func:`kl_decomposition` (minibatch-weighted sampling, biased:
    see there), so the batch should be reasonably large (Chen et al. use
    2048; 256 works here).
    """
    beta, alpha, gamma = (check_number(name, value, low=0)
                          for name, value in (("beta", beta), ("alpha", alpha), ("gamma", gamma)))

    def loss_fn(model, x):
        mu, logvar, z, recon, kl = _sampled_elbo_terms(model, x)
        parts = kl_decomposition(z, mu, logvar, dataset_size)
        loss = recon + alpha * parts["mi"] + beta * parts["tc"] + gamma * parts["dwkl"]
        return loss, {"recon": recon.item(), "kl": kl.item(), **{k: v.item() for k, v in parts.items()}}

    return loss_fn


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
        self.gamma = check_number("gamma", gamma, low=0)
        self.c_max = check_number("c_max", c_max, low=0)
        self.anneal_steps = check_int("anneal_steps", anneal_steps, low=1)
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
        gamma = check_number("gamma", gamma, low=0)
        latent_dim = check_int("latent_dim", latent_dim, low=1)
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
        check_latent_dim(model, self.latent_dim)
        _, _, z, recon, kl = _sampled_elbo_terms(model, x)
        tc = self.estimate_tc(z)
        disc_loss, acc = self.discriminator_loss(z)
        loss = recon + kl + self.gamma * tc
        return loss + disc_loss, {"recon": recon.item(), "kl": kl.item(), "tc": tc.item(),
                                  "disc_loss": disc_loss.item(), "disc_acc": acc.item()}
