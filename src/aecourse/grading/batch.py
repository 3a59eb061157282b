"""A class's batch: find the submissions, grade each in its own sandbox, write OUT.

``grade()`` is the whole run, in this order:

1. choose the isolation (``bwrap`` unless ``isolation="none"`` is asked for, which
   warns) and read the roster;
2. **discover** the submissions (``intake``: a folder or an LMS zip, either layout;
   files that map to no student and chapter go to ``unmapped.csv``);
3. take the rows of unchanged submissions from the rerun **cache** (``cache``);
4. build the **master** gradebook once, from ``solutions/``, for the chapters still
   to grade (``notebooks.build_masters``; ``cache.masters`` reuses a build made earlier in
   the same process for an unchanged chapter);
5. grade the rest, ``jobs`` at a time, each with ``submission.grade_submission``
   in its own process tree (torch threads shared out between the jobs), with a
   progress bar; Ctrl-C stops every sandbox at once;
6. flag rows far slower than their chapter's median, add the roster's names and
   its ``missing`` rows, and **write** ``grades.csv``, ``items.csv``,
   ``unmapped.csv`` and the cache (``results``); with ``gradebook``, write the
   freshly graded submissions into the persistent nbgrader course directory
   (``gradebook.record``: formgrader's view, TAs' scores kept); print the summary.

What it trusts: the instructor's arguments, the course repository (``root``) and
the roster.  The submissions folder or zip is untrusted data, handled by
``intake`` (zip members are extracted with size and path checks) and
``submission``; nothing of it runs in this process.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..release import SOURCE_DIR, chapter_ids, find_root
from .cache import (
    cache_entry,
    chapter_digest,
    entry_name,
    load_cache,
    masters,
    reused_row,
    save_cache,
    settings_key,
    submission_key,
)
from .gradebook import default_dir, record, submitted
from .intake import (
    IntakeError,
    Student,
    Submission,
    Unmapped,
    discover,
    extract_zip,
    read_roster,
    submissions_root,
)
from .notebooks import Chapter, chapter_fingerprints, notebook_names
from .results import Row, flag_slow, item_columns, summary, write_outputs
from .sandbox import ISOLATIONS, require_box, write_etc
from .submission import Batch, grade_submission

DEFAULT_TIMEOUT = 600.0        # seconds per submission, wall clock
DEFAULT_MEMORY_LIMIT = 4.0     # GB per submission (RSS of all its processes)
DEFAULT_OUTPUT_LIMIT = 20.0    # MB of output per notebook (a tenth of that per cell)


def grade(submissions: Path, out: Path, *, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT,
          memory_limit: float | None = DEFAULT_MEMORY_LIMIT, root: Path | None = None,
          cell_timeout: int | None = None, progress: bool = True, keep: bool = False,
          isolation: str = "bwrap", students: Path | None = None, pattern: str | None = None,
          chapter: str | None = None, output_limit: float = DEFAULT_OUTPUT_LIMIT,
          cache: bool = True, gradebook: Path | bool | None = None) -> list[Row]:
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
    gradebook     an nbgrader course directory to write every graded submission into, for formgrader
                  (True: OUT/gradebook); TAs' scores in it are kept across runs (see ``gradebook``)
    """
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
        subs_root, subs, unmapped, known = _discover(submissions, tmp, root, pattern, chapter, out)
        # cache: unchanged submissions keep their row (and feedback) from the last run
        settings = settings_key(cell_timeout, mem, output_limit)
        digests = {aid: chapter_digest(root, aid) for aid in known}
        course_dir = (default_dir(out) if gradebook is True else Path(gradebook)) if gradebook else None
        in_gradebook = submitted(course_dir) if course_dir is not None else set()
        old = load_cache(out) if cache else {}
        new_cache: dict[str, dict] = {}
        reused: list[Row] = []
        todo: list[Submission] = []
        keys: dict[int, str] = {}
        for s in subs:
            if s.assignment in digests and s.files:
                key = submission_key(s, digests[s.assignment], settings)
                keys[id(s)] = key
                entry = old.get(entry_name(s.student, s.assignment))
                row = reused_row(entry, key, out)
                if row is not None and course_dir is not None and row.status == "graded" \
                        and (s.student, s.assignment) not in in_gradebook:
                    row = None  # graded before, but not into this gradebook: grade it again for it
                if row is not None:
                    reused.append(row)
                    new_cache[entry_name(s.student, s.assignment)] = entry
                    continue
            todo.append(s)
        needed = sorted({s.assignment for s in todo if s.assignment in known})
        chapters, broken = masters(root, needed, tmp, digests)
        (tmp / "logs").mkdir()
        threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
        batch = Batch(root=root, submissions=subs_root, out=out, tmp=tmp, chapters=chapters, broken=broken,
                      fingerprints=chapter_fingerprints(root, known), timeout=float(timeout),
                      cell_timeout=int(cell_timeout or 0), memory_limit=mem,
                      output_limit=int(output_limit * 2**20), threads=threads, isolation=level, bwrap=bwrap,
                      etc=write_etc(tmp / "etc") if level == "bwrap" else None, keep=keep,
                      autograded=tmp / "autograded" if course_dir is not None else None)
        rows: list[Row] = list(reused)
        fresh: list[Row] = []
        for s, row in _run_jobs(batch, todo, jobs, progress):
            rows.append(row)
            fresh.append(row)
            entry = cache_entry(keys[id(s)], row) if id(s) in keys else None
            if entry is not None:
                new_cache[entry_name(row.student, row.assignment)] = entry
        flag_slow(rows)
        rows = _apply_roster(rows, roster, subs, chapter, chapters)
        rows.sort(key=lambda r: (r.student, r.assignment))
        write_outputs(rows, unmapped, out, item_columns(rows, chapters))
        if course_dir is not None:  # trusted code, after every check above: the formgrader course directory
            n = record(course_dir, chapters, fresh, tmp / "autograded", rows)
            if progress:
                print(f"gradebook: {n} submission(s) written to {course_dir / 'gradebook.db'} "
                      f"(run `nbgrader formgrader` there)")
        if cache:
            save_cache(out, new_cache)
        if progress:
            print(summary(rows, unmapped))
        return rows
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _discover(submissions: Path, tmp: Path, root: Path, pattern: str | None, chapter: str | None,
              out: Path) -> tuple[Path, list[Submission], list[Unmapped], list[str]]:
    """(root of the submissions, the submissions, unmapped files, the course's chapter ids)."""
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
    return subs_root, subs, unmapped, known


