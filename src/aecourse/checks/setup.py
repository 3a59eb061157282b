"""Public checks for chapter 00-setup."""

from __future__ import annotations

import torch
from torch import nn

from . import call, expect, passed

__all__ = ["count_parameters"]


def _models() -> list[tuple[str, nn.Module, int]]:
    frozen = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    for p in frozen[0].parameters():
        p.requires_grad_(False)  # frozen weights are not trained, so they do not count
    return [
        ("nn.Linear(10, 5)", nn.Linear(10, 5), 55),
        ("nn.Linear(10, 5, bias=False)", nn.Linear(10, 5, bias=False), 50),
        ("a two-layer MLP 784-32-784", nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784)), 50992),
        ("a model whose first layer is frozen", frozen, 8),
    ]


def count_parameters(fn) -> None:
    """Check ``fn(model) -> int`` counts trainable scalar parameters."""
    __tracebackhide__ = True
    for label, model, want in _models():
        got = call(fn, model, name="count_parameters")
        expect(isinstance(got, int) and not isinstance(got, bool),
               f"count_parameters should return a Python int, got {type(got).__name__}",
               "sum p.numel() over the parameters; .numel() already returns an int")
        expect(got == want, f"for {label} you counted {got} parameters, expected {want}",
               "weights AND biases count, but only parameters with requires_grad=True")
    passed("count_parameters matches the reference on 4 models")
