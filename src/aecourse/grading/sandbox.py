"""The grading box: one untrusted submission under bubblewrap, seeing nothing but itself.

A box starts from nothing and gets only what a Python kernel needs (deny by
default, as otter-grader's containers, PrairieLearn's external graders and
Gradescope do).  It is built by `bubblewrap <https://github.com/containers/bubblewrap>`_
(``bwrap``, Flatpak's sandbox), which sets up the mount table, the
namespaces and the capabilities; nothing here writes a jail by hand.

Inside a box (``box_command``):

filesystem (an allowlist; nothing else exists)
    read-only: ``/usr`` (and the ``/bin``, ``/lib*``, ``/sbin`` links or folders
    that point into it), the dynamic loader's files and the time zone from
    ``/etc``, a made-up ``/etc/passwd``, ``/etc/group``, ``/etc/hosts`` and
    ``/etc/nsswitch.conf`` (written by the grader, see :func:`write_etc`),
    ``/sys/devices/system/cpu`` (torch reads the CPU topology), the Python
    installation (``sys.base_prefix``), the environment (``sys.prefix``) and
    the folder the ``aecourse`` package is imported from, each at its own path;
    read-write: the sandbox's own working copy, at :data:`BOX_WORK`;
    private and empty: ``/tmp`` and ``/dev/shm`` (size-limited tmpfs), a fresh
    ``/proc`` of the box's own PID namespace, a minimal ``/dev``.
namespaces
    new PID, IPC, UTS, cgroup and network namespaces: no other process is
    visible, and the only network is the box's own loopback (the kernel's zmq
    needs it).
user
    uid and gid :data:`BOX_UID` (65534), no supplementary groups, no
    capabilities (bounding set empty), ``no_new_privs``.  As root the box runs
    ``setpriv`` (util-linux) to become 65534 on the host too, so even a broken
    namespace leaves an unprivileged process; as another user ``bwrap`` maps
    65534 onto that user through a user namespace.
system calls
    a seccomp filter (:mod:`.seccomp`) refuses new namespaces, ``mount``,
    ``ptrace``, keyrings, ``bpf`` and the like.
environment
    built from an allowlist (:func:`sandbox_env`), never inherited: the grader's
    variables (tokens, paths, secrets) do not reach the box.
lifetime
    ``--die-with-parent``, ``--new-session``; the grader kills the whole tree
    at the wall-clock limit, at the memory limit (the RSS of every process of
    the box, polled) or when the terminal output passes its limit.

The per-process limits (``RLIMIT_DATA``, ``RLIMIT_FSIZE``, output budget per
cell and notebook) are set by the box's driver (``box/driver.py``), and every
Python process of the box refuses internet sockets and records the attempt
(``box/site/sitecustomize.py``; flag ``network``).

``isolation="none"`` runs the same driver without a box (same user, same
filesystem): only for trusted notebooks, and ``aecourse grade`` warns.
"""

from __future__ import annotations

import functools
import os
import stat
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import seccomp
from .box import DRIVER, SITE_DIR

TOKEN_VAR = "AECOURSE_GRADE_TOKEN"
DRIVER_MARK = "AECOURSE_GRADE_DRIVER"   # in the driver's argv: the network guard spares it
NET_LOG = "network-attempts.log"        # in the working copy: what the network guard refused
DEAD_PROXY = "http://127.0.0.1:9"       # discard port: nothing answers
BOX_WORK = "/box"                       # the working copy, as the box sees it
BOX_UID = 65534                         # "nobody" on most systems
BOX_USER = "student"
TMPFS_BYTES = 256 * 2**20               # /tmp and /dev/shm each
BWRAP_ENV = "AECOURSE_BWRAP"            # path of bwrap, instead of the one on PATH
ISOLATIONS = ("bwrap", "none")

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
                "`sudo dnf install bubblewrap`; Arch: `sudo pacman -S bubblewrap`), or pass "
                "`--isolation none` to grade notebooks you trust without a sandbox")


class SandboxUnavailable(RuntimeError):
    """The grading box cannot be built on this machine; the message says why and what to do."""


