"""Gradescope's harness, played locally (tests/test_gradescope.py and benchmarks/bench_gradescope.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from aecourse.grading.sandbox import bwrap_path, read_only_trees


def autograder_folder(zip_path: Path, ag: Path, upload: dict[str, str | bytes | dict]) -> Path:
    """Lay ``ag`` out as Gradescope's /autograder: source/ (the zip), submission/ (``upload``), results/."""
    for sub in ("source", "submission", "results"):
        (ag / sub).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(ag / "source")
    shutil.copyfile(ag / "source" / "run_autograder", ag / "run_autograder")
    os.chmod(ag / "run_autograder", 0o755)
    for name, data in upload.items():
        data = json.dumps(data) if isinstance(data, dict) else data
        (ag / "submission" / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return ag


def harness_command(ag: Path) -> list[str]:
    """``/autograder/run_autograder`` run as Gradescope runs it, with the folder ``ag`` as ``/autograder``.

    A bubblewrap box as root (Gradescope's container runs as root), no network, the
    system, ``/etc`` and the Python installation read-only, a private ``/tmp``, and
    ``ag`` bind-mounted read-write at ``/autograder``, also the working directory.
    The grader's own box nests inside it.
    """
    cmd = [bwrap_path(), "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
           "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    # the host's /proc (not a fresh one): the grader's inner box mounts its own proc beneath it
    cmd += ["--bind", "/proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for tree in read_only_trees():
        cmd += ["--ro-bind", tree, tree]
    return cmd + ["--bind", str(ag), "/autograder", "--chdir", "/autograder",
                  "--setenv", "AECOURSE_PYTHON", sys.executable, "--", "/autograder/run_autograder"]


def run_harness(ag: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(harness_command(ag), capture_output=True, text=True, timeout=timeout)
