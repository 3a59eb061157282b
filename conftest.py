"""Repository-wide pytest settings: how nbval runs the chapter notebooks in solutions/.

**One execution, three guarantees.** nbval executes every chapter (the solution notebooks, top to
bottom) once, and that one run is also the offline run and the Binder run: its kernel is started by
``tests/kernel_launcher.py`` with

- the Python of the Binder environment (``tests/envs.py``: a venv built the way Binder builds it,
  ``binder/requirements.txt`` + ``binder/postBuild``, cached under ``.cache/``; built on the first
  chapter, about a minute, then reused);
- the network off: under ``unshare -n`` (a network namespace of its own; nbval then talks to the
  kernel over ipc sockets, which a namespace does not cut), or with the sitecustomize socket guard
  where unshare is not allowed (``AECOURSE_OFFLINE=guard`` forces the guard);
- ``AECOURSE_DATA`` a new, empty folder per notebook, so no chapter may count on a download.

The launcher checks all three before it starts ipykernel and refuses, with a message this file
quotes, otherwise (tests/test_offline.py checks that it does refuse). The kernel's working folder is
the notebook's, as nbval sets it. So tests/test_offline.py and tests/test_binder.py no longer
execute the chapters themselves.

**Opting out.** ``AECOURSE_NBVAL_KERNEL=current`` runs nbval as plain nbval does, in the notebook's
own kernel (``python3``: usually the current venv), online, with your data folder; for a quick edit
loop on one chapter without the Binder environment. ``--nbval-kernel-name`` / ``--nbval-current-env``
on the command line also win over the Binder kernel.

**Executed chapters for the website.** Each chapter cell nbval runs is handed to
``website/executed.py``; once every code cell of a chapter has passed, the chapter with those outputs is
written to ``.cache/executed/<id>.ipynb`` with a key of its sources, and ``tests/test_site.py`` (ordered
after the chapters here, and in their xdist scope) builds the website from it instead of running the
chapters again.

**Progress records.** Public checks that pass note it in the learner's progress record
(``aecourse.standing``). For the whole session ``AECOURSE_DATA_HOME`` points at a new, empty
folder (removed at the end), set here before any test runs, so neither the tests, nor the nbval
kernels, nor the browser tests' servers (which inherit the environment) ever write a learner's
data folder. Tests that look at the record point it at their own ``tmp_path``.

**Timeouts.** nbval waits at most 5 seconds (a constant in its ``IPyNbCell``, with no command-line
option) for each output message of a cell that has already finished. On a machine shared with other
CPU-heavy jobs the kernel can be starved for longer than that, and a cell that ran fine fails with
"Timeout of 5 seconds exceeded waiting for output" (seen in a test run with two training jobs beside
it). Waiting longer costs nothing when the machine is idle, because the wait ends as soon as the
message arrives.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbval.kernel
import pytest
from nbval.plugin import IPyNbCell  # a test dependency: pytest's addopts pass --nbval-lax

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
import envs  # noqa: E402  (tests/envs.py: the Binder environment, the offline kernelspec)
from website import executed  # noqa: E402  (the site builder's cache of nbval's outputs)

#: Seconds nbval waits for each output message of a finished cell (nbval's own value: 5).
NBVAL_OUTPUT_TIMEOUT = 120
#: ``AECOURSE_NBVAL_KERNEL=current``: nbval in the notebook's own kernel (see the module docstring).
OPT_OUT_VAR = "AECOURSE_NBVAL_KERNEL"

_nbval_start_new_kernel = nbval.kernel.start_new_kernel
#: Where passing checks record progress during the tests (see the module docstring).
STANDING_VAR = "AECOURSE_DATA_HOME"
_state: dict = {"tmp": None, "spec": None, "error": None, "standing": None, "standing_before": None,
               "captured": [], "capture_error": None}
#: The website's test file: ordered after the chapters, whose outputs it shows.
SITE_TEST = "test_site.py"
_capture = executed.SESSION


def _offline_spec() -> Path:
    """The kernelspec folder of the Binder offline kernel, made (and the Binder venv built) on first use."""
    if _state["error"] is not None:
        raise RuntimeError(_state["error"])
    if _state["spec"] is None:
        try:
            prefix = envs.binder_env()
        except Exception as err:
            _state["error"] = f"could not build the Binder environment nbval runs the chapters in: {err}"
            raise RuntimeError(_state["error"]) from None
        _state["tmp"] = tempfile.mkdtemp(prefix="aecourse-nbval-")
        tmp = Path(_state["tmp"])
        _state["spec"] = envs.write_offline_kernelspec(tmp / "kernel", prefix, tmp / "data")
    return _state["spec"]


def _start_new_kernel(startup_timeout=60, kernel_name="python", **kwargs):
    """nbval's ``start_new_kernel`` (its RunningKernel calls it with ``cwd`` = the notebook's folder), for
    the Binder offline kernel: ipc transport, the launcher's refusal quoted when it did not start."""
    if kernel_name != envs.KERNEL_NAME:
        return _nbval_start_new_kernel(startup_timeout=startup_timeout, kernel_name=kernel_name, **kwargs)
    return envs.start_kernel(_offline_spec(), startup_timeout=startup_timeout, **kwargs)


