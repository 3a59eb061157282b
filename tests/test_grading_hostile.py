"""Hostile and broken submissions: each ends with the row it deserves, and nothing else changes.

One batch (``hostile``) grades every hostile case of ``hostile_cases`` with an
honest submission before and after every pair of them (students sort as
``00-honest-full``, ``01-loop``, ``02-training``, ``03-honest-partial``, ...;
jobs=2, so every hostile one runs next to an honest one or another hostile one,
and every honest one next to a hostile one; one honest notebook per hostile one,
as before, cost 40% more sandbox time for no other guarantee).  The honest notebooks are graded alone first (``alone``); they
must get exactly the same per-item scores in the hostile batch.  The fixture
course is the mini course (tests/fixtures/minicourse, 99-mini: test_square 2
points, test_q1 1, test_blank 1) plus ``98-other``, a second chapter with other
grade ids (for "a notebook from another chapter").

Expected scores are what the honest parts of each submission earn.

Canaries (``canaries``) are planted *outside* the batch, where a real grading
machine keeps secrets: a file in another folder of the system temp dir, a file
in the grader's ``HOME``, another student's full-marks notebook (and its
feedback) from an earlier batch still on disk, a second copy of the course with
its ``solutions/``, and an environment variable of the grading process.  The
``reader`` walks every path it can see and every ``/proc/*/environ``; the
``copier`` execs every answer cell of every notebook it can find; the
``prober`` checks the box from inside (uid, writes, mount, unshare, ptrace, raw
sockets, processes, capabilities, other processes' ``/proc/<pid>/mem``).  The
``forger`` leaves a daemon behind that rewrites the scores once nbgrader has
written them, the ``trigger`` plants an SQL trigger in the gradebook that fires on
nbgrader's own write: both are the blank release and must score what it scores, 0.  Their findings are read back from their
feedback HTML, the student's own channel.

The sandbox is bubblewrap's box: where it cannot be built these tests fail
under CI (``make test`` installs bubblewrap) and skip elsewhere.
"""
from __future__ import annotations

import html
import json
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from aecourse.grading import grade, isolation_level
from aecourse.grading.sandbox import read_only_trees
from aecourse.release import release
from conftest import REPO, copy_minicourse
from gradehelp import (
    add_chapter,
    digest,
    load,
    partial,
    read_csv,
    renamed_chapter,
    submit,
    tree_digest,
    with_cell,
    without_cells,
)

MINI, OTHER = "99-mini", "98-other"
TIMEOUT = 45        # whole notebook; an honest one takes ~5 s, ~15 s on a busy machine
CELL_TIMEOUT = 12
MEMORY_GB = 1
HOSTILE_PER_HONEST = 2  # hostile cases between two honest notebooks in the batch
LEVEL = isolation_level()
if LEVEL != "bwrap":
    if os.environ.get("CI"):
        raise RuntimeError("the grading sandbox (bubblewrap) cannot be built here; `make test` installs it")
    pytest.skip("needs the bubblewrap grading sandbox (apt-get install bubblewrap)", allow_module_level=True)
CANARY = "CANARY-" + uuid.uuid4().hex    # planted outside the batch; no submission may ever see it
CANARY_VAR = "AECOURSE_TEST_CANARY"
COPIER_MARK = "copier-" + "self-marker"
TOKEN = uuid.uuid4().hex[:10]          # names the files the writer tries to create
SECRET = "SECRET-" + uuid.uuid4().hex  # only in honest submissions: the reader looks for it
# what the repository must still be after grading (paths other engineers are not editing)
REPO_PATHS = [REPO / "autograder", REPO / "src" / "aecourse" / "grading", REPO / "tests" / "fixtures",
              REPO / "tests" / "gradehelp.py"]  # not README.md etc.: others edit them meanwhile

