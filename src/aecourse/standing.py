"""Where you stand: which exercises' public checks have passed, and when (``aecourse progress``).

Every time a public check passes (:func:`aecourse.checks.passed`, which every check of every
chapter ends with), :func:`record_pass` notes the chapter, the exercise's test-cell grade id,
its points and the time in one small JSON file on this computer. Nothing is sent anywhere.
``aecourse progress`` prints a table per chapter from it, chapter 00-setup shows the same table
as a widget (:func:`aecourse.widgets.standing_table`), and ``aecourse progress --clear`` removes it.

**Where the record lives.** ``$AECOURSE_DATA_HOME/standing.json`` when that variable is set;
otherwise the user's data folder: ``$XDG_DATA_HOME/aecourse`` (when set), else
``~/.local/share/aecourse`` on Linux, ``~/Library/Application Support/aecourse`` on macOS,
``%LOCALAPPDATA%\\aecourse`` on Windows (:func:`data_home`). The tests point it at a temporary
folder (the repository's ``conftest.py``), so a test run never touches a learner's record.

**Never while grading.** Nothing is recorded (or read) while nbgrader executes a notebook
(:func:`aecourse.train.is_grading`): the grader's sandbox must not write anyone's data folder.

**Never in the way.** Recording must not break a learner's check: the file is written
atomically (a temporary file in the same folder, then ``os.replace``, under an advisory lock
where the platform has ``fcntl``), an unreadable file is kept aside as ``standing.json.corrupt``
and a new record started, and a folder that cannot be written gives one warning
(:class:`StandingWarning`) per session, after which the checks go on as before.

**The totals come from the chapters.** :func:`catalogue` reads the nbgrader metadata of the
chapter notebooks: every graded code cell (``grade: true``; its grade id is ``test_<name>``,
its public check ``checks.<module>.<name>`` or a quiz/fill-in check) is one exercise with its
``points``; graded markdown cells (and nbgrader tasks) are written answers, graded by a TA, which
have no public check and are reported apart. It reads the repository's ``course/`` (the release learners work from;
``solutions/`` when there is none), found from the working folder or this package's checkout,
else the learner's working copy (``$AECOURSE_WORK`` or ``~/aecourse-work``). How a check knows
its exercise: see :mod:`aecourse.checks.core` (``exercise_of_check``, ``exercise_of_answer``).

**A pass stays recorded.** The record says which checks have passed at least once, and when
they last did; it is a guide for the learner, not a grade (the hidden tests run when a notebook
is graded, on the notebook as handed in).

From Python::

    record_pass("01-dense", "test_train_step")      # what a passing check does
    rows = standing()                                # one ChapterStanding per chapter
    print(format_table(rows))                        # what `aecourse progress` prints
    clear(["01-dense"])                              # forget one chapter; clear() forgets everything
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from .contracts import invalid
from .release import RELEASE_DIR, SOURCE_DIR, find_root
from .train import is_grading
from .workspace import work_dir

try:  # POSIX: an advisory lock serialises kernels that pass checks at the same moment
    import fcntl
except ImportError:  # Windows: os.replace alone keeps the file whole; a simultaneous pass may be lost
    fcntl = None

__all__ = ["DATA_HOME_ENV", "RECORD_NAME", "FORMAT", "StandingWarning", "data_home", "record_path",
           "Exercise", "ChapterItems", "Pass", "ExerciseStanding", "ChapterStanding", "catalogue",
           "chapter_pattern", "record_pass", "passes", "clear", "standing", "totals", "format_table",
           "format_chapter", "as_json", "describe_time"]

DATA_HOME_ENV = "AECOURSE_DATA_HOME"
RECORD_NAME = "standing.json"
FORMAT = "aecourse-standing"
VERSION = 1
LOCK_WAIT_S = 2.0  # after this a pass is written without the lock rather than make the learner wait

_CHAPTER_ID = re.compile(r"^\d\d-[a-z0-9][a-z0-9-]*$")
_HEADING = re.compile(r"^#{2,4}\s+(Exercise\b.*?)\s*$", re.M)
_WARNED: set[str] = set()


class StandingWarning(UserWarning):
    """The progress record could not be read or written; the checks themselves are unaffected."""


def chapter_pattern() -> re.Pattern:
    """What a chapter id looks like: ``NN-name`` (``00-setup``, ``07-where-what``)."""
    return _CHAPTER_ID


# --------------------------------------------------------------------------- where
def data_home() -> Path:
    """The folder the record lives in (not created here).

    ``$AECOURSE_DATA_HOME`` if set; else ``$XDG_DATA_HOME/aecourse`` if that is an absolute path;
    else the platform's user data folder: ``%LOCALAPPDATA%\\aecourse`` (Windows),
    ``~/Library/Application Support/aecourse`` (macOS), ``~/.local/share/aecourse`` (elsewhere).
    """
    chosen = os.environ.get(DATA_HOME_ENV)
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "aecourse"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "aecourse"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "aecourse"
    return Path.home() / ".local" / "share" / "aecourse"


def record_path() -> Path:
    """``data_home() / "standing.json"``: the record of passed checks."""
    return data_home() / RECORD_NAME


def _warn_once(key: str, message: str) -> None:
    """One :class:`StandingWarning` per ``key`` and session; never raises (not even under ``-W error``)."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    try:
        warnings.warn(message, StandingWarning, stacklevel=3)
    except Exception:  # noqa: BLE001 - warnings turned into errors must not fail a learner's check
        pass


