"""Inside the box: autograde the one submission of this course folder, then write ``result.json``.

Run by path as ``python driver.py ARGS_JSON AECOURSE_GRADE_DRIVER`` with the
course folder (config, release, the master gradebook's copy, ``submitted/``)
as working directory.  ARGS_JSON::

    aid, student      the assignment and the (internal) student id nbgrader sees
    result            where to write the result (inside the box's working copy)
    mem               RLIMIT_DATA per process, bytes (0: none)
    fsize             RLIMIT_FSIZE, bytes (0: none): no file larger than this
    cell_timeout      seconds per cell, overriding ``Execute.timeout`` (0: the config's)
    out_cell, out_total  output budget per cell and per notebook, characters
    reap              whether this driver owns its PID namespace (the box, a pod): then
                      after each notebook's run every process but its own ancestors is
                      left behind, and is killed (and counted) *before* nbgrader writes
                      the scores

Untrusted code runs as this driver's user, so the driver guards the two ways it could
reach the scores from outside its kernel (tests/test_grading_hostile.py, "forger",
"trigger" and the prober's ``/proc/<pid>/mem`` probe):

* the driver makes itself non-dumpable (``PR_SET_DUMPABLE`` 0): no process of the
  box can open its ``/proc/<pid>/mem`` or ``environ`` (``ptrace`` itself is refused by
  the seccomp filter);
* around each notebook's run it keeps the gradebook's bytes from before the kernel
  started, kills every process the run left behind (a daemon waiting to rewrite the
  scores) and puts those bytes back (SQL triggers, a planted journal), so that
  nbgrader's ``SaveAutoGrades`` writes into a gradebook no submission touched, with no
  submission process alive.

``result.json`` holds ``autograde`` (nbgrader's answer: success, error, log),
``dropped_output_cells``, ``timings``, ``stragglers`` and ``gradebook_restored`` (the
notebooks whose run changed the gradebook).  Trusted code reads
it as data and believes none of it about scores: those come from the
gradebook, clipped to the master's points.  Feedback is not made here.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import time
import traceback

PR_SET_DUMPABLE = 4
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")  # a hot journal would be "rolled back" into the gradebook


def _limits(args: dict) -> None:
    if args["mem"] > 0:  # one runaway allocation fails in its cell (MemoryError), not the whole box
        resource.setrlimit(resource.RLIMIT_DATA, (args["mem"], args["mem"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args["fsize"] > 0:  # writing past it fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (args["fsize"], args["fsize"]))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _not_dumpable() -> None:
    """No other process of this uid may read or write this one's memory (``/proc/<pid>/mem``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _ancestors() -> set:
    """This process, its parents up to the namespace's init, and 0/1."""
    keep, pid = {0, 1}, os.getpid()
    while pid not in keep:
        keep.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return keep


def _reap() -> int:
    """SIGKILL every process of this PID namespace but our ancestors, until none is left; how many.

    Fails closed: when a fork loop outruns two hundred passes, RuntimeError, and nbgrader never
    writes scores (the row is "crashed", 0 points).
    """
    keep, killed = _ancestors(), set()
    for _ in range(200):  # a fork loop refills the table: keep killing until a pass finds no one
        alive = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in keep:
                try:
                    with open(f"/proc/{name}/stat") as fh:
                        if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                            continue
                    os.kill(int(name), signal.SIGKILL)
                    alive.append(int(name))
                except (OSError, IndexError):
                    pass
        killed.update(alive)
        if not alive:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("the submission's processes could not be stopped (a fork loop?); not scored")
    try:  # our own dead children (the kernel's launcher)
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    return len(killed)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _read(path: str) -> bytes | None:
    """The file's bytes; None for a link, a folder or nothing there."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _restore(path: str, pristine: bytes | None) -> bool:
    """Put the gradebook back as it was before the run (and drop SQLite side files); whether it had changed."""
    changed = False
    for side in SQLITE_SIDE_FILES:
        if os.path.lexists(path + side):
            _remove(path + side)
            changed = True
    if pristine is not None and _read(path) != pristine:
        if os.path.lexists(path):
            _remove(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pristine)
        changed = True
    return changed


def _autograde(args: dict, out: dict) -> None:
    import nbformat
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.config.loader import PyFileConfigLoader

    class LimitedExecute(Execute):
        """nbgrader's Execute, dropping output past a per-cell and a per-notebook budget."""

        def output(self, outs, msg, display_id, cell_index):
            if msg.get("msg_type") in ("stream", "display_data", "execute_result"):
                content = msg.get("content") or {}
                size = len(content.get("text") or "") + sum(len(str(v)) for v in (content.get("data") or {}).values())
                sizes = self.__dict__.setdefault("_aec_sizes", {})
                sizes[cell_index] = sizes.get(cell_index, 0) + size
                sizes["total"] = sizes.get("total", 0) + size
                if sizes[cell_index] > args["out_cell"] or sizes["total"] > args["out_total"]:
                    if cell_index not in out["dropped_output_cells"]:
                        out["dropped_output_cells"].append(cell_index)
                        outs.append(nbformat.v4.new_output("stream", name="stdout", text=(
                            "\n[grading: output over the limit (%d MB per cell, %d MB per notebook) dropped]\n"
                            % (args["out_cell"] // 2**20, args["out_total"] // 2**20))))
                    return None
            return super().output(outs, msg, display_id, cell_index)

        def preprocess(self, nb, resources=None, km=None):
            """Run the notebook; then no process of the run survives, and the gradebook is as before it."""
            pristine = _read(db)
            try:
                return super().preprocess(nb, resources, km=km)
            finally:
                if args.get("reap"):
                    out["stragglers"] = out.get("stragglers", 0) + _reap()
                if _restore(db, pristine):
                    out["gradebook_restored"].append(str((resources or {}).get("unique_key") or "?"))

    t0 = time.monotonic()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    cfg.CourseDirectory.root = os.getcwd()
    db = os.path.join(os.getcwd(), "gradebook.db")  # where the grader reads the scores back from
    cfg.CourseDirectory.db_url = f"sqlite:///{db}"
    if args["cell_timeout"] > 0:
        cfg.Execute.timeout = args["cell_timeout"]
    steps = Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default()
    cfg.Autograde.autograde_preprocessors = [LimitedExecute if p is Execute else p for p in steps]
    api = NbGraderAPI(config=cfg)
    out["timings"]["startup"] = time.monotonic() - t0
    out["autograde"] = api.autograde(args["aid"], args["student"], force=True, create=True)
    out["timings"]["autograde"] = time.monotonic() - t0 - out["timings"]["startup"]


def main(argv: list[str]) -> int:
    args = json.loads(argv[1])
    _limits(args)
    out = {"dropped_output_cells": [], "timings": {}, "gradebook_restored": []}
    try:
        _not_dumpable()
        _autograde(args, out)
    except BaseException:
        out["driver_error"] = traceback.format_exc()
    if os.path.lexists(args["result"]):  # whatever a submission left under that name (a link, say)
        _remove(args["result"])
    with open(args["result"], "w") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
