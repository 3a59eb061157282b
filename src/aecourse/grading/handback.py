"""Handing back: the grade tables with TAs' scores, feedback pages with their comments, LMS bundles.

After TAs graded in formgrader, ``aecourse grades --gradebook DIR --out OUT`` calls
``write_tables``: ``OUT/grades.csv`` and ``OUT/items.csv`` as ``aecourse grade``
writes them, with the TA's points in the items they scored (``graded_by`` ``ta``)
and three more columns kept apart from the grader's: ``auto_score`` (what the
autograder gave), ``ta_score`` (what TAs gave, from ``manual_score`` in the
gradebook) and ``ta_comments``; ``OUT/feedback/...`` is made again with those
scores and comments.

``aecourse feedback --gradebook DIR --out OUT [--students ROSTER]`` calls
``package``: per chapter, one page per student named by the roster's LMS id
(``OUT/<chapter>/<lms id>.html``, see ``lms.Person.lms_id``) and all of them in
``OUT/<chapter>-feedback.zip``, the form LMS bulk uploads take; and nbgrader's own
``generate_feedback`` into ``DIR/feedback/<student>/<chapter>/`` where formgrader
users expect it.

Every page is rendered by trusted code from the course directory's autograded
notebook (itself the grader's trusted feedback notebook: restored cells, so no
hidden tests; see ``gradebook``), the grader's scores and the TAs' comments.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from .gradebook import read_back
from .lms import Person
from .feedback import PENDING, render_html
from .notebooks import nbg
from .results import Row, num, write_outputs


def pages(course: Path, row: Row, comments: dict[str, str]) -> dict[str, str]:
    """notebook name -> feedback HTML for one row, with its current scores and the TAs' comments."""
    folder = Path(course) / "autograded" / row.student / row.assignment
    out = {}
    for name in sorted({i.notebook for i in row.items}):
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        mine = {i.grade_id: i for i in row.items if i.notebook == name}
        for cell in nb.get("cells", []):
            meta = nbg(cell)
            gid = meta.get("grade_id")
            if gid in mine:
                meta["score"], meta["points"] = mine[gid].score, mine[gid].max_score
            if gid in mine or gid in comments:
                meta["comment"] = comments.get(gid) or (PENDING if gid in mine and mine[gid].by == "pending" else None)
        items = mine.values()
        out[name] = render_html(nb, name, row.assignment, sum(i.score for i in items), sum(i.max_score for i in items))
    return out


def write_tables(course: Path, out: Path) -> list[Row]:
    """``grades.csv``, ``items.csv`` and ``feedback/`` in ``out``, with the TAs' scores and comments."""
    rows, comments = read_back(course)
    out = Path(out)
    for row in rows:
        written = []
        for name, page in pages(course, row, comments.get((row.student, row.assignment), {})).items():
            dest = out / "feedback" / row.student / row.assignment / f"{name}.html"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(page, encoding="utf-8")
            written.append(dest.relative_to(out).as_posix())
        if written:
            row.feedback = ", ".join(written)
    ids: list[str] = []
    for r in rows:
        ids += [i.grade_id for i in r.items if i.grade_id not in ids]
    write_outputs(rows, [], out, ids)
    _add_ta_columns(out, rows, comments)
    return rows


def _add_ta_columns(out: Path, rows: list[Row], comments: dict[tuple[str, str], dict[str, str]]) -> None:
    """auto_score / ta_score / ta_comments in grades.csv, a comment column in items.csv."""
    by_key = {(r.student, r.assignment): r for r in rows}
    for name, extra in (("grades.csv", ["auto_score", "ta_score", "ta_comments"]), ("items.csv", ["ta_comment"])):
        with open(out / name, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            lines, fields = list(reader), list(reader.fieldnames or [])
        with open(out / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields + extra)
            w.writeheader()
            for line in lines:
                notes = comments.get((line["student"], line["assignment"]), {})
                if name == "grades.csv":
                    row = by_key.get((line["student"], line["assignment"]))
                    items = row.items if row else []
                    line["auto_score"] = num(sum(i.score for i in items if i.by == "auto"))
                    line["ta_score"] = num(sum(i.score for i in items if i.by == "ta"))
                    line["ta_comments"] = " | ".join(f"{k}: {v}" for k, v in sorted(notes.items()))
                else:
                    line["ta_comment"] = notes.get(line["grade_id"], "")
                w.writerow(line)


def package(course: Path, out: Path, people: list[Person] | None = None, nbgrader: bool = True) -> dict:
    """Feedback pages per chapter named by LMS id, one zip per chapter; nbgrader's generate_feedback too.

    Returns {"zips": [paths], "files": n, "unlisted": [(student, chapter)], "nbgrader": message}.
    """
    rows, comments = read_back(course)
    by_id = {p.id: p for p in people} if people is not None else None
    out = Path(out)
    report: dict = {"zips": [], "files": 0, "unlisted": [], "nbgrader": ""}
    for aid in sorted({r.assignment for r in rows if r.status == "graded"}):
        folder = out / aid
        names = []
        for row in (r for r in rows if r.assignment == aid and r.status == "graded"):
            person = by_id.get(row.student) if by_id is not None else Person(row.student)
            if person is None:
                report["unlisted"].append((row.student, aid))
                continue
            made = pages(course, row, comments.get((row.student, aid), {}))
            for name, page in made.items():
                stem = person.lms_id if len(made) == 1 else f"{person.lms_id}-{name}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{stem}.html").write_text(page, encoding="utf-8")
                names.append(f"{stem}.html")
        if names:
            archive = out / f"{aid}-feedback.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for n in sorted(names):
                    zf.write(folder / n, n)
            report["zips"].append(archive)
            report["files"] += len(names)
    if nbgrader:
        report["nbgrader"] = "; ".join(filter(None, (generate_feedback(course, aid) for aid in
                                                     sorted({r.assignment for r in rows if r.status == "graded"}))))
    return report


def generate_feedback(course: Path, assignment: str) -> str:
    """``nbgrader generate_feedback ASSIGNMENT --force`` in the course directory; '' when it worked, else why."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force"],
                          cwd=course, capture_output=True, text=True, timeout=1800)
    text = (proc.stderr + proc.stdout).strip()
    if proc.returncode != 0 or "ERROR" in text:
        errors = [ln for ln in text.splitlines() if "ERROR" in ln] or text.splitlines()[-1:]
        return f"{assignment}: " + (errors[0] if errors else f"exited with {proc.returncode}")
    return ""

