"""Gradescope's run_autograder against `aecourse grade`, on the same notebook, in the same run.

    python benchmarks/bench_gradescope.py                 # 00-setup, 2 rounds
    python benchmarks/bench_gradescope.py 01-dense --rounds 3

Exports the chapter's autograder zip (reports its size and the export time), then,
``rounds`` times, interleaved so that a busy machine slows both alike:

- **run_autograder**: the solution notebook uploaded to a fresh ``/autograder`` folder,
  graded by ``run_autograder`` in the stand-in for Gradescope's harness
  (``tests/gradescopehelp.py``: a bubblewrap box at ``/autograder``, the grader's own
  box nested in it), wall clock of the whole harness run;
- **aecourse grade**: the same notebook as the only submission of a batch
  (``grade(..., jobs=1)``: builds the master gradebook, then the same box), wall clock.

Prints the median seconds of each and their ratio.  Run it as root or where
bubblewrap works; from a worktree, with the worktree's ``src`` on main's (see
RULES2.md / CONTRIBUTING.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from aecourse.grading import grade  # noqa: E402
from aecourse.grading.gradescope import export_gradescope  # noqa: E402
from gradescopehelp import autograder_folder, run_harness  # noqa: E402


def run(chapter: str = "00-setup", rounds: int = 2) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-gradescope-"))
    try:
        t0 = time.monotonic()
        zip_path = export_gradescope(ROOT, chapter, tmp / "autograder.zip")
        export_s = time.monotonic() - t0
        solution = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text(encoding="utf-8"))
        gs, gr, scores = [], [], set()
        for i in range(rounds):
            ag = autograder_folder(zip_path, tmp / f"gs{i}", {f"{chapter}.ipynb": solution})
            t0 = time.monotonic()
            proc = run_harness(ag)
            gs.append(time.monotonic() - t0)
            if proc.returncode != 0:
                raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
            results = json.loads((ag / "results" / "results.json").read_text(encoding="utf-8"))
            scores.add(("run_autograder", results["extra_data"]["status"], results["score"]))
            subs = tmp / f"subs{i}" / "student" / chapter
            subs.mkdir(parents=True)
            (subs / f"{chapter}.ipynb").write_text(json.dumps(solution), encoding="utf-8")
            t0 = time.monotonic()
            rows = grade(tmp / f"subs{i}", tmp / f"out{i}", jobs=1, root=ROOT, progress=False, cache=False)
            gr.append(time.monotonic() - t0)
            scores.add(("grade", rows[0].status, rows[0].score))
        return {"chapter": chapter, "zip_mb": zip_path.stat().st_size / 2**20, "export_s": export_s,
                "run_autograder_s": statistics.median(gs), "grade_s": statistics.median(gr),
                "ratio": statistics.median(gs) / statistics.median(gr), "all_gs": gs, "all_grade": gr,
                "scores": sorted(scores)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", nargs="?", default="00-setup")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    r = run(args.chapter, args.rounds)
    print(f"{r['chapter']}: zip {r['zip_mb']:.2f} MB (export {r['export_s']:.1f} s); per submission "
          f"run_autograder {r['run_autograder_s']:.1f} s, aecourse grade {r['grade_s']:.1f} s, "
          f"ratio {r['ratio']:.2f} (medians of {args.rounds}: {[round(x, 1) for x in r['all_gs']]} / "
          f"{[round(x, 1) for x in r['all_grade']]}); results {r['scores']}")


if __name__ == "__main__":
    main()
