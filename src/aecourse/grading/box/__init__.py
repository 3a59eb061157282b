"""Code that runs *inside* the grading box, by path, in a fresh interpreter.

    driver.py            runs ``nbgrader autograde`` on the one submission in the box's
                         course folder, under the per-process limits, and writes
                         ``result.json`` (what trusted code reads back; it is data, never code)
    site/sitecustomize.py  the per-process network guard every Python process of the box
                         imports at start-up (the box's ``PYTHONPATH``)

Nothing in this package is imported by the grader itself: the box's code is
untrusted once a submission runs next to it, and the grader reads only data
from the box.  The files are real modules so that linters, editors and tests
read them (``tests/test_sandbox.py`` runs the guard on its own).
"""

from pathlib import Path

BOX_DIR = Path(__file__).resolve().parent
DRIVER = BOX_DIR / "driver.py"
SITE_DIR = BOX_DIR / "site"
