"""Public, formative checks that learners run after each exercise.

A check either prints ``public checks passed`` (the visible checks found
nothing wrong; hidden tests run at grading time and may check more) or
raises :class:`CheckFailed`, an ``AssertionError`` whose message is one
``❌`` line naming the mistake and, usually, one ``💡 Hint:`` line that points
the way without giving the solution (:func:`fail` makes that shape). In a
notebook the learner sees those lines only, not the checker's traceback;
because it is an ``AssertionError``, the same call inside an nbgrader test
cell still makes that cell fail when graded.

The helpers name what is wrong: :func:`call` runs the learner's function
(a raised error, a stub's ``NotImplementedError`` or an input changed in
place becomes a message), :func:`expect_type`, :func:`expect_number` and
:func:`expect_shape` name a wrong type (``None``, a tuple, a scipy result
object) or shape, and :func:`expect_close` names NaN/inf, a wrong sign, a
whole scale factor, or one of the typical mistakes a check lists.

Quiz and fill-in answers are compared through salted SHA-256 digests of
their normalised text, so the learner notebook does not print the answer
key in plain sight. Under IPython (JupyterLab, nbval, nbgrader's
autograder) this module follows the answer cells (:func:`track_answer_cells`):
a check reads the value the question's own answer cell set when it last ran,
and says so when that cell raised, has not been answered, or another cell
set the variable; in plain Python it judges the value it is given.

Layout: :mod:`aecourse.checks.core` holds the shared machinery (re-exported here);
each chapter's checks live in the submodule named after the chapter id
(``00-setup`` -> ``checks.setup``, ``01-dense`` -> ``checks.dense``, ...,
``07-where-what`` -> ``checks.wherewhat``).
"""

from __future__ import annotations

from .core import *  # noqa: F401,F403  (the shared helpers, as ``checks.expect`` etc.)
from .core import __all__ as _core_all

# Chapter modules, importable as ``checks.setup``, ``checks.dense``, ... after ``from aecourse import checks``.
from . import dense, disentangle, features, interventions, measure, setup, sparse, wherewhat  # noqa: E402,F401

__all__ = [*_core_all, "dense", "disentangle", "features", "interventions", "measure", "setup", "sparse",
           "wherewhat"]
