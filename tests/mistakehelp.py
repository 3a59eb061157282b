"""Grade catalogued wrong answers against a chapter's public check AND its hidden tests.

A catalogue (``tests/test_mistakes.py`` for chapters 00-03, ``tests/test_mistakes_later.py``
for 04-07) lists plausible wrong answers, each as the source a learner would put in the
answer cell. :func:`grade` runs, in a real IPython shell (the kernel a notebook and nbgrader
use, so the answer-cell hooks of :mod:`aecourse.checks` take part), what the notebook runs:

1. the chapter's setup cells (imports, once per chapter, then snapshotted),
2. the (wrong) answer cell,
3. the public part of the test cell (above ``### BEGIN HIDDEN TESTS``), capturing what the
   learner sees;

and, in a fresh copy of the namespace, the answer cell and then the hidden tests, as
nbgrader's autograder would. :func:`assert_no_false_green` then states the course's promise:
every catalogued mistake fails the public check with a ❌ line whose text matches the
mistake's ``keyword`` (so the message names that mistake), the learner sees no checker
traceback, the hint does not print a line of the solution, and in particular the public
check never passes when the hidden tests fail.

Typical use::

    from mistakehelp import Chapter, Mistake, assert_no_false_green, assert_reference_passes

    CH = Chapter("02-sparse", setup=("c001",))
    MISTAKES = [
        Mistake("test_l1_penalty", "missing batch mean",
                replace=("z.abs().sum(dim=1).mean()", "z.abs().sum()"), keyword="batch"),
        Mistake("test_q1", "letter without quotes", source="answer_q1 = b", keyword="NameError"),
    ]

    @pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: f"{m.grade_id}-{m.name}")
    def test_mistake(mistake):
        assert_no_false_green(CH, mistake)

    @pytest.mark.parametrize("grade_id", CH.grade_ids())
    def test_solution(grade_id):
        assert_reference_passes(CH, grade_id)  # the solution passes both, the release stub fails

The answer cell of test cell ``test_x`` is the cell with grade id ``ex_x`` (the course's
naming convention; pass ``answer_id=`` to :class:`Mistake` otherwise). ``replace=(old, new)``
builds the wrong answer from the solution by one textual slip (``old`` must occur in the
solution, so a catalogue cannot silently drift from the notebook); ``replace`` may also be a
list of such pairs, and ``source=`` gives the whole cell instead.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence


os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*(\n|$)", re.M | re.S)
TRACEBACK_SIGNS = ("Traceback", "checks/__init__.py", "File \"", "site-packages")


_SHELL: list = []


def shell():
    """The process's IPython shell (created on first use), as a notebook kernel would run cells."""
    if not _SHELL:
        import torch
        from IPython.core.interactiveshell import InteractiveShell

        from aecourse import checks

        torch.set_num_threads(1)  # the exercises are tiny; threads only contend on a shared machine
        sh = InteractiveShell.instance()
        checks.track_answer_cells(sh)  # aecourse.checks was imported before the shell existed
        _SHELL.append(sh)
    return _SHELL[0]


@dataclass(frozen=True)
class Mistake:
    """One plausible wrong answer to one graded cell.

    grade_id  the test cell's nbgrader grade id, e.g. ``"test_l1_penalty"``
    name      a short label, e.g. ``"missing batch mean"`` (the pytest id)
    keyword   regex (case-insensitive) the public check's message must match: it names the mistake
    source    the whole wrong answer cell, or
    replace   ``(old, new)`` or a list of them, applied to the solution cell
    answer_id the answer cell's grade id when it is not ``ex_`` + the test's suffix
    others    other cells of the saved notebook that run before the answer cell (also when graded),
              e.g. another question's answer cell that (wrongly) assigns this question's variable
    earlier   cells the learner ran earlier in the session but that are not in the saved notebook,
              e.g. an earlier, since edited, version of the answer cell (not run when graded)
    """

    grade_id: str
    name: str
    keyword: str
    source: str | None = None
    replace: tuple | list | None = None
    answer_id: str | None = None
    others: tuple[str, ...] = ()
    earlier: tuple[str, ...] = ()

    def __post_init__(self):
        if (self.source is None) == (self.replace is None):
            raise ValueError(f"{self.name}: give exactly one of source= and replace=")


