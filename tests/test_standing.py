"""Where you stand: passing public checks are recorded locally, `aecourse progress` and 00-setup's widget show it.

- A passing check records its chapter, test-cell grade id, points and an ISO time in
  ``$AECOURSE_DATA_HOME/standing.json``; a failing check, code outside the checks, and any
  check while nbgrader grades (``NBGRADER_EXECUTION``) record nothing.
- A corrupt record, a folder that cannot be written and a failed write never break a check:
  one warning per session, the old record intact after a failed write.
- Every test cell of every chapter maps to its own grade id (the rule in ``checks.core``), proven
  statically for all chapters and in a real IPython shell for 00-setup.
- The totals are the chapters' nbgrader points (read here independently with nbformat and
  nbgrader's own ``is_grade``).
- ``aecourse progress`` prints the table, one chapter in detail, JSON, and clears.
- 00-setup's widget builds, refreshes, is labelled, and carries a static HTML/text fallback.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade

from aecourse import checks, cli, standing
from aecourse.checks import CheckFailed
from aecourse.checks.core import exercise_of_answer, exercise_of_check

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """A fresh data folder for the record, not grading, no warnings given yet this session."""
    folder = tmp_path / "data"
    monkeypatch.setenv(standing.DATA_HOME_ENV, str(folder))
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(standing, "_WARNED", set())
    return folder


def recorded() -> dict:
    return json.loads(standing.record_path().read_text())["chapters"]


# --------------------------------------------------------------------------- where the record lives
def test_data_home_env_var_wins_then_xdg_then_the_platform_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(standing.DATA_HOME_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert standing.record_path() == tmp_path / "mine" / "standing.json"
    monkeypatch.delenv(standing.DATA_HOME_ENV)
    assert standing.data_home() == tmp_path / "xdg" / "aecourse"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")  # the XDG spec: relative paths are ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert standing.data_home() == tmp_path / "home" / ".local" / "share" / "aecourse"


# --------------------------------------------------------------------------- recording
def test_a_passing_check_records_chapter_exercise_points_and_time(data, capsys):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    checks.setup.count_parameters(count_parameters)
    assert "public checks passed" in capsys.readouterr().out
    entry = recorded()["00-setup"]["test_count_parameters"]
    assert entry["points"] == 1 and entry["passes"] == 1
    when = datetime.fromisoformat(entry["last_passed"])
    assert when.tzinfo is not None and when >= before
    assert entry["first_passed"] == entry["last_passed"]

    checks.setup.count_parameters(count_parameters)
    again = recorded()["00-setup"]["test_count_parameters"]
    assert again["passes"] == 2 and again["first_passed"] == entry["first_passed"]
    assert list(recorded()) == ["00-setup"] and list(recorded()["00-setup"]) == ["test_count_parameters"]


def test_quiz_and_fill_in_checks_record_their_own_exercise(data):
    checks.check_choice("b", "00-setup.q1", checks.answer_digest("00-setup.q1", "b"), variable="answer_q1")
    checks.check_blank("denoising", "01-dense.blank2", [checks.answer_digest("01-dense.blank2", "denoising")],
                       variable="answer_blank_denoise")
    assert set(recorded()["00-setup"]) == {"test_q1"}
    assert set(recorded()["01-dense"]) == {"test_blank_denoise"}
    assert recorded()["01-dense"]["test_blank_denoise"]["points"] == 1


def test_failing_checks_and_passes_outside_a_check_record_nothing(data):
    with pytest.raises(CheckFailed):
        checks.setup.count_parameters(lambda model: sum(p.numel() for p in model.parameters()))  # counts frozen
    with pytest.raises(CheckFailed, match="not implemented"):
        checks.setup.count_parameters(lambda model: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(CheckFailed):
        checks.check_choice("a", "00-setup.q1", checks.answer_digest("00-setup.q1", "b"), variable="answer_q1")
    checks.passed("called by hand, not by a chapter's check")
    checks.check_choice("b", "q1", checks.answer_digest("q1", "b"), variable="answer_q1")  # no chapter in the id
    assert not standing.record_path().exists()
    assert not data.exists()


def test_nothing_is_recorded_or_read_while_grading(data, monkeypatch):
    checks.setup.count_parameters(count_parameters)
    assert standing.passes()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    record = standing.record_path().read_bytes()
    checks.setup.count_parameters(count_parameters)
    checks.check_choice("b", "00-setup.q1", checks.answer_digest("00-setup.q1", "b"), variable="answer_q1")
    assert standing.record_pass("01-dense", "test_train_step") is False
    assert standing.record_path().read_bytes() == record
    assert standing.passes() == {}


def test_nothing_is_created_while_grading(tmp_path, monkeypatch):
    monkeypatch.setenv(standing.DATA_HOME_ENV, str(tmp_path / "learner-data"))
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    checks.setup.count_parameters(count_parameters)
    assert not (tmp_path / "learner-data").exists()


def test_record_pass_refuses_what_is_not_an_exercise(data):
    with pytest.raises(ValueError, match=r"^chapter must be a chapter id such as '01-dense', got 'dense'$"):
        standing.record_pass("dense", "test_x")
    with pytest.raises(ValueError, match="grade_id must be"):
        standing.record_pass("01-dense", "")


# --------------------------------------------------------------------------- never in the way
@pytest.mark.parametrize("content", [b"{not json", b"[1, 2, 3]", b'{"format": "something else"}', b"\xff\xfe"])
def test_a_corrupt_record_is_kept_aside_with_one_warning(data, capsys, content):
    data.mkdir()
    standing.record_path().write_bytes(content)
    with pytest.warns(standing.StandingWarning, match="kept as standing.json.corrupt"):
        checks.setup.count_parameters(count_parameters)
    assert "public checks passed" in capsys.readouterr().out
    assert set(recorded()["00-setup"]) == {"test_count_parameters"}
    assert (data / "standing.json.corrupt").read_bytes() == content
    standing.record_path().write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second corrupt file in the same session: no second warning
        checks.setup.count_parameters(count_parameters)


def test_a_corrupt_record_reads_as_empty(data):
    data.mkdir()
    standing.record_path().write_text("{half a record")
    with pytest.warns(standing.StandingWarning, match="reads as empty"):
        assert standing.passes() == {}
    assert standing.record_path().read_text() == "{half a record"  # reading never rewrites it


def test_malformed_entries_are_dropped_not_fatal(data):
    data.mkdir()
    standing.record_path().write_text(json.dumps({"format": standing.FORMAT, "version": 1, "chapters": {
        "00-setup": {"test_q1": {"last_passed": "2026-01-01T10:00:00+00:00", "passes": "many"},
                     "test_blank": "yesterday", "test_count_parameters": {"points": 1}},
        "01-dense": [1, 2]}}))
    got = standing.passes()
    assert set(got) == {"00-setup"} and set(got["00-setup"]) == {"test_q1"}
    assert got["00-setup"]["test_q1"].passes == 1


def test_an_unwritable_data_folder_never_breaks_a_check(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # mkdir fails under it, even for root
    monkeypatch.setenv(standing.DATA_HOME_ENV, str(blocker / "aecourse"))
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(standing, "_WARNED", set())
    with pytest.warns(standing.StandingWarning, match="could not note this pass"):
        checks.setup.count_parameters(count_parameters)
    assert "public checks passed" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once: the next pass is silent, and -W error cannot break it
        checks.setup.count_parameters(count_parameters)
        assert standing.record_pass("00-setup", "test_q1") is False
    monkeypatch.setattr(standing, "_WARNED", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # even the first warning, turned into an error, is swallowed
        checks.setup.count_parameters(count_parameters)


def test_a_failed_write_leaves_the_old_record_whole(data, monkeypatch):
    checks.setup.count_parameters(count_parameters)
    before = standing.record_path().read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(standing.os, "replace", broken_replace)
    with pytest.warns(standing.StandingWarning, match="No space left"):
        checks.check_choice("b", "00-setup.q1", checks.answer_digest("00-setup.q1", "b"), variable="answer_q1")
    assert standing.record_path().read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["standing.json", "standing.json.lock"]  # no temp file left


# --------------------------------------------------------------------------- which exercise a check belongs to
def _public_part(source: str) -> str:
    return source.split("### BEGIN HIDDEN TESTS")[0]


def _graded_code_cells(chapter: str):
    nb = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and is_grade(c)]


def _exercises_named_by(source: str) -> list[tuple[str, str]]:
    """What each check call in a test cell's public part records, by the rules of checks.core."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) and \
                isinstance(f.value.value, ast.Name) and f.value.value.id == "checks":
            module = importlib.import_module(f"aecourse.checks.{f.value.attr}")
            found.append(exercise_of_check(vars(module), f.attr))
        elif isinstance(f, ast.Name) and f.id in ("check_choice", "check_blank"):
            variable = next(k.value.value for k in node.keywords if k.arg == "variable")
            found.append(exercise_of_answer(node.args[1].value, variable))
    return found


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_test_cell_records_its_own_grade_id(chapter):
    cells = _graded_code_cells(chapter)
    assert cells, f"{chapter} has no graded code cells"
    for cell in cells:
        grade_id = cell.metadata.nbgrader.grade_id
        named = _exercises_named_by(_public_part(cell.source))
        assert named == [(chapter, grade_id)], (
            f"{chapter} {grade_id}: its public check would record {named}; a test cell test_<name> calls "
            f"checks.<module>.<name>(...) of a module with CHAPTER = {chapter!r}, or a quiz/fill-in check whose "
            f"question id starts with {chapter!r} and whose variable is answer_<name>")


