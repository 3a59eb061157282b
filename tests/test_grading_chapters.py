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

Two gradings per chapter instead of three (solution, blank, one partial): the same guarantees
for two thirds of the sandbox time. All chapters are graded in one batch (one master gradebook
build).
"""
from __future__ import annotations

import pytest

from aecourse.grading import grade
from aecourse.release import build_release, chapter_ids
from conftest import REPO
from gradehelp import exercise_tests, exercises, load, partial, points_for, submit, total_points

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
        cases[chapter] = {"total": total_points(source), "solved": solved, "tests": exercise_tests(source),
                          "points": {half: points_for(source, solved[half]) for half in HALVES}}
    rows = grade(subs, tmp / "out", jobs=2, timeout=900, root=REPO, progress=False) if REAL else []
    return {"rows": {(r.student, r.assignment): r for r in rows}, "cases": cases}


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
    assert sum(row.score for row in rows) == case["total"], [(r.student, r.score, r.detail) for r in rows]


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
