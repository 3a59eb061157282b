"""Public checks for chapter 01-dense."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .core import call, expect, expect_close, expect_shape, expect_type, passed, plural

__all__ = ["reconstruction_loss", "tiny_autoencoder", "train_step", "pca_reconstruct", "corrupt",
           "reference_tiny_autoencoder"]
CHAPTER = "01-dense"  # passes of these checks are recorded for this chapter (core.passed)


def reconstruction_loss(fn) -> None:
    """``fn(x_hat, x)`` is the mean squared error, a scalar that gradients flow through."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 1, 8, 8, generator=g)
    x_hat = torch.rand(5, 1, 8, 8, generator=g, requires_grad=True)
    loss = call(fn, x_hat, x, name="reconstruction_loss")
    expect_type(loss, torch.Tensor, "reconstruction_loss(x_hat, x)",
                "use torch operations (e.g. torch.mean) and return their result, so gradients can flow")
    expect_shape(loss, (), "the loss", "average over every element so the loss is a single number")
    d = (x_hat - x).detach()
    per_image = x[0].numel()
    expect_close(loss, F.mse_loss(x_hat, x), "the loss on a random batch",
                 hint="average the squared differences over every element: batch, channels and pixels",
                 known=[(d.pow(2).sum(), f"the loss is {x.numel()} times too large: it sums the squared errors",
                         "average over the elements instead of adding them up"),
                        (d.pow(2).flatten(1).sum(1).mean(),
                         f"the loss is {per_image} times too large: it sums over the pixels of each image",
                         "average over the pixels too, not only over the batch"),
                        (d.abs().mean(), "that is the mean absolute error, not the mean squared error",
                         "square the differences instead of taking their absolute value"),
                        (d.pow(2).mean().sqrt(), "that is the root mean squared error, the square root of the MSE",
                         "the exercise asks for the mean squared error itself")])
    expect(loss.requires_grad, "the loss does not depend on x_hat through autograd",
           "do not call .item(), .detach() or numpy() inside the loss")
    expect_close(call(fn, x, x, name="reconstruction_loss"), 0.0, "the loss of a perfect reconstruction")
    passed("reconstruction_loss matches F.mse_loss and keeps gradients")


def reference_tiny_autoencoder(in_dim: int = 64, hidden: int = 32, latent_dim: int = 8) -> nn.Module:
    """The architecture the exercise asks for, for comparisons."""
    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
            self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim), nn.Sigmoid())

        def forward(self, x):
            return self.decoder(self.encoder(x)).view_as(x)

    return Ref()


def _n_params(in_dim: int, hidden: int, latent: int) -> int:
    return (in_dim * hidden + hidden) + (hidden * latent + latent) + (latent * hidden + hidden) + (hidden * in_dim + in_dim)


