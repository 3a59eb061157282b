"""The entry point of one Kubernetes pod of ``aecourse export k8s``: ``python -m aecourse.grading.pod``.

Kubernetes gives an Indexed Job's pod ``JOB_COMPLETION_INDEX`` and (``k8s.job_manifest``)
mounts only ``pods/<index>/`` of the volume at ``/box``: the working copy that
``k8s.export_k8s`` prepared.  This runs ``submission.run_box`` on it (the pod is the
box: no bubblewrap inside), then writes ``/box/pod.json`` (how the run ended) for
``aecourse grade --collect``, which believes none of it about scores.

Exit status 0 when a result was written (whatever the submission did); 2 when the
working copy is not this index's (Kubernetes retries that index, ``backoffLimitPerIndex``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from .k8s import INDEX_VAR, POD_ARGS, POD_LOG, POD_RESULT
from .sandbox import BOX_WORK
from .submission import Batch, run_box


def _not_dumpable() -> None:
    """As the box's driver does: no process of the pod's user may open this one's ``/proc/<pid>/mem``."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def main(argv: list[str] | None = None) -> int:
    _not_dumpable()
    box = Path(BOX_WORK)
    index = os.environ.get(INDEX_VAR, "")
    try:
        settings = json.loads((box / POD_ARGS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"aecourse pod: no {POD_ARGS} in {box}: {err}", file=sys.stderr)
        return 2
    if str(settings.get("index")) != index:
        print(f"aecourse pod: {box} holds index {settings.get('index')}, this pod is {INDEX_VAR}={index!r}",
              file=sys.stderr)
        return 2
    batch = Batch(root=box, submissions=box, out=box, tmp=box, chapters={}, broken={}, fingerprints={},
                  timeout=float(settings["timeout"]), cell_timeout=int(settings["args"]["cell_timeout"]),
                  memory_limit=int(settings["memory_limit"]), output_limit=int(settings["output_limit"]),
                  threads=int(settings["threads"]), isolation="pod", bwrap=None, etc=None, keep=True)
    run = run_box(batch, box, settings["args"], box / POD_LOG)
    tmp = box / f".{POD_RESULT}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.write_text(json.dumps(dataclasses.asdict(run)), encoding="utf-8")
    os.replace(tmp, box / POD_RESULT)  # whatever the submission left under that name is replaced
    print(f"aecourse pod {index}: {'timeout' if run.timed_out else 'done'} in {run.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
