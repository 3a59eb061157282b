"""Grading the real chapters of solutions/: every test cell earns its points with its own exercise, and only then.

For every chapter two notebooks are graded: the learner's blank notebook (course/<id>) with
the solutions of every other ``ex_*`` cell copied in (``even``: the 1st, 3rd, ...), and the
same with the other half (``odd``). Between them each exercise is once solved and once left
as released, so checking every test cell in both rows proves, item by item:

- a solved exercise's tests earn all their points (what "the solution scores full marks"
  checks; ``even`` + ``odd`` add up to the chapter's total, and nbval executes the full
  solution notebook, hidden tests included, without an error);
- an unsolved exercise's tests earn 0 (what "the blank release scores zero" checks);
- so partial credit is exact: each test depends on its own exercise only.

Written answers (manually graded cells, ``written_*``) stay as released in both halves: autograding
leaves them pending (flag ``needs_manual``), and the chapter reaches full marks only once a TA's
points are in the gradebook the batch writes (set here through nbgrader's Gradebook API, as
formgrader does).

Two gradings per chapter instead of three (solution, blank, one partial): the same guarantees
for two thirds of the sandbox time. All chapters are graded in one batch (one master gradebook
build).
"""
from __future__ import annotations

import re

import pytest

from aecourse.grading import grade
from aecourse.grading.gradebook import read_back
from aecourse.release import build_release, chapter_ids
from conftest import REPO
from gradehelp import (auto_points, exercise_tests, exercises, load, partial, points_for, submit, total_points,
                       written_answers)

REAL = chapter_ids(REPO)
CHAPTERS = REAL or [pytest.param(None, marks=pytest.mark.skip(reason="no chapters in solutions/ yet"))]


HALVES = ("even", "odd")


def halves(source: dict) -> dict[str, set[str]]:
    """The exercises solved in each graded notebook: every other one, and the rest."""
    ids = exercises(source)
    return {"even": set(ids[::2]), "odd": set(ids[1::2])}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_naming_convention(chapter):
    """Every ex_<name> has test_<name>* cells with points; every test cell belongs to an exercise."""
    nb = load(REPO / "solutions" / chapter / f"{chapter}.ipynb")
    table = exercise_tests(nb)
    assert None not in table, f"test cells matching no ex_*: {table.get(None)}"
    for ex, tests in table.items():
        assert tests, f"{ex} has no test_{ex[3:]}* cell"
        assert all(points > 0 for _, points in tests), tests


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_sections_run_in_order_and_each_exercise_sits_under_its_own_heading(chapter):
    """``## N ·`` sections count up from 1; an ``### Exercise`` heading is followed by its answer cell before any
    other heading (a section pasted inside an exercise, between its heading and its question, fails here)."""
    nb = load(REPO / "solutions" / chapter / f"{chapter}.ipynb")
    headings = []  # (cell index, heading line), in reading order; a cell may open with prose and hold a heading
    for at, cell in enumerate(nb["cells"]):
        fenced = False
        for line in "".join(cell["source"]).split("\n") if cell["cell_type"] == "markdown" else []:
            fenced ^= line.startswith("```")
            if line.startswith("#") and not fenced:
                headings.append((at, line))
    numbers = [int(m.group(1)) for _, h in headings if (m := re.match(r"## (\d+) ·", h))]
    assert numbers == list(range(1, len(numbers) + 1)), f"{chapter}: sections numbered {numbers}"
    for (at, heading), (end, _) in zip(headings, headings[1:] + [(len(nb["cells"]), "")]):
        if heading.startswith("### Exercise"):
            kinds = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "") for c in nb["cells"][at + 1:end]]
            assert any(k.startswith(("ex_", "written_")) for k in kinds), \
                f"{chapter}: {heading!r} has no answer cell before the next heading"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_written_answers_have_points_and_a_rubric(chapter):
    """Every manually graded answer is a markdown cell with points, after a locked cell with its rubric."""
    nb = load(REPO / "solutions" / chapter / f"{chapter}.ipynb")
    cells = nb["cells"]
    for at, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("grade") and meta.get("solution")):
            continue
        assert cell["cell_type"] == "markdown" and meta["grade_id"].startswith("written_"), meta
        assert float(meta.get("points", 0)) > 0, meta
        question = cells[at - 1]
        text = "".join(question["source"])
        assert question.get("metadata", {}).get("nbgrader", {}).get("locked"), "the rubric cell must be locked"
        assert "**Kind:** written answer" in text and f"**Points:** {meta['points']:g}" in text, text[:300]
        assert "Rubric" in text, text[:300]


