"""The Kubernetes front door: a class as one Indexed Job, one pod per submission, collected by trusted code.

Three steps, each on the grading path of ``aecourse grade`` (``submission``):

1. ``export_k8s(SUBMISSIONS, DIR, image=...)`` (trusted, the instructor's machine):
   intake as ``grade`` does it, the master gradebook from ``solutions/``, and for
   every submission ``submission.prepare_submission`` (read and restored as data,
   its working copy laid out) into ``DIR/pods/<index>/``.  Submissions decided as
   data (invalid, wrong chapter, missing, unknown chapter) need no pod: their rows
   are final already.  ``DIR/state.json`` keeps what collecting needs (restored
   notebooks, rows so far, intake flags, chapter digests); no pod ever sees it.
   ``DIR/job.json`` is an Indexed Job (``completions`` = the submissions to run,
   ``parallelism``, ``backoffLimitPerIndex``), ``DIR/networkpolicy.json`` denies all
   traffic to and from its pods.
2. Each pod (``pod``: ``python -m aecourse.grading.pod``) mounts only
   ``pods/$(JOB_COMPLETION_INDEX)`` of the volume, at ``/box``, and runs
   ``submission.run_box`` on it: ``box/driver.py`` under the batch's limits, the
   pod being the box (non-root, no privilege escalation, read-only root filesystem,
   every capability dropped, no network, CPU and memory limits).
3. ``collect(DIR, OUT)`` (trusted: ``aecourse grade --collect DIR --out OUT``) rebuilds
   the master from ``solutions/`` (and refuses when it changed since the export),
   reads every pod's working copy back with ``submission.read_back`` (scores from
   its gradebook copy clipped to the master, flags, feedback without hidden tests)
   and writes ``grades.csv``, ``items.csv``, ``unmapped.csv``, feedback and the summary
   exactly as ``grade`` does.

What it trusts: the instructor's arguments, the course and ``state.json``.  Every
file under ``pods/`` was writable by a submission and is read as data.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from ..release import find_root
from .batch import DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT, find_submissions
from .cache import chapter_digest
from .intake import Unmapped
from .notebooks import Item, build_masters, chapter_fingerprints
from .results import Row, flag_slow, item_columns, summary, write_outputs
from .sandbox import BOX_WORK, RunResult, box_file
from .submission import Batch, Prepared, finish_row, prepare_submission, read_back

STATE = "state.json"
PODS = "pods"
POD_ARGS = "pod-args.json"     # in each pod's working copy: what the pod runs
POD_RESULT = "pod.json"        # written there by the pod: how the run ended (read as data)
POD_LOG = "pod.log"
POD_UID = 1000                 # repo2docker's user (jovyan): owns the image's home and environment
INDEX_VAR = "JOB_COMPLETION_INDEX"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
POD_MARGIN = 300               # seconds a pod gets beyond the notebook timeout (image start, nbgrader)
MEMORY_MARGIN = 0.5            # GB beyond the submission's memory limit (the pod's own process)


def _row_dict(row: Row) -> dict:
    return dataclasses.asdict(row)


def _row_from(d: dict) -> Row:
    d = dict(d)
    d["items"] = [Item(**i) for i in d.get("items", [])]
    return Row(**d)


def export_k8s(submissions: Path, out: Path, *, image: str, parallelism: int = 10, root: Path | None = None,
               timeout: float = DEFAULT_TIMEOUT, memory_limit: float = DEFAULT_MEMORY_LIMIT,
               cell_timeout: int | None = None, output_limit: float = DEFAULT_OUTPUT_LIMIT, cpu: float = 1.0,
               claim: str = "aecourse-grading", name: str = "aecourse-grade", pattern: str | None = None,
               chapter: str | None = None, backoff_per_index: int = 1) -> dict:
    """Prepare ``DIR`` (= ``out``) for one Indexed Job over ``submissions``; return the Job manifest.

    image        the grading image: what ``binder/`` builds with repo2docker
    parallelism  pods at once; cpu: CPUs per pod (request = limit)
    claim        the PersistentVolumeClaim that will hold ``DIR/pods`` (copied there by you)
    timeout, memory_limit (GB), cell_timeout, output_limit (MB), pattern, chapter: as for ``grade``
    """
    submissions, out = Path(submissions), Path(out)
    root = Path(root).resolve() if root is not None else find_root()
    if not submissions.exists():
        raise FileNotFoundError(f"no submissions at {submissions}")
    if parallelism < 1:
        raise ValueError(f"parallelism must be >= 1, got {parallelism}")
    if (out / STATE).exists() or (out / PODS).exists():
        raise FileExistsError(f"{out} already holds an export; pass an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="aecourse-k8s-"))
    try:
        subs_root, subs, unmapped, known = find_submissions(submissions, tmp, root, pattern, chapter, out)
        needed = sorted({s.assignment for s in subs if s.assignment in known})
        chapters, broken = build_masters(root, needed, tmp)
        mem = int((memory_limit or 0) * 2**30)
        threads = max(1, math.floor(cpu))
        batch = Batch(root=root, submissions=subs_root, out=out, tmp=tmp, chapters=chapters, broken=broken,
                      fingerprints=chapter_fingerprints(root, known), timeout=float(timeout),
                      cell_timeout=int(cell_timeout or 0), memory_limit=mem,
                      output_limit=int(output_limit * 2**20), threads=threads, isolation="pod", bwrap=None,
                      etc=None, keep=False)
        pods, rows = [], []
        for s in subs:
            work = out / PODS / str(len(pods))
            work.mkdir(parents=True)
            try:
                prep = prepare_submission(batch, s, work)
            except Exception as err:  # as grade_submission: a crashed row, never a stopped export
                chapter_ = chapters.get(s.assignment)
                prep = Row(s.student, s.assignment, 0.0, chapter_.max_score if chapter_ else None, "crashed",
                           f"grading pipeline error: {type(err).__name__}: {err}"[:300],
                           items=chapter_.zero_items() if chapter_ else [])
            if isinstance(prep, Row):
                shutil.rmtree(work, ignore_errors=True)
                rows.append(_row_dict(finish_row(prep, s.flags, 0.0)))
                continue
            # the PID namespace is the pod's own (job_manifest sets hostPID and shareProcessNamespace
            # false): the driver may kill everything but its ancestors (the pod's entry point)
            args = dict(prep.args, reap=True)
            (work / POD_ARGS).write_text(json.dumps({
                "index": len(pods), "args": args, "timeout": float(timeout), "memory_limit": mem,
                "output_limit": batch.output_limit, "threads": threads}), encoding="utf-8")
            for dirpath, _, filenames in os.walk(work):  # the pod's user writes its own working copy
                os.chmod(dirpath, 0o777)
                for f in filenames:
                    os.chmod(os.path.join(dirpath, f), 0o666)
            pods.append({"student": s.student, "assignment": prep.chapter.id, "intake_flags": s.flags,
                         "row": _row_dict(prep.base), "notes": prep.notes, "restored": prep.restored,
                         "args": args})
        state = {"root": str(root), "submissions": str(subs_root), "timeout": float(timeout),
                 "digests": {aid: chapter_digest(root, aid) for aid in chapters},
                 "pods": pods, "rows": rows, "unmapped": [dataclasses.asdict(u) for u in unmapped]}
        (out / STATE).write_text(json.dumps(state), encoding="utf-8")
        job = job_manifest(len(pods), image=image, parallelism=parallelism, timeout=timeout,
                           memory_limit=memory_limit, cpu=cpu, claim=claim, name=name,
                           backoff_per_index=backoff_per_index)
        if pods:  # nothing to run (every submission decided as data): no Job, collect reads state.json alone
            (out / "job.json").write_text(json.dumps(job, indent=1), encoding="utf-8")
            (out / "networkpolicy.json").write_text(json.dumps(network_policy(name), indent=1), encoding="utf-8")
        return job
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "aecourse-grade", "aecourse/job": name}


def job_manifest(completions: int, *, image: str, parallelism: int, timeout: float, memory_limit: float,
                 cpu: float, claim: str, name: str, backoff_per_index: int = 1) -> dict:
    """The Indexed Job (batch/v1; ``backoffLimitPerIndex`` needs Kubernetes >= 1.29)."""
    mem_limit = f"{int(((memory_limit or 4.0) + MEMORY_MARGIN) * 1024)}Mi"
    mem_request = f"{int((memory_limit or 4.0) * 1024)}Mi"
    container = {
        "name": "grade", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "aecourse.grading.pod"],
        "workingDir": BOX_WORK,
        "env": [{"name": INDEX_VAR,
                 "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}}],
        "resources": {"requests": {"cpu": f"{cpu:g}", "memory": mem_request, "ephemeral-storage": "512Mi"},
                      "limits": {"cpu": f"{cpu:g}", "memory": mem_limit, "ephemeral-storage": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": POD_UID, "runAsGroup": POD_UID,
                            "allowPrivilegeEscalation": False, "privileged": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [
            # only this index's working copy: its submission in, its result out
            {"name": "submissions", "mountPath": BOX_WORK, "subPathExpr": f"{PODS}/$({INDEX_VAR})"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "completionMode": "Indexed", "completions": max(1, completions),
            "parallelism": max(1, min(parallelism, max(1, completions))),
            "backoffLimitPerIndex": backoff_per_index, "maxFailedIndexes": max(1, completions),
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    "restartPolicy": "Never", "automountServiceAccountToken": False,
                    "enableServiceLinks": False, "hostNetwork": False, "hostPID": False, "hostIPC": False,
                    "shareProcessNamespace": False,
                    "activeDeadlineSeconds": int(math.ceil(timeout)) + POD_MARGIN,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": POD_UID, "runAsGroup": POD_UID,
                                        "fsGroup": POD_UID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [
                        {"name": "submissions", "persistentVolumeClaim": {"claimName": claim}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def network_policy(name: str) -> dict:
    """Deny all ingress and egress for the Job's pods (no rules listed = nothing allowed)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-deny-all", "labels": _labels(name)},
            "spec": {"podSelector": {"matchLabels": _labels(name)}, "policyTypes": ["Ingress", "Egress"]}}