def pytest_configure(config):
    _state["standing_before"] = os.environ.get(STANDING_VAR)
    _state["standing"] = tempfile.mkdtemp(prefix="aecourse-standing-")
    os.environ[STANDING_VAR] = _state["standing"]
    option = config.option
    if os.environ.get(OPT_OUT_VAR, "").lower() == "current":
        return
    if getattr(option, "nbval_kernel_name", None) or getattr(option, "nbval_current_env", False) \
            or getattr(option, "current_env", False):
        return
    if not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return
    option.nbval_kernel_name = envs.KERNEL_NAME
    nbval.kernel.start_new_kernel = _start_new_kernel


def pytest_unconfigure(config):
    nbval.kernel.start_new_kernel = _nbval_start_new_kernel
    if _state["standing"]:
        shutil.rmtree(_state["standing"], ignore_errors=True)
        _state["standing"] = None
        if _state["standing_before"] is None:
            os.environ.pop(STANDING_VAR, None)
        else:
            os.environ[STANDING_VAR] = _state["standing_before"]
    if _state["tmp"]:
        shutil.rmtree(_state["tmp"], ignore_errors=True)
        _state["tmp"] = None


#: How ``make test`` spreads the tests over pytest-xdist workers (``-n <cores, at most 4>``): by scope,
#: a scope running on one worker in collection order. Every chapter under nbval is one scope (a worker
#: runs them in order); the tests that run grading boxes are another, one after another on one worker,
#: because they look for stray processes of any grading run on the machine (``test_no_stray_processes``)
#: and their loop timeouts assume no second box of theirs competes; every other test file is a scope of
#: its own, so a module's fixtures (a Jupyter server, a graded class) are built on one worker, never
#: once per worker.
GRADING_FILES = frozenset({"test_grading.py", "test_grading_chapters.py", "test_grading_class.py",
                           "test_grading_hostile.py", "test_gradebook.py", "test_gradescope.py",
                           "test_k8s.py", "test_sandbox.py"})


def xdist_scope(nodeid: str) -> str:
    """The pytest-xdist scope of the test ``nodeid`` (see :data:`GRADING_FILES`)."""
    path = nodeid.split("::", 1)[0]
    if path.startswith("solutions/") or Path(path).name == SITE_TEST:  # the site shows nbval's outputs
        return "chapters"
    if Path(path).name in GRADING_FILES:
        return "grading"
    return path


def pytest_xdist_make_scheduler(config, log):
    """The scheduler of :func:`xdist_scope`. (Not ``--dist loadgroup``'s markers: pytest-xdist 3.8 marks a
    group by renaming ``item._nodeid``, which pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "load":  # -n's default; an explicit --dist wins
        return None
    from xdist.scheduler import LoadScopeScheduling  # only under xdist; the hook is xdist's

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return CourseScheduling(config, log)


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, IPyNbCell):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
    # The website's tests read the outputs nbval got (``.cache/executed``): they run after the last
    # chapter cell, on the same worker (xdist_scope: both are in the scope "chapters").
    def is_site(item) -> bool:
        return getattr(getattr(item, "path", None), "name", None) == SITE_TEST

    site = [item for item in items if is_site(item)]
    cells = [n for n, item in enumerate(items) if isinstance(item, IPyNbCell)]
    if site and cells:
        rest = [item for item in items if not is_site(item)]
        last = max(n for n, item in enumerate(rest) if isinstance(item, IPyNbCell))
        items[:] = rest[:last + 1] + site + rest[last + 1:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Hand each chapter cell nbval ran to the site's cache of executed chapters (website/executed.py)."""
    outcome = yield
    if call.when == "call" and isinstance(item, IPyNbCell):
        report = outcome.get_result()
        try:
            path = _capture.record(Path(str(item.parent.fspath)), item.parent.nb, item.cell_num,
                                   report.passed, item.test_outputs)
        except Exception as err:  # noqa: BLE001 - the cache is an optimisation; the site executes itself
            path = None
            _state["capture_error"] = f"{type(err).__name__}: {err}"
        if path is not None:
            _state["captured"].append(path.stem)


def pytest_terminal_summary(terminalreporter):
    if _state["captured"]:
        terminalreporter.write_line(f"executed chapters kept for the website (.cache/executed): "
                                    f"{', '.join(_state['captured'])}")
    if _state["capture_error"]:
        terminalreporter.write_line(f"could not keep an executed chapter for the website: {_state['capture_error']}")
    spec = _state["spec"]
    if spec is not None:
        import json

        meta = json.loads((spec / "kernel.json").read_text())["metadata"]["aecourse"]
        how = {"unshare": "unshare -n", "guard": "the socket guard"}.get(meta["net"], meta["net"])
        terminalreporter.write_line(f"nbval ran the chapters in the Binder environment {meta['prefix']}, "
                                    f"network off ({how}), empty data folders")
