"""Weakly supervised disentanglement: pairs of images that share some factors (chapter 05's train-it-yourself).

Locatello et al. (2019) proved that without inductive biases or supervision a
disentangled code cannot be identified, and found the unsupervised objectives'
scores to depend on the random seed as much as on the objective. Their follow-up,
Locatello et al. (2020), "Weakly-Supervised Disentanglement Without Compromises"
(ICML, arXiv 2002.02886), shows what little extra information is enough: **pairs**
of observations that differ in a few factors, without saying which or how many.
Their Ada-GVAE encodes both images, guesses which latents the two share (the ones
whose posteriors differ least) and makes the pair agree on them; a rotated code,
in which one changed factor moves several latents, cannot agree that way, so
the symmetry that lets unsupervised VAEs mix x and y is broken.

=====================  ======================================================
:func:`sample_pairs`   ``(n, 2, c, h, w)`` image pairs from a ground-truth
                       dataset: the second image redraws 1 or ``k`` random
                       factors of the first (disentanglement_lib's
                       ``simple_dynamics`` with ``k = -1``)
:func:`shared_latents`  which latents a pair shares, by the adaptive threshold
:func:`ada_gvae_loss`  the Ada-GVAE objective, ``recon + beta * KL`` on the
                       pair's averaged posteriors
=====================  ======================================================

Reference implementation: disentanglement_lib, ``methods/weak/weak_vae.py``
(``GroupVAEArgmax``) and ``methods/weak/train_weak_lib.py``. Deviations, none of
which changes what is computed:

* the per-latent KL between the pair's posteriors is the true KL; the library's
  ``compute_kl`` omits its factor 1/2, which scales every value alike and so
  leaves the split into shared and unshared latents unchanged;
* a batch holds pairs as a ``(n, 2, c, h, w)`` tensor (the library stacks the two
  images along the height axis).
"""

from __future__ import annotations

import numpy as np
import torch

from .contracts import LossFn, VariationalAutoencoder, check_int, check_number, invalid, require
from .vae import bernoulli_reconstruction, gaussian_kl, reparameterize

__all__ = ["sample_pairs", "pair_kl", "shared_latents", "ada_gvae_loss"]


def sample_pairs(data, n: int, rng: np.random.Generator | int | None = None, *,
                 return_factors: bool = False):
    """Pairs of observations that differ in a few factors, drawn as disentanglement_lib draws them.

    For each pair: draw factors ``f1`` uniformly; draw ``k`` uniformly from
    ``1 .. num_factors - 1``; redraw ``1`` or ``k`` factors (one of the two at
    random, so about half of the pairs redraw a single factor), chosen at
    random and redrawn uniformly (a redrawn factor may keep its value).

    Parameters
    ----------
    data : a ground-truth dataset
        With ``factor_sizes``, ``sample_factors(n, rng)`` and
        ``sample_observations_from_factors(f, rng)``, e.g.
        :class:`aecourse.data.dsprites.DSpritesGroundTruth`.
    n : int
        Number of pairs.
    rng : numpy Generator or int seed, optional
    return_factors : bool
        Also return both factor arrays.

    Returns
    -------
    pairs : ndarray of float32, shape (n, 2, *observation_shape)
    f1, f2 : ndarray of int, shape (n, num_factors)
        Only with ``return_factors=True``.
    """
    n = check_int("n", n, low=1)
    rng = np.random.default_rng(rng)
    sizes = np.asarray(data.factor_sizes)
    num = len(sizes)
    if num < 2:
        raise invalid("data", "a dataset with at least two factors (a pair must share one)", f"{num} factor")
    f1 = data.sample_factors(n, rng)
    k = np.where(rng.random(n) < 0.5, 1, rng.integers(1, num, size=n))
    rank = np.argsort(np.argsort(rng.random((n, num)), axis=1), axis=1)  # a random order of the factors per pair
    redraw = rank < k[:, None]
    f2 = np.where(redraw, rng.integers(0, sizes, size=(n, num)), f1)
    x1 = data.sample_observations_from_factors(f1, rng)
    x2 = data.sample_observations_from_factors(f2, rng)
    pairs = np.stack([x1, x2], axis=1).astype(np.float32)
    return (pairs, f1, f2) if return_factors else pairs


def pair_kl(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu1, var1) || N(mu2, var2))`` per latent, shape ``(batch, latent_dim)``."""
    var1, var2 = logvar1.exp(), logvar2.exp()
    return 0.5 * (var1 / var2 + (mu2 - mu1).pow(2) / var2 - 1 + logvar2 - logvar1)


def shared_latents(kl: torch.Tensor) -> torch.Tensor:
    """Which latents each pair shares: ``(batch, latent_dim)`` bools from the per-latent KL.

    The adaptive rule of Ada-GVAE: split each row's range ``[min, max]`` into
    two bins of equal width; latents in the lower bin are shared (their
    posteriors barely differ), those in the upper bin (``kl >= (min + max) / 2``)
    changed. So the number of changed factors is not needed.

    Examples
    --------
    >>> shared_latents(torch.tensor([[0.1, 5.0, 0.2, 3.0]])).tolist()
    [[True, False, True, False]]
    """
    low, high = kl.min(dim=1, keepdim=True).values, kl.max(dim=1, keepdim=True).values
    return kl < (low + high) / 2


def ada_gvae_loss(beta: float = 1.0) -> LossFn:
    """Ada-GVAE (Locatello et al. 2020): a beta-VAE on pairs that averages the latents they share.

    For a batch of pairs ``x (batch, 2, c, h, w)``: encode both images; find
    the shared latents (:func:`shared_latents` on :func:`pair_kl`); on those,
    replace both posteriors by their average (mean ``(mu1 + mu2) / 2``,
    variance ``(var1 + var2) / 2``); sample, decode each image, and take
    ``recon + beta * KL(q || N(0, I))`` of each, averaged over the two images
    (batch means, summed over pixels and latents, as :func:`aecourse.vae.vae_loss`).

    Returns ``(loss, logs)``; logs hold ``recon``, ``kl`` and ``shared``
    (the mean number of latents treated as shared per pair).
    """
    beta = check_number("beta", beta, low=0)

    def loss_fn(model, x):
        require(model, VariationalAutoencoder, fix="this objective needs a VAE: build one with aecourse.vae.VAE(...)")
        if x.dim() != 5 or x.shape[1] != 2:
            raise ValueError(f"ada_gvae_loss trains on pairs: a batch of shape (batch, 2, channels, height, width), "
                             f"got {tuple(x.shape)}; draw one with aecourse.weak.sample_pairs")
        (mu1, logvar1), (mu2, logvar2) = model.posterior(x[:, 0]), model.posterior(x[:, 1])
        shared = shared_latents(pair_kl(mu1, logvar1, mu2, logvar2))
        mean = 0.5 * (mu1 + mu2)
        logvar = torch.log(0.5 * logvar1.exp() + 0.5 * logvar2.exp())
        recon = kl = 0.0
        for mu_i, logvar_i, x_i in ((mu1, logvar1, x[:, 0]), (mu2, logvar2, x[:, 1])):
            mu_i, logvar_i = torch.where(shared, mean, mu_i), torch.where(shared, logvar, logvar_i)
            logits = model.decode_logits(reparameterize(mu_i, logvar_i))
            recon = recon + 0.5 * bernoulli_reconstruction(logits, x_i).mean()
            kl = kl + 0.5 * gaussian_kl(mu_i, logvar_i).sum(1).mean()
        return recon + beta * kl, {"recon": recon.item(), "kl": kl.item(),
                                   "shared": shared.sum(1).float().mean().item()}

    return loss_fn