def test_chapters_04_and_02_ask_the_seeds_open_questions():
    for chapter, question in (("02-sparse", "What is feature disentanglement, and why is it desirable?"),
                              ("04-disentangle", "How can disentanglement be assessed in practice?")):
        nb = load(REPO / "solutions" / chapter / f"{chapter}.ipynb")
        assert written_answers(nb), chapter
        text = "".join("".join(c["source"]) for c in nb["cells"])
        assert question in text
        # Locatello et al. 2019: no rubric may reward "disentanglement improves downstream tasks"
        assert "Locatello" in text and "gets no point" in text


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chapters")
    subs, cases = tmp / "subs", {}
    for chapter in REAL:
        source = load(REPO / "solutions" / chapter / f"{chapter}.ipynb")
        committed = REPO / "course" / chapter / f"{chapter}.ipynb"
        if committed.exists():
            blank = load(committed)
        else:  # not released yet: grade what `aecourse release` would write
            fresh = build_release(REPO, tmp / f"fresh-{chapter}", [chapter])
            blank = load(fresh / "course" / chapter / f"{chapter}.ipynb")
        solved = halves(source)
        for half in HALVES:
            submit(subs, half, chapter, partial(source, blank, solved[half]))
        cases[chapter] = {"total": total_points(source), "auto": auto_points(source),
                          "written": written_answers(source), "solved": solved, "tests": exercise_tests(source),
                          "points": {half: points_for(source, solved[half]) for half in HALVES}}
    rows = grade(subs, tmp / "out", jobs=2, timeout=900, root=REPO, progress=False,
                 gradebook=tmp / "gradebook") if REAL else []
    return {"rows": {(r.student, r.assignment): r for r in rows}, "cases": cases, "gradebook": tmp / "gradebook"}


def item_scores(row) -> dict[str, float]:
    return {item.grade_id: item.score for item in row.items}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solved_halves_add_up_to_full_marks(graded, chapter):
    case = graded["cases"][chapter]
    rows = [graded["rows"][(half, chapter)] for half in HALVES]
    for row in rows:
        assert row.status == "graded", row.detail
        assert row.max_score == case["total"], row.detail
    # every automatic point; the written answers wait for a TA (test_written_answers_need_the_tas_points)
    assert sum(row.score for row in rows) == case["auto"], [(r.student, r.score, r.detail) for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_half_scores_exactly_its_exercises(graded, chapter):
    case = graded["cases"][chapter]
    for half in HALVES:
        row = graded["rows"][(half, chapter)]
        assert row.score == case["points"][half], (half, sorted(case["solved"][half]), row.detail,
                                                   sorted(item_scores(row).items()))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_test_scores_full_with_its_exercise_and_zero_without(graded, chapter):
    """Item by item: in the half where its exercise is solved a test earns all its points (as in the
    solution notebook); in the other half, where the exercise is as released, it earns 0 (as in the
    blank notebook)."""
    case = graded["cases"][chapter]
    scores = {half: item_scores(graded["rows"][(half, chapter)]) for half in HALVES}
    wrong = []
    for exercise, tests in case["tests"].items():
        solved_in = "even" if exercise in case["solved"]["even"] else "odd"
        blank_in = "odd" if solved_in == "even" else "even"
        for test, points in tests:
            if scores[solved_in].get(test) != points:
                wrong.append(f"{test}: {scores[solved_in].get(test)} of {points} with {exercise} solved")
            if scores[blank_in].get(test) != 0:
                wrong.append(f"{test}: {scores[blank_in].get(test)} (not 0) with {exercise} as released")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_written_answers_need_the_tas_points(graded, chapter):
    """Written answers are pending after autograding; with a TA's points (set in the gradebook as formgrader
    does) the two halves reach full marks, and not before."""
    case = graded["cases"][chapter]
    rows = {half: graded["rows"][(half, chapter)] for half in HALVES}
    for row in rows.values():
        pending = {i.grade_id for i in row.items if i.by == "pending"}
        assert pending == set(case["written"]), row.detail
        assert ("needs_manual" in row.flags) == bool(case["written"]), (row.flags, row.detail)
    if not case["written"]:
        return
    assert "pending" in rows["even"].detail
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['gradebook'] / 'gradebook.db'}") as gb:  # a TA grades the even half
        for gid, points in case["written"].items():
            g = gb.find_grade(gid, chapter, chapter, "even")
            assert g.needs_manual_grade and g.auto_score is None
            g.manual_score = points
        gb.db.commit()
    after = {(r.student, r.assignment): r for r in read_back(graded["gradebook"])[0]}
    even, odd = after[("even", chapter)], after[("odd", chapter)]
    assert even.score == case["points"]["even"] + sum(case["written"].values()), even.detail
    assert even.score + odd.score == even.max_score == case["total"], (even.detail, odd.detail)
