"""Public, formative checks that learners run after each exercise.

A check either prints ``public checks passed`` (the visible checks found
nothing wrong; hidden tests run at grading time and may check more) or
raises :class:`CheckFailed`, an ``AssertionError`` whose message says what
is wrong and gives a hint. Because it is an ``AssertionError``, the same
call inside an nbgrader test cell makes that cell fail when graded.

Quiz and fill-in answers are compared through salted SHA-256 digests of
their normalised text, so the learner notebook does not print the answer
key in plain sight. Chapter-specific checks live in the submodules
(``aecourse.checks.setup``, ``aecourse.checks.dense``, ...).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Callable, Iterable

import numpy as np
import torch

__all__ = [
    "CheckFailed",
    "passed",
    "call",
    "expect",
    "expect_shape",
    "expect_close",
    "normalise_choice",
    "normalise_text",
    "answer_digest",
    "check_choice",
    "check_blank",
]

PASSED = "✅ public checks passed"


class CheckFailed(AssertionError):
    """A public check found a problem; the message says what and how to fix it."""


def passed(what: str = "") -> None:
    """Print the pass line. Honest wording: hidden tests may still find problems."""
    print(f"{PASSED}{': ' + what if what else ''}. (Hidden tests run when the notebook is graded.)")


def _fail(problem: str, hint: str | None = None) -> CheckFailed:
    return CheckFailed(f"❌ {problem}" + (f"\n💡 Hint: {hint}" if hint else ""))


def expect(condition: bool, problem: str, hint: str | None = None) -> None:
    """Raise :class:`CheckFailed` with ``problem`` (and ``hint``) unless ``condition``."""
    __tracebackhide__ = True
    if not condition:
        raise _fail(problem, hint)


def call(fn: Callable, *args, name: str | None = None, **kwargs) -> Any:
    """Call a learner's function, turning its errors into readable check failures."""
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise _fail(f"`{name}` should be a function or class, but it is a {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _fail(
            f"`{name}` is not implemented yet",
            "replace the line `raise NotImplementedError()` with your code, run that cell, then this one",
        ) from None
    except CheckFailed:
        raise
    except Exception as exc:
        raise _fail(f"`{name}` raised {type(exc).__name__}: {exc}",
                    "read the error above the hint; test your function on a tiny input first") from exc


def _as_array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def expect_shape(x, shape: tuple, what: str, hint: str | None = None) -> None:
    """Check ``x`` is a tensor/array of exactly ``shape``."""
    __tracebackhide__ = True
    got = tuple(x.shape) if hasattr(x, "shape") else None
    expect(got == tuple(shape), f"{what} should have shape {tuple(shape)}, got {got}", hint)


def expect_close(actual, expected, what: str, *, atol: float = 1e-5, rtol: float = 1e-4,
                 hint: str | None = None) -> None:
    """Check two numbers/arrays agree within tolerance; report the worst difference."""
    __tracebackhide__ = True
    a, e = _as_array(actual), _as_array(expected)
    expect(a.shape == e.shape, f"{what}: expected shape {e.shape}, got {a.shape}", hint)
    expect(bool(np.all(np.isfinite(a))), f"{what} contains NaN or inf", hint)
    if not np.allclose(a, e, atol=atol, rtol=rtol):
        worst = float(np.max(np.abs(a - e)))
        detail = f"expected {e.item():.6g}, got {a.item():.6g}" if a.size == 1 else f"largest difference {worst:.3g}"
        raise _fail(f"{what} does not match the reference ({detail})", hint)


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


def answer_digest(question_id: str, answer: str) -> str:
    """Salted digest of a normalised answer (authors use this to write the key)."""
    return hashlib.sha256(f"aecourse|{question_id}|{answer}".encode()).hexdigest()[:16]


def _unanswered(answer: Any) -> bool:
    return answer is None or answer is ... or (isinstance(answer, str) and not answer.strip())


def check_choice(answer: Any, question_id: str, digest: str, *, choices: str = "abcd",
                 hint: str | None = None, variable: str = "answer") -> None:
    """Public check of a multiple-choice answer (one letter from ``choices``)."""
    __tracebackhide__ = True
    letters = ", ".join(f'"{c}"' for c in choices)
    expect(not _unanswered(answer), f"`{variable}` is not answered yet", f"set {variable} = one of {letters}")
    expect(isinstance(answer, str), f"`{variable}` should be a string such as \"a\", got {type(answer).__name__}")
    choice = normalise_choice(answer)
    expect(len(choice) == 1 and choice in choices, f"`{variable}` = {answer!r} is not one of {letters}",
           "give a single letter")
    expect(answer_digest(question_id, choice) == digest, f"{choice!r} is not the expected answer", hint)
    passed(f"{variable} = {choice!r}")


def check_blank(answer: Any, question_id: str, digests: Iterable[str], *, hint: str | None = None,
                variable: str = "answer") -> None:
    """Public check of a fill-in-the-blank answer against the digests of accepted answers
    (the canonical word and its accepted synonyms, normalised by :func:`normalise_text`)."""
    __tracebackhide__ = True
    expect(not _unanswered(answer), f"`{variable}` is not answered yet", 'set it to a word in quotes, e.g. "word"')
    expect(isinstance(answer, str), f"`{variable}` should be a string in quotes, got {type(answer).__name__}")
    key = normalise_text(answer)
    expect(answer_digest(question_id, key) in set(digests), f"{answer!r} is not an accepted answer", hint)
    passed(f"{variable} = {answer!r}")


# Chapter modules, importable as ``checks.setup``, ``checks.dense``, ... after ``from aecourse import checks``.
from . import dense, disentangle, features, interventions, measure, setup, sparse, wherewhat  # noqa: E402,F401
