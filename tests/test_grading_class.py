"""Grading a real class: LMS intake, roster, restoring cells, flags, the cache, the CLI.

Unit tests (fast) cover intake (``discover``, patterns, roster), ``restore`` and
``suspicious_code`` on notebooks built from the mini course; one CLI run grades
an LMS-style zip with a roster, then ``grade`` runs again on the same output to
show that only changed submissions are graded again.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from aecourse.grading import IntakeError, grade
from aecourse.grading.intake import chapter_of_notebook, compile_pattern, discover, read_roster
from aecourse.grading.notebooks import restore, suspicious_code, which_chapter
from gradehelp import load, nbg as meta_of, partial, read_csv, renamed_chapter, with_cell, without_cells

MINI = "99-mini"


@pytest.fixture(scope="module")
def nbs(minicourse):
    return {"source": load(minicourse / "solutions" / MINI / f"{MINI}.ipynb"),
            "release": load(minicourse / "course" / MINI / f"{MINI}.ipynb")}


def ids(nb: dict) -> list:
    return [meta_of(c).get("grade_id") for c in nb["cells"]]


# ------------------------------------------------------------------ intake
def test_chapter_of_notebook_names():
    names, chapters = {"01-dense": "01-dense", "02-sparse": "02-sparse"}, ["01-dense", "02-sparse"]
    for stem in ("01-dense", "01-dense (1)", "01-Dense-2", "01-dense_final", "01-dense copy"):
        assert chapter_of_notebook(stem, names, chapters) == "01-dense", stem
    assert chapter_of_notebook("homework", names, chapters) is None


def test_discover_lms_files_and_reports_unmapped(tmp_path):
    files = ["alice_1234_99-mini.ipynb", "Bob Smith_LATE_55_66_99-mini-1.ipynb", "carol_12_homework.ipynb",
             "readme.txt", "dave_1_99-mini.txt", "erin_1_99-mini.ipynb", "erin_2_99-mini (1).ipynb"]
    for name in files:
        (tmp_path / name).write_text("{}")
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / f"{MINI}.ipynb").write_text("{}")            # Moodle: <student>/<notebook>
    (tmp_path / "gina" / MINI).mkdir(parents=True)                      # folder layout
    (tmp_path / "gina" / MINI / "data.csv").write_text("1,2")
    (tmp_path / "gina" / MINI / f"{MINI}.ipynb").write_text("{}")
    (tmp_path / "gina" / "notes.txt").write_text("?")
    subs, unmapped = discover(tmp_path, ids=[MINI], names={MINI: MINI})
    got = {(s.student, s.assignment): sorted(p.name for p in s.files) for s in subs}
    assert got == {("alice", MINI): ["alice_1234_99-mini.ipynb"],
                   ("Bob Smith", MINI): ["Bob Smith_LATE_55_66_99-mini-1.ipynb"],
                   ("erin", MINI): ["erin_1_99-mini.ipynb", "erin_2_99-mini (1).ipynb"],
                   ("frank", MINI): [f"{MINI}.ipynb"], ("gina", MINI): [f"{MINI}.ipynb"]}
    reasons = {u.path: u.reason for u in unmapped}
    assert set(reasons) == {"carol_12_homework.ipynb", "readme.txt", "dave_1_99-mini.txt", "gina/notes.txt"}
    assert "--chapter" in reasons["carol_12_homework.ipynb"]
    assert "--pattern" in reasons["readme.txt"]
    # one-assignment export: --chapter maps what the name does not say
    subs, unmapped = discover(tmp_path, ids=[MINI], names={MINI: MINI}, chapter=MINI)
    assert ("carol", MINI) in {(s.student, s.assignment) for s in subs}


def test_custom_pattern_with_chapter_group(tmp_path):
    (tmp_path / "99-mini__s123__attempt.ipynb").write_text("{}")
    subs, unmapped = discover(tmp_path, ids=[MINI], names={}, pattern=r"(?P<chapter>[^_]+)__(?P<student>s\d+)__.*")
    assert [(s.student, s.assignment) for s in subs] == [("s123", MINI)] and not unmapped


def test_bad_pattern_and_roster_say_how_to_fix(tmp_path):
    with pytest.raises(IntakeError, match="not a valid regular expression"):
        compile_pattern("(?P<student>[")
    with pytest.raises(IntakeError, match=r"\(\?P<student>"):
        compile_pattern(r"(\w+)_.*")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAlice,a@x\n")
    with pytest.raises(IntakeError, match="no id column"):
        read_roster(roster)
    roster.write_text("\ufeffID;Name;Email\nalice;Alice A;a@x\nbob;Bob;b@x\nalice;dup;d@x\n")
    assert [(s.id, s.name, s.email) for s in read_roster(roster)] == [("alice", "Alice A", "a@x"), ("bob", "Bob", "b@x")]


def test_unsafe_zip_members_are_reported_not_extracted(tmp_path):
    from aecourse.grading.intake import extract_zip

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice_1_99-mini.ipynb", "{}")
        zf.writestr("../evil.ipynb", "{}")
        zf.writestr("/abs.ipynb", "{}")
    dest, skipped = extract_zip(archive, tmp_path / "x")
    assert sorted(p.name for p in dest.iterdir()) == ["alice_1_99-mini.ipynb"]
    assert len(skipped) == 2 and all("unsafe" in s.reason for s in skipped)
    assert not (tmp_path / "evil.ipynb").exists()
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(IntakeError, match="download it again"):
        extract_zip(tmp_path / "bad.zip", tmp_path / "y")


# --------------------------------------------------------------- restoring
def test_restore_adds_back_deleted_cells_in_place(nbs):
    student = without_cells(nbs["source"], {"test_square", "ex_q1", "test_q1"})
    student["cells"].insert(0, {"cell_type": "code", "source": "helper = 1", "metadata": {}, "outputs": [],
                                "execution_count": None, "id": "mine"})
    fixed = restore(student, nbs["release"], nbs["source"])
    assert fixed.deleted == ["test_square", "ex_q1", "test_q1"]
    assert [i for i in ids(fixed.notebook) if i] == [i for i in ids(nbs["release"]) if i]
    assert fixed.notebook["cells"][0]["source"] == "helper = 1"  # the learner's own cell stays
    by_id = {meta_of(c).get("grade_id"): c for c in fixed.notebook["cells"]}
    assert "NotImplementedError" in "".join(by_id["ex_q1"]["source"])  # the release's stub
    assert by_id["ex_square"]["source"] == "".join(nbs["source"]["cells"][3]["source"])  # the learner's answer
    import nbformat
    nbformat.validate(nbformat.from_dict(fixed.notebook))


def test_restore_resets_locked_text_and_metadata(nbs):
    student = with_cell(nbs["source"], "test_q1", "pass")
    for cell in student["cells"]:
        if meta_of(cell).get("grade_id") == "test_square":
            meta_of(cell)["points"] = 100
        if meta_of(cell).get("grade_id") == "ex_blank":
            cell["metadata"]["nbgrader"] = {**meta_of(cell), "grade": True, "points": 5}
    student["cells"].append(json.loads(json.dumps(student["cells"][4])))     # a second test_square
    student["cells"].append({"cell_type": "code", "source": "pass", "outputs": [], "execution_count": None,
                             "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus", "points": 9,
                                                       "solution": False, "locked": True}}})
    fixed = restore(student, nbs["release"], nbs["source"])
    assert fixed.edited == ["test_q1"]
    assert sorted(fixed.metadata) == ["ex_blank", "test_square"]
    assert fixed.duplicated == ["test_square"] and fixed.foreign == ["bonus"]
    release_meta = {meta_of(c)["grade_id"]: meta_of(c) for c in nbs["release"]["cells"] if meta_of(c)}
    fixed_meta = [meta_of(c) for c in fixed.notebook["cells"] if meta_of(c)]
    assert {m["grade_id"]: m for m in fixed_meta} == release_meta and len(fixed_meta) == len(release_meta)


def test_restore_leaves_an_honest_notebook_alone(nbs):
    fixed = restore(nbs["release"], nbs["release"], nbs["source"])
    assert not (fixed.edited or fixed.deleted or fixed.metadata or fixed.foreign or fixed.duplicated)
    text = [("".join(c["source"]), c["cell_type"]) for c in fixed.notebook["cells"]]
    assert text == [("".join(c["source"]), c["cell_type"]) for c in nbs["release"]["cells"]]


def test_suspicious_code(nbs):
    src, rel = nbs["source"], nbs["release"]
    honest = with_cell(src, "ex_square", "def _helper(v):\n    return v * v\n\ndef square(x):\n    return _helper(x)")
    assert suspicious_code(honest, rel, src) == []
    assert suspicious_code(partial(src, rel, {"ex_q1"}), rel, src) == []
    for code, words in [("public_check = lambda *a: None", "redefines public_check"),
                        ("from aecourse import checks\nchecks.check_dense = print", "aecourse.checks"),
                        ("import builtins\nbuiltins.isinstance = lambda *a: True", "builtins"),
                        ("import sqlite3\ncon = sqlite3.connect('../../gradebook.db')", "grader"),
                        ("open('/work/main/README.md', 'a')", "outside its folder"),
                        ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", "signal")]:
        found = suspicious_code(with_cell(src, "ex_q1", code + '\nanswer_q1 = "b"'), rel, src)
        assert any(words in f and "ex_q1" in f for f in found), (code, found)


def test_which_chapter(nbs):
    prints = {MINI: {i for i in ids(nbs["source"]) if i}, "98-other": {"other_" + i for i in ids(nbs["source"]) if i}}
    assert which_chapter(renamed_chapter(nbs["source"], "other_"), MINI, prints) == "98-other"
    assert which_chapter(nbs["release"], MINI, prints) is None
    assert which_chapter({"cells": []}, MINI, prints) is None


# ------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def lms(tmp_path_factory, minicourse, nbs):
    """An LMS zip graded by the CLI with a roster."""
    tmp = tmp_path_factory.mktemp("lms")
    src, rel = nbs["source"], nbs["release"]
    files = {"alice_1234_99-mini.ipynb": src,
             "bob_LATE_5678_99-mini-1.ipynb": partial(src, rel, {"ex_q1"}),
             "carol_99_homework.ipynb": src,          # name says no chapter: unmapped
             "dave_1_99-mini.ipynb": src,             # not in the roster
             "readme.txt": "hello"}
    archive = tmp / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, nb in files.items():
            zf.writestr(f"Assignment 1/{name}", nb if isinstance(nb, str) else json.dumps(nb))
    roster = tmp / "roster.csv"
    roster.write_text("id,name,email\nalice,Alice A,alice@uni\nbob,Bob B,bob@uni\ncarol,Carol C,carol@uni\n"
                      "erin,Erin E,erin@uni\n")
    out = tmp / "graded"
    proc = subprocess.run([sys.executable, "-m", "aecourse.cli", "grade", str(archive), "--out", str(out),
                           "--root", str(minicourse), "--students", str(roster), "--jobs", "2",
                           "--timeout", "120"], capture_output=True, text=True, timeout=600, cwd=tmp)
    return {"proc": proc, "out": out, "archive": archive, "roster": roster, "tmp": tmp, "files": files}


@pytest.mark.slow
def test_cli_grades_lms_zip_with_roster(lms):
    proc = lms["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["student"]: r for r in read_csv(lms["out"] / "grades.csv")}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin"}
    assert (rows["alice"]["status"], rows["alice"]["score"], rows["alice"]["name"], rows["alice"]["email"]) == \
        ("graded", "4", "Alice A", "alice@uni")
    assert (rows["bob"]["status"], rows["bob"]["score"]) == ("graded", "1")
    assert (rows["bob"]["test_square"], rows["bob"]["test_q1"], rows["bob"]["test_blank"]) == ("0", "1", "0")
    assert "renamed_notebook" in rows["bob"]["flags"].split()
    for missing in ("carol", "erin"):
        assert (rows[missing]["status"], rows[missing]["score"], rows[missing]["review"]) == ("missing", "0", "")
    assert rows["dave"]["status"] == "graded" and "not_in_roster" in rows["dave"]["flags"].split()
    assert rows["alice"]["flags"] == "" and rows["alice"]["review"] == ""
    unmapped = {r["path"]: r["reason"] for r in read_csv(lms["out"] / "unmapped.csv")}
    assert set(unmapped) == {"carol_99_homework.ipynb", "readme.txt"}
    out = proc.stdout
    assert "graded              3" in out and "missing             2" in out
    assert "test_q1" in out and "2 file(s) could not be mapped" in out
    assert (lms["out"] / "feedback" / "alice" / MINI / f"{MINI}.html").is_file()


@pytest.mark.slow
def test_rerun_grades_only_changed_submissions(lms, minicourse, nbs):
    assert lms["proc"].returncode == 0, lms["proc"].stderr[-2000:]
    start = time.monotonic()
    rows = {r.student: r for r in grade(lms["archive"], lms["out"], root=minicourse, students=lms["roster"],
                                        progress=False)}
    quick = time.monotonic() - start
    assert all(r.cached for r in rows.values() if r.status == "graded"), [(r.student, r.cached) for r in rows.values()]
    assert rows["bob"].score == 1 and quick < 20
    # bob hands in again: only bob is graded again
    changed = lms["tmp"] / "export2.zip"
    with zipfile.ZipFile(lms["archive"]) as old, zipfile.ZipFile(changed, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if "bob_" in info.filename:
                data = json.dumps(nbs["source"]).encode()
            new.writestr(info, data)
    rows = {r.student: r for r in grade(changed, lms["out"], root=minicourse, students=lms["roster"],
                                        progress=False)}
    assert not rows["bob"].cached and rows["bob"].score == 4
    assert rows["alice"].cached and rows["alice"].score == 4 and rows["dave"].cached
    assert {r["student"]: r["score"] for r in read_csv(lms["out"] / "grades.csv")}["bob"] == "4"
