"""Public checks for chapter 04-disentangle (VAE pieces, total correlation, traversal measures)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..vae import bernoulli_reconstruction, gaussian_kl, kl_decomposition
from . import call, expect, expect_close, expect_shape, passed

__all__ = ["reparameterize", "kl_to_prior", "negative_elbo", "total_correlation", "traversal_correlation"]


def _gaussians(seed: int, shape=(6, 4)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g), 0.5 * torch.randn(*shape, generator=g) - 0.5


def reparameterize(fn) -> None:
    """``fn(mu, logvar)``: one sample ``mu + exp(logvar / 2) * eps`` per row."""
    __tracebackhide__ = True
    mu = torch.full((100_000, 2), 3.0, requires_grad=True)
    logvar = torch.tensor([math.log(4.0), math.log(0.01)]).repeat(100_000, 1).requires_grad_(True)
    z = call(fn, mu, logvar, name="reparameterize")
    expect(isinstance(z, torch.Tensor), f"return a tensor, got {type(z).__name__}")
    expect_shape(z, mu.shape, "the sample", "one sample per row: same shape as mu")
    std = z.detach().std(0)
    expect(abs(float(z.detach().mean(0)[0]) - 3.0) < 0.05, "the samples are not centred on mu",
           "z = mu + sigma * eps with eps ~ N(0, 1): torch.randn_like(mu)")
    expect(abs(float(std[0]) - 2.0) < 0.05 and abs(float(std[1]) - 0.1) < 0.01,
           f"the spread is wrong (std {std.numpy().round(3)} where (2.0, 0.1) was expected)",
           "sigma = exp(logvar / 2): logvar is the log of the VARIANCE")
    no_grad_hint = "build z from mu and logvar with torch operations (no .detach(), no numpy)"
    expect(z.requires_grad, "the sample is cut off from autograd: no gradient can reach mu and logvar", no_grad_hint)
    z.sum().backward()
    expect(mu.grad is not None and logvar.grad is not None and bool(logvar.grad.abs().sum() > 0),
           "no gradient reaches mu and logvar", no_grad_hint)
    again = call(fn, mu.detach(), logvar.detach(), name="reparameterize")
    expect(not torch.equal(again, z.detach()), "two calls gave identical samples", "draw fresh noise on every call")
    passed("samples have the right mean and spread, and gradients flow")


def kl_to_prior(fn) -> None:
    """``fn(mu, logvar)``: KL(q(z|x) || N(0, I)) per input, summed over latents, shape (batch,)."""
    __tracebackhide__ = True
    mu, logvar = _gaussians(1)
    got = call(fn, mu, logvar, name="kl_to_prior")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect_shape(got, (6,), "the KL for 6 inputs", "sum over the latent dimension (dim=1), one number per input")
    expect_close(got, gaussian_kl(mu, logvar).sum(1), "the KL of random Gaussians", atol=1e-4,
                 hint="0.5 * (mu**2 + exp(logvar) - logvar - 1), summed over latents")
    zeros = torch.zeros(3, 5)
    expect_close(call(fn, zeros, zeros, name="kl_to_prior"), torch.zeros(3), "the KL of the prior to itself",
                 hint="KL(N(0,1) || N(0,1)) = 0")
    passed("kl_to_prior matches the closed form")


def negative_elbo(fn) -> None:
    """``fn(x, logits, mu, logvar, beta)``: mean over the batch of summed BCE + beta * KL."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(5, 1, 4, 4, generator=g) > 0.5).float()
    logits = torch.randn(5, 1, 4, 4, generator=g)
    mu, logvar = _gaussians(3, (5, 3))
    for beta in (1.0, 4.0):
        got = call(fn, x, logits, mu, logvar, beta, name="negative_elbo")
        expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
        expect_shape(got, (), "the loss", "average over the batch at the end")
        want = (bernoulli_reconstruction(logits, x) + beta * gaussian_kl(mu, logvar).sum(1)).mean()
        expect_close(got, want, f"the loss with beta={beta}", atol=1e-3,
                     hint="F.binary_cross_entropy_with_logits(logits, x, reduction='none') summed over pixels, "
                          "plus beta times the KL summed over latents, then the mean over the batch")
    passed("negative_elbo matches the reference for beta = 1 and beta = 4")


def total_correlation(fn) -> None:
    """``fn(z, mu, logvar, dataset_size)``: the minibatch-weighted estimate of TC."""
    __tracebackhide__ = True
    mu, logvar = _gaussians(4, (32, 4))
    z = mu + torch.exp(0.5 * logvar) * torch.randn(32, 4, generator=torch.Generator().manual_seed(5))
    got = call(fn, z, mu, logvar, 1000, name="total_correlation")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect_shape(got, (), "the total correlation", "average over the batch at the end")
    want = kl_decomposition(z, mu, logvar, 1000)["tc"]
    expect_close(got, want, "TC of a random batch", atol=1e-3,
                 hint="pair = log N(z_i; mu_j, var_j) with shape (batch, batch, latents); "
                      "log q(z_i) = logsumexp_j(pair.sum(2)) - log(N*M); "
                      "log prod_k q(z_ik) = sum_k (logsumexp_j pair[..., k] - log(N*M))")
    passed("total_correlation matches the minibatch-weighted estimator")


def traversal_correlation(fn) -> None:
    """``fn(values, measured)``: Spearman rank correlation between latent values and a measure."""
    __tracebackhide__ = True
    values = np.linspace(-2, 2, 9)
    expect_close(float(call(fn, values, values ** 3, name="traversal_correlation")), 1.0,
                 "a strictly increasing measure", hint="Spearman correlates RANKS: any increasing curve scores 1")
    expect_close(float(call(fn, values, -np.exp(values), name="traversal_correlation")), -1.0,
                 "a strictly decreasing measure")
    bumpy = np.array([0.0, 2.0, 1.0, 3.0, 5.0, 4.0, 6.0, 8.0, 7.0])
    from scipy.stats import spearmanr

    expect_close(float(call(fn, values, bumpy, name="traversal_correlation")), spearmanr(values, bumpy)[0],
                 "a bumpy increasing measure", hint="scipy.stats.spearmanr(values, measured)[0]")
    passed("traversal_correlation is Spearman's rho")
