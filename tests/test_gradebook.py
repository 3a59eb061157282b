"""The instructor's loop: a persistent nbgrader gradebook, TA grading, the LMS files, feedback back.

One small class of the fixture course with a written answer (``gradehelp.with_written_answer``:
a manually graded markdown cell, 2 points) is graded once with ``gradebook=True``; then a TA
scores the written answers through nbgrader's own ``Gradebook`` API (what formgrader does), and
``aecourse grades`` / ``aecourse feedback`` read them back.  Students:

    alice    the solution and a written answer          auto 4 / 4, written pending, then TA 2
    bob      the blank release, written answer with raw HTML                    auto 0, then TA 1
    mallory  the solution, and writes manual scores into its own gradebook copy    auto 4, pending
    dave     the solution, not in the roster
    carol    in the roster, nothing handed in
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aecourse.grading import grade
from aecourse.grading.gradebook import read_back
from aecourse.release import release
from browserhelp import CHROMIUM, JupyterServer, http_get, start_playwright
from conftest import copy_minicourse
from gradehelp import (WRITTEN_ID, WRITTEN_SOLUTION, add_chapter, auto_points, load, read_csv, submit,
                       total_points, with_cell, with_written_answer)

pytestmark = [pytest.mark.slow]
MINI = "99-mini"
SELF_GRADING = '''
import glob, sqlite3
for db in glob.glob("../../../gradebook.db") + glob.glob("../../../../*/gradebook.db") + glob.glob("/box/*/gradebook.db"):
    try:
        con = sqlite3.connect(db)
        con.execute("UPDATE grade SET manual_score = 99, auto_score = 99")
        con.execute("UPDATE comment SET manual_comment = 'self-graded'")
        con.commit()
    except Exception as err:
        print("db:", err)
answer_q1 = "b"
'''
ROSTER = ("id,name,email,canvas_id,sis_user_id,sis_login_id,section,id_number\n"
          "alice,Alice Archer,alice@uni.example,1001,S-1,alice.a,Section A,N1\n"
          "bob,\"Baker, Bob\",bob@uni.example,1002,S-2,bob.b,Section B,N2\n"
          "carol,Carol Clark,carol@uni.example,1003,S-3,carol.c,Section A,N3\n")
TA_COMMENT = "Names compression and the PCA link: full marks."


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aecourse.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradebook")
    root = copy_minicourse(tmp / "course")
    source = with_written_answer(load(root / "solutions" / MINI / f"{MINI}.ipynb"))
    add_chapter(root, MINI, source)
    release(root)
    blank = load(root / "course" / MINI / f"{MINI}.ipynb")
    subs, out = tmp / "subs", tmp / "out"
    submit(subs, "alice", MINI, source)
    submit(subs, "bob", MINI, with_cell(blank, WRITTEN_ID, "Bob's answer <script>alert('ta')</script> compression"))
    submit(subs, "mallory", MINI, with_cell(source, "ex_q1", SELF_GRADING))
    submit(subs, "dave", MINI, source)
    roster = tmp / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    rows = grade(subs, out, jobs=2, timeout=120, memory_limit=2, root=root, students=roster, gradebook=True,
                 progress=False)
    return {"tmp": tmp, "root": root, "source": source, "subs": subs, "out": out, "roster": roster,
            "course": out / "gradebook", "rows": {r.student: r for r in rows}}


def gradebook(course: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}")


def test_every_graded_submission_is_in_the_gradebook(book):
    from nbgrader.api import MissingEntry

    table = {r["student"]: r for r in read_csv(book["out"] / "grades.csv")}
    assert set(table) == {"alice", "bob", "carol", "dave", "mallory"}
    with gradebook(book["course"]) as gb:
        assert {s.id for s in gb.students} == {"alice", "bob", "dave", "mallory"}  # carol handed nothing in
        assert gb.find_student("alice").email == "alice@uni.example"
        for student in ("alice", "bob", "dave", "mallory"):
            nb = gb.find_submission_notebook(MINI, MINI, student)
            grades = {g.name: g for g in nb.grades}
            assert set(grades) == {"test_square", "test_q1", "test_blank", "task_reflect", WRITTEN_ID}
            for gid in ("test_square", "test_q1", "test_blank"):
                assert float(table[student][gid]) == grades[gid].auto_score, (student, gid)
                assert grades[gid].manual_score is None
            assert grades[WRITTEN_ID].auto_score is None and grades[WRITTEN_ID].needs_manual_grade
            assert table[student][WRITTEN_ID] == "pending"
            assert "needs_manual" in table[student]["flags"].split() and table[student]["review"] == "yes"
            assert float(table[student]["score"]) == nb.score
        with pytest.raises(MissingEntry):
            gb.find_submission(MINI, "carol")
    alice = table["alice"]
    assert (alice["status"], alice["score"], alice["max_score"]) == ("graded", "4", "6")
    assert "4 auto / 2 pending" in alice["detail"]
    items = [r for r in read_csv(book["out"] / "items.csv") if r["student"] == "alice"]
    assert {(r["grade_id"], r["score"], r["graded_by"]) for r in items} >= {(WRITTEN_ID, "pending", "pending"),
                                                                            ("test_square", "2", "auto")}


def test_formgrader_course_directory(book):
    course = book["course"]
    assert (course / "nbgrader_config.py").is_file()
    for student in ("alice", "bob", "dave", "mallory"):
        path = course / "autograded" / student / MINI / f"{MINI}.ipynb"
        text = path.read_text(encoding="utf-8")
        assert "hidden-test-marker" not in text and "mark-scheme-marker" not in text
    alice = load(course / "autograded" / "alice" / MINI / f"{MINI}.ipynb")
    assert WRITTEN_SOLUTION in json.dumps(alice)
    bob = json.dumps(load(course / "autograded" / "bob" / MINI / f"{MINI}.ipynb"))
    assert "<script>" not in bob and "&lt;script&gt;" in bob  # the learner's raw HTML cannot run in formgrader


def test_a_score_written_into_the_sandbox_gradebook_is_ignored(book):
    row = book["rows"]["mallory"]
    assert (row.status, row.score) == ("graded", 4)
    assert "gradebook_tampered" in row.flags
    written = next(i for i in row.items if i.grade_id == WRITTEN_ID)
    assert (written.score, written.by) == (0.0, "pending")
    with gradebook(book["course"]) as gb:
        nb = gb.find_submission_notebook(MINI, MINI, "mallory")
        assert all(g.manual_score is None for g in nb.grades)
        assert all(c.manual_comment is None for c in nb.comments)
        assert gb.find_grade(WRITTEN_ID, MINI, MINI, "mallory").auto_score is None


@pytest.fixture(scope="module")
def ta(book):
    """A TA grades alice's and bob's written answers (as formgrader does: manual_score, manual_comment)."""
    with gradebook(book["course"]) as gb:
        for student, points, note in (("alice", 2, TA_COMMENT), ("bob", 1, "Only half of it.")):
            g = gb.find_grade(WRITTEN_ID, MINI, MINI, student)
            g.manual_score = points
            g.needs_manual_grade = False
            gb.find_comment(WRITTEN_ID, MINI, MINI, student).manual_comment = note
        gb.db.commit()
    tmp, course, roster = book["tmp"], book["course"], str(book["roster"])
    runs = {
        "table": cli("grades", "--gradebook", str(course), "--out", str(tmp / "final"), cwd=tmp),
        "canvas": cli("grades", "--gradebook", str(course), "--students", roster, "--format", "canvas",
                      "--out", str(tmp / "canvas.csv"), cwd=tmp),
        "moodle": cli("grades", "--gradebook", str(course), "--students", roster, "--format", "moodle",
                      "--out", str(tmp / "moodle.csv"), cwd=tmp),
        "csv": cli("grades", "--gradebook", str(course), "--students", roster, "--format", "csv",
                   "--missing", "zero", "--out", str(tmp / "plain.csv"), cwd=tmp),
        "feedback": cli("feedback", "--gradebook", str(course), "--students", roster, "--out",
                        str(tmp / "handback"), cwd=tmp),
    }
    for name, proc in runs.items():
        assert proc.returncode == 0, (name, proc.stdout[-2000:], proc.stderr[-3000:])
    return runs


def test_ta_scores_and_comments_reach_the_grade_tables(book, ta):
    final = book["tmp"] / "final"
    table = {r["student"]: r for r in read_csv(final / "grades.csv")}
    alice, bob, mallory = table["alice"], table["bob"], table["mallory"]
    assert (alice["score"], alice["max_score"], alice["auto_score"], alice["ta_score"]) == ("6", "6", "4", "2")
    assert alice[WRITTEN_ID] == "2" and TA_COMMENT in alice["ta_comments"]
    assert "needs_manual" not in alice["flags"].split()
    assert (bob["score"], bob["ta_score"], bob[WRITTEN_ID]) == ("1", "1", "1")
    # full marks only with the TA's points: mallory's written answer is still pending
    assert (mallory["score"], mallory[WRITTEN_ID], mallory["ta_score"]) == ("4", "pending", "0")
    assert "needs_manual" in mallory["flags"].split()
    items = {(r["student"], r["grade_id"]): r for r in read_csv(final / "items.csv")}
    assert (items[("alice", WRITTEN_ID)]["graded_by"], items[("alice", WRITTEN_ID)]["score"]) == ("ta", "2")
    assert items[("alice", WRITTEN_ID)]["ta_comment"] == TA_COMMENT
    assert items[("alice", "test_square")]["graded_by"] == "auto"
    page = (final / "feedback" / "alice" / MINI / f"{MINI}.html").read_text(encoding="utf-8")
    assert TA_COMMENT in page and "hidden-test-marker" not in page


def test_full_marks_only_with_the_ta_points(book, ta):
    source = book["source"]
    assert auto_points(source) == 4 and total_points(source) == 6
    assert book["rows"]["alice"].score == 4 < book["rows"]["alice"].max_score == 6
    rows, comments = read_back(book["course"])
    alice = next(r for r in rows if r.student == "alice")
    assert alice.score == alice.max_score == 6
    assert comments[("alice", MINI)][WRITTEN_ID] == TA_COMMENT


def test_canvas_import_file(book, ta):
    text = (book["tmp"] / "canvas.csv").read_text(encoding="utf-8")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", MINI]
    assert lines[1] == ["    Points Possible", "", "", "", "", "6"]
    body = {line[1]: line for line in lines[2:]}
    assert body["1001"] == ["Alice Archer", "1001", "S-1", "alice.a", "Section A", "6"]
    assert body["1002"] == ["Baker, Bob", "1002", "S-2", "bob.b", "Section B", "1"]
    assert body["1003"][-1] == ""  # no submission, --missing blank (the default)
    assert len(lines) == 5  # dave (not in the roster) is not in the file...
    assert "not in the roster, not exported: dave/99-mini" in ta["canvas"].stdout  # ...but listed


def test_moodle_import_file(book, ta):
    lines = list(csv.reader(io.StringIO((book["tmp"] / "moodle.csv").read_text(encoding="utf-8"))))
    assert lines[0] == ["First name", "Last name", "ID number", "Email address", MINI, f"{MINI} feedback"]
    body = {line[3]: line for line in lines[1:]}
    assert body["alice@uni.example"][:5] == ["Alice", "Archer", "N1", "alice@uni.example", "6"]
    assert TA_COMMENT in body["alice@uni.example"][5]
    assert body["bob@uni.example"][:2] == ["Bob", "Baker"]
    assert body["carol@uni.example"][4] == ""
    plain = {r["student"]: r for r in read_csv(book["tmp"] / "plain.csv")}
    assert (plain["alice"][MINI], plain["carol"][MINI], plain["alice"]["total"]) == ("6", "0", "6")


def test_feedback_bundle_for_the_lms(book, ta):
    hb = book["tmp"] / "handback"
    with zipfile.ZipFile(hb / f"{MINI}-feedback.zip") as zf:
        assert sorted(zf.namelist()) == ["1001.html", "1002.html"]  # roster students with a graded submission
        alice = zf.read("1001.html").decode("utf-8")
    assert TA_COMMENT in alice and "hidden-test-marker" not in alice and "mark-scheme-marker" not in alice
    assert "not in the roster, no page: dave/99-mini" in ta["feedback"].stdout
    # nbgrader's own generate_feedback, where formgrader users look for it
    ours = book["course"] / "feedback" / "alice" / MINI / f"{MINI}.html"
    assert ours.is_file()
    page = ours.read_text(encoding="utf-8")
    assert TA_COMMENT in page and "hidden-test-marker" not in page


def test_rerun_adds_changed_submissions_and_keeps_ta_scores(book, ta):
    submit(book["subs"], "bob", MINI, book["source"])  # bob hands in again: now the solution
    rows = {r.student: r for r in grade(book["subs"], book["out"], root=book["root"], students=book["roster"],
                                        gradebook=True, timeout=120, memory_limit=2, progress=False)}
    assert not rows["bob"].cached and rows["bob"].score == 4
    assert rows["alice"].cached
    with gradebook(book["course"]) as gb:
        bob = gb.find_grade(WRITTEN_ID, MINI, MINI, "bob")
        assert (bob.manual_score, gb.find_comment(WRITTEN_ID, MINI, MINI, "bob").manual_comment) == \
            (1, "Only half of it.")
        assert gb.find_grade("test_square", MINI, MINI, "bob").auto_score == 2
        assert gb.find_grade(WRITTEN_ID, MINI, MINI, "alice").manual_score == 2
    again = {r.student: r for r in read_back(book["course"])[0]}
    assert again["bob"].score == 5 and again["alice"].score == 6


@pytest.mark.timeout(300)
def test_formgrader_lists_and_opens_the_submissions(book, ta, tmp_path):
    """nbgrader's formgrader, in the browser tests' JupyterLab server, run from the course directory."""
    api = start_playwright()
    server = JupyterServer(book["course"], tmp_path / "jupyter")
    try:
        server.start()
        status, body = http_get(server.url + f"/formgrader/api/submitted_notebooks/{MINI}/{MINI}?token={server.token}",
                                timeout=30)
        assert status == 200, (body[:500], server.log_tail())
        listed = json.loads(body)
        assert {s["student"] for s in listed} == {"alice", "bob", "dave", "mallory"}
        alice = next(s for s in listed if s["student"] == "alice")
        browser = api.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            page.goto(server.page("formgrader/manage_students"))
            page.wait_for_selector("text=alice", timeout=60_000)
            page.goto(server.page(f"formgrader/gradebook/{MINI}/{MINI}"))
            page.wait_for_selector("text=Submission #", timeout=60_000)
            page.goto(server.page(f"formgrader/submissions/{alice['id']}/"))
            page.wait_for_selector(f"text={WRITTEN_SOLUTION[:30]}", timeout=60_000)
            assert page.locator(f"input.score#{WRITTEN_ID}").count() == 1  # the TA's score box for it
        finally:
            browser.close()
    finally:
        server.stop()
        api.stop()
