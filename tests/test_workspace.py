"""The learner's working copy: made once, never overwritten, newer releases offered with the answers kept."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aecourse import cli, workspace
from aecourse.workspace import merge_answers, sync, update, work_dir

REPO = Path(__file__).resolve().parents[1]
CHAPTER = "02-sparse/02-sparse.ipynb"


def read_nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_nb(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")


def cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def src(c: dict) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


@pytest.fixture
def repo(tmp_path) -> Path:
    """A course repository with the real release of chapters 00 and 02 (and an empty solutions/)."""
    root = tmp_path / "repo"
    for rel in ("00-setup/00-setup.ipynb", CHAPTER):
        (root / "course" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "course" / rel, root / "course" / rel)
    (root / "solutions").mkdir()
    return root


def new_release(repo: Path) -> dict:
    """Publish a newer 02: a reworded first markdown cell and a changed stub for ex_l1_penalty."""
    path = repo / "course" / CHAPTER
    nb = read_nb(path)
    first_md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    first_md["source"] = "# Chapter 02, revised\n" + src(first_md)
    cell(nb, "ex_l1_penalty")["source"] = "# revised stub\n" + src(cell(nb, "ex_l1_penalty"))
    write_nb(path, nb)
    return nb


def answer(work: Path, grade_id: str, text: str) -> None:
    path = work / CHAPTER
    nb = read_nb(path)
    cell(nb, grade_id)["source"] = text
    write_nb(path, nb)


def test_first_use_copies_the_release_and_then_leaves_it_alone(repo, tmp_path):
    work = tmp_path / "work"
    report = sync(repo / "course", work)
    assert report.first_use and sorted(report.created) == ["00-setup/00-setup.ipynb", CHAPTER]
    assert (work / CHAPTER).read_bytes() == (repo / "course" / CHAPTER).read_bytes()
    assert (work / ".aecourse" / "base" / CHAPTER).is_file()
    again = sync(repo / "course", work)
    assert not (again.first_use or again.created or again.refreshed or again.outdated)


def test_answers_survive_every_sync_and_the_repository_stays_clean(repo, tmp_path):
    work = tmp_path / "work"
    sync(repo / "course", work)
    release_before = (repo / "course" / CHAPTER).read_bytes()
    answer(work, "ex_l1_penalty", "def l1_penalty(z):\n    return z.abs().sum(1).mean()\n")
    mine = (work / CHAPTER).read_bytes()
    report = sync(repo / "course", work)
    assert (work / CHAPTER).read_bytes() == mine and not report.outdated  # same release: nothing to offer
    assert (repo / "course" / CHAPTER).read_bytes() == release_before


def test_a_newer_release_replaces_untouched_files_and_is_offered_for_changed_ones(repo, tmp_path):
    work = tmp_path / "work"
    sync(repo / "course", work)
    answer(work, "ex_l1_penalty", "my answer")
    setup = repo / "course" / "00-setup" / "00-setup.ipynb"
    nb = read_nb(setup)
    nb["cells"][0]["source"] = "# 00, revised\n"
    write_nb(setup, nb)
    new_release(repo)
    mine = (work / CHAPTER).read_bytes()

    report = sync(repo / "course", work)
    assert report.refreshed == ["00-setup/00-setup.ipynb"]  # never touched: simply the new version
    assert (work / "00-setup" / "00-setup.ipynb").read_bytes() == setup.read_bytes()
    assert report.outdated == [CHAPTER] and (work / CHAPTER).read_bytes() == mine  # changed: left alone
    text = workspace.describe(report, work)
    assert "aecourse lab --update" in text and CHAPTER in text and "kept as they are" in text


def test_new_and_deleted_files_are_copied(repo, tmp_path):
    work = tmp_path / "work"
    sync(repo / "course", work)
    (work / "00-setup" / "00-setup.ipynb").unlink()
    (repo / "course" / "09-new").mkdir()
    (repo / "course" / "09-new" / "data.txt").write_text("new chapter")
    (repo / "course" / ".ipynb_checkpoints").mkdir()
    (repo / "course" / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    report = sync(repo / "course", work)
    assert sorted(report.created) == ["00-setup/00-setup.ipynb", "09-new/data.txt"]
    assert not (work / ".ipynb_checkpoints").exists()


def test_update_moves_the_answers_into_the_new_release_and_keeps_a_backup(repo, tmp_path):
    work = tmp_path / "work"
    sync(repo / "course", work)
    mine = read_nb(work / CHAPTER)
    cell(mine, "ex_l1_penalty")["source"] = "def l1_penalty(z):\n    return z.abs().sum(1).mean()\n"
    cell(mine, "ex_q1")["source"] = 'answer_q1 = "b"\n'
    at = mine["cells"].index(cell(mine, "ex_q1"))
    mine["cells"].insert(at + 1, {"cell_type": "code", "execution_count": None, "id": "scratch-1", "metadata": {},
                                  "outputs": [], "source": "print('my own experiment')"})
    write_nb(work / CHAPTER, mine)
    old = (work / CHAPTER).read_bytes()
    new = new_release(repo)

    [done] = update(repo / "course", work, sync(repo / "course", work).outdated, stamp="t0")
    assert done.backup == work / "backups" / "t0" / CHAPTER and done.backup.read_bytes() == old
    assert done.answers_kept == 2
    merged = read_nb(work / CHAPTER)
    assert src(cell(merged, "ex_l1_penalty")).endswith("return z.abs().sum(1).mean()\n")
    assert src(cell(merged, "ex_q1")) == 'answer_q1 = "b"\n'
    assert cell(merged, "ex_l1_penalty")["metadata"] == cell(new, "ex_l1_penalty")["metadata"]
    assert src(next(c for c in merged["cells"] if c["cell_type"] == "markdown")).startswith("# Chapter 02, revised")
    ids = [c["id"] for c in merged["cells"]]
    assert ids[ids.index(cell(merged, "ex_q1")["id"]) + 1] == "scratch-1"  # after the cell it followed
    assert len(ids) == len(set(ids)) == len(new["cells"]) + 1
    assert not sync(repo / "course", work).outdated  # the new release is the base now


def test_an_untouched_stub_takes_the_new_stub(repo, tmp_path):
    work = tmp_path / "work"
    sync(repo / "course", work)
    answer(work, "ex_q1", 'answer_q1 = "c"\n')  # ex_l1_penalty stays the old stub
    new = new_release(repo)
    update(repo / "course", work, stamp="t1")
    merged = read_nb(work / CHAPTER)
    assert src(cell(merged, "ex_l1_penalty")) == src(cell(new, "ex_l1_penalty"))
    assert src(cell(merged, "ex_l1_penalty")).startswith("# revised stub")


def test_merge_notes_what_it_cannot_carry_over():
    def nb(*cells):
        return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

    def code(cid, text, grade_id=None):
        meta = {"nbgrader": {"grade_id": grade_id, "solution": True}} if grade_id else {}
        return {"cell_type": "code", "id": cid, "metadata": meta, "outputs": [], "execution_count": None,
                "source": text}

    base = nb(code("a", "setup()"), code("b", "raise NotImplementedError()", "ex_gone"))
    mine = nb(code("a", "setup(fast=True)"), code("b", "my answer", "ex_gone"))
    new = nb(code("a", "setup()"), code("c", "raise NotImplementedError()", "ex_new"))
    merged, notes = merge_answers(mine, new, base)
    assert [src(c) for c in merged["cells"]] == ["setup()", "raise NotImplementedError()"]
    assert any("course cell a" in n for n in notes) and any("'ex_gone' has no exercise" in n for n in notes)
    assert new["cells"][1]["source"] == "raise NotImplementedError()"  # the release's dict is not modified


def test_work_dir_option_beats_environment_beats_default(tmp_path, monkeypatch):
    monkeypatch.setenv(workspace.WORK_ENV, str(tmp_path / "from-env"))
    assert work_dir(tmp_path / "from-arg") == (tmp_path / "from-arg").resolve()
    assert work_dir() == (tmp_path / "from-env").resolve()
    monkeypatch.delenv(workspace.WORK_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert work_dir() == (tmp_path / "home" / "aecourse-work").resolve()
    for bad in (tmp_path / "course", tmp_path / "course" / "inside", tmp_path):
        with pytest.raises(ValueError, match="overlap the release"):
            work_dir(bad, course=tmp_path / "course")


def test_lab_opens_the_working_copy_not_the_repository(repo, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 0)
    work = tmp_path / "work"
    assert cli.main(["lab", "--root", str(repo), "--work", str(work), "--no-browser"]) == 0
    [(cmd, cwd)] = calls
    assert f"--notebook-dir={work.resolve()}" in cmd and Path(cwd) == work.resolve()
    assert cmd[-1] == str(work.resolve() / "00-setup" / "00-setup.ipynb")
    assert "made your working copy" in capsys.readouterr().out

    answer(work, "ex_q1", 'answer_q1 = "b"\n')
    new_release(repo)
    assert cli.main(["lab", "--root", str(repo), "--work", str(work)]) == 0
    out = capsys.readouterr().out
    assert "aecourse lab --update" in out and src(cell(read_nb(work / CHAPTER), "ex_q1")) == 'answer_q1 = "b"\n'
    assert cli.main(["lab", "--root", str(repo), "--work", str(work), "--update"]) == 0
    out = capsys.readouterr().out
    assert f"updated {CHAPTER}: 1 answer(s) kept" in out
    merged = read_nb(work / CHAPTER)
    assert src(cell(merged, "ex_q1")) == 'answer_q1 = "b"\n' and "revised" in src(merged["cells"][0])
    assert cli.main(["lab", "--root", str(repo), "--work", str(work), "--update"]) == 0
    assert "nothing to do" in capsys.readouterr().out and read_nb(work / CHAPTER) == merged

    assert cli.main(["lab", "--root", str(repo), "--work", str(repo / "course")]) == 2
    assert "overlap the release" in capsys.readouterr().err