LOOP_IGNORING_INTERRUPTS = '''answer_q1 = "b"
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
'''
TRAINING_FOR_AN_HOUR = '''blank_1 = "compress"
import time
for epoch in range(3600):   # "training" one epoch a second
    time.sleep(1)
'''
MEMORY_BOMB = '''answer_q1 = "b"
def bomb():
    hog = []
    while True:
        hog.append(bytearray(64 * 2**20))
bomb()
'''
KILL_THE_KERNEL = "import os\nos._exit(0)"
# the blank release plus a daemon that outlives its kernel and rewrites every score it finds,
# polling until nbgrader has written them (before the driver reaped stragglers: full marks)
FORGER = '''import os, pathlib, sqlite3, time
here = pathlib.Path.cwd()
db = next(p / "gradebook.db" for p in [here, *here.parents] if (p / "gradebook.db").exists())
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.time() + 120
        while time.time() < end:
            try:
                con = sqlite3.connect(str(db), timeout=0.05)
                con.execute("UPDATE grade SET auto_score = 1000 WHERE auto_score IS NOT NULL AND auto_score < 1000")
                con.commit()
                con.close()
            except Exception:
                pass
            time.sleep(0.005)
    os._exit(0)
'''
# the blank release plus an SQL trigger planted in the gradebook: nbgrader's own write of the
# scores would fire it (before the driver restored the gradebook: full marks)
TRIGGER = '''import pathlib, sqlite3
here = pathlib.Path.cwd()
db = next(p / "gradebook.db" for p in [here, *here.parents] if (p / "gradebook.db").exists())
con = sqlite3.connect(str(db))
con.executescript("""CREATE TRIGGER forge AFTER UPDATE OF auto_score ON grade
WHEN NEW.auto_score IS NOT NULL AND NEW.auto_score < 1000
BEGIN UPDATE grade SET auto_score = 1000 WHERE id = NEW.id; END;""")
con.commit()
'''
KILL_EVERYTHING = '''import os, signal
for pid in (os.getppid(), -1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as err:
        print(err)
os.kill(os.getpid(), signal.SIGKILL)
'''
PRINT_MEGABYTES = '''blank_1 = "compress"
print("x" * (30 * 2**20))
for i in range(200_000):
    print(i, "spam spam spam")
'''
WRITE_TO_FD = '''blank_1 = "compress"
import os
os.write(1, b"y" * (96 * 2**20))
'''
MONKEYPATCH = '''import builtins
builtins.open = open
public_check = lambda *args, **kwargs: None   # make the public check pass whatever
def square(x):
    return 0
'''


def writer(course: Path, subs: Path, out: Path) -> str:
    """Tries to create or open for writing files outside its sandbox; answers "b" only if all fail."""
    create = [course / "solutions" / MINI / f"pwned-{TOKEN}.txt", course / f"pwned-{TOKEN}.txt",
              course / "autograder" / f"pwned-{TOKEN}.txt", REPO / f"pwned-{TOKEN}.txt",
              REPO / "autograder" / f"pwned-{TOKEN}.txt", REPO / "src" / "aecourse" / f"pwned_{TOKEN}.py",
              subs / "00-honest-full" / MINI / f"pwned-{TOKEN}.txt", out / f"pwned-{TOKEN}.txt"]
    reopen = [course / "solutions" / MINI / f"{MINI}.ipynb", course / "autograder" / "nbgrader_config.py",
              REPO / "autograder" / "nbgrader_config.py", subs / "00-honest-full" / MINI / f"{MINI}.ipynb"]
    return f'''import os
hits = []
for path in {[str(p) for p in create]!r} + ["../" * 12 + "pwned-{TOKEN}.txt"]:
    try:
        with open(path, "x") as fh:
            fh.write("pwned")
        hits.append(path)
    except OSError:
        pass
for path in {[str(p) for p in reopen]!r}:
    try:
        with open(path, "a"):   # opening is enough to prove it could write; nothing is written
            hits.append(path)
    except OSError:
        pass
print("writable:", hits)
answer_q1 = "b" if not hits else "a"
'''


