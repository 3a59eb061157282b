"""Public checks for chapter 03-features."""

from __future__ import annotations

import numpy as np
import torch

from ..sae import topk_activation
from .core import call, expect, expect_close, expect_number, expect_shape, expect_type, passed

__all__ = ["mmcs", "topk_encode", "auxk_loss"]
CHAPTER = "03-features"  # passes of these checks are recorded for this chapter (core.passed)


def _rows(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def mmcs(fn) -> None:
    """``fn(learned, true)``: mean over true features of the best cosine with any learned feature."""
    __tracebackhide__ = True
    from ..metrics import mmcs as reference

    rng = np.random.default_rng(0)
    true = rng.normal(size=(6, 5))
    learned = rng.normal(size=(9, 5))
    got = expect_number(call(fn, learned, true, name="mmcs"), "mmcs(learned, true)",
                        "MMCS is one number: the mean, over the true features, of each one's best cosine")
    cos = _rows(learned) @ _rows(true).T
    cols = (learned / np.linalg.norm(learned, axis=0)) @ (true / np.linalg.norm(true, axis=0)).T
    expect_close(got, reference(learned, true), "MMCS of a random dictionary",
                 known=[(cos.max(axis=1).mean(), "you averaged over the learned features; MMCS averages over the "
                                                 "TRUE features (each true feature's best match)",
                         "for every true feature take the best cosine over the learned ones, then average"),
                        ((learned @ true.T).max(axis=0).mean(), "the rows were not scaled to unit length: those are "
                                                               "dot products, not cosines",
                         "divide every feature (row) by its L2 norm before the dot products"),
                        (np.abs(cos).max(axis=0).mean(), "you took absolute cosines: a flipped (negated) feature "
                                                         "does not count as a match, so keep the sign",
                         "use the signed cosine"),
                        (cols.max(axis=0).mean(), "the columns were normalised; each feature is a row, normalise the rows",
                         "norm over axis=1, one norm per row")],
                 hint="normalise every row to unit length, take all cosines, best learned match per true feature, mean")
    expect_close(expect_number(call(fn, true.copy(), true, name="mmcs"), "mmcs(true, true)"), 1.0,
                 "MMCS of the true dictionary against itself", hint="rows must be normalised before the dot products")
    scaled = 3.0 * true[::-1]
    expect_close(expect_number(call(fn, scaled, true, name="mmcs"), "mmcs(scaled, true)"), 1.0,
                 "MMCS after permuting and rescaling the rows",
                 hint="MMCS should not care about the order or the length of the learned features")
    expect_close(expect_number(call(fn, -true, true, name="mmcs"), "mmcs(-true, true)"), reference(-true, true),
                 "MMCS of the negated true features", hint="keep the sign of the cosines: -f is the opposite feature")
    expect_close(expect_number(call(fn, true[:3], true, name="mmcs"), "mmcs(half, true)"), reference(true[:3], true),
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
    shape_hint = "W_enc has shape (latents, inputs) = (12, 6): one row per latent; check which side of the product it goes on"
    got = call(fn, x, W_enc, b_enc, b_dec, 3, name="topk_encode", error_hint=shape_hint)
    expect_type(got, torch.Tensor, "topk_encode(x, W_enc, b_enc, b_dec, k)")
    expect_shape(got, (10, 12), "the code for 10 inputs and 12 latents",
                 "one row per input, one column per latent; " + shape_hint)
    expect(bool(((got != 0).sum(-1) <= 3).all()), "some rows (inputs) have more than k=3 active latents",
           "choose the k winners within each input's row (over the latents, the last dim)")
    want = _topk_encode_reference(x, W_enc, b_enc, b_dec, 3)
    expect_close(got, want, "the TopK code",
                 known=[(_topk_encode_reference(x + b_dec, W_enc, b_enc, b_dec, 3),
                         "the pre-bias b_dec was not subtracted from x",
                         "the pre-bias is taken off the input before the encoder's weights are applied"),
                        (_topk_encode_reference(x + 2 * b_dec, W_enc, b_enc, b_dec, 3),
                         "b_dec was added to x; the pre-bias is subtracted",
                         "the pre-bias is taken off the input before the encoder's weights are applied")],
                 hint="subtract the pre-bias from x, apply the encoder's weights and bias, then keep the top k "
                      "of each row (ReLU'd)")
    negative = call(fn, x, W_enc, b_enc - 100.0, b_dec, 3, name="topk_encode")
    expect(isinstance(negative, torch.Tensor) and bool((negative == 0).all()),
           "when every pre-activation is negative the code should be all zeros: the kept values need a ReLU",
           "a winner with a negative pre-activation still gives 0")
    passed("topk_encode matches the reference encoder")


def _auxk_reference(residual, pre, dead, W_dec, aux_k, *, mask=True, normalise=True, centre=True):
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    z = topk_activation(pre.masked_fill(~dead, float("-inf")) if mask else pre, min(aux_k, n_dead))
    error = (z @ W_dec.T - residual).pow(2).sum(1).mean()
    baseline = (residual - residual.mean(0) if centre else residual).pow(2).sum(1).mean()
    return error / baseline if normalise else error


def auxk_loss(fn) -> None:
    """``fn(residual, pre, dead, W_dec, aux_k)``: Gao et al.'s auxiliary loss on dead latents."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(5)
    residual, pre = torch.randn(16, 6, generator=g) + 0.5, torch.randn(16, 10, generator=g)
    W_dec = torch.randn(6, 10, generator=g).requires_grad_(True)
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[1, 4, 7, 8]] = True
    shape_hint = "W_dec has shape (inputs, latents) = (6, 10): one column per latent; check how it multiplies the code"
    got = call(fn, residual, pre, dead, W_dec, 2, name="auxk_loss", error_hint=shape_hint)
    expect_type(got, torch.Tensor, "auxk_loss(...)", "use torch operations and return their result (no .item())")
    expect_shape(got, (), "the auxiliary loss", "one number: the normalised error averaged over the batch")
    args = (residual, pre, dead, W_dec.detach(), 2)
    expect_close(got, _auxk_reference(*args), "the auxiliary loss", atol=1e-4,
                 known=[(_auxk_reference(*args, mask=False), "live latents took part: only dead latents may "
                                                            "reconstruct the residual",
                         "set the pre-activations of live latents to -inf before choosing the top aux_k"),
                        (_auxk_reference(*args, normalise=False), "the error was not divided by the baseline",
                         "divide by the error of predicting every residual by the batch's mean residual"),
                        (_auxk_reference(*args, centre=False), "the baseline does not subtract the residual's mean",
                         "the baseline is the error of predicting the residual by its mean over the batch")],
                 hint="mask live latents to -inf, keep the top aux_k of each row (ReLU'd), reconstruct the residual "
                      "with W_dec, and divide the squared error by that of predicting the residual's mean")
    got.backward()
    expect(W_dec.grad is not None, "the auxiliary loss does not depend on W_dec through autograd",
           "use torch operations only, no .detach()")
    live_columns = W_dec.grad[:, ~dead]
    expect(bool((live_columns == 0).all()), "live latents' decoder columns received gradient",
           "only dead latents may take part: set the pre-activations of live ones to -inf before the top-k")
    none_dead = call(fn, residual, pre, torch.zeros(10, dtype=torch.bool), W_dec.detach(), 2, name="auxk_loss")
    expect_close(none_dead, 0.0, "the loss when no latent is dead",
                 hint="with no dead latent there is nothing to train: the loss is a zero tensor")
    passed("auxk_loss matches the reference and only trains dead latents")