# ------------------------------------------------------------------------------ the box
def bwrap_path() -> str | None:
    """The ``bwrap`` to use: ``$AECOURSE_BWRAP`` if set (even if missing), else the one on ``PATH``."""
    wanted = os.environ.get(BWRAP_ENV)
    if wanted:
        return wanted if os.access(wanted, os.X_OK) and os.path.isfile(wanted) else None
    return shutil.which("bwrap")


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def read_only_trees() -> list[str]:
    """The host paths a box sees read-only besides ``/usr``: Python and the installed ``aecourse``.

    ``sys.base_prefix`` (the interpreter and its standard library), ``sys.prefix``
    (the virtual environment: nbgrader, torch, ...) and the folder that holds the
    ``aecourse`` package (``src/`` for an editable install: the library only, never
    ``solutions/``).  Each as given and as resolved, without duplicates or paths
    already under ``/usr``.
    """
    package_parent = Path(__file__).resolve().parents[2]
    paths: list[str] = []
    for p in (sys.base_prefix, sys.prefix, str(package_parent)):
        for q in (os.path.abspath(p), os.path.realpath(p)):
            if q not in paths and not _under(q, "/usr"):
                paths.append(q)
    return [p for p in paths if not any(p != o and _under(p, o) for o in paths)]


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def write_etc(folder: Path) -> Path:
    """The box's made-up ``/etc`` files: one user (65534), one group, localhost, files-only lookups."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
                  f"{BOX_USER}:x:{BOX_UID}:{BOX_UID}:{BOX_USER}:{BOX_WORK}/home:/usr/sbin/nologin\n",
        "group": f"root:x:0:\n{BOX_USER}:x:{BOX_UID}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="ascii")
    return folder


def box_command(work: Path, etc: Path, argv: list[str], env: dict[str, str],
                seccomp_fd: int | None, bwrap: str, chdir: str = BOX_WORK) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in a box over the working copy ``work``.

    Parameters
    ----------
    work : Path
        The sandbox's working copy on the host; the box sees it, read-write, at
        :data:`BOX_WORK` (paths in ``argv`` and ``env`` use that name).
    etc : Path
        The folder :func:`write_etc` filled.
    argv, env
        The command and its whole environment (``--clearenv`` first).
    seccomp_fd : int or None
        A readable file descriptor holding :func:`seccomp.program`'s bytes.
    bwrap : str
        The ``bwrap`` executable.
    chdir : str
        The working directory inside the box.
    """
    cmd = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--hostname", "grading-box", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in sorted(env.items()):
        cmd += ["--setenv", key, value]
    if not _as_root():  # an unprivileged grader: bwrap needs a user namespace and maps 65534 onto it
        cmd += ["--unshare-user", "--uid", str(BOX_UID), "--gid", str(BOX_UID), "--disable-userns"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        cmd += ["--ro-bind-try", path, path]
    for name in ("passwd", "group", "hosts", "nsswitch.conf"):
        cmd += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    cmd += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu",
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/dev/shm"]
    made = {"/", "/usr", "/tmp", "/etc", "/proc", "/dev", "/sys"}
    for tree in read_only_trees():
        cmd += _parents(tree, made) + ["--ro-bind", tree, tree]
    cmd += ["--bind", str(work), BOX_WORK, "--chdir", chdir]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    cmd += ["--cap-drop", "ALL"]
    if _as_root():
        # bwrap keeps only what setpriv needs to become 65534; setpriv then drops every capability,
        # empties the bounding set and sets no_new_privs before it runs argv.
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--",
                "/usr/bin/setpriv", f"--reuid={BOX_UID}", f"--regid={BOX_UID}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return cmd + ["--", *argv]


def _parents(tree: str, made: set[str]) -> list[str]:
    """``--dir`` (mode 755) for every missing parent of ``tree``: bwrap would make them 700."""
    out = []
    parts = Path(tree).parts
    for i in range(2, len(parts)):
        parent = str(Path(*parts[:i]))
        if parent not in made:
            made.add(parent)
            out += ["--perms", "0755", "--dir", parent]
    made.add(tree)
    return out


def sandbox_env(work: str, *, threads: int, token: str = "") -> dict[str, str]:
    """The whole environment of a submission, from an allowlist (nothing of the grader's own).

    ``work`` is the working copy as the sandbox sees it (:data:`BOX_WORK` in a box):
    home, Jupyter and matplotlib folders live there.  No network (dead proxies), no
    GPU (grading on CPU gives the same numbers everywhere), ``threads`` BLAS threads.
    """
    home = f"{work}/home"
    path = os.pathsep.join(dict.fromkeys([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    env = {
        "PATH": path, "HOME": home, "USER": BOX_USER, "LOGNAME": BOX_USER, "SHELL": "/bin/sh",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
        "TMPDIR": f"{work}/tmp", "TMP": f"{work}/tmp", "TEMP": f"{work}/tmp",
        "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "JUPYTER_DATA_DIR": f"{home}/.jupyter-data",
        "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime", "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": f"{home}/.ipython", "MPLCONFIGDIR": f"{home}/.matplotlib", "MPLBACKEND": "Agg",
        "PYTHONPATH": str(SITE_DIR), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "AECOURSE_NET_LOG": f"{work}/{NET_LOG}", "CUDA_VISIBLE_DEVICES": "",
        "NO_PROXY": "", "no_proxy": "", "PIP_NO_INDEX": "1",
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY",
                "http_proxy", "https_proxy", "ftp_proxy", "all_proxy"):
        env[var] = DEAD_PROXY
    if token:
        env[TOKEN_VAR] = token
    return env


def driver_argv(args_json: str) -> list[str]:
    """The box's driver, run by path by the grader's interpreter."""
    return [sys.executable, str(DRIVER), args_json, DRIVER_MARK]


# ------------------------------------------------------------------------------ the probe
_PROBE_CODE = ("import os, sys, nbgrader, aecourse; "
               "assert os.getuid() == %d, 'not uid %d' %% os.getuid(); "
               "open(os.path.join(%r, 'ok'), 'w').write('ok')" % (BOX_UID, BOX_UID, BOX_WORK))


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str) -> str:
    """'' when a box with this bwrap runs Python as 65534 here, else what went wrong."""
    folder = Path(tempfile.mkdtemp(prefix="aecourse-boxprobe-"))
    try:
        work = folder / "work"
        work.mkdir()
        if _as_root():
            os.chown(work, BOX_UID, BOX_UID)
        etc = write_etc(folder / "etc")
        program = seccomp.program()
        fd = _seccomp_fd(program)
        try:
            cmd = box_command(work, etc, [sys.executable, "-c", _PROBE_CODE],
                              sandbox_env(BOX_WORK, threads=1), fd, bwrap)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                                  pass_fds=(fd,) if fd is not None else ())
        finally:
            if fd is not None:
                os.close(fd)
        if proc.returncode == 0 and (work / "ok").is_file():
            return ""
        return (proc.stderr or proc.stdout).strip()[-600:] or f"exit status {proc.returncode}"
    except (OSError, subprocess.SubprocessError) as err:
        return f"{type(err).__name__}: {err}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def require_box() -> str:
    """The ``bwrap`` that builds working boxes here; else :class:`SandboxUnavailable` saying what to do."""
    bwrap = bwrap_path()
    if bwrap is None:
        where = os.environ.get(BWRAP_ENV)
        found = f"no executable at ${BWRAP_ENV}={where}" if where else "bwrap is not on PATH"
        raise SandboxUnavailable(f"the grading sandbox needs bubblewrap ({found}): {INSTALL_HINT}.")
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"the grading sandbox needs Linux (this is {sys.platform}): grade in a Linux "
                                 "machine or container, or pass `--isolation none` for notebooks you trust.")
    if _as_root() and not os.access("/usr/bin/setpriv", os.X_OK):
        raise SandboxUnavailable("the grading sandbox needs util-linux's /usr/bin/setpriv to drop root "
                                 "(Debian/Ubuntu: `sudo apt-get install util-linux`).")
    problem = _probe(bwrap)
    if problem:
        hint = ("" if _as_root() else " As a normal user bwrap needs unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0); or run as root.")
        raise SandboxUnavailable(f"{bwrap} cannot build the grading sandbox here: {problem}.{hint} "
                                 "Or pass `--isolation none` for notebooks you trust.")
    return bwrap


def isolation_level() -> str:
    """``"bwrap"`` where the box works on this machine, else ``"none"``."""
    try:
        require_box()
        return "bwrap"
    except SandboxUnavailable:
        return "none"


def _seccomp_fd(program: bytes | None) -> int | None:
    """A pipe's read end holding the filter (a few hundred bytes: fits the pipe buffer)."""
    if program is None:
        return None
    r, w = os.pipe()
    try:
        os.write(w, program)
    finally:
        os.close(w)
    return r


def seccomp_fd() -> int | None:
    """A fresh readable descriptor with the box's seccomp filter (the caller closes it)."""
    return _seccomp_fd(seccomp.program())


def prepare_work(work: Path) -> None:
    """Hand the working copy to the box's user (as root; otherwise the user namespace maps it)."""
    if not _as_root():
        return
    for dirpath, dirnames, filenames in os.walk(work):
        os.chown(dirpath, BOX_UID, BOX_UID, follow_symlinks=False)
        # bwrap enters the working directory before setpriv drops root (and root without
        # CAP_DAC_OVERRIDE is nobody to a 700 folder); the batch folder above stays 700
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), BOX_UID, BOX_UID, follow_symlinks=False)


