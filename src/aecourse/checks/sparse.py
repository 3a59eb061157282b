"""Public checks for chapter 02-sparse."""

from __future__ import annotations

import torch

from ..models import kl_sparsity_penalty
from ..models import topk_activation as reference_topk
from . import call, expect, expect_close, expect_shape, passed

__all__ = ["l1_penalty", "kl_sparsity", "topk_activation", "normalize_columns"]


def _codes(seed: int, shape=(6, 5)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).relu()


def l1_penalty(fn) -> None:
    """``fn(z)``: sum of |z| over units, averaged over the batch."""
    __tracebackhide__ = True
    z = (_codes(0) - 0.2).requires_grad_(True)  # some negative entries: |.| matters
    got = call(fn, z, name="l1_penalty")
    expect(isinstance(got, torch.Tensor), f"return a scalar tensor, got {type(got).__name__}")
    expect_shape(got, (), "the penalty", "sum over units (dim=1), then mean over the batch")
    expect_close(got, z.abs().sum(1).mean(), "the penalty on a random batch",
                 hint="sum |z| over the units of each input, then average over inputs: z.abs().sum(dim=1).mean()")
    expect(got.requires_grad, "the penalty is cut off from autograd", "use torch operations only")
    expect_close(call(fn, torch.zeros(3, 4), name="l1_penalty"), 0.0, "the penalty of an all-zero code")
    passed("l1_penalty matches the reference")


def kl_sparsity(fn) -> None:
    """``fn(z, rho)``: sum over units of KL(rho || rho_hat_j), rho_hat_j the unit's mean activation."""
    __tracebackhide__ = True
    z = torch.rand(50, 6, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    got = call(fn, z, 0.05, name="kl_sparsity")
    expect(isinstance(got, torch.Tensor), f"return a scalar tensor, got {type(got).__name__}")
    expect_shape(got, (), "the KL penalty", "sum the per-unit divergences into one number")
    expect_close(got, kl_sparsity_penalty(z, 0.05), "KL(0.05 || rho_hat) on a random batch", atol=1e-4,
                 hint="rho_hat = z.mean(dim=0) (one value per unit); "
                      "rho*log(rho/rho_hat) + (1-rho)*log((1-rho)/(1-rho_hat)), summed over units")
    at_target = torch.full((10, 4), 0.05)
    expect_close(call(fn, at_target, 0.05, name="kl_sparsity"), 0.0, "the penalty when every unit fires at rate rho",
                 atol=1e-5, hint="KL(rho || rho) = 0")
    expect(got.requires_grad, "the penalty is cut off from autograd", "use torch operations only")
    passed("kl_sparsity matches Ng's formula and is 0 at the target rate")


def topk_activation(fn) -> None:
    """``fn(pre, k)``: keep each row's k largest pre-activations (ReLU'd), zero the rest."""
    __tracebackhide__ = True
    pre = torch.randn(8, 10, generator=torch.Generator().manual_seed(2))
    for k in (1, 3):
        got = call(fn, pre, k, name="topk_activation")
        expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
        expect_shape(got, pre.shape, f"topk_activation(pre, {k})", "same shape as pre: zeros except k entries per row")
        expect(bool(((got != 0).sum(-1) <= k).all()), f"with k={k} some rows keep more than {k} units",
               "torch.topk(pre, k, dim=-1) gives the values and indices to keep")
        expect_close(got, reference_topk(pre, k), f"the sparse code for k={k}",
                     hint="scatter the ReLU of the top-k values back into a tensor of zeros at their indices")
    negative = -torch.rand(2, 5)
    expect(bool((call(fn, negative, 2, name="topk_activation") == 0).all()),
           "when every pre-activation is negative the code should be all zeros", "apply ReLU to the kept values")
    passed("topk_activation keeps the k largest activations and zeros the rest")


def normalize_columns(fn) -> None:
    """``fn(W)``: the columns of W scaled to unit L2 norm (a new tensor; W unchanged)."""
    __tracebackhide__ = True
    W = torch.randn(7, 4, generator=torch.Generator().manual_seed(3)) * torch.tensor([0.1, 1.0, 5.0, 20.0])
    before = W.clone()
    got = call(fn, W, name="normalize_columns")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect_shape(got, W.shape, "normalize_columns(W)")
    expect(torch.equal(W, before), "W was changed in place", "return W / norms instead of dividing in place")
    expect_close(got.norm(dim=0), torch.ones(4), "the column norms", hint="norm over dim=0 (down each column)")
    expect_close(got, W / W.norm(dim=0, keepdim=True), "the normalised columns",
                 hint="divide each column by its own norm; keepdim=True makes the shapes broadcast")
    passed("normalize_columns gives unit-norm columns pointing the same way")
