"""Public checks for chapter 00-setup."""

from __future__ import annotations

from torch import nn

from .core import call, expect, expect_type, fail, passed

__all__ = ["count_parameters"]
CHAPTER = "00-setup"  # passes of these checks are recorded for this chapter (core.passed)


def _models() -> list[tuple[str, nn.Module, int]]:
    frozen = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    for p in frozen[0].parameters():
        p.requires_grad_(False)  # frozen weights are not trained, so they do not count
    return [
        ("nn.Linear(10, 5)", nn.Linear(10, 5), 55),
        ("nn.Linear(10, 5, bias=False)", nn.Linear(10, 5, bias=False), 50),
        ("a two-layer MLP 784-32-784", nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784)), 50992),
        ("nn.Conv2d(3, 8, kernel_size=3)", nn.Conv2d(3, 8, kernel_size=3), 3 * 8 * 9 + 8),
        ("a model with no layers, nn.Sequential()", nn.Sequential(), 0),
        ("a model whose first layer is frozen", frozen, 8),
    ]


def count_parameters(fn) -> None:
    """Check ``fn(model) -> int`` counts trainable scalar parameters."""
    __tracebackhide__ = True
    for label, model, want in _models():
        got = call(fn, model, name="count_parameters")
        expect_type(got, int, f"count_parameters({label})",
                    "add up p.numel() (already a Python int) rather than building a tensor or a float")
        if got == want:
            continue
        trainable = [p for p in model.parameters() if p.requires_grad]
        expect(got != sum(p.numel() for p in model.parameters()),
               f"for {label} you counted {got}, expected {want}: the frozen parameters were counted too",
               "frozen parameters have requires_grad=False and are not trained; leave them out")
        expect(got != len(trainable),
               f"for {label} you counted {got}, expected {want}: that is the number of parameter tensors, "
               f"not of the numbers inside them",
               "each parameter tensor holds many numbers; the text above names the method that counts them")
        expect(got != sum(p.numel() for p in trainable if p.dim() > 1),
               f"for {label} you counted {got}, expected {want}: the biases are missing",
               "every trainable parameter counts, weights and biases alike")
        raise fail(f"for {label} you counted {got} parameters, expected {want}",
                   "count weights and biases of every parameter with requires_grad=True")
    passed(f"count_parameters matches the reference on {len(_models())} models")