def test_the_rules_can_tell_a_check_from_anything_else():
    assert exercise_of_check(vars(checks.dense), "train_step") == ("01-dense", "test_train_step")
    assert exercise_of_check(vars(checks.dense), "_helper") is None  # not in __all__
    assert exercise_of_check(vars(checks.core), "passed") is None  # no CHAPTER
    assert exercise_of_check({"CHAPTER": "dense", "__all__": ["f"]}, "f") is None
    assert exercise_of_answer("07-where-what.q2", "answer_q2") == ("07-where-what", "test_q2")
    assert exercise_of_answer("q1", "answer_q1") is None
    assert exercise_of_answer("01-dense.q1", "q1") is None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_checks_module_declares_its_chapter(chapter):
    stem = chapter.split("-", 1)[1].replace("-", "")
    assert importlib.import_module(f"aecourse.checks.{stem}").CHAPTER == chapter


def test_the_00_setup_cells_record_in_a_real_ipython_shell(data):
    """The notebook's own answer and check cells, run as a kernel runs them, record all three exercises."""
    from mistakehelp import Chapter

    chapter = Chapter("00-setup")
    for grade_id in chapter.grade_ids():
        outcome = chapter.grade(grade_id, chapter.solution(grade_id))
        assert outcome.public_passed, outcome.public_output
    got = recorded()["00-setup"]
    assert set(got) == {"test_count_parameters", "test_q1", "test_blank"}
    assert all(e["points"] == 1 for e in got.values())
    stub = chapter.grade("test_count_parameters", chapter.stub("test_count_parameters"))
    assert not stub.public_passed and recorded()["00-setup"]["test_count_parameters"]["passes"] == 1


