"""The machinery every chapter's checks share: messages, comparisons, answer digests, answer cells.

See :mod:`aecourse.checks` for what a check promises a learner. The chapter modules
(``checks/dense.py``, ...) import from here; ``aecourse.checks`` re-exports it.

**Which exercise passed.** Every passing check ends in :func:`passed`, which also notes the pass
in the learner's progress record (:mod:`aecourse.standing`, ``aecourse progress``). It finds the
exercise from the course's naming convention, with no argument to pass: the test cell
``test_<name>`` of a chapter calls ``checks.<module>.<name>(...)``, and each chapter's checks
module declares its chapter id (``CHAPTER = "01-dense"``) and lists its checks in ``__all__``, so
the check function that called :func:`passed` names the exercise (:func:`exercise_of_check`).
Quiz and fill-in checks name it from their arguments: the chapter is the prefix of the question
id (``"01-dense.q1"``), the exercise the answer variable (``answer_q1`` -> ``test_q1``,
:func:`exercise_of_answer`). ``tests/test_standing.py`` checks both rules against every test cell
of every chapter, so a renamed check or cell fails there, not silently in a learner's record.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import traceback
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from IPython import get_ipython  # a dependency (ipykernel); None outside a kernel

from ..standing import chapter_pattern, record_pass

__all__ = [
    "CheckFailed",
    "passed",
    "fail",
    "call",
    "expect",
    "expect_type",
    "expect_shape",
    "expect_close",
    "expect_number",
    "type_name",
    "plural",
    "normalise_choice",
    "normalise_text",
    "answer_digest",
    "check_choice",
    "check_blank",
    "track_answer_cells",
    "forget_answer_cells",
    "close",
    "expect_value",
    "as_float_array",
    "PASSED",
]

PASSED = "✅ public checks passed"


class CheckFailed(AssertionError):
    """A public check found a problem; the message says what and how to fix it.

    In a notebook the learner sees only the message (one ❌ line, maybe one 💡 line):
    IPython shows an exception through its ``_render_traceback_`` when it has one, so the
    checker's own frames stay hidden. The cell still fails, so nbgrader marks the test cell
    as failed when grading.
    """

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


def passed(what: str = "", *, exercise: tuple[str, str] | None = None) -> None:
    """Print the pass line (honest wording: hidden tests may still find problems), and note the pass
    in the learner's progress record (:func:`aecourse.standing.record_pass`; never while grading).

    ``exercise`` is ``(chapter id, test cell grade id)``; by default the chapter check that called
    (:func:`exercise_of_check`). Called from anywhere else, nothing is recorded.
    """
    print(f"{PASSED}{': ' + what if what else ''}. (Hidden tests run when the notebook is graded.)")
    found = exercise or _calling_check(sys._getframe(1))
    if found is not None:
        try:
            record_pass(*found)
        except Exception:  # noqa: BLE001 - bookkeeping must never fail a passing check
            pass


def exercise_of_check(namespace: Mapping[str, Any], function: str) -> tuple[str, str] | None:
    """``(chapter id, grade id)`` of the public check ``function`` of a chapter's checks module.

    ``namespace`` is the module's globals: it declares ``CHAPTER`` and lists its checks in
    ``__all__``; the check of the test cell ``test_<name>`` is called ``<name>``. None for any
    other function (a helper, a reference model, code outside the checks modules).
    """
    chapter = namespace.get("CHAPTER")
    if isinstance(chapter, str) and chapter_pattern().match(chapter) and function in namespace.get("__all__", ()):
        return chapter, f"test_{function}"
    return None


def exercise_of_answer(question_id: str, variable: str) -> tuple[str, str] | None:
    """``(chapter id, grade id)`` of a quiz or fill-in check: ``("01-dense", "test_q1")`` for the
    question id ``"01-dense.q1"`` and the variable ``answer_q1`` (None when the question id does not
    start with a chapter id or the variable is not an answer name)."""
    chapter = str(question_id).split(".", 1)[0]
    if not chapter_pattern().match(chapter) or not _ANSWER_NAME.match(str(variable)):
        return None
    return chapter, f"test_{variable.removeprefix('answer_')}"


def _calling_check(frame, depth: int = 8) -> tuple[str, str] | None:
    """The exercise of the nearest chapter check among ``frame`` and its callers (see the module docstring)."""
    for _ in range(depth):
        if frame is None:
            return None
        found = exercise_of_check(frame.f_globals, frame.f_code.co_name)
        if found is not None:
            return found
        frame = frame.f_back
    return None


def fail(problem: str, hint: str | None = None) -> CheckFailed:
    """The one message shape: ``❌ problem`` and, if given, ``💡 Hint: hint`` on a second line."""
    problem = " ".join(problem.split())
    return CheckFailed(f"❌ {problem}" + (f"\n💡 Hint: {' '.join(hint.split())}" if hint else ""))


_fail = fail  # the name the chapter modules used first


def expect(condition: bool, problem: str, hint: str | None = None) -> None:
    """Raise :class:`CheckFailed` with ``problem`` (and ``hint``) unless ``condition``."""
    __tracebackhide__ = True
    if not condition:
        raise fail(problem, hint)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``plural(1, "unit")`` -> ``"1 unit"``, ``plural(3, "unit")`` -> ``"3 units"``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def type_name(x: Any) -> str:
    """How a check names a returned value's type: ``None``, ``float``, ``Tensor``, ``tuple``, ..."""
    if x is None:
        return "None"
    if isinstance(x, torch.Tensor):
        return "Tensor" if x.dim() else "0-d Tensor"
    return type(x).__name__


