"""The masked decoder's architecture: each latent acts through a learned soft rectangle (chapter 07-where-what).

The WHERE half of Zhu, Xu & Tao (2021), "Where and What? Examining
Interpretable Disentangled Representations" (CVPR 2021,
https://arxiv.org/abs/2104.05622): the paper's "spatial constriction",
written afresh in PyTorch for small CPU-trained VAEs. Chapter 07 reads these
pieces through :mod:`aecourse.wherewhat`, which re-exports them; they live in
a module of their own because :class:`aecourse.vae.VAE` builds its
``decoder="masked"`` from :class:`MaskedDecoder`, and :mod:`aecourse.wherewhat`
imports :mod:`aecourse.vae` (its objectives extend beta-TCVAE). So the
imports point one way::

    wherewhat -> vae -> masks,   wherewhat -> masks

==========================  ===================================================
piece                       what it is
==========================  ===================================================
:func:`soft_interval`       how much each cell of an axis lies inside a soft
                            interval whose ends are learned distributions
:func:`soft_rectangle_masks`  one soft rectangle per latent (rows x columns)
:func:`compose_masked`      a learned base plus each latent's effect, painted
                            through its mask
:func:`mask_area`           the fraction of the grid each mask covers
:class:`LatentEffects`      one small MLP per latent, evaluated at once
:class:`MaskedDecoder`      the decoder built from them
==========================  ===================================================

Differences from PS-SC's spatial constriction (``training/modular_networks2.py``,
``build_C_spgroup_layers``) are listed in :mod:`aecourse.wherewhat`.

Shapes: codes ``z`` are ``(batch, latent_dim)``; masks ``(latent_dim, h, w)``
on the decoder's coarse feature grid (``h = w = grid``, 8 by default).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .contracts import check_int, invalid

__all__ = [
    "soft_interval",
    "soft_rectangle_masks",
    "compose_masked",
    "mask_area",
    "LatentEffects",
    "MaskedDecoder",
]


def _float_tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise invalid(name, "a torch Tensor", type(x).__name__, "wrap it with torch.as_tensor(...)",
                      error=TypeError, shown=True)
    if not x.is_floating_point():
        raise invalid(name, "a Tensor of floating-point numbers", f"dtype {x.dtype}", f"use {name}.float()",
                      error=TypeError, shown=True)
    return x


def soft_interval(start_logits: torch.Tensor, end_logits: torch.Tensor) -> torch.Tensor:
    """How much each position lies inside a soft interval ``[start, end]`` on one axis.

    The interval's ends are random positions with learned distributions
    ``p = softmax(start_logits)`` and ``q = softmax(end_logits)``; position
    ``i`` is inside when the interval has started and not yet ended::

        inside[i] = P(start <= i) * P(end >= i) = cumsum(p)[i] * reverse_cumsum(q)[i]

    (treating the two ends as independent). Both factors are monotone, so
    the result is one bump: near 1 between the likely ends, falling to 0
    outside. With very peaked logits it is the hard 0/1 indicator of
    ``[argmax(start_logits), argmax(end_logits)]``; it is differentiable in
    the logits, which is why the ends are distributions and not integers.

    Parameters
    ----------
    start_logits, end_logits : Tensor, shape (..., n)
        Unnormalised log-probabilities of the start and end positions along
        an axis of length ``n``; leading axes (e.g. one row per latent) are
        batch axes.

    Returns
    -------
    Tensor, shape (..., n), values in [0, 1]
    """
    start_logits = _float_tensor(start_logits, "start_logits")
    end_logits = _float_tensor(end_logits, "end_logits")
    if start_logits.dim() < 1 or start_logits.shape != end_logits.shape:
        raise ValueError(
            f"start_logits and end_logits must have the same shape (..., n), got {tuple(start_logits.shape)} "
            f"and {tuple(end_logits.shape)}"
        )
    started = torch.softmax(start_logits, dim=-1).cumsum(-1)  # P(start <= i)
    # P(end >= i): the cumulative sum taken from the far end of the axis.
    not_ended = torch.softmax(end_logits, dim=-1).flip(-1).cumsum(-1).flip(-1)
    # cumsum can overshoot 1 by a rounding error; masks are promised to lie in [0, 1].
    return (started * not_ended).clamp(0.0, 1.0)


def soft_rectangle_masks(row_start: torch.Tensor, row_end: torch.Tensor, col_start: torch.Tensor,
                         col_end: torch.Tensor) -> torch.Tensor:
    """One soft rectangle per latent: the outer product of a row interval and a column interval.

    Parameters
    ----------
    row_start, row_end : Tensor, shape (d, h)
        Logits of each latent's top and bottom row (see :func:`soft_interval`).
    col_start, col_end : Tensor, shape (d, w)
        Logits of each latent's left and right column.

    Returns
    -------
    Tensor, shape (d, h, w), values in [0, 1]
        ``masks[j, r, c] = rows_j[r] * cols_j[c]``.
    """
    for name, t in (("row_start", row_start), ("row_end", row_end), ("col_start", col_start), ("col_end", col_end)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 2-D Tensor (latent_dim, length), got {got}")
    if row_start.shape[0] != col_start.shape[0]:
        raise ValueError(f"row and column logits must have one row per latent each; got {row_start.shape[0]} "
                         f"row intervals and {col_start.shape[0]} column intervals")
    rows = soft_interval(row_start, row_end)  # (d, h)
    cols = soft_interval(col_start, col_end)  # (d, w)
    return rows[:, :, None] * cols[:, None, :]


def compose_masked(masks: torch.Tensor, effects: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """The decoder's feature map: a learned base plus each latent's effect, painted through its mask.

    ``F[b, :, r, c] = base[:, r, c] + sum_j masks[j, r, c] * effects[b, j, :]``

    Latent ``j``'s effect on a cell is scaled by its mask there. The masks are
    soft (cumulative softmaxes, never exactly 0), so a latent changes every
    cell a little, mostly inside its rectangle; after the decoder's
    convolutions its effect on the image also spreads a rim of about one grid
    cell beyond (see :class:`MaskedDecoder`).

    Parameters
    ----------
    masks : Tensor, shape (d, h, w)
    effects : Tensor, shape (batch, d, C)
        What each latent writes (one vector of ``C`` channels per latent and input).
    base : Tensor, shape (C, h, w)

    Returns
    -------
    Tensor, shape (batch, C, h, w)
    """
    if masks.dim() != 3 or effects.dim() != 3 or base.dim() != 3:
        raise ValueError(
            f"expected masks (d, h, w), effects (batch, d, C) and base (C, h, w); got shapes "
            f"{tuple(masks.shape)}, {tuple(effects.shape)} and {tuple(base.shape)}"
        )
    d, h, w = masks.shape
    if effects.shape[1] != d or base.shape != (effects.shape[2], h, w):
        raise ValueError(
            f"shapes do not fit together: masks {tuple(masks.shape)} (d, h, w), effects {tuple(effects.shape)} "
            f"(batch, d, C), base {tuple(base.shape)} (C, h, w); d, C, h and w must agree"
        )
    return base + torch.einsum("dhw,bdc->bchw", masks, effects)


def mask_area(masks: torch.Tensor) -> torch.Tensor:
    """Fraction of the grid each mask covers: the mean mask value, shape ``(d,)`` for masks ``(d, h, w)``.

    1 is a mask over the whole grid, ``1 / (h * w)`` a single cell.
    """
    if masks.dim() != 3:
        raise ValueError(f"masks must have shape (d, h, w), got {tuple(masks.shape)}")
    return masks.mean(dim=(1, 2))


class LatentEffects(nn.Module):
    """``d`` independent little MLPs ``R -> R^C``, one per latent, evaluated at once.

    Latent ``j`` goes through its own ``Linear(1, hidden) - ReLU - Linear(hidden, C)``.
    The ``d`` networks are stored as stacked (grouped) weights and applied with
    one ``einsum`` instead of a Python loop over latents.
    """

    def __init__(self, latent_dim: int, channels: int, hidden: int = 32):
        super().__init__()
        # The bounds are nn.Linear's default initialisation (uniform +-1/sqrt(fan_in)).
        self.w1 = nn.Parameter(torch.empty(latent_dim, hidden).uniform_(-1.0, 1.0))
        self.b1 = nn.Parameter(torch.empty(latent_dim, hidden).uniform_(-1.0, 1.0))
        bound = 1.0 / math.sqrt(hidden)
        self.w2 = nn.Parameter(torch.empty(latent_dim, hidden, channels).uniform_(-bound, bound))
        self.b2 = nn.Parameter(torch.empty(latent_dim, channels).uniform_(-bound, bound))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, d)`` -> effects ``(batch, d, C)``."""
        h = torch.relu(z[:, :, None] * self.w1 + self.b1)  # (batch, d, hidden)
        return torch.einsum("bdk,dkc->bdc", h, self.w2) + self.b2


