"""The Kubernetes front door: manifests valid against the API schemas, pods run locally, collect == grade.

Each pod is played locally the way Kubernetes would run it: ``python -m
aecourse.grading.pod`` with ``JOB_COMPLETION_INDEX`` set, seeing only its own
``pods/<index>/`` at ``/box`` (the Job's ``subPathExpr`` mount), as a non-root user,
with a read-only system, a private ``/tmp`` and no network: a bubblewrap box from
``sandbox.box_command`` over that one folder.  ``aecourse grade --collect`` must then
give what ``aecourse grade`` gives the same submissions.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from aecourse.cli import main as cli
from aecourse.grading import grade
from aecourse.grading.k8s import PODS, STATE, export_k8s, job_manifest, network_policy
from aecourse.grading.sandbox import bwrap_path, box_command, seccomp_fd, write_etc
from gradehelp import load, partial, submit, tree_digest, with_cell

MINI = "99-mini"
K8S_VERSIONS = ("1.29.0", "1.30.0", "1.33.0")   # backoffLimitPerIndex: beta (on by default) from 1.29

# writes wherever it can outside its own /box (another index's result, the export's state):
# any success costs it the q1 point, so its score says whether the pod's walls held
CLIMBER = r'''
import glob, os
hits = []
targets = ["/box/../1/pod.json", "/box/../0/pod.json", "/box/../../state.json", "../../state.json",
           "../../1/pod.json", "../../1/course-root/gradebook.db", "../../../state.json", "/state.json",
           "/pods/1/pod.json", EXPORT + "/state.json"]
targets += glob.glob(EXPORT + "/pods/*/*") + glob.glob(EXPORT + "/pods/*/course-root/gradebook.db")
own = os.path.dirname(os.environ["HOME"])  # its own working copy (/box) is fair game
for path in targets:
    if os.path.realpath(path).startswith(own + os.sep):
        continue
    try:
        with open(path, "a") as fh:
            fh.write('{"timed_out": false}')
        hits.append(path)
    except Exception:
        pass
print("hits", hits)
answer_q1 = "b" if not hits else "wrong"
'''


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate(version):
    job = job_manifest(12, image="registry.example.edu/aecourse:2026", parallelism=4, timeout=600,
                       memory_limit=4, cpu=1, claim="aecourse-grading", name="aecourse-grade")
    for manifest in (job, network_policy("aecourse-grade")):
        kubernetes_validate.validate(manifest, version, strict=True)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 12 and spec["parallelism"] == 4
    assert spec["backoffLimitPerIndex"] == 1
    pod = spec["template"]["spec"]
    assert pod["activeDeadlineSeconds"] >= 600 and pod["automountServiceAccountToken"] is False
    box = pod["containers"][0]
    sc = box["securityContext"]
    assert sc["runAsNonRoot"] and not sc["allowPrivilegeEscalation"] and sc["readOnlyRootFilesystem"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and not sc["privileged"]
    assert box["resources"]["limits"]["memory"] == "4608Mi" and box["resources"]["limits"]["cpu"] == "1"
    mounts = {m["mountPath"]: m for m in box["volumeMounts"]}
    assert mounts["/box"]["subPathExpr"] == "pods/$(JOB_COMPLETION_INDEX)"  # its own folder only
    assert box["command"] == ["python", "-m", "aecourse.grading.pod"]
    policy = network_policy("aecourse-grade")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]  # nothing allowed
    assert policy["spec"]["podSelector"]["matchLabels"] == spec["template"]["metadata"]["labels"]


def test_a_broken_manifest_fails_validation():
    job = job_manifest(3, image="x", parallelism=1, timeout=60, memory_limit=1, cpu=1, claim="c", name="j")
    job["spec"]["backoffLimitPerIndex"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, "1.30.0", strict=True)


def run_pod(export: Path, index: int, etc: Path, env_index: str | None = None) -> subprocess.CompletedProcess:
    """One pod of the Job, locally: only pods/<index> at /box, non-root, no network, JOB_COMPLETION_INDEX set."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
           "JOB_COMPLETION_INDEX": str(index) if env_index is None else env_index, "PYTHONDONTWRITEBYTECODE": "1"}
    fd = seccomp_fd()
    try:
        cmd = box_command(export / PODS / str(index), etc, [sys.executable, "-m", "aecourse.grading.pod"], env,
                          fd, bwrap_path(), chdir="/box")
        return subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                              pass_fds=(fd,) if fd is not None else ())
    finally:
        if fd is not None:
            os.close(fd)


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.pop("seconds", None)
    return rows


