"""course/ is what nbgrader generate_assignment makes of solutions/, and stays so."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aecourse.release import (
    ReleaseError,
    build_release,
    chapter_ids,
    diff_release,
    find_root,
    release,
)
from conftest import REPO, copy_minicourse
from gradehelp import load, nbg, source_of, tree_digest

MINI = "99-mini"


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aecourse.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_find_root_walks_up(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "course" / "01-x").mkdir(parents=True)
    assert find_root(tmp_path / "course" / "01-x") == tmp_path.resolve()


def test_chapter_ids_ignore_junk(tmp_path):
    for name in ("01-b", "00-a", ".ipynb_checkpoints", "__MACOSX"):
        (tmp_path / "solutions" / name).mkdir(parents=True)
        (tmp_path / "solutions" / name / f"{name}.ipynb").write_text("{}")
    (tmp_path / "solutions" / "02-empty").mkdir()
    assert chapter_ids(tmp_path) == ["00-a", "01-b"]


@pytest.mark.slow
def test_release_content(minicourse):
    """Stubs instead of solutions, no hidden tests or mark schemes, locked tests, checksums."""
    nb = load(minicourse / "course" / MINI / f"{MINI}.ipynb")
    text = json.dumps(nb)
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "hidden-test-marker", "MARK SCHEME",
                   "mark-scheme-marker", 'answer_q1 = \\"b\\"', "return x * x"):
        assert secret not in text
    cells = {nbg(c)["grade_id"]: c for c in nb["cells"] if nbg(c)}
    assert "raise NotImplementedError()" in source_of(cells["ex_square"])
    assert source_of(cells["ex_square"]).startswith("def square(x):")  # code outside the region stays
    assert "public_check(square(2) == 4" in source_of(cells["test_square"])
    for gid in ("test_square", "test_q1", "test_blank"):
        assert nbg(cells[gid])["locked"] and cells[gid]["metadata"]["editable"] is False
        assert nbg(cells[gid])["checksum"]
    assert all(c.get("outputs", []) == [] for c in nb["cells"])
    assert not (minicourse / "gradebook.db").exists()
    assert sorted(p.name for p in minicourse.iterdir()) == ["autograder", "course", "solutions"]


@pytest.mark.slow
def test_release_is_deterministic_and_idempotent(tmp_path, minicourse):
    root = copy_minicourse(tmp_path)
    changed = release(root)
    assert changed == [root / "course" / MINI / f"{MINI}.ipynb"]
    first = tree_digest(root / "course")
    assert first == tree_digest(minicourse / "course")  # another run, another folder: same bytes
    assert release(root) == []
    assert tree_digest(root / "course") == first


@pytest.mark.slow
def test_diff_release_detects_changes_and_release_repairs(tmp_path):
    root = copy_minicourse(tmp_path)
    assert diff_release(root) == [f"course/{MINI}/: missing (run `aecourse release`)"]
    release(root)
    assert diff_release(root) == []

    nbpath = root / "course" / MINI / f"{MINI}.ipynb"
    nbpath.write_text(nbpath.read_text().replace("square(2) == 4", "square(2) == 5"))
    (root / "course" / MINI / "notes.txt").write_text("stray")
    (root / "course" / "98-gone").mkdir()
    (root / "course" / "98-gone" / "98-gone.ipynb").write_text("{}")
    checkpoints = root / "course" / MINI / ".ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / f"{MINI}-checkpoint.ipynb").write_text("{}")

    problems = diff_release(root)
    assert any(p.startswith(f"course/{MINI}/{MINI}.ipynb: cell 4 (test_square) differs in source") for p in problems)
    assert any(p.startswith(f"course/{MINI}/notes.txt") for p in problems)
    assert any(p.startswith("course/98-gone/: stale") for p in problems)
    assert len(problems) == 3, problems  # the checkpoint folder is junk, not a difference

    changed = release(root)
    assert nbpath in changed and root / "course" / "98-gone" in changed
    assert diff_release(root) == []
    assert not (root / "course" / "98-gone").exists()
    assert (checkpoints / f"{MINI}-checkpoint.ipynb").exists()  # learners' junk is left alone


def test_release_check_cli(tmp_path, minicourse, monkeypatch, capsys):
    """`aecourse release [--check]` in-process (the entry point itself: test_cli_help_reads_well)."""
    from aecourse.cli import main

    root = tmp_path / "course-repo"
    shutil.copytree(minicourse, root)
    monkeypatch.chdir(root / "course" / MINI)                      # found by walking up
    assert main(["release", "--check"]) == 0
    assert "in sync" in capsys.readouterr().out
    monkeypatch.chdir(root)
    nbpath = root / "course" / MINI / f"{MINI}.ipynb"
    nbpath.write_text(nbpath.read_text().replace("square(2) == 4", "square(2) == 5"))
    assert main(["release", "--check"]) == 1
    out = capsys.readouterr().out
    assert "test_square" in out and "aecourse release" in out
    assert main(["release"]) == 0
    assert main(["release", "--check"]) == 0


@pytest.mark.slow
def test_broken_source_is_a_clear_error(tmp_path):
    root = copy_minicourse(tmp_path)
    nbpath = root / "solutions" / MINI / f"{MINI}.ipynb"
    nb = load(nbpath)
    for cell in nb["cells"]:
        if nbg(cell).get("grade_id") == "ex_q1":
            cell["source"] = "### BEGIN SOLUTION\nanswer_q1 = 'b'\n"  # no END SOLUTION
    nbpath.write_text(json.dumps(nb))
    with pytest.raises(ReleaseError, match="generate_assignment failed"):
        release(root)
    assert not any((root / "course").iterdir())  # nothing half-written


def test_build_release_runs_nbgrader_once_per_inputs(tmp_path, minicourse, monkeypatch):
    """The in-process memo: the same sources give the same files without nbgrader; an edit runs it again."""
    import aecourse.release as release_module

    calls = []
    real = release_module._nbgrader
    monkeypatch.setattr(release_module, "_nbgrader", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = build_release(minicourse, tmp_path / "a", [MINI])   # nbgrader runs, unless an earlier test built it
    again = build_release(minicourse, tmp_path / "b", [MINI])
    assert len(calls) <= 1
    before = len(calls)
    assert tree_digest(again / "course") == tree_digest(first / "course")
    assert (again / "gradebook.db").read_bytes() == (first / "gradebook.db").read_bytes()
    edited = copy_minicourse(tmp_path / "edited")
    nbpath = edited / "solutions" / MINI / f"{MINI}.ipynb"
    nbpath.write_text(nbpath.read_text().replace("square(2) == 4", "square(3) == 9"))
    changed = build_release(edited, tmp_path / "c", [MINI])
    assert len(calls) == before + 1
    assert "square(3) == 9" in (changed / "course" / MINI / f"{MINI}.ipynb").read_text()


def test_cli_help_reads_well():
    out = subprocess.run([sys.executable, "-m", "aecourse.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("lab", "release", "grade", "info", "examples:"):
        assert word in out.stdout
    for command in ("lab", "release", "grade", "info"):
        sub = subprocess.run([sys.executable, "-m", "aecourse.cli", command, "--help"],
                             capture_output=True, text=True)
        assert sub.returncode == 0 and "example" in sub.stdout, command


def test_cli_info_reports_versions_and_device():
    out = subprocess.run([sys.executable, "-m", "aecourse.cli", "info"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for word in ("python", "torch", "numpy", "ipywidgets", "jupyterlab", "nbgrader", "device"):
        assert word in out.stdout


# ------------------------------------------------------------ real chapters
@pytest.mark.slow
def test_repository_release_in_sync():
    """`aecourse release --check` for the real chapters: course/ == fresh release of solutions/."""
    if not chapter_ids(REPO):
        pytest.skip("no chapters in solutions/ yet")
    problems = diff_release(REPO)
    assert problems == [], "course/ is stale; run `aecourse release`:\n" + "\n".join(problems)


def test_source_notebooks_have_unique_cell_ids():
    """Every cell in solutions/ carries an id (nbformat 4.5): without one nbformat warns, and will refuse in future."""
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        ids = [cell.get("id") for cell in cells]
        missing = [i for i, cell_id in enumerate(ids) if not cell_id]
        assert not missing, f"{path.name}: cells {missing} have no id; give each a unique 'id' (e.g. 'c034a')"
        assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"
