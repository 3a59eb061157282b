"""Offline: with the network switched off, the course works on an installed machine.

The network is switched off with ``unshare -n`` (a network namespace with only the
loopback interface; needs root, as CI has) or, where that is not allowed, with a
``sitecustomize`` socket guard that refuses every non-loopback address in each
Python process (the test, its Jupyter server, the kernels). Checked:

- every chapter notebook (the solutions, i.e. with the exercises answered) executes with the
  network off and an empty data folder, so no chapter may need a download (MNIST included):
  that is nbval's run (the root ``conftest.py`` starts its kernels through
  ``tests/kernel_launcher.py``, in the Binder environment), not a second one here. Here: the
  launcher's kernel really has no network and an empty data folder, and the launcher refuses
  to start one when the network is on, the data folder is not empty or the environment is
  the wrong one (so the guarantee can fail);
- ``aecourse lab`` starts, serves ``/api/status`` with its token and the course folder;
- ``load_mnist`` without local files fails at once with a message that names the
  offline alternatives, and those alternatives work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import envs
from browserhelp import NET_GUARD, REPO, isolated_env, notebook_code, offline_command, solution_notebooks

pytestmark = [pytest.mark.slow]

NOTEBOOKS = solution_notebooks()
VENV_BIN = Path(sys.executable).parent
CHECK_NETWORK_OFF = """\
import socket
try:
    socket.getaddrinfo("pypi.org", 443)
except OSError as err:
    print("NETWORK_OFF", err)
else:
    print("NETWORK_ON")
"""


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """``offline(cmd, env) -> (cmd, env)``: the command rewritten to run with no network."""
    guard = tmp_path_factory.mktemp("netguard")

    def wrap(cmd, env):
        cmd, env, wrap.how = offline_command(cmd, env, guard)
        return cmd, env

    wrap.how = None
    return wrap


def run_offline(offline, code: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    cmd, env = offline([sys.executable, "-c", code], env)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_the_network_is_really_off(offline, tmp_path):
    proc = run_offline(offline, CHECK_NETWORK_OFF, isolated_env(tmp_path))
    assert "NETWORK_OFF" in proc.stdout, (
        f"the offline wrapper ({offline.how}) left the network on:\n{proc.stdout}\n{proc.stderr}")
    print(f"network switched off with {offline.how}")


def test_the_socket_guard_blocks_names_and_keeps_loopback(tmp_path):
    """The fallback used where ``unshare -n`` is not allowed: non-local names fail, loopback still works."""
    from browserhelp import NET_GUARD

    (tmp_path / "sitecustomize.py").write_text(NET_GUARD)
    code = CHECK_NETWORK_OFF + textwrap.dedent("""\
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
        client = socket.create_connection(server.getsockname(), timeout=5)
        print("LOOPBACK_OK")
        """)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "NETWORK_OFF" in proc.stdout and "LOOPBACK_OK" in proc.stdout, proc.stdout + proc.stderr


KERNEL_PROBE = """\
import json, os, socket, sys
try:
    socket.getaddrinfo("pypi.org", 443)
    net = "NETWORK_ON"
except OSError:
    net = "NETWORK_OFF"
data = os.environ.get("AECOURSE_DATA", "")
print(json.dumps({"net": net, "prefix": sys.prefix, "cwd": os.getcwd(), "data": data,
                  "data_listing": sorted(os.listdir(data)) if os.path.isdir(data) else None}))