# Walks the whole visible filesystem but the read-only system and Python trees (big, and
# holding nothing of the grader's), reading every small regular file.
WALK = '''
import glob, os, sys
skip = [os.path.realpath(p) for p in ("/usr", "/proc", "/sys", "/dev", sys.prefix, sys.base_prefix)]
def visible_files():
    for top in os.listdir("/"):
        top = "/" + top
        if os.path.isfile(top):
            yield top
        for dirpath, dirnames, filenames in os.walk(top):
            real = os.path.realpath(dirpath)
            if any(real == s or real.startswith(s.rstrip("/") + "/") for s in skip):
                dirnames[:] = []
                continue
            for name in filenames:
                yield os.path.join(dirpath, name)
'''


def reader(course: Path, subs: Path, out: Path, canaries: dict, walk: bool = True) -> str:
    """Looks everywhere for secrets: other students' work, hidden tests, the canaries; "b" only if none.

    ``walk=False``: only the known places and ``/proc`` (walking a whole machine takes minutes).
    """
    known = [str(p) for p in canaries["paths"]]
    return WALK + f'''
own = os.path.dirname(os.environ["HOME"])   # its own sandbox: fair game
marks = ["SEC" + "RET-", "hidden-test-" + "marker", "CAN" + "ARY-"]
patterns = [{str(subs)!r} + "/**/*", {str(out)!r} + "/**/*", {str(course)!r} + "/solutions/**/*",
            "/tmp/**/*", "/root/**/*", "/home/**/*", "/proc/*/cwd/**/*.ipynb", "/proc/*/root/tmp/**/*.ipynb"]
paths = {known!r} + ([p for pattern in patterns for p in glob.glob(pattern, recursive=True)[:2000]] if {walk!r} else [])
found, seen = [], 0
for path in paths + (list(visible_files()) if {walk!r} else []):
    real = os.path.realpath(path)
    if real.startswith(own + os.sep) or not os.path.isfile(path):
        continue
    seen += 1
    if "can" + "ary" in path.lower():
        found.append(path)
    try:
        if os.path.getsize(path) > 2_000_000:
            continue
        with open(path, errors="replace") as fh:
            text = fh.read()
    except OSError:
        continue
    for m in marks:
        if m in text:
            at = text.index(m)
            found.append(path + ": " + text[at:at + 60])
for pid in os.listdir("/proc"):
    try:
        with open(f"/proc/{{pid}}/environ", "rb") as fh:
            env = fh.read()
    except OSError:
        continue
    for m in marks:
        if m.encode() in env:
            found.append(f"/proc/{{pid}}/environ: " + env[env.index(m.encode()):][:60].decode(errors="replace"))
print("read", seen, "files")
print("found:", found[:0] if not found else "see below")
for line in found[:20]:   # one a line: a line quoting a hidden test is blanked in the feedback
    print("  ", line.replace(chr(10), " "))
answer_q1 = "b" if not found else "a"
'''


def copier(course: Path, subs: Path, out: Path, canaries: dict) -> str:
    """Execs every answer cell of every notebook it can find on disk (its own cell excluded)."""
    known = [str(p) for p in canaries["notebooks"]]
    return WALK + f'''
import json
mark = "copier-" + "self-marker"   # {COPIER_MARK}: this very cell, wherever it lies
notebooks = {known!r} + glob.glob("/tmp/**/*.ipynb", recursive=True) + [p for p in visible_files() if p.endswith(".ipynb")]
ran = []
for path in notebooks:
    try:
        with open(path) as fh:
            nb = json.load(fh)
    except (OSError, ValueError):
        continue
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {{}}).get("nbgrader", {{}})
        src = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "code" and meta.get("solution") and mark not in src:
            try:
                exec(src, globals())
                ran.append(path + ":" + meta.get("grade_id", "?"))
            except Exception:
                pass
print("copied and ran:", ran[:20])
'''


