"""Run one untrusted submission in a box: processes, limits, filesystem and network isolation.

Three isolation levels, the strongest available is used (``isolation_level()``):

``namespace``  (Linux, as root or with unprivileged user namespaces; ``unshare`` from util-linux)
    The grading process starts in new mount, PID and network namespaces.  Before
    anything of the submission runs, trusted code in that process (``JAIL`` below)

    * makes every mount read-only except the sandbox's own working copy (and a
      small private ``/tmp`` and ``/dev/shm``);
    * hides, behind empty read-only tmpfs mounts: the submissions (folder or zip),
      the output folder, the course's ``solutions/`` and ``.git``, ``/run``, and the
      whole system temp dir (other sandboxes live there); ``/proc`` shows only the
      sandbox's own processes (new PID namespace), ``/proc/sys`` is read-only;
    * has no network but its own loopback (new network namespace);
    * drops every capability (bounding set too) and sets ``no_new_privs``, so
      nothing in the box can undo the mounts, even as uid 0.

``uid``        (as root, when the namespace level is unavailable)
    Each sandbox runs as its own unprivileged uid (only its folder is writable to it).

``none``       same uid as the grader: cwd, HOME and TMPDIR are in the sandbox, but an
    absolute path reaches whatever the grader may read or write.  Only for trusted
    classes; ``aecourse grade`` warns.

At every level: a ``sitecustomize`` refuses ``connect``/``sendto`` on internet
sockets in every Python process the submission starts (the kernel, its
subprocesses) and records the attempt; proxy variables point at a dead
address; a wall-clock limit for the whole notebook (the process group, and
every process carrying the sandbox's token, is SIGKILLed), ``RLIMIT_DATA`` per
process plus a poll of the resident memory of all the sandbox's processes,
``RLIMIT_FSIZE`` (no file larger than the output limit), and a cap on the
notebook's output (``_LimitedExecute`` in the driver drops outputs past it).
"""

from __future__ import annotations

import json
import os
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

TOKEN_VAR = "AECOURSE_GRADE_TOKEN"
DRIVER_MARK = "AECOURSE_GRADE_DRIVER"   # in the driver's argv: the network block spares it
NET_LOG = "network-attempts.log"        # in the sandbox: what the network block refused
UID_BASE = 61000
DEAD_PROXY = "http://127.0.0.1:9"       # discard port: nothing answers

# ------------------------------------------------------------------------------------------
# Code that runs *inside* the box.  Kept as source text: it is executed by a fresh
# interpreter (``python -c``), never imported into the grader.

SITECUSTOMIZE = r'''
# Installed by aecourse.grading in every grading sandbox: no network for submissions.
import os as _os, sys as _sys
def _aecourse_block_network():
    if "AECOURSE_GRADE_DRIVER" in getattr(_sys, "orig_argv", _sys.argv):
        return  # the trusted grading driver itself (it talks to the kernel over zmq anyway)
    import errno, socket
    log = _os.environ.get("AECOURSE_NET_LOG")
    families = {socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET)}
    def refuse(sock, address, what):
        if sock.family not in families:
            return False
        if log:
            try:
                with open(log, "a") as fh:
                    fh.write(f"{what} {address!r}\n")
            except OSError:
                pass
        raise PermissionError(errno.EACCES, f"network access is disabled while grading ({what} {address!r})")
    orig = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto", "sendmsg")}
    def connect(self, address):
        refuse(self, address, "connect")
        return orig["connect"](self, address)
    def connect_ex(self, address):
        refuse(self, address, "connect")
        return orig["connect_ex"](self, address)
    def sendto(self, data, *args):
        refuse(self, args[-1] if args else None, "sendto")
        return orig["sendto"](self, data, *args)
    def sendmsg(self, *args):
        if len(args) >= 4:
            refuse(self, args[3], "sendmsg")
        return orig["sendmsg"](self, *args)
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.socket.sendto, socket.socket.sendmsg = sendto, sendmsg
try:
    _aecourse_block_network()
except Exception:
    pass
'''

