"""Grading end to end on the fixture course: scores, statuses, limits, isolation, feedback.

The mini-course batch (tests/fixtures/minicourse, chapter 99-mini: test_square
2 points, test_q1 1, test_blank 1, a 0-point task) is graded once, in parallel,
with one student per situation; the tests below read its results.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aecourse.grading import STATUSES, grade, isolation_level
from gradehelp import load, partial, read_csv, submit, tree_digest, with_cell, without_cells

MINI = "99-mini"
TIMEOUT = 15  # whole submission; an honest one takes 3-5 s (gina, the infinite loop, waits all of it)

HOSTILE = r'''
import glob, os, sqlite3
here = os.getcwd()
# 1. its own gradebook copy, by relative path: award itself everything
for db in glob.glob("../../../gradebook.db") + glob.glob("../../../../*/gradebook.db"):
    try:
        con = sqlite3.connect(db)
        con.execute("UPDATE grade SET manual_score = 99, auto_score = 99")
        con.execute("UPDATE grade_cells SET max_score = 99")
        con.commit()
    except Exception as err:
        print("db:", err)
# 2. anything reachable by climbing up: sources, releases, other submissions, grade tables
for up in range(1, 6):  # up to the batch folder holding every sandbox
    base = os.path.join(*[".."] * up)
    for pattern in ("solutions/*/*", "course/*/*", "submitted/*/*/*", "*/course-root/gradebook.db",
                    "*/*/grades.csv", "*/99-mini/*.ipynb", "*.csv"):
        for path in glob.glob(os.path.join(base, pattern)):
            try:
                with open(path, "w") as fh:
                    fh.write("pwned")
            except Exception:
                pass
    try:
        with open(os.path.join(base, "pwned.txt"), "w") as fh:
            fh.write("pwned")
    except Exception:
        pass
answer_q1 = "b"
'''


def mini_cases(source: dict, release: dict) -> dict[str, tuple[object, str, float]]:
    """student -> (notebook or raw text, expected status, expected score)."""
    full = source
    loop = with_cell(partial(source, release, {"ex_square", "ex_blank"}), "ex_q1", "while True:\n    pass")
    return {
        "alice": (full, "graded", 4),
        "bob": (release, "graded", 0),
        "carol": ("this is { not json", "invalid", 0),
        "carla": ('{"cells": 3}', "invalid", 0),
        "erin": (partial(source, release, {"ex_q1"}), "graded", 1),
        "frank": (partial(source, release, {"ex_square", "ex_blank"}), "graded", 3),
        "gina": (loop, "timeout", 0),
        "hank": (with_cell(full, "ex_blank", "import os\nos._exit(1)"), "crashed", 0),
        "ivan": (with_cell(full, "ex_q1", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), "crashed", 0),
        "judy": (with_cell(full, "ex_square", "def square(x):\n    return x * abs(x)"), "graded", 2),
        "ned": (with_cell(with_cell(full, "ex_q1", 'answer_q1 = "b"\nraise ValueError("oops")'),
                          "ex_blank", 'raise RuntimeError("later")\nblank_1 = "compress"'), "graded", 3),
        "rita": (without_cells(full, {"test_q1"}), "graded", 4),  # test cell added back,
        "sam": (with_cell(with_cell(full, "ex_q1", 'answer_q1 = "a"'), "test_q1", "pass"), "graded", 3),
        "tina": (with_cell(full, "ex_blank",
                           'import subprocess\nsubprocess.Popen(["sleep", "300.4242"], start_new_session=True)\n'
                           'blank_1 = "compress"'), "graded", 4),
    }


@pytest.fixture(scope="module")
def mini_batch(tmp_path_factory, minicourse):
    tmp = tmp_path_factory.mktemp("batch")
    subs, out = tmp / "submissions", tmp / "out"
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    release = load(minicourse / "course" / MINI / f"{MINI}.ipynb")
    cases = mini_cases(source, release)
    for student, (nb, _, _) in cases.items():
        submit(subs, student, MINI, nb)
    submit(subs, "quinn", MINI, source, name=f"{MINI} (1)")          # renamed by the browser
    submit(subs, "dave", "42-nope", source, name="42-nope")           # not a chapter
    (subs / "olga" / MINI).mkdir(parents=True)                        # empty chapter folder
    (subs / "paul").mkdir()                                           # no chapter folder
    (subs / "paul" / "paul-loose.ipynb").write_text("{}")              # a loose notebook
    (subs / "__MACOSX" / "alice").mkdir(parents=True)                 # archive junk
    (subs / ".DS_Store").write_text("junk")
    before = {"course": tree_digest(minicourse), "subs": tree_digest(subs)}
    rows = grade(subs, out, jobs=2, timeout=TIMEOUT, memory_limit=2, root=minicourse)
    return {"rows": {(r.student, r.assignment): r for r in rows}, "list": rows, "out": out,
            "subs": subs, "cases": cases, "before": before, "course": minicourse}


# --------------------------------------------------------------- mini course
@pytest.mark.slow
def test_one_row_per_student_chapter(mini_batch):
    keys = set(mini_batch["rows"])
    expected = {(s, MINI) for s in mini_batch["cases"]} | {
        ("quinn", MINI), ("dave", "42-nope"), ("olga", MINI), ("paul", "")}
    assert keys == expected
    assert len(mini_batch["list"]) == len(expected)
    csv_rows = read_csv(mini_batch["out"] / "grades.csv")
    assert {(r["student"], r["assignment"]) for r in csv_rows} == expected
    assert {"student", "assignment", "score", "max_score", "status", "detail"} <= set(csv_rows[0])
    assert all(r["status"] in STATUSES and r["detail"] for r in csv_rows)


@pytest.mark.slow
@pytest.mark.parametrize("student", ["alice", "bob", "carol", "carla", "erin", "frank", "gina", "hank",
                                     "ivan", "judy", "ned", "rita", "sam", "tina"])
def test_status_and_score(mini_batch, student):
    _, status, score = mini_batch["cases"][student]
    row = mini_batch["rows"][(student, MINI)]
    assert (row.status, row.score) == (status, score), row.detail
    assert row.max_score == 4


@pytest.mark.slow
def test_statuses_of_odd_folders(mini_batch):
    rows = mini_batch["rows"]
    assert rows[("quinn", MINI)].status == "graded" and rows[("quinn", MINI)].score == 4
    assert "99-mini (1).ipynb" in rows[("quinn", MINI)].detail and rows[("quinn", MINI)].review
    assert rows[("dave", "42-nope")].status == "unknown_assignment"
    assert rows[("olga", MINI)].status == "missing"
    assert rows[("paul", "")].status == "missing"
    assert "paul-loose.ipynb" in rows[("paul", "")].detail


@pytest.mark.slow
def test_details_explain(mini_batch):
    rows = mini_batch["rows"]
    assert rows[("alice", MINI)].detail == "3/3 tests passed" and not rows[("alice", MINI)].review
    assert "did not finish within" in rows[("gina", MINI)].detail
    assert "kernel died" in rows[("hank", MINI)].detail
    assert "not valid JSON" in rows[("carol", MINI)].detail
    assert "deleted cell(s) test_q1 (added back)" in rows[("rita", MINI)].detail
    assert "deleted_cells" in rows[("rita", MINI)].flags and "edited_locked" in rows[("sam", MINI)].flags
    assert "edited locked cell(s) test_q1" in rows[("sam", MINI)].detail
    assert "background process" in rows[("tina", MINI)].detail
    assert all(r.review for r in mini_batch["list"] if r.status != "graded")


@pytest.mark.slow
def test_items_sum_to_grades(mini_batch):
    items = read_csv(mini_batch["out"] / "items.csv")
    for row in read_csv(mini_batch["out"] / "grades.csv"):
        mine = [i for i in items if (i["student"], i["assignment"]) == (row["student"], row["assignment"])]
        if row["status"] == "unknown_assignment" or not row["assignment"]:
            assert mine == []
            continue
        assert [i["grade_id"] for i in mine] == ["test_square", "test_q1", "test_blank", "task_reflect"]
        assert sum(float(i["score"]) for i in mine) == float(row["score"])
        assert sum(float(i["max_score"]) for i in mine) == float(row["max_score"]) == 4


@pytest.mark.slow
def test_partial_scores_are_per_exercise(mini_batch):
    rows = mini_batch["rows"]
    erin = {i.grade_id: i.score for i in rows[("erin", MINI)].items}
    assert erin == {"test_square": 0, "test_q1": 1, "test_blank": 0, "task_reflect": 0}
    judy = {i.grade_id: i.score for i in rows[("judy", MINI)].items}
    assert judy["test_square"] == 0  # passes the public check, fails the hidden tests


@pytest.mark.slow
def test_hostile_submission_changes_nothing_else(tmp_path, minicourse):
    """Writes by relative path to its gradebook, the sources, other sandboxes: only its own copy suffers.

    With namespace or uid sandboxes they run in parallel; otherwise one at a time (same uid: concurrent
    sandboxes could reach each other, see aecourse.grading).  Its own gradebook copy is
    fair game: it then scores what its answers earn, or crashes with 0.
    """
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    release = load(minicourse / "course" / MINI / f"{MINI}.ipynb")
    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "alice", MINI, source)
    submit(subs, "mallory", MINI, with_cell(release, "ex_q1", HOSTILE))
    before = {"course": tree_digest(minicourse), "subs": tree_digest(subs)}
    jobs = 2 if isolation_level() != "none" else 1
    rows = {r.student: r for r in grade(subs, out, jobs=jobs, timeout=120, root=minicourse, progress=False)}
    # it scores what its answers earn (or crashes), nothing more
    mallory = {i.grade_id: i.score for i in rows["mallory"].items}
    if rows["mallory"].status == "graded":
        assert mallory == {"test_square": 0, "test_q1": 1, "test_blank": 0, "task_reflect": 0}
    else:
        assert (rows["mallory"].status, rows["mallory"].score) == ("crashed", 0), rows["mallory"].detail
    assert rows["mallory"].max_score == 4 and rows["mallory"].review
    # everybody else is unaffected
    assert rows["alice"].score == 4
    # the course sources, the release and the submissions are untouched, no nbgrader junk anywhere
    assert tree_digest(minicourse) == before["course"]
    assert tree_digest(subs) == before["subs"]
    assert not list(out.rglob("pwned*"))
    for path in (minicourse, subs, out):
        assert not list(path.rglob("gradebook.db"))


def html_text(path: Path) -> str:
    """What a reader sees: tags (syntax highlighting splits code into spans) removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_feedback_hides_hidden_tests_and_mark_scheme(mini_batch):
    out = mini_batch["out"]
    graded = [r for r in mini_batch["list"] if r.status == "graded"]
    assert graded
    for row in graded:
        text = html_text(out / row.feedback)
        assert f"feedback/{row.student}/{MINI}/{MINI}.html" == row.feedback
        for secret in ("HIDDEN TESTS", "hidden-test-marker", "square(-3)", "answer_q1 == ",
                       "MARK SCHEME", "mark-scheme-marker"):
            assert secret not in text, (row.student, secret)
        assert "public_check(square(2) == 4" in text  # the public part stays
    judy = html_text(out / mini_batch["rows"][("judy", MINI)].feedback)
    assert "AssertionError" in judy and "Score: 2.0 / 4.0" in judy
    assert not (out / "feedback" / "gina").exists()  # timed out: no feedback