# ------------------------------------------------------------------ the process tree of one sandbox
def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        return fields[0].decode(), int(fields[1]), int(fields[2])
    except (OSError, ValueError, IndexError):
        return None


def sandbox_pids(token: str, root: int) -> list[int]:
    """Live processes of one sandbox: ``root``'s descendants and process group, and anything with its token.

    In a box every process descends from ``root`` (the PID namespace reparents orphans to
    the box's own init); without one, the token in the environment finds daemonised
    processes too (unless they scrubbed it).
    """
    needle = f"{TOKEN_VAR}={token}".encode()
    table: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit() and (info := _stat(int(entry))) is not None and info[0] != "Z":
            table[int(entry)] = info
    found = {pid for pid, (_, _, pgid) in table.items() if pgid == root}
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.add(pid)
        todo += [c for c in children.get(pid, []) if c not in found]
    for pid in table:
        if pid in found:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read():
                    found.add(pid)
        except OSError:
            continue
    return sorted(found)


def rss_bytes(pids: list[int]) -> int:
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def kill_sandbox(token: str, root: int) -> int:
    """SIGKILL the sandbox's process group, its descendants and every process with its token; how many."""
    killed = 0
    try:
        os.killpg(root, signal.SIGKILL)
        killed += 1
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(5):
        pids = sandbox_pids(token, root)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    return killed