# --------------------------------------------------------------------------- what the chapters hold
@dataclass(frozen=True)
class Exercise:
    """One autograded item of a chapter: its test cell's grade id and points (nbgrader metadata)."""

    chapter: str
    grade_id: str
    points: float
    title: str = ""

    @property
    def name(self) -> str:
        """``"train_step"`` for ``test_train_step``: the public check is ``checks.<module>.train_step``."""
        return self.grade_id.removeprefix("test_")


@dataclass(frozen=True)
class ChapterItems:
    """A chapter's autograded exercises, in notebook order, and its TA-graded written answers' points."""

    chapter: str
    exercises: tuple[Exercise, ...]
    written_points: float = 0.0
    source: Path | None = None

    @property
    def points(self) -> float:
        return float(sum(e.points for e in self.exercises))


def _points(meta: dict) -> float:
    try:
        value = float(meta.get("points", 0) or 0)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _read_notebook(chapter: str, path: Path) -> tuple[list[Exercise], float]:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    exercises, written, title = [], 0.0, ""
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and meta.get("grade_id"):
            exercises.append(Exercise(chapter, str(meta["grade_id"]), _points(meta), title))
        elif meta.get("grade") or meta.get("task"):  # a written answer or a task: graded by hand
            written += _points(meta)
        elif cell.get("cell_type") == "markdown" and (heading := _HEADING.findall(source)):
            title = heading[-1]
    return exercises, written


def _chapter_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and _CHAPTER_ID.match(p.name) and any(p.glob("*.ipynb")))


def _course_folder(root: Path | None) -> Path | None:
    """Where the chapter notebooks are: ``root``'s (or the found repository's) course/ or solutions/,
    else the learner's working copy; None when there is none."""
    try:
        roots = [Path(root)] if root is not None else [find_root()]
    except (FileNotFoundError, OSError, RuntimeError):
        roots = []
    candidates = [r / sub for r in roots for sub in (RELEASE_DIR, SOURCE_DIR)]
    if root is None:
        with contextlib.suppress(ValueError, OSError, RuntimeError):  # RuntimeError: no home folder
            candidates.append(work_dir())
    return next((c for c in candidates if _chapter_folders(c)), None)


def _fingerprint(folder: Path) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                 for d in _chapter_folders(folder) for p in sorted(d.glob("*.ipynb")))


