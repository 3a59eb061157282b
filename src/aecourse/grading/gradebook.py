"""The persistent nbgrader course directory: one real gradebook for formgrader, kept across runs.

``aecourse grade ... --gradebook DIR`` (default ``OUT/gradebook``) writes, after
every run, an nbgrader course directory a TA can open with formgrader:

    DIR/nbgrader_config.py                 course id, the gradebook's URL (relative: DIR can move)
    DIR/gradebook.db                       students, assignments (chapters), notebooks, cells,
                                           every submission with its autograded scores
    DIR/autograded/<student>/<chapter>/<notebook>.ipynb   what formgrader shows for each submission
    DIR/aecourse-rows.json                 the grader's rows (status, flags, detail, auto scores)
    DIR/feedback/<student>/<chapter>/      ``nbgrader generate_feedback``'s pages (``aecourse feedback``)

Run ``nbgrader formgrader`` (or JupyterLab's Formgrader) from DIR.

**Who writes what.**  Only trusted code writes DIR, and only after the checks
``grade()`` already made: the chapters' structure (cells, points, checksums) is
copied from the master gradebook built from ``solutions/``; a submission's
``auto_score`` per cell is the grader's own (``results.read_grades``: clipped to
the master, manual scores in the box's copy ignored); the autograded notebook is
the grader's trusted feedback notebook (the restored cells, never cells the box
wrote; outputs reduced to text and images, so nothing a submission printed can
run as HTML or JavaScript in a TA's formgrader page; raw HTML in the learner's own
markdown is escaped).  Nothing the box wrote is copied as such.

**Re-runs keep what TAs entered.**  Writing goes through nbgrader's ``Gradebook``
API: a re-graded submission's ``auto_score`` is updated, its ``manual_score``,
``manual_comment`` and extra credit (what formgrader writes) are never touched.
As nbgrader's own ``SaveAutoGrades`` does, a cell a TA had already scored is
marked ``needs_manual_grade`` again when its autograded score changes, and a
manually graded answer stays ``needs_manual_grade`` until a TA scores it.

**Reading back** (``read_back``): the rows come from ``aecourse-rows.json`` (what
the grader decided); the only things taken from ``gradebook.db`` are the TA's
``manual_score`` (clipped to the cell's points) and ``manual_comment`` and
``extra_credit``.  A manual item with no TA score stays ``pending``.
"""

from __future__ import annotations

import datetime
import html
import json
import re
import shutil
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

from .notebooks import Chapter, Item, text_of
from .results import Row

ROWS_NAME = "aecourse-rows.json"
COURSE_ID = "aecourse"
CONFIG = '''# written by `aecourse grade --gradebook`: run `nbgrader formgrader` (or JupyterLab) from this folder
import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "{course}"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
'''
SAFE_OUTPUT = ("text/plain", "image/png", "image/jpeg")
UNSAFE_ID = re.compile(r"^\.|[/\\\x00]")


def default_dir(out: Path) -> Path:
    return Path(out) / "gradebook"


def _url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def submitted(course: Path) -> set[tuple[str, str]]:
    """(student, chapter) of every submission the course directory holds (empty when there is none)."""
    from nbgrader.api import Gradebook

    if not (Path(course) / "gradebook.db").is_file():
        return set()
    with Gradebook(_url(course)) as gb:
        return {(s.student.id, s.assignment.name) for a in gb.assignments for s in a.submissions}


def _copy_structure(gb, chapter: Chapter, scratch: Path) -> None:
    """The chapter as nbgrader knows it (notebooks, grade/solution/task/source cells), from the master."""
    from nbgrader.api import Gradebook

    master = scratch / f"master-{chapter.id}.db"
    master.write_bytes(chapter.files["gradebook.db"])
    with Gradebook(f"sqlite:///{master}") as src:
        a = src.find_assignment(chapter.id)
        gb.update_or_create_assignment(chapter.id)
        for nb in a.notebooks:
            gb.update_or_create_notebook(nb.name, chapter.id)
            for c in nb.grade_cells:
                gb.update_or_create_grade_cell(c.name, nb.name, chapter.id, max_score=c.max_score,
                                               cell_type=c.cell_type)
            for c in nb.solution_cells:
                gb.update_or_create_solution_cell(c.name, nb.name, chapter.id)
            for c in nb.task_cells:
                gb.update_or_create_task_cell(c.name, nb.name, chapter.id, max_score=c.max_score,
                                              cell_type=c.cell_type)
            for c in nb.source_cells:
                gb.update_or_create_source_cell(c.name, nb.name, chapter.id, cell_type=c.cell_type,
                                                locked=c.locked, source=c.source, checksum=c.checksum)


def formgrader_notebook(nb: dict, release: dict) -> dict:
    """The trusted feedback notebook made safe to render in a TA's browser (formgrader's page).

    Outputs keep only text and PNG/JPEG images (no HTML, SVG, JavaScript, widgets);
    markdown cells the learner wrote (not one of the release's texts) have raw HTML escaped.
    """
    nb = json.loads(json.dumps(nb))
    ours = {text_of(c) for c in release.get("cells", []) if c.get("cell_type") == "markdown"}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown" and text_of(cell) not in ours:
            cell["source"] = html.escape(text_of(cell), quote=False)
            cell.pop("attachments", None)
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if isinstance(out.get("data"), dict):
                out["data"] = {k: v for k, v in out["data"].items() if k in SAFE_OUTPUT}
    return nb


