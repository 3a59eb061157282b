"""Public checks for chapter 04-disentangle (VAE pieces, total correlation, traversal measures).

Each check first looks for the usual mistakes (a wrong scale factor, a wrong sign, a sum over the
wrong axis, a wrong return type, ...) and names the one it finds; the hints point the way without
writing the answer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from ..vae import bernoulli_reconstruction, gaussian_kl, gaussian_log_density, kl_decomposition
from .core import as_float_array, call, close, expect, expect_close, expect_shape, expect_value, passed

__all__ = ["reparameterize", "kl_to_prior", "negative_elbo", "total_correlation", "traversal_correlation"]
CHAPTER = "04-disentangle"  # passes of these checks are recorded for this chapter (core.passed)


def _gaussians(seed: int, shape=(6, 4)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g), 0.5 * torch.randn(*shape, generator=g) - 0.5


def _expect_value(got, want, what: str, mistakes, *, atol: float, hint: str) -> None:
    """:func:`expect_value`, naming first a wrong sign or any constant scale factor (a KL or an ELBO
    term off by a factor such as 1/2 is the usual slip here)."""
    __tracebackhide__ = True
    if not close(got, want, atol) and not any(close(got, wrong, atol) for wrong, _, _ in mistakes):
        a, e = as_float_array(got), as_float_array(want)
        if a.shape == e.shape and np.all(np.isfinite(a)) and np.all(np.abs(e) > 1e-3):
            ratio = a / e
            r = float(ratio.flat[0])
            if np.allclose(ratio, r, rtol=1e-3) and abs(r) > 1e-3:
                expect(not np.isclose(r, -1.0, rtol=1e-3), f"{what} does not match the reference: the sign is wrong",
                       "you get exactly minus the expected value; look for a sign or an order of subtraction")
                expect(False, f"{what} does not match the reference: it is {r:.4g} times too large, a wrong "
                       "scale factor", hint)
    expect_value(got, want, what, mistakes, atol=atol, hint=hint)


def _tensor(got, name: str, hint: str) -> None:
    __tracebackhide__ = True
    expect(got is not None, f"`{name}` returned None", "end the function with `return ...`")
    if isinstance(got, tuple):
        expect(False, f"`{name}` returned a tuple of {len(got)} items, not one tensor", hint)
    expect(isinstance(got, torch.Tensor), f"`{name}` should return a torch tensor, got {type(got).__name__}", hint)


# --------------------------------------------------------------------------- exercise 1
def reparameterize(fn) -> None:
    """``fn(mu, logvar)``: one sample ``mu + exp(logvar / 2) * eps`` per row."""
    __tracebackhide__ = True
    mu = torch.full((100_000, 2), 3.0, requires_grad=True)
    logvar = torch.tensor([math.log(4.0), math.log(0.01)]).repeat(100_000, 1).requires_grad_(True)
    z = call(fn, mu, logvar, name="reparameterize")
    _tensor(z, "reparameterize", "return only the sample z, a tensor shaped like mu")
    expect_shape(z, mu.shape, "the sample", "one sample per row: same shape as mu")
    zd = z.detach()
    expect(bool(torch.isfinite(zd).all()), "the sample contains NaN or inf", "exp of a large logvar overflows: "
           "the standard deviation is exp of HALF the log-variance")
    sigma = torch.tensor([2.0, 0.1])
    eps = (zd - 3.0) / sigma                                  # the noise the learner drew, if the formula is right
    std = zd.std(0)
    expect(bool((std > 1e-6).all()), "every row got the same value: no random noise was added",
           "the sample is mu plus sigma times fresh standard normal noise (the text names the torch function)")
    expect(not bool((eps.min(0).values >= -1e-6).all()),
           "the noise is never negative: it looks uniform on [0, 1), not standard normal",
           "torch.rand_like draws uniform numbers; the standard normal one has an n in its name")
    expect(abs(float(zd.mean(0)[0]) - 3.0) < 0.05, "the samples are not centred on mu",
           "the noise must have mean 0, so that the samples average to mu")
    if not (abs(float(std[0]) - 2.0) < 0.05 and abs(float(std[1]) - 0.1) < 0.01):
        got = [round(float(v), 3) for v in std]
        expect(not (abs(float(std[0]) - 4.0) < 0.1 and abs(float(std[1]) - 0.01) < 0.002),
               f"the spread is the variance exp(logvar), not the standard deviation (std {got}, expected [2.0, 0.1])",
               "logvar is the log of the VARIANCE sigma²; the noise is scaled by sigma, its square root")
        expect(False, f"the spread is wrong (std {got} where [2.0, 0.1] was expected)",
               "logvar is the log of the VARIANCE sigma²: how do you get sigma from it?")
    corr = float(np.corrcoef(eps[:2000].numpy().T)[0, 1])
    expect(abs(corr) < 0.2, f"all latents of a row share the same noise (correlation {corr:.2f} between latents)",
           "draw one independent noise value per entry: the noise has the same shape as mu")
    no_grad_hint = "build z from mu and logvar with torch operations (no .detach(), no numpy)"
    expect(z.requires_grad, "the sample is cut off from autograd: no gradient can reach mu and logvar", no_grad_hint)
    z.sum().backward()
    expect(mu.grad is not None and logvar.grad is not None and bool(logvar.grad.abs().sum() > 0),
           "no gradient reaches mu and logvar", no_grad_hint)
    again = call(fn, mu.detach(), logvar.detach(), name="reparameterize")
    expect(not torch.equal(again, zd), "two calls gave identical samples", "draw fresh noise on every call")
    passed("samples have the right mean and spread, and gradients flow")


# --------------------------------------------------------------------------- exercise 2
def kl_to_prior(fn) -> None:
    """``fn(mu, logvar)``: KL(q(z|x) || N(0, I)) per input, summed over latents, shape (batch,)."""
    __tracebackhide__ = True
    mu, logvar = _gaussians(1)
    got = call(fn, mu, logvar, name="kl_to_prior")
    _tensor(got, "kl_to_prior", "return one KL value per input as a tensor of shape (batch,)")
    expect_shape(got, (6,), "the KL for 6 inputs with 4 latents",
                 "one number per input: add up the latents, keep the batch axis")
    expect(bool(torch.isfinite(got.detach()).all()), "the KL contains NaN or inf",
           "logvar is already the LOG of the variance: exp(logvar) is the variance, logvar itself enters as it is")
    expect(bool((got.detach() >= -1e-6).all()),
           f"a KL divergence is never negative, but yours is {float(got.detach().min()):.3g} for some input",
           "check the sign in front of the closed form")
    per_dim = gaussian_kl(mu, logvar)
    want = per_dim.sum(1)
    mistakes = [
        (per_dim.mean(1), "it is averaged over the latents instead of summed", "independent dimensions ADD up"),
        (want + 0.5 * mu.shape[1], "it is larger by 1/2 per latent: the constant -1 of the closed form is missing",
         "compare your expression with the formula term by term"),
        (2 * want, "it is exactly twice as large: the factor 1/2 is missing", "compare with the formula term by term"),
        (0.5 * (mu.pow(2) + torch.exp(0.5 * logvar) - logvar - 1).sum(1),
         "it uses the standard deviation sigma = exp(logvar / 2) where the formula has the variance sigma²",
         "sigma² = exp(logvar)"),
    ]
    _expect_value(got, want, "the KL of random Gaussians", mistakes, atol=1e-4,
                  hint="compare your expression with the closed form in the text, term by term")
    zeros = torch.zeros(3, 5)
    expect_close(call(fn, zeros, zeros, name="kl_to_prior"), torch.zeros(3), "the KL of the prior to itself",
                 hint="KL(N(0,1) || N(0,1)) = 0")
    passed("kl_to_prior matches the closed form")


# --------------------------------------------------------------------------- exercise 3
def negative_elbo(fn) -> None:
    """``fn(x, logits, mu, logvar, beta)``: mean over the batch of summed BCE + beta * KL."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(5, 1, 4, 4, generator=g) > 0.5).float()
    logits = torch.randn(5, 1, 4, 4, generator=g)
    mu, logvar = _gaussians(3, (5, 3))
    recon, kl = bernoulli_reconstruction(logits, x), gaussian_kl(mu, logvar).sum(1)
    type_hint = "return the loss as a 0-dimensional tensor (no .item()), so that it can be backpropagated"
    for beta in (1.0, 4.0):
        got = call(fn, x, logits, mu, logvar, beta, name="negative_elbo")
        expect(not isinstance(got, float), "`negative_elbo` returned a Python float, not a tensor", type_hint)
        _tensor(got, "negative_elbo", type_hint)
        expect_shape(got, (), "the loss", "one number for the whole batch: average over the batch at the end")
        want = (recon + beta * kl).mean()
        mistakes = [
            ((F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1) + beta * kl).mean(),
             "the reconstruction term is averaged over the pixels; it should be summed over the pixels",
             "the BCE of an image is the sum over its pixels (the text says why)"),
            ((recon + beta * kl).sum(), "the loss is summed over the batch instead of averaged",
             "average over the inputs of the batch at the end"),
            ((recon - beta * kl).mean(), "the KL is subtracted; the negative ELBO adds it",
             "check the sign of the KL term"),
            ((bernoulli_reconstruction(torch.sigmoid(logits), x) + beta * kl).mean(),
             "the logits went through a sigmoid first, but binary_cross_entropy_with_logits applies one itself",
             "pass the raw logits"),
        ]
        if beta != 1.0:
            mistakes += [
                ((recon + kl).mean(), "beta has no effect: the loss with beta=4 equals the one with beta=1",
                 "multiply the KL term by beta"),
                ((beta * recon + kl).mean(), "beta multiplies the reconstruction term instead of the KL",
                 "beta weighs the KL term only"),
            ]
        _expect_value(got, want, f"the loss with beta={beta:g}", mistakes, atol=1e-3,
                      hint="reconstruction (BCE summed over pixels) plus beta times the KL summed over latents, "
                           "one value per input, then the batch mean")
    passed("negative_elbo matches the reference for beta = 1 and beta = 4")