@pytest.mark.slow
def test_no_stray_processes(mini_batch):
    """tina's `sleep 300.4242` (own session) was killed with the sandbox. (An odd duration, so that an
    unrelated `sleep 300` elsewhere on the machine cannot fail this test.)"""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 300.4242" not in ps


# -------------------------------------------------------- smaller batches
@pytest.mark.slow
def test_cell_and_memory_limits(tmp_path, minicourse):
    """A looping cell is interrupted and grading goes on; one big allocation fails inside its cell;
    many processes that together pass the limit get the sandbox killed."""
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    big = 'data = bytearray(2 * 2**30)\nanswer_q1 = "b"'
    spread = ("import subprocess, sys\n"
              "code = 'x = bytearray(400 * 2**20); import time; time.sleep(60)'\n"
              "procs = [subprocess.Popen([sys.executable, '-S', '-c', code]) for _ in range(4)]\n"
              "import time; time.sleep(60)")
    submit(tmp_path / "subs", "loop", MINI, with_cell(source, "ex_q1", "while True:\n    pass"))
    submit(tmp_path / "subs", "big", MINI, with_cell(source, "ex_q1", big))
    submit(tmp_path / "subs", "spread", MINI, with_cell(source, "ex_blank", spread))
    # cell_timeout 8 s: the spread cell must outlive its four children's start-up and allocation on a busy CI
    # machine (with 3 s it was once interrupted first, and so graded, before the RSS watch saw 1.6 GB)
    rows = {r.student: r for r in grade(tmp_path / "subs", tmp_path / "out", jobs=2, timeout=120,
                                        cell_timeout=8, memory_limit=1, root=minicourse, progress=False)}
    assert (rows["loop"].status, rows["loop"].score) == ("graded", 3), rows["loop"].detail
    assert "per-cell time limit" in rows["loop"].detail
    assert (rows["big"].status, rows["big"].score) == ("graded", 3), rows["big"].detail
    assert "MemoryError" in rows["big"].detail
    assert rows["spread"].status == "crashed" and "memory" in rows["spread"].detail


