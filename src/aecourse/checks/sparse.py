"""Public checks for chapter 02-sparse."""

from __future__ import annotations

import torch

from ..sae import kl_sparsity_penalty
from ..sae import topk_activation as reference_topk
from .core import call, expect, expect_close, expect_shape, expect_type, passed, plural

__all__ = ["l1_penalty", "kl_sparsity", "topk_activation", "normalize_columns"]
CHAPTER = "02-sparse"  # passes of these checks are recorded for this chapter (core.passed)


def _codes(seed: int, shape=(6, 5)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).relu()


def l1_penalty(fn) -> None:
    """``fn(z)``: sum of |z| over units, averaged over the batch."""
    __tracebackhide__ = True
    z = (_codes(0) - 0.2).requires_grad_(True)  # some negative entries: |.| matters
    batch, units = z.shape
    got = call(fn, z, name="l1_penalty")
    expect_type(got, torch.Tensor, "l1_penalty(z)", "use torch operations and return their result (no .item())")
    expect_shape(got, (), "the penalty", "reduce to a single number: over the units of each code, then over the batch")
    d = z.detach()
    expect_close(got, d.abs().sum(1).mean(), "the penalty on a random batch",
                 known=[(d.abs().sum(), f"the penalty is {batch} times too large: it adds up the whole batch "
                                        f"instead of averaging over it",
                         "each code in the batch has its own L1 norm; the penalty is their average over the batch"),
                        (d.abs().mean(), f"the penalty is {units} times too small: it averages over the units too",
                         "an L1 norm adds up the absolute values of all units of a code"),
                        (d.abs().sum(0).mean(), "the dims are swapped: you summed over the batch and averaged "
                                                "over the units",
                         "z has shape (batch, units): dim=1 runs over the units"),
                        (d.sum(1).mean(), "negative activations lower your penalty: the absolute values are missing",
                         "the L1 norm uses |z|, so a negative activation costs as much as a positive one"),
                        (d.pow(2).sum(1).mean(), "that is a squared (L2) penalty, not the L1 norm",
                         "the L1 norm adds up absolute values, not squares")],
                 hint="the L1 norm of each code (absolute values added over its units), averaged over the batch")
    expect(got.requires_grad, "the penalty is cut off from autograd", "use torch operations only")
    expect_close(call(fn, torch.zeros(3, 4), name="l1_penalty"), 0.0, "the penalty of an all-zero code")
    passed("l1_penalty matches the reference")


def _kl_terms(rho_hat: torch.Tensor, rho: float) -> torch.Tensor:
    return rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))


