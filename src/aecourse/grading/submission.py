"""Grading one submission: from the files a student handed in to one ``Row`` and its feedback.

``grade_submission(batch, sub)`` runs these steps (it never raises: an unexpected
error becomes a ``crashed`` row, so one submission cannot stop a batch):

1. **pick** the notebooks: each notebook the chapter expects is matched to a
   submitted file by name; for a one-notebook chapter a renamed file, or the
   newest of several, is taken (flags ``renamed_notebook``, ``several_files``);
2. **read and restore** each one as data: not a notebook -> ``invalid``, another
   chapter's -> ``wrong_chapter``; otherwise ``notebooks.restore`` puts locked
   cells, deleted cells and nbgrader metadata back as the release has them and
   ``notebooks.suspicious_code`` looks for monkeypatching;
3. **prepare** the working copy: the chapter's release, config and a copy of the
   master gradebook (``Chapter.files``, from memory), the restored notebooks under
   their expected names and the chapter folder's other files (no links, no huge
   files, no junk);
4. **run** ``box/driver.py`` (``nbgrader autograde``) on it, in a bubblewrap box
   or, with ``isolation="none"``, without one (``sandbox``), under the wall-clock,
   memory and output limits;
5. **read back**, as data, only what is needed: ``result.json`` (the driver's
   report), the scores from the box's gradebook copy (``results.read_grades``:
   ``auto_score`` only, each item clipped to the master's points), the outputs of
   the executed notebooks, the network log;
6. **feedback**: the HTML is made here (``feedback``) from the restored cells, the
   box's outputs and the grader's scores, and written to OUT.

Steps 1-3 are ``prepare_submission``, 4 ``run_box``, 5-6 ``read_back``: the
Kubernetes front door (``k8s``, ``pod``) runs them apart (prepare when it exports,
the box in the pod, read back when it collects); every other caller goes through
``grade_submission``.

What it trusts: the batch settings, the master (``Chapter``: built from
``solutions/``) and its own code.  Everything from the submission is untrusted:
file names and contents are read as data, never imported or executed here, and
the only code of the submission that runs, runs inside the box.  Every file the
box wrote (``result.json``, its gradebook copy, the executed notebooks, the
network log) is read through ``sandbox.box_file`` (a regular file inside the
working copy, no links followed, size-limited) and checked before use; OUT and
the logs are outside the box, which cannot see them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..release import SOURCE_DIR
from .feedback import feedback_notebook, render_html, secret_lines
from .intake import Submission, chapter_of_notebook, skip
from .notebooks import (
    MAX_NOTEBOOK_BYTES,
    Chapter,
    Item,
    notebook_problem,
    restore,
    scan_executed,
    suspicious_code,
    which_chapter,
)
from .results import INTERNAL_STUDENT, Row, read_grades
from .sandbox import (
    BOX_WORK,
    NET_LOG,
    RunResult,
    box_command,
    box_file,
    driver_argv,
    prepare_work,
    run_sandboxed,
    sandbox_env,
    seccomp_fd,
)


@dataclass
class Batch:
    """What grading one submission needs from its batch (built once by ``batch.grade``)."""

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
    # (student, chapter) -> {notebook: the feedback notebook}, for front doors that show it themselves
    feedback_nbs: dict[tuple[str, str], dict[str, dict]] = field(default_factory=dict)
    autograded: Path | None = None  # --gradebook: where the trusted notebooks for it are staged


@dataclass
class Prepared:
    """One submission restored and laid out in its working copy, ready for the box (steps 1-3)."""

    chapter: Chapter
    base: Row                 # the row so far: chapter, notebook, flags
    notes: list[str]
    restored: dict[str, dict]
    work: Path
    args: dict                # the driver's arguments


def grade_submission(batch: Batch, sub: Submission) -> Row:
    """Grade one submission: its row, its feedback written to OUT.  Never raises: an unexpected
    pipeline error becomes a ``crashed`` row."""
    try:
        return _grade_one(batch, sub)
    except Exception as err:  # keep the batch going, whatever happened
        chapter = batch.chapters.get(sub.assignment)
        return Row(sub.student, sub.assignment, 0.0, chapter.max_score if chapter else None, "crashed",
                   f"grading pipeline error: {type(err).__name__}: {err}"[:300],
                   items=chapter.zero_items() if chapter else [])


def _chapter_for(batch: Batch, name: str) -> str | None:
    for aid in list(batch.chapters) + list(batch.broken):
        if aid == name or aid.lower() == name.lower():
            return aid
    return None


def _pick_notebooks(sub: Submission, expected: list[str]) -> tuple[dict[str, Path], list[str], list[str]]:
    """Map each expected notebook to a submitted file; (chosen, notes, flags)."""
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


def _grade_one(batch: Batch, sub: Submission) -> Row:
    if batch.cancel.is_set():
        return Row(sub.student, sub.assignment, 0.0, None, "crashed", "grading was cancelled")
    t0 = time.monotonic()
    return finish_row(_grade_one_inner(batch, sub), sub.flags, time.monotonic() - t0)


def finish_row(row: Row, intake_flags: list[str], seconds: float) -> Row:
    """The last touches every row gets: the intake's flags, status flags, ``review``, the time."""
    if not row.seconds:
        row.seconds = seconds
    row.flag(*[f for f in intake_flags if f not in row.flags])
    if row.status in ("timeout", "wrong_chapter"):
        row.flag(row.status)
    row.review = row.review or row.status != "graded" or bool(row.flags)
    return row


