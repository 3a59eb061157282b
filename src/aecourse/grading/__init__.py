"""Grade a class's submissions with nbgrader, one isolated sandbox per submission.

    rows = grade(Path("submissions.zip"), Path("graded"), jobs=2, students=Path("roster.csv"))

SUBMISSIONS is a folder or an LMS zip, laid out ``<student>/<chapter-id>/*.ipynb``
or as one file per student ``<student>_<anything>_<notebook>.ipynb`` (see
``intake``).  OUT receives ``grades.csv`` (one row per student and chapter, with
per-item scores, status and flags), ``items.csv`` (one row per test cell),
``unmapped.csv`` (files that map to no student/chapter),
``feedback/<student>/<chapter-id>/<notebook>.html`` and ``.aecourse-cache.json``
(re-running grades only new or changed submissions).

How one batch runs:

1. The master gradebook is built once, from ``solutions/`` (``nbgrader
   generate_assignment`` in a temporary course directory).  It holds each test
   cell, its points and its checksum; the committed ``course/`` is not trusted.
2. Each submission is read as data by the grader (trusted code): not a notebook
   -> ``invalid``; another chapter's notebook -> ``wrong_chapter``; otherwise its
   cells are restored against the release (``notebooks.restore``: locked cells
   back to the release's text, deleted cells added back, nbgrader metadata
   reset) and its own code is scanned for monkeypatching and the like.
3. The restored notebook is graded in its own working copy (config, release and
   a *copy* of the master gradebook, written from memory; never the solution
   notebook) by ``box/driver.py`` running ``nbgrader autograde`` in a
   bubblewrap box that sees that working copy and the Python installation and
   nothing else (``sandbox``).  nbgrader only ever sees the student id ``student``.
4. Trusted code reads back, as data, only what it needs: the scores from the
   box's gradebook copy (only ``auto_score`` counts, every item is clipped to
   the master's points, ``max_score`` always comes from the master), the
   outputs of the executed notebook, and ``result.json`` (timings, limits hit).
   It makes the feedback HTML itself (``feedback``) and only then writes the
   row and the feedback to OUT, which no box can see.

Statuses (``grades.csv``):

    graded              nbgrader ran the notebook; score = sum of the test cells' auto
                        scores.  Cells that raise just lose their points.
    timeout             the whole notebook ran past ``timeout`` seconds; killed, score 0.
    crashed             the kernel died (``os._exit``, segfault, killed), the memory limit
                        or the output limit was hit, or nbgrader failed; score 0 (nbgrader
                        0.9.6 saves no grade when its kernel dies).
    invalid             the file is not JSON / not an nbformat-4 notebook.
    wrong_chapter       the notebook is another chapter's (its grade ids say so); score 0.
    missing             nothing handed in: a roster student without a submission, an
                        empty chapter folder, a student folder without chapters.
    unknown_assignment  the chapter folder is not a chapter of ``solutions/``.

``flags`` names what needs a human look (``FLAGS``); ``review`` is ``yes`` for every
row that is not a clean ``graded`` one; ``detail`` says why in words.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..release import SOURCE_DIR, chapter_ids, config_path, find_root
from .intake import (
    DEFAULT_PATTERN,
    IntakeError,
    Student,
    Submission,
    Unmapped,
    discover,
    extract_zip,
    read_roster,
    skip,
    submissions_root,
)
from .notebooks import (
    MAX_NOTEBOOK_BYTES,
    Chapter,
    Item,
    build_masters,
    chapter_fingerprints,
    notebook_names,
    notebook_problem,
    restore,
    scan_executed,
    suspicious_code,
    which_chapter,
)
from .feedback import feedback_notebook, render_html, secret_lines
from .sandbox import (
    BOX_WORK,
    ISOLATIONS,
    NET_LOG,
    SandboxUnavailable,
    box_command,
    box_file,
    driver_argv,
    isolation_level,
    prepare_work,
    require_box,
    run_sandboxed,
    sandbox_env,
    seccomp_fd,
    write_etc,
)

__all__ = [
    "STATUSES", "FLAGS", "Item", "Row", "grade", "discover", "read_grades", "summary",
    "isolation_level", "SandboxUnavailable", "IntakeError", "DEFAULT_PATTERN",
]

STATUSES = ("graded", "timeout", "crashed", "invalid", "wrong_chapter", "missing", "unknown_assignment")
FLAGS = {
    "edited_locked": "a locked cell (test, instructions) was edited; restored before grading",
    "deleted_cells": "release cells were deleted; added back before grading",
    "edited_metadata": "nbgrader metadata (points, grade ids, cell type) was edited; reset",
    "foreign_metadata": "cells claim grade ids the release does not have; their metadata removed",
    "suspicious_code": "the learner's code monkeypatches helpers/builtins or reaches for the grader",
    "network": "the submission tried to open a network connection (refused)",
    "timeout": "the whole notebook ran out of time",
    "cell_timeout": "a cell hit the per-cell time limit and was interrupted",
    "slow": "took far longer than the class's median: heavy work?",
    "memory": "killed for using too much memory",
    "memory_error": "a cell raised MemoryError",
    "output_limit": "output over the limit was dropped (or the sandbox was stopped for it)",
    "background_process": "left processes running after the notebook; killed",
    "gradebook_tampered": "its gradebook copy held manual or out-of-range scores; ignored",
    "renamed_notebook": "the notebook had another name",
    "several_files": "several notebooks for one chapter; the newest was graded",
    "files_too_large": "files over the size limit were left out",
    "not_in_roster": "the student is not in the roster",
    "wrong_chapter": "the notebook belongs to another chapter",
}
ITEM_COLUMNS = ["student", "assignment", "grade_id", "score", "max_score", "notebook"]
GRADER_VERSION = "2"           # bump when a change can change scores: invalidates caches
CACHE_NAME = ".aecourse-cache.json"
CACHED_STATUSES = {"graded", "invalid", "wrong_chapter", "unknown_assignment"}

DEFAULT_TIMEOUT = 600.0        # seconds per submission, wall clock
DEFAULT_MEMORY_LIMIT = 4.0     # GB per submission (RSS of all its processes)
DEFAULT_OUTPUT_LIMIT = 20.0    # MB of output per notebook (a tenth of that per cell)
INTERNAL_STUDENT = "student"   # the id nbgrader sees; real names never reach it


# --------------------------------------------------------------------- data
@dataclass
class Row:
    student: str
    assignment: str
    score: float
    max_score: float | None
    status: str
    detail: str
    review: bool = True
    notebook: str = ""        # the graded file(s), relative to SUBMISSIONS
    feedback: str = ""        # feedback HTML, relative to OUT
    seconds: float = 0.0
    items: list[Item] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    name: str = ""
    email: str = ""
    cached: bool = False

    def flag(self, *names: str) -> None:
        for n in names:
            if n not in self.flags:
                self.flags.append(n)

    def csv_row(self, item_ids: list[str]) -> dict:
        scores = {i.grade_id: _num(i.score) for i in self.items}
        return {
            "student": self.student, "name": self.name, "email": self.email,
            "assignment": self.assignment, "status": self.status,
            "score": _num(self.score), "max_score": _num(self.max_score),
            **{gid: scores.get(gid, "") for gid in item_ids},
            "flags": " ".join(self.flags), "review": "yes" if self.review else "",
            "detail": self.detail, "notebook": self.notebook, "feedback": self.feedback,
            "seconds": f"{self.seconds:.1f}",
        }


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.4g}" if x != int(x) else str(int(x))


# ---------------------------------------------------------------- grading
@dataclass
class _Batch:
    root: Path
    submissions: Path
    out: Path
    tmp: Path
    chapters: dict[str, Chapter]
    broken: dict[str, str]
    fingerprints: dict[str, set[str]]
    timeout: float
    cell_timeout: int
    memory_limit: int
    output_limit: int
    threads: int
    isolation: str            # "bwrap" or "none"
    bwrap: str | None
    etc: Path | None          # the box's made-up /etc files
    keep: bool
    cancel: threading.Event = field(default_factory=threading.Event)


def _chapter_for(batch: _Batch, name: str) -> str | None:
    for aid in list(batch.chapters) + list(batch.broken):
        if aid == name or aid.lower() == name.lower():
            return aid
    return None


def _pick_notebooks(sub: Submission, expected: list[str]) -> tuple[dict[str, Path], list[str], list[str]]:
    """Map each expected notebook to a submitted file; (chosen, notes, flags)."""
    from .intake import chapter_of_notebook

    files = sub.files
    by_name = {Path(sub.name_of(p)).stem: p for p in files}
    chosen = {name: by_name[name] for name in expected if name in by_name}
    notes, flags = [], []
    unused = [p for p in files if p not in chosen.values()]
    if len(expected) == 1 and not chosen and unused:
        names = {expected[0].lower(): expected[0]}
        close = [p for p in unused if chapter_of_notebook(Path(sub.name_of(p)).stem, names, [])]
        pool = close or unused
        newest = max(pool, key=lambda p: (p.stat().st_mtime, p.name))
        chosen[expected[0]] = newest
        if sub.name_of(newest) != f"{expected[0]}.ipynb":
            notes.append(f"graded {sub.name_of(newest)} as {expected[0]}.ipynb")
            flags.append("renamed_notebook")
        if len(unused) > 1:
            others = ", ".join(p.name for p in unused if p != newest)
            notes.append(f"several notebooks handed in; graded the newest, {newest.name} (not {others})")
            flags.append("several_files")
    return chosen, notes, flags


def _copy_extra_files(folder: Path, dest: Path) -> list[str]:
    """Other files of the chapter folder (data, modules), minus junk, links, huge files, notebooks."""
    too_big = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not skip(d) and not (here / d).is_symlink()]
        for name in filenames:
            src = here / name
            if skip(name) or src.is_symlink() or name == "timestamp.txt":
                continue
            if here == folder and name.endswith(".ipynb"):
                continue  # graded notebooks are written, restored, under their expected names
            if src.stat().st_size > MAX_NOTEBOOK_BYTES:
                too_big.append(name)
                continue
            rel = src.relative_to(folder)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / rel)
    return too_big


def read_grades(db: Path, chapter: Chapter, student: str = INTERNAL_STUDENT) -> tuple[list[Item], list[str]]:
    """Per-item scores from a sandbox's gradebook copy, validated against the master.

    Only ``auto_score`` counts; each item is clipped to [0, master points];
    items the copy lacks score 0.  Returns (items, notes on anything odd).
    """
    from nbgrader.api import Gradebook, MissingEntry

    got: dict[tuple[str, str], float | None] = {}
    notes, manual = [], []
    with Gradebook(f"sqlite:///{db}") as gb:
        for name in chapter.notebooks:
            try:
                snb = gb.find_submission_notebook(name, chapter.id, student)
            except MissingEntry:
                notes.append(f"no grades for {name}.ipynb")
                continue
            for g in snb.grades:
                got[(name, g.name)] = g.auto_score
                if g.manual_score is not None:
                    manual.append(g.name)
    if manual:
        notes.append(f"ignored manual score(s) on {', '.join(sorted(manual))} (written by the submission?)")
    items = []
    for ref in chapter.items:
        raw = got.get((ref.notebook, ref.grade_id))
        score = min(max(float(raw or 0.0), 0.0), ref.max_score)
        if raw is not None and score != float(raw):
            notes.append(f"clipped {ref.grade_id} from {raw} to {score}")
        items.append(Item(ref.grade_id, score, ref.max_score, ref.notebook))
    return items, notes


def _tail_reason(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "DeadKernelError" in ln or "Kernel died" in ln or "kernel died" in ln:
            return "the kernel died while running the notebook (os._exit, a segfault or the memory limit)"
        if "UnresponsiveKernelError" in ln or "became unresponsive" in ln:
            return "the kernel became unresponsive and could not be interrupted"
    for ln in reversed(lines):
        if ln.split(":")[0].endswith(("Error", "Exception")) and " " not in ln.split(":")[0]:
            return f"nbgrader failed: {ln[:200]}"
    return f"nbgrader failed: {lines[-1][:200]}" if lines else "nbgrader failed without a message"


def _grade_one(batch: _Batch, sub: Submission) -> Row:
    if batch.cancel.is_set():
        return Row(sub.student, sub.assignment, 0.0, None, "crashed", "grading was cancelled")
    t0 = time.monotonic()
    row = _grade_one_inner(batch, sub)
    if not row.seconds:
        row.seconds = time.monotonic() - t0
    row.flag(*[f for f in sub.flags if f not in row.flags])
    if row.status in ("timeout", "wrong_chapter"):
        row.flag(row.status)
    row.review = row.review or row.status != "graded" or bool(row.flags)
    return row


def _grade_one_inner(batch: _Batch, sub: Submission) -> Row:
    if not sub.files and sub.note:
        return Row(sub.student, sub.assignment, 0.0, None, "missing", sub.note)
    aid = _chapter_for(batch, sub.assignment)
    if aid is None:
        known = ", ".join(sorted(batch.chapters) + sorted(batch.broken)) or "none"
        return Row(sub.student, sub.assignment, 0.0, None, "unknown_assignment",
                   f"'{sub.assignment}' is not a chapter of {SOURCE_DIR}/ (known: {known})")
    notes = [] if aid == sub.assignment else [f"folder {sub.assignment} taken as {aid}"]
    if aid in batch.broken:
        return Row(sub.student, aid, 0.0, None, "crashed",
                   f"could not build the chapter from {SOURCE_DIR}/{aid}: {batch.broken[aid]}")
    chapter = batch.chapters[aid]
    base = Row(sub.student, aid, 0.0, chapter.max_score, "", "", items=chapter.zero_items())
    chosen, picked_notes, picked_flags = _pick_notebooks(sub, chapter.notebooks)
    notes += picked_notes
    base.flag(*picked_flags)
    if not chosen:
        expected = ", ".join(f"{n}.ipynb" for n in chapter.notebooks)
        base.status = "missing"
        base.detail = (f"found {', '.join(p.name for p in sub.files)} in {sub.label}, expected {expected}"
                       if sub.files else f"no notebook in {sub.label} (expected {expected})")
        return base
    base.notebook = ", ".join(p.relative_to(batch.submissions).as_posix() for p in chosen.values())
    restored = {}
    for name, path in chosen.items():
        problem, nb = notebook_problem(path)
        if problem:
            base.status, base.detail = "invalid", problem
            return base
        other = which_chapter(nb, aid, batch.fingerprints)
        if other is not None:
            base.status = "wrong_chapter"
            base.detail = f"{path.name} is the notebook of chapter {other}, handed in for {aid}"
            return base
        fixed = restore(nb, chapter.release_nbs[name], chapter.source_nbs[name])
        restored[name] = fixed.notebook
        for what, ids, flag in (("edited locked cell(s)", fixed.edited, "edited_locked"),
                                ("deleted cell(s)", fixed.deleted, "deleted_cells"),
                                ("edited nbgrader metadata of", fixed.metadata, "edited_metadata"),
                                ("invented grade id(s)", fixed.foreign + fixed.duplicated, "foreign_metadata")):
            if ids:
                tail = {"edited_locked": " (restored before grading)", "deleted_cells": " (added back)",
                        "edited_metadata": " (reset)", "foreign_metadata": " (metadata removed)"}[flag]
                notes.append(f"{what} {', '.join(ids)}{tail}")
                base.flag(flag)
        odd = suspicious_code(nb, chapter.release_nbs[name], chapter.source_nbs[name])
        if odd:
            notes.append("suspicious code: " + "; ".join(odd[:3]) + (f"; +{len(odd) - 3} more" if len(odd) > 3 else ""))
            base.flag("suspicious_code")

    work = Path(tempfile.mkdtemp(prefix="sub-", dir=batch.tmp))
    try:
        course, too_big = _prepare_sandbox(chapter, work, sub, restored)
        if too_big:
            notes.append(f"left out files over {MAX_NOTEBOOK_BYTES // 2**20} MB: {', '.join(too_big)}")
            base.flag("files_too_large")
        log = batch.tmp / "logs" / f"{work.name}.log"  # outside the box: it cannot swap it for a link
        # the box sees its working copy at BOX_WORK; without a box the paths are the host's
        inside = BOX_WORK if batch.isolation == "bwrap" else str(work)
        # per process a quarter below the sandbox's limit: one runaway allocation fails inside its cell
        # (MemoryError, the cell loses its points) before the sandbox as a whole is killed
        args = {"aid": aid, "student": INTERNAL_STUDENT, "result": f"{inside}/result.json",
                "mem": batch.memory_limit * 3 // 4, "cell_timeout": batch.cell_timeout,
                "fsize": max(batch.output_limit * 4, 256 * 2**20),
                "out_cell": max(batch.output_limit // 10, 2**20), "out_total": batch.output_limit,
                "count_stragglers": batch.isolation == "bwrap"}
        token = uuid.uuid4().hex
        env = sandbox_env(inside, threads=batch.threads, token=token)
        cmd = driver_argv(json.dumps(args))
        fd = None
        if batch.isolation == "bwrap":
            prepare_work(work)
            fd = seccomp_fd()
            cmd = box_command(work, batch.etc, cmd, env, fd, batch.bwrap, chdir=f"{BOX_WORK}/course-root")
        try:
            run = run_sandboxed(cmd, course if batch.isolation == "none" else batch.tmp, env, batch.timeout,
                                batch.memory_limit, log, batch.cancel,
                                log_limit=max(batch.output_limit, 2**20) * 2, token=token,
                                pass_fds=(fd,) if fd is not None else ())
        finally:
            if fd is not None:
                os.close(fd)
        base.seconds = run.seconds
        attempts = (box_file(work, NET_LOG, 2**20) or b"").decode("utf-8", "replace").splitlines()
        if attempts:
            notes.append(f"tried the network {len(attempts)} time(s), refused (first: {attempts[0][:80]})")
            base.flag("network")
        if run.timed_out:
            base.status = "timeout"
            base.detail = "; ".join([f"did not finish within {batch.timeout:g} s and was stopped "
                                     "(infinite loop? long training?)"] + notes)
            return base
        if run.memory_exceeded:
            base.status = "crashed"
            base.detail = "; ".join([f"used more than {batch.memory_limit / 2**30:.3g} GB of memory and was "
                                     "stopped"] + notes)
            base.flag("memory")
            return base
        if run.output_exceeded:
            base.status = "crashed"
            base.detail = "; ".join(["wrote more than the output limit straight to its terminal (not as cell "
                                     "output) and was stopped"] + notes)
            base.flag("output_limit")
            return base
        try:
            out = json.loads(box_file(work, "result.json", 50 * 2**20) or b"")
            if not isinstance(out, dict):
                out = {}
        except ValueError:
            out = {}
        log_text = log.read_bytes()[-20000:].decode("utf-8", "replace") if log.is_file() else ""
        auto = out.get("autograde") if isinstance(out.get("autograde"), dict) else {}
        if not auto.get("success"):
            failure = str(auto.get("error") or "") + str(auto.get("log") or "") + log_text
            if "CellTimeoutError" in failure or "timed out while it was being executed" in failure:
                # the cell ignored the interrupt sent at the per-cell limit: nbgrader gives up
                base.status = "timeout"
                base.detail = "; ".join(["a cell ran past the per-cell time limit and ignored the interrupt "
                                         "(infinite loop catching KeyboardInterrupt?); grading stopped"] + notes)
                base.flag("cell_timeout")
                return base
            base.status = "crashed"
            base.detail = _tail_reason(str(auto.get("error") or "") + "\n" + str(auto.get("log") or "")
                                       + "\n" + str(out.get("driver_error") or "") + "\n" + log_text)
            if run.returncode and run.returncode < 0:
                base.detail = f"the grading process was killed (signal {-run.returncode})"
            base.detail = "; ".join([base.detail] + notes)
            return base
        try:
            items, grade_notes = _read_box_gradebook(batch, work, chapter)
        except Exception as err:  # a gradebook the submission wrecked
            base.status = "crashed"
            base.detail = f"could not read the gradebook back ({type(err).__name__}); submission tampered with it?"
            base.flag("gradebook_tampered")
            return base
        if grade_notes:
            notes += grade_notes
            base.flag("gradebook_tampered")
        executed = {name: _box_notebook(work, f"course-root/autograded/{INTERNAL_STUDENT}/{aid}/{name}.ipynb")
                    for name in chapter.notebooks}
        for nb in executed.values():
            base.flag(*scan_executed(nb))
        if "cell_timeout" in base.flags:
            notes.append("a cell hit the per-cell time limit and was interrupted")
        if "memory_error" in base.flags:
            notes.append("a cell ran out of memory (MemoryError)")
        if out.get("dropped_output_cells"):
            notes.append(f"output over the limit dropped in {len(out['dropped_output_cells'])} cell(s)")
            base.flag("output_limit")
        left = out.get("stragglers")
        stragglers = run.stragglers or (left if isinstance(left, int) and left > 0 else 0)
        if stragglers:
            notes.append(f"left {stragglers} background process(es) running; killed")
            base.flag("background_process")
        base.items = items
        base.score = sum(i.score for i in items)
        base.status = "graded"
        tests = [i for i in items if i.max_score > 0]
        passed = sum(1 for i in tests if i.score >= i.max_score)
        base.detail = "; ".join([f"{passed}/{len(tests)} tests passed"] + notes)
        try:
            base.feedback = _write_feedback(batch, chapter, sub.student, restored, executed, items)
        except Exception as err:  # a malformed executed notebook: the row stands, without feedback
            base.detail += f"; feedback could not be generated ({type(err).__name__})"
        base.review = bool(base.flags) or not base.feedback
        return base
    finally:
        if not batch.keep:
            shutil.rmtree(work, ignore_errors=True)


def _prepare_sandbox(chapter: Chapter, work: Path, sub: Submission,
                     restored: dict[str, dict]) -> tuple[Path, list[str]]:
    course = work / "course-root"
    for rel, data in chapter.files.items():
        target = course / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (course / SOURCE_DIR / chapter.id).mkdir(parents=True, exist_ok=True)
    dest = course / "submitted" / INTERNAL_STUDENT / chapter.id
    dest.mkdir(parents=True)
    too_big = _copy_extra_files(sub.folder, dest) if sub.folder is not None else []
    for name, nb in restored.items():
        (dest / f"{name}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    for sub_dir in ("home", "tmp"):
        (work / sub_dir).mkdir()
    return course, too_big


def _box_notebook(work: Path, rel: str) -> dict | None:
    """A notebook the box wrote, read as data (a regular file inside the working copy, size-limited)."""
    data = box_file(work, rel, MAX_NOTEBOOK_BYTES)
    try:
        nb = json.loads(data) if data else None
    except ValueError:
        return None
    return nb if isinstance(nb, dict) else None


def _read_box_gradebook(batch: _Batch, work: Path, chapter: Chapter) -> tuple[list[Item], list[str]]:
    """Scores from the box's gradebook copy, read from a copy the box cannot reach (no links followed)."""
    data = box_file(work, "course-root/gradebook.db", 50 * 2**20)
    if data is None:
        raise FileNotFoundError("gradebook.db is missing, a link, or too large")
    copy = batch.tmp / "logs" / f"{work.name}-gradebook.db"
    copy.write_bytes(data)
    try:
        return read_grades(copy, chapter)
    finally:
        copy.unlink(missing_ok=True)