"""


def kernel_output(kc, code: str, timeout: float = 60) -> str:
    chunks = []

    def keep(msg):
        if msg["msg_type"] == "stream":
            chunks.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=keep)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(chunks)


@pytest.mark.timeout(120)
def test_the_nbval_kernel_has_no_network_and_an_empty_data_folder(tmp_path):
    """The kernel nbval runs the chapters in (here with this venv's Python; nbval uses the Binder
    environment's): no network, a new empty AECOURSE_DATA of its own, the prefix and cwd it was given."""
    spec = envs.write_offline_kernelspec(tmp_path / "kernel", Path(sys.prefix), tmp_path / "data")
    (tmp_path / "nb").mkdir()
    km, kc = envs.start_kernel(spec, cwd=str(tmp_path / "nb"), stderr=subprocess.DEVNULL)
    try:
        out = json.loads(kernel_output(kc, KERNEL_PROBE).strip().splitlines()[-1])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert out["net"] == "NETWORK_OFF", f"the nbval kernel ({envs.offline_mode()}) has the network on: {out}"
    assert out["data_listing"] == [] and Path(out["data"]).parent == tmp_path / "data", out
    assert out["prefix"] == sys.prefix and out["cwd"] == str(tmp_path / "nb"), out


@pytest.mark.timeout(120)
def test_a_refused_kernel_fails_with_the_launchers_message(tmp_path):
    """What nbval shows when the launcher refuses (it sends the kernel's stderr to /dev/null): the reason."""
    spec = envs.write_offline_kernelspec(tmp_path / "kernel", Path(sys.prefix), tmp_path / "data")
    kernel_json = spec / "kernel.json"
    kernel = json.loads(kernel_json.read_text())
    kernel["argv"][kernel["argv"].index("--prefix") + 1] = str(tmp_path / "elsewhere")
    kernel_json.write_text(json.dumps(kernel))
    with pytest.raises(RuntimeError, match="refusing to start the kernel: the kernel would run in .* not in the "
                                           "Binder environment"):
        envs.start_kernel(spec, cwd=str(tmp_path), stderr=subprocess.DEVNULL, startup_timeout=60)


def launch(tmp_path: Path, *, net: str, prefix: str = sys.prefix, env: dict | None = None,
           data_files: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run tests/kernel_launcher.py as the kernelspec would (but with no unshare around it) with
    ``--check-only``: it exits after its checks instead of starting ipykernel."""
    connection = tmp_path / "kernel-probe.json"
    for name in data_files:
        (tmp_path / "data" / connection.stem).mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / connection.stem / name).write_text("already here")
    cmd = [sys.executable, str(envs.LAUNCHER), "--net", net, "--prefix", prefix, "--data-root",
           str(tmp_path / "data"), "--report", str(tmp_path / "refused.txt"), "--check-only", "-f", str(connection)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env or dict(os.environ))


def guarded_env(tmp_path: Path) -> dict:
    (tmp_path / "guard").mkdir(exist_ok=True)
    (tmp_path / "guard" / "sitecustomize.py").write_text(NET_GUARD)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "guard"),
                                                                      os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("case", ["network-on", "no-guard", "data-not-empty", "wrong-prefix"])
def test_the_kernel_launcher_refuses_when_a_guarantee_does_not_hold(tmp_path, case):
    """nbval's one run is also the offline run: the launcher must refuse a kernel that would have the network
    (no namespace of its own; the guard missing), find data on disk, or run in another environment."""
    if case == "network-on":
        proc, expected = launch(tmp_path, net="unshare"), "the network is on"
    elif case == "no-guard":
        proc, expected = launch(tmp_path, net="guard"), "socket guard is not installed"
    elif case == "data-not-empty":
        proc = launch(tmp_path, net="guard", env=guarded_env(tmp_path), data_files=("mnist.npz",))
        expected = "is not empty (mnist.npz)"
    else:
        proc, expected = launch(tmp_path, net="guard", prefix=str(tmp_path)), "not in the Binder environment"
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    assert "refusing to start the kernel" in proc.stderr and expected in proc.stderr, proc.stderr
    assert expected in (tmp_path / "refused.txt").read_text()


def test_the_kernel_launcher_passes_its_checks_when_they_hold(tmp_path):
    """The same launcher, the guard in place and nothing in the data folder: it gets past every check."""
    proc = launch(tmp_path, net="guard", env=guarded_env(tmp_path))
    assert proc.returncode == 0 and "checks passed" in proc.stdout, (proc.stdout, proc.stderr)
    assert not (tmp_path / "refused.txt").exists()
    assert (tmp_path / "data" / "kernel-probe").is_dir()


LAB_PROBE = """\
import json, subprocess, sys, time, urllib.request
sys.path.insert(0, {tests!r})
from browserhelp import free_port, stop_tree

port, token = free_port(), "offline-test-token"
cmd = [{aecourse!r}, "lab", "--no-browser", f"--port={{port}}", "--ServerApp.port_retries=0",
       "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={{token}}"]
log = open({log!r}, "wb")
proc = subprocess.Popen(cmd, cwd={repo!r}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
result = {{"status": None, "listing": None, "lab_page": None}}
try:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{{port}}/api/status?token={{token}}", timeout=3) as r:
                result["status"] = json.loads(r.read())
            break
        except OSError:
            time.sleep(0.5)
    if result["status"] is not None:
        with urllib.request.urlopen(f"http://127.0.0.1:{{port}}/api/contents?token={{token}}", timeout=10) as r:
            result["listing"] = sorted(item["name"] for item in json.loads(r.read())["content"])
        with urllib.request.urlopen(f"http://127.0.0.1:{{port}}/lab?token={{token}}", timeout=30) as r:
            result["lab_page"] = r.status
finally:
    result["exit_code_before_stop"] = proc.poll()
    result["killed"] = stop_tree(proc)
    print("RESULT=" + json.dumps(result))
"""


@pytest.mark.timeout(300)
def test_aecourse_lab_starts_and_serves_offline(offline, tmp_path):
    log = tmp_path / "lab.log"
    code = LAB_PROBE.format(tests=str(REPO / "tests"), aecourse=str(VENV_BIN / "aecourse"), log=str(log),
                            repo=str(REPO))
    # the learner's working copy goes to the test's folder, not the real ~/aecourse-work
    env = isolated_env(tmp_path / "home", AECOURSE_WORK=str(tmp_path / "work"))
    proc = run_offline(offline, code, env, timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    assert lines, f"the probe printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT="):])
    server_log = log.read_text(errors="replace") if log.is_file() else "(no log)"
    assert result["status"] is not None, (
        f"`aecourse lab` did not serve /api/status offline; its log:\n{server_log[-3000:]}")
    assert result["exit_code_before_stop"] is None, "`aecourse lab` exited by itself"
    chapters = sorted(p.name for p in (REPO / "course").iterdir() if p.is_dir())
    assert set(chapters) <= set(result["listing"] or []), (
        f"`aecourse lab` should serve course/ (chapters {chapters}), it lists {result['listing']}")
    assert result["lab_page"] == 200, f"/lab answered {result['lab_page']}"
    assert (tmp_path / "work" / "00-setup").is_dir(), "`aecourse lab` should serve a working copy of course/"
    assert "Traceback" not in server_log, f"the server logged an error:\n{server_log[-3000:]}"


MNIST_PROBE = """\
import json, time
from aecourse import data
out = {}
for label, call in (("load_mnist", lambda: data.load_mnist()), ("load", lambda: data.load("mnist")),
                    ("download", lambda: data.load_mnist(download=True))):
    start = time.monotonic()
    try:
        call()
        out[label] = {"error": None}
    except Exception as err:
        out[label] = {"type": type(err).__name__, "error": str(err)}
    out[label]["seconds"] = round(time.monotonic() - start, 1)
digits = data.load_sklearn_digits()
glyphs = data.make_glyph_digits(n=64, seed=0)
out["fallbacks"] = [len(digits.images), len(glyphs.images)]
print("RESULT=" + json.dumps(out))
"""


@pytest.mark.timeout(300)
def test_load_mnist_offline_fails_clearly_and_the_fallbacks_work(offline, tmp_path):
    env = isolated_env(tmp_path / "home", AECOURSE_DATA=str(tmp_path / "no-data"))
    proc = run_offline(offline, MNIST_PROBE, env, timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    assert lines, f"the probe failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT="):])
    for label in ("load_mnist", "load"):
        r = out[label]
        assert r["type"] == "FileNotFoundError", f"{label} without files: {r}"
        assert "download=True" in r["error"] and "make_glyph_digits" in r["error"] and "load_sklearn_digits" in r[
            "error"], f"{label}'s message should say how to get MNIST and name the offline alternatives: {r['error']}"
        assert str(tmp_path / "no-data") in r["error"], f"the message should say where it looked: {r['error']}"
    r = out["download"]
    assert r["type"] in ("ConnectionError", "OSError", "URLError"), f"load_mnist(download=True) offline: {r}"
    assert "offline" in r["error"] and "make_glyph_digits" in r["error"], r["error"]
    assert r["seconds"] < 60, f"load_mnist(download=True) took {r['seconds']} s to give up offline"
    assert out["fallbacks"][0] > 1000 and out["fallbacks"][1] == 64


MNIST_CALL = re.compile(r"load_mnist\(|load\(\s*[\"']mnist[\"']")


def test_chapters_that_use_mnist_have_an_offline_fallback():
    """A chapter may offer MNIST, but must fall back when the files are missing (and it does, offline:
    nbval runs every chapter with the network off and an empty data folder, see the root conftest.py)."""
    for nb in NOTEBOOKS:
        code = notebook_code(nb)
        if not MNIST_CALL.search(code):
            continue
        assert re.search(r"except\s*\(?[^:]*(FileNotFoundError|OSError|ConnectionError)", code), (
            f"{nb.parent.name} calls MNIST without catching FileNotFoundError/ConnectionError")
        assert re.search(r"make_glyph_digits\(|load_sklearn_digits\(", code), (
            f"{nb.parent.name} calls MNIST without an offline fallback (make_glyph_digits / load_sklearn_digits)")
