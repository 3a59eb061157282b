"""Public checks for chapter 07-where-what (soft masks, composing effects, perturbation simplicity, TPL)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import wherewhat as ww
from .core import call, close, expect, expect_close, expect_shape, expect_value, passed

__all__ = ["soft_interval", "compose", "perturbation_loss", "traversal_length"]
CHAPTER = "07-where-what"  # passes of these checks are recorded for this chapter (core.passed)


def _tensor(got, what: str, hint: str) -> torch.Tensor:
    __tracebackhide__ = True
    expect(got is not None, f"{what} is None: the function returns nothing",
           "end the function with `return ...` (did a line `return` get lost?)")
    expect(isinstance(got, torch.Tensor), f"{what} should be a torch Tensor, got {type(got).__name__}", hint)
    return got.detach()


# --------------------------------------------------------------------------- where: soft intervals and masks
def soft_interval(fn) -> None:
    """``fn(start_logits, end_logits)``: ``cumsum(softmax(start)) * reverse_cumsum(softmax(end))``, last axis."""
    __tracebackhide__ = True
    formula = ("inside = P(start <= i) * P(end >= i): the first is a running sum of the start probabilities from "
               "the left, the second a running sum of the end probabilities from the right")
    # Very peaked logits: start surely at 2, end surely at 5, so positions 2..5 are inside.
    start, end = torch.full((8,), -30.0), torch.full((8,), -30.0)
    start[2], end[5] = 30.0, 30.0
    got = _tensor(call(fn, start, end, name="soft_interval"), "the interval", formula)
    expect_shape(got, (8,), "the interval of one axis of length 8", "one value per position: same shape as the logits")
    hard = torch.tensor([0, 0, 1, 1, 1, 1, 0, 0], dtype=torch.float32)
    if not close(got, hard, atol=1e-4):
        wrong = {
            "P(end <= i)": torch.tensor([0, 0, 0, 0, 0, 1, 1, 1.0]),
            "P(end > i)": torch.tensor([0, 0, 1, 1, 1, 0, 0, 0.0]),
        }
        for name, w in wrong.items():
            expect(not close(got, w, atol=1e-4),
                   f"with the start surely at 2 and the end surely at 5 you get {got.numpy().round(2).tolist()}: "
                   f"the second factor is {name}, not P(end >= i)",
                   "P(end >= i) sums the end probabilities from the RIGHT end of the axis down to i")
        expect(False, f"with the start surely at 2 and the end surely at 5, positions 2..5 should be inside "
                      f"(1) and the others outside (0); got {got.numpy().round(2).tolist()}", formula)
    g = torch.Generator().manual_seed(0)
    start, end = 2 * torch.randn(2, 3, 7, generator=g), 2 * torch.randn(2, 3, 7, generator=g)
    got = _tensor(call(fn, start, end, name="soft_interval"), "the interval", formula)
    expect_shape(got, (2, 3, 7), "the intervals for logits of shape (2, 3, 7)",
                 "work along the LAST axis (dim=-1) so leading axes are batch axes")
    expect(float(got.min()) >= -1e-6 and float(got.max()) <= 1 + 1e-6,
           f"interval values should lie in [0, 1], got values from {float(got.min()):.3g} to {float(got.max()):.3g}: "
           "the position probabilities do not sum to 1 (sigmoid instead of softmax?)",
           "turn the logits into probabilities with softmax (not sigmoid): the start position's "
           "probabilities must sum to 1 along the axis")
    sigmoid_version = (torch.sigmoid(start).cumsum(-1) * torch.sigmoid(end).flip(-1).cumsum(-1).flip(-1))
    expect(not close(got, sigmoid_version), "the interval uses sigmoid probabilities",
           "softmax(logits, dim=-1): one distribution over positions, not an independent probability per position")
    first_axis = (torch.softmax(start, 0).cumsum(0) * torch.softmax(end, 0).flip(0).cumsum(0).flip(0))
    mistakes = [(first_axis, "it is computed along the first axis (dim=0), not along the last (position) axis",
                 "the positions are the LAST axis (dim=-1); the leading axes are batch axes")]
    expect_value(got, ww.soft_interval(start, end), "the soft interval of random logits", mistakes, atol=1e-5,
                  hint=formula + " (along dim=-1)")
    passed("soft_interval is P(start <= i) * P(end >= i)")


def compose(fn) -> None:
    """``fn(masks, effects, base)``: features ``base + sum_j masks[j] * effects[:, j]``, shape (batch, C, h, w)."""
    __tracebackhide__ = True
    formula = ("F[b, c, r, s] = base[c, r, s] + sum over latents j of masks[j, r, s] * effects[b, j, c]: "
               "line the axes up by broadcasting (or one einsum)")
    g = torch.Generator().manual_seed(1)
    d, c, h, w, batch = 3, 4, 5, 6, 2  # all different, so a wrong axis cannot hide
    masks = torch.rand(d, h, w, generator=g)
    effects = torch.randn(batch, d, c, generator=g)
    base = torch.randn(c, h, w, generator=g)
    got = _tensor(call(fn, masks, effects, base, name="compose"), "the feature map", formula)
    expect_shape(got, (batch, c, h, w), "the features for masks (3, 5, 6), effects (2, 3, 4) and base (4, 5, 6)",
                 "(batch, C, h, w): each latent's C-vector is painted over its (h, w) mask, then summed over latents")
    want = ww.compose_masked(masks, effects, base)
    expect(not close(got, want - base), "the base is missing", "add the learned base (C, h, w) to the masked sum")
    mistakes = [(base + (masks[None, :, None] * effects[:, :, :, None, None]).mean(1),
                 "the masked effects are averaged over the latents instead of summed",
                 "each latent ADDS its effect inside its mask")]
    expect_value(got, want, "the feature map of random masks and effects", mistakes, atol=1e-5, hint=formula)
    # One-hot masks: each latent writes only inside its own cell.
    one_hot = torch.zeros(d, h, w)
    one_hot[0, 0, 0] = one_hot[1, 2, 3] = one_hot[2, 4, 5] = 1.0
    got = _tensor(call(fn, one_hot, effects, torch.zeros(c, h, w), name="compose"), "the feature map", formula)
    expect_close(got[:, :, 2, 3], effects[:, 1], "the feature vector in latent 1's only mask cell",
                 hint="where only latent j's mask is 1, the features must equal effects[:, j]")
    passed("compose paints every effect through its mask onto the base")


# --------------------------------------------------------------------------- what: perturbation simplicity
class _Decoder:
    """A fixed random decoder ``(n, d) -> (n, 1, 8, 8)`` pixel probabilities."""

    def __init__(self, d: int, seed: int):
        self.weight = torch.randn(d, 64, generator=torch.Generator().manual_seed(seed))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z @ self.weight).view(len(z), 1, 8, 8)


def _ps_setup(seed: int):
    d, n = 4, 24
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the learner's random stream
        torch.manual_seed(seed)
        recogniser = ww.PerturbationRecogniser(d, (1, 8, 8), channels=(4, 8), hidden=16)
    z = torch.randn(n, d, generator=g)
    dims = torch.arange(n) % d
    eps = torch.linspace(-2, 2, n)[torch.randperm(n, generator=g)]
    eps = torch.where(eps.abs() < 0.3, eps + 0.6, eps)  # no offsets near 0, some negative
    return _Decoder(d, seed), recogniser, z, dims, eps


def perturbation_loss(fn) -> None:
    """``fn(decode, recogniser, z, dims, eps)``: cross-entropy of "which latent" + MSE of "by how much" (scalar)."""
    __tracebackhide__ = True
    formula = ("move latent dims[i] of code i by eps[i], decode both codes, let the recogniser compare the original "
               "image with the moved one, then add a classification loss (which latent) and a regression loss "
               "(by how much)")
    decode, recogniser, z, dims, eps = _ps_setup(0)
    out = call(fn, decode, recogniser, z, dims, eps, name="perturbation_loss")
    expect(not isinstance(out, tuple), "perturbation_loss returned a tuple", "return only the scalar loss tensor")
    expect(out is not None, "perturbation_loss returns None", "end the function with `return loss`")
    expect(isinstance(out, torch.Tensor), f"the loss should be a torch Tensor, got {type(out).__name__}",
           "keep the computation in torch so gradients can flow")
    expect_shape(out, (), "the loss", "average over the batch: F.cross_entropy and F.mse_loss do by default")
    expect(out.requires_grad, "the loss is cut off from autograd: no gradient reaches the recogniser (or decoder)",
           "no .detach(), .item() or numpy inside the loss")
    got = out.detach()
    want, _ = ww.perturbation_loss(decode, recogniser, z, dims, eps)
    want = want.detach()
    with torch.no_grad():
        x1 = decode(z)
        logits_all, hat_all = recogniser(x1, decode(z + eps[:, None]))
        z2 = z + eps[:, None] * F.one_hot(dims, z.shape[1])
        logits, eps_hat = recogniser(x1, decode(z2))
        ce = F.cross_entropy(logits, dims)
        every_latent = F.cross_entropy(logits_all, dims) + F.mse_loss(hat_all, eps)
        abs_eps = ce + F.mse_loss(eps_hat, eps.abs())
        swapped_logits, swapped_hat = recogniser(decode(z2), x1)
        swapped = F.cross_entropy(swapped_logits, dims) + F.mse_loss(swapped_hat, eps)
        summed = F.cross_entropy(logits, dims, reduction="sum") + F.mse_loss(eps_hat, eps, reduction="sum")
        mse_only = F.mse_loss(eps_hat, eps)
    expect(not close(got, every_latent, 1e-4), "every latent of the code was perturbed",
           "only latent dims[i] of code i moves: the shift is eps[i] in that one latent and 0 in the others")
    expect(not close(got, ce, 1e-4), "the loss is only the cross-entropy: the eps term is missing",
           "add a squared-error loss of eps_hat against eps: the recogniser must also say how far the latent moved")
    expect(not close(got, mse_only, 1e-4), "the loss is only the squared error: the cross-entropy term is missing",
           "add the classification loss of `logits` against `dims`: the recogniser must also say WHICH latent moved")
    expect(not close(got, swapped, 1e-4), "the two images are swapped: the recogniser takes the original image "
           "first, then the perturbed one", "recogniser(image of z, image of the moved code)")
    expect(not close(got, summed, 1e-4), "the losses are summed over the batch instead of averaged",
           "keep the default reduction (the mean over the batch)")
    expect(not close(got, abs_eps, 1e-4), "eps_hat is compared with |eps|",
           "the target is eps with its sign (moving a latent up or down are different changes)")
    expect_close(got, want, "the perturbation loss on a fixed decoder and recogniser", atol=1e-4, hint=formula)
    again = call(fn, decode, recogniser, z, dims, eps, name="perturbation_loss")
    expect(isinstance(again, torch.Tensor) and close(again.detach(), got),
           "two calls with the same inputs gave different losses",
           "draw nothing random inside: z, dims and eps come in as arguments")
    passed("perturbation_loss = cross-entropy(which latent) + MSE(how much)")


# --------------------------------------------------------------------------- TPL: traversal length
def _blob_decoder(z: torch.Tensor) -> torch.Tensor:
    """``(n, 3) -> (n, 1, 16, 16)``: a blob placed by latent 0, brightened by latent 1; latent 2 is unused."""
    grid = torch.arange(16, dtype=z.dtype)
    centre = 7.5 + 3.0 * z[:, 0]
    column = torch.exp(-0.5 * ((grid[None, :] - centre[:, None]) / 1.2) ** 2)  # (n, 16)
    row = torch.exp(-0.5 * ((grid - 7.5) / 2.0) ** 2)  # (16,)
    brightness = torch.sigmoid(z[:, 1])
    return (brightness[:, None, None] * row[None, :, None] * column[:, None, :])[:, None]


def traversal_length(fn) -> None:
    """``fn(decode, z0, dim, span=2.0, steps=50)``: summed RMS distance between consecutive decoded images."""
    __tracebackhide__ = True
    formula = ("decode `steps` codes that equal z0 except latent `dim`, which runs evenly from -span to +span; "
               "add up the root-mean-square pixel differences between neighbouring images")
    z0 = torch.tensor([0.3, -0.4, 1.0])

    def run(dim, **kw):
        got = call(fn, _blob_decoder, z0, dim, name="traversal_length", **kw)
        expect(got is not None, "traversal_length returns None", "end the function with `return total`")
        try:
            return float(got)
        except (TypeError, ValueError):
            expect(False, f"traversal_length should return one number, got {type(got).__name__}",
                   "add the distances into a single float")

    z0_before = z0.clone()
    ignored = run(2)
    expect(torch.equal(z0, z0_before), "your function changed the input z0 (an in-place edit)",
           "build the traversal codes in a new tensor; z0 is the caller's starting code")
    expect(abs(ignored) < 1e-6, f"latent 2 is ignored by the decoder, yet its traversal length is {ignored:.4g}",
           "only latent `dim` may change along the traversal; the images stay the same, so every distance is 0")
    for dim in (0, 1):
        got = run(dim)
        want = ww.traversal_length(_blob_decoder, z0, dim)
        if dim == 0 and not np.isclose(got, want, rtol=1e-4, atol=1e-6):
            values = torch.linspace(-2, 2, 50)
            codes = z0.repeat(50, 1)
            codes[:, 0] = values
            images = _blob_decoder(codes)
            squared = float(((images[1:] - images[:-1]) ** 2).flatten(1).mean(1).sum())
            diffs = (images[1:] - images[:-1]).flatten(1)
            rms = diffs.pow(2).mean(1).sqrt()
            mistakes = [
                (squared, "the squared distances were added up", "add the distances themselves (the RMS differences), "
                 "not their squares"),
                (float(rms.mean()), "the distances were averaged instead of added up",
                 "the length of a path is the SUM of its steps"),
                (float((images[-1] - images[0]).pow(2).mean().sqrt()), "only the first and last images were compared",
                 "the length adds the distances between neighbouring images along the way"),
                (float(diffs.abs().mean(1).sum()), "the steps are mean absolute differences, not RMS differences",
                 "root mean square: the square root of the mean of the squared differences"),
            ]
            expect_value(got, want, f"the traversal length of latent {dim} (span 2, 50 steps)", mistakes,
                          atol=1e-5, hint=formula)
        expect_close(got, want, f"the traversal length of latent {dim} (span 2, 50 steps)", atol=1e-5, hint=formula)
    # Few big steps: a blob jumping further than its width makes the count of steps matter.
    for steps, span in ((5, 2.0), (9, 1.0)):
        got = run(0, span=span, steps=steps)
        want = ww.traversal_length(_blob_decoder, z0, 0, span=span, steps=steps)
        expect_close(got, want, f"the traversal length with span={span}, steps={steps}", atol=1e-5,
                     hint="steps is the number of IMAGES along the traversal, so there are steps - 1 distances "
                          "between neighbours")
    passed("traversal_length adds the RMS pixel distances along the traversal")