def _write_feedback(batch: _Batch, chapter: Chapter, student: str, restored: dict[str, dict],
                    executed: dict[str, dict | None], items: list[Item]) -> str:
    """Feedback HTML per notebook, made here from trusted cells, the box's outputs and our scores."""
    dest = batch.out / "feedback" / student / chapter.id
    written = []
    for name in chapter.notebooks:
        mine = [i for i in items if i.notebook == name]
        nb = feedback_notebook(restored[name], executed.get(name), mine, secret_lines(chapter.source_nbs[name]))
        html = render_html(nb, name, chapter.id, sum(i.score for i in mine), sum(i.max_score for i in mine))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{name}.html").write_text(html, encoding="utf-8")
        written.append((dest / f"{name}.html").relative_to(batch.out).as_posix())
    return ", ".join(written)


def _grade_one_safe(batch: _Batch, sub: Submission) -> Row:
    """Never raises: an unexpected pipeline error becomes a ``crashed`` row."""
    try:
        return _grade_one(batch, sub)
    except Exception as err:  # keep the batch going, whatever happened
        chapter = batch.chapters.get(sub.assignment)
        return Row(sub.student, sub.assignment, 0.0, chapter.max_score if chapter else None, "crashed",
                   f"grading pipeline error: {type(err).__name__}: {err}"[:300],
                   items=chapter.zero_items() if chapter else [])


