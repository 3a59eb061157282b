"""The LMS files on their own (no grading): Canvas's and Moodle's import CSVs from rows and a roster.

The end-to-end version (a class graded into a gradebook, TA scores, the CLI) is tests/test_gradebook.py.
"""
from __future__ import annotations

import csv
import io

import pytest

from aecourse.grading import IntakeError, Row
from aecourse.grading.gradebook import formgrader_notebook
from aecourse.grading.lms import CANVAS_COLUMNS, MOODLE_COLUMNS, export, read_people
from aecourse.grading.notebooks import Item

ROSTER = ("id,name,email,canvas_id,sis_user_id,sis_login_id,section,id_number\n"
          "ann,\"Ames, Ann\",ann@x.example,11,U1,ann.a,S1,N1\n"
          "ben,Ben Bo,ben@x.example,12,U2,ben.b,S2,N2\n"
          "cat,Cat Cy,cat@x.example,13,U3,cat.c,S1,N3\n"
          "dan,Dan Du,dan@x.example,14,U4,dan.d,S2,N4\n")


def row(student: str, aid: str, auto: float, *, written: str | None = None, status: str = "graded") -> Row:
    items = [Item("test_a", auto, 3.0, aid)]
    if written is not None:
        items.append(Item("written_b", 2.0 if written == "ta" else 0.0, 2.0, aid, True, written))
    return Row(student, aid, sum(i.score for i in items), sum(i.max_score for i in items), status, "", items=items)


@pytest.fixture()
def setup(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    rows = [row("ann", "01-a", 3, written="ta"), row("ben", "01-a", 1, written="pending"),
            row("ann", "02-b", 2), row("ben", "02-b", 3), row("eve", "01-a", 3, written="ta"),
            Row("dan", "02-b", 0.0, 3.0, "missing", "no submission", items=[Item("test_a", 0.0, 3.0, "02-b")])]
    return tmp_path, read_people(roster), rows


def lines(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_roster_lms_columns(setup):
    _, people, _ = setup
    ann = next(p for p in people if p.id == "ann")
    assert (ann.name, ann.email, ann.lms_id) == ("Ames, Ann", "ann@x.example", "11")
    assert ann.extra == {"canvas_id": "11", "sis_user_id": "U1", "sis_login_id": "ann.a", "section": "S1",
                         "id_number": "N1"}
    assert ann.first_last() == ("Ann", "Ames")
    assert next(p for p in people if p.id == "ben").first_last() == ("Ben", "Bo")


def test_canvas_columns_points_possible_and_cells(setup):
    tmp, people, rows = setup
    done = export(rows, people, "canvas", tmp / "canvas.csv")
    got = lines(tmp / "canvas.csv")
    assert got[0] == CANVAS_COLUMNS + ["01-a", "02-b"] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                                                            "01-a", "02-b"]
    assert got[1] == ["    Points Possible", "", "", "", "", "5", "3"]
    body = {line[1]: line for line in got[2:]}
    assert body["11"] == ["Ames, Ann", "11", "U1", "ann.a", "S1", "5", "2"]
    assert body["12"][5:] == ["", "3"]       # written answer not graded yet: blank, not a final 1
    assert body["13"][5:] == ["", ""]        # no submission at all
    assert body["14"][5:] == ["", ""]        # status missing
    assert [r.student for r in done.unlisted] == ["eve"] and [r.student for r in done.pending] == ["ben"]
    export(rows, people, "canvas", tmp / "zero.csv", missing="zero")
    zero = {line[1]: line for line in lines(tmp / "zero.csv")[2:]}
    assert zero["13"][5:] == ["0", "0"] and zero["14"][6] == "0" and zero["12"][5] == ""


def test_moodle_columns_and_feedback(setup):
    tmp, people, rows = setup
    export(rows, people, "moodle", tmp / "moodle.csv", comments={("ann", "01-a"): {"written_b": "Clear."}},
           columns={"01-a": "Chapter A"})
    got = lines(tmp / "moodle.csv")
    assert got[0] == MOODLE_COLUMNS + ["Chapter A", "Chapter A feedback", "02-b", "02-b feedback"]
    assert MOODLE_COLUMNS == ["First name", "Last name", "ID number", "Email address"]
    body = {line[3]: line for line in got[1:]}
    assert body["ann@x.example"] == ["Ann", "Ames", "N1", "ann@x.example", "5", "written_b: Clear.", "2", ""]
    assert "eve" not in (tmp / "moodle.csv").read_text()


def test_bad_arguments_say_what_is_wrong(setup, tmp_path):
    tmp, people, rows = setup
    with pytest.raises(ValueError, match="format must be one of"):
        export(rows, people, "blackboard", tmp / "x.csv")
    with pytest.raises(ValueError, match="missing must be"):
        export(rows, people, "csv", tmp / "x.csv", missing="none")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nA,a@x\n")
    with pytest.raises(IntakeError, match="no id column"):
        read_people(bad)


def test_formgrader_notebook_cannot_run_html():
    release = {"cells": [{"cell_type": "markdown", "source": "<b>Instructions</b>", "metadata": {}}]}
    nb = {"cells": [
        {"cell_type": "markdown", "source": "<b>Instructions</b>", "metadata": {}},
        {"cell_type": "markdown", "source": "my <img src=x onerror=alert(1)> answer", "metadata": {},
         "attachments": {"a.png": {}}},
        {"cell_type": "code", "source": "x", "metadata": {}, "outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {"text/html": "<script>alert(1)</script>", "application/javascript": "alert(1)",
                      "image/svg+xml": "<svg onload=alert(1)>", "text/plain": "fine", "image/png": "iVBOR"}}]}]}
    safe = formgrader_notebook(nb, release)
    assert safe["cells"][0]["source"] == "<b>Instructions</b>"             # the release's own text stays
    assert safe["cells"][1]["source"] == "my &lt;img src=x onerror=alert(1)&gt; answer"
    assert "attachments" not in safe["cells"][1]
    assert set(safe["cells"][2]["outputs"][0]["data"]) == {"text/plain", "image/png"}