def prober(grader_pid: int) -> str:
    """Checks the box from inside; prints what it finds as JSON, answers "b" only if all of it holds."""
    forbidden = [p for p in ("/home", "/mnt", "/srv", "/opt", "/var", "/run", "/media", "/boot", "/work")
                 if not any(t == p or t.startswith(p + "/") for t in read_only_trees())]
    return f'''
import ctypes, json, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
report = {{"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
report["caps"] = [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb")]
report["no_new_privs"] = status["NoNewPrivs"].strip()
wrote = []
for path in ["/pwned", "/usr/pwned", "/etc/pwned", "/etc/passwd", os.path.join(sys.prefix, "pwned"),
             os.path.join(sys.base_prefix, "pwned"), os.path.join(os.path.dirname(ctypes.__file__), "pwned"),
             "/proc/sys/kernel/hostname", "/dev/pwned"]:
    try:
        with open(path, "a"):
            wrote.append(path)
    except OSError:
        pass
report["wrote_outside"] = wrote
def fails(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20).returncode != 0
    except OSError:
        return True
report["mount_fails"] = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0 and fails(["mount", "-t", "tmpfs", "none", "/tmp"])
report["unshare_fails"] = (libc.unshare(0x10000000) != 0 and libc.unshare(0x00020000) != 0
                           and fails(["unshare", "-U", "true"]) and fails(["unshare", "-r", "true"]))
report["ptrace_fails"] = all(libc.ptrace(16, pid, None, None) != 0 for pid in (1, {grader_pid}, os.getppid()))
raw = []
for family, kind, proto in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                            (socket.AF_PACKET, socket.SOCK_RAW, 0)):
    try:
        socket.socket(family, kind, proto).close()
        raw.append(family)
    except OSError:
        pass
report["raw_sockets"] = raw
report["interfaces"] = sorted(name for _, name in socket.if_nameindex())
report["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
report["present"] = [p for p in {forbidden!r} if os.path.exists(p)]
report["root_entries"] = sorted(os.listdir("/"))
mem = []  # another process's memory (the driver's: same uid) must not open; ptrace is not the only way
for pid in report["pids"]:
    for what in ("mem", "environ"):
        try:
            with open(f"/proc/{{pid}}/{{what}}", "rb"):
                if pid != os.getpid():
                    mem.append(f"{{pid}}/{{what}}")
        except OSError:
            pass
report["other_memory"] = mem
print("probe:", json.dumps(report))
ok = (report["uid"] != 0 and report["gid"] != 0 and not report["groups"] and not wrote
      and all(c == "0000000000000000" for c in report["caps"]) and report["no_new_privs"] == "1"
      and report["mount_fails"] and report["unshare_fails"] and report["ptrace_fails"] and not raw
      and report["interfaces"] == ["lo"] and len(report["pids"]) < 12 and not report["present"]
      and not report["other_memory"])
answer_q1 = "b" if ok else "a"
'''


def networker(port: int) -> str:
    raw = "import _socket\ns = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\ns.settimeout(3)\n" \
          f"s.connect(('127.0.0.1', {port}))\n"
    return f'''import socket, urllib.request
reached = []
for attempt in ("socket", "raw", "http", "dns"):
    try:
        if attempt == "socket":
            socket.create_connection(("127.0.0.1", {port}), timeout=3)
        elif attempt == "raw":
{"".join("            " + line + chr(10) for line in raw.splitlines())}        elif attempt == "http":
            urllib.request.urlopen("http://example.com", timeout=3)
        else:
            socket.getaddrinfo("example.com", 80)
            socket.create_connection(("example.com", 80), timeout=3)
        reached.append(attempt)
    except OSError:
        pass
print("reached:", reached)
answer_q1 = "b" if not reached else "a"
'''


def honest_kinds(source: dict, release_nb: dict) -> dict[str, dict]:
    """Three honest notebooks (4, 2 and 2 points), each carrying the secret the reader hunts for."""
    def secret(nb):
        return with_cell(nb, "ex_blank", 'blank_1 = "compress"  # ' + SECRET) if nb is source else nb
    full = secret(source)
    part = partial(source, release_nb, {"ex_square"})
    quiz = with_cell(partial(source, release_nb, {"ex_q1", "ex_blank"}), "ex_blank",
                     'blank_1 = "compress"  # ' + SECRET)
    return {"honest-full": full, "honest-partial": part, "honest-quiz": quiz}


