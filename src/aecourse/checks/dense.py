"""Public checks for chapter 01-dense."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import call, expect, expect_close, expect_shape, passed

__all__ = ["reconstruction_loss", "tiny_autoencoder", "train_step", "pca_reconstruct", "corrupt",
           "reference_tiny_autoencoder"]


def reconstruction_loss(fn) -> None:
    """``fn(x_hat, x)`` is the mean squared error, a scalar that gradients flow through."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 1, 8, 8, generator=g)
    x_hat = torch.rand(5, 1, 8, 8, generator=g, requires_grad=True)
    loss = call(fn, x_hat, x, name="reconstruction_loss")
    expect(isinstance(loss, torch.Tensor), f"return a torch scalar tensor, got {type(loss).__name__}",
           "use torch operations (e.g. torch.mean) so gradients can flow")
    expect_shape(loss, (), "the loss", "average over every element so the loss is a single number")
    expect_close(loss, F.mse_loss(x_hat, x), "the loss on a random batch",
                 hint="mean of (x_hat - x)**2 over all elements, not a sum")
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
    torch.manual_seed(0)
    model = call(cls, in_dim=64, hidden=32, latent_dim=8, name="TinyAutoencoder")
    expect(isinstance(model, nn.Module), "TinyAutoencoder should subclass nn.Module")
    for part in ("encoder", "decoder"):
        expect(isinstance(getattr(model, part, None), nn.Module), f"the model has no `{part}` module",
               f"assign self.{part} = nn.Sequential(...) in __init__")
    x = torch.rand(3, 1, 8, 8)
    z = call(model.encoder, x, name="model.encoder")
    expect_shape(z, (3, 8), "model.encoder(x) for x of shape (3, 1, 8, 8)", "flatten first, end with latent_dim units")
    x_hat = call(model, x, name="model.forward")
    expect_shape(x_hat, (3, 1, 8, 8), "model(x)", "reshape the decoder output back to x's shape (x_hat.view_as(x))")
    expect(bool(((x_hat > 0) & (x_hat < 1)).all()), "reconstructions should lie in (0, 1)", "end the decoder with nn.Sigmoid()")
    n = sum(p.numel() for p in model.parameters())
    want = _n_params(64, 32, 8)
    expect(n == want, f"the model has {n} parameters, the architecture asked for has {want}",
           "encoder: Linear(in_dim, hidden), ReLU, Linear(hidden, latent_dim); decoder mirrors it, then Sigmoid")
    passed("TinyAutoencoder has the right shapes, range and parameter count")


def train_step(fn) -> None:
    """One optimiser step: returns the loss before the update, and updates like the reference."""
    __tracebackhide__ = True
    torch.manual_seed(0)
    ref = reference_tiny_autoencoder()
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
    got = call(fn, mine, x, opt_mine, name="train_step")
    expect(isinstance(got, float), f"train_step should return a Python float, got {type(got).__name__}",
           "return loss.item()")
    expect_close(got, want.item(), "the returned loss", hint="return the loss computed *before* optimizer.step()")
    for (name, p_ref), p_mine in zip(ref.named_parameters(), mine.parameters()):
        expect_close(p_mine, p_ref, f"parameter {name} after one step",
                     hint="call optimizer.zero_grad() first (the last step's gradients are still there), then "
                          "F.mse_loss(model(x), x), loss.backward(), optimizer.step()")
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
    for k in (1, 3):
        got = call(fn, X, k, name="pca_reconstruct")
        expect(isinstance(got, np.ndarray), f"return a NumPy array, got {type(got).__name__}")
        expect_shape(got, X.shape, f"pca_reconstruct(X, {k})", "reconstructions have the same shape as X")
        pca = PCA(k).fit(X)
        expect_close(got, pca.inverse_transform(pca.transform(X)), f"the rank-{k} reconstruction", atol=1e-6,
                     hint="centre X with its column means, keep the first k right-singular vectors, add the mean back")
    passed("pca_reconstruct matches scikit-learn's PCA for k = 1 and 3")


def corrupt(fn) -> None:
    """``fn(x, noise_std, generator)`` adds seeded Gaussian noise and clamps to [0, 1]."""
    __tracebackhide__ = True
    x = torch.full((2000, 1, 8, 8), 0.5)
    before = x.clone()
    noisy = call(fn, x, 0.1, generator=torch.Generator().manual_seed(0), name="corrupt")
    expect(isinstance(noisy, torch.Tensor), f"return a tensor, got {type(noisy).__name__}")
    expect_shape(noisy, x.shape, "corrupt(x, ...)")
    expect(torch.equal(x, before), "corrupt changed its input in place", "build a new tensor: x + noise")
    want = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    expect_close(noisy, want, "the noisy batch for a fixed generator",
                 hint="use torch.randn(x.shape, generator=generator), scale by noise_std, then clamp(0, 1)")
    big = call(fn, torch.rand(100, 1, 8, 8), 2.0, generator=torch.Generator().manual_seed(1), name="corrupt")
    expect(float(big.min()) >= 0.0 and float(big.max()) <= 1.0, "pixels left [0, 1]", "clamp the result")
    passed("corrupt adds seeded Gaussian noise, clamps, and leaves x alone")