def find_submissions(submissions: Path, tmp: Path, root: Path, pattern: str | None, chapter: str | None,
                     out: Path) -> tuple[Path, list[Submission], list[Unmapped], list[str]]:
    """Step 2 of a batch for the other front doors (``k8s``): (root of the submissions, the submissions,
    unmapped files, the course's chapter ids); a zip is extracted into ``tmp``."""
    return _discover(submissions, tmp, root, pattern, chapter, out)


def _run_jobs(batch: Batch, todo: list[Submission], jobs: int, progress: bool) -> list[tuple[Submission, Row]]:
    """Grade ``todo``, ``jobs`` at a time, with a progress bar; (submission, row) in the order they finished."""
    # tqdm.auto brings in IPython/ipywidgets where installed: imported when a batch runs, for start-up time
    from tqdm.auto import tqdm

    done: list[tuple[Submission, Row]] = []
    bar = tqdm(total=len(todo), desc="grading", unit="sub", disable=not progress or not todo)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(grade_submission, batch, s): s for s in todo}
        for fut in as_completed(futures):
            row = fut.result()
            done.append((futures[fut], row))
            bar.set_postfix_str(f"{row.student}/{row.assignment}: {row.status}", refresh=False)
            bar.update()
    except BaseException:  # Ctrl-C: stop every sandbox now, not after its timeout
        batch.cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
    return done


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
