"""nbgrader configuration for aecourse (nbgrader 0.9.6).

This file is *not* read from the repository root: `aecourse release` and
`aecourse grade` copy it into a throw-away course directory and run nbgrader
there (nbgrader reads ``nbgrader_config.py`` from its working directory), so no
gradebook.db, autograded/ or feedback/ folder ever lands in the repo.

Layout inside that throw-away directory mirrors the repo:

    solutions/<chapter-id>/<chapter-id>.ipynb    nbgrader *source*
    course/<chapter-id>/<chapter-id>.ipynb       nbgrader *release*
    submitted/<student>/<chapter-id>/...         one submission (grading only)
    autograded/, feedback/, gradebook.db         nbgrader's own outputs

The only piece of logic in here is `HideTestTracebacks` (feedback must not leak
hidden tests through the tracebacks of failed asserts).
"""
# `c` is injected by traitlets when it executes this file.
# ruff: noqa: F821
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearMarkScheme,
    GetGrades,
    NbGraderPreprocessor,
)


class HideTestTracebacks(NbGraderPreprocessor):
    """Feedback only: reduce the error output of autograded test cells to one line.

    After `ClearHiddenTests` the *source* of a test cell no longer shows the
    hidden tests, but the traceback of a failed hidden ``assert`` still quotes
    the failing line (and its neighbours).  Here every error output of a grade
    cell becomes ``ename: evalue`` and nothing else, so the learner sees e.g.
    ``AssertionError: square(-3) should be 9`` (the assertion *message*, which
    the author controls) but never the hidden test code.
    """

    def preprocess_cell(self, cell, resources, index):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and nbg.get("grade") and not nbg.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    line = out.get("ename", "Error")
                    if out.get("evalue"):
                        line += f": {out['evalue']}"
                    out["traceback"] = [line]
        return cell, resources


# ---------------------------------------------------------------- directories
c.CourseDirectory.course_id = "aecourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
# Files that never travel with a chapter (learner/OS junk).
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    ".DS_Store",
    "__MACOSX",
    ".git",
]

# ------------------------------------------------------------------- release
# The release stub is nbgrader's default, spelled out so changing it is a
# visible decision: a solution region becomes these two lines.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# ----------------------------------------------------------------- autograde
# How nbgrader 0.9.6 scores an autograded test cell (utils.determine_grade):
# 0 if it raises OR writes anything to stderr (a warning, a tqdm bar, logging);
# if its last line is an expression with a numeric value, that value is the
# score (partial credit); otherwise full points.  So test cells print nothing
# to stderr and public check calls return None.
# Per-cell limit.  The *whole* submission has its own wall-clock limit
# (`aecourse grade --timeout`), enforced outside nbgrader by killing the
# process group; a cell that hits this one is interrupted and grading goes on.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.Execute.execute_retries = 0
# Test cells a learner deleted (only possible by editing the JSON: released
# test cells are `deletable: false`) are NOT re-added: that test scores 0 and
# `aecourse grade` flags the row for review.  `True` would re-add them, but
# nbgrader 0.9.6 then crashes (KeyError in add_missing_grade_cells) when the
# preceding solution cell was deleted too, turning a partial submission into
# a crash.  Edited locked cells are always restored from the gradebook.
c.OverwriteCells.add_missing_cells = False
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# ------------------------------------------------------------------ feedback
# nbgrader 0.9.6's GenerateFeedback runs only [GetGrades, CSSHTMLHeader] on the
# autograded notebook, which contains the hidden tests again (autograde
# restores them from the gradebook).  Strip hidden tests, mark schemes and the
# tracebacks that could quote them.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    ClearMarkScheme,
    HideTestTracebacks,
    CSSHTMLHeaderPreprocessor,
]
