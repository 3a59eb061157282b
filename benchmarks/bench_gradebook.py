"""What ``--gradebook`` costs: the same class graded without and with the persistent gradebook, one run.

    python benchmarks/bench_gradebook.py              # 100 submissions of 01-dense (bench_class's mix), jobs 2
    python benchmarks/bench_gradebook.py --n 20       # a smaller class

The class is ``bench_class.make_class`` (40 % right, 30 % partial, 20 % blank,
10 % hostile).  It is graded twice in this one process, without the cache: first
without a gradebook, then with ``gradebook=`` a fresh course directory.  Reports
both wall times and their ratio, the seconds spent writing the gradebook
(``gradebook.record``, timed by wrapping it), and the course directory's size
(``gradebook.db`` and ``autograded/``).  ``run() -> dict`` returns the numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def run(n: int = 100, jobs: int = 2) -> dict:
    from aecourse.grading import batch, grade
    from bench_class import CELL_TIMEOUT, CHAPTER, TIMEOUT, make_class

    spent: list[float] = []
    real_record = batch.record

    def timed_record(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_record(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as tmp:
        tmp = Path(tmp)
        make_class(n, tmp / "subs")
        times = {}
        for label, book in (("without", None), ("with", tmp / "course")):
            start = time.perf_counter()
            batch.record = timed_record
            try:
                rows = grade(tmp / "subs", tmp / f"out-{label}", jobs=jobs, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT,
                             root=ROOT, progress=False, cache=False, gradebook=book)
            finally:
                batch.record = real_record
            times[label] = time.perf_counter() - start
        db = (tmp / "course" / "gradebook.db").stat().st_size
        total = _size(tmp / "course")
        graded = sum(r.status == "graded" for r in rows)
    return {
        "gradebook_chapter": CHAPTER,
        "gradebook_submissions": n,
        "gradebook_graded_rows": graded,
        "gradebook_jobs": jobs,
        "gradebook_without_s": times["without"],
        "gradebook_with_s": times["with"],
        "gradebook_ratio": times["with"] / times["without"],
        "gradebook_record_s": sum(spent),
        "gradebook_db_mb": db / 1e6,
        "gradebook_dir_mb": total / 1e6,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel sandboxes (default 2)")
    args = parser.parse_args(argv)
    for key, value in run(args.n, args.jobs).items():
        print(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