def kl_sparsity(fn) -> None:
    """``fn(z, rho)``: sum over units of KL(rho || rho_hat_j), rho_hat_j the unit's mean activation."""
    __tracebackhide__ = True
    rho = 0.05
    z = torch.rand(50, 6, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    got = call(fn, z, rho, name="kl_sparsity")
    expect_type(got, torch.Tensor, "kl_sparsity(z, rho)", "use torch operations and return their result (no .item())")
    expect_shape(got, (), "the KL penalty", "sum the per-unit divergences into one number")
    rho_hat = z.detach().mean(0)
    want = kl_sparsity_penalty(z, rho).detach()
    expect_close(got, want, f"KL({rho} || rho_hat) on a random batch", atol=1e-4,
                 known=[(-want, "the penalty is negative, but a KL divergence is never negative",
                         "check the order inside each log: log(rho / rho_hat), not its inverse"),
                        (_kl_terms(rho_hat, rho).mean(),
                         f"the penalty is {z.shape[1]} times too small: it averages over the units",
                         "the per-unit divergences are added up: sum them over the units"),
                        (_kl_terms(z.detach().mean(1), rho).sum(), "rho_hat was averaged over the wrong dim",
                         "rho_hat_j is unit j's mean activation over the batch: one value per unit (z is (batch, units))"),
                        ((rho * torch.log(rho / rho_hat)).sum(), "the (1 - rho) term of the divergence is missing",
                         "a Bernoulli KL has two terms: one for firing (rho) and one for not firing (1 - rho)"),
                        (_kl_terms(torch.tensor(rho), rho_hat.double()).sum(),
                         "that is KL(rho_hat || rho): the order of the two distributions is reversed",
                         "in the formula the target rate rho comes first, weighting the logs")],
                 hint="rho_hat is one mean per unit; add up the per-unit divergences from the formula")
    for fill, what in ((0.0, "never fires (rho_hat = 0)"), (1.0, "always fires (rho_hat = 1)")):
        edge = call(fn, torch.full((4, 3), fill), rho, name="kl_sparsity")
        expect(isinstance(edge, torch.Tensor) and bool(torch.isfinite(edge).all()),
               f"the penalty of a unit that {what} is NaN or inf",
               "clamp rho_hat to [1e-6, 1 - 1e-6] before taking logarithms, as the text asks")
    at_target = torch.full((10, 4), rho)
    expect_close(call(fn, at_target, rho, name="kl_sparsity"), 0.0, "the penalty when every unit fires at rate rho",
                 atol=1e-5, hint="KL(rho || rho) = 0")
    expect(got.requires_grad, "the penalty is cut off from autograd", "use torch operations only")
    passed("kl_sparsity matches Ng's formula, is 0 at the target rate and finite for dead units")


def topk_activation(fn) -> None:
    """``fn(pre, k)``: keep each row's k largest pre-activations (ReLU'd), zero the rest."""
    __tracebackhide__ = True
    pre = torch.randn(8, 10, generator=torch.Generator().manual_seed(2))
    pre[0, :8] -= 3.0  # a row whose third largest value is negative: the ReLU matters
    for k in (1, 3):
        got = call(fn, pre, k, name="topk_activation")
        expect_type(got, torch.Tensor, f"topk_activation(pre, {k})")
        expect_shape(got, pre.shape, f"topk_activation(pre, {k})",
                     "same shape as pre: zeros except k entries per row, at their places")
        expect(bool(((got != 0).sum(-1) <= k).all()), f"with k={k} some rows keep more than {plural(k, 'unit')}",
               "the k winners are chosen within each row (over the units, the last dim), not over the batch")
        values, indices = pre.topk(k, dim=-1, largest=False)
        smallest = torch.zeros_like(pre).scatter(-1, indices, values.relu())
        values, indices = pre.topk(k, dim=-1)
        no_relu = torch.zeros_like(pre).scatter(-1, indices, values)
        expect_close(got, reference_topk(pre, k), f"the sparse code for k={k}",
                     known=[(no_relu, f"with k={k} negative values were kept: the kept values need a ReLU",
                             "a winner with a negative pre-activation still gives 0"),
                            (smallest, f"with k={k} you kept the k smallest pre-activations, not the largest",
                             "look at the arguments of torch.topk")],
                     hint="put the ReLU of the k largest values of each row back at their own positions, zeros elsewhere")
    negative = -torch.rand(2, 5)
    expect(bool((call(fn, negative, 2, name="topk_activation") == 0).all()),
           "when every pre-activation is negative the code should be all zeros", "apply a ReLU to the kept values")
    passed("topk_activation keeps the k largest activations and zeros the rest")


def normalize_columns(fn) -> None:
    """``fn(W)``: the columns of W scaled to unit L2 norm (a new tensor; W unchanged)."""
    __tracebackhide__ = True
    W = torch.randn(7, 4, generator=torch.Generator().manual_seed(3)) * torch.tensor([0.1, 1.0, 5.0, 20.0])
    got = call(fn, W, name="normalize_columns")
    expect_type(got, torch.Tensor, "normalize_columns(W)")
    expect_shape(got, W.shape, "normalize_columns(W)", "return W itself, rescaled: the same shape as W")
    rows = W / W.norm(dim=1, keepdim=True)
    expect(not torch.allclose(got, rows, atol=1e-5), "the rows were normalised, not the columns",
           "a column runs down the matrix: take the norm over dim=0")
    norms = got.norm(dim=0)
    expect(bool(torch.isfinite(norms).all()), "the result contains NaN or inf", "divide by the norms, not by zero")
    expect(torch.allclose(norms, torch.ones(4), atol=1e-5),
           f"the columns of the result should have L2 norm 1, but their norms are "
           f"{', '.join(f'{float(v):.3g}' for v in norms)}",
           "divide each column by its L2 norm: the square root of the sum of its squared entries")
    expect_close(got, W / W.norm(dim=0, keepdim=True), "the normalised columns",
                 hint="divide each column by its own norm; keep the columns pointing the same way")
    passed("normalize_columns gives unit-norm columns pointing the same way")
