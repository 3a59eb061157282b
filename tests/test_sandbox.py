"""The grading box's parts on their own: the bwrap command, the environment, the filter, the errors.

The end-to-end proof (canaries, hostile submissions) is tests/test_grading_hostile.py.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from aecourse.grading import SandboxUnavailable, grade, sandbox, seccomp
from aecourse.grading.box import DRIVER, SITE_DIR
from conftest import REPO
from gradehelp import load, read_csv, submit

MINI = "99-mini"
BOXED = sandbox.isolation_level() == "bwrap"
needs_box = pytest.mark.skipif(not BOXED and not os.environ.get("CI"),
                               reason="needs bubblewrap (apt-get install bubblewrap)")


def binds(cmd: list[str]) -> list[tuple[str, str, str]]:
    """(option, source, destination) of every bind in a bwrap command line."""
    out = []
    for i, arg in enumerate(cmd):
        if arg in ("--bind", "--ro-bind", "--ro-bind-try", "--dev-bind", "--bind-try", "--dev-bind-try"):
            out.append((arg, cmd[i + 1], cmd[i + 2]))
    return out


def test_box_command_is_an_allowlist(tmp_path):
    work, etc = tmp_path / "work", sandbox.write_etc(tmp_path / "etc")
    work.mkdir()
    cmd = sandbox.box_command(work, etc, ["python", "x.py"], {"A": "1"}, 7, "/usr/bin/bwrap")
    assert cmd[0] == "/usr/bin/bwrap" and cmd[-2:] == ["python", "x.py"]
    rw = [(src, dest) for opt, src, dest in binds(cmd) if opt == "--bind"]
    assert rw == [(str(work), sandbox.BOX_WORK)], "the working copy is the only writable bind"
    allowed = ["/usr", "/etc/", "/sys/devices/system/cpu", str(etc)] + sandbox.read_only_trees()
    for _, src, dest in binds(cmd):
        if src == str(work):
            continue
        assert any(src == a or src.startswith(a.rstrip("/") + "/") for a in allowed), src
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--new-session", "--clearenv", "--proc", "--dev"):
        assert flag in cmd, flag
    assert cmd[cmd.index("--seccomp") + 1] == "7"
    assert ["--cap-drop", "ALL"] == cmd[cmd.index("--cap-drop"):cmd.index("--cap-drop") + 2]
    assert ["--setenv", "A", "1"] == cmd[cmd.index("--setenv"):cmd.index("--setenv") + 3]
    # never the repository itself, its solutions/ or .git, never a home directory
    trees = sandbox.read_only_trees()
    assert str(REPO) not in trees and str(Path.home()) not in trees
    assert not any("solutions" in src or ".git" in src for _, src, _ in binds(cmd))


def test_environment_is_built_from_an_allowlist(monkeypatch):
    monkeypatch.setenv("AECOURSE_SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("PYTHONSTARTUP", "/root/evil.py")
    env = sandbox.sandbox_env("/box", threads=1, token="t")
    assert "AECOURSE_SECRET_TOKEN" not in env and "PYTHONSTARTUP" not in env
    assert env["HOME"] == "/box/home" and env["PYTHONPATH"] == str(SITE_DIR)
    assert env["HTTPS_PROXY"] == sandbox.DEAD_PROXY and env["CUDA_VISIBLE_DEVICES"] == ""
    assert env[sandbox.TOKEN_VAR] == "t" and env["OMP_NUM_THREADS"] == "1"
    assert not any(v for k, v in env.items() if "do-not-leak" in v)


def test_seccomp_program_shape():
    prog = seccomp.program("x86_64")
    assert prog is not None and len(prog) % 8 == 0 and len(prog) // 8 < 4096
    insns = [struct.unpack("=HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    assert insns[0] == (0x20, 0, 0, 4)                     # load the architecture first
    assert insns[-1] == (0x06, 0, 0, 0x7FFF0000)           # allow what is not named
    named = {k for code, _, _, k in insns if code == 0x15}
    assert {272, 308, 165, 101, 56, 435} <= named          # unshare, setns, mount, ptrace, clone, clone3
    assert seccomp.program("aarch64") != prog and seccomp.program("riscv64") is None


def test_box_file_refuses_links_and_big_files(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("grader's secret")
    (tmp_path / "link.json").symlink_to(secret)
    (tmp_path / "dir").symlink_to(tmp_path.parent)
    assert sandbox.box_file(tmp_path, "result.json", 100) == b"{}"
    assert sandbox.box_file(tmp_path, "link.json", 100) is None
    assert sandbox.box_file(tmp_path, f"dir/{secret.name}", 100) is None
    assert sandbox.box_file(tmp_path, "result.json", 1) is None
    assert sandbox.box_file(tmp_path, "missing.json", 100) is None
    secret.unlink()


def test_network_guard_is_a_real_module(tmp_path):
    """The guard refuses an internet connect in a fresh interpreter and logs it; unix sockets still work."""
    log = tmp_path / "net.log"
    code = ("import socket\n"
            "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
            "except PermissionError as e:\n    print('refused', e)\n"
            "a, b = socket.socketpair()\na.sendall(b'ok')\nprint(b.recv(2).decode())\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SITE_DIR), "AECOURSE_NET_LOG": str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "refused" in out.stdout and out.stdout.strip().endswith("ok"), out.stderr
    assert "192.0.2.1" in log.read_text()
    assert DRIVER.is_file() and DRIVER.parent.name == "box"


def test_missing_bubblewrap_stops_before_grading(tmp_path, minicourse, monkeypatch, capsys):
    """Pointing the lookup at a missing path: a clear error naming the fix; nothing is graded or written."""
    monkeypatch.setenv(sandbox.BWRAP_ENV, str(tmp_path / "no" / "bwrap"))
    submit(tmp_path / "subs", "alice", MINI, load(minicourse / "solutions" / MINI / f"{MINI}.ipynb"))
    with pytest.raises(SandboxUnavailable) as err:
        grade(tmp_path / "subs", tmp_path / "out", root=minicourse, progress=False)
    message = str(err.value)
    assert "bubblewrap" in message and "apt-get install bubblewrap" in message
    assert "--isolation none" in message and str(tmp_path / "no" / "bwrap") in message
    assert not (tmp_path / "out" / "grades.csv").exists()
    from aecourse.cli import main

    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--root", str(minicourse)]) == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err
    assert not (tmp_path / "out" / "grades.csv").exists()


@pytest.mark.slow
def test_isolation_none_is_explicit_and_warns(tmp_path, minicourse, monkeypatch, capsys):
    monkeypatch.setenv(sandbox.BWRAP_ENV, str(tmp_path / "no" / "bwrap"))
    submit(tmp_path / "subs", "alice", MINI, load(minicourse / "solutions" / MINI / f"{MINI}.ipynb"))
    rows = grade(tmp_path / "subs", tmp_path / "out", root=minicourse, isolation="none", timeout=120)
    assert [(r.status, r.score) for r in rows] == [("graded", 4)]
    assert "warning: --isolation none" in capsys.readouterr().err
    assert read_csv(tmp_path / "out" / "grades.csv")[0]["score"] == "4"
    with pytest.raises(ValueError, match="bwrap, none"):
        grade(tmp_path / "subs", tmp_path / "out2", root=minicourse, isolation="namespace", progress=False)


@needs_box
def test_probe_runs_python_as_nobody():
    assert sandbox.require_box() == sandbox.bwrap_path()
    assert sandbox._probe(sandbox.bwrap_path()) == ""


def _driver_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("aecourse_box_driver", DRIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_driver_puts_the_gradebook_back_as_it_was(tmp_path):
    """What a run did to the gradebook is undone: new bytes, a planted journal, a link in its place."""
    driver = _driver_module()
    db = tmp_path / "gradebook.db"
    db.write_bytes(b"pristine")
    assert driver._restore(str(db), b"pristine") is False          # untouched: nothing to do
    db.write_bytes(b"forged")
    (tmp_path / "gradebook.db-journal").write_bytes(b"a hot journal to roll back")
    assert driver._restore(str(db), b"pristine") is True
    assert db.read_bytes() == b"pristine" and not (tmp_path / "gradebook.db-journal").exists()
    db.unlink()
    (tmp_path / "elsewhere").write_bytes(b"x")
    db.symlink_to(tmp_path / "elsewhere")
    assert driver._restore(str(db), b"pristine") is True
    assert not db.is_symlink() and db.read_bytes() == b"pristine"
    assert (tmp_path / "elsewhere").read_bytes() == b"x"           # the link was replaced, not followed


def test_driver_keeps_its_ancestors_when_it_reaps():
    driver = _driver_module()
    keep = driver._ancestors()
    assert os.getpid() in keep and os.getppid() in keep and 1 in keep
