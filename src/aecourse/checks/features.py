"""Public checks for chapter 03-features."""

from __future__ import annotations

import numpy as np
import torch

from ..models import topk_activation
from . import call, expect, expect_close, expect_shape, passed

__all__ = ["mmcs", "topk_encode", "auxk_loss"]


def mmcs(fn) -> None:
    """``fn(learned, true)``: mean over true features of the best cosine with any learned feature."""
    __tracebackhide__ = True
    from ..metrics import mmcs as reference

    rng = np.random.default_rng(0)
    true = rng.normal(size=(6, 5))
    learned = rng.normal(size=(9, 5))
    got = call(fn, learned, true, name="mmcs")
    expect(np.isscalar(got) or np.ndim(got) == 0, f"mmcs should return one number, got {type(got).__name__}")
    expect_close(float(got), reference(learned, true), "MMCS of a random dictionary",
                 hint="normalise every row to unit length, cos = learned @ true.T, max over learned (axis 0), mean")
    expect_close(float(call(fn, true.copy(), true, name="mmcs")), 1.0, "MMCS of the true dictionary against itself",
                 hint="rows must be normalised before the dot products")
    scaled = 3.0 * true[::-1]
    expect_close(float(call(fn, scaled, true, name="mmcs")), 1.0, "MMCS after permuting and rescaling the rows",
                 hint="MMCS should not care about the order or the length of the learned features")
    expect_close(float(call(fn, true[:3], true, name="mmcs")), reference(true[:3], true),
                 "MMCS when only half the true features were learned",
                 hint="average over the TRUE features (every true feature needs a match), not over the learned ones")
    passed("mmcs matches the reference and ignores order and scale")


def _topk_encode_reference(x, W_enc, b_enc, b_dec, k):
    return topk_activation((x - b_dec) @ W_enc.T + b_enc, k)


def topk_encode(fn) -> None:
    """``fn(x, W_enc, b_enc, b_dec, k)``: the TopK SAE encoder."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(4)
    x, W_enc = torch.randn(10, 6, generator=g), torch.randn(12, 6, generator=g)
    b_enc, b_dec = torch.randn(12, generator=g), torch.randn(6, generator=g)
    got = call(fn, x, W_enc, b_enc, b_dec, 3, name="topk_encode")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect_shape(got, (10, 12), "the code for 10 inputs and 12 latents", "one row per input, one column per latent")
    expect(bool(((got != 0).sum(-1) <= 3).all()), "some inputs have more than k=3 active latents",
           "keep only torch.topk(pre, k) of each row")
    want = _topk_encode_reference(x, W_enc, b_enc, b_dec, 3)
    without_bdec = _topk_encode_reference(x + b_dec, W_enc, b_enc, b_dec, 3)
    expect(not torch.allclose(got, without_bdec) or torch.allclose(want, without_bdec),
           "the pre-bias b_dec was not subtracted from x", "pre = (x - b_dec) @ W_enc.T + b_enc")
    expect_close(got, want, "the TopK code", hint="pre = (x - b_dec) @ W_enc.T + b_enc, then keep the top k (ReLU'd)")
    passed("topk_encode matches the reference encoder")


def _auxk_reference(residual, pre, dead, W_dec, aux_k):
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    z = topk_activation(pre.masked_fill(~dead, float("-inf")), min(aux_k, n_dead))
    residual_hat = z @ W_dec.T
    return (residual_hat - residual).pow(2).sum(1).mean() / (residual - residual.mean(0)).pow(2).sum(1).mean()


def auxk_loss(fn) -> None:
    """``fn(residual, pre, dead, W_dec, aux_k)``: Gao et al.'s auxiliary loss on dead latents."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(5)
    residual, pre = torch.randn(16, 6, generator=g), torch.randn(16, 10, generator=g)
    W_dec = torch.randn(6, 10, generator=g).requires_grad_(True)
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[1, 4, 7, 8]] = True
    got = call(fn, residual, pre, dead, W_dec, 2, name="auxk_loss")
    expect(isinstance(got, torch.Tensor), f"return a scalar tensor, got {type(got).__name__}")
    expect_shape(got, (), "the auxiliary loss")
    expect_close(got, _auxk_reference(residual, pre, dead, W_dec, 2), "the auxiliary loss", atol=1e-4,
                 hint="mask live latents to -inf, keep the top aux_k of each row (ReLU'd), reconstruct the residual "
                      "with W_dec, and divide the squared error by that of predicting the residual's mean")
    got.backward()
    live_columns = W_dec.grad[:, ~dead]
    expect(bool((live_columns == 0).all()), "live latents' decoder columns received gradient",
           "only dead latents may take part: set the pre-activations of live ones to -inf before the top-k")
    none_dead = call(fn, residual, pre, torch.zeros(10, dtype=torch.bool), W_dec.detach(), 2, name="auxk_loss")
    expect_close(none_dead, 0.0, "the loss when no latent is dead", hint="return torch.zeros(()) if dead.sum() == 0")
    passed("auxk_loss matches the reference and only trains dead latents")