def hostile_cases(source: dict, release_nb: dict, other: dict, course: Path, subs: Path, out: Path,
                  port: int, canaries: dict) -> dict[str, tuple]:
    """name -> (notebook / raw text / bytes, status, score, flags that must be set, detail substring)."""
    tampered = with_cell(with_cell(source, "ex_square", "def square(x):\n    return x * abs(x)"), "test_square", "pass")
    for cell in tampered["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") in ("test_square", "test_q1"):
            meta["points"] = 100
    tampered["cells"].append({"cell_type": "code", "execution_count": None, "outputs": [], "source": "pass",
                              "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus", "points": 100,
                                                        "locked": False, "solution": False, "schema_version": 3}}})
    cases = {
        "loop": (with_cell(source, "ex_q1", LOOP_IGNORING_INTERRUPTS), "timeout", 0, {"timeout", "cell_timeout"},
                 "ignored the interrupt"),
        "training": (with_cell(source, "ex_blank", TRAINING_FOR_AN_HOUR), "graded", 4, {"cell_timeout"},
                     "per-cell time limit"),
        "membomb": (with_cell(source, "ex_q1", MEMORY_BOMB), "graded", 4, {"memory_error"}, "MemoryError"),
        "exit": (with_cell(source, "ex_blank", KILL_THE_KERNEL), "crashed", 0, set(), "kernel died"),
        "tamper": (tampered, "graded", 2, {"edited_locked", "edited_metadata", "foreign_metadata"},
                   "edited locked cell(s) test_square"),
        "deleter": (without_cells(source, {"test_square", "ex_q1", "test_q1"}), "graded", 3, {"deleted_cells"},
                    "deleted cell(s) test_square, ex_q1, test_q1 (added back)"),
        "garbage": ("this is { not json", "invalid", 0, set(), "not valid JSON"),
        "binary": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 100, "invalid", 0, set(), "not text"),
        "jsonlist": ("[1, 2, 3]", "invalid", 0, set(), "not a notebook"),
        "nbformat3": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}),
                      "invalid", 0, set(), "not a notebook"),
        "otherchapter": (other, "wrong_chapter", 0, {"wrong_chapter"}, f"notebook of chapter {OTHER}"),
        "printer": (with_cell(source, "ex_blank", PRINT_MEGABYTES), "graded", 4, {"output_limit"}, "output"),
        "fdwriter": (with_cell(source, "ex_blank", WRITE_TO_FD), None, None, {"output_limit"}, "output"),
        "patcher": (with_cell(source, "ex_square", MONKEYPATCH), "graded", 2, {"suspicious_code"}, "public_check"),
        "network": (with_cell(source, "ex_q1", networker(port)), "graded", 4, {"network"}, "refused"),
    }
    cases["writer"] = (with_cell(source, "ex_q1", writer(course, subs, out)), "graded", 4, {"suspicious_code"},
                       "reaches outside its folder")
    cases["reader"] = (with_cell(source, "ex_q1", reader(course, subs, out, canaries)), "graded", 4,
                       {"suspicious_code"}, "reaches outside its folder")
    cases["killer"] = (with_cell(source, "ex_q1", KILL_EVERYTHING), "crashed", 0, set(), "")
    # the blank release plus the copier: no more than the blank release's score
    cases["copier"] = (with_cell(release_nb, "ex_q1", copier(course, subs, out, canaries)), "graded", 0, set(), "")
    cases["forger"] = (with_cell(release_nb, "ex_q1", FORGER), "graded", 0, {"background_process"},
                       "background process")
    cases["trigger"] = (with_cell(release_nb, "ex_q1", TRIGGER), "graded", 0, {"gradebook_tampered"},
                        "changed the gradebook while it ran")
    cases["prober"] = (with_cell(source, "ex_q1", prober(os.getpid())), "graded", 4, {"suspicious_code"}, "")
    return cases


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = copy_minicourse(tmp_path_factory.mktemp("hostile-course"))
    add_chapter(root, OTHER, renamed_chapter(load(root / "solutions" / MINI / f"{MINI}.ipynb"), "other_"))
    release(root)
    return root


