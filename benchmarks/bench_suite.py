"""How long do the tests of ``make test`` take against executing every chapter once, and how much
disk do ``.venv`` and ``.cache`` take? (Issue 20's targets: at most 4x, and under 2.5 GB.)

Usage:
    python benchmarks/bench_suite.py                 # every chapter, then the whole test suite
    python benchmarks/bench_suite.py --chapters 00-setup 06-interventions \\
        --pytest-args "solutions/00-setup solutions/06-interventions tests/test_offline.py"   # a subset
    python benchmarks/bench_suite.py --out /tmp/suite.json   # results elsewhere

In one run, on the same machine, one after the other:

(a) every chapter's solution notebook is executed once, top to bottom, as a learner would
    (``bench_chapters``: ``jupyter nbconvert --execute``, this venv's Python, one fresh process
    each), and the wall times are summed;
(b) the tests, run by ``make test`` itself (``PYTEST_ARGS`` = [args] and a JUnit file in a temporary
    folder; so with the Makefile's pytest-xdist workers, ``TEST_JOBS``): the wall time of the whole
    command (what a developer waits; it includes building the Binder venv on a clean clone) and
    pytest's own total from the JUnit file (the session's wall time; the per-file seconds sum the
    tests' own times, so with several workers they add up to more than the total);
(c) the ratio (b) / (a), and the disk taken by ``.venv`` (this venv when the repository has none)
    and ``.cache`` together, each hard-linked file counted once (``tests/envs.py``'s
    ``disk_usage``, as ``du -s .venv .cache`` counts).

Prints a markdown report (with pytest's time per test file, largest first) and writes the
numbers to ``benchmarks/results/bench_suite.json`` (``--out``). A subset (``--chapters`` or
``--pytest-args``) is marked ``"subset": true`` there: only the full run measures the target.
``run() -> dict`` returns the headline numbers (used by ``run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import bench_chapters  # noqa: E402
from envs import disk_usage  # noqa: E402  (tests/envs.py: hard links counted once)

RESULTS = HERE / "results" / "bench_suite.json"
TARGET_RATIO = 4.0
TARGET_DISK_GB = 2.5
CHROMIUM = "/usr/bin/chromium"  # the Makefile's default


def venv_dir() -> Path:
    """The project's venv: ``.venv`` in the repository, else the one running this script."""
    return ROOT / ".venv" if (ROOT / ".venv").is_dir() else Path(sys.prefix)


def junit_times(path: Path) -> tuple[float, dict[str, float], dict]:
    """pytest's total seconds, seconds per test file, and the outcome counts, from a JUnit file."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    per_file: dict[str, float] = defaultdict(float)
    for case in suite.iter("testcase"):
        parts = (case.get("classname") or "").split(".")
        # tests.test_x.Class -> tests/test_x.py; solutions.05-measure.05-measure.ipynb -> the notebook
        if parts and parts[0] == "solutions":
            name = "nbval (solutions/)"
        elif len(parts) >= 2:
            name = f"{parts[0]}/{parts[1]}.py"
        else:
            name = case.get("classname") or "?"
        per_file[name] += float(case.get("time") or 0)
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    # which tests failed, with the first line of why (the JUnit file is thrown away after the run)
    counts["failed"] = [f"{case.get('classname')}::{case.get('name')}: "
                        f"{(bad.get('message') or '').splitlines()[0][:300] if bad.get('message') else ''}"
                        for case in suite.iter("testcase")
                        for bad in case if bad.tag in ("failure", "error")]
    return float(suite.get("time") or 0), dict(per_file), counts


def run_tests(pytest_args: list[str]) -> dict:
    """``make test`` with [args]; wall seconds, pytest's seconds, per file, outcome."""
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        junit = Path(tmp) / "junit.xml"
        env = dict(os.environ)
        env.setdefault("AECOURSE_CHROMIUM", CHROMIUM)
        cmd = ["make", "--no-print-directory", "test",
               f"PYTEST_ARGS={shlex.join([*pytest_args, f'--junitxml={junit}'])}"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        pytest_s, per_file, counts = junit_times(junit) if junit.is_file() else (0.0, {}, {})
    tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
    return {"rc": proc.returncode, "wall_s": wall, "pytest_s": pytest_s, "per_file_s": per_file,
            "counts": counts, "summary": tail, "stderr": proc.stderr[-2000:], "command": cmd}


def measure(chapters: list[str] | None = None, pytest_args: list[str] | None = None) -> dict:
    rows = bench_chapters.run(chapters)
    chapters_s = sum(r["wall_s"] for r in rows)
    tests = run_tests(pytest_args or [])
    venv, cache = venv_dir(), ROOT / ".cache"
    disk = disk_usage(venv, cache)
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "subset": bool(chapters or pytest_args),
        "chapters": {r["chapter"]: {"wall_s": round(r["wall_s"], 1), "ok": r["rc"] == 0} for r in rows},
        "chapters_s": round(chapters_s, 1),
        "tests_wall_s": round(tests["wall_s"], 1),
        "tests_pytest_s": round(tests["pytest_s"], 1),
        "tests_rc": tests["rc"],
        "tests_counts": tests["counts"],
        "tests_per_file_s": {k: round(v, 1) for k, v in sorted(tests["per_file_s"].items(), key=lambda kv: -kv[1])},
        "pytest_command": tests["command"],
        "ratio_wall": round(tests["wall_s"] / chapters_s, 2) if chapters_s else None,
        "ratio_pytest": round(tests["pytest_s"] / chapters_s, 2) if chapters_s else None,
        "disk": {"venv": str(venv), "cache": str(cache), "venv_gb": round(disk_usage(venv) / 1e9, 3),
                 "cache_gb": round(disk_usage(cache) / 1e9, 3), "together_gb": round(disk / 1e9, 3)},
        "targets": {"ratio": TARGET_RATIO, "disk_gb": TARGET_DISK_GB},
        "_summary": tests["summary"], "_stderr": tests["stderr"],
    }


