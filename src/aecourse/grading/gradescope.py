"""The Gradescope front door: the autograder zip, and ``run_autograder`` grading one upload.

``export_gradescope(root, "01-dense", Path("autograder.zip"))`` writes the zip a
Gradescope "Programming Assignment" takes (unpacked to ``/autograder/source/``):

    setup.sh          run once when Gradescope builds its image: Python, bubblewrap,
                      the CPU-only torch pin and aecourse[grade] (pins read from binder/)
    requirements.txt  binder/requirements.txt, byte for byte (setup.sh installs it)
    run_autograder    ``python -m aecourse.grading.gradescope /autograder``
    grading/          chapter.json (chapter id, limits, isolation, every chapter's grade
                      ids) and master/: the master gradebook, nbgrader config, release and
                      the source notebook with its solutions replaced by the release's
                      stubs (the hidden tests travel: Gradescope keeps the zip private)
    aecourse/         the package source (pyproject.toml, src/aecourse) setup.sh installs

``run_autograder(Path("/autograder"))`` takes whatever the student uploaded from
``submission/``, builds a one-submission ``Batch`` over the zip's master and grades
it with ``submission.grade_submission``: the code path of ``aecourse grade``
(restore, the bubblewrap box, scores clipped to the master, flags, feedback).  It
then writes ``results/results.json`` in Gradescope's format (one test per graded
cell, the total, the status and flags).  It never raises: any failure of its own
still writes a valid results.json with score 0 and says why.

What it trusts: the zip (made by the instructor) and its own code.  The upload is
data until the box runs it; what the box leaves is read back by ``submission``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from ..release import RELEASE_DIR, SOURCE_DIR, build_release, chapter_ids
from .batch import DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT
from .cache import GRADER_VERSION
from .feedback import secret_lines
from .intake import Submission, skip
from .notebooks import Chapter, chapter_fingerprints, nbg, read_chapter, text_of
from .results import Row
from .sandbox import ISOLATIONS, SandboxUnavailable, require_box, write_etc
from .submission import Batch, grade_submission

VENV = "/opt/aecourse-venv"          # where setup.sh installs Python packages on Gradescope
PYTHON_VAR = "AECOURSE_PYTHON"       # run_autograder's interpreter, instead of VENV's
GRADING = "grading"                  # the zip's folder of grading material
PACKAGE = "aecourse"                 # the zip's folder of the package source
RESULTS_SCHEMA = "results.json"

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this for every submission (working directory /autograder). It grades the
# upload through aecourse's grading path and always writes /autograder/results/results.json.
PY="${{{PYTHON_VAR}:-{VENV}/bin/python}}"
exec "$PY" -m aecourse.grading.gradescope /autograder
"""