@pytest.fixture(scope="module")
def alone(tmp_path_factory, course) -> dict:
    """The honest notebooks graded on their own: the reference scores."""
    tmp = tmp_path_factory.mktemp("alone")
    source = load(course / "solutions" / MINI / f"{MINI}.ipynb")
    release_nb = load(course / "course" / MINI / f"{MINI}.ipynb")
    for kind, nb in honest_kinds(source, release_nb).items():
        submit(tmp / "subs", kind, MINI, nb)
    submit(tmp / "subs", "blank", MINI, release_nb)
    rows = grade(tmp / "subs", tmp / "out", jobs=2, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT,
                 memory_limit=MEMORY_GB, root=course, progress=False)
    return {r.student: r for r in rows}


@pytest.fixture(scope="module")
def canaries(tmp_path_factory, course):
    """Secrets planted outside the batch, where a grading machine keeps them; removed afterwards."""
    token = uuid.uuid4().hex[:8]
    temp_dir = Path(tempfile.mkdtemp(prefix="aecourse-canary-"))     # another folder of the system temp dir
    (temp_dir / "secret.txt").write_text(f"api key {CANARY}\n")
    home_file = Path.home() / f".aecourse-canary-{token}"             # the grader's HOME
    home_file.write_text(f"token {CANARY}\n")
    # an earlier batch, left on disk: another student's full-marks notebook and its feedback
    earlier = tmp_path_factory.mktemp("earlier-batch")
    source = load(course / "solutions" / MINI / f"{MINI}.ipynb")
    full = with_cell(source, "ex_blank", f'blank_1 = "compress"  # {CANARY}')
    old_nb = submit(earlier / "subs", "eve", MINI, full)
    old_rows = grade(earlier / "subs", earlier / "out", jobs=1, timeout=TIMEOUT, root=course, progress=False)
    assert old_rows[0].score == 4, old_rows[0].detail
    # a second copy of the course, solutions/ included
    second = tmp_path_factory.mktemp("second-course") / "aecourse"
    shutil.copytree(course, second)
    second_nb = second / "solutions" / MINI / f"{MINI}.ipynb"
    second_nb.write_text(json.dumps(with_cell(load(second_nb), "ex_blank", f'blank_1 = "compress"  # {CANARY}')))
    os.environ[CANARY_VAR] = CANARY                                 # the grading process's environment
    try:
        yield {"paths": [temp_dir / "secret.txt", home_file, old_nb, earlier / "out" / old_rows[0].feedback,
                         second_nb, Path("/proc/1/environ"), Path(f"/proc/{os.getpid()}/environ")],
               "notebooks": [old_nb, second_nb]}
    finally:
        os.environ.pop(CANARY_VAR, None)
        home_file.unlink(missing_ok=True)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, course, alone, canaries) -> dict:
    tmp = tmp_path_factory.mktemp("hostile")
    subs, out = tmp / "subs", tmp / "out"
    source = load(course / "solutions" / MINI / f"{MINI}.ipynb")
    release_nb = load(course / "course" / MINI / f"{MINI}.ipynb")
    other = load(course / "solutions" / OTHER / f"{OTHER}.ipynb")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    cases = hostile_cases(source, release_nb, other, course, subs, out, port, canaries)
    honest = honest_kinds(source, release_nb)
    kinds = list(honest)
    names: dict[str, str] = {}     # student -> case name or honest kind
    n = 0
    for i, case in enumerate(cases):
        if i % HOSTILE_PER_HONEST == 0:  # an honest notebook before every pair of hostile ones
            honest_kind = kinds[(i // HOSTILE_PER_HONEST) % 3]
            names[f"{n:02d}-{honest_kind}"] = honest_kind
            n += 1
        names[f"{n:02d}-{case}"] = case
        n += 1
    last = kinds[(len(cases) // HOSTILE_PER_HONEST + 1) % 3]
    names[f"{n:02d}-{last}"] = last
    for student, what in names.items():
        submit(subs, student, MINI, honest[what] if what in honest else cases[what][0])
    before = {"course": tree_digest(course), "subs": tree_digest(subs), "repo": digest(REPO_PATHS),
              "repo_top": sorted(p.name for p in REPO.iterdir())}
    out.mkdir()
    rows = grade(subs, out, jobs=2, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, memory_limit=MEMORY_GB,
                 root=course, progress=False)
    ready, _, _ = select.select([listener], [], [], 0)
    connected = bool(ready)
    listener.close()
    return {"rows": {r.student: r for r in rows}, "names": names, "cases": cases, "honest": honest,
            "before": before, "course": course, "subs": subs, "out": out, "connected": connected}


CASES = ["loop", "training", "membomb", "exit", "tamper", "deleter", "garbage", "binary", "jsonlist",
         "nbformat3", "otherchapter", "printer", "fdwriter", "patcher", "network", "writer", "reader", "killer",
         "copier", "forger", "trigger", "prober"]


def row_of(hostile: dict, case: str):
    student = next(s for s, what in hostile["names"].items() if what == case)
    return hostile["rows"][student]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_hostile_case_gets_its_row(hostile, case):
    row = row_of(hostile, case)
    _, status, score, flags, detail = hostile["cases"][case]
    if status is not None:
        assert (row.status, row.score) == (status, score), row.detail
    assert row.max_score == 4, row.detail
    assert flags <= set(row.flags), (row.flags, row.detail)
    assert detail in row.detail
    assert row.review, "every hostile row needs a human look"
    assert sum(i.score for i in row.items) == row.score
    assert all(0 <= i.score <= i.max_score for i in row.items)


@pytest.mark.slow
def test_output_written_to_the_terminal_is_bounded(hostile):
    """Output written straight to fd 1 either reaches the notebook (and is cut) or stops the sandbox."""
    row = row_of(hostile, "fdwriter")
    assert (row.status, row.score) in {("graded", 4), ("crashed", 0)}, row.detail
    assert "output_limit" in row.flags


@pytest.mark.slow
def test_honest_neighbours_score_as_alone(hostile, alone):
    honest = [(s, kind) for s, kind in hostile["names"].items() if kind in hostile["honest"]]
    assert len(honest) == -(-len(hostile["cases"]) // HOSTILE_PER_HONEST) + 1  # one per pair, and a last one
    for student, kind in honest:
        row, ref = hostile["rows"][student], alone[kind]
        assert row.status == ref.status == "graded", (student, row.detail)
        assert [(i.grade_id, i.score) for i in row.items] == [(i.grade_id, i.score) for i in ref.items], student
        assert not row.flags, (student, row.flags, row.detail)
    assert [alone[k].score for k in ("honest-full", "honest-partial", "honest-quiz")] == [4, 2, 2]


@pytest.mark.slow
def test_one_row_per_submission(hostile):
    assert set(hostile["rows"]) == set(hostile["names"])
    csv_rows = read_csv(hostile["out"] / "grades.csv")
    assert sorted(r["student"] for r in csv_rows) == sorted(hostile["names"])
    by_student = {r["student"]: r for r in csv_rows}
    for student, row in hostile["rows"].items():
        assert by_student[student]["status"] == row.status
        assert by_student[student]["flags"].split() == row.flags


def named_below(top: Path, part: str) -> list[Path]:
    """Every file or folder under ``top`` whose name contains ``part``. A folder that vanishes while it is
    read is skipped: under make test's workers, another test's browser makes and removes its profile
    folders in /tmp meanwhile (Path.glob raised FileNotFoundError on one)."""
    return [Path(root) / name for root, dirs, files in os.walk(top, onerror=lambda err: None)
            for name in dirs + files if part in name]


@pytest.mark.slow
def test_nothing_outside_changed(hostile):
    before = hostile["before"]
    assert tree_digest(hostile["course"]) == before["course"]
    assert tree_digest(hostile["subs"]) == before["subs"]
    assert digest(REPO_PATHS) == before["repo"]
    assert sorted(p.name for p in REPO.iterdir()) == before["repo_top"]
    leftovers = [p for top in (hostile["course"], hostile["subs"], hostile["out"], REPO / "autograder",
                               REPO / "src" / "aecourse", Path("/tmp")) for p in named_below(top, TOKEN)]
    assert leftovers == []
    assert not list(hostile["out"].rglob("gradebook.db"))


@pytest.mark.slow
def test_network_got_no_connection(hostile):
    row = row_of(hostile, "network")
    assert not hostile["connected"], "a submission reached a socket listening on the grader's machine"
    assert "reached: []" not in row.detail  # the cell's own print is not in the detail; its score says it
    assert row.score == 4


@pytest.mark.slow
def test_printing_megabytes_keeps_feedback_small(hostile):
    row = row_of(hostile, "printer")
    html = hostile["out"] / row.feedback
    assert html.is_file() and html.stat().st_size < 6 * 2**20
    assert "output over the limit" in html.read_text(encoding="utf-8")


@pytest.mark.slow
def test_no_stray_processes(hostile):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "ipykernel_launcher" not in ps or not re.search(r"aecourse-grade-\w+/sub-", ps)


def feedback_text(hostile: dict, row) -> str:
    """What the student takes home: the feedback page, tags removed."""
    assert row.feedback, row.detail
    return html.unescape(re.sub(r"<[^>]+>", "", (hostile["out"] / row.feedback).read_text(encoding="utf-8")))


@pytest.mark.slow
def test_reader_finds_no_canary(hostile):
    """Every path it can see, every /proc/*/environ: no canary, no other student's work, no hidden test."""
    row = row_of(hostile, "reader")
    text = feedback_text(hostile, row)
    assert "found: []" in text, text[text.find("found:"):][:2000]
    seen = int(re.search(r"read (\d+) files", text).group(1))
    assert seen > 20, "the reader saw almost nothing: did it run?"
    for out in hostile["out"].rglob("*.html"):
        assert CANARY not in out.read_text(encoding="utf-8"), out
    assert CANARY not in (hostile["out"] / "grades.csv").read_text(encoding="utf-8")


@pytest.mark.slow
def test_copier_scores_no_more_than_the_blank_notebook(hostile, alone):
    row = row_of(hostile, "copier")
    assert row.status == "graded", row.detail
    assert alone["blank"].status == "graded"
    assert row.score <= alone["blank"].score, (row.score, row.detail)
    text = feedback_text(hostile, row)
    assert "copied and ran:" in text   # it did run; what it found was only its own stubs
    assert CANARY not in text


@pytest.mark.slow
def test_inside_the_box(hostile):
    """uid not 0, no capabilities, nothing writable outside the working copy, mount/unshare/ptrace/raw
    sockets refused, only loopback, only the box's own few processes, no home or other top-level trees."""
    row = row_of(hostile, "prober")
    text = feedback_text(hostile, row)
    report = json.loads(re.search(r"probe: (\{.*\})", text).group(1))
    assert report["uid"] != 0 and report["gid"] != 0 and report["groups"] == [], report
    assert set(report["caps"]) == {"0000000000000000"} and report["no_new_privs"] == "1", report
    assert report["wrote_outside"] == [], report
    assert report["mount_fails"] and report["unshare_fails"] and report["ptrace_fails"], report
    assert report["raw_sockets"] == [] and report["interfaces"] == ["lo"], report
    assert len(report["pids"]) < 12 and report["present"] == [], report
    assert "home" not in report["root_entries"], report
    assert report["other_memory"] == [], report   # the driver is non-dumpable: its memory is not readable
    assert row.score == 4, row.detail   # its own verdict agrees


@pytest.mark.slow
def test_the_reader_would_find_the_canaries_without_the_box(tmp_path, course, canaries):
    """The reader is a real probe: graded with no box (--isolation none) it finds them."""
    source = load(course / "solutions" / MINI / f"{MINI}.ipynb")
    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "mallory", MINI, with_cell(source, "ex_q1", reader(course, subs, out, canaries, walk=False)))
    rows = grade(subs, out, jobs=1, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT, root=course, progress=False,
                 isolation="none")
    text = html.unescape(re.sub(r"<[^>]+>", "", (out / rows[0].feedback).read_text(encoding="utf-8")))
    assert CANARY in text and "secret.txt" in text, text[text.find("found:"):][:500]
    assert rows[0].score == 3   # its answer_q1 admits what it found