# ------------------------------------------------------------------ collecting (trusted)
def _pod_run(work: Path) -> RunResult | None:
    """How the pod says its run ended (``pod.json``, read as data); None when absent or malformed."""
    data = box_file(work, POD_RESULT, 2**16)
    try:
        got = json.loads(data) if data else None
    except ValueError:
        return None
    if not isinstance(got, dict):
        return None
    try:
        return RunResult(
            returncode=int(got["returncode"]) if got.get("returncode") is not None else None,
            timed_out=got["timed_out"] is True, memory_exceeded=got["memory_exceeded"] is True,
            seconds=max(0.0, float(got["seconds"])), output_exceeded=got["output_exceeded"] is True,
            peak_rss=max(0, int(got.get("peak_rss") or 0)), stragglers=max(0, int(got.get("stragglers") or 0)))
    except (KeyError, TypeError, ValueError):
        return None


def collect(folder: Path, out: Path, *, root: Path | None = None, progress: bool = True) -> list[Row]:
    """Read every pod's result back against the master and write OUT as ``grade`` does; return the rows."""
    folder, out = Path(folder), Path(out)
    state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    root = Path(root).resolve() if root is not None else find_root()
    needed = sorted({p["assignment"] for p in state["pods"]})
    changed = [aid for aid in needed if chapter_digest(root, aid) != state["digests"].get(aid)]
    if changed:
        raise RuntimeError(f"{', '.join(changed)} changed in {root} since the export: export and run the Job again")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="aecourse-collect-"))
    try:
        chapters, broken = build_masters(root, needed, tmp)
        (tmp / "logs").mkdir()
        batch = Batch(root=root, submissions=Path(state["submissions"]), out=out, tmp=tmp, chapters=chapters,
                      broken=broken, fingerprints={}, timeout=float(state["timeout"]), cell_timeout=0,
                      memory_limit=0, output_limit=0, threads=1, isolation="pod", bwrap=None, etc=None, keep=True)
        rows = [_row_from(r) for r in state["rows"]]
        for index, pod in enumerate(state["pods"]):
            rows.append(finish_row(_collect_one(batch, folder / PODS / str(index), pod), pod["intake_flags"], 0.0))
        flag_slow(rows)
        rows.sort(key=lambda r: (r.student, r.assignment))
        unmapped = [Unmapped(**u) for u in state["unmapped"]]
        write_outputs(rows, unmapped, out, item_columns(rows, chapters))
        if progress:
            print(summary(rows, unmapped))
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _collect_one(batch: Batch, work: Path, pod: dict) -> Row:
    base = _row_from(pod["row"])
    chapter = batch.chapters.get(pod["assignment"])
    if chapter is None:
        base.status, base.detail = "crashed", f"could not build the chapter {pod['assignment']} from solutions/"
        return base
    try:
        run = _pod_run(work)
        if run is None:
            base.status = "crashed"
            base.detail = "; ".join(["the pod left no result (never ran, killed by Kubernetes for its deadline "
                                     "or memory, or the submission overwrote it)"] + pod["notes"])
            return base
        log = box_file(work, POD_LOG, 50 * 2**20) or b""
        prep = Prepared(chapter, base, list(pod["notes"]), pod["restored"], work, pod["args"])
        return read_back(batch, prep, run, log[-20000:].decode("utf-8", "replace"))
    except Exception as err:  # as grade_submission: one broken pod result is one crashed row
        base.status = "crashed"
        base.detail = f"grading pipeline error: {type(err).__name__}: {err}"[:300]
        base.items = chapter.zero_items()
        return base