JAIL = r'''
def _aecourse_jail(spec):
    """Mount namespace, loopback, read-only world, hidden paths, no capabilities."""
    import ctypes, fcntl, os, socket, struct
    libc = ctypes.CDLL(None, use_errno=True)
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
    MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
    MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
    OPTS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
            "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}

    def mount(src, target, fstype, flags, data=None):
        enc = lambda s: s.encode() if isinstance(s, str) else s
        if libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {target}: {os.strerror(err)}")

    def under(path, top):
        return path == top or path.startswith(top.rstrip("/") + "/")

    work = spec["work"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # the loopback of the new network namespace starts down; the kernel's zmq needs it
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH", b"lo", flags | 1))
    sock.close()
    work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    rw_tmpfs = []
    for path in sorted(set(spec["hide"]), key=len):
        if os.path.islink(path) or not os.path.exists(path):
            continue
        if os.path.isdir(path):
            if under(work, path):   # e.g. /tmp: private scratch space, own sandbox put back below
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
                os.makedirs(work, exist_ok=True)
                rw_tmpfs.append(path)
            else:
                mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
        else:
            mount("/dev/null", path, None, MS_BIND)
            mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    mount(f"/proc/self/fd/{work_fd}", work, None, MS_BIND | MS_REC)
    os.close(work_fd)
    if os.path.ismount("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
        rw_tmpfs.append("/dev/shm")
    mount("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)
    for masked in ("/proc/sysrq-trigger", "/proc/kcore"):
        if os.path.exists(masked):
            mount("/dev/null", masked, None, MS_BIND)
    keep_rw = ["/proc", "/dev/pts", work] + rw_tmpfs
    done = set()
    with open("/proc/self/mountinfo") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        fields = line.split()
        target = fields[4].encode().decode("unicode_escape")
        opts = fields[5].split(",")
        if target in done or (any(under(target, k) for k in keep_rw) and target != "/proc/sys"):
            continue
        done.add(target)
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in opts:
            flags |= OPTS.get(opt, 0)
        try:
            mount(None, target, None, flags)
        except OSError as err:
            if err.errno not in (2, 13):  # a mount under a hidden path: unreachable anyway
                raise
    # no way back: no capabilities (bounding set included), no setuid gains
    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]
    data = (Data * 2)()
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
'''

# The probe: set the jail up, then check from inside that it holds.
_PROBE = JAIL + r'''
import json, os, socket, sys
spec = json.loads(sys.argv[1])
_aecourse_jail(spec)
problems = []
for path in spec["must_not_write"]:
    try:
        with open(path, "w") as fh:
            fh.write("x")
        problems.append(f"could write {path}")
    except OSError:
        pass
for path in spec["hide"]:
    if os.path.isdir(path) and not spec["work"].startswith(path.rstrip("/") + "/") and os.listdir(path):
        problems.append(f"can see into {path}")
try:  # lands in the private /tmp, if at all: the grader checks that it never shows up outside
    with open(spec["escape"], "w") as fh:
        fh.write("x")
except OSError:
    pass
with open(os.path.join(spec["work"], "ok"), "w") as fh:
    fh.write("ok")
if len([p for p in os.listdir("/proc") if p.isdigit()]) > 3:
    problems.append("sees other processes")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    problems.append("network reachable")
except OSError:
    pass
print(json.dumps(problems))
sys.exit(1 if problems else 0)
'''


def _unshare_prefix(as_root: bool) -> list[str]:
    exe = shutil.which("unshare") or "/usr/bin/unshare"
    cmd = [exe, "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
           "--propagation", "private"]
    if not as_root:
        cmd.append("--map-root-user")
    return cmd + ["--"]


_LEVEL: dict[str, str] = {}


def isolation_level(refresh: bool = False) -> str:
    """``namespace``, ``uid`` or ``none``: the strongest isolation this machine allows (probed once)."""
    if "level" in _LEVEL and not refresh:
        return _LEVEL["level"]
    level = "none"
    if sys.platform.startswith("linux") and shutil.which("unshare") and _probe_namespace():
        level = "namespace"
    elif sandbox_uids_available():
        level = "uid"
    _LEVEL["level"] = level
    return level


_PROBE_DETAIL: dict[str, str] = {}


def _probe_namespace() -> bool:
    probe = Path(tempfile.mkdtemp(prefix="aecourse-jailprobe-"))
    try:
        work = probe / "work"
        secret = probe / "secret"
        for d in (work, secret):
            d.mkdir()
        (secret / "other-student.ipynb").write_text("{}")
        spec = {"work": str(work), "hide": [str(secret), tempfile.gettempdir()],
                "escape": str(probe / "escape.txt"),
                "must_not_write": [str(Path(sys.executable).resolve()) + ".x", str(Path(__file__).resolve()) + ".x",
                                   "/proc/sys/kernel/hostname"]}
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        proc = subprocess.run(_unshare_prefix(as_root) + [sys.executable, "-c", _PROBE, json.dumps(spec)],
                              capture_output=True, text=True, timeout=60, cwd=work)
        ok = (proc.returncode == 0 and (work / "ok").exists() and not (probe / "escape.txt").exists())
        _PROBE_DETAIL["namespace"] = (proc.stdout + proc.stderr).strip()[-500:]
        return ok
    except (OSError, subprocess.SubprocessError) as err:
        _PROBE_DETAIL["namespace"] = str(err)
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


_UID_PROBE: dict[str, bool] = {}


