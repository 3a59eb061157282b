"""Grade a class's submissions with nbgrader, one isolated sandbox per submission.

    rows = grade(Path("submissions.zip"), Path("graded"), jobs=2, students=Path("roster.csv"))

SUBMISSIONS is a folder or an LMS zip, laid out ``<student>/<chapter-id>/*.ipynb``
or as one file per student ``<student>_<anything>_<notebook>.ipynb`` (see
``intake``).  OUT receives ``grades.csv`` (one row per student and chapter, with
per-item scores, status and flags), ``items.csv`` (one row per test cell),
``unmapped.csv`` (files that map to no student/chapter),
``feedback/<student>/<chapter-id>/<notebook>.html`` and ``.aecourse-cache.json``
(re-running grades only new or changed submissions).

How one batch runs:

1. The master gradebook is built once, from ``solutions/`` (``nbgrader
   generate_assignment`` in a temporary course directory).  It holds each test
   cell, its points and its checksum; the committed ``course/`` is not trusted.
2. Each submission is read as data by the grader (trusted code): not a notebook
   -> ``invalid``; another chapter's notebook -> ``wrong_chapter``; otherwise its
   cells are restored against the release (``notebooks.restore``: locked cells
   back to the release's text, deleted cells added back, nbgrader metadata
   reset) and its own code is scanned for monkeypatching and the like.
3. The restored notebook is graded in its own working copy (config, release and
   a *copy* of the master gradebook, written from memory; never the solution
   notebook) by ``box/driver.py`` running ``nbgrader autograde`` in a
   bubblewrap box that sees that working copy and the Python installation and
   nothing else (``sandbox``).  nbgrader only ever sees the student id ``student``.
4. Trusted code reads back, as data, only what it needs: the scores from the
   box's gradebook copy (only ``auto_score`` counts, every item is clipped to
   the master's points, ``max_score`` always comes from the master), the
   outputs of the executed notebook, and ``result.json`` (timings, limits hit).
   It makes the feedback HTML itself (``feedback``) and only then writes the
   row and the feedback to OUT, which no box can see.

Statuses (``grades.csv``):

    graded              nbgrader ran the notebook; score = sum of the test cells' auto
                        scores.  Cells that raise just lose their points.  Written answers
                        (manually graded cells) stay ``pending`` (flag ``needs_manual``) until a
                        TA grades them in the ``--gradebook`` course directory.
    timeout             the whole notebook ran past ``timeout`` seconds; killed, score 0.
    crashed             the kernel died (``os._exit``, segfault, killed), the memory limit
                        or the output limit was hit, or nbgrader failed; score 0 (nbgrader
                        0.9.6 saves no grade when its kernel dies).
    invalid             the file is not JSON / not an nbformat-4 notebook.
    wrong_chapter       the notebook is another chapter's (its grade ids say so); score 0.
    missing             nothing handed in: a roster student without a submission, an
                        empty chapter folder, a student folder without chapters.
    unknown_assignment  the chapter folder is not a chapter of ``solutions/``.

``flags`` names what needs a human look (``FLAGS``); ``review`` is ``yes`` for every
row that is not a clean ``graded`` one; ``detail`` says why in words.

Where each step lives (a module imports only modules below it here, so there is
no import cycle and no import hidden inside a function to dodge one):

    batch.py       ``grade()``: discovering submissions, the roster, the cache lookup,
                   jobs in parallel, choosing the isolation, progress, writing OUT
    submission.py  one submission: picking its notebooks, restoring them against the
                   release, preparing and running the sandbox, reading the results back,
                   feedback; never raises (an error is a ``crashed`` row)
    cache.py       chapter digests, submission keys, load/save of ``.aecourse-cache.json``
    results.py     ``Row``, ``STATUSES``, ``FLAGS``, ``read_grades`` (a gradebook copy read
                   as data, clipped to the master), ``write_outputs``, ``summary``, slow flags
    feedback.py    the feedback HTML, made outside the box
    sandbox.py     the bubblewrap box and the limits; ``seccomp.py`` its syscall filter;
                   ``box/`` the code that runs inside it (driver, sitecustomize)
    notebooks.py   the master gradebook, restoring locked cells, spotting odd code
    intake.py      folders, LMS zips, file-name patterns, the roster
    gradebook.py   ``--gradebook``: the persistent nbgrader course directory for formgrader
                   (written by trusted code after the checks; TAs' scores kept across runs;
                   ``read_back`` takes only what TAs wrote)
    lms.py         Canvas's and Moodle's grade import files (``aecourse grades --format``)
    handback.py    tables and feedback with TAs' scores and comments, LMS feedback bundles
                   (``aecourse grades``, ``aecourse feedback``), nbgrader's generate_feedback

Trust: everything here but ``box/`` runs in the grader's process, as the instructor;
it reads everything a submission provides (files, names, the box's outputs) as
data and never runs it.  Submitted code runs only under ``box/driver.py``, inside
the box.
"""

from .batch import DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT, grade
from .cache import CACHE_NAME, GRADER_VERSION
from .intake import DEFAULT_PATTERN, IntakeError, discover
from .notebooks import Item
from .results import FLAGS, STATUSES, Row, read_grades, summary, write_outputs
from .sandbox import SandboxUnavailable, isolation_level

__all__ = [
    "STATUSES", "FLAGS", "Item", "Row", "grade", "discover", "read_grades", "summary", "write_outputs",
    "isolation_level", "SandboxUnavailable", "IntakeError", "DEFAULT_PATTERN",
    "DEFAULT_TIMEOUT", "DEFAULT_MEMORY_LIMIT", "DEFAULT_OUTPUT_LIMIT", "CACHE_NAME", "GRADER_VERSION",
]