# --------------------------------------------------------------------------- the totals
def _nbgrader_totals(folder: Path) -> dict[str, tuple[list[str], float, float]]:
    """Chapter -> (autograded grade ids, their points, manually graded points), read with nbgrader's is_grade."""
    out = {}
    for nb_path in sorted(folder.glob("*/*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        graded = [c for c in nb.cells if is_grade(c) or c.metadata.get("nbgrader", {}).get("task")]
        auto = [c for c in graded if c.cell_type == "code" and is_grade(c)]
        manual = [c for c in graded if c not in auto]
        out[nb_path.parent.name] = ([c.metadata.nbgrader.grade_id for c in auto],
                                    float(sum(c.metadata.nbgrader.points for c in auto)),
                                    float(sum(c.metadata.nbgrader.get("points", 0) for c in manual)))
    return out


def test_totals_are_the_chapters_nbgrader_points(data):
    expected = _nbgrader_totals(REPO / "solutions")
    got = standing.catalogue(REPO)
    assert list(got) == CHAPTERS == list(expected)
    for chapter, (grade_ids, points, written) in expected.items():
        items = got[chapter]
        assert [e.grade_id for e in items.exercises] == grade_ids, chapter
        assert items.points == points and items.written_points == written, chapter
    rows = {r.chapter: r for r in standing.standing(REPO)}
    assert {c: (r.exercises_total, r.points_total) for c, r in rows.items()} == {
        c: (len(g), p) for c, (g, p, _) in expected.items()}
    assert rows["02-sparse"].written_points > 0  # a written answer exists, and is kept out of the totals
    assert "test_blank" in grade_ids_of(got["00-setup"]) and got["00-setup"].exercises[0].title.startswith("Exercise 1")


def grade_ids_of(items: standing.ChapterItems) -> list[str]:
    return [e.grade_id for e in items.exercises]


def test_totals_come_from_solutions_when_there_is_no_release(data, tmp_path):
    from conftest import copy_minicourse

    root = copy_minicourse(tmp_path / "course-root")  # course/ is empty
    items = standing.catalogue(root)["99-mini"]
    assert grade_ids_of(items) == ["test_square", "test_q1", "test_blank"]
    assert items.points == 4 and items.source == root / "solutions" / "99-mini"


def test_passes_count_only_exercises_the_chapter_has(data):
    standing.record_pass("00-setup", "test_count_parameters", when="2026-05-04T10:00:00+00:00")
    standing.record_pass("00-setup", "test_an_exercise_since_removed", points=5)
    standing.record_pass("42-gone", "test_x", points=2)
    rows = {r.chapter: r for r in standing.standing(REPO)}
    assert (rows["00-setup"].exercises_passed, rows["00-setup"].points_passed) == (1, 1.0)
    assert rows["00-setup"].last_pass == "2026-05-04T10:00:00+00:00"
    assert rows["42-gone"].exercises_total is None and rows["42-gone"].points_passed == 2
    assert list(rows)[-1] == "42-gone"
    table = standing.format_table(list(rows.values()))
    assert "42-gone" in table and "2/?" in table and "totals are unknown" in table


# --------------------------------------------------------------------------- aecourse progress
def _progress(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["progress", "--root", str(REPO), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _line(text: str, start: str) -> list[str]:
    return next(ln for ln in text.splitlines() if ln.startswith(start)).split()


def test_cli_prints_a_table_per_chapter(data, capsys):
    standing.record_pass("00-setup", "test_count_parameters", when="2026-05-04T10:00:00+00:00")
    standing.record_pass("00-setup", "test_q1", when="2026-05-04T10:05:00+00:00")
    standing.record_pass("01-dense", "test_train_step", when="2026-05-04T11:00:00+00:00")
    code, out, err = _progress(capsys)
    assert code == 0, err
    dense = standing.catalogue(REPO)["01-dense"]
    assert _line(out, "00-setup")[:3] == ["00-setup", "2/3", "2/3"]
    assert _line(out, "01-dense")[:3] == ["01-dense", "1/9", f"2/{dense.points:g}"]
    assert _line(out, "01-dense")[3:] == [standing.describe_time("2026-05-04T11:00:00+00:00")[:10],
                                          standing.describe_time("2026-05-04T11:00:00+00:00")[11:]]
    assert _line(out, "02-sparse")[1:] == ["0/7", "0/9", "-"]
    total = sum(len(c.exercises) for c in standing.catalogue(REPO).values())
    assert _line(out, "all chapters")[2] == f"3/{total}"
    assert str(standing.record_path()) in out and "aecourse progress --clear" in out
    assert "graded by a TA" in out


def test_cli_one_chapter_in_detail_and_as_json(data, capsys):
    standing.record_pass("00-setup", "test_q1", when="2026-05-04T10:05:00+00:00")
    standing.record_pass("00-setup", "test_q1", when="2026-05-04T10:06:00+00:00")
    code, out, _ = _progress(capsys, "00-setup")
    assert code == 0
    assert out.splitlines()[0] == "00-setup: 1/3 exercises, 1/3 points"
    assert _line(out, "  [x]")[1] == "test_q1" and "(2 times)" in out
    assert [ln.split()[2] for ln in out.splitlines() if ln.startswith("  [ ]")] == ["test_count_parameters",
                                                                                     "test_blank"]
    code, out, _ = _progress(capsys, "--json")
    report = json.loads(out)
    setup = next(c for c in report["chapters"] if c["chapter"] == "00-setup")
    assert (setup["exercises_passed"], setup["exercises_total"], setup["points_passed"]) == (1, 3, 1.0)
    q1 = next(e for e in setup["exercises"] if e["grade_id"] == "test_q1")
    assert q1 == {"grade_id": "test_q1", "title": q1["title"], "points": 1.0, "passed": True, "passes": 2,
                  "first_passed": "2026-05-04T10:05:00+00:00", "last_passed": "2026-05-04T10:06:00+00:00"}
    assert report["total"]["exercises_passed"] == 1 and report["record"] == str(standing.record_path())


def test_cli_clear_everything_or_one_chapter(data, capsys):
    standing.record_pass("00-setup", "test_q1")
    standing.record_pass("00-setup", "test_blank")
    standing.record_pass("01-dense", "test_q1")
    code, out, _ = _progress(capsys, "00-setup", "--clear")
    assert code == 0 and out.startswith("cleared 00-setup: forgot the passes of 2 exercises")
    assert set(recorded()) == {"01-dense"}
    code, out, _ = _progress(capsys, "00-setup", "--clear")
    assert code == 0 and out.startswith("nothing to clear: no passes recorded for 00-setup")
    code, out, _ = _progress(capsys, "--clear")
    assert code == 0 and out.startswith("cleared your progress record: forgot the passes of 1 exercise;")
    assert not standing.record_path().exists()
    code, out, _ = _progress(capsys, "--clear")
    assert code == 0 and out.startswith("nothing to clear: no progress recorded yet")
    code, out, _ = _progress(capsys)
    assert code == 0 and _line(out, "00-setup")[1:] == ["0/3", "0/3", "-"] and "nothing recorded yet" in out


def test_cli_clear_removes_a_corrupt_record_too(data, capsys):
    data.mkdir()
    standing.record_path().write_text("garbage")
    code, out, err = _progress(capsys)
    assert code == 0 and "warning: your progress record" in err and "reads as empty" in err
    code, out, _ = _progress(capsys, "--clear")
    assert code == 0 and "it held no passes" in out and not standing.record_path().exists()


def test_cli_names_an_unknown_chapter_in_the_one_message_shape(data, capsys):
    code, out, err = _progress(capsys, "09-nowhere")
    assert code == 2 and out == ""
    assert err.strip() == ("error: chapter must be one of " + ", ".join(CHAPTERS) + ", got '09-nowhere'")
    code, _, err = _progress(capsys, "09-nowhere", "--clear")
    assert code == 2 and "chapter must be one of" in err


def test_the_console_command_runs(data):
    standing.record_pass("00-setup", "test_q1")
    out = subprocess.run([sys.executable, "-m", "aecourse.cli", "progress"], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert _line(out.stdout, "00-setup")[1:3] == ["1/3", "1/3"]


# --------------------------------------------------------------------------- the widget in 00-setup
def test_the_widget_builds_refreshes_and_is_labelled(data):
    from aecourse.widgets import StandingTable, standing_table

    standing.record_pass("00-setup", "test_count_parameters")
    w = standing_table(REPO)
    assert isinstance(w, StandingTable)
    assert [r.chapter for r in w.rows] == CHAPTERS
    assert '<th scope="row">00-setup</th><td class="num">1 of 3' in w.table_html.value
    assert "<caption>" in w.table_html.value and w.table_html.value.count('scope="col"') == 4
    assert w.table_html.value.count("<progress") == w.table_html.value.count("aria-label=") == len(CHAPTERS) + 1
    assert w.refresh_button.description == "Refresh" and w.refresh_button.tooltip
    assert 'role="status"' in w.status.value

    standing.record_pass("00-setup", "test_q1")
    standing.record_pass("00-setup", "test_blank")
    assert "1 of 3" in w.table_html.value  # unchanged until refreshed
    w.refresh_button.click()
    assert '<th scope="row">00-setup</th><td class="num">3 of 3 (done)' in w.table_html.value

    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab draws the widget
    assert "3 of 3 (done)" in bundle["text/html"]  # saved without widget state: a static table
    assert _line(bundle["text/plain"], "00-setup")[1:3] == ["3/3", "3/3"]


def test_the_widget_reads_nothing_while_grading(data, monkeypatch):
    from aecourse.widgets import standing_table

    standing.record_pass("00-setup", "test_q1")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    w = standing_table(REPO)
    assert w.rows == [] and "graded" in w.table_html.value and "00-setup" not in w.table_html.value
    bundle = w._repr_mimebundle_()
    assert bundle["text/plain"] == bundle["text/html"].removeprefix("<p>").removesuffix("</p>")
    assert bundle["text/plain"].startswith("Progress is neither read nor recorded")


@pytest.mark.parametrize("folder", ["solutions", "course"])
def test_00_setup_shows_the_widget_in_its_own_cell(folder):
    nb = nbformat.read(REPO / folder / "00-setup" / "00-setup.ipynb", as_version=4)
    at = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "standing_table()" in c.source]
    assert len(at) == 1, f"{folder}/00-setup should call standing_table() in one cell"
    cell, before = nb.cells[at[0]], nb.cells[at[0] - 1]
    assert "nbgrader" not in cell.metadata and len(cell.source.splitlines()) <= 3
    assert before.cell_type == "markdown" and "aecourse progress" in before.source
    assert at[0] > max(i for i, c in enumerate(nb.cells) if is_grade(c))  # after the exercises it counts