def report(r: dict) -> str:
    lines = [f"# make test against every chapter once ({r['when']}{', SUBSET' if r['subset'] else ''})", "",
             "| chapter | wall time (s) | ok |", "|---|---:|---|"]
    lines += [f"| {c} | {v['wall_s']:.1f} | {'yes' if v['ok'] else 'FAILED'} |" for c, v in r["chapters"].items()]
    lines += ["", f"- every chapter once: {r['chapters_s']:.1f} s",
              f"- the tests (`{shlex.join(r['pytest_command'])}`): "
              f"{r['tests_wall_s']:.1f} s wall, {r['tests_pytest_s']:.1f} s by pytest's count "
              f"(exit status {r['tests_rc']}; {r['_summary'].splitlines()[-1] if r['_summary'] else ''})",
              f"- ratio: {r['ratio_wall']}x wall, {r['ratio_pytest']}x pytest's count (target: at most "
              f"{TARGET_RATIO:g}x)",
              f"- disk: .venv {r['disk']['venv_gb']:.2f} GB + .cache {r['disk']['cache_gb']:.2f} GB = "
              f"{r['disk']['together_gb']:.2f} GB with hard links counted once (target: under {TARGET_DISK_GB:g} GB)",
              *[f"- FAILED {name}" for name in r["tests_counts"].get("failed", [])],
              "", "| test file | pytest seconds (the tests' own times, summed over workers) |", "|---|---:|"]
    lines += [f"| {name} | {s:.1f} |" for name, s in r["tests_per_file_s"].items() if s >= 1]
    return "\n".join(lines)


def save(r: dict, out: Path = RESULTS) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=1) + "\n")


def run(chapters: list[str] | None = None, pytest_args: list[str] | None = None, out: Path = RESULTS) -> dict:
    """Measure, write ``out``, return the headline numbers."""
    r = measure(chapters, pytest_args)
    save(r, out)
    return {"every chapter once (s)": r["chapters_s"], "tests, wall (s)": r["tests_wall_s"],
            "tests, pytest's count (s)": r["tests_pytest_s"], "ratio (wall)": r["ratio_wall"],
            "ratio (pytest's count)": r["ratio_pytest"], "tests exit status": r["tests_rc"],
            ".venv + .cache (GB)": r["disk"]["together_gb"], "results": str(out)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", help="only these chapter ids (default: every chapter)")
    parser.add_argument("--pytest-args", default="", help="arguments for pytest, one string (default: none, "
                        "i.e. pytest's testpaths, as make test)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    r = measure(args.chapters or None, shlex.split(args.pytest_args))
    save(r, args.out)
    print(report(r))
    print(f"\nresults written to {args.out}")
    if r["tests_rc"]:
        print(r["_stderr"], file=sys.stderr)
    return int(r["tests_rc"] != 0 or not all(c["ok"] for c in r["chapters"].values()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