@lru_cache(maxsize=8)
def _catalogue_of(folder: Path, fingerprint: tuple) -> dict[str, ChapterItems]:
    out = {}
    for chapter_dir in _chapter_folders(folder):
        exercises, written = [], 0.0
        for path in sorted(chapter_dir.glob("*.ipynb")):
            try:
                found, points = _read_notebook(chapter_dir.name, path)
            except (OSError, ValueError, AttributeError, TypeError):
                continue  # a broken notebook has no exercises to count; the others still do
            exercises += found
            written += points
        out[chapter_dir.name] = ChapterItems(chapter_dir.name, tuple(exercises), written, chapter_dir)
    return out


def catalogue(root: str | os.PathLike | None = None) -> dict[str, ChapterItems]:
    """Chapter id -> its exercises and points, read from the chapter notebooks' nbgrader metadata.

    Parameters
    ----------
    root : path, optional
        A course repository (its ``course/``, else its ``solutions/``). By default the repository
        found from the working folder or this package's checkout, else the learner's working copy.

    Returns
    -------
    dict
        In chapter order; empty when no chapter notebooks are found.
    """
    folder = _course_folder(Path(root) if root is not None else None)
    if folder is None:
        return {}
    try:
        return dict(_catalogue_of(folder.resolve(), _fingerprint(folder)))
    except OSError:
        return {}


# --------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class Pass:
    """One exercise whose public check has passed: when first and last, and how many times."""

    chapter: str
    grade_id: str
    points: float | None
    first_passed: str
    last_passed: str
    passes: int = 1


def _empty() -> dict:
    return {"format": FORMAT, "version": VERSION, "chapters": {}}


def _valid_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("last_passed"), str)
            and isinstance(entry.get("first_passed", ""), str))


def _parse(text: str) -> dict:
    """The record as a dict, entries that do not look like passes dropped; ValueError if it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("chapters"), dict):
        raise ValueError("not an aecourse progress record")
    chapters = {}
    for chapter, items in data["chapters"].items():
        if isinstance(chapter, str) and isinstance(items, dict):
            kept = {g: e for g, e in items.items() if isinstance(g, str) and _valid_entry(e)}
            if kept:
                chapters[chapter] = kept
    return {"format": FORMAT, "version": VERSION, "chapters": chapters}


def _load(path: Path) -> tuple[dict, str | None]:
    """(record, problem): an empty record when the file is missing; ``problem`` says why it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty(), None
    except (OSError, UnicodeDecodeError) as err:
        return _empty(), f"cannot be read ({err})"
    try:
        return _parse(text), None
    except ValueError as err:
        return _empty(), f"is not a valid progress record ({err})"


