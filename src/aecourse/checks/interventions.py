"""Public checks for chapter 06-interventions (latent responses, the response matrix, the causal score)."""

from __future__ import annotations

import numpy as np
import torch

from .. import interventions as reference
from ..vae import VAE
from .core import call, close, expect, expect_close, expect_shape, expect_value, passed

__all__ = ["latent_response", "intervene", "response_matrix", "causal_score"]
CHAPTER = "06-interventions"  # passes of these checks are recorded for this chapter (core.passed)


def _returned(got, name: str) -> None:
    __tracebackhide__ = True
    expect(got is not None, f"`{name}` returned None", "end the function with `return ...`")


def _tiny_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(in_shape=(1, 8, 8), latent_dim=4, hidden=(16,)).eval()


def _codes(seed: int, shape=(6, 4)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def latent_response(fn) -> None:
    """``fn(model, z)``: ``R(z) = model.encode(model.decode(z))``, the posterior mean of the decoded image."""
    __tracebackhide__ = True
    model, z = _tiny_vae(), _codes(1)
    z_before = z.clone()
    got = call(fn, model, z, name="latent_response")
    _returned(got, "latent_response")
    if isinstance(got, tuple):
        expect(False, f"`latent_response` returned a tuple of {len(got)} items, not the codes",
               "model.posterior gives (mean, log-variance); R(z) is only the mean, which model.encode returns")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}",
           "model.encode returns a tensor; return it as it is (no .numpy())")
    expect(tuple(got.shape) != (6, 1, 8, 8), "you returned images (6, 1, 8, 8), not codes",
           "decode(z) is only half of it: encode the decoded images again")
    expect_shape(got, (6, 4), "the responses of 6 codes with 4 latents",
                 "one response code per input code: (n, latent_dim)")
    expect(torch.equal(z, z_before), "your function changed z", "work on new tensors; do not write into z")
    again = call(fn, model, z, name="latent_response")
    expect(torch.allclose(got.detach(), again.detach()), "two calls on the same codes gave different responses",
           "use the posterior MEAN (model.encode), not a sample from the posterior")
    with torch.no_grad():
        logits_encoded = model.encode(model.decode_logits(z))
    mistakes = [
        (reference.latent_response(model, z) - z, "you subtracted z: R(z) is the re-encoded code itself, not a change",
         "return the posterior mean of the decoded image as it is"),
        (logits_encoded, "you encoded the decoder's logits; decode gives the pixel probabilities the encoder saw in "
         "training", "use model.decode, not model.decode_logits"),
    ]
    expect_value(got, reference.latent_response(model, z), "R(z) of a small random VAE", mistakes, atol=1e-5,
                  hint="decode the codes into images, then encode those images again (the posterior mean)")
    passed("latent_response decodes and encodes again, returning the posterior mean")


def intervene(fn) -> None:
    """``fn(z, dim, values)``: a copy of ``z`` with column ``dim`` replaced by ``values`` (scalar or one per row)."""
    __tracebackhide__ = True
    square = _codes(7, (4, 4))
    square_values = torch.arange(4, dtype=torch.float32) + 10.0
    got = call(fn, square.clone(), 1, square_values, name="intervene")
    _returned(got, "intervene")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect_shape(got, (4, 4), "the intervened codes", "same shape as z: only one column changes")
    expect(not (torch.equal(got[1], square_values) and not torch.equal(got[:, 1], square_values)),
           "row 1 was replaced instead of column 1", "latent dim is a COLUMN of z: rows are the samples")
    expect(not close(got[:, 1], square[:, 1] + square_values, 1e-6),
           "the values were added to column 1 instead of replacing it", "an intervention SETS the latent to the value")
    z = _codes(2, (5, 3))
    z_before = z.clone()
    values = torch.arange(5, dtype=torch.float32) + 10.0
    got = call(fn, z, 1, values, name="intervene")
    _returned(got, "intervene")
    expect(torch.equal(z, z_before), "your function changed the input z (an in-place edit)",
           "copy z first and change the copy")
    expect(got is not z, "you returned z itself", "return a copy of z")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect_shape(got, (5, 3), "the intervened codes", "same shape as z: only one column changes")
    expect_close(got[:, 1], values, "column 1 after intervening on latent 1",
                 hint="set a COLUMN (all rows of latent dim) to the values")
    keep = [0, 2]
    expect_close(got[:, keep], z[:, keep], "every latent you did not intervene on",
                 hint="only column dim changes; every other column is copied from z")
    try:
        scalar = call(fn, z, 0, 2.5, name="intervene")
    except AssertionError as exc:
        problem = str(exc).splitlines()[0].lstrip("❌ ")
        expect(False, f"with a single number as values (2.5): {problem}",
               "values may be a plain number as well as a tensor; a number has no tensor methods, and assigning "
               "it to a column sets every row")
        raise
    expect_close(scalar[:, 0], torch.full((5,), 2.5), "column 0 after intervening with one number, 2.5",
                 hint="a single value is set in every row (broadcasting does it)")
    expect(torch.equal(z, z_before), "your function changed the input z (an in-place edit)", "work on a copy of z")
    passed("intervene replaces one latent and leaves z alone")