# --------------------------------------------------------------------------- exercise 4
def _tc(pair: torch.Tensor, log_joint: float, log_marginal: float, dim: int = 1) -> torch.Tensor:
    return ((torch.logsumexp(pair.sum(2), dim) - log_joint) - (torch.logsumexp(pair, dim) - log_marginal).sum(1)).mean()


def total_correlation(fn) -> None:
    """``fn(z, mu, logvar, dataset_size)``: the minibatch-weighted estimate of TC."""
    __tracebackhide__ = True
    mu, logvar = _gaussians(4, (32, 4))
    z = mu + torch.exp(0.5 * logvar) * torch.randn(32, 4, generator=torch.Generator().manual_seed(5))
    n = 1000
    got = call(fn, z, mu, logvar, n, name="total_correlation")
    _tensor(got, "total_correlation", "return the estimate as a 0-dimensional tensor")
    expect_shape(got, (), "the total correlation", "one number: average over the batch at the end")
    want = kl_decomposition(z, mu, logvar, n)["tc"]
    pair = gaussian_log_density(z[:, None], mu[None], logvar[None])
    pair_std = -0.5 * (math.log(2 * math.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2 / (0.5 * logvar[None]).exp())
    log_nm, log_m = math.log(n * 32), math.log(32)
    mistakes = [
        (_tc(pair, 0.0, 0.0), "the log(N*M) normalising constants are missing",
         "each logsumexp over the batch estimates an average over the whole data set: subtract its log(N*M)"),
        (_tc(pair, log_m, log_m), "only log(M) is subtracted: dataset_size N is missing from the constant",
         "the minibatch-weighted estimator divides by N*M, the data set size times the batch size"),
        (-want, "it is negative: log prod_k q(z_k) - log q(z) is taken the other way round",
         "TC = E[log q(z) - log prod_k q(z_k)]"),
        (_tc(pair, log_nm, log_nm, dim=0), "the logsumexp runs over the wrong axis (dim 0, the samples z_i)",
         "for each sample z_i, sum over the inputs x_j: that is the axis of mu[None], dim=1"),
        (_tc(pair_std, log_nm, log_nm), "the squared distance is divided by sigma, not by the variance sigma²",
         "in log N(z; mu, sigma²) the square (z - mu)² is divided by sigma² = exp(logvar)"),
    ]
    _expect_value(got, want, "TC of a random batch", mistakes, atol=1e-3,
                  hint="follow the steps in the text: the (M, M, latents) tensor of log densities, a logsumexp over "
                       "the inputs for log q(z) and per latent for the product, each minus log(N*M)")
    passed("total_correlation matches the minibatch-weighted estimator")


# --------------------------------------------------------------------------- exercise 5
def _correlation_value(got, name: str = "traversal_correlation") -> float:
    """The learner's return value as a float, or a check failure that names its type."""
    __tracebackhide__ = True
    expect(got is not None, f"`{name}` returned None", "end the function with `return ...`")
    if hasattr(got, "statistic") and hasattr(got, "pvalue"):
        expect(False, f"`{name}` returned scipy's {type(got).__name__} object, not a number",
               "the result of spearmanr holds the correlation and a p-value; return the correlation "
               "(its first entry) as a float")
    if isinstance(got, (tuple, list)):
        expect(False, f"`{name}` returned a {type(got).__name__} of {len(got)} items, not one number",
               "return only the correlation, as a float")
    expect(np.ndim(got) == 0, f"`{name}` returned an array of shape {np.shape(got)}, not one number "
           "(a correlation matrix?)", "return the single correlation between the two inputs, as a float")
    try:
        return float(got)
    except (TypeError, ValueError):
        expect(False, f"`{name}` should return a float, got {type(got).__name__}", "return the correlation as a float")
        raise


def traversal_correlation(fn) -> None:
    """``fn(values, measured)``: Spearman rank correlation between latent values and a measure."""
    __tracebackhide__ = True
    values = np.linspace(-2, 2, 9)
    cases = [
        (values ** 3, "a strictly increasing measure", "Spearman correlates RANKS: any increasing curve scores 1"),
        (-np.exp(values), "a strictly decreasing measure", "any decreasing curve scores -1"),
        (np.array([0.0, 2.0, 1.0, 3.0, 5.0, 4.0, 6.0, 8.0, 7.0]), "a bumpy increasing measure",
         "Spearman's rho is the correlation of the ranks"),
    ]
    for measured, what, hint in cases:
        got = _correlation_value(call(fn, values, measured, name="traversal_correlation"))
        rho, p = spearmanr(values, measured)
        mistakes = [
            (p, "this is the p-value of spearmanr, not the correlation", "the correlation comes first"),
            (np.corrcoef(values, measured)[0, 1], "this is Pearson's correlation of the values, not of their ranks",
             "Spearman's rho is computed on ranks (scipy.stats has it)"),
        ]
        if rho < 0:
            mistakes.append((abs(rho), "the sign is lost: a decreasing measure must give a negative rho",
                             "do not take the absolute value"))
        _expect_value(got, float(rho), f"rho for {what}", mistakes, atol=1e-5, hint=hint)
    passed("traversal_correlation is Spearman's rho")