def _grade_one_inner(batch: Batch, sub: Submission) -> Row:
    prep = prepare_submission(batch, sub)
    if isinstance(prep, Row):
        return prep
    try:
        log = batch.tmp / "logs" / f"{prep.work.name}.log"  # outside the box: it cannot swap it for a link
        run = run_box(batch, prep.work, prep.args, log)
        log_text = log.read_bytes()[-20000:].decode("utf-8", "replace") if log.is_file() else ""
        return read_back(batch, prep, run, log_text)
    finally:
        if not batch.keep:
            shutil.rmtree(prep.work, ignore_errors=True)


def prepare_submission(batch: Batch, sub: Submission, work: Path | None = None) -> Row | Prepared:
    """Steps 1-3: pick, read and restore the notebooks, lay out the working copy (``work``, default
    a fresh folder in ``batch.tmp``).  A ``Row`` when there is nothing to run (missing, invalid, ...)."""
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

    work = Path(tempfile.mkdtemp(prefix="sub-", dir=batch.tmp)) if work is None else work
    try:
        course, too_big = _prepare_sandbox(chapter, work, sub, restored)
        if too_big:
            notes.append(f"left out files over {MAX_NOTEBOOK_BYTES // 2**20} MB: {', '.join(too_big)}")
            base.flag("files_too_large")
        # the box sees its working copy at BOX_WORK; without a box the paths are the host's
        inside = str(work) if batch.isolation == "none" else BOX_WORK
        # per process a quarter below the sandbox's limit: one runaway allocation fails inside its cell
        # (MemoryError, the cell loses its points) before the sandbox as a whole is killed
        args = {"aid": aid, "student": INTERNAL_STUDENT, "result": f"{inside}/result.json",
                "mem": batch.memory_limit * 3 // 4, "cell_timeout": batch.cell_timeout,
                "fsize": max(batch.output_limit * 4, 256 * 2**20),
                "out_cell": max(batch.output_limit // 10, 2**20), "out_total": batch.output_limit,
                # the driver kills (and counts) what a run leaves behind only where it owns the PID namespace
                "reap": batch.isolation == "bwrap"}
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Prepared(chapter, base, notes, restored, work, args)


def run_box(batch: Batch, work: Path, args: dict, log: Path) -> RunResult:
    """Step 4: ``box/driver.py`` on the working copy ``work``, in the box (``batch.isolation`` "bwrap"),
    or without one ("none"; "pod": the Kubernetes pod is the box), under the batch's limits."""
    course = work / "course-root"
    inside = str(work) if batch.isolation == "none" else BOX_WORK
    token = uuid.uuid4().hex
    env = sandbox_env(inside, threads=batch.threads, token=token)
    cmd = driver_argv(json.dumps(args))
    fd = None
    if batch.isolation == "bwrap":
        prepare_work(work)
        fd = seccomp_fd()
        cmd = box_command(work, batch.etc, cmd, env, fd, batch.bwrap, chdir=f"{BOX_WORK}/course-root")
    try:
        run = run_sandboxed(cmd, batch.tmp if batch.isolation == "bwrap" else course, env, batch.timeout,
                            batch.memory_limit, log, batch.cancel,
                            log_limit=max(batch.output_limit, 2**20) * 2, token=token,
                            pass_fds=(fd,) if fd is not None else ())
    finally:
        if fd is not None:
            os.close(fd)
    return run


def read_back(batch: Batch, prep: Prepared, run: RunResult, log_text: str) -> Row:
    """Steps 5-6: what the box left in the working copy, read as data and checked against the master;
    the feedback written to ``batch.out``.  ``log_text``: the tail of the driver's output."""
    chapter, base, notes, restored, work = prep.chapter, prep.base, prep.notes, prep.restored, prep.work
    aid = chapter.id
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
    if out.get("gradebook_restored"):  # the driver put the gradebook back before nbgrader scored the run
        notes.append("changed the gradebook while it ran (put back before scoring)")
        base.flag("gradebook_tampered")
    left = out.get("stragglers")
    stragglers = run.stragglers or (left if isinstance(left, int) and left > 0 else 0)
    if stragglers:
        notes.append(f"left {stragglers} background process(es) running; killed")
        base.flag("background_process")
    base.items = items
    base.score = sum(i.score for i in items)
    base.status = "graded"
    tests = [i for i in items if i.max_score > 0 and not i.manual]
    passed = sum(1 for i in tests if i.score >= i.max_score)
    pending = [i for i in items if i.by == "pending"]
    if pending:  # written answers: the score is auto / pending until a TA grades them
        notes.insert(0, f"score {base.score:g} auto / {sum(i.max_score for i in pending):g} pending: "
                        f"{', '.join(i.grade_id for i in pending)} wait(s) for a TA")
        base.flag("needs_manual")
    base.detail = "; ".join([f"{passed}/{len(tests)} tests passed"] + notes)
    try:
        base.feedback = _write_feedback(batch, chapter, base.student, restored, executed, items)
    except Exception as err:  # a malformed executed notebook: the row stands, without feedback
        base.detail += f"; feedback could not be generated ({type(err).__name__})"
    base.review = bool(base.flags) or not base.feedback
    return base


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


def _read_box_gradebook(batch: Batch, work: Path, chapter: Chapter) -> tuple[list[Item], list[str]]:
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


def _write_feedback(batch: Batch, chapter: Chapter, student: str, restored: dict[str, dict],
                    executed: dict[str, dict | None], items: list[Item]) -> str:
    """Feedback HTML per notebook, made here from trusted cells, the box's outputs and our scores."""
    dest = batch.out / "feedback" / student / chapter.id
    written = []
    for name in chapter.notebooks:
        mine = [i for i in items if i.notebook == name]
        nb = feedback_notebook(restored[name], executed.get(name), mine, secret_lines(chapter.source_nbs[name]))
        batch.feedback_nbs.setdefault((student, chapter.id), {})[name] = nb
        html = render_html(nb, name, chapter.id, sum(i.score for i in mine), sum(i.max_score for i in mine))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{name}.html").write_text(html, encoding="utf-8")
        written.append((dest / f"{name}.html").relative_to(batch.out).as_posix())
        if batch.autograded is not None:  # the trusted notebook the persistent gradebook shows TAs
            staged = batch.autograded / student / chapter.id
            staged.mkdir(parents=True, exist_ok=True)
            (staged / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return ", ".join(written)
