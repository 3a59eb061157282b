"""Grades into the LMS: the files Canvas's and Moodle's grade imports take, and a plain table.

``aecourse grades --gradebook DIR --students ROSTER --format canvas|moodle|csv --out FILE``
writes one line per roster student and one column per chapter, from the rows and
TA scores ``gradebook.read_back`` returns:

canvas
    Canvas's gradebook import CSV (Grades > Import): the columns ``Student``, ``ID``,
    ``SIS User ID``, ``SIS Login ID``, ``Section`` (as Canvas's own gradebook export
    writes them; Canvas matches a row to a student by ``ID``, else ``SIS User ID``,
    else ``SIS Login ID``), then one column per chapter, and under the header a
    ``Points Possible`` row with each chapter's maximum (Canvas's export writes it
    indented, ``    Points Possible``, and its importer recognises that line).  A
    chapter column Canvas does not know yet becomes a new assignment on import; to
    fill an existing one, name it as in Canvas's export (``--column 01-dense="Chapter 1 (1234)"``).
moodle
    Moodle's grade import CSV (Grades > Import > CSV file): ``First name``,
    ``Last name``, ``ID number``, ``Email address``, then one column per chapter and
    one ``<chapter> feedback`` column with the TAs' comments.  On import, *Identify
    user by* maps ``Email address`` (or ``ID number``) to the user field of that
    name; each chapter column maps to its grade item, each feedback column to
    that item's feedback.
csv
    ``student, name, email``, one column per chapter, ``total``.

The roster (``--students``, read by ``intake.read_roster``) may carry the LMS's
identifiers in extra columns, matched case-insensitively: ``canvas_id`` (or
``lms_id``), ``sis_user_id``, ``sis_login_id``, ``section``, ``id_number``,
``first_name``, ``last_name``.  A roster student without a submission gets ``0``
or a blank cell (``missing="zero"|"blank"``); a row whose written answers a TA
has not graded yet is left blank (and reported), so an unfinished score is never
uploaded as final; a submission from someone not in the roster is not written
(the LMS would reject it) but returned in ``unlisted`` and printed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .intake import csv_table, read_roster
from .results import Row, num

FORMATS = ("canvas", "moodle", "csv")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS = "    Points Possible"
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Email address"]
EXTRA = {"canvas_id": ("canvas_id", "lms_id"), "sis_user_id": ("sis_user_id",), "sis_login_id": ("sis_login_id",),
         "section": ("section",), "id_number": ("id_number", "idnumber"), "first_name": ("first_name", "firstname"),
         "last_name": ("last_name", "lastname", "surname")}


@dataclass
class Person:
    """A roster line with the LMS identifiers it has."""
    id: str
    name: str = ""
    email: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def lms_id(self) -> str:
        """The id an LMS knows this student by (for file names): canvas_id/lms_id, else id_number, else id."""
        return self.extra.get("canvas_id") or self.extra.get("id_number") or self.id

    def first_last(self) -> tuple[str, str]:
        if self.extra.get("first_name") or self.extra.get("last_name"):
            return self.extra.get("first_name", ""), self.extra.get("last_name", "")
        if "," in self.name:  # "Last, First"
            last, first = self.name.split(",", 1)
            return first.strip(), last.strip()
        parts = self.name.split()
        return (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else (self.name, "")


@dataclass
class Export:
    path: Path
    written: int
    unlisted: list[Row]          # graded rows of students not in the roster
    pending: list[Row]           # rows left blank: written answers no TA graded yet


def read_people(path: Path) -> list[Person]:
    """The roster (``intake.read_roster``: same ids, names, emails and errors) with its LMS columns."""
    students = read_roster(path)
    text = Path(path).read_text(encoding="utf-8-sig")
    reader, header = csv_table(text)
    by_value: dict[str, dict[str, str]] = {}
    for line in reader:
        values = {k: (line.get(h) or "").strip() for k, h in header.items()}
        for v in values.values():
            by_value.setdefault(v, values)
    people = []
    for s in students:
        values = by_value.get(s.id, {})
        extra = {key: next((values[c] for c in cols if values.get(c)), "") for key, cols in EXTRA.items()}
        people.append(Person(s.id, s.name, s.email, {k: v for k, v in extra.items() if v}))
    return people


def chapter_table(rows: list[Row]) -> tuple[list[str], dict[str, float], dict[tuple[str, str], Row]]:
    """(chapter ids, chapter -> max score, (student, chapter) -> row)."""
    chapters = sorted({r.assignment for r in rows if r.assignment and r.max_score is not None})
    maxima = {aid: next(r.max_score for r in rows if r.assignment == aid and r.max_score is not None)
              for aid in chapters}
    return chapters, maxima, {(r.student, r.assignment): r for r in rows}


def _cell(row: Row | None, missing: str) -> str:
    if row is None or row.status == "missing":
        return "0" if missing == "zero" else ""
    if any(i.by == "pending" for i in row.items):
        return ""
    return num(row.score)


def export(rows: list[Row], people: list[Person], fmt: str, out: Path, *, missing: str = "blank",
           comments: dict[tuple[str, str], dict[str, str]] | None = None,
           columns: dict[str, str] | None = None) -> Export:
    """Write the ``fmt`` file to ``out``; see the module docstring for each format."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if missing not in ("zero", "blank"):
        raise ValueError(f"missing must be 'zero' or 'blank', got {missing!r}")
    chapters, maxima, table = chapter_table(rows)
    titles = {aid: (columns or {}).get(aid, aid) for aid in chapters}
    known = {p.id for p in people}
    unlisted = [r for r in rows if r.student not in known and r.status != "missing"]
    pending = [r for r in rows if r.student in known and any(i.by == "pending" for i in r.items)]
    comments = comments or {}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if fmt == "canvas":
            w.writerow(CANVAS_COLUMNS + [titles[a] for a in chapters])
            w.writerow([CANVAS_POINTS, "", "", "", ""] + [num(maxima[a]) for a in chapters])
            for p in people:
                w.writerow([p.name or p.id, p.extra.get("canvas_id", ""), p.extra.get("sis_user_id", ""),
                            p.extra.get("sis_login_id", ""), p.extra.get("section", "")]
                           + [_cell(table.get((p.id, a)), missing) for a in chapters])
        elif fmt == "moodle":
            w.writerow(MOODLE_COLUMNS + [c for a in chapters for c in (titles[a], f"{titles[a]} feedback")])
            for p in people:
                first, last = p.first_last()
                line = [first, last, p.extra.get("id_number", ""), p.email]
                for a in chapters:
                    notes = comments.get((p.id, a), {})
                    line += [_cell(table.get((p.id, a)), missing),
                             " | ".join(f"{k}: {v}" for k, v in sorted(notes.items()))]
                w.writerow(line)
        else:
            w.writerow(["student", "name", "email"] + [titles[a] for a in chapters] + ["total"])
            for p in people:
                cells = [_cell(table.get((p.id, a)), missing) for a in chapters]
                total = sum(float(c) for c in cells if c)
                w.writerow([p.id, p.name, p.email] + cells + [num(total)])
    return Export(out, len(people), unlisted, pending)