def _none_hint(x: Any) -> str | None:
    if x is None:
        return "your function returned None: did you forget the `return` statement?"
    if isinstance(x, tuple) or hasattr(x, "_fields") or hasattr(x, "statistic"):
        return "that is a result holding several values; return only the one the exercise asks for"
    return None


def expect_type(x: Any, types: type | tuple, what: str, hint: str | None = None) -> None:
    """``x`` must be an instance of ``types`` (``bool`` never counts as ``int``)."""
    __tracebackhide__ = True
    types = types if isinstance(types, tuple) else (types,)
    ok = isinstance(x, types) and not (isinstance(x, bool) and bool not in types)
    if not ok:
        names = " or ".join("Python " + t.__name__ if t in (int, float, str) else
                            ("torch Tensor" if t is torch.Tensor else
                             ("NumPy array" if t is np.ndarray else t.__name__)) for t in types)
        raise fail(f"{what} should be a {names}, got {type_name(x)}", _none_hint(x) or hint)


# --------------------------------------------------------------------------- calling learner code
_CHECKS_DIR = Path(__file__).resolve().parent
_LIBRARY_DIRS = tuple({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


def _learner_line(tb) -> str:
    """' (line 3 of your cell: `return x @ W`)' for the deepest frame of learner code, if any."""
    frames = [f for f in traceback.extract_tb(tb)
              if not str(Path(f.filename).resolve()).startswith((str(_CHECKS_DIR.parent), *_LIBRARY_DIRS))]
    if not frames or not frames[-1].line:
        return ""
    return f" (in `{frames[-1].name}`, line {frames[-1].lineno}: `{frames[-1].line.strip()}`)"


def _snapshot(values) -> list:
    out = []
    for v in values:
        if isinstance(v, torch.Tensor):
            out.append(v.detach().clone())
        elif isinstance(v, np.ndarray):
            out.append(v.copy())
        else:
            out.append(None)
    return out


def _same(before, now) -> bool:
    if isinstance(now, torch.Tensor):
        return before.shape == now.shape and torch.equal(before, now.detach())
    return before.shape == now.shape and np.array_equal(before, now, equal_nan=True)


def call(fn: Callable, *args, name: str | None = None, check_inputs: bool = True,
         error_hint: str | None = None, **kwargs) -> Any:
    """Call a learner's function, turning its errors into readable check failures.

    With ``check_inputs`` (the default) the tensor and array arguments are compared before and
    after the call: a function that changes its inputs in place fails with a message saying which.
    ``error_hint`` replaces the generic hint shown when the function raises (e.g. to say which
    argument's shape usually causes a shape error in this exercise).
    """
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise fail(f"`{name}` should be a function or class, but it is a {type_name(fn)}",
                   "run the cell that defines it, and do not reuse its name for a value")
    inputs = list(args) + list(kwargs.values())
    labels = [f"argument {i + 1}" for i in range(len(args))] + [f"`{k}`" for k in kwargs]
    before = _snapshot(inputs) if check_inputs else []
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise fail(f"`{name}` is not implemented yet",
                   "replace the line `raise NotImplementedError()` with your code, run that cell, then this one") from None
    except CheckFailed:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise fail(f"`{name}` raised {type(exc).__name__}: {text}{_learner_line(exc.__traceback__)}",
                   error_hint or _error_hint(exc, name)) from exc
    for label, old, new in zip(labels, before, inputs):
        if old is not None and not _same(old, new):
            raise fail(f"`{name}` changed its input ({label}) in place",
                       "compute a new tensor or array and return it; in-place operations "
                       "(`+=`, `/=`, `x[...] = `, methods ending in `_`) overwrite the caller's data")
    return result


def _error_hint(exc: Exception, name: str) -> str:
    text = str(exc)
    if "shapes cannot be multiplied" in text or "mat1 and mat2" in text or "matmul" in text:
        return "the two sides of a matrix product do not fit: print the shapes of both; you may need to " \
               "flatten the input or transpose a weight matrix"
    if "must match the size" in text or "broadcast" in text:
        return "two tensors have shapes that cannot be combined: print their .shape just before that line"
    if "only 0-dimensional arrays" in text or "only one element tensors" in text or "only length-1" in text:
        return "float() needs one number, but it got a whole array: reduce the array first (e.g. with a mean)"
    if isinstance(exc, NameError):
        return "a name used in your function is not defined: run the cells above it first"
    return f"read the error; call {name} on a tiny input and print the intermediate shapes"


# --------------------------------------------------------------------------- comparing values
def expect_number(x: Any, what: str, hint: str | None = None) -> float:
    """``x`` as a float if it is one number (Python, NumPy or a one-element tensor); otherwise a
    ❌ line naming what it is (a tuple, a scipy result object, an array of shape ..., None)."""
    __tracebackhide__ = True
    if isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_)):
        return float(x)
    if isinstance(x, (torch.Tensor, np.ndarray)):
        expect(x.size == 1 if isinstance(x, np.ndarray) else x.numel() == 1,
               f"{what} should be one number, got {type_name(x)} of shape {tuple(x.shape)}",
               hint or "reduce it to a single number (e.g. a mean or a sum)")
        return float(x.item())
    raise fail(f"{what} should be one number, got {type_name(x)}", _none_hint(x) or hint)


