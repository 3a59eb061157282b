"""Every training objective of chapters 04 to 07 by name: :data:`OBJECTIVES` and :func:`make_objective`.

The zoo's recipes (:mod:`aecourse.zoo`) name their objective, ``"beta_vae"``
or ``"beta_tcvae_ps"``, and this module turns the name into the loss
function :func:`aecourse.train.fit` calls.

Why a module of its own: the objectives live with their chapters, chapter
04's in :mod:`aecourse.vae`, chapter 07's in :mod:`aecourse.wherewhat` (which
imports :mod:`aecourse.vae`, since its objectives extend beta-TCVAE). A
function that can build any of them must import both, so it cannot sit in
:mod:`aecourse.vae` (that would make ``vae -> wherewhat -> vae`` a circle);
in :mod:`aecourse.wherewhat` it would put chapter 04's lookup in chapter
07's module. Here, above both, every import points downward::

    objectives -> wherewhat -> vae -> masks
    objectives -> weak -> vae

A new objective goes into its chapter's module, and its name into
:data:`OBJECTIVES` and :func:`make_objective`.
"""

from __future__ import annotations

from .contracts import LossFn
from .vae import AnnealedCapacityLoss, FactorVAELoss, ae_loss, beta_tcvae_loss, vae_loss
from .weak import ada_gvae_loss
from .wherewhat import BetaTCVAEPerturbationLoss, MaskAreaPenalty

__all__ = ["OBJECTIVES", "PAIRED_OBJECTIVES", "make_objective"]

#: Objective names used by the zoo and the chapters.
OBJECTIVES = ("ae", "vae", "beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "beta_tcvae_ps", "ada_gvae")

#: Objectives that train on pairs of images sharing some factors, batches ``(n, 2, c, h, w)``
#: (:func:`aecourse.weak.sample_pairs`): weakly supervised, the rest are unsupervised.
PAIRED_OBJECTIVES = ("ada_gvae",)


def make_objective(name: str, *, beta: float | None = None, dataset_size: int | None = None,
                   latent_dim: int | None = None, image_shape: tuple[int, int, int] | None = None,
                   ps_weight: float = 1.0, ps_batch: int | None = None, mask_weight: float = 0.0,
                   alpha: float = 1.0, gamma: float = 1.0, c_max: float = 25.0,
                   anneal_steps: int = 100000) -> LossFn:
    """Build an objective by name, one of :data:`OBJECTIVES`.

    ``"beta_tcvae"`` needs ``dataset_size``; ``"beta_tcvae_ps"``
    (:class:`~aecourse.wherewhat.BetaTCVAEPerturbationLoss`) also ``latent_dim`` and
    ``image_shape``, and takes ``ps_weight`` and ``ps_batch``; it returns an
    ``nn.Module`` whose parameters must be trained too. The other objectives
    ignore the keywords they do not use. ``mask_weight > 0`` adds a
    :class:`~aecourse.wherewhat.MaskAreaPenalty` to any objective (masked decoders only).
    ``alpha`` and ``gamma`` weight beta-TCVAE's index-code MI and
    dimension-wise KL (:func:`~aecourse.vae.beta_tcvae_loss`; 1 and 1 in the paper).
    ``"annealed_vae"`` (:class:`~aecourse.vae.AnnealedCapacityLoss`) takes ``beta`` as its
    ``gamma`` (default 1000), and ``c_max`` and ``anneal_steps``;
    ``"factor_vae"`` (:class:`~aecourse.vae.FactorVAELoss`, an ``nn.Module`` whose
    discriminator must be trained too) takes ``beta`` as its ``gamma``
    (default 35) and needs ``latent_dim``. ``"ada_gvae"``
    (:func:`~aecourse.weak.ada_gvae_loss`, weakly supervised: batches of image pairs,
    :data:`PAIRED_OBJECTIVES`) takes ``beta`` (default 1).
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
    if name == "ada_gvae":
        return ada_gvae_loss(1.0 if beta is None else beta)
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