def _toy_response(z: torch.Tensor) -> torch.Tensor:
    """A fixed nonlinear 'autoencoder' whose latents depend on each other in one direction only."""
    mix = torch.tensor([[1.0, 0.6, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.3, 0.8, 0.0], [0.0, 0.0, 0.0, 0.0]])
    return torch.tanh(torch.as_tensor(z, dtype=torch.float32) @ mix)


def _response_mistakes(z, values):
    """Wrong matrices learners often produce, each with what went wrong."""
    base = _toy_response(z).double()
    moved = [_toy_response(reference.intervene(z, j, values[:, j])).double() for j in range(z.shape[1])]
    ref = reference.response_matrix_from(_toy_response, z, values)
    return [
        (ref.T, "rows and columns are swapped",
         "row j is the intervention on latent j; column i is how much latent i responds"),
        (np.stack([(m - base).abs().mean(0).numpy() for m in moved]), "this is the mean ABSOLUTE change",
         "use the root mean square of the change over the samples"),
        (np.stack([m.pow(2).mean(0).sqrt().numpy() for m in moved]), "the responses were not compared with R(z)",
         "compare with the response to the unchanged codes, R(z)"),
        (np.stack([(m - base).pow(2).mean(0).numpy() for m in moved]), "the square root is missing (this is the "
         "mean squared change)", "the root mean square: the square root of the mean of the squares"),
    ]


def response_matrix(fn) -> None:
    """``fn(response_fn, z, values)``: (d, d), row j = RMS over samples of R(z with z_j = values[:, j]) - R(z)."""
    __tracebackhide__ = True
    z, values = _codes(3, (64, 4)), _codes(4, (64, 4))
    z_before, values_before = z.clone(), values.clone()
    got = call(fn, _toy_response, z, values, name="response_matrix")
    _returned(got, "response_matrix")
    expect(torch.equal(z, z_before) and torch.equal(values, values_before),
           "your function changed the input z (an in-place edit)",
           "intervene on a copy of z; every row must start from the same codes")
    expect(isinstance(got, (np.ndarray, torch.Tensor)), f"return an array or a tensor, got {type(got).__name__}")
    expect(tuple(got.shape) != (4, 64), "the matrix has shape (4, 64): the mean runs over the wrong axis",
           "average over the samples (axis 0), keeping one number per responding latent")
    expect_shape(got, (4, 4), "the response matrix for 4 latents",
                 "one row per intervened latent, one column per responding latent")
    got = got.detach().cpu().double().numpy() if isinstance(got, torch.Tensor) else np.asarray(got, dtype=float)
    want = reference.response_matrix_from(_toy_response, z, values)
    if not np.allclose(got, want, atol=1e-5, rtol=1e-4):
        for wrong, problem, hint in _response_mistakes(z, values):
            expect(not np.allclose(got, wrong, atol=1e-5, rtol=1e-4), problem, hint)
    expect_close(got, want, "the response matrix of a toy model", atol=1e-5,
                 hint="row j: how much each latent of R changes, as a root mean square over the samples, when "
                      "latent j of z is set to values[:, j]")
    identity = call(fn, lambda c: c, z, values, name="response_matrix")
    identity = identity.detach().double().numpy() if isinstance(identity, torch.Tensor) else np.asarray(identity, float)
    expect_close(identity, np.diag(((values - z).double() ** 2).mean(0).sqrt().numpy()),
                 "the response matrix of R(z) = z", atol=1e-5,
                 hint="with R(z) = z only the intervened latent changes: a diagonal matrix")
    passed("response_matrix matches the reference on a toy model and on R(z) = z")


def causal_score(fn) -> None:
    """``fn(cond)``: the causal disentanglement score ``cond.max(axis=0).sum() / cond.sum()``."""
    __tracebackhide__ = True
    rng = np.random.default_rng(5)
    cond = rng.random((5, 8)) ** 3  # factors x latents, a few responses stand out
    got = call(fn, cond, name="causal_score")
    _returned(got, "causal_score")
    expect(np.ndim(got) == 0, f"causal_score should return one number, got shape {np.shape(got)}",
           "reduce the matrix to one float")
    wrong_axis = cond.max(axis=1).sum() / cond.sum()
    expect(not np.isclose(float(got), wrong_axis), "the maximum was taken over latents instead of over factors",
           "for each LATENT (column) take its largest response over the factors (rows)")
    mistakes = [
        (cond.max(axis=0).sum(), "the sum of the maxima is not divided by the total response",
         "the score is a share of the whole matrix: between 1/K and 1"),
        (cond.max(axis=0).mean(), "this is the mean of the maxima, not their sum divided by the total response",
         "divide by the sum of the whole matrix, not by the number of latents"),
        ((cond.max(axis=0) / cond.sum(axis=0)).mean(), "each latent's own ratio was averaged; the score divides the "
         "summed maxima by the total of the whole matrix", "sum first, divide once"),
    ]
    expect_value(float(got), reference.causal_disentanglement_score(cond), "the score of a random matrix",
                  mistakes, atol=1e-6, hint="the sum over latents of each latent's largest response, as a share of "
                                            "the total response")
    expect_close(float(call(fn, np.ones((4, 6)), name="causal_score")), 0.25, "the score of a uniform 4-factor matrix",
                 hint="when every latent responds to all 4 factors equally the score is 1/4")
    expect_close(float(call(fn, np.eye(5, 7), name="causal_score")), 1.0,
                 "the score of a matrix where each latent responds to one factor")
    passed("causal_score matches the causal disentanglement score")
