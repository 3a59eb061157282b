"""GPU-ready: every code path picks its device through ``aecourse.train.default_device``.

A hard-coded ``.cuda()`` or ``device="cuda"`` breaks on a CPU laptop (and on Binder), and a local
``"cuda" if torch.cuda.is_available() else "cpu"`` ignores ``AECOURSE_DEVICE`` and Apple's MPS.
This scans the library and the chapter sources for such code outside the one helper.
"""

from __future__ import annotations

import ast
import re

import pytest
import torch

from browserhelp import REPO, notebook_code, solution_notebooks

HELPER_FILE, HELPER = REPO / "src/aecourse/train.py", "default_device"

# Each pattern is a way to choose CUDA by hand.
PATTERNS = {
    ".cuda(": re.compile(r"\.cuda\(\s*\d*\s*\)"),
    'device="cuda"': re.compile(r"device\s*=\s*[\"']cuda"),
    'torch.device("cuda")': re.compile(r"torch\.device\(\s*[\"']cuda"),
    '.to("cuda")': re.compile(r"\.to\(\s*[\"']cuda"),
    '"cuda" if torch.cuda.is_available()': re.compile(r"[\"']cuda(:\d+)?[\"']\s+if\s+torch\.cuda\.is_available"),
}


def hand_picked_devices(code: str, skip_lines: set[int] = frozenset()) -> list[tuple[int, str, str]]:
    """(line number, pattern name, line) for each hard-coded device choice in ``code``."""
    found = []
    for number, line in enumerate(code.splitlines(), 1):
        stripped = line.split("#", 1)[0]  # comments may mention .cuda() freely
        if number in skip_lines or not stripped.strip():
            continue
        for name, rx in PATTERNS.items():
            if rx.search(stripped):
                found.append((number, name, line.strip()))
    return found


def helper_lines() -> set[int]:
    tree = ast.parse(HELPER_FILE.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == HELPER:
            return set(range(node.lineno, node.end_lineno + 1))
    pytest.fail(f"{HELPER_FILE.relative_to(REPO)} has no {HELPER}(): the one place a device is chosen")


def test_the_scanner_finds_hand_picked_devices():
    bad = """model.cuda()\nx = x.to("cuda")\ndev = torch.device('cuda:0')\nf(device="cuda")
d = "cuda" if torch.cuda.is_available() else "cpu"\nm.cuda(0)"""
    assert [n for n, _, _ in hand_picked_devices(bad)] == [1, 2, 3, 4, 5, 6]
    good = """dev = default_device()\nmodel.to(dev)\n# model.cuda() is what we avoid
{"cuda": lambda: torch.cuda.get_device_name(0)}\nif dev.type == "cuda": pass"""
    assert hand_picked_devices(good) == []
    assert hand_picked_devices("model.cuda()", skip_lines={1}) == []


def test_library_and_chapters_choose_the_device_through_default_device():
    problems = []
    for path in sorted((REPO / "src").rglob("*.py")):
        skip = helper_lines() if path == HELPER_FILE else set()
        problems += [f"{path.relative_to(REPO)}:{n}: {name}: {line}"
                     for n, name, line in hand_picked_devices(path.read_text(), skip)]
    for nb in solution_notebooks():
        problems += [f"{nb.relative_to(REPO)} (code line {n}): {name}: {line}"
                     for n, name, line in hand_picked_devices(notebook_code(nb))]
    assert not problems, ("hard-coded devices; use aecourse.train.default_device() (or the model's device):\n  "
                          + "\n  ".join(problems))


def test_default_device_prefers_cuda_when_present(monkeypatch):
    """With a GPU (simulated here: this machine has none) the helper, and so every chapter, picks it."""
    from aecourse.train import default_device

    monkeypatch.delenv("AECOURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
