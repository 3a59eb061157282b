"""Grading the real chapters of solutions/: full marks, zero, and exactly the solved exercises.

For every chapter: the solution notebook must score every automatic point, the
learner's blank notebook (course/<id>) 0, and the blank notebook with every other
``ex_*`` solution cell copied in exactly the points of those exercises'
``test_*`` cells (so each test depends on its own exercise only).  A chapter with
written answers (manually graded cells, ``written_*``) leaves them pending: the
solution reaches full marks only once a TA's points are in the gradebook.  All
chapters are graded in one batch (one master gradebook build), into a gradebook.
"""
from __future__ import annotations

import pytest

from aecourse.grading import grade
from aecourse.grading.gradebook import read_back
from aecourse.release import build_release, chapter_ids
from conftest import REPO
from gradehelp import (auto_points, exercise_tests, exercises, load, partial, points_for, submit, total_points,
                       written_answers)

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
        cases[chapter] = {"total": total_points(source), "auto": auto_points(source),
                          "written": written_answers(source), "partial": points_for(source, chosen),
                          "chosen": sorted(chosen)}
    rows = grade(subs, tmp / "out", jobs=2, timeout=900, root=REPO, progress=False,
                 gradebook=tmp / "gradebook") if REAL else []
    return {"rows": {(r.student, r.assignment): r for r in rows}, "cases": cases, "gradebook": tmp / "gradebook"}


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


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_scores_full_marks(graded, chapter):
    """Every automatic point; written answers pending, and full marks once a TA gives their points."""
    case = graded["cases"][chapter]
    row = graded["rows"][("solution", chapter)]
    assert row.status == "graded", row.detail
    assert row.max_score == case["total"], row.detail
    assert row.score == case["auto"], row.detail
    pending = {i.grade_id for i in row.items if i.by == "pending"}
    assert pending == set(case["written"]), row.detail
    if not case["written"]:
        assert row.score == row.max_score and "needs_manual" not in row.flags
        return
    assert row.score < row.max_score and "needs_manual" in row.flags and "pending" in row.detail
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['gradebook'] / 'gradebook.db'}") as gb:  # a TA grades (formgrader's write)
        for gid, points in case["written"].items():
            g = gb.find_grade(gid, chapter, chapter, "solution")
            assert g.needs_manual_grade and g.auto_score is None
            g.manual_score = points
        gb.db.commit()
    after = next(r for r in read_back(graded["gradebook"])[0] if (r.student, r.assignment) == ("solution", chapter))
    assert after.score == after.max_score == case["total"], after.detail


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