def record(course: Path, chapters: dict[str, Chapter], rows: list[Row], staged: Path, all_rows: list[Row]) -> int:
    """Write the freshly graded ``rows`` (their notebooks staged under ``staged``) into ``course``.

    ``all_rows`` (this run's whole table) replace their entries in ``aecourse-rows.json``.
    Returns the number of submissions written.
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(course=COURSE_ID), encoding="utf-8")
    written = 0
    db = course / "gradebook.db"
    if not db.exists() and chapters:
        # a new gradebook starts as a copy of a master (schema and alembic stamp, no submissions): nbgrader
        # would otherwise run the `alembic` command to stamp a fresh one, which needs the venv on PATH
        db.write_bytes(next(iter(chapters.values())).files["gradebook.db"])
    scratch = Path(tempfile.mkdtemp(prefix="aecourse-gradebook-"))
    try:
        with Gradebook(_url(course), course_id=COURSE_ID) as gb:
            for aid in sorted({r.assignment for r in rows if r.assignment in chapters}):
                _copy_structure(gb, chapters[aid], scratch)
            for row in rows:
                chapter = chapters.get(row.assignment)
                folder = staged / row.student / row.assignment
                if row.status != "graded" or chapter is None or UNSAFE_ID.search(row.student) \
                        or not all((folder / f"{n}.ipynb").is_file() for n in chapter.notebooks):
                    continue
                gb.update_or_create_student(row.student, first_name=row.name or None, email=row.email or None)
                try:
                    gb.find_submission(row.assignment, row.student)
                except MissingEntry:
                    with warnings.catch_warnings():  # SQLAlchemy's autoflush notes while nbgrader builds it
                        warnings.simplefilter("ignore")
                        gb.add_submission(row.assignment, row.student,
                                          timestamp=datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
                scores = {(i.notebook, i.grade_id): i for i in row.items}
                for name in chapter.notebooks:
                    for ref in chapter.items:
                        if ref.notebook != name:
                            continue
                        item = scores.get((name, ref.grade_id))
                        try:
                            g = gb.find_grade(ref.grade_id, name, row.assignment, row.student)
                        except MissingEntry:
                            continue
                        if ref.manual:  # a written answer: pending until a TA scores it
                            g.auto_score = None
                            g.needs_manual_grade = g.manual_score is None
                            continue
                        old = g.auto_score
                        g.auto_score = min(max(item.score if item else 0.0, 0.0), ref.max_score)
                        if g.manual_score is None:
                            g.needs_manual_grade = False
                        elif old != g.auto_score:  # a TA's override is reviewed again when the code's score moved
                            g.needs_manual_grade = True
                    target = course / "autograded" / row.student / row.assignment
                    target.mkdir(parents=True, exist_ok=True)
                    nb = json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))
                    safe = formgrader_notebook(nb, chapter.release_nbs[name])
                    (target / f"{name}.ipynb").write_text(json.dumps(safe, indent=1), encoding="utf-8")
                written += 1
            gb.db.commit()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _merge_rows(course, all_rows)
    return written


def _merge_rows(course: Path, rows: list[Row]) -> None:
    path = course / ROWS_NAME
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    for r in rows:
        data = asdict(r)
        data["cached"] = False
        kept[f"{r.student}/{r.assignment}"] = data
    path.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")


def load_rows(course: Path) -> list[Row]:
    """The grader's rows stored in ``course`` (what ``aecourse grade`` decided), sorted."""
    path = Path(course) / ROWS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{course} is not a course directory written by `aecourse grade --gradebook` "
                                f"(no {ROWS_NAME})")
    rows = []
    for data in json.loads(path.read_text(encoding="utf-8")).values():
        data = dict(data)
        data["items"] = [Item(**i) for i in data.get("items", [])]
        rows.append(Row(**data))
    return sorted(rows, key=lambda r: (r.student, r.assignment))


def read_back(course: Path) -> tuple[list[Row], dict[tuple[str, str], dict[str, str]]]:
    """The rows with the TAs' scores applied, and the TAs' comments: (rows, {(student, chapter): {cell: comment}}).

    From ``gradebook.db`` only ``manual_score`` (clipped to [0, points]), ``extra_credit`` and
    ``manual_comment`` are read: what formgrader writes. Everything else is the grader's row.
    """
    from nbgrader.api import Gradebook, MissingEntry

    rows = load_rows(course)
    comments: dict[tuple[str, str], dict[str, str]] = {}
    with Gradebook(_url(course)) as gb:
        for row in rows:
            if row.status != "graded":
                continue
            try:
                sub = gb.find_submission(row.assignment, row.student)
            except MissingEntry:
                continue
            ta: dict[tuple[str, str], tuple[float | None, float]] = {}
            notes: dict[str, str] = {}
            for snb in sub.notebooks:
                for g in snb.grades:
                    ta[(snb.name, g.name)] = (g.manual_score, float(g.extra_credit or 0.0))
                for c in snb.comments:
                    if c.manual_comment:
                        notes[c.name] = c.manual_comment
            for item in row.items:
                manual, extra = ta.get((item.notebook, item.grade_id), (None, 0.0))
                if manual is not None:
                    item.score = min(max(float(manual), 0.0), item.max_score) + max(extra, 0.0)
                    item.by = "ta"
            row.score = sum(i.score for i in row.items)
            pending = [i for i in row.items if i.by == "pending"]
            if not pending and "needs_manual" in row.flags:
                row.flags.remove("needs_manual")
                row.review = bool(row.flags)
                row.detail = re.sub(r"(; )?score [\d.e+-]+ auto / [\d.e+-]+ pending: [^;]*", "", row.detail)
            by_ta = [i.grade_id for i in row.items if i.by == "ta"]
            if by_ta:
                row.detail += f"; TA scored {', '.join(by_ta)}"
            if notes:
                comments[(row.student, row.assignment)] = notes
    return rows, comments
