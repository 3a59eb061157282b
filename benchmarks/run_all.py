"""Run every benchmark and print one markdown report (``make bench``).

Each script in this folder also runs on its own; this collects their numbers in
one place so a closing note or a README can quote them.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_chapters  # noqa: E402


def main() -> int:
    import torch

    print(f"# aecourse benchmarks\n\nmachine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}\n")
    failed = bench_chapters.main([])
    # bench_suite last: it executes every chapter once more and then the whole test suite (the issue-20
    # target, make test's tests against every chapter once, in one run), so it takes the longest.
    for name in ("bench_data", "bench_grading", "bench_zoo", "bench_class", "bench_busy", "bench_suite"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        print(f"\n## {name}\n")
        for key, value in module.run().items():
            print(f"- {key}: {value:.2f}" if isinstance(value, float) else f"- {key}: {value}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
