"""The rerun cache: a submission unchanged since the last run keeps its row and feedback.

``OUT/.aecourse-cache.json`` maps ``<student>/<chapter-id>`` to the key the row
was graded under and the row itself.  A key (``submission_key``) hashes
everything a finished grade depends on: the chapter's digest (``chapter_digest``:
``GRADER_VERSION``, the nbgrader config and every file of ``solutions/<id>/``),
the settings that can change a grade (``settings_key``: per-cell timeout,
memory and output limits; not the notebook timeout, since a graded row finished
within it), the student and chapter ids, and every file of the submission.
Only final statuses (``CACHED_STATUSES``) are stored: a ``timeout`` or
``crashed`` row is graded again next time.

What it trusts: the cache file lives in OUT, which no box can see, so it is the
grader's own; it is still read defensively (any malformed file or entry is a
cache miss, never an error), and a row is reused only when its feedback files
are still in OUT.  Submission files are only hashed, never interpreted.

The master gradebooks are cached too, in memory, for the life of the process
(``masters``): building them is one ``nbgrader generate_assignment`` run (3-4 s),
and a process that grades the same course more than once (the test suite, a
notebook driving ``grade``, a rerun loop) builds each chapter's master once per
``chapter_digest``; a changed source or config is a new digest, so a new build.
Each call gets its own copy, so nothing one batch does to a chapter reaches the next.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from ..release import SOURCE_DIR, config_path
from .intake import Submission, skip
from .notebooks import Chapter, Item, build_masters
from .results import Row

GRADER_VERSION = "3"           # bump when a change can change scores: invalidates caches
CACHE_NAME = ".aecourse-cache.json"
CACHED_STATUSES = {"graded", "invalid", "wrong_chapter", "unknown_assignment"}


def chapter_digest(root: Path, aid: str) -> str:
    """Everything the grade of a chapter depends on in the course: its source folder, the config."""
    h = hashlib.sha256(GRADER_VERSION.encode() + b"\0" + config_path(root).read_bytes())
    folder = root / SOURCE_DIR / aid
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not skip(path.name):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def settings_key(cell_timeout: int | None, memory_limit: int, output_limit: float) -> str:
    """The grading settings that can change a finished grade (not the notebook timeout)."""
    return json.dumps([cell_timeout, memory_limit, output_limit])


def submission_key(sub: Submission, digest: str, settings: str) -> str:
    """The cache key of one submission: chapter digest, settings, ids and every file handed in."""
    h = hashlib.sha256(f"{digest}\0{settings}\0{sub.student}\0{sub.assignment}".encode())
    paths = sorted(sub.files)
    if sub.folder is not None:
        paths = sorted(p for p in sub.folder.rglob("*") if p.is_file() and not p.is_symlink())
    for path in paths:
        base = sub.folder if sub.folder is not None else path.parent
        h.update(path.relative_to(base).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def entry_name(student: str, assignment: str) -> str:
    """The cache's name for one student and chapter."""
    return f"{student}/{assignment}"


def load_cache(out: Path) -> dict:
    """The entries of OUT's cache; {} when there is none, it is unreadable or of another grader version."""
    try:
        data = json.loads((out / CACHE_NAME).read_text(encoding="utf-8"))
        return data["entries"] if data.get("version") == GRADER_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def reused_row(entry: dict | None, key: str, out: Path) -> Row | None:
    """The cached row of ``entry`` when it was graded under ``key`` and its feedback is still in OUT."""
    row = _row_from_cache(entry) if entry and entry.get("key") == key else None
    if row is not None and all((out / f).is_file() for f in row.feedback.split(", ") if f):
        return row
    return None


def cache_entry(key: str, row: Row) -> dict | None:
    """The entry to store for a freshly graded row; None for a status that is graded again next time."""
    if row.status not in CACHED_STATUSES:
        return None
    return {"key": key, "row": asdict(row)}


def save_cache(out: Path, entries: dict[str, dict]) -> None:
    """Write OUT's cache: these entries, under this grader version."""
    (out / CACHE_NAME).write_text(json.dumps({"version": GRADER_VERSION, "entries": entries}), encoding="utf-8")


def _row_from_cache(entry: dict) -> Row | None:
    try:
        data = dict(entry["row"])
        data["items"] = [Item(**i) for i in data.get("items", [])]
        row = Row(**data)
        row.cached = True
        return row
    except (KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- master gradebooks, per process
_MASTERS: dict[tuple[str, str, str], Chapter] = {}
_MASTERS_MAX = 64  # chapter versions kept per process (a long-lived Jupyter session edits chapters)


def masters(root: Path, ids: list[str], tmp: Path, digests: dict[str, str]) -> tuple[dict[str, Chapter], dict[str, str]]:
    """``notebooks.build_masters`` for the chapters ``ids``, building only those whose digest is new.

    Returns (chapter id -> Chapter, chapter id -> why it could not be built); a chapter that
    failed to build is not remembered (the next call tries again).
    """
    root_key = str(Path(root).resolve())
    chapters = {aid: copy.deepcopy(_MASTERS[(root_key, aid, digests[aid])]) for aid in ids
                if (root_key, aid, digests[aid]) in _MASTERS}
    missing = [aid for aid in ids if aid not in chapters]
    built, broken = build_masters(root, missing, tmp) if missing else ({}, {})
    for aid, chapter in built.items():
        while len(_MASTERS) >= _MASTERS_MAX:  # the oldest first
            del _MASTERS[next(iter(_MASTERS))]
        _MASTERS[(root_key, aid, digests[aid])] = copy.deepcopy(chapter)
    chapters.update(built)
    return chapters, broken