@dataclass
class Outcome:
    """What grading one answer produced."""

    public_passed: bool
    public_output: str          # everything the learner sees under the check cell
    public_error: BaseException | None
    hidden_passed: bool
    hidden_error: BaseException | None
    answer_error: BaseException | None = None

    @property
    def message(self) -> str:
        return str(self.public_error) if self.public_error is not None else ""

    @property
    def false_green(self) -> bool:
        return self.public_passed and not self.hidden_passed


@dataclass(eq=False)
class Chapter:
    """A chapter's source notebook, read once; its setup cells are run once per process."""

    chapter: str
    setup: Sequence[str] = ()          # cell ids to run first (imports, data the tests need)
    _base: dict | None = field(default=None, repr=False)

    @cached_property
    def cells(self) -> list[dict]:
        path = REPO / "solutions" / self.chapter / f"{self.chapter}.ipynb"
        return json.loads(path.read_text(encoding="utf-8"))["cells"]

    def _cell(self, *, grade_id: str | None = None, cell_id: str | None = None) -> str:
        for cell in self.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if (grade_id and meta.get("grade_id") == grade_id) or (cell_id and cell.get("id") == cell_id):
                return "".join(cell["source"])
        raise KeyError(f"{self.chapter}: no cell {grade_id or cell_id}")

    def grade_ids(self, prefix: str = "test_") -> list[str]:
        """The grade ids of the chapter's graded test cells."""
        return [m["grade_id"] for c in self.cells
                if (m := c.get("metadata", {}).get("nbgrader", {})).get("grade") and m.get("grade_id", "").startswith(prefix)]

    def test_parts(self, grade_id: str) -> tuple[str, str]:
        """(public part, hidden tests) of a test cell."""
        src = self._cell(grade_id=grade_id)
        hidden = HIDDEN.search(src)
        return HIDDEN.sub("", src), (hidden.group(1) if hidden else "")

    def solution(self, grade_id: str, answer_id: str | None = None) -> str:
        """The answer cell's full solution source, for the test cell ``grade_id``."""
        return self._cell(grade_id=answer_id or "ex_" + grade_id.removeprefix("test_"))

    def stub(self, grade_id: str, answer_id: str | None = None) -> str:
        """The answer cell as the release shows it (nbgrader's stub)."""
        return SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()\n",
                            self.solution(grade_id, answer_id))

    def source_of(self, mistake: Mistake) -> str:
        if mistake.source is not None:
            return mistake.source
        src = self.solution(mistake.grade_id, mistake.answer_id)
        pairs = [mistake.replace] if isinstance(mistake.replace[0], str) else mistake.replace
        for old, new in pairs:
            assert old in src, f"{mistake.name}: {old!r} is not in the solution of {mistake.grade_id}"
            src = src.replace(old, new)
        return src

    def namespace(self) -> dict:
        """A fresh copy of the user namespace after the setup cells."""
        sh = shell()
        if self._base is None:
            sh.user_ns.clear()
            sh.init_user_ns()
            for cell_id in self.setup:
                result = sh.run_cell(self._cell(cell_id=cell_id), silent=True)
                result.raise_error()
            self._base = dict(sh.user_ns)
        return dict(self._base)

    def _run(self, source: str) -> tuple[BaseException | None, str]:
        sh = shell()
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = sh.run_cell(source, store_history=True)
        return result.error_in_exec or result.error_before_exec, out.getvalue()

    def grade(self, grade_id: str, answer: str, answer_id: str | None = None, *,
              others: Sequence[str] = (), earlier: Sequence[str] = ()) -> Outcome:
        """Run ``answer`` in the answer cell, then the public check; separately, as graded, the answer
        cell then the hidden tests (``others`` run before the answer cell both times, ``earlier``
        only in the learner's session)."""
        from aecourse import checks

        public, hidden = self.test_parts(grade_id)
        sh = shell()
        # as the notebook runs: a fresh kernel, setup cells, the answer cell, the check cell
        sh.user_ns.clear()
        sh.user_ns.update(self.namespace())
        checks.forget_answer_cells()
        for cell in (*earlier, *others):
            self._run(cell)
        answer_error, _ = self._run(answer)
        public_error, output = self._run(public)
        # as the autograder runs: again from the setup cells, the answer cell, then the hidden tests
        sh.user_ns.clear()
        sh.user_ns.update(self.namespace())
        checks.forget_answer_cells()
        for cell in (*others, answer):
            self._run(cell)
        # the hidden tests follow the public part in the same cell: they may use its imports
        hidden_error, _ = self._run(_imports_of(public) + hidden) if hidden.strip() else (None, "")
        return Outcome(public_passed=public_error is None and "public checks passed" in output,
                       public_output=output, public_error=public_error,
                       hidden_passed=hidden_error is None, hidden_error=hidden_error, answer_error=answer_error)

    def grade_mistake(self, mistake: Mistake) -> Outcome:
        return self.grade(mistake.grade_id, self.source_of(mistake), mistake.answer_id,
                          others=mistake.others, earlier=mistake.earlier)


