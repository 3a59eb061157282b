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
    count_stragglers  whether this process is alone in a PID namespace (the box):
                      then every other live process at the end was left behind

``result.json`` holds ``autograde`` (nbgrader's answer: success, error, log),
``dropped_output_cells``, ``timings`` and ``stragglers``.  Trusted code reads
it as data and believes none of it about scores: those come from the
gradebook, clipped to the master's points.  Feedback is not made here.
"""

import json
import os
import resource
import signal
import sys
import time
import traceback


def _limits(args: dict) -> None:
    if args["mem"] > 0:  # one runaway allocation fails in its cell (MemoryError), not the whole box
        resource.setrlimit(resource.RLIMIT_DATA, (args["mem"], args["mem"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args["fsize"] > 0:  # writing past it fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (args["fsize"], args["fsize"]))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _stragglers() -> int:
    """Live processes of this PID namespace other than its init (1) and this driver."""
    left = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) not in (1, os.getpid()):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    left += fh.read().rsplit(")", 1)[1].split()[0] != "Z"
            except (OSError, IndexError):
                pass
    return left


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

    t0 = time.monotonic()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    cfg.CourseDirectory.root = os.getcwd()
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
    out = {"dropped_output_cells": [], "timings": {}}
    try:
        _autograde(args, out)
    except BaseException:
        out["driver_error"] = traceback.format_exc()
    if args.get("count_stragglers"):
        out["stragglers"] = _stragglers()
    with open(args["result"], "w") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