def sandbox_uids_available() -> bool:
    """Can sandboxes run as their own unprivileged uid here?

    Needs root, and an interpreter (and venv) that other users may execute:
    a Python under ``/root`` (pyenv) is not.  Probed once per process.
    """
    if "ok" in _UID_PROBE:
        return _UID_PROBE["ok"]
    ok = False
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        probe = Path(tempfile.mkdtemp(prefix="aecourse-probe-"))
        try:
            os.chmod(probe, 0o711)
            (probe / "p").mkdir()
            os.chown(probe / "p", UID_BASE, UID_BASE)
            proc = subprocess.run([sys.executable, "-c", "import nbgrader; open('ok', 'w').close()"],
                                  cwd=probe / "p", user=UID_BASE, group=UID_BASE, extra_groups=[],
                                  capture_output=True, timeout=120)
            ok = proc.returncode == 0 and (probe / "p" / "ok").exists()
        except (OSError, subprocess.SubprocessError, ValueError):
            ok = False
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    _UID_PROBE["ok"] = ok
    return ok


def chown_tree(path: Path, user: int) -> None:
    os.chown(path, user, user)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), user, user, follow_symlinks=False)


# ------------------------------------------------------------------------------------------
# The process tree of one sandbox

def tagged_pids(token: str, pgid: int) -> list[int]:
    """Live processes of one sandbox: its process group, plus anything carrying its token."""
    needle = f"{TOKEN_VAR}={token}".encode()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if fields[0] == b"Z":
                continue
            if int(fields[2]) == pgid:
                found.append(pid)
                continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read():
                    found.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


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


def kill_sandbox(token: str, pgid: int) -> int:
    """SIGKILL the sandbox's process group and every straggler with its token; return how many."""
    killed = 0
    try:
        os.killpg(pgid, signal.SIGKILL)
        killed += 1
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(3):
        pids = tagged_pids(token, pgid)
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


def run_sandboxed(cmd: list[str], cwd: Path, env: dict, timeout: float, memory_limit: int,
                  log: Path, user: int | None, cancel: threading.Event | None = None,
                  log_limit: int = 0) -> RunResult:
    """Run ``cmd`` in its own session; kill its whole tree on timeout, memory excess or ``cancel``.

    ``log_limit`` > 0: also kill it when its stdout/stderr log grows past that many bytes (a
    submission writing straight to file descriptor 1 or 2 writes there).
    """
    token = uuid.uuid4().hex
    env = dict(env, **{TOKEN_VAR: token})
    start = time.monotonic()
    extra = {"user": user, "group": user, "extra_groups": []} if user is not None else {}
    with open(log, "wb") as logfh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=logfh,
                                stderr=subprocess.STDOUT, start_new_session=True, **extra)
    pgid = proc.pid  # start_new_session: the child leads its own group
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
            rss = rss_bytes(tagged_pids(token, pgid))
            peak = max(peak, rss)
            memory_exceeded = rss > memory_limit
        if log_limit and not (timed_out or memory_exceeded):
            output_exceeded = _too_big(log, log_limit)
        if timed_out or memory_exceeded or output_exceeded:
            kill_sandbox(token, pgid)
            proc.wait()
            break
    seconds = time.monotonic() - start
    if log_limit and not (timed_out or memory_exceeded):
        output_exceeded = output_exceeded or _too_big(log, log_limit)
    # Anything still alive (a kernel child that escaped, a daemonised process) goes too.
    stopped = timed_out or memory_exceeded or output_exceeded
    stragglers = 0 if stopped else len(tagged_pids(token, pgid))
    kill_sandbox(token, pgid)
    return RunResult(proc.returncode, timed_out, memory_exceeded, seconds, output_exceeded, peak, stragglers)


def _too_big(path: Path, limit: int) -> bool:
    try:
        return path.stat().st_size > limit
    except OSError:
        return False


def namespace_prefix() -> list[str]:
    return _unshare_prefix(hasattr(os, "geteuid") and os.geteuid() == 0)


def sandbox_env(base: dict, work: Path, student: str) -> dict:
    """The environment of one sandbox: home, temp and config dirs inside it, no network, no proxies."""
    env = dict(base)
    home = work / "home"
    pylib = work / "pylib"
    env.update({
        "HOME": str(home), "TMPDIR": str(work / "tmp"), "TMP": str(work / "tmp"),
        "TEMP": str(work / "tmp"), "USER": student, "LOGNAME": student,
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "JUPYTER_DATA_DIR": str(home / ".jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / ".jupyter-runtime"), "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".matplotlib"), "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([str(pylib)] + [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p]),
        "AECOURSE_NET_LOG": str(work / NET_LOG),
        "NO_PROXY": "", "no_proxy": "", "PIP_NO_INDEX": "1",
    })
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY",
                "http_proxy", "https_proxy", "ftp_proxy", "all_proxy"):
        env[var] = DEAD_PROXY
    return env


def install_sitecustomize(work: Path) -> None:
    pylib = work / "pylib"
    pylib.mkdir(parents=True, exist_ok=True)
    (pylib / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