def _imports_of(source: str) -> str:
    """The import statements of a cell (the rest of the public part is not needed by the hidden tests)."""
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.extend(lines[node.lineno - 1:node.end_lineno])
    return "\n".join(out) + "\n"


def _solution_lines(chapter: Chapter, grade_id: str, answer_id: str | None) -> list[str]:
    """Distinctive lines of the solution (those a hint must not print)."""
    m = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", chapter.solution(grade_id, answer_id), re.S)
    lines = [ln.strip().removeprefix("return ").strip() for ln in (m.group(1) if m else "").splitlines()]
    # a line with an operator or a non-empty argument list; bare calls such as `optimizer.step()` are
    # names the chapter text gives anyway
    return [ln for ln in lines if len(ln) >= 14 and not ln.startswith("#") and re.search(r"[=+\-*/@\[]|\([^)]", ln)]


def assert_feedback_shape(outcome: Outcome, what: str) -> None:
    """A failed check shows the learner one ❌ line and at most one 💡 line, and no traceback."""
    from aecourse.checks import CheckFailed

    err = outcome.public_error
    assert isinstance(err, CheckFailed), (
        f"{what}: the check cell raised {type(err).__name__} instead of a ❌ line:\n{outcome.public_output}")
    shown = outcome.public_output
    for sign in TRACEBACK_SIGNS:
        assert sign not in shown, f"{what}: the learner sees a traceback ({sign!r}):\n{shown}"
    lines = [ln for ln in shown.strip().splitlines() if ln.strip()]
    assert lines and lines[0].lstrip().startswith("❌"), f"{what}: no ❌ line first:\n{shown}"
    assert len(lines) <= 2 and all(ln.lstrip().startswith(("❌", "💡")) for ln in lines), (
        f"{what}: expected one ❌ line and at most one 💡 line:\n{shown}")


def assert_no_false_green(chapter: Chapter, mistake: Mistake) -> Outcome:
    """The promise for one catalogued mistake (see the module docstring). Returns the outcome."""
    out = chapter.grade_mistake(mistake)
    what = f"{chapter.chapter} {mistake.grade_id} [{mistake.name}]"
    assert not out.false_green, (f"{what}: FALSE GREEN: the public check passed but the hidden tests fail "
                                 f"({type(out.hidden_error).__name__}: {out.hidden_error})")
    assert not out.public_passed, f"{what}: the public check passed a wrong answer:\n{out.public_output}"
    assert_feedback_shape(out, what)
    assert re.search(mistake.keyword, out.message, re.I | re.S), (
        f"{what}: the message does not name the mistake (no /{mistake.keyword}/):\n{out.message}")
    hint = out.message.partition("💡")[2]
    for line in _solution_lines(chapter, mistake.grade_id, mistake.answer_id):
        assert line not in hint, f"{what}: the hint gives away the solution line {line!r}:\n{out.message}"
    return out


def assert_reference_passes(chapter: Chapter, grade_id: str, answer_id: str | None = None) -> None:
    """The solution passes both the public check and the hidden tests, and the release stub fails the
    public check with 'not implemented' / 'not answered'."""
    ok = chapter.grade(grade_id, chapter.solution(grade_id, answer_id))
    assert ok.public_passed, f"{grade_id}: the solution fails the public check:\n{ok.public_output}"
    assert ok.hidden_passed, f"{grade_id}: the solution fails the hidden tests: {ok.hidden_error!r}"
    stub = chapter.grade(grade_id, chapter.stub(grade_id, answer_id))
    assert not stub.public_passed and not stub.hidden_passed, f"{grade_id}: the stub is not failed"
    assert_feedback_shape(stub, f"{grade_id} stub")
    assert re.search("not implemented|not answered", stub.message), stub.message
