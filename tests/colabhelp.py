"""The Colab pieces of every chapter, in one place: the badge and the first code cell.

Every chapter notebook (``solutions/<id>/<id>.ipynb``, and so ``course/<id>/<id>.ipynb``, which
nbgrader copies it into) has

- in its first markdown cell, under the title, the badge :func:`badge` ``(<id>)``: it opens
  ``course/<id>/<id>.ipynb`` of the GitHub repository in Colab;
- as its first code cell, :data:`CELL_SOURCE` with the id :data:`CELL_ID`, no metadata (a plain
  cell, not graded): where ``aecourse`` is missing (Colab) it installs it, from ``$AECOURSE_WHEEL``
  (a wheel path, for the offline test) or else from the repository, with the installed torch
  pinned, and prints one line saying what it did.

This file is the one source of both. ``tests/test_colab.py`` checks that every solutions and
course notebook holds them byte for byte. After changing them here, or to add them to a new
chapter, run ``python tests/colabhelp.py`` (rewrites ``solutions/``), then ``make release``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The GitHub repository (owner/name) the badge and the cell point at; the README's Binder badge too.
GITHUB = "aecourse/aecourse"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
CELL_ID = "colab-setup"

CELL_SOURCE = f'''\
# On Google Colab: install the course's package (aecourse), then the notebook runs unchanged.
# Where aecourse is installed already (your own machine, Binder, grading), this cell does nothing.
import importlib.util, os, subprocess, sys, tempfile
from importlib import metadata

if importlib.util.find_spec("aecourse"):
    print(f"aecourse {{metadata.version('aecourse')}} is installed: nothing to do")
else:
    source = os.environ.get("AECOURSE_WHEEL") or "git+https://github.com/{GITHUB}"
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", source], check=True)
    # Its dependencies, but not JupyterLab or Notebook (Colab is the notebook app), and with torch
    # pinned to the installed version: Colab's torch is built for Colab's GPUs, and the pin means
    # pip can only keep it, never swap it for another build from PyPI (gigabytes).
    torch_version = metadata.version("torch")
    needs = [r for r in metadata.requires("aecourse")
             if "extra ==" not in r and not r.startswith(("jupyterlab", "notebook"))]
    with tempfile.NamedTemporaryFile("w", suffix="-pin.txt", delete=False) as pin:
        pin.write(f"torch=={{torch_version}}\\n")
    subprocess.run([*pip, "--constraint", pin.name, *needs], check=True)
    importlib.invalidate_caches()
    print(f"installed aecourse {{metadata.version('aecourse')}} from {{source}}; torch {{torch_version}} left as it was")'''


def colab_url(chapter: str) -> str:
    """Colab's address of the released notebook of ``chapter`` on GitHub (branch main)."""
    return f"https://colab.research.google.com/github/{GITHUB}/blob/main/course/{chapter}/{chapter}.ipynb"


def badge(chapter: str) -> str:
    """The markdown of the chapter's Open-in-Colab badge (one line)."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(chapter)})"


def cell() -> dict:
    """The first code cell as nbformat 4.5 JSON (no outputs: solutions/ keeps none)."""
    lines = CELL_SOURCE.splitlines(keepends=True)
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {}, "outputs": [],
            "source": lines}


def _source(c: dict) -> str:
    s = c.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def with_colab(nb: dict, chapter: str) -> dict:
    """``nb`` with the badge under the first markdown cell's title and :func:`cell` as first code cell
    (replacing an older version of either)."""
    cells = [c for c in nb["cells"] if c.get("id") != CELL_ID]
    first_md = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
    text = _source(cells[first_md]).split("\n")
    for i, line in enumerate(text):
        if line.startswith("[![Open In Colab]"):  # an older badge and the blank line after it
            del text[i:i + 2]
            break
    title = next(i for i, line in enumerate(text) if line.startswith("# "))
    text[title + 1:title + 1] = ["", badge(chapter)] if text[title + 1:title + 2] == [""] else ["", badge(chapter), ""]
    cells[first_md] = {**cells[first_md], "source": _lines("\n".join(text))}
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    cells.insert(min(first_code, first_md + 1), cell())
    return {**nb, "cells": cells}


def main() -> int:
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        chapter = path.parent.name
        old = path.read_text(encoding="utf-8")
        new = json.dumps(with_colab(json.loads(old), chapter), indent=1, ensure_ascii=False) + "\n"
        if new != old:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(REPO)}")
    print("now run `make release` (course/ is generated from solutions/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
