"""What is installed and where the course will compute: the check chapter 00 runs."""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata

__all__ = ["versions", "report", "MIN_PYTHON"]

MIN_PYTHON = (3, 11)
# (distribution name, minimum version the course is tested with); see OPTIONAL for those that may be missing
PACKAGES = [
    ("torch", "2.2"),
    ("numpy", "1.24"),
    ("matplotlib", "3.7"),
    ("scikit-learn", "1.3"),
    ("ipywidgets", "8.1"),
    ("jupyterlab", "4.2"),
    ("tqdm", "4.66"),
    ("nbgrader", None),  # only instructors need it
]
# Packages whose absence is no problem (the version check still applies when they are installed), and why.
# JupyterLab is one front end among several: on Colab (or in VS Code) another one runs the notebook.
OPTIONAL = {
    "jupyterlab": "not installed (another front end runs this notebook)",
    "nbgrader": "not installed (instructors only)",
}


def _version_tuple(v: str) -> tuple[int, ...]:
    # leading digits of each dotted part: "2.13.0+cpu" -> (2, 13, 0), "4.2.0rc1" -> (4, 2, 0)
    out = []
    for part in v.split("+")[0].split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


def versions() -> dict[str, str | None]:
    """Installed version of each package the course uses (None when missing)."""
    found = {"python": platform.python_version()}
    for name, _ in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def report(file=None) -> list[str]:
    """Print a table of versions and the compute device; return the list of problems (empty = ready)."""
    file = file or sys.stdout
    problems = []
    found = versions()
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append(f"Python {found['python']} is too old: aecourse needs >= {'.'.join(map(str, MIN_PYTHON))}")
    rows = [("python", found["python"], "ok" if not problems else "TOO OLD")]
    for name, minimum in PACKAGES:
        v = found[name]
        if v is None:
            status = OPTIONAL.get(name, "missing")
            if name not in OPTIONAL:
                problems.append(f"{name} is not installed: run `make lab` (or pip install -e .) again")
        elif minimum and _version_tuple(v) < _version_tuple(minimum):
            status = f"too old (need >= {minimum})"
            problems.append(f"{name} {v} is older than {minimum}")
        else:
            status = "ok"
        rows.append((name, v or "-", status))
    # torch and aecourse.train (which imports torch) are imported here, not at the top, so that a broken
    # torch install is reported as a problem in the table instead of making this module fail to import.
    try:
        import torch

        from .train import default_device

        dev = default_device()
        detail = {"cuda": lambda: torch.cuda.get_device_name(0), "mps": lambda: "Apple GPU"}.get(dev.type, lambda: "CPU")()
        rows.append(("device", f"{dev} ({detail})", "ok"))
        rows.append(("cpu threads", str(torch.get_num_threads()), "ok"))
    except Exception as exc:
        problems.append(f"torch does not work ({type(exc).__name__}: {exc}): reinstall it with `make lab`")
        rows.append(("device", "unknown", "BROKEN"))
    rows.append(("grading mode", "yes" if os.environ.get("NBGRADER_EXECUTION") else "no", "ok"))
    width = max(len(r[0]) for r in rows)
    for name, v, status in rows:
        print(f"{name:<{width}}  {v:<28} {status}", file=file)
    print(("✅ environment ready" if not problems else "❌ " + "\n❌ ".join(problems)), file=file)
    return problems