def _write(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, flushed, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an advisory lock on ``path.lock`` (at most LOCK_WAIT_S waiting; no lock where there is no fcntl)."""
    if fcntl is None:
        yield
        return
    try:
        fh = open(path.with_name(path.name + ".lock"), "a")
    except OSError:
        yield
        return
    with fh:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    break  # a stuck lock holder must not hold the learner's check up
                time.sleep(0.02)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _points_of(chapter: str, grade_id: str) -> float | None:
    items = catalogue().get(chapter)
    for exercise in (items.exercises if items else ()):
        if exercise.grade_id == grade_id:
            return exercise.points
    return None


def record_pass(chapter: str, grade_id: str, *, points: float | None = None,
                when: datetime | str | None = None) -> bool:
    """Note that the public check of ``grade_id`` in ``chapter`` passed (what every passing check does).

    Parameters
    ----------
    chapter : str
        The chapter id, e.g. ``"01-dense"``.
    grade_id : str
        The exercise's test-cell grade id, e.g. ``"test_train_step"``.
    points : float, optional
        Its points; by default looked up in :func:`catalogue` (None when unknown).
    when : datetime or ISO 8601 str, optional
        The time of the pass (default: now, local time with its UTC offset).

    Returns
    -------
    bool
        Whether it was written: False while grading, and when the record cannot be written
        (one :class:`StandingWarning` per session says so, never an exception).

    Raises
    ------
    ValueError
        Only for a ``chapter`` that is not a chapter id or an empty ``grade_id`` (a caller's bug).
    """
    if not isinstance(chapter, str) or not _CHAPTER_ID.match(chapter):
        raise invalid("chapter", "a chapter id such as '01-dense'", chapter)
    if not isinstance(grade_id, str) or not grade_id:
        raise invalid("grade_id", "a test cell's grade id such as 'test_train_step'", grade_id)
    if is_grading():
        return False
    try:
        if points is None:
            points = _points_of(chapter, grade_id)
        stamp = when.isoformat(timespec="seconds") if isinstance(when, datetime) else (when or _now())
        path = record_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            data, problem = _load(path)
            if problem is not None:
                kept = path.with_name(path.name + ".corrupt")
                with contextlib.suppress(OSError):
                    os.replace(path, kept)
                _warn_once(f"corrupt:{path}", f"your progress record {path} {problem}; it was kept as {kept.name} "
                                              "and a new record started. Your checks are not affected.")
            items = data["chapters"].setdefault(chapter, {})
            old = items.get(grade_id, {})
            count = old.get("passes", 0)
            items[grade_id] = {
                "points": points if points is not None else old.get("points"),
                "first_passed": old.get("first_passed") or stamp,
                "last_passed": stamp,
                "passes": (count if isinstance(count, int) and count >= 0 else 0) + 1,
            }
            _write(path, data)
        return True
    except Exception as err:  # noqa: BLE001 - a learner's passing check must never fail because of this
        _warn_once(f"write:{record_path()}", f"aecourse could not note this pass in your progress record "
                                             f"({type(err).__name__}: {err}); your checks are not affected. "
                                             f"Set {DATA_HOME_ENV} to a folder you can write to keep a record.")
        return False


def passes(*, warn: bool = True) -> dict[str, dict[str, Pass]]:
    """Chapter id -> grade id -> :class:`Pass`, as recorded ({} when nothing is, or while grading).

    An unreadable record reads as empty (with one :class:`StandingWarning` when ``warn``); it is
    left as it is until the next pass sets it aside.
    """
    if is_grading():
        return {}
    path = record_path()
    data, problem = _load(path)
    if problem is not None and warn:
        _warn_once(f"corrupt:{path}", f"your progress record {path} {problem}; it reads as empty, and the next "
                                      "passing check keeps it aside and starts a new one")
    out: dict[str, dict[str, Pass]] = {}
    for chapter, items in data["chapters"].items():
        for grade_id, e in items.items():
            points = e.get("points")
            points = float(points) if isinstance(points, (int, float)) and not isinstance(points, bool) else None
            count = e.get("passes")
            out.setdefault(chapter, {})[grade_id] = Pass(
                chapter, grade_id, points, e.get("first_passed") or e["last_passed"], e["last_passed"],
                count if isinstance(count, int) and count > 0 else 1)
    return out


def clear(chapters: Iterable[str] | None = None) -> int:
    """Forget the recorded passes: all of them (the file is removed, and an unreadable one set aside
    as ``standing.json.corrupt``), or those of ``chapters``.

    Returns
    -------
    int
        How many exercises' passes were forgotten (an unreadable record counts as 0 and is removed
        too when clearing everything).

    Raises
    ------
    OSError
        When the record exists but cannot be removed or rewritten (the CLI reports it).
    """
    path = record_path()
    kept = path.with_name(path.name + ".corrupt")
    if chapters is None and kept.exists():
        kept.unlink()  # an unreadable record set aside earlier is part of the record too
    if not path.exists():
        return 0
    with _locked(path):
        data, _ = _load(path)
        recorded = data["chapters"]
        if chapters is None:
            removed = sum(len(items) for items in recorded.values())
            path.unlink()
            with contextlib.suppress(OSError):
                path.with_name(path.name + ".lock").unlink()
            return removed
        removed = 0
        for chapter in chapters:
            removed += len(recorded.pop(chapter, {}))
        if removed:
            _write(path, data)
        return removed


# --------------------------------------------------------------------------- where you stand
@dataclass(frozen=True)
class ExerciseStanding:
    """An exercise of a chapter and its pass, if its public check has passed."""

    exercise: Exercise
    passed: Pass | None = None


@dataclass(frozen=True)
class ChapterStanding:
    """One row of ``aecourse progress``: a chapter's exercises and points whose public checks passed.

    ``exercises_total`` and ``points_total`` are None when the chapter's notebook was not found
    (then only what was recorded is known). ``written_points`` are the chapter's TA-graded written
    answers, which have no public check and are not in either total.
    """

    chapter: str
    exercises_passed: int
    exercises_total: int | None
    points_passed: float
    points_total: float | None
    written_points: float = 0.0
    last_pass: str | None = None
    exercises: tuple[ExerciseStanding, ...] = field(default=())

    @property
    def done(self) -> bool:
        return self.exercises_total is not None and self.exercises_passed >= self.exercises_total > 0


def _row(chapter: str, items: ChapterItems | None, recorded: dict[str, Pass]) -> ChapterStanding:
    if items is None:  # the chapter's notebook was not found: only what the record says is known
        rows = tuple(ExerciseStanding(Exercise(chapter, g, p.points or 0.0), p) for g, p in sorted(recorded.items()))
    else:
        rows = tuple(ExerciseStanding(e, recorded.get(e.grade_id)) for e in items.exercises)
    done = [r for r in rows if r.passed is not None]
    last = max((r.passed.last_passed for r in done), default=None, key=_sort_key)
    return ChapterStanding(chapter, len(done), None if items is None else len(rows),
                           float(sum(r.exercise.points for r in done)), None if items is None else items.points,
                           0.0 if items is None else items.written_points, last, rows)


def _sort_key(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return float("-inf")


def standing(root: str | os.PathLike | None = None, *, chapters: Iterable[str] | None = None,
             warn: bool = True) -> list[ChapterStanding]:
    """One :class:`ChapterStanding` per chapter: every chapter of :func:`catalogue`, in order, then any
    chapter only the record knows. Passes of exercises a chapter no longer has are not counted.

    ``chapters`` keeps only those ids (in the order given).
    """
    known = catalogue(root)
    recorded = passes(warn=warn)
    ids = list(known) + sorted(set(recorded) - set(known))
    if chapters is not None:
        wanted = list(dict.fromkeys(chapters))
        unknown = [c for c in wanted if c not in ids]
        if unknown:
            raise invalid("chapter", f"one of {', '.join(ids) or '(no chapter found)'}", unknown[0])
        ids = wanted
    return [_row(c, known.get(c), recorded.get(c, {})) for c in ids]


def totals(rows: Iterable[ChapterStanding]) -> ChapterStanding:
    """The rows added up into one ``"all chapters"`` row (totals None if any chapter's are unknown)."""
    rows = list(rows)
    known = all(r.exercises_total is not None for r in rows)
    last = max((r.last_pass for r in rows if r.last_pass), default=None, key=_sort_key)
    return ChapterStanding(
        "all chapters", sum(r.exercises_passed for r in rows),
        sum(r.exercises_total for r in rows) if known else None,
        float(sum(r.points_passed for r in rows)),
        float(sum(r.points_total for r in rows)) if known else None,
        float(sum(r.written_points for r in rows)), last)


# --------------------------------------------------------------------------- showing it
def _num(x: float) -> str:
    return f"{x:g}"


def _of(passed: float, total: float | None) -> str:
    return f"{_num(passed)}/{_num(total) if total is not None else '?'}"


def describe_time(stamp: str | None) -> str:
    """An ISO time as ``2026-05-04 14:03`` in local time ("-" for none)."""
    if not stamp:
        return "-"
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OSError):
        return str(stamp)


def format_table(rows: list[ChapterStanding], *, path: Path | None = None) -> str:
    """The table ``aecourse progress`` prints: per chapter, exercises and points whose public checks
    passed of the totals, and the last pass; then the total, the written answers and the record's path."""
    header = ("chapter", "exercises", "points", "last pass")
    lines = [(r.chapter, _of(r.exercises_passed, r.exercises_total), _of(r.points_passed, r.points_total),
              describe_time(r.last_pass)) for r in rows]
    total = totals(rows)
    footer = [(total.chapter, _of(total.exercises_passed, total.exercises_total),
               _of(total.points_passed, total.points_total), describe_time(total.last_pass))] if len(rows) > 1 else []
    widths = [max(len(str(x[i])) for x in [header, *lines, *footer]) for i in range(4)]

    def show(cells) -> str:
        return "  ".join(str(c).ljust(w) if i in (0, 3) else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = ["Where you stand: exercises whose public checks passed (hidden tests run when a notebook is graded)",
           "", show(header), show(["-" * w for w in widths]), *map(show, lines)]
    if footer:
        out += [show(["-" * w for w in widths]), show(footer[0])]
    if not rows:
        out.append("(no chapters found and nothing recorded yet)")
    written = [f"{r.chapter} {_num(r.written_points)} pt{'s' if r.written_points != 1 else ''}"
               for r in rows if r.written_points]
    if written:
        out += ["", "Written answers are graded by a TA and have no public check (not counted above): "
                + ", ".join(written) + "."]
    if any(r.exercises_total is None for r in rows):
        out += ["", "? = the chapter's notebook was not found, so its totals are unknown."]
    if path is not None:
        out += ["", f"Record: {path}" + ("" if path.exists() else " (nothing recorded yet)"),
                "Clear it with `aecourse progress --clear` (one chapter: `aecourse progress CHAPTER --clear`)."]
    return "\n".join(out)


def format_chapter(row: ChapterStanding) -> str:
    """One chapter in detail: each exercise, its points, and when its public check last passed."""
    lines = [f"{row.chapter}: {_of(row.exercises_passed, row.exercises_total)} exercises, "
             f"{_of(row.points_passed, row.points_total)} points"]
    states = []
    for e in row.exercises:
        if e.passed is None:
            states.append("not passed yet")
        else:
            times = f" ({e.passed.passes} times)" if e.passed.passes > 1 else ""
            states.append(f"passed {describe_time(e.passed.last_passed)}{times}")
    width = max((len(e.exercise.grade_id) for e in row.exercises), default=0)
    state_width = max(map(len, states), default=0)
    for e, state in zip(row.exercises, states):
        pts = f"{_num(e.exercise.points)} pt{'s' if e.exercise.points != 1 else ''}"
        line = f"  {'[x]' if e.passed else '[ ]'} {e.exercise.grade_id.ljust(width)}  {pts:>6}  {state.ljust(state_width)}"
        lines.append(f"{line}  {e.exercise.title}".rstrip())
    if row.written_points:
        lines.append(f"  plus {_num(row.written_points)} point(s) of written answers, graded by a TA")
    return "\n".join(lines)


def _row_json(r: ChapterStanding, detail: bool) -> dict:
    out = {"chapter": r.chapter, "exercises_passed": r.exercises_passed, "exercises_total": r.exercises_total,
           "points_passed": r.points_passed, "points_total": r.points_total, "written_points": r.written_points,
           "last_pass": r.last_pass}
    if detail:
        out["exercises"] = [{"grade_id": e.exercise.grade_id, "title": e.exercise.title, "points": e.exercise.points,
                             "passed": e.passed is not None,
                             "first_passed": e.passed.first_passed if e.passed else None,
                             "last_passed": e.passed.last_passed if e.passed else None,
                             "passes": e.passed.passes if e.passed else 0} for e in r.exercises]
    return out


def as_json(rows: list[ChapterStanding], *, path: Path | None = None) -> dict:
    """What ``aecourse progress --json`` prints: the record's path, a dict per chapter (with its
    exercises), and the total."""
    return {"record": str(path) if path is not None else None,
            "chapters": [_row_json(r, True) for r in rows],
            "total": _row_json(totals(rows), False)}
