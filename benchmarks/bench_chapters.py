"""Execute every chapter's solution notebook top to bottom, as a learner would, and
report wall time and the kernel's peak memory.

Usage: python benchmarks/bench_chapters.py [chapter-id ...]

Each notebook runs in a fresh child process (``jupyter nbconvert --execute``), so
the peak resident memory reported by ``getrusage(RUSAGE_CHILDREN)`` is that of the
largest process in its tree: the kernel. Targets (issue 2): < 90 s and < 1.5 GB per
chapter on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                       "--ExecutePreprocessor.timeout=600", sys.argv[1], "--output", sys.argv[2]],
                      capture_output=True, text=True)
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "peak_mb": peak_kb / 1024, "stderr": proc.stderr[-2000:]}))
"""


def run_chapter(notebook: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(notebook), str(Path(tmp) / "out.ipynb")],
                             capture_output=True, text=True, cwd=notebook.parent,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["chapter"] = notebook.parent.name
    return result


def run(chapters: list[str] | None = None) -> list[dict]:
    notebooks = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    if chapters:
        notebooks = [nb for nb in notebooks if nb.parent.name in chapters]
    return [run_chapter(nb) for nb in notebooks]


def main(argv: list[str]) -> int:
    rows = run(argv or None)
    print("| chapter | wall time (s) | kernel peak memory (MB) | ok |")
    print("|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['chapter']} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} | {'yes' if r['rc'] == 0 else 'FAILED'} |")
        if r["rc"]:
            print(r["stderr"], file=sys.stderr)
    return int(any(r["rc"] for r in rows))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