def tiny_autoencoder(cls) -> None:
    """``cls(in_dim, hidden, latent_dim)`` has .encoder/.decoder with the asked-for shapes."""
    __tracebackhide__ = True
    for in_dim, hidden, latent, side in ((64, 32, 8, 8), (16, 12, 3, 4)):
        torch.manual_seed(0)
        label = f"TinyAutoencoder(in_dim={in_dim}, hidden={hidden}, latent_dim={latent})"
        model = call(cls, in_dim=in_dim, hidden=hidden, latent_dim=latent, name="TinyAutoencoder")
        expect(isinstance(model, nn.Module), "TinyAutoencoder should subclass nn.Module",
               "write class TinyAutoencoder(nn.Module) and call super().__init__() first")
        for part in ("encoder", "decoder"):
            expect(isinstance(getattr(model, part, None), nn.Module), f"the model has no `{part}` module",
                   f"assign self.{part} = nn.Sequential(...) in __init__")
        x = torch.rand(3, 1, side, side)
        flat_hint = ("a Linear layer needs flat vectors: flatten the (batch, 1, height, width) images first, and "
                     "check that each layer's input size is the previous layer's output size")
        z = call(model.encoder, x, name="model.encoder", error_hint=flat_hint)
        expect_shape(z, (3, latent), f"{label}.encoder(x) for x of shape {tuple(x.shape)}",
                     "flatten first; the last encoder layer has latent_dim units (use the constructor's "
                     "arguments, not fixed numbers)")
        x_hat = call(model, x, name="model.forward", error_hint=flat_hint)
        expect_shape(x_hat, tuple(x.shape), f"{label}(x)",
                     "the decoder gives flat vectors: reshape them back to the shape of x")
        expect(bool(((x_hat > 0) & (x_hat < 1)).all()), "reconstructions should lie in (0, 1)",
               "end the decoder with nn.Sigmoid()")
        n = sum(p.numel() for p in model.parameters())
        want = _n_params(in_dim, hidden, latent)
        expect(n == want, f"{label} has {n} parameters, the architecture asked for has {want}",
               "encoder: Linear(in_dim, hidden), ReLU, Linear(hidden, latent_dim); decoder mirrors it, then Sigmoid")
    with torch.no_grad():  # an encoder without a nonlinearity is one affine map
        a, b = torch.rand(50, 1, side, side), torch.rand(50, 1, side, side)
        mid = model.encoder((a + b) / 2)
        affine = torch.allclose(mid, (model.encoder(a) + model.encoder(b)) / 2, atol=1e-5)
    expect(not affine, "model.encoder is linear: its two Linear layers have no nonlinearity between them",
           "put a ReLU after the encoder's hidden layer (and likewise in the decoder)")
    passed("TinyAutoencoder has the right shapes, range and parameter count")


def train_step(fn) -> None:
    """One optimiser step: returns the loss before the update, and updates like the reference."""
    __tracebackhide__ = True
    torch.manual_seed(0)
    ref = reference_tiny_autoencoder()
    start = copy.deepcopy(ref)
    mine = copy.deepcopy(ref)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.5)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.5)
    for p in mine.parameters():  # stale gradients, as a previous step would leave them
        p.grad = torch.full_like(p, 0.5)
    opt_ref.zero_grad()
    want = F.mse_loss(ref(x), x)
    want.backward()
    opt_ref.step()
    with torch.no_grad():
        after = F.mse_loss(ref(x), x).item()
    got = call(fn, mine, x, opt_mine, name="train_step")
    expect_type(got, float, "train_step(model, x, optimizer)",
                "return the loss as a Python number: a tensor's .item() gives it")
    expect_close(got, want.item(), "the returned loss",
                 known=[(after, "the returned loss is the loss after the update",
                         "return the loss computed before optimizer.step() changed the weights")],
                 hint="return the loss of the batch computed in this step, before the update")
    unchanged = all(torch.equal(p, q) for p, q in zip(mine.parameters(), start.parameters()))
    expect(not unchanged, "the parameters did not change: no update was applied",
           "after loss.backward() computes the gradients, optimizer.step() applies them; "
           "zero_grad() belongs before backward(), not between backward() and step()")
    for (name, p_ref), p_mine, p_start in zip(ref.named_parameters(), mine.parameters(), start.parameters()):
        stale = p_start.detach() - 0.5 * (0.5 + p_ref.grad)  # SGD on the stale gradients plus the fresh ones
        expect_close(p_mine, p_ref, f"parameter {name} after one step",
                     known=[(stale, "the update also used the previous step's gradients: they were not cleared "
                                    "before backward()",
                             "gradients add up over backward() calls until they are reset: reset them with "
                             "optimizer.zero_grad() before loss.backward()")],
                     hint="the gradients of the previous step were still there: clear them with "
                          "optimizer.zero_grad() before loss.backward()")
    got2 = call(fn, mine, x, opt_mine, name="train_step")
    expect(got2 < got, "a second step on the same batch did not lower the loss",
           "did you forget optimizer.zero_grad()? stale gradients accumulate")
    passed("train_step matches a reference step exactly")


