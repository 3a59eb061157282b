"""Grading a whole class: 100 submissions of 01-dense with ``jobs=2``, as an instructor would.

    python benchmarks/bench_class.py                 # 100 submissions, jobs 2 (target: < 10 min)
    python benchmarks/bench_class.py --n 10          # a quick look

The class is a realistic mix (seeded): 40 % the solution, 30 % partly right
(a random half of the exercises solved), 20 % the blank release, and 10 %
hostile or broken ones (an infinite loop that ignores interrupts, one that the
per-cell limit interrupts, ``os._exit``, invalid JSON, megabytes of prints, an
edited test cell with raised points, a memory bomb, another chapter's
notebook).  Grading runs with ``timeout=180``, ``cell_timeout=60``: limits an
instructor sets for a chapter whose solution runs in well under a minute.

Reports the batch's wall time, the time to execute the solution notebook alone
(nbclient, fresh kernel, ``NBGRADER_EXECUTION`` set as during grading) and the
per-submission overhead of grading relative to that.  ``run() -> dict`` returns
the numbers (used by ``run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CHAPTER = "01-dense"
TIMEOUT, CELL_TIMEOUT = 180, 60


def _hostile(source: dict, other: dict | None) -> list[tuple[str, object]]:
    from gradehelp import with_cell, exercises

    ex = exercises(source)
    first, last = ex[0], ex[-1]
    tampered = json.loads(json.dumps(source))
    for cell in tampered["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            meta["points"] = 100
            cell["source"] = "pass"
            break
    cases = [
        ("loop-ignoring-interrupts", with_cell(source, first, "while True:\n    try:\n        while True:\n"
                                                              "            pass\n    except BaseException:\n"
                                                              "        pass")),
        ("loop-interrupted", with_cell(source, last, "while True:\n    pass")),
        ("exit", with_cell(source, first, "import os\nos._exit(1)")),
        ("exit-late", with_cell(source, last, "import os\nos._exit(0)")),
        ("garbage", "{ this is not json"),
        ("garbage-binary", "\x00\x01PK\x03\x04 zip renamed to ipynb"),
        ("printer", with_cell(source, last, "print('x' * (30 * 2**20))")),
        ("tampered", tampered),
        ("membomb", with_cell(source, last, "def bomb():\n    hog = []\n    while True:\n"
                                             "        hog.append(bytearray(64 * 2**20))\nbomb()")),
    ]
    if other is not None:
        cases.append(("other-chapter", other))
    return cases


def make_class(n: int, subs: Path, seed: int = 0) -> dict[str, str]:
    """Write ``n`` submissions under ``subs``; returns student -> kind."""
    from gradehelp import exercises, load, partial, submit

    rng = random.Random(seed)
    source = load(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb")
    blank = load(ROOT / "course" / CHAPTER / f"{CHAPTER}.ipynb")
    other_path = ROOT / "solutions" / "02-sparse" / "02-sparse.ipynb"
    other = load(other_path) if other_path.exists() else None
    hostile = _hostile(source, other)
    n_hostile = min(len(hostile), max(1, n // 10))
    n_correct, n_partial = round(n * 0.4), round(n * 0.3)
    n_blank = n - n_hostile - n_correct - n_partial
    kinds = ["correct"] * n_correct + ["partial"] * n_partial + ["blank"] * n_blank
    kinds += [f"hostile:{name}" for name, _ in hostile[:n_hostile]]
    rng.shuffle(kinds)
    hostile_nbs = dict(hostile)
    ex = exercises(source)
    made = {}
    for i, kind in enumerate(kinds):
        student = f"s{i:03d}"
        if kind == "correct":
            nb = source
        elif kind == "blank":
            nb = blank
        elif kind == "partial":
            nb = partial(source, blank, set(rng.sample(ex, max(1, len(ex) // 2))))
        else:
            nb = hostile_nbs[kind.split(":", 1)[1]]
        if isinstance(nb, dict):  # every learner's file is their own (no two byte-identical notebooks)
            nb = dict(nb, cells=[{"cell_type": "markdown", "metadata": {}, "source": f"Notebook of {student}",
                                  "id": f"owner-{student}"}] + list(nb["cells"]))
        submit(subs, student, CHAPTER, nb)
        made[student] = kind
    return made


def execute_alone() -> float:
    """Seconds to execute the solution notebook once, fresh kernel, as during grading."""
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    old = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
            return time.perf_counter() - start
    finally:
        if old is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old


def run(n: int = 100, jobs: int = 2) -> dict:
    from aecourse.grading import grade

    alone = execute_alone()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        kinds = make_class(n, tmp / "subs")
        start = time.perf_counter()
        rows = grade(tmp / "subs", tmp / "out", jobs=jobs, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT,
                     root=ROOT, progress=True, cache=False)
        total = time.perf_counter() - start
    by_kind: dict[str, list] = {}
    for row in rows:
        by_kind.setdefault(kinds[row.student].split(":")[0], []).append(row)
    correct = [r.seconds for r in by_kind.get("correct", []) if r.status == "graded"]
    sandbox = statistics.median(correct) if correct else float("nan")
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    return {
        "class_submissions": len(rows),
        "class_jobs": jobs,
        "class_total_s": total,
        "class_per_submission_s": total / max(1, len(rows)),
        "class_execute_alone_s": alone,
        "class_sandbox_median_correct_s": sandbox,
        "class_overhead_per_submission_s": sandbox - alone,
        "class_overhead_ratio": sandbox / alone if alone else float("nan"),
        "class_statuses": ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        "class_correct_full_marks": f"{sum(r.score == r.max_score for r in by_kind.get('correct', []))}"
                                    f"/{len(by_kind.get('correct', []))}",
        "class_under_10_min": "yes" if total < 600 else "NO",
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel sandboxes (default 2)")
    args = parser.parse_args(argv)
    result = run(args.n, args.jobs)
    for key, value in result.items():
        print(f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |")
    return 0 if result["class_under_10_min"] == "yes" or args.n != 100 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