@dataclass
class RunResult:
    returncode: int | None
    timed_out: bool
    memory_exceeded: bool
    seconds: float
    output_exceeded: bool
    peak_rss: int
    stragglers: int


def run_sandboxed(cmd: list[str], cwd: Path | None, env: dict, timeout: float, memory_limit: int,
                  log: Path, cancel: threading.Event | None = None, log_limit: int = 0,
                  token: str = "", pass_fds: tuple[int, ...] = ()) -> RunResult:
    """Run ``cmd`` in its own session; kill its whole tree on timeout, memory excess or ``cancel``.

    ``log`` receives stdout and stderr (keep it outside the working copy: the
    submission must not be able to swap it for a link).  ``log_limit`` > 0: also
    kill it when that log grows past that many bytes (a submission writing
    straight to file descriptor 1 or 2 writes there).  ``token`` is the value of
    :data:`TOKEN_VAR` in ``env``.
    """
    token = token or uuid.uuid4().hex
    env = dict(env, **{TOKEN_VAR: token})
    start = time.monotonic()
    with open(log, "wb") as logfh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=logfh,
                                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds)
    root = proc.pid  # start_new_session: the child leads its own group
    timed_out = memory_exceeded = output_exceeded = False
    peak = 0
    while True:
        try:
            proc.wait(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() - start > timeout or (cancel is not None and cancel.is_set()):
            timed_out = True
        elif memory_limit > 0 and os.path.isdir("/proc"):
            rss = rss_bytes(sandbox_pids(token, root))
            peak = max(peak, rss)
            memory_exceeded = rss > memory_limit
        if log_limit and not (timed_out or memory_exceeded):
            output_exceeded = _too_big(log, log_limit)
        if timed_out or memory_exceeded or output_exceeded:
            kill_sandbox(token, root)
            proc.wait()
            break
    seconds = time.monotonic() - start
    if log_limit and not (timed_out or memory_exceeded):
        output_exceeded = output_exceeded or _too_big(log, log_limit)
    # Anything still alive (a kernel child that escaped, a daemonised process) goes too.
    stopped = timed_out or memory_exceeded or output_exceeded
    stragglers = 0 if stopped else len(sandbox_pids(token, root))
    kill_sandbox(token, root)
    return RunResult(proc.returncode, timed_out, memory_exceeded, seconds, output_exceeded, peak, stragglers)


def _too_big(path: Path, limit: int) -> bool:
    try:
        return path.stat().st_size > limit
    except OSError:
        return False


# ------------------------------------------------------------------ reading the box's files back
def box_file(work: Path, rel: str, limit: int) -> bytes | None:
    """The bytes of ``work/rel`` if it is a regular file inside ``work`` (no link on the way), else None.

    Everything in the working copy was writable by the submission: a path may have been
    swapped for a symbolic link to a file of the grader.  The box is dead when this runs.
    """
    path = os.path.join(os.path.realpath(work), rel)
    if os.path.realpath(path) != os.path.normpath(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None