def pca_reconstruct(fn) -> None:
    """``fn(X, k)`` projects onto the top-k principal components and back (matches scikit-learn)."""
    __tracebackhide__ = True
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10)) + 3.0
    mean = X.mean(0)
    Vt = np.linalg.svd(X - mean, full_matrices=False)[2]
    Vt_raw = np.linalg.svd(X, full_matrices=False)[2]
    for k in (1, 3):
        got = call(fn, X, k, name="pca_reconstruct")
        expect_type(got, np.ndarray, f"pca_reconstruct(X, {k})", "use NumPy (np.linalg.svd) and return an array")
        expect_shape(got, X.shape, f"pca_reconstruct(X, {k})",
                     "project onto the components and back again: reconstructions have the same shape as X")
        pca = PCA(k).fit(X)
        top, low = Vt[:k], Vt[-k:]
        expect_close(got, pca.inverse_transform(pca.transform(X)), f"the rank-{k} reconstruction", atol=1e-6,
                     known=[(X @ Vt_raw[:k].T @ Vt_raw[:k], "X was not centred before the SVD",
                             "PCA works on centred data: subtract the column means first, add them back at the end"),
                            ((X - mean) @ Vt_raw[:k].T @ Vt_raw[:k] + mean, "X was not centred before the SVD",
                             "the components come from the centred data"),
                            ((X - mean) @ top.T @ top, "the reconstruction is centred: the mean was not added back",
                             "after projecting the centred data, add the mean back"),
                            ((X - mean) @ low.T @ low + mean,
                             f"you kept the {plural(k, 'component')} of smallest variance; PCA keeps the largest",
                             "np.linalg.svd sorts the singular values from largest to smallest")],
                     hint="centre X with its column means, keep the first k right-singular vectors, add the mean back")
    passed("pca_reconstruct matches scikit-learn's PCA for k = 1 and 3")


def corrupt(fn) -> None:
    """``fn(x, noise_std, generator)`` adds seeded Gaussian noise and clamps to [0, 1]."""
    __tracebackhide__ = True
    x = torch.full((2000, 1, 8, 8), 0.5)
    noisy = call(fn, x, 0.1, generator=torch.Generator().manual_seed(0), name="corrupt")
    expect_type(noisy, torch.Tensor, "corrupt(x, noise_std, generator)")
    expect_shape(noisy, x.shape, "corrupt(x, ...)")
    again = call(fn, x, 0.1, generator=torch.Generator().manual_seed(0), name="corrupt")
    expect(torch.equal(noisy, again), "two calls with the same seeded generator gave different noise: "
           "the generator argument was not used", "pass generator=generator to the torch function that draws the noise")
    noise = (noisy - x).flatten()
    expect(abs(float(noise.mean())) < 0.005 and float(noise.min()) < 0,
           f"the noise is not Gaussian around 0 (its mean is {float(noise.mean()):.3f})",
           "draw standard normal noise (mean 0, standard deviation 1), then scale it")
    std = float(noise.std())
    expect(abs(std - 0.1) < 0.005, f"the noise has standard deviation {std:.3g}, expected noise_std = 0.1",
           "noise_std is a standard deviation: multiply standard normal noise by it, once")
    want = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    expect_close(noisy, want, "the noisy batch for a fixed generator",
                 hint="draw standard normal noise of x's shape from the generator you were given, scale it by "
                      "noise_std, add it to x, then clamp")
    big = call(fn, torch.rand(100, 1, 8, 8), 2.0, generator=torch.Generator().manual_seed(1), name="corrupt")
    expect(float(big.min()) >= 0.0 and float(big.max()) <= 1.0, "with noise_std=2 some pixels leave [0, 1]",
           "clamp the result to the range of valid pixel values")
    passed("corrupt adds seeded Gaussian noise, clamps, and leaves x alone")