# ------------------------------------------------------------------ cache
def _chapter_digest(root: Path, aid: str) -> str:
    """Everything the grade of a chapter depends on in the course: its source folder, the config."""
    h = hashlib.sha256(GRADER_VERSION.encode() + b"\0" + config_path(root).read_bytes())
    folder = root / SOURCE_DIR / aid
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not skip(path.name):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _submission_key(sub: Submission, chapter_digest: str, settings: str) -> str:
    h = hashlib.sha256(f"{chapter_digest}\0{settings}\0{sub.student}\0{sub.assignment}".encode())
    paths = sorted(sub.files)
    if sub.folder is not None:
        paths = sorted(p for p in sub.folder.rglob("*") if p.is_file() and not p.is_symlink())
    for path in paths:
        base = sub.folder if sub.folder is not None else path.parent
        h.update(path.relative_to(base).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _load_cache(out: Path) -> dict:
    try:
        data = json.loads((out / CACHE_NAME).read_text(encoding="utf-8"))
        return data["entries"] if data.get("version") == GRADER_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _row_from_cache(entry: dict) -> Row | None:
    try:
        data = dict(entry["row"])
        data["items"] = [Item(**i) for i in data.get("items", [])]
        row = Row(**data)
        row.cached = True
        return row
    except (KeyError, TypeError):
        return None


# ------------------------------------------------------------------ output
def _item_columns(rows: list[Row], chapters: dict[str, Chapter]) -> list[str]:
    ids: list[str] = []
    for aid in sorted(chapters):
        ids += [i.grade_id for i in chapters[aid].items if i.grade_id not in ids]
    for row in rows:
        ids += [i.grade_id for i in row.items if i.grade_id not in ids]
    return ids


def write_outputs(rows: list[Row], unmapped: list[Unmapped], out: Path, item_ids: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    reserved = {"student", "name", "email", "assignment", "status", "score", "max_score", "flags",
                "review", "detail", "notebook", "feedback", "seconds"}
    item_ids = [i for i in item_ids if i not in reserved]
    columns = ["student", "name", "email", "assignment", "status", "score", "max_score", *item_ids,
               "flags", "review", "detail", "notebook", "feedback", "seconds"]
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow(row.csv_row(item_ids))
    with open(out / "items.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ITEM_COLUMNS)
        w.writeheader()
        for row in rows:
            for it in row.items:
                w.writerow({"student": row.student, "assignment": row.assignment, "grade_id": it.grade_id,
                            "score": _num(it.score), "max_score": _num(it.max_score), "notebook": it.notebook})
    with open(out / "unmapped.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "reason"])
        w.writeheader()
        for u in unmapped:
            w.writerow({"path": u.path, "reason": u.reason})


def summary(rows: list[Row], unmapped: list[Unmapped] | None = None) -> str:
    """Counts per status, mean score per chapter and per item, flags, what needs a human look."""
    lines = [f"{len(rows)} row(s)" + (f", {sum(r.cached for r in rows)} unchanged since the last run (cached)"
                                      if any(r.cached for r in rows) else "")]
    for status in STATUSES:
        n = sum(1 for r in rows if r.status == status)
        if n:
            lines.append(f"  {status:<19} {n}")
    for aid in sorted({r.assignment for r in rows if r.max_score}):
        these = [r for r in rows if r.assignment == aid and r.max_score]
        mean = sum(r.score for r in these) / len(these)
        graded = [r for r in these if r.status == "graded"]
        gmean = f", graded only {sum(r.score for r in graded) / len(graded):.2f}" if graded else ""
        lines.append(f"  mean score {aid}: {mean:.2f} / {_num(these[0].max_score)} (all rows{gmean})")
        for item in these[0].items:
            scores = [next((i.score for i in r.items if i.grade_id == item.grade_id), 0.0) for r in these]
            lines.append(f"    {item.grade_id:<24} {sum(scores) / len(scores):.2f} / {_num(item.max_score)}")
    counts: dict[str, int] = {}
    for r in rows:
        for f in r.flags:
            counts[f] = counts.get(f, 0) + 1
    if counts:
        lines.append("flags: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    review = [r for r in rows if r.review and r.status != "missing"]
    if review:
        lines.append(f"{len(review)} need(s) a human look:")
        lines += [f"  {r.student}/{r.assignment or '?'}: {r.status}"
                  f"{' [' + ' '.join(r.flags) + ']' if r.flags else ''}: {r.detail[:300]}" for r in review]
    missing = [r for r in rows if r.status == "missing"]
    if missing:
        lines.append(f"{len(missing)} missing: " + ", ".join(f"{r.student}/{r.assignment or '?'}" for r in missing[:30])
                     + (" ..." if len(missing) > 30 else ""))
    if unmapped:
        lines.append(f"{len(unmapped)} file(s) could not be mapped to a student and chapter (unmapped.csv):")
        lines += [f"  {u.path}: {u.reason}" for u in unmapped[:30]]
        if len(unmapped) > 30:
            lines.append("  ...")
    return "\n".join(lines)


def _flag_slow(rows: list[Row]) -> None:
    """Heavy work: a graded row far slower than its chapter's median gets the ``slow`` flag."""
    for aid in {r.assignment for r in rows}:
        times = [r.seconds for r in rows if r.assignment == aid and r.status == "graded"]
        if len(times) < 5:
            continue
        median = statistics.median(times)
        for r in rows:
            if r.assignment == aid and r.status == "graded" and r.seconds > max(3 * median, median + 30):
                r.flag("slow")
                r.review = True
                r.detail += f"; took {r.seconds:.0f} s, the class's median is {median:.0f} s (heavy work?)"


# -------------------------------------------------------------------- API
def grade(submissions: Path, out: Path, *, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT,
          memory_limit: float | None = DEFAULT_MEMORY_LIMIT, root: Path | None = None,
          cell_timeout: int | None = None, progress: bool = True, keep: bool = False,
          isolation: str = "bwrap", students: Path | None = None, pattern: str | None = None,
          chapter: str | None = None, output_limit: float = DEFAULT_OUTPUT_LIMIT,
          cache: bool = True) -> list[Row]:
    """Grade every submission under ``submissions`` (folder or zip); write OUT; return the rows.

    jobs          submissions graded at once (each in its own process tree)
    timeout       wall-clock seconds per submission (whole notebook)
    memory_limit  GB per submission (RLIMIT_DATA per process + RSS of the sandbox); None/0: none
    root          course repository (default: found from the working directory)
    cell_timeout  per-cell limit, overriding ``Execute.timeout`` of the nbgrader config
    progress      show a progress bar and print the summary
    keep          keep the sandboxes (under the system temp dir) for debugging
    isolation     "bwrap" (a bubblewrap box per submission; stops with SandboxUnavailable where it
                  cannot be built) or "none" (no box: trusted notebooks only; warns), see ``sandbox``
    students      roster CSV (id,name,email): students without a submission get ``missing`` rows
    pattern       regex with (?P<student>...) (and (?P<notebook>...)/(?P<chapter>...)) for LMS file names
    chapter       the chapter of files whose name does not say it (an LMS export of one assignment)
    output_limit  MB of notebook output kept (a tenth of it per cell); the rest is dropped
    cache         reuse the rows of unchanged submissions from OUT/.aecourse-cache.json
    """
    from tqdm.auto import tqdm

    submissions, out = Path(submissions), Path(out)
    root = Path(root).resolve() if root is not None else find_root()
    if not submissions.exists():
        raise FileNotFoundError(f"no submissions at {submissions}")
    level, bwrap = _choose_isolation(isolation, progress)
    roster = read_roster(students) if students is not None else None
    mem = int((memory_limit or 0) * 2**30)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="aecourse-grade-"))
    try:
        unmapped: list[Unmapped] = []
        if submissions.is_file() and zipfile.is_zipfile(submissions):
            extracted, unmapped = extract_zip(submissions, tmp / "unzipped")
            subs_root = submissions_root(extracted, pattern)
        elif submissions.is_dir():
            subs_root = submissions_root(submissions, pattern)
        else:
            raise IntakeError(f"{submissions} is neither a folder nor a zip file; pass the folder of "
                              "<student>/<chapter-id>/ folders or the zip your LMS exported")
        known = chapter_ids(root)
        if chapter is not None and chapter not in known:
            raise IntakeError(f"--chapter {chapter!r} is not a chapter of {root / SOURCE_DIR} "
                              f"(known: {', '.join(known) or 'none'})")
        subs, more = discover(subs_root, ids=known, names=notebook_names(root, known), pattern=pattern,
                              chapter=chapter, exclude=[out])
        unmapped += more
        lower = {k.lower(): k for k in known}
        for s in subs:
            s.assignment = lower.get(s.assignment.lower(), s.assignment)
        # cache: unchanged submissions keep their row (and feedback) from the last run
        # what can change a finished grade; not the notebook timeout (a graded row finished within it)
        settings = json.dumps([cell_timeout, mem, output_limit])
        digests = {aid: _chapter_digest(root, aid) for aid in known}
        old = _load_cache(out) if cache else {}
        new_cache: dict[str, dict] = {}
        reused: list[Row] = []
        todo: list[Submission] = []
        keys: dict[int, str] = {}
        for s in subs:
            if s.assignment in digests and s.files:
                key = _submission_key(s, digests[s.assignment], settings)
                keys[id(s)] = key
                entry = old.get(f"{s.student}/{s.assignment}")
                row = _row_from_cache(entry) if entry and entry.get("key") == key else None
                if row is not None and all((out / f).is_file() for f in row.feedback.split(", ") if f):
                    reused.append(row)
                    new_cache[f"{s.student}/{s.assignment}"] = entry
                    continue
            todo.append(s)
        needed = sorted({s.assignment for s in todo if s.assignment in known})
        chapters, broken = build_masters(root, needed, tmp)
        (tmp / "logs").mkdir()
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
        batch = _Batch(root=root, submissions=subs_root, out=out, tmp=tmp, chapters=chapters, broken=broken,
                       fingerprints=chapter_fingerprints(root, known), timeout=float(timeout),
                       cell_timeout=int(cell_timeout or 0), memory_limit=mem,
                       output_limit=int(output_limit * 2**20), threads=threads, isolation=level, bwrap=bwrap,
                       etc=write_etc(tmp / "etc") if level == "bwrap" else None, keep=keep)
        rows: list[Row] = list(reused)
        bar = tqdm(total=len(todo), desc="grading", unit="sub", disable=not progress or not todo)
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            futures = {pool.submit(_grade_one_safe, batch, s): s for s in todo}
            for fut in as_completed(futures):
                row = fut.result()
                rows.append(row)
                s = futures[fut]
                if row.status in CACHED_STATUSES and id(s) in keys:
                    new_cache[f"{row.student}/{row.assignment}"] = {"key": keys[id(s)], "row": asdict(row)}
                bar.set_postfix_str(f"{row.student}/{row.assignment}: {row.status}", refresh=False)
                bar.update()
        except BaseException:  # Ctrl-C: stop every sandbox now, not after its timeout
            batch.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            bar.close()
        _flag_slow(rows)
        rows = _apply_roster(rows, roster, subs, chapter, chapters)
        rows.sort(key=lambda r: (r.student, r.assignment))
        write_outputs(rows, unmapped, out, _item_columns(rows, chapters))
        if cache:
            (out / CACHE_NAME).write_text(json.dumps({"version": GRADER_VERSION, "entries": new_cache}),
                                          encoding="utf-8")
        if progress:
            print(summary(rows, unmapped))
        return rows
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _apply_roster(rows: list[Row], roster: list[Student] | None, subs: list[Submission],
                  chapter: str | None, chapters: dict[str, Chapter]) -> list[Row]:
    """Names and emails from the roster; ``missing`` rows for roster students without a submission."""
    if roster is None:
        return rows
    by_id = {s.id: s for s in roster}
    expected = sorted({r.assignment for r in rows if r.max_score is not None} | ({chapter} if chapter else set()))
    have = {(r.student, r.assignment) for r in rows}
    for r in rows:
        if r.student in by_id:
            r.name, r.email = by_id[r.student].name, by_id[r.student].email
        else:
            r.flag("not_in_roster")
            r.review = True
    for student in roster:
        for aid in expected:
            if (student.id, aid) in have:
                continue
            # a student folder with nothing in it already has a row with assignment ""
            blank = next((r for r in rows if r.student == student.id and not r.assignment), None)
            if blank is not None:
                blank.assignment = aid
                have.add((student.id, aid))
                continue
            ch = chapters.get(aid)
            rows.append(Row(student.id, aid, 0.0, ch.max_score if ch else None, "missing",
                            "no submission from this student", review=False,
                            items=ch.zero_items() if ch else [], name=student.name, email=student.email))
    return rows


def _choose_isolation(wanted: str, progress: bool) -> tuple[str, str | None]:
    """(level, bwrap): the box where asked for (the default); ``none`` only when asked for, with a warning."""
    if wanted not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}, not {wanted!r}")
    if wanted == "bwrap":
        return "bwrap", require_box()
    if progress:
        print("warning: --isolation none: submissions run as you, on your filesystem, with your permissions: "
              "a notebook can read and change any file you can. Only for notebooks you trust; install "
              "bubblewrap to grade untrusted ones in a sandbox.", file=sys.stderr)
    return "none", None