@pytest.mark.slow
def test_cli_grades_an_lms_zip(tmp_path, minicourse):
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    subs = tmp_path / "export" / "class-2025"
    submit(subs, "alice", MINI, source)
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in subs.rglob("*"):
            zf.write(path, path.relative_to(tmp_path / "export").as_posix())
        zf.writestr("../evil.txt", "outside")  # never extracted outside
    out = tmp_path / "graded"
    proc = subprocess.run([sys.executable, "-m", "aecourse.cli", "grade", str(archive), "--out", str(out),
                           "--root", str(minicourse), "--timeout", "120"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "graded              1" in proc.stdout and "mean score 99-mini: 4.00 / 4" in proc.stdout
    rows = read_csv(out / "grades.csv")
    assert [(r["student"], r["score"], r["status"]) for r in rows] == [("alice", "4", "graded")]
    assert not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.slow
def test_root_sandbox_blocks_absolute_paths(tmp_path, minicourse):
    """With namespace or uid sandboxes: the course, OUT and other sandboxes are out of reach by absolute path."""
    if isolation_level() == "none":
        pytest.skip("needs namespace or uid sandboxes (Linux with unshare, or root)")
    root = tmp_path / "course-copy"
    shutil.copytree(minicourse, root)
    source = load(root / "solutions" / MINI / f"{MINI}.ipynb")
    attack = (
        "import glob, os\n"
        f"targets = glob.glob({str(root)!r} + '/**/*', recursive=True)\n"
        "targets += glob.glob('/tmp/aecourse-grade-*/**/gradebook.db', recursive=True)\n"
        "hits = 0\n"
        "own = os.path.dirname(os.environ['HOME'])  # its own sandbox is fair game\n"
        "targets = [t for t in targets if not os.path.realpath(t).startswith(own + os.sep)]\n"
        "for t in targets:\n"
        "    try:\n"
        "        open(t, 'a').write('pwned'); hits += 1\n"
        "    except Exception:\n"
        "        pass\n"
        "assert hits == 0, hits\n"
        'answer_q1 = "b"'
    )
    submit(tmp_path / "subs", "mallory", MINI, with_cell(source, "ex_q1", attack))
    submit(tmp_path / "subs", "alice", MINI, source)
    before = tree_digest(root)
    rows = {r.student: r for r in grade(tmp_path / "subs", tmp_path / "out", jobs=2, timeout=120,
                                        root=root, progress=False)}
    assert tree_digest(root) == before
    assert rows["alice"].score == 4
    assert rows["mallory"].score == 4, rows["mallory"].detail  # its own assert passed: nothing writable


@pytest.mark.slow
def test_master_gradebook_is_built_once_per_chapter_version(tmp_path, minicourse, monkeypatch):
    """Grading the same course twice in one process builds its master once; a changed source builds anew,
    and the second batch still grades against the changed master."""
    from aecourse.grading import cache

    built = []
    real = cache.build_masters

    def counting(root, ids, tmp):
        built.append(list(ids))
        return real(root, ids, tmp)

    monkeypatch.setattr(cache, "build_masters", counting)
    root = tmp_path / "course-copy"
    shutil.copytree(minicourse, root)
    source = load(root / "solutions" / MINI / f"{MINI}.ipynb")
    submit(tmp_path / "subs", "alice", MINI, source)
    first = grade(tmp_path / "subs", tmp_path / "out1", timeout=120, root=root, progress=False)
    again = grade(tmp_path / "subs", tmp_path / "out2", timeout=120, root=root, progress=False)
    assert [r.score for r in first] == [r.score for r in again] == [4]
    assert built in ([[MINI]], []), built  # [] when an earlier test of this process built the same chapter
    # a new point value in the source: a new digest, a new master, and the new maximum
    for cell in source["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_square":
            cell["metadata"]["nbgrader"]["points"] = 5
    (root / "solutions" / MINI / f"{MINI}.ipynb").write_text(json.dumps(source))
    changed = grade(tmp_path / "subs", tmp_path / "out3", timeout=120, root=root, progress=False)
    assert built[-1] == [MINI]
    assert changed[0].max_score == 7, changed[0].detail