def binder_pins(root: Path) -> tuple[str, list[str]]:
    """(Python version, pip requirement lines) of ``binder/``: the one source of the image's pins."""
    runtime = (Path(root) / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    if not match:
        raise ValueError(f"binder/runtime.txt must be python-X.Y, got {runtime!r}")
    lines = [ln.strip() for ln in (Path(root) / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    return match.group(1), [ln for ln in lines if ln and not ln.startswith("#")]


def setup_script(root: Path) -> str:
    """``setup.sh``: Python (binder/runtime.txt), apt packages (binder/apt.txt), binder/requirements.txt
    (the zip's copy), aecourse[grade]."""
    python, _ = binder_pins(root)
    apt = [ln.strip() for ln in (Path(root) / "binder" / "apt.txt").read_text(encoding="utf-8").splitlines()
           if ln.strip() and not ln.startswith("#")]
    return f"""#!/usr/bin/env bash
# Run once by Gradescope when it builds the autograder image (Ubuntu, as root).
# Pins come from the course's binder/ folder (runtime.txt, apt.txt, requirements.txt).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends {' '.join(apt)} util-linux ca-certificates
PY=python{python}
if ! command -v "$PY" >/dev/null; then
    apt-get install -y --no-install-recommends software-properties-common
    apt-get install -y --no-install-recommends "$PY" "$PY-venv" \\
        || {{ add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \\
              && apt-get install -y --no-install-recommends "$PY" "$PY-venv"; }}
fi
"$PY" -m venv {VENV}
{VENV}/bin/pip install --no-cache-dir --upgrade pip
{VENV}/bin/pip install --no-cache-dir -r /autograder/source/requirements.txt
{VENV}/bin/pip install --no-cache-dir '/autograder/source/{PACKAGE}[grade]'
chmod 755 /autograder/source/run_autograder
"""


def _strip_solutions(source: dict, release: dict) -> dict:
    """The source notebook with every answer cell's text taken from the release (the stub)."""
    stubs = {nbg(c).get("grade_id"): text_of(c) for c in release.get("cells", []) if nbg(c).get("grade_id")}
    for cell in source.get("cells", []):
        meta = nbg(cell)
        if meta.get("solution"):
            cell["source"] = stubs.get(meta.get("grade_id"), "")
            cell["outputs"] = [] if cell.get("cell_type") == "code" else cell.get("outputs", [])
    return source


def export_gradescope(root: Path, aid: str, out: Path, *, timeout: float = DEFAULT_TIMEOUT,
                      memory_limit: float = DEFAULT_MEMORY_LIMIT, cell_timeout: int | None = None,
                      output_limit: float = DEFAULT_OUTPUT_LIMIT, isolation: str = "bwrap") -> Path:
    """Write the autograder zip of chapter ``aid`` to ``out``; return ``out``.

    timeout, memory_limit (GB), cell_timeout, output_limit (MB), isolation: as for ``grade``.
    """
    root, out = Path(root).resolve(), Path(out)
    known = chapter_ids(root)
    if aid not in known:
        raise ValueError(f"chapter must be one of {', '.join(known)}, got {aid!r}")
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
    with tempfile.TemporaryDirectory(prefix="aecourse-gradescope-") as tmp:
        master = build_release(root, Path(tmp) / "master", [aid])
        for path in sorted((master / SOURCE_DIR / aid).glob("*.ipynb")):
            release = json.loads((master / RELEASE_DIR / aid / path.name).read_text(encoding="utf-8"))
            source = _strip_solutions(json.loads(path.read_text(encoding="utf-8")), release)
            path.write_text(json.dumps(source, indent=1), encoding="utf-8")
        meta = {"chapter": aid, "timeout": float(timeout), "memory_limit": float(memory_limit or 0),
                "cell_timeout": int(cell_timeout or 0), "output_limit": float(output_limit),
                "isolation": isolation, "fingerprints": {k: sorted(v) for k, v in
                                                         chapter_fingerprints(root, known).items()},
                "grader_version": GRADER_VERSION}
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            _add(zf, "setup.sh", setup_script(root).encode(), executable=True)
            _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
            _add(zf, "requirements.txt", (root / "binder" / "requirements.txt").read_bytes())
            _add(zf, f"{GRADING}/chapter.json", json.dumps(meta, indent=1).encode())
            for path in sorted(master.rglob("*")):
                if path.is_file():
                    _add(zf, f"{GRADING}/master/{path.relative_to(master).as_posix()}", path.read_bytes())
            for name in ("pyproject.toml", "README.md"):
                if (root / name).is_file():
                    _add(zf, f"{PACKAGE}/{name}", (root / name).read_bytes())
            package = Path(__file__).resolve().parents[1]
            for path in sorted(package.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    _add(zf, f"{PACKAGE}/src/aecourse/{path.relative_to(package).as_posix()}", path.read_bytes())
    return out


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


# ------------------------------------------------------------------ on Gradescope
def _upload(folder: Path, aid: str) -> Submission:
    """The upload as one submission: every file but junk (intake's rules pick and rename the notebook)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not skip(d) and not (Path(dirpath) / d).is_symlink())
        files += [Path(dirpath) / n for n in sorted(filenames)
                  if not skip(n) and not (Path(dirpath) / n).is_symlink() and (Path(dirpath) / n).is_file()]
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    return Submission("student", aid, notebooks or files, folder=folder, label="submission/",
                      note="" if files else "nothing was uploaded")


def run_autograder(base: Path = Path("/autograder")) -> dict:
    """Grade ``base/submission`` with the zip in ``base/source``; write and return results.json."""
    t0 = time.monotonic()
    results_dir = base / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = _grade(base, results_dir)
    except BaseException as err:  # never a crash of the autograder: a results.json that says why
        traceback.print_exc()
        results = {"score": 0.0, "output": f"status: crashed\nthe autograder failed: {type(err).__name__}: {err}"[:2000],
                   "tests": [], "extra_data": {"status": "crashed", "flags": [], "grader_version": GRADER_VERSION}}
    results["execution_time"] = round(time.monotonic() - t0, 3)
    tmp = results_dir / ".results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1), encoding="utf-8")
    os.replace(tmp, results_dir / "results.json")
    return results


def _grade(base: Path, results_dir: Path) -> dict:
    source = base / "source" / GRADING
    meta = json.loads((source / "chapter.json").read_text(encoding="utf-8"))
    aid = meta["chapter"]
    chapter = read_chapter(source / "master", aid)
    work = Path(tempfile.mkdtemp(prefix="aecourse-gradescope-"))
    try:
        level, bwrap = meta["isolation"], None
        if level == "bwrap":
            try:
                bwrap = require_box()
            except SandboxUnavailable as err:
                row = Row("student", aid, 0.0, chapter.max_score, "crashed",
                          f"the grading sandbox cannot be built on this machine: {err}",
                          items=chapter.zero_items())
                return results_json(row, chapter, {})
        (work / "logs").mkdir()
        batch = Batch(root=base / "source", submissions=base / "submission", out=work / "out", tmp=work,
                      chapters={aid: chapter}, broken={},
                      fingerprints={k: set(v) for k, v in meta["fingerprints"].items()},
                      timeout=float(meta["timeout"]), cell_timeout=int(meta["cell_timeout"]),
                      memory_limit=int(float(meta["memory_limit"]) * 2**30),
                      output_limit=int(float(meta["output_limit"]) * 2**20), threads=max(1, os.cpu_count() or 1),
                      isolation=level, bwrap=bwrap, etc=write_etc(work / "etc") if level == "bwrap" else None,
                      keep=False)
        sub = _upload(base / "submission", aid)
        row = grade_submission(batch, sub)
        if row.status == "graded" and row.feedback:
            shutil.copytree(work / "out" / "feedback" / "student" / aid, results_dir / "feedback", dirs_exist_ok=True)
        return results_json(row, chapter, batch.feedback_nbs.get(("student", aid), {}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _public(text: str, secrets: set[str]) -> str:
    """``text`` without any line that repeats a hidden test (statuses and notes are shown to the student)."""
    return "\n".join(ln for ln in text.splitlines() if not any(s in ln for s in secrets))


def _cell_output(nbs: dict[str, dict], notebook: str, grade_id: str, limit: int = 4000) -> str:
    """The test cell's scrubbed output (the public check's message) from the feedback notebook."""
    for cell in (nbs.get(notebook) or {}).get("cells", []):
        if nbg(cell).get("grade_id") != grade_id:
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(text_of({"source": out.get("text", "")}))
            elif out.get("output_type") == "error":
                parts.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
            elif out.get("output_type") in ("display_data", "execute_result"):
                parts.append(text_of({"source": (out.get("data") or {}).get("text/plain", "")}))
        text = "\n".join(p.rstrip() for p in parts if p.strip())
        return text[:limit]
    return ""


def results_json(row: Row, chapter: Chapter, feedback_nbs: dict[str, dict]) -> dict:
    """Gradescope's results.json for one graded row (``execution_time`` is added by the caller)."""
    secrets = set().union(*(secret_lines(nb) for nb in chapter.source_nbs.values())) if chapter.source_nbs else set()
    tests = []
    for number, item in enumerate(row.items, 1):
        passed = row.status == "graded" and item.score >= item.max_score
        status = "passed" if passed else "failed"
        said = _public(_cell_output(feedback_nbs, item.notebook, item.grade_id), secrets) if row.status == "graded" else ""
        head = (f"{item.grade_id}: {status} ({item.score:g} / {item.max_score:g} points)" if row.status == "graded"
                else f"{item.grade_id}: not graded, the submission's status is {row.status}")
        if item.max_score == 0:
            head = f"{item.grade_id}: a written answer, read by the course staff (no points from the autograder)"
        tests.append({"name": item.grade_id, "number": str(number), "score": float(item.score),
                      "max_score": float(item.max_score), "status": status,
                      "output": head + ("\n" + said if said else ""), "output_format": "text",
                      "visibility": "visible"})
    flags = list(row.flags)
    output = f"status: {row.status}\n" + _public(row.detail, secrets)
    if flags:
        output += "\nflags: " + " ".join(flags)
    return {"score": float(row.score), "output": output[:8000], "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"status": row.status, "flags": flags, "review": bool(row.review),
                           "assignment": row.assignment, "max_score": float(row.max_score or 0.0),
                           "grader_version": GRADER_VERSION}}


def main(argv: list[str] | None = None) -> int:
    """``python -m aecourse.grading.gradescope [/autograder]``: what run_autograder runs."""
    args = sys.argv[1:] if argv is None else argv
    results = run_autograder(Path(args[0]) if args else Path("/autograder"))
    status = results.get("extra_data", {}).get("status", "?")
    print(f"aecourse: {status}, score {results.get('score')} ({results.get('execution_time')} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