def _upsampling_steps(side: int, grid: int) -> int:
    """How many 2x upsamplings take the ``grid`` to the image ``side`` (error if not a power of two)."""
    ratio = side // grid
    if side % grid or ratio < 1 or ratio & (ratio - 1):
        raise ValueError(
            f"a masked decoder with an {grid}x{grid} grid makes images whose side is the grid times a power of "
            f"two ({grid}, {2 * grid}, {4 * grid}, {8 * grid}, ...), got side {side}; resize the images (e.g. "
            f"dSprites at resolution 32) or choose another grid"
        )
    return ratio.bit_length() - 1


class MaskedDecoder(nn.Module):
    """A decoder in which every latent acts through a learned soft rectangular mask.

    ``z (batch, d)`` -> per-latent effects ``(batch, d, C)`` (:class:`LatentEffects`)
    -> features ``F = base + sum_j M_j * e_j(z_j)`` on a ``grid x grid`` map
    (:func:`compose_masked`) -> ``Conv1x1 - ReLU`` -> one ``ConvTranspose2d(4, 2, 1)``
    per doubling of the side (two from the 8x8 grid to 32x32, ReLUs between)
    -> Bernoulli logits ``(batch, *out_shape)``.

    The stack after the composition is kept spatially local so the masks
    mean what they say: the 1x1 convolution mixes channels within a grid cell,
    not across cells, and each transposed convolution reaches only the
    neighbouring cell. A latent therefore changes the image only inside its
    mask plus a rim of about one grid cell (4 pixels at 32x32, grid 8). A
    3x3 convolution on the grid would let every latent paint two cells beyond
    its mask, and masks could shrink without changing what the latent does.

    The masks ``M_j`` (:meth:`masks`) are soft rectangles
    (:func:`soft_rectangle_masks`) with learned row and column interval logits.
    They start broad, covering nearly the whole grid (each interval's start
    logits peak at the first cell and its end logits at the last, with a
    linear fall-off, so every mask value starts between about 0.9 and 1):
    a broad start is no prior on *where* a latent acts, the decoder starts out
    as expressive as an unmasked one, and the position latents of dSprites
    (which move the sprite over the whole canvas) need broad masks anyway.
    Starting small would be worse than arbitrary: an interval's logits only
    receive gradient near its soft edges, so a mask placed in the wrong spot
    at initialisation can barely move. Masks shrink during training only
    where the objective rewards it.

    Parameters
    ----------
    latent_dim : int
    out_shape : (channels, height, width)
        Square images whose side is ``grid`` times a power of two.
    channels : int
        Feature channels ``C`` of the grid and the upsampling stack.
    grid : int
        Side of the coarse feature grid the masks live on.
    effect_hidden : int
        Hidden width of each latent's effect network.
    """

    #: Slope of the initial interval logits: an end cell carries 1 - exp(-3), about 95% of its interval end's mass.
    INIT_SLOPE = 3.0

    def __init__(self, latent_dim: int, out_shape: tuple[int, int, int] = (1, 32, 32), channels: int = 32,
                 grid: int = 8, effect_hidden: int = 32):
        super().__init__()
        out_shape = tuple(int(s) for s in out_shape)
        latent_dim, channels, grid, effect_hidden = (
            check_int(name, value, low=1) for name, value in
            (("latent_dim", latent_dim), ("channels", channels), ("grid", grid), ("effect_hidden", effect_hidden)))
        if len(out_shape) != 3 or min(out_shape) < 1 or out_shape[1] != out_shape[2]:
            raise ValueError(f"out_shape must be (channels, side, side) for square images, got {out_shape}")
        steps = _upsampling_steps(out_shape[1], grid)
        self.latent_dim, self.out_shape, self.grid = latent_dim, out_shape, grid
        ramp = self.INIT_SLOPE * torch.arange(grid, dtype=torch.float32)
        first, last = -ramp, -ramp.flip(0)  # peaked at the first / the last cell
        self.row_start = nn.Parameter(first.repeat(latent_dim, 1))
        self.row_end = nn.Parameter(last.repeat(latent_dim, 1))
        self.col_start = nn.Parameter(first.repeat(latent_dim, 1))
        self.col_end = nn.Parameter(last.repeat(latent_dim, 1))
        self.effects = LatentEffects(latent_dim, channels, effect_hidden)
        # Small random base: it tells grid cells apart, which the upsampling stack needs to place things.
        self.base = nn.Parameter(0.1 * torch.randn(channels, grid, grid))
        layers: list[nn.Module] = [nn.Conv2d(channels, channels, 1), nn.ReLU()]  # 1x1: see the class docstring
        for i in range(steps):
            last_layer = i == steps - 1
            layers.append(nn.ConvTranspose2d(channels, out_shape[0] if last_layer else channels, 4, 2, 1))
            if not last_layer:
                layers.append(nn.ReLU())
        if steps == 0:
            layers.append(nn.Conv2d(channels, out_shape[0], 1))
        self.upsample = nn.Sequential(*layers)

    def masks(self) -> torch.Tensor:
        """The current masks, shape ``(latent_dim, grid, grid)``, values in [0, 1]."""
        return soft_rectangle_masks(self.row_start, self.row_end, self.col_start, self.col_end)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(batch, *out_shape)`` for codes ``(batch, latent_dim)``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"MaskedDecoder expects codes of shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        features = compose_masked(self.masks(), self.effects(z), self.base)
        return self.upsample(features)
