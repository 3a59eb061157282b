"""Where and what: spatial masks, perturbation simplicity and traversal length (chapter 07-where-what).

The chapter follows

    X. Zhu, C. Xu and D. Tao (2021). "Where and What? Examining Interpretable
    Disentangled Representations". CVPR 2021, https://arxiv.org/abs/2104.05622.
    Official code: github.com/zhuxinqimac/PS-SC (training) and
    github.com/zhuxinqimac/TPL-Evaluate (the TPL score).

Their claim is that an interpretable latent answers two questions: **where**
in the image it acts (a spatial region) and **what** it does there (a change
simple enough to recognise). This module holds the three pieces, written
afresh in PyTorch for small CPU-trained VAEs:

=====================================  ================================================
piece                                  what it is
=====================================  ================================================
:func:`soft_interval`,                 WHERE: each latent writes into the decoder's
:func:`soft_rectangle_masks`,          feature map only through a soft rectangle built
:func:`compose_masked`,                from cumulative softmaxes (the paper's "spatial
:class:`MaskedDecoder`                 constriction")
:class:`PerturbationRecogniser`,       WHAT: "perturbation simplicity". Perturb one latent
:func:`sample_perturbations`,          of a code, decode both codes, and ask a small
:func:`perturbation_loss`              network which latent moved and by how much; the
                                       decoder is trained to make that easy
:class:`BetaTCVAEPerturbationLoss`,    the chapter's objectives: beta-TCVAE plus
:class:`MaskAreaPenalty`               perturbation simplicity (with its own trainable
                                       recogniser), and a penalty on the masks' area
:func:`traversal_length`,              model selection without labels: the total image
:func:`traversal_lengths`,             change along each latent's traversal, summed over
:func:`tpl_score`                      the active latents (Traversal Perceptual Length)
=====================================  ================================================

Differences from PS-SC's spatial constriction (``training/modular_networks2.py``,
``build_C_spgroup_layers``): there the rectangle logits are predicted from each
image's features inside a StyleGAN2 generator, the end factor is
``1 - cumsum(q)`` (``P(end > i)``), and a latent's style is blended in as
``x (1 - M) + styled(x) M``. Here each latent's rectangle is a learned
parameter, the same for every code (so the mask is a property of the latent
that a figure can show), the end factor is ``P(end >= i)`` (a start and an
end on the same cell keep that cell), and effects are added to a learned base
(:func:`compose_masked`).

The WHERE pieces live in :mod:`aecourse.masks` (the VAE's ``decoder="masked"``
is built from them, and this module imports :mod:`aecourse.vae`, so they
cannot live here without an import circle); they are re-exported here, so
the chapter reads all of its code from one module. Imports point one way:
``wherewhat -> vae -> masks`` and ``wherewhat -> masks``. Objectives by name
(``"beta_tcvae_ps"``, ``mask_weight``) are :func:`aecourse.objectives.make_objective`.

Shapes: codes ``z`` are ``(batch, latent_dim)``; images ``(batch, C, H, W)``
pixel probabilities in [0, 1]; masks ``(latent_dim, h, w)`` on the decoder's
coarse feature grid (``h = w = grid``, 8 by default).

The TPL distances differ from the paper's on purpose: the paper measures
each traversal step with a VGG16 perceptual distance (Zhang et al. 2018), whose
weights cannot be downloaded here. :func:`pixel_distance` (RMS pixel
difference) and :func:`ssim_distance` (1 - SSIM) stand in for it; see
:func:`tpl_score` for what that changes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .contracts import check_int, check_latent_dim, check_number, invalid
from . import masks
from .masks import LatentEffects, MaskedDecoder, compose_masked, mask_area, soft_interval, soft_rectangle_masks
from .vae import beta_tcvae_loss

__all__ = [
    *masks.__all__,  # chapter 07's "where" half, re-exported so the chapter imports one module
    "PerturbationRecogniser",
    "sample_perturbations",
    "perturbation_loss",
    "pixel_distance",
    "ssim_distance",
    "DISTANCES",
    "DEFAULT_ACTIVE_THRESH",
    "traversal_length",
    "traversal_lengths",
    "tpl_score",
    "BetaTCVAEPerturbationLoss",
    "MaskAreaPenalty",
]


# =========================================================================== WHAT: perturbation simplicity
class PerturbationRecogniser(nn.Module):
    """Looks at an image pair ``(x1, x2)`` and says which latent was perturbed, and by how much.

    Input: the two images stacked with their difference's sign kept (channels
    ``[x1, x2 - x1]``), so moving a latent up and moving it down look
    different. Two stride-2 convolutions and a small MLP, cheap enough to
    train next to the VAE on one CPU thread::

        Conv2d(2C, c1, 4, 2, 1) - ReLU - Conv2d(c1, c2, 4, 2, 1) - ReLU - Flatten
        - Linear(c2 * H/4 * W/4, hidden) - ReLU - Linear(hidden, latent_dim + 1)

    The last layer's ``latent_dim`` outputs are the logits of "which latent",
    the extra one the predicted offset ``eps_hat``.

    Parameters
    ----------
    latent_dim : int
    image_shape : (channels, height, width)
        Height and width must be multiples of 4.
    channels : (int, int)
        Widths ``c1, c2`` of the two convolutions.
    hidden : int
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int] = (1, 32, 32),
                 channels: tuple[int, int] = (16, 32), hidden: int = 128):
        super().__init__()
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1 or image_shape[1] % 4 or image_shape[2] % 4:
            raise ValueError(f"image_shape must be (channels, height, width) with height and width multiples of 4, "
                             f"got {image_shape}")
        latent_dim = check_int("latent_dim", latent_dim, low=1)
        c, h, w = image_shape
        c1, c2 = channels
        self.latent_dim, self.image_shape = latent_dim, image_shape
        self.net = nn.Sequential(
            nn.Conv2d(2 * c, c1, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(c2 * (h // 4) * (w // 4), hidden), nn.ReLU(),
            nn.Linear(hidden, latent_dim + 1),
        )

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (batch, latent_dim), eps_hat (batch,))`` for two image batches ``(batch, C, H, W)``."""
        want = self.image_shape
        if x1.shape != x2.shape or x1.dim() != 4 or tuple(x1.shape[1:]) != want:
            raise ValueError(f"PerturbationRecogniser expects two image batches of shape (batch, "
                             f"{', '.join(map(str, want))}), got {tuple(x1.shape)} and {tuple(x2.shape)}")
        out = self.net(torch.cat([x1, x2 - x1], dim=1))
        return out[:, :-1], out[:, -1]


def sample_perturbations(batch: int, latent_dim: int, *, scale: float = 2.0, min_abs: float = 0.5,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Which latent to perturb and by how much, for ``batch`` codes.

    ``dims`` is uniform over the latents; ``eps`` has a random sign and a
    magnitude uniform on ``[min_abs, scale]``, i.e. ``eps`` is uniform on
    ``[-scale, -min_abs] U [min_abs, scale]``. Keeping ``|eps|`` away from 0
    makes the two images of a pair differ visibly; otherwise many pairs would
    be near-identical and "which latent moved?" unanswerable. The default
    ``scale=2`` matches the prior's range that traversals span ([-2, 2]).

    Parameters
    ----------
    batch, latent_dim : int
    scale, min_abs : float
        Largest and smallest ``|eps|``, ``0 <= min_abs <= scale``.
    generator : torch.Generator, optional
        For repeatable draws (the global torch RNG otherwise).

    Returns
    -------
    dims : LongTensor, shape (batch,)
    eps : Tensor, shape (batch,), float32
    """
    batch, latent_dim = check_int("batch", batch, low=1), check_int("latent_dim", latent_dim, low=1)
    scale = check_number("scale", scale, low=0, low_open=True)
    min_abs = check_number("min_abs", min_abs, low=0, high=scale, fix="the smallest |eps| cannot exceed the largest")
    dims = torch.randint(latent_dim, (batch,), generator=generator)
    size = min_abs + (scale - min_abs) * torch.rand(batch, generator=generator)
    sign = torch.randint(2, (batch,), generator=generator) * 2 - 1
    return dims, size * sign


def perturbation_loss(decode, recogniser, z: torch.Tensor, dims: torch.Tensor,
                      eps: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """The perturbation-simplicity loss: can a recogniser tell which latent moved, and by how much?

    For each code ``z_i``, latent ``dims[i]`` is moved by ``eps[i]``
    (``z2_i = z_i + eps_i * e_{dims[i]}``; the other latents stay), both codes
    are decoded, and the recogniser sees the image pair::

        logits, eps_hat = recogniser(decode(z), decode(z2))
        loss = cross_entropy(logits, dims) + mean((eps_hat - eps) ** 2)

    Both terms are batch means. The cross-entropy asks *which* latent
    changed (chance level is ``log(latent_dim)``), the squared error *how
    much* (with its sign). Minimised over the decoder and the recogniser
    together, it pushes every latent to make a change that is easy to
    recognise and consistent across codes: a simple "what". (The official
    PS-SC code regresses the perturbed code instead of classifying the
    latent; the classification form follows the same group's Variation
    Predictability loss, Zhu et al., ECCV 2020.)

    Deterministic given its inputs (when ``decode`` and ``recogniser`` are):
    sample ``z``, ``dims`` and ``eps`` outside, e.g. with :func:`sample_perturbations`.

    Parameters
    ----------
    decode : callable ``(n, latent_dim) -> (n, C, H, W)`` pixel probabilities
        E.g. ``vae.decode``. The two batches are decoded in one call.
    recogniser : callable ``(x1, x2) -> (logits (n, latent_dim), eps_hat (n,))``
        E.g. a :class:`PerturbationRecogniser`.
    z : Tensor, shape (n, latent_dim)
    dims : LongTensor, shape (n,)
        The perturbed latent of each code.
    eps : Tensor, shape (n,)
        The offsets.

    Returns
    -------
    loss : scalar Tensor (differentiable)
    logs : dict with ``"ps_ce"``, ``"ps_mse"`` and ``"ps_acc"`` (how often the recogniser is right), floats
    """
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        raise ValueError(f"z must be a Tensor of codes (n, latent_dim), got "
                         f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
    n, d = z.shape
    if not isinstance(dims, torch.Tensor) or dims.shape != (n,) or dims.is_floating_point():
        raise ValueError(f"dims must be an integer Tensor of shape ({n},) (one latent index per code), got "
                         f"{tuple(dims.shape) if isinstance(dims, torch.Tensor) else type(dims).__name__}")
    if n and (int(dims.min()) < 0 or int(dims.max()) >= d):
        raise ValueError(f"dims must lie in 0..{d - 1} (latent indices), got values from {int(dims.min())} "
                         f"to {int(dims.max())}")
    if not isinstance(eps, torch.Tensor) or eps.shape != (n,):
        raise ValueError(f"eps must be a Tensor of shape ({n},) (one offset per code), got "
                         f"{tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__}")
    eps = eps.to(z.dtype)
    z2 = z + eps[:, None] * F.one_hot(dims, d).to(z.dtype)  # only latent dims[i] moves
    x1, x2 = decode(torch.cat([z, z2])).chunk(2)
    logits, eps_hat = recogniser(x1, x2)
    ce = F.cross_entropy(logits, dims)
    mse = F.mse_loss(eps_hat.reshape(n), eps)
    with torch.no_grad():
        acc = (logits.argmax(1) == dims).float().mean()
    return ce + mse, {"ps_ce": ce.item(), "ps_mse": mse.item(), "ps_acc": acc.item()}


class BetaTCVAEPerturbationLoss(nn.Module):
    """beta-TCVAE plus perturbation simplicity: ``beta_tcvae + ps_weight * perturbation_loss``.

    The second term is :func:`perturbation_loss` (Zhu, Xu & Tao 2021):
    ``ps_batch`` codes are drawn from the prior ``N(0, I)`` (the codes the
    decoder must render well, and the ones traversals and the TPL score
    visit), one latent of each is moved by ``eps`` (:func:`sample_perturbations`),
    and the :class:`PerturbationRecogniser` held by this module must tell from
    the two decoded images which latent moved and by how much. Its gradient
    reaches the decoder and the recogniser alike (not the encoder: the codes
    come from the prior).

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
        Largest ``|eps|`` (see :func:`sample_perturbations`).
    alpha, gamma : float
        beta-TCVAE's MI and dimension-wise KL weights (:func:`aecourse.vae.beta_tcvae_loss`).
    """

    def __init__(self, beta: float = 6.0, *, dataset_size: int, latent_dim: int,
                 image_shape: tuple[int, int, int], ps_weight: float = 1.0, ps_batch: int | None = None,
                 eps_scale: float = 2.0, alpha: float = 1.0, gamma: float = 1.0):
        super().__init__()
        ps_weight = check_number("ps_weight", ps_weight, low=0)
        if ps_batch is not None and ps_batch < 1:
            raise invalid("ps_batch", ">= 1 or None (the data batch size)", ps_batch)
        self.tcvae = beta_tcvae_loss(beta, dataset_size=dataset_size, alpha=alpha, gamma=gamma)
        self.recogniser = PerturbationRecogniser(latent_dim, image_shape)
        self.latent_dim, self.ps_weight, self.ps_batch, self.eps_scale = latent_dim, ps_weight, ps_batch, eps_scale

    def forward(self, model, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        check_latent_dim(model, self.latent_dim)
        loss, logs = self.tcvae(model, x)
        n = self.ps_batch or len(x)
        z = torch.randn(n, self.latent_dim, device=x.device)
        dims, eps = sample_perturbations(n, self.latent_dim, scale=self.eps_scale)
        ps, ps_logs = perturbation_loss(model.decode, self.recogniser, z, dims.to(x.device), eps.to(x.device))
        return loss + self.ps_weight * ps, {**logs, "ps": ps.item(), **ps_logs}


class MaskAreaPenalty(nn.Module):
    """Any objective plus ``weight * sum_j area(M_j)``: an incentive for the masks of a masked decoder to shrink.

    ``area`` is :func:`~aecourse.masks.mask_area`, the fraction of the grid
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
        self.objective, self.weight = objective, check_number("weight", weight, low=0,
                                                              fix="the mask-area weight cannot be negative")

    def forward(self, model, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        loss, logs = self.objective(model, x)
        masks = getattr(getattr(model, "decoder", None), "masks", None)
        if masks is None:
            raise invalid("model", "a VAE with decoder='masked' (its decoder has masks()) for a mask-area penalty",
                          type(model).__name__, "set mask_weight=0 for other models", error=TypeError, shown=True)
        area = mask_area(masks())
        return loss + self.weight * area.sum(), {**logs, "mask_area": area.mean().item()}


# =========================================================================== TPL: traversal length
def _image_batch(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a Tensor or a NumPy array of images, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a batch of images (n, C, H, W), got shape {tuple(x.shape)}; "
                         "add a batch axis with image[None] or a channel axis with images[:, None]")
    return x.detach().to("cpu", torch.float64)


def _image_pairs(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _image_batch(a, "a"), _image_batch(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (n, C, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def pixel_distance(a, b) -> np.ndarray:
    """RMS pixel difference of image pairs: ``||a_i - b_i||_2 / sqrt(C * H * W)``, shape ``(n,)``.

    The Euclidean distance between the two images' pixel vectors, divided by
    the square root of their number of values, so the number does not grow
    with the resolution: 0 for identical images, 1 for black against white.

    Parameters
    ----------
    a, b : Tensor or ndarray, shape (n, C, H, W)
        Pixel values in [0, 1].
    """
    a, b = _image_pairs(a, b)
    return (a - b).flatten(1).pow(2).mean(1).sqrt().numpy()


def ssim_distance(a, b) -> np.ndarray:
    """``1 - SSIM`` of image pairs, shape ``(n,)``.

    SSIM is ``skimage.metrics.structural_similarity`` with ``data_range=1``
    and its defaults (7x7 uniform window, K1 = 0.01, K2 = 0.03), averaged over
    the image (and over channels for colour). 0 for identical images; it
    reacts to changes of local structure (edges, contrast) more than to
    uniform brightness shifts, a little closer to perception than
    :func:`pixel_distance`. Can exceed 1 for anti-correlated images. Both
    sides must be at least 7 pixels.

    Parameters
    ----------
    a, b : Tensor or ndarray, shape (n, C, H, W)
        Pixel values in [0, 1].
    """
    from skimage.metrics import structural_similarity

    a, b = _image_pairs(a, b)
    if min(a.shape[2:]) < 7:
        raise ValueError(f"SSIM uses a 7x7 window: images must be at least 7x7, got {a.shape[2]}x{a.shape[3]}")
    a, b = a.numpy(), b.numpy()
    colour = a.shape[1] > 1
    out = np.empty(len(a))
    for i in range(len(a)):
        if colour:
            out[i] = structural_similarity(a[i], b[i], data_range=1.0, channel_axis=0)
        else:
            out[i] = structural_similarity(a[i, 0], b[i, 0], data_range=1.0)
    return 1.0 - out


#: The image distances :func:`traversal_length` and :func:`tpl_score` accept.
DISTANCES = {"pixel": pixel_distance, "ssim": ssim_distance}

#: Default activity thresholds on a latent's mean traversal length (see :func:`tpl_score`).
DEFAULT_ACTIVE_THRESH = {"pixel": 0.05, "ssim": 0.005}


def _distance_fn(distance: str):
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; expected one of {sorted(DISTANCES)} "
                         "(the paper's VGG perceptual distance is not available offline)")
    return DISTANCES[distance]


def _check_traversal(span: float, steps: int) -> None:
    check_int("steps", steps, low=2, fix="it counts the points along the traversal")
    check_number("span", span, low=0, low_open=True, fix="the traversal runs over [-span, span]")


def _decode_fn(decode):
    return decode.decode if hasattr(decode, "decode") else decode


def _device(decode) -> torch.device:
    # Codes go where the model's weights are (a model or its bound decode method); plain callables get CPU codes.
    owner = getattr(decode, "__self__", decode)
    if isinstance(owner, nn.Module):
        for p in owner.parameters():
            return p.device
    return torch.device("cpu")


@torch.no_grad()
def _lengths(decode, z0: np.ndarray, dims, span: float, steps: int, distance: str,
             max_codes: int = 1000) -> np.ndarray:
    """Traversal lengths ``(len(z0), len(dims))`` for base codes ``z0 (T, d)``, decoded in batches.

    At most ``max_codes`` codes per decode call: a conv or masked decoder holds about 0.2 MB of
    activations per 32x32 image, so 1,000 keep the peak near 200 MB.
    """
    dist = _distance_fn(distance)
    device = _device(decode)
    decode = _decode_fn(decode)
    values = np.linspace(-span, span, steps, dtype=np.float32)
    dims = list(dims)
    t_total, d = z0.shape
    chunk = max(1, max_codes // (len(dims) * steps))  # traversals per decode call
    out = np.empty((t_total, len(dims)))
    for start in range(0, t_total, chunk):
        base = z0[start:start + chunk]  # (t, d)
        codes = np.repeat(base[:, None, None, :], len(dims), 1).repeat(steps, 2)  # (t, k, steps, d)
        for k, dim in enumerate(dims):
            codes[:, k, :, dim] = values
        images = decode(torch.from_numpy(codes.reshape(-1, d)).to(device))
        images = images.reshape(len(base), len(dims), steps, *images.shape[1:])
        first, second = images[:, :, :-1].flatten(0, 2), images[:, :, 1:].flatten(0, 2)
        out[start:start + len(base)] = dist(first, second).reshape(len(base), len(dims), steps - 1).sum(-1)
    return out


def traversal_length(decode, z0, dim: int, *, span: float = 2.0, steps: int = 50, distance: str = "pixel") -> float:
    """The length of one latent traversal: the summed distance between consecutive decoded images.

    Latent ``dim`` of ``z0`` is set to each of ``linspace(-span, span, steps)``
    (the other latents keep their values), the ``steps`` codes are decoded,
    and the ``steps - 1`` distances between neighbours are added up. A latent
    the decoder ignores has length 0; a latent that changes the image a lot,
    or back and forth, has a long path.

    Parameters
    ----------
    decode : model with ``decode``, or a callable ``(n, latent_dim) -> (n, C, H, W)`` pixel probabilities
    z0 : Tensor or ndarray, shape (latent_dim,) or (1, latent_dim)
        The base code.
    dim : int
        The latent to traverse.
    span, steps : the traversal runs over ``linspace(-span, span, steps)`` (TPL: 2 and 50).
    distance : "pixel" or "ssim"
        :func:`pixel_distance` or :func:`ssim_distance`.

    Returns
    -------
    float
    """
    _check_traversal(span, steps)
    base = z0.detach().cpu().numpy() if isinstance(z0, torch.Tensor) else np.asarray(z0, dtype=np.float32)
    if not (base.ndim == 1 or (base.ndim == 2 and len(base) == 1)) or base.size == 0:
        raise ValueError(f"z0 must be one code of shape (latent_dim,) or (1, latent_dim), got shape {base.shape}")
    base = base.astype(np.float32).reshape(1, -1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < base.shape[1]:
        raise ValueError(f"dim must be a latent index in 0..{base.shape[1] - 1}, got {dim!r}")
    return float(_lengths(decode, base, [int(dim)], span, steps, distance)[0, 0])


def _latent_dim(model) -> int:
    d = getattr(model, "latent_dim", None)
    if not hasattr(model, "decode") or not isinstance(d, (int, np.integer)):
        raise invalid("model", "a decoder with decode(z) and an integer latent_dim (e.g. an aecourse VAE)",
                      type(model).__name__, error=TypeError, shown=True)
    return int(d)


def traversal_lengths(model, *, num_traversals: int = 100, steps: int = 50, span: float = 2.0,
                      distance: str = "pixel", seed: int = 0, return_all: bool = False) -> np.ndarray:
    """Mean traversal length of every latent, over random base codes from the prior.

    ``num_traversals`` base codes are drawn from ``N(0, I)`` (NumPy generator
    seeded with ``seed``); for each, every latent is traversed with
    :func:`traversal_length`; the lengths are averaged over the base codes.

    Parameters
    ----------
    model : object with ``decode(z)`` (pixel probabilities) and ``latent_dim``, e.g. a zoo VAE
    num_traversals, steps, span, distance, seed : see :func:`tpl_score`
    return_all : bool
        Return every length, shape ``(num_traversals, latent_dim)``, instead of the means.

    Returns
    -------
    ndarray, shape (latent_dim,) (or (num_traversals, latent_dim) with ``return_all``)
    """
    d = _latent_dim(model)
    _check_traversal(span, steps)
    _distance_fn(distance)
    check_int("num_traversals", num_traversals, low=1)
    z0 = np.random.default_rng(seed).standard_normal((num_traversals, d)).astype(np.float32)
    lengths = _lengths(model, z0, range(d), span, steps, distance)
    return lengths if return_all else lengths.mean(0)


def tpl_score(model, *, num_traversals: int = 100, steps: int = 50, span: float = 2.0, distance: str = "pixel",
              active_thresh: float | None = None, seed: int = 0) -> dict:
    """Traversal (Perceptual) Length: unsupervised model selection, after Zhu, Xu & Tao (2021).

    Every latent is traversed over ``linspace(-span, span, steps)`` from
    ``num_traversals`` random prior codes (:func:`traversal_lengths`). A
    latent is *active* when its mean traversal length exceeds
    ``active_thresh``; the score is the **sum** of the active latents' mean
    lengths. The paper's observation: among models of one architecture,
    those whose latents make long, decisive changes score high, and this
    correlates with supervised disentanglement scores, so the score can rank
    models when no ground-truth factors are known. As in
    TPL-Evaluate/tpl_score.py (config tpl_config.gin: 500 traversals, 50
    samples per latent, span 2, ``active_thresh=0.01``); PS-SC's GAN version
    walks ``[-4, 4]`` instead.

    Differences from the paper: the distance between consecutive images is
    not the VGG16 perceptual distance (LPIPS-style, whose weights cannot be
    fetched here) but

    * ``distance="pixel"``: the RMS pixel difference (:func:`pixel_distance`:
      Euclidean distance divided by ``sqrt(number of pixels)``), or
    * ``distance="ssim"``: ``1 - SSIM`` (:func:`ssim_distance`).

    These have other units than the VGG distance, so the paper's
    ``active_thresh=0.01`` does not carry over; the threshold must be chosen
    for the distance. Default (``active_thresh=None``):
    :data:`DEFAULT_ACTIVE_THRESH`, chosen from the gap between collapsed and
    used latents of the shipped 32x32 dSprites and glyph models (50
    traversals each):

    * ``"pixel"``: 0.05. Over a whole traversal that is the RMS change of a
      32x32 image in which about 2.5 pixels flip completely
      (``sqrt(2.5 / 1024) = 0.05``), less than a sprite's edge moving by one
      pixel: no visible change. Collapsed latents of the zoo VAEs measure
      0.004-0.011 (the decoder never quite ignores them), the weakest used
      latent about 0.2, so 0.05 leaves a factor of about 4 on either side.
    * ``"ssim"``: 0.005. SSIM hardly registers tiny grey-level wobbles:
      collapsed latents measure below 0.0003, the weakest used latent (a
      glyph latent of pixel length 0.2) about 0.018.

    Both defaults assume images of roughly this size and content; for other
    data, look at ``per_latent`` (a clear gap separates the two groups) and
    set ``active_thresh`` inside the gap.

    Scores with different distances, spans, steps or resolutions are not
    comparable; compare models with the same settings only. The default
    ``num_traversals`` is 100 rather than 500 to keep a score a few seconds
    on one CPU thread.

    Parameters
    ----------
    model : object with ``decode(z)`` (pixel probabilities) and ``latent_dim``
    num_traversals : int
        Random base codes (the paper: 500).
    steps : int
        Points per traversal (the paper: 50).
    span : float
        The traversal runs over ``[-span, span]`` (TPL-Evaluate's ``tpl_score.py``, for VAEs: 2; PS-SC's
        GAN metric ``metrics/traversal_perceptual_length.py``: 4, ``use_bound_4=True``).
    distance : "pixel" or "ssim"
    active_thresh : float, optional
        Activity threshold on the mean length; default per distance (above).
    seed : int
        Seeds the base codes: same seed, same score.

    Returns
    -------
    dict
        ``score`` (float, the sum over active latents), ``per_latent``
        (ndarray (latent_dim,), mean lengths), ``active`` (bool ndarray
        (latent_dim,)), ``num_active`` (int), ``per_latent_std`` (ndarray,
        spread over base codes), ``active_thresh`` and ``distance`` (what
        was used).
    """
    _distance_fn(distance)
    thresh = (DEFAULT_ACTIVE_THRESH[distance] if active_thresh is None
              else check_number("active_thresh", active_thresh, low=0))
    lengths = traversal_lengths(model, num_traversals=num_traversals, steps=steps, span=span, distance=distance,
                                seed=seed, return_all=True)
    per_latent = lengths.mean(0)
    active = per_latent > thresh
    return {"score": float(per_latent[active].sum()), "per_latent": per_latent, "active": active,
            "num_active": int(active.sum()), "per_latent_std": lengths.std(0), "active_thresh": thresh,
            "distance": distance}
