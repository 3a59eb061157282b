"""Helpers for the tests that run the course where learners meet it.

A real Jupyter server on a free local port (isolated config, data, runtime and
settings folders, so nothing global changes), the processes it starts tracked
and stopped, notebook discovery by content, and a way to run a command with
the network switched off (also used by tests/envs.py for the kernel nbval runs
the chapters in).
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path(os.environ.get("AECOURSE_CHROMIUM", "/usr/bin/chromium"))

# JupyterLab user settings every test server starts with:
# - no "Would you like to receive official Jupyter news?" toast, no update check (both
#   would also try the network);
# - every cell attached to the DOM (the default "contentVisibility" windowing may leave
#   off-screen cells unrendered, and the tests read every cell's prompt and outputs).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Save the live widgets' state into the notebook, so a test can tell a widget that should
    # show (its model is alive) from one closed on purpose (a finished tqdm bar).
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}


def in_ci() -> bool:
    """True under CI (``CI`` set, as .ci/run's caller does), where missing tools are failures."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing_tool(message: str) -> None:
    """Fail under CI (``make test`` installs the tool there), skip with the message elsewhere."""
    if in_ci() or os.environ.get("AECOURSE_REQUIRE_BROWSER"):
        pytest.fail(message + " (CI=true: this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def start_playwright():
    """A started Playwright (call ``.stop()``), after checking Chromium and the playwright package are
    there: a clear skip on a developer machine, a failure under CI (:func:`missing_tool`)."""
    if not CHROMIUM.is_file():
        missing_tool(f"Chromium is not installed at {CHROMIUM}: run `make test` (it installs Debian's chromium "
                     "when it can), or `apt-get install chromium`, or set AECOURSE_CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("the playwright package is missing: pip install -e '.[test]' (or run `make test`)")
    return sync_playwright().start()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- notebooks
def notebook_code(path: Path) -> str:
    """All code-cell sources of a notebook, joined (for discovery by content)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in nb["cells"] if c["cell_type"] == "code")


def solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("*/*.ipynb"))


def notebooks_matching(pattern: str) -> list[Path]:
    """Solutions notebooks whose code matches the regular expression ``pattern``."""
    rx = re.compile(pattern)
    return [p for p in solution_notebooks() if rx.search(notebook_code(p))]


def chapter_id(path: Path) -> str:
    return path.parent.name


def fresh_copy(src: Path, dest_dir: Path) -> Path:
    """Copy a notebook with outputs and execution counts cleared (so every prompt starts empty)."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb.get("metadata", {}).pop("widgets", None)  # no stale widget state
    dest = dest_dir / src.name
    dest.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- processes
def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (children first), from /proc. Kernels run in their
    own sessions, so killing the server's process group alone would miss them."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is as good as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def stop_tree(proc: subprocess.Popen, grace: float = 10.0) -> list[int]:
    """SIGTERM ``proc`` and every descendant, SIGKILL what is left after ``grace`` s.
    Returns the pids that had to be killed."""
    pids = descendants(proc.pid)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    pids += [p for p in descendants(proc.pid) if p not in pids]
    killed = []
    for pid in [proc.pid, *pids]:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(alive(p) for p in [proc.pid, *pids]):
        time.sleep(0.1)
    for pid in [proc.pid, *pids]:
        if alive(pid):
            killed.append(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    return killed


def isolated_env(base: Path, **extra: str) -> dict[str, str]:
    """Environment for a Jupyter server or kernel whose config, data, runtime, settings,
    workspaces and IPython folders all live under ``base`` (nothing global changes)."""
    env = os.environ.copy()
    dirs = {
        "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings", "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    for var, sub in dirs.items():
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    for rel, value in LAB_SETTINGS.items():
        path = base / "lab-settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2))
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", JUPYTER_PLATFORM_DIRS="1")
    env.pop("JUPYTER_PREFER_ENV_PATH", None)
    env.update(extra)
    return env


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class JupyterServer:
    """``python -m jupyterlab`` (JupyterLab 4 and Notebook 7 on one server) on a free port
    with a random token, isolated folders, logging to ``base/server.log``."""

    def __init__(self, root_dir: Path, base: Path, python: str = sys.executable):
        self.root_dir, self.base, self.python = Path(root_dir), Path(base), python
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.env = isolated_env(self.base)
        self.log_path = self.base / "server.log"
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self, timeout: float = 90.0) -> "JupyterServer":
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=self.root_dir, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Jupyter server exited with status {self.proc.returncode} before it "
                                   f"served /api/status; its log ends:\n{self.log_tail()}")
            try:
                status, _ = http_get(self.api("status"), timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Jupyter server did not answer /api/status within {timeout:.0f} s; "
                                   f"its log ends:\n{self.log_tail()}")
            time.sleep(0.3)

    def api(self, path: str) -> str:
        return f"{self.url}/api/{path}?token={self.token}"

    def page(self, path: str) -> str:
        """URL of a page (``lab/tree/x.ipynb``, ``notebooks/x.ipynb``) with the token."""
        return f"{self.url}/{path}?token={self.token}"

    def contents(self, rel: str) -> dict:
        status, body = http_get(self.api(f"contents/{rel}") + "&content=1")
        if status != 200:
            raise RuntimeError(f"GET /api/contents/{rel} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> list[int]:
        if self.proc is None:
            return []
        killed = stop_tree(self.proc)
        self.proc = None
        return killed

    def __enter__(self) -> "JupyterServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- no network
NET_GUARD = '''\
"""Installed by the offline tests: every socket to a non-loopback address fails."""
import ipaddress, socket

_real_connect, _real_connect_ex, _real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

def _local(host):
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False

def _check(address):
    if isinstance(address, tuple) and not _local(address[0]):
        raise OSError(101, f"network disabled by the offline test: connect to {address[0]!r}")

def connect(self, address):
    _check(address)
    return _real_connect(self, address)

def connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if not _local(host):
        raise socket.gaierror(socket.EAI_NONAME, f"network disabled by the offline test: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''


# Brings the loopback interface of a fresh network namespace up (it starts down; Jupyter's kernels
# talk to their clients over 127.0.0.1), then replaces itself with the command in argv[1:].
# SIOCGIFFLAGS / SIOCSIFFLAGS with IFF_UP, so no `ip` binary (iproute2) is needed.
LOOPBACK_UP_THEN_EXEC = """\
import fcntl, os, socket, struct, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _unshared(cmd: list[str]) -> list[str]:
    return ["unshare", "-n", sys.executable, "-c", LOOPBACK_UP_THEN_EXEC, *cmd]


@functools.lru_cache(maxsize=1)
def can_unshare_net() -> bool:
    """Whether ``unshare -n`` works here (root, or a kernel that allows user namespaces)."""
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(_unshared(["true"]), capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def offline_command(cmd: list[str], env: dict[str, str], guard_dir: Path) -> tuple[list[str], dict[str, str], str]:
    """``cmd`` rewritten to run with no network: in a fresh network namespace with only the
    loopback interface up (``unshare -n``) where possible, else with a sitecustomize socket
    guard (Python processes only; ``AECOURSE_OFFLINE=guard`` forces it, to test it). Returns
    (command, env, how)."""
    if os.environ.get("AECOURSE_OFFLINE") != "guard" and can_unshare_net():
        return _unshared(cmd), env, "unshare -n (own network namespace)"
    guard_dir.mkdir(parents=True, exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(NET_GUARD)
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(guard_dir), env.get("PYTHONPATH", "")) if p)
    return cmd, env, "a sitecustomize socket guard"


# --------------------------------------------------------------------------- driving JupyterLab (shared steps)
def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells with ``sources`` and the python3 kernel, no outputs."""
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(sources)]
    kernelspec = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb = {"cells": cells, "metadata": {"kernelspec": kernelspec}, "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def http_delete(url: str, timeout: float = 10.0) -> int:
    """Send DELETE to ``url``; the status code."""
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def sessions_for(server: JupyterServer, rel: str) -> list[dict]:
    """The server's kernel sessions for the notebook at ``rel``."""
    status, body = http_get(server.api("sessions"))
    return [s for s in json.loads(body) if s.get("path") == rel] if status == 200 else []


def shut_down_kernels(server: JupyterServer, rel: str, timeout: float = 30.0) -> None:
    """End every kernel session of ``rel`` (its widget models die with it) and wait until none is left."""
    for session in sessions_for(server, rel):
        http_delete(server.api(f"sessions/{session['id']}"))
    deadline = time.monotonic() + timeout
    while sessions_for(server, rel):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel of {rel} was still running {timeout:.0f} s after DELETE /api/sessions")
        time.sleep(0.3)


def lab_open(page, server: JupyterServer, rel: str, workspace: str, timeout_ms: int = 60_000) -> None:
    """Open ``rel`` in JupyterLab in a fresh workspace of its own and wait for its cells and an idle kernel."""
    url = server.page(f"lab/workspaces/{workspace}/tree/{rel}")
    page.goto(url.replace("?token=", "?reset&token="))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        sessions = sessions_for(server, rel)
        if sessions and sessions[0]["kernel"]["execution_state"] == "idle":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel of {rel} was not idle within {timeout_ms / 1000:.0f} s")
        time.sleep(0.3)


def lab_menu(page, menu: str, command: str) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then the item running ``command`` (e.g. ``runmenu:run-all``)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$")).first.click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


LAB_PROMPTS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
                         .map(e => e.textContent.trim())"""


def lab_wait_until_run(page, timeout: float, poll=None) -> list[str]:
    """Wait until Run All has started and no cell shows ``[*]``; calls ``poll()`` every half second while
    waiting (to look at the page mid-run). Returns the input prompts."""
    deadline, started = time.monotonic() + timeout, False
    while True:
        prompts = page.evaluate(LAB_PROMPTS_JS)
        running = sum("*" in p for p in prompts)
        started = started or running > 0 or any(re.fullmatch(r"\[\d+\]:?", p) for p in prompts)
        if started and not running:
            return prompts
        if poll is not None:
            poll()
        if time.monotonic() > deadline:
            raise RuntimeError(f"cells were still running after {timeout:.0f} s: prompts {prompts}")
        time.sleep(0.5)


def lab_save(page, timeout_ms: int = 60_000) -> None:
    """File > Save, waiting for the server to answer the PUT (reading the file earlier may see half of it)."""
    with page.expect_response(lambda r: "/api/contents/" in r.url and r.request.method == "PUT",
                              timeout=timeout_ms) as response:
        lab_menu(page, "File", "docmanager:save")
    if not response.value.ok:
        raise RuntimeError(f"saving answered {response.value.status}")


LAB_OUTPUT_TEXTS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell =>
    [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent))"""


def lab_output_texts(page) -> list[list[str]]:
    """For each cell on the page, the text of each of its outputs as shown."""
    return page.evaluate(LAB_OUTPUT_TEXTS_JS)
