"""Grading the real chapters of solutions/: full marks, zero, and exactly the solved exercises.

For every chapter: the solution notebook must score full marks, the learner's
blank notebook (course/<id>) 0, and the blank notebook with every other
``ex_*`` solution cell copied in exactly the points of those exercises'
``test_*`` cells (so each test depends on its own exercise only).  All
chapters are graded in one batch (one master gradebook build).
"""
from __future__ import annotations

import pytest

from aecourse.grading import grade
from aecourse.release import build_release, chapter_ids
from conftest import REPO
from gradehelp import exercise_tests, exercises, load, partial, points_for, submit, total_points

REAL = chapter_ids(REPO)
CHAPTERS = REAL or [pytest.param(None, marks=pytest.mark.skip(reason="no chapters in solutions/ yet"))]


def chosen_exercises(source: dict) -> set[str]:
    """Every other exercise, starting with the first."""
    return set(exercises(source)[::2])


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
        chosen = chosen_exercises(source)
        submit(subs, "solution", chapter, source)
        submit(subs, "blank", chapter, blank)
        submit(subs, "partial", chapter, partial(source, blank, chosen))
        cases[chapter] = {"total": total_points(source), "partial": points_for(source, chosen),
                          "chosen": sorted(chosen)}
    rows = grade(subs, tmp / "out", jobs=2, timeout=900, root=REPO, progress=False) if REAL else []
    return {"rows": {(r.student, r.assignment): r for r in rows}, "cases": cases}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_scores_full_marks(graded, chapter):
    row = graded["rows"][("solution", chapter)]
    assert row.status == "graded", row.detail
    assert row.score == row.max_score == graded["cases"][chapter]["total"], row.detail


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_blank_release_scores_zero(graded, chapter):
    row = graded["rows"][("blank", chapter)]
    assert (row.status, row.score) == ("graded", 0), row.detail


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_partial_scores_exactly_its_exercises(graded, chapter):
    case = graded["cases"][chapter]
    if not case["chosen"]:
        pytest.skip(f"{chapter} has no exercises")
    row = graded["rows"][("partial", chapter)]
    assert row.status == "graded", row.detail
    assert row.score == case["partial"], (case["chosen"], row.detail, [(i.grade_id, i.score) for i in row.items])
