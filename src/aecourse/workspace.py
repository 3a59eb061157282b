"""The learner's own copy of the course, outside the repository's tracked files.

``aecourse lab`` never opens the repository's ``course/``: answers typed there
would dirty committed files, fail the release-sync test and make ``git pull``
conflict. It opens a working copy instead:

- **Where**: ``~/aecourse-work`` by default; ``AECOURSE_WORK`` or ``aecourse lab
  --work DIR`` choose another place. A folder in the home directory, not one
  inside the clone, because the answers must outlive the clone: ``git clean
  -fdx`` (which removes ignored folders too), deleting and re-cloning the
  repository, or switching branches must never take a learner's work with them,
  and a learner finds it where they keep their other files.
- **Created on first use**, by copying ``course/``. Later runs copy chapters
  that are new, and never overwrite a file the learner has changed.
- **Newer releases without losing answers.** The release each file was copied
  from is kept in ``.aecourse/base/`` inside the working copy. When the release
  changes, a file the learner never touched is simply replaced (nothing of
  theirs is in it); a changed one is left alone and reported, and ``aecourse lab
  --update`` rebuilds it from the new release with the learner's answers moved
  in by nbgrader ``grade_id`` (see :func:`merge_answers`), after saving the old
  file under ``backups/<time>/``.

Everything here works on notebooks as JSON (no kernel, no nbgrader needed).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["WORK_ENV", "default_work_dir", "work_dir", "release_files", "SyncReport", "sync", "merge_answers",
           "UpdateResult", "update", "describe"]

WORK_ENV = "AECOURSE_WORK"
STATE = ".aecourse"  # inside the working copy: base/ holds the release each file was copied from
BACKUPS = "backups"  # visible in JupyterLab's file browser, so a learner finds an old version


def default_work_dir() -> Path:
    """``~/aecourse-work``: the working copy when neither ``--work`` nor ``AECOURSE_WORK`` says otherwise."""
    return Path.home() / "aecourse-work"


def work_dir(arg: str | os.PathLike | None = None, course: Path | None = None) -> Path:
    """The working copy's folder: ``arg``, else ``$AECOURSE_WORK``, else :func:`default_work_dir`.

    Parameters
    ----------
    arg : path, optional
        An explicit choice (``aecourse lab --work DIR``).
    course : Path, optional
        The release folder; a working copy inside it (or containing it) is
        refused, since that is the very thing the working copy avoids.

    Returns
    -------
    Path
        Absolute, ``~`` expanded; not created here (:func:`sync` creates it).
    """
    chosen = arg if arg is not None else (os.environ.get(WORK_ENV) or default_work_dir())
    work = Path(chosen).expanduser().resolve()
    if course is not None:
        course = Path(course).resolve()
        if work == course or course in work.parents or work in course.parents:
            raise ValueError(f"the working copy {work} would overlap the release folder {course}: answers would "
                             f"land in tracked files again; choose a folder outside it (--work or {WORK_ENV})")
    return work


def release_files(course: Path) -> list[str]:
    """Paths (relative, ``/``-separated) of every file the release ships, sorted; hidden ones (checkpoints) skipped."""
    course = Path(course)
    if not course.is_dir():
        raise FileNotFoundError(f"no release folder at {course} (run `aecourse release` in the repository)")
    out = []
    for path in sorted(course.rglob("*")):
        rel = path.relative_to(course)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(rel.as_posix())
    return out


@dataclass
class SyncReport:
    """What :func:`sync` did, by release path.

    Attributes
    ----------
    created : list of str
        Copied because the working copy had no such file (first use, a new chapter, a deleted file).
    refreshed : list of str
        Replaced by a newer release: the learner had not changed them.
    outdated : list of str
        The release is newer but the learner changed their copy: left alone, see :func:`update`.
    first_use : bool
        The working copy did not exist before.
    """

    created: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)
    first_use: bool = False


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def sync(course: Path, work: Path) -> SyncReport:
    """Bring the working copy up to the release without touching anything the learner changed.

    For each release file: missing in the working copy -> copied; identical
    to the release it came from (``.aecourse/base/``) -> replaced when the
    release has moved on; changed by the learner and the release newer ->
    listed in ``outdated`` and left as it is.

    Parameters
    ----------
    course : Path
        The release (the repository's ``course/``).
    work : Path
        The working copy (created if missing).

    Returns
    -------
    SyncReport
    """
    course, work = Path(course), Path(work)
    files = release_files(course)
    report = SyncReport(first_use=not work.exists())
    base_dir = work / STATE / "base"
    for rel in files:
        new, mine, base = course / rel, work / rel, base_dir / rel
        new_bytes = new.read_bytes()
        if not mine.exists():
            _copy(new, mine)
            _copy(new, base)
            report.created.append(rel)
            continue
        mine_bytes = mine.read_bytes()
        if mine_bytes == new_bytes:
            if not base.exists() or base.read_bytes() != new_bytes:
                _copy(new, base)  # a copy made by hand, or state lost: this release is its base now
            continue
        base_bytes = base.read_bytes() if base.exists() else None
        if base_bytes == new_bytes:
            continue  # the learner's own changes on the current release: nothing to offer
        if base_bytes is not None and mine_bytes == base_bytes:
            _copy(new, mine)  # untouched copy of an older release: nothing of the learner's is lost
            _copy(new, base)
            report.refreshed.append(rel)
            continue
        report.outdated.append(rel)
    return report


# --------------------------------------------------------------------------- merging answers
def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _grade_id(cell: dict) -> str | None:
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return nbg.get("grade_id") if nbg.get("solution") else None


def merge_answers(mine: dict, new: dict, base: dict | None = None) -> tuple[dict, list[str]]:
    """The new release notebook with the learner's answers moved in.

    - An answer cell (nbgrader ``solution: true``) takes the learner's source
      (and outputs) from their cell with the same ``grade_id``, keeping the new
      release's metadata; an answer still equal to the old stub takes the new
      stub instead, in case the stub changed.
    - Cells the learner added (ids not in the old release ``base``, no
      ``grade_id``) come along, each after the cell it followed.
    - Everything else (text, course code, hidden tests) is the new release's;
      learner edits there, and answers whose exercise is gone, are listed in
      the notes (the caller keeps a backup of the old file).

    Parameters
    ----------
    mine : dict
        The learner's notebook (nbformat 4 JSON).
    new : dict
        The new release of the same notebook.
    base : dict, optional
        The release the learner's copy came from; without it no cell counts
        as learner-added and every answer that differs from the new stub is kept.

    Returns
    -------
    (notebook, notes) : (dict, list of str)
    """
    base_cells = {c.get("id"): c for c in (base or {}).get("cells", []) if c.get("id")}
    base_answers = {g: c for c in (base or {}).get("cells", []) if (g := _grade_id(c))}
    answers = {g: c for c in mine.get("cells", []) if (g := _grade_id(c))}
    new_ids = {c.get("id") for c in new.get("cells", [])}
    new_answers = {g for c in new.get("cells", []) if (g := _grade_id(c))}
    notes: list[str] = []

    merged = []
    for cell in new.get("cells", []):
        cell = json.loads(json.dumps(cell))  # a copy: the release's dict stays as it was
        g = _grade_id(cell)
        if g in answers:
            theirs = answers[g]
            stub = base_answers.get(g)
            if stub is None or _source(theirs) != _source(stub):
                cell["source"] = theirs.get("source", "")
                if cell.get("cell_type") == "code" and theirs.get("cell_type") == "code":
                    cell["outputs"] = theirs.get("outputs", [])
                    cell["execution_count"] = theirs.get("execution_count")
        merged.append(cell)

    # Learner-added cells: after the merged cell that matches the one they followed.
    position = {c.get("id"): i for i, c in enumerate(merged)}
    position.update({g: i for i, c in enumerate(merged) if (g := _grade_id(c))})
    inserts: list[tuple[int, int, dict]] = []
    anchor = -1
    for order, cell in enumerate(mine.get("cells", [])):
        cid, g = cell.get("id"), _grade_id(cell)
        if g is not None and g in position:
            anchor = position[g]
        elif cid in position and (base is None or cid in base_cells):
            anchor = position[cid]
            old = base_cells.get(cid)
            if old is not None and g is None and _source(cell) != _source(old):
                notes.append(f"your changes to course cell {cid} are not in the new version (see the backup)")
        elif g is not None:
            if g not in new_answers:
                notes.append(f"your answer {g!r} has no exercise in the new version (see the backup)")
        elif base is not None and cid not in base_cells:
            inserts.append((anchor, order, cell))
    for anchor_at, order, cell in sorted(inserts, key=lambda t: (t[0], t[1]), reverse=True):
        if cell.get("id") in new_ids:  # an id taken by the new release: a fresh one keeps ids unique
            cell = dict(cell, id=f"{cell['id']}-mine")
        merged.insert(anchor_at + 1, cell)
    if inserts:
        notes.append(f"{len(inserts)} cell(s) you added kept, each after the cell it followed")

    notebook = json.loads(json.dumps(new))
    notebook["cells"] = merged
    return notebook, notes


@dataclass
class UpdateResult:
    """One file brought to the new release by :func:`update`: where the old one went and what to know."""

    path: str
    backup: Path
    answers_kept: int
    notes: list[str]


def _write_json(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def update(course: Path, work: Path, paths: list[str] | None = None, *, stamp: str | None = None) -> list[UpdateResult]:
    """Move the learner's changed files onto the newer release, answers kept (``aecourse lab --update``).

    Each file is first copied to ``backups/<stamp>/<path>`` in the working
    copy; a notebook is then rebuilt by :func:`merge_answers`, any other file
    replaced by the release's.

    Parameters
    ----------
    course, work : Path
        The release and the working copy.
    paths : list of str, optional
        Release paths to update (default: the ``outdated`` ones of :func:`sync`).
    stamp : str, optional
        The backup folder's name (default: the local time, ``YYYYmmdd-HHMMSS``).

    Returns
    -------
    list of UpdateResult
    """
    course, work = Path(course), Path(work)
    if paths is None:
        paths = sync(course, work).outdated
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    results = []
    for rel in paths:
        new, mine, base = course / rel, work / rel, work / STATE / "base" / rel
        backup = work / BACKUPS / stamp / rel
        _copy(mine, backup)
        notes: list[str] = []
        kept = 0
        if rel.endswith(".ipynb"):
            try:
                mine_nb = json.loads(mine.read_text(encoding="utf-8"))
            except ValueError:
                mine_nb = {"cells": []}
                notes.append("your copy was not a readable notebook; the new release replaces it")
            new_nb = json.loads(new.read_text(encoding="utf-8"))
            base_nb = json.loads(base.read_text(encoding="utf-8")) if base.exists() else None
            merged, more = merge_answers(mine_nb, new_nb, base_nb)
            notes += more
            stubs = {g: _source(c) for c in new_nb["cells"] if (g := _grade_id(c))}
            kept = sum(1 for c in merged["cells"] if (g := _grade_id(c)) and _source(c) != stubs.get(g))
            _write_json(mine, merged)
        else:
            _copy(new, mine)
        _copy(new, base)
        results.append(UpdateResult(rel, backup, kept, notes))
    return results


def describe(report: SyncReport, work: Path) -> str:
    """What :func:`sync` did, for the terminal: where the copy is, what is new, what ``--update`` would do."""
    lines = []
    if report.first_use:
        lines.append(f"aecourse: made your working copy of the course in {work}")
        lines.append("  (your answers live there, outside the repository; the repository's course/ stays clean)")
    else:
        lines.append(f"aecourse: opening your working copy in {work}")
    if report.created and not report.first_use:
        lines.append("  new from the course: " + ", ".join(report.created))
    if report.refreshed:
        lines.append("  updated to the newer course version (you had not changed them): " + ", ".join(report.refreshed))
    if report.outdated:
        lines.append("  a newer version of the course has: " + ", ".join(report.outdated))
        lines.append("    your copies are kept as they are; to move your answers into the new version run")
        lines.append("      aecourse lab --update      (or: make lab LAB_ARGS=--update)")
        lines.append(f"    (your current files are saved under {work / BACKUPS}/ first)")
    return "\n".join(lines)
