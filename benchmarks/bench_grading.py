"""How long does grading one submission take, end to end?

    python benchmarks/bench_grading.py              # chapter 01-dense, its solution notebook
    python benchmarks/bench_grading.py 04-disentangle 05-measure   # several, one after the other
    python benchmarks/bench_grading.py all          # every chapter in solutions/ (each has graded cells)
    python benchmarks/bench_grading.py 99-mini      # the tiny fixture course of the tests
    python benchmarks/bench_grading.py --box-overhead [CHAPTER]   # the box's cost (default 01-dense)

Grades the chapter's solution notebook as the only submission of a batch with
``aecourse.grading.grade`` (jobs=1): building the master gradebook
(``nbgrader generate_assignment``), the sandbox, ``nbgrader autograde`` with a
fresh kernel, ``nbgrader generate_feedback``, the CSVs.  Reports the whole
batch and the sandbox alone (what each further submission costs).
``run() -> dict`` returns the numbers (used by ``run_all.py``).

``--box-overhead`` grades the same solution notebook with the bubblewrap box
and without one (``isolation="none"``: the same driver, plain ``nbgrader
autograde``), three times each, interleaved so that a busy machine slows both
alike, and reports the median seconds of each and their ratio (target: at most
1.2x).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "minicourse"
DEFAULT_CHAPTER = "01-dense"


def _course_root(chapter: str, tmp: Path) -> Path:
    """The repository, or a copy of the fixture course for its chapter (99-mini)."""
    if (ROOT / "solutions" / chapter).is_dir():
        return ROOT
    if (FIXTURE / "solutions" / chapter).is_dir():
        root = tmp / "minicourse"
        shutil.copytree(FIXTURE / "solutions", root / "solutions")
        shutil.copytree(ROOT / "autograder", root / "autograder")
        (root / "course").mkdir()
        return root
    raise SystemExit(f"no chapter {chapter!r} in solutions/ or in the test fixture")


def _one_submission(chapter: str, tmp: Path) -> Path:
    """The course root, with ``tmp/subs/student/<chapter>/`` holding the chapter's solution notebook."""
    root = _course_root(chapter, tmp)
    sub = tmp / "subs" / "student" / chapter
    sub.mkdir(parents=True)
    shutil.copyfile(root / "solutions" / chapter / f"{chapter}.ipynb", sub / f"{chapter}.ipynb")
    return root


def run(chapter: str = DEFAULT_CHAPTER) -> dict:
    """Grade the solution of ``chapter`` once; seconds for the batch and for the sandbox, and the score."""
    from aecourse.grading import grade

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        root = _one_submission(chapter, tmp)
        start = time.perf_counter()
        rows = grade(tmp / "subs", tmp / "out", jobs=1, root=root, progress=False)
        total = time.perf_counter() - start
    row = rows[0]
    return {
        f"grade_{chapter}_end_to_end_s": total,
        f"grade_{chapter}_sandbox_s": row.seconds,
        f"grade_{chapter}_score": f"{row.score:g}/{row.max_score:g} ({row.status})",
    }


def box_overhead(chapter: str = DEFAULT_CHAPTER, repeats: int = 3) -> dict:
    """Median sandbox seconds with and without the box (interleaved runs) and their ratio."""
    import statistics

    from aecourse.grading import grade

    times: dict[str, list[float]] = {"bwrap": [], "none": []}
    with tempfile.TemporaryDirectory(prefix="bench-box-") as tmp:
        tmp = Path(tmp)
        root = _one_submission(chapter, tmp)
        for i in range(repeats):
            for isolation in ("bwrap", "none"):
                rows = grade(tmp / "subs", tmp / f"out-{isolation}-{i}", jobs=1, root=root, progress=False,
                             isolation=isolation, cache=False)
                assert rows[0].status == "graded", rows[0].detail
                times[isolation].append(rows[0].seconds)
    box, bare = statistics.median(times["bwrap"]), statistics.median(times["none"])
    return {f"grade_{chapter}_in_box_s": box, f"grade_{chapter}_no_box_s": bare,
            f"grade_{chapter}_box_overhead_ratio": box / bare}


def main(argv: list[str]) -> int:
    from aecourse.release import chapter_ids

    if argv[:1] == ["--box-overhead"]:
        for key, value in box_overhead(*(argv[1:2] or [DEFAULT_CHAPTER])).items():
            print(f"| {key} | {value:.2f} |", flush=True)
        return 0

    chapters = chapter_ids(ROOT) if argv == ["all"] else (argv or [DEFAULT_CHAPTER])
    failed = 0
    for chapter in chapters:
        result = run(chapter)
        for key, value in result.items():
            print(f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |", flush=True)
        failed += "(graded)" not in result[f"grade_{chapter}_score"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
