"""Shared fixtures: the repository root and a released copy of the tiny fixture course."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Fixture notebooks are data, not tests (an `--nbval` run over tests/ must not execute them).
collect_ignore = ["fixtures"]

REPO = Path(__file__).resolve().parents[1]
MINICOURSE = Path(__file__).resolve().parent / "fixtures" / "minicourse"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def copy_minicourse(dest: Path) -> Path:
    """A self-contained course root: solutions/99-mini, autograder/, empty course/."""
    shutil.copytree(MINICOURSE / "solutions", dest / "solutions")
    shutil.copytree(REPO / "autograder", dest / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "course").mkdir()
    return dest


@pytest.fixture(scope="session")
def minicourse(tmp_path_factory) -> Path:
    """The fixture course, released (course/99-mini exists). Treat as read-only."""
    from aecourse.release import release

    root = copy_minicourse(tmp_path_factory.mktemp("minicourse"))
    release(root)
    return root


def assert_public_check(check, reference, wrong, capsys, *, also_none: bool = False) -> None:
    """A chapter's public check passes the reference solution and fails, with the expected message, on an
    unfilled exercise (a NotImplementedError stub), optionally on one that returns None, and on each
    ``(wrong_answer, message)`` typical mistake."""
    from aecourse.checks import CheckFailed

    def stub(*args, **kwargs):
        raise NotImplementedError()

    check(reference)
    assert "public checks passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(stub)
    if also_none:
        with pytest.raises(CheckFailed, match="None"):
            check(lambda *args, **kwargs: None)
    for answer, message in wrong:
        with pytest.raises(CheckFailed, match=message):
            check(answer)
