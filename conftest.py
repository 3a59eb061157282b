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
after the chapters here, and in their xdist group) builds the website from it instead of running the
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


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, IPyNbCell):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
    # The website's tests read the outputs nbval got (``.cache/executed``): they run after the last
    # chapter cell (with pytest-xdist's --dist loadgroup both sit in the group "chapters").
    site = [item for item in items if item.path.name == SITE_TEST]
    cells = [n for n, item in enumerate(items) if isinstance(item, IPyNbCell)]
    if site and cells:
        rest = [item for item in items if item.path.name != SITE_TEST]
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
