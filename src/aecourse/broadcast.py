"""The spatial broadcast decoder (Watters et al. 2019, arXiv 1901.07017): ``decoder="broadcast"``.

An MLP decoder must learn from data that a sprite at x = 0.3 and one at x = 0.4 are the
same picture shifted; a spatial broadcast decoder is told. It copies the code ``z`` to
every pixel, appends the pixel's own coordinates ``(x, y)`` in [-1, 1], and runs the same
small network on every pixel. A latent that moves the sprite to the right only has to
shift where the per-pixel network switches on, a change along one input direction, so
position is cheap to represent along one latent and x and y tend to get a latent each
within the first thousand steps (``benchmarks/zoo_search.md``, session 6 and issue 21).
That is what makes the train-it-yourself recipe of chapter 05 fast enough for a laptop.

How this one differs from the paper's, and why:

* The per-pixel network is an MLP (the paper's stack of 3x3 convolutions with 1x1
  kernels): a 3x3 kernel lets a pixel see its neighbours, which the paper needs for
  64x64 colour scenes, and costs 9 times as much per layer. Binary 32x32 sprites are
  drawn well without it, and a CPU step stays near an MLP decoder's.
* The paper tiles ``z`` over a canvas 8 pixels larger and crops (valid convolutions);
  with 1x1 kernels there is nothing to crop, so the canvas is the image.
* The first layer is applied in two parts, ``W_z z + W_xy (x, y) + b``: the same numbers
  as one linear layer on the concatenation ``[z, x, y]`` at every pixel, without
  building the ``(batch, pixels, latent_dim + 2)`` tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from .contracts import check_int

__all__ = ["BroadcastDecoder", "pixel_coordinates"]


def pixel_coordinates(side: int) -> torch.Tensor:
    """``(side * side, 2)``: every pixel's ``(x, y)`` in [-1, 1], row by row (x varies fastest).

    Examples
    --------
    >>> pixel_coordinates(2).tolist()
    [[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]
    """
    side = check_int("side", side, low=1)
    line = torch.linspace(-1.0, 1.0, side) if side > 1 else torch.zeros(1)
    y, x = torch.meshgrid(line, line, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1)


class BroadcastDecoder(nn.Module):
    """Codes ``(batch, latent_dim)`` -> Bernoulli logits ``(batch, c, side, side)``, one small MLP per pixel.

    Every pixel ``p`` with coordinates ``(x_p, y_p)`` gets
    ``h_p = relu(W_z z + W_xy (x_p, y_p) + b)``, then ``depth - 1`` more
    ``Linear(width, width) - ReLU`` layers and a ``Linear(width, c)`` read-out,
    the same weights at every pixel.

    Parameters
    ----------
    latent_dim : int
    out_shape : (channels, side, side)
        Square images.
    width : int
        Units of the per-pixel MLP's hidden layers.
    depth : int
        Hidden layers of the per-pixel MLP (at least 1).
    """

    def __init__(self, latent_dim: int, out_shape: tuple[int, int, int] = (1, 32, 32), width: int = 32,
                 depth: int = 3):
        super().__init__()
        out_shape = tuple(int(s) for s in out_shape)
        if len(out_shape) != 3 or min(out_shape) < 1 or out_shape[1] != out_shape[2]:
            raise ValueError(f"out_shape must be (channels, side, side) for square images, got {out_shape}")
        latent_dim, width, depth = (check_int(name, value, low=1) for name, value in
                                    (("latent_dim", latent_dim), ("width", width), ("depth", depth)))
        self.latent_dim, self.out_shape = latent_dim, out_shape
        self.register_buffer("coords", pixel_coordinates(out_shape[1]), persistent=False)
        self.from_code = nn.Linear(latent_dim, width)
        self.from_position = nn.Linear(2, width, bias=False)
        layers: list[nn.Module] = [nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers.append(nn.Linear(width, out_shape[0]))
        self.per_pixel = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, side, _ = self.out_shape
        first = self.from_code(z)[:, None, :] + self.from_position(self.coords)[None]  # (batch, pixels, width)
        logits = self.per_pixel(first)  # (batch, pixels, c)
        return logits.transpose(1, 2).reshape(len(z), c, side, side)