@pytest.mark.slow
def test_pods_then_collect_equal_grade(minicourse, tmp_path):
    if bwrap_path() is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap is missing: `make test` installs it (apt-get install bubblewrap)")
        pytest.skip("needs bubblewrap")
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    release = load(minicourse / "course" / MINI / f"{MINI}.ipynb")
    export = tmp_path / "k8s"
    subs = tmp_path / "subs"
    cases = {
        "alice": source, "bob": release, "erin": partial(source, release, {"ex_q1"}),
        "gina": with_cell(source, "ex_q1", "while True:\n    pass"),
        "hank": with_cell(source, "ex_blank", "import os\nos._exit(1)"),
        "carol": "this is { not json",
        "mallory": with_cell(source, "ex_q1", f"EXPORT = {str(export)!r}\n" + CLIMBER),
    }
    for student, nb in cases.items():
        submit(subs, student, MINI, nb)
    assert cli(["export", "k8s", str(subs), "--out", str(export), "--image", "aecourse:test", "--parallelism", "3",
                "--root", str(minicourse), "--timeout", "12", "--memory-limit", "2"]) == 0
    job = json.loads((export / "job.json").read_text())
    assert job["spec"]["parallelism"] == 3 and job["spec"]["template"]["spec"]["containers"][0]["image"] == "aecourse:test"
    state = json.loads((export / STATE).read_text())
    indexed = [p["student"] for p in state["pods"]]
    assert job["spec"]["completions"] == len(indexed) == 6          # carol is invalid as data: no pod
    assert [r["student"] for r in state["rows"]] == ["carol"]
    for version in K8S_VERSIONS[:1]:
        for name in ("job.json", "networkpolicy.json"):
            kubernetes_validate.validate(json.loads((export / name).read_text()), version, strict=True)
    etc = write_etc(tmp_path / "etc")
    wrong = run_pod(export, 0, etc, env_index="1")                   # a pod must get its own folder
    assert wrong.returncode == 2 and not (export / PODS / "0" / "pod.json").exists()
    for index in range(len(indexed)):
        others = {i: tree_digest(export / PODS / str(i)) for i in range(len(indexed)) if i != index}
        state_before = (export / STATE).read_bytes()
        proc = run_pod(export, index, etc)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert (export / PODS / str(index) / "pod.json").is_file()
        assert {i: tree_digest(export / PODS / str(i)) for i in others} == others, f"pod {index} wrote elsewhere"
        assert (export / STATE).read_bytes() == state_before
    out_k8s = tmp_path / "collected"
    assert cli(["grade", "--collect", str(export), "--out", str(out_k8s), "--root", str(minicourse)]) == 0
    out_grade = tmp_path / "graded"
    grade(subs, out_grade, jobs=2, timeout=12, memory_limit=2, root=minicourse, progress=False)
    assert rows_of(out_k8s / "grades.csv") == rows_of(out_grade / "grades.csv")
    assert (out_k8s / "items.csv").read_text() == (out_grade / "items.csv").read_text()
    assert (out_k8s / "unmapped.csv").read_text() == (out_grade / "unmapped.csv").read_text()
    collected = {r["student"]: r for r in rows_of(out_k8s / "grades.csv")}
    expect = {"alice": ("graded", "4"), "bob": ("graded", "0"), "erin": ("graded", "1"), "gina": ("timeout", "0"),
              "hank": ("crashed", "0"), "carol": ("invalid", "0"), "mallory": ("graded", "4")}
    assert {s: (r["status"], r["score"]) for s, r in collected.items()} == expect
    feedback = sorted(p.relative_to(out_k8s).as_posix() for p in (out_k8s / "feedback").rglob("*.html"))
    assert feedback == sorted(p.relative_to(out_grade).as_posix() for p in (out_grade / "feedback").rglob("*.html"))
    assert feedback and "BEGIN HIDDEN TESTS" not in "".join((out_k8s / f).read_text() for f in feedback)


def test_collect_refuses_a_changed_chapter_and_a_forged_result(minicourse, tmp_path):
    """--collect is trusted: a chapter edited since the export stops it; a pod's forged pod.json is data."""
    import shutil

    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    root = tmp_path / "course"
    shutil.copytree(minicourse, root)
    submit(tmp_path / "subs", "alice", MINI, source)
    export = tmp_path / "k8s"
    export_k8s(tmp_path / "subs", export, image="aecourse:test", root=root, timeout=30)
    # no pod ran, the submission wrote a pod.json of its own and a gradebook claiming 99 points
    (export / PODS / "0" / "pod.json").write_text("[not what the pod writes]")
    rows = cli(["grade", "--collect", str(export), "--out", str(tmp_path / "out"), "--root", str(root)])
    assert rows == 0
    got = rows_of(tmp_path / "out" / "grades.csv")
    assert [(r["student"], r["status"], r["score"]) for r in got] == [("alice", "crashed", "0")]
    nb = root / "solutions" / MINI / f"{MINI}.ipynb"
    nb.write_text(nb.read_text().replace("square", "squared", 1))
    assert cli(["grade", "--collect", str(export), "--out", str(tmp_path / "out2"), "--root", str(root)]) == 2