def _numeric(x: Any, what: str, hint: str | None) -> np.ndarray:
    __tracebackhide__ = True
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.number, np.ndarray, list)):
        raise fail(f"{what} should be a number, tensor or array, got {type_name(x)}", _none_hint(x) or hint)
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise fail(f"{what} should be a number, tensor or array, got a {type_name(x)} that is not numeric",
                   hint) from None


def as_float_array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def close(a, b, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Whether two numbers/arrays/tensors have one shape, are finite and agree within tolerance."""
    a, b = as_float_array(a), as_float_array(b)
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(np.allclose(a, b, atol=atol, rtol=rtol))


def expect_value(got, want, what: str, mistakes: Iterable[tuple[Any, str, str | None]] = (), *,
                 atol: float = 1e-5, hint: str | None = None) -> None:
    """``got`` should match ``want``; when it matches one of the typical ``(wrong value, problem,
    hint)`` mistakes instead, that mistake is named first (then :func:`expect_close` names shape,
    NaN/inf, sign, scale or the difference)."""
    __tracebackhide__ = True
    if close(got, want, atol):
        return
    for wrong, problem, wrong_hint in mistakes:
        expect(not close(got, wrong, atol), f"{what} does not match the reference: {problem}", wrong_hint)
    expect_close(got, want, what, atol=atol, hint=hint)


def expect_shape(x, shape: tuple, what: str, hint: str | None = None) -> None:
    """Check ``x`` is a tensor/array of exactly ``shape``."""
    __tracebackhide__ = True
    if not hasattr(x, "shape"):
        raise fail(f"{what} should be a tensor or array of shape {tuple(shape)}, got {type_name(x)}",
                   _none_hint(x) or hint)
    got = tuple(x.shape)
    expect(got == tuple(shape), f"{what} should have shape {tuple(shape)}, got {got}", hint)


def _fmt(a: np.ndarray) -> str:
    return f"{a.item():.6g}" if a.size == 1 else f"an array of shape {a.shape}"


def expect_close(actual, expected, what: str, *, atol: float = 1e-5, rtol: float = 1e-4,
                 hint: str | None = None, known: Iterable[tuple[Any, str, str | None]] = ()) -> None:
    """Check two numbers/arrays agree within tolerance, and name the way they differ.

    ``known`` lists typical mistakes as ``(value the mistake gives, problem, hint)``: when
    ``actual`` matches one of them, that problem is reported. Otherwise a wrong sign and a
    constant scale factor are recognised and named; anything else reports the difference.
    """
    __tracebackhide__ = True
    a, e = _numeric(actual, what, hint), as_float_array(expected)
    expect(a.shape == e.shape, f"{what} should have shape {e.shape}, got {a.shape}", hint)
    expect(bool(np.all(np.isfinite(a))), f"{what} contains NaN or inf", hint)
    if np.allclose(a, e, atol=atol, rtol=rtol):
        return
    for value, problem, known_hint in known:
        v = as_float_array(value)
        if v.shape == a.shape and np.all(np.isfinite(v)) and np.allclose(a, v, atol=atol, rtol=rtol) \
                and not np.allclose(v, e, atol=atol, rtol=rtol):
            raise fail(f"{problem} (expected {_fmt(e)}, got {_fmt(a)})" if a.size == 1 else problem, known_hint)
    big = np.abs(e) > 10 * atol
    if big.any() and np.allclose(a, -e, atol=atol, rtol=rtol):
        raise fail(f"{what} has the wrong sign (expected {_fmt(e)}, got {_fmt(a)})", hint)
    if big.all() and np.all(a[big] != 0):
        r = float(np.median(a[big] / e[big]))
        # one number always has *some* ratio to another: name it only when it is a whole factor
        whole = any(abs(v - round(v)) < 1e-3 * v and round(v) >= 2 for v in (abs(r), 1 / abs(r)))
        if r > 0 and (a.size > 1 or whole) and np.allclose(a, r * e, atol=atol, rtol=rtol):
            size = f"{r:.3g} times too large" if r > 1 else f"{1 / r:.3g} times too small"
            raise fail(f"{what} is {size}: a scale factor is off (expected {_fmt(e)}, got {_fmt(a)})", hint)
    if a.size == 1:
        detail = f"expected {_fmt(e)}, got {_fmt(a)}"
    else:
        detail = f"largest difference {float(np.max(np.abs(a - e))):.3g}"
    raise fail(f"{what}: does not match the reference ({detail})", hint)


# --------------------------------------------------------------------------- quiz and fill-in answers
_ARTICLES = re.compile(r"^(a|an|the)\s+")


def normalise_choice(answer: Any) -> str:
    """``"B"``, ``" b "``, ``"(b)"``, ``"b."`` and ``"b)"`` all become ``"b"``."""
    if not isinstance(answer, str):
        return ""
    return re.sub(r"[\s().:\]\[]", "", answer).lower()


def normalise_text(answer: Any) -> str:
    """Canonical form of a fill-in answer: case, accents, spaces, hyphens, articles and
    surrounding punctuation do not matter (``" Under-complete. "`` -> ``"undercomplete"``)."""
    if not isinstance(answer, str):
        return ""
    text = unicodedata.normalize("NFKC", answer).strip().lower()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text)).strip()
    text = _ARTICLES.sub("", text)
    return text.replace(" ", "").replace("_", "")


def number_variants(key: str) -> dict[str, str]:
    """Singular and plural forms of a normalised answer: ``{"factor": "singular"}`` for
    ``"factors"``, ``{"bottlenecks": "plural"}`` for ``"bottleneck"``."""
    out: dict[str, str] = {}
    if key.endswith("ies") and len(key) > 4:
        out[key[:-3] + "y"] = "singular"
    if key.endswith("es") and len(key) > 3:
        out[key[:-2]] = "singular"
    if key.endswith("s") and not key.endswith("ss") and len(key) > 2:
        out[key[:-1]] = "singular"
    if not key.endswith("s"):
        out[key + ("es" if key.endswith(("x", "ch", "sh")) else "s")] = "plural"
        if key.endswith("y"):
            out[key[:-1] + "ies"] = "plural"
    out.pop(key, None)
    return out


def answer_digest(question_id: str, answer: str) -> str:
    """Salted digest of a normalised answer (authors use this to write the key)."""
    return hashlib.sha256(f"aecourse|{question_id}|{answer}".encode()).hexdigest()[:16]


def _unanswered(answer: Any) -> bool:
    return answer is None or answer is ... or (isinstance(answer, str) and not answer.strip())


# --------------------------------------------------------------------------- answer cells (IPython)
_ANSWER_NAME = re.compile(r"^(?:answer|blank)_\w+$")
_MARKER = re.compile(r"#\s*Your answer:.*?\be\.g\.\s*((?:answer|blank)_\w+)\s*=")
_ASSIGN_FALLBACK = re.compile(r"^[ \t]*((?:answer|blank)_\w+)\s*(?::[^=\n]*)?=(?!=)", re.M)
_MISSING = object()


@dataclass
class _CellRun:
    """One executed cell that assigns answer names or is an answer cell (has the template comment)."""

    number: int
    markers: set[str]
    assigned: dict[str, Any]
    error: BaseException | None
    names: set[str] = field(default_factory=set)


_RUNS: list[_CellRun] = []
_STATE = {"in_cell": False, "count": 0}


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(_ASSIGN_FALLBACK.findall(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _ANSWER_NAME.match(node.id):
            names.add(node.id)
    return names


class _AnswerTracker:
    """IPython ``pre_run_cell``/``post_run_cell`` callbacks recording answer cells."""

    def __init__(self, shell):
        self.shell = shell

    def pre(self, info=None) -> None:
        _STATE["in_cell"] = True

    def post(self, result) -> None:
        _STATE["in_cell"] = False
        try:
            self._record(result)
        except Exception:  # noqa: BLE001 - bookkeeping must never disturb the learner's cell
            pass

    def _record(self, result) -> None:
        info = getattr(result, "info", None)
        source = getattr(info, "raw_cell", None) or ""
        names, markers = _assigned_names(source), set(_MARKER.findall(source))
        if not names and not markers:
            return
        _STATE["count"] += 1
        error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        ns = self.shell.user_ns
        assigned = {n: ns[n] for n in names if n in ns} if error is None else {}
        _RUNS.append(_CellRun(_STATE["count"], markers, assigned, error, names))


def track_answer_cells(shell=None) -> bool:
    """Record which cell assigns which ``answer_*``/``blank_*`` name, and whether it ran without
    error, so :func:`check_choice` and :func:`check_blank` judge the answer cell's own value.
    Called when this module is imported under IPython; returns whether tracking is on."""
    if shell is None:
        shell = get_ipython()  # None outside IPython
    events = getattr(shell, "events", None)
    if events is None:
        return False
    for event in ("pre_run_cell", "post_run_cell"):  # a re-import must not register twice
        for cb in list(events.callbacks.get(event, [])):
            if type(getattr(cb, "__self__", None)).__name__ == "_AnswerTracker":
                events.unregister(event, cb)
    tracker = _AnswerTracker(shell)
    events.register("pre_run_cell", tracker.pre)
    events.register("post_run_cell", tracker.post)
    return True


def forget_answer_cells() -> None:
    """Forget the recorded answer cells (a fresh kernel; used by the tests)."""
    _RUNS.clear()
    _STATE["in_cell"] = False


def _answer_from_cell(variable: str, answer: Any, example: str) -> Any:
    """The value to check for ``variable``: ``answer`` itself, after making sure it is what the
    variable's own answer cell set when it last ran. Without IPython (plain Python) or when no
    tracked cell mentions the variable, ``answer`` is taken as it is."""
    __tracebackhide__ = True
    if not _STATE["in_cell"]:
        return answer
    owners = [r for r in _RUNS if variable in r.markers]
    setters = [r for r in _RUNS if variable in r.names]
    if not owners and not setters:
        return answer
    run = owners[-1] if owners else setters[-1]
    if run.markers and variable not in run.markers:
        raise fail(f"`{variable}` is set in the answer cell of {', '.join(f'`{m}`' for m in sorted(run.markers))}, "
                   f"and its own answer cell has not been run",
                   f"answer each question in its own cell: {variable} = {example} goes in the cell below its question")
    if isinstance(run.error, NotImplementedError):
        raise fail(f"`{variable}` is not answered yet: its answer cell still raises NotImplementedError",
                   f"replace `raise NotImplementedError()` in the answer cell with {variable} = {example}, "
                   "then run that cell and this one")
    if run.error is not None:
        quotes = " (did you forget the quotes?)" if isinstance(run.error, NameError) else ""
        raise fail(f"your answer cell raised {type(run.error).__name__}: {run.error}{quotes}",
                   f"write the answer as a string in quotes, {variable} = {example}, run the answer cell again")
    if variable not in run.assigned:
        others = sorted(set(run.assigned) - {variable})
        also = f" (it sets {', '.join(f'`{o}`' for o in others)})" if others else ""
        raise fail(f"your answer cell ran but did not set `{variable}`{also}",
                   f"assign exactly this name: {variable} = {example}")
    later = [r for r in setters if r.number > run.number]
    if later:
        raise fail(f"`{variable}` was set again by another cell after its answer cell ran",
                   f"set {variable} only in its own answer cell, then run that cell again")
    value = run.assigned[variable]
    if value is not answer and not (isinstance(value, str) and value == answer):
        raise fail(f"`{variable}` holds a different value from the one its answer cell set",
                   "run the answer cell again, then this one")
    return value


def check_choice(answer: Any, question_id: str, digest: str, *, choices: str = "abcd",
                 hint: str | None = None, variable: str = "answer") -> None:
    """Public check of a multiple-choice answer (one letter from ``choices``), read from the
    variable's own answer cell when running under IPython (see :func:`track_answer_cells`)."""
    __tracebackhide__ = True
    letters = ", ".join(f'"{c}"' for c in choices)
    # the letter shown in examples is never the right one: a hint must not give the answer away
    example = next((c for c in choices if answer_digest(question_id, c) != digest), choices[0])
    answer = _answer_from_cell(variable, answer, f'"{example}"')
    expect(not _unanswered(answer), f"`{variable}` is not answered yet", f"set {variable} = one of {letters}")
    expect(isinstance(answer, str), f"`{variable}` should be a string such as \"{example}\", got {type_name(answer)}",
           f'put the letter in quotes: {variable} = "{example}"')
    choice = normalise_choice(answer)
    expect(len(choice) == 1 and choice in choices, f"`{variable}` = {answer!r} is not one of {letters}",
           "give a single letter")
    expect(answer_digest(question_id, choice) == digest, f"{choice!r} is not the expected answer", hint)
    passed(f"{variable} = {choice!r}", exercise=exercise_of_answer(question_id, variable))


def check_blank(answer: Any, question_id: str, digests: Iterable[str], *, hint: str | None = None,
                variable: str = "answer", near_misses: Mapping[str, str] | None = None) -> None:
    """Public check of a fill-in-the-blank answer against the digests of accepted answers
    (the canonical word and its accepted synonyms, normalised by :func:`normalise_text`).

    A word in the wrong number (``"factors"`` when ``"factor"`` is accepted) gets a message
    saying so. ``near_misses`` maps the digest of a normalised wrong answer to its own hint,
    for wrong answers an author expects (the key stays hidden in the notebook).
    """
    __tracebackhide__ = True
    answer = _answer_from_cell(variable, answer, '"word"')
    expect(not _unanswered(answer), f"`{variable}` is not answered yet", f'set it to a word in quotes: {variable} = "word"')
    expect(isinstance(answer, str), f"`{variable}` should be a string in quotes, got {type_name(answer)}",
           f'put the word in quotes: {variable} = "word"')
    accepted = set(digests)
    key = normalise_text(answer)
    if answer_digest(question_id, key) not in accepted:
        own = (near_misses or {}).get(answer_digest(question_id, key))
        if own:
            raise fail(f"{answer!r} is not an accepted answer", own)
        for variant, form in number_variants(key).items():
            if answer_digest(question_id, variant) in accepted:
                raise fail(f"{answer!r} is the right word in the wrong form: the blank takes the {form}",
                           f"write the {form} form of the same word")
        raise fail(f"{answer!r} is not an accepted answer", hint)
    passed(f"{variable} = {answer!r}", exercise=exercise_of_answer(question_id, variable))


track_answer_cells()  # under IPython (a notebook, nbgrader's autograder): follow the answer cells

