"""What the instructor hands over: a folder or an LMS zip, and optionally a roster.

Two layouts, mixed freely at the top of SUBMISSIONS (after wrapper folders an
archive adds, like ``export/``, are descended):

``<student>/<chapter-id>/<notebook>.ipynb``
    one folder per student, one per chapter (nbgrader's ``submitted/`` layout);
    other files in the chapter folder (data, helper modules) travel with it.
    ``<student>/<notebook>.ipynb`` also works when the notebook's name says which
    chapter it is (or ``chapter=`` is given).

``<student>_<anything>_<notebook>.ipynb``  (one file per student, as LMS exports name them)
    matched by ``pattern`` (a regular expression with named groups: ``student``
    required, ``notebook`` and/or ``chapter`` optional; default ``DEFAULT_PATTERN``).
    The chapter is the ``chapter`` group, else the chapter whose notebook the
    ``notebook`` group names (``01-dense.ipynb``, ``01-dense (1).ipynb``,
    ``01-dense-2.ipynb``), else ``chapter=``.

Every file that maps to no (student, chapter) is returned in ``unmapped`` with
the reason, never silently dropped.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATTERN = r"(?P<student>[^_]+)_(?:.*_)?(?P<notebook>[^_]+\.ipynb)"
SKIP = (".*", "__MACOSX", ".ipynb_checkpoints", "__pycache__", "*.pyc", "Thumbs.db", "desktop.ini")
CHAPTER_LIKE = re.compile(r"^\d\d-")
MAX_UNZIPPED_BYTES = 4 * 2**30
MAX_MEMBER_BYTES = 200 * 2**20


class IntakeError(ValueError):
    """The submissions or the roster cannot be read; the message says what to fix."""


@dataclass
class Submission:
    student: str
    assignment: str               # chapter id (as found; may be unknown)
    files: list[Path]             # candidate notebooks
    folder: Path | None = None    # chapter folder: its other files travel with the notebook
    label: str = ""               # where it came from, relative to SUBMISSIONS
    note: str = ""                # why there is nothing to grade (files empty)
    flags: list[str] = field(default_factory=list)
    names: dict[Path, str] = field(default_factory=dict)  # LMS file -> the notebook name inside it

    def name_of(self, path: Path) -> str:
        return self.names.get(path, path.name)


@dataclass
class Unmapped:
    path: str
    reason: str


def skip(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in SKIP)


def _valid_student(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not name.startswith(".") and "/" not in name \
        and "\\" not in name and "\0" not in name


def submissions_root(path: Path, pattern: str | None = None) -> Path:
    """Descend through wrapper folders an archive adds (``export/`` around the student folders).

    A lone folder is a student (not a wrapper) when it holds chapter folders, or notebooks
    whose names do not look like LMS files (``pattern``).
    """
    regex = compile_pattern(pattern)
    for _ in range(3):
        entries = [p for p in path.iterdir() if not skip(p.name)]
        dirs = [p for p in entries if p.is_dir()]
        if len(entries) != 1 or len(dirs) != 1:
            break
        inner = [p for p in dirs[0].iterdir() if not skip(p.name)]
        notebooks = [p for p in inner if p.is_file() and p.suffix == ".ipynb"]
        lms_files = [p for p in notebooks if regex.fullmatch(p.name)]
        if any(p.is_dir() and CHAPTER_LIKE.match(p.name) for p in inner) or (
                notebooks and len(lms_files) < len(notebooks)):
            break
        path = dirs[0]
    return path


def extract_zip(archive: Path, dest: Path) -> tuple[Path, list[Unmapped]]:
    """Extract an LMS zip safely: no absolute paths, no ``..``, no links, bounded sizes, dates kept."""
    skipped: list[Unmapped] = []
    total = 0
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise IntakeError(f"{archive} is not a readable zip file ({err}); download it again from the LMS") from None
    with zf:
        for info in zf.infolist():
            name = info.filename
            parts = Path(name.replace("\\", "/")).parts
            if info.is_dir():
                continue
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                skipped.append(Unmapped(name, "unsafe path in the zip (absolute or with ..); not extracted"))
                continue
            if ((info.external_attr >> 16) & 0o170000) == 0o120000:
                skipped.append(Unmapped(name, "a symbolic link in the zip; not extracted"))
                continue
            if info.file_size > MAX_MEMBER_BYTES or total + info.file_size > MAX_UNZIPPED_BYTES:
                skipped.append(Unmapped(name, f"too large ({info.file_size / 2**20:.0f} MB); not extracted"))
                continue
            total += info.file_size
            target = dest / Path(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            try:
                stamp = time.mktime(info.date_time + (0, 0, -1))
                os.utime(target, (stamp, stamp))
            except (OverflowError, ValueError, OSError):
                pass
    dest.mkdir(parents=True, exist_ok=True)
    return dest, skipped


_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|[-_ ]\d+|[-_ ](?:final|submission|copy|v\d+))+$", re.I)


def chapter_of_notebook(stem: str, names: dict[str, str], ids: list[str]) -> str | None:
    """Chapter of a notebook named ``stem`` (``01-dense``, ``01-dense (1)``, ``01-dense-2``...)."""
    low = stem.lower().strip()
    for candidate in (low, _COPY_SUFFIX.sub("", low)):
        if candidate in names:
            return names[candidate]
        if candidate in {i.lower() for i in ids}:
            return next(i for i in ids if i.lower() == candidate)
    for aid in sorted(ids, key=len, reverse=True):
        if low.startswith(aid.lower()):
            return aid
    return None


def discover(root: Path, *, ids: list[str], names: dict[str, str], pattern: str | None = None,
             chapter: str | None = None, exclude: list[Path] | None = None) -> tuple[list[Submission], list[Unmapped]]:
    """Every (student, chapter) under ``root`` and every file that maps to none."""
    regex = compile_pattern(pattern)
    excluded = {p.resolve() for p in exclude or [] if p.exists()}
    subs: list[Submission] = []
    unmapped: list[Unmapped] = []
    flat: dict[tuple[str, str], list[Path]] = {}
    flat_names: dict[Path, str] = {}

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix()

    def map_notebook(path: Path) -> str | None:
        return chapter_of_notebook(path.stem, names, ids) or chapter

    for entry in sorted(root.iterdir()):
        if skip(entry.name) or entry.is_symlink() or entry.resolve() in excluded:
            continue
        if entry.is_dir():
            if not _valid_student(entry.name):
                unmapped.append(Unmapped(rel(entry) + "/", "not a usable student name"))
                continue
            chapters = [p for p in sorted(entry.iterdir())
                        if p.is_dir() and not p.is_symlink() and not skip(p.name)]
            loose = [p for p in sorted(entry.iterdir()) if p.is_file() and not p.is_symlink() and not skip(p.name)]
            for folder in chapters:
                found = [p for p in sorted(folder.glob("*.ipynb")) if p.is_file() and not p.is_symlink()
                         and not skip(p.name)]
                subs.append(Submission(entry.name, folder.name, found, folder, rel(folder) + "/"))
            per_chapter: dict[str, list[Path]] = {}
            for path in loose:
                aid = map_notebook(path) if path.suffix == ".ipynb" else None
                if aid is None:
                    why = ("cannot tell which chapter this notebook is for; put it in "
                           f"{entry.name}/<chapter-id>/ or pass --chapter") if path.suffix == ".ipynb" \
                        else "not a notebook and not in a chapter folder"
                    unmapped.append(Unmapped(rel(path), why))
                else:
                    per_chapter.setdefault(aid, []).append(path)
            for aid, files in per_chapter.items():
                if any(s.student == entry.name and s.assignment == aid for s in subs):
                    unmapped += [Unmapped(rel(p), f"{entry.name}/{aid}/ already exists; loose copy ignored")
                                 for p in files]
                    continue
                subs.append(Submission(entry.name, aid, files, None, rel(entry) + "/"))
            if not chapters and not per_chapter:
                hint = f" (found {', '.join(p.name for p in loose)})" if loose else ""
                subs.append(Submission(entry.name, chapter or "", [], None, rel(entry) + "/",
                                       note=f"no chapter folder or notebook in {entry.name}/{hint}; expected "
                                            "<student>/<chapter-id>/<notebook>.ipynb"))
            continue
        if not entry.is_file():
            continue
        m = regex.fullmatch(entry.name)
        if not m:
            unmapped.append(Unmapped(rel(entry), f"file name does not match the pattern {regex.pattern!r} "
                                                  "(change it with --pattern)"))
            continue
        student = m.group("student").strip()
        if not _valid_student(student):
            unmapped.append(Unmapped(rel(entry), f"student part {student!r} is not a usable id"))
            continue
        groups = m.groupdict()
        aid = groups.get("chapter")
        if aid:
            aid = next((i for i in ids if i.lower() == aid.lower()), aid)
        else:
            nb_name = groups.get("notebook") or entry.name
            aid = chapter_of_notebook(Path(nb_name).stem, names, ids) if nb_name.endswith(".ipynb") else None
            aid = aid or chapter
        if not aid:
            unmapped.append(Unmapped(rel(entry), "cannot tell which chapter this file is for (its notebook part "
                                                  "names no chapter); pass --chapter"))
            continue
        if not entry.name.endswith(".ipynb"):
            unmapped.append(Unmapped(rel(entry), "not a notebook (.ipynb)"))
            continue
        flat.setdefault((student, aid), []).append(entry)
        flat_names[entry] = groups.get("notebook") or entry.name
    for (student, aid), files in sorted(flat.items()):
        if any(s.student == student and s.assignment == aid for s in subs):
            unmapped += [Unmapped(rel(p), f"{student}/{aid}/ folder already handed in; file ignored") for p in files]
            continue
        subs.append(Submission(student, aid, files, None, ", ".join(rel(p) for p in files),
                               names={p: flat_names[p] for p in files}))
    subs.sort(key=lambda s: (s.student, s.assignment))
    return subs, unmapped


def compile_pattern(pattern: str | None) -> re.Pattern:
    try:
        regex = re.compile(pattern or DEFAULT_PATTERN)
    except re.error as err:
        raise IntakeError(f"--pattern {pattern!r} is not a valid regular expression: {err}") from None
    if "student" not in regex.groupindex:
        raise IntakeError(f"--pattern {regex.pattern!r} needs a named group (?P<student>...) for the student id")
    return regex


@dataclass
class Student:
    id: str
    name: str = ""
    email: str = ""


ID_COLUMNS = ("id", "student", "student_id", "username", "login", "user")


def csv_table(text: str) -> tuple[csv.DictReader, dict[str, str]]:
    """A roster-like CSV (comma, semicolon or tab, as LMS exports vary): the row reader, and its header
    names lower-cased and stripped -> as written."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    return reader, {(h or "").strip().lower(): h for h in reader.fieldnames or []}


def read_roster(path: Path) -> list[Student]:
    """``id,name,email`` (header required; ``student``/``username`` also accepted for ``id``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise IntakeError(f"cannot read the roster {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise IntakeError(f"the roster {path} is not UTF-8 text; save it as CSV (UTF-8)") from None
    reader, header = csv_table(text)
    key = next((header[c] for c in ID_COLUMNS if c in header), None)
    if key is None:
        raise IntakeError(f"the roster {path} has no id column: its first line must be a header such as "
                          f"'id,name,email' (found: {', '.join(reader.fieldnames or []) or 'nothing'})")
    students, seen = [], set()
    for row in reader:
        sid = (row.get(key) or "").strip()
        if not sid or sid in seen:
            continue
        seen.add(sid)
        students.append(Student(sid, (row.get(header.get("name", ""), "") or "").strip(),
                                (row.get(header.get("email", ""), "") or "").strip()))
    if not students:
        raise IntakeError(f"the roster {path} lists no students")
    return students
