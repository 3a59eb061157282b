"""Grade a class's submissions with nbgrader, one isolated sandbox per submission.

    rows = grade(Path("submissions"), Path("graded"), jobs=2, timeout=600, memory_limit=4)

Layout of SUBMISSIONS: ``<student>/<chapter-id>/<notebook>.ipynb`` (a folder,
or a ``.zip`` of one, as LMSs hand them out).  OUT receives ``grades.csv``
(one row per (student, chapter) found), ``items.csv`` (one row per test cell)
and ``feedback/<student>/<chapter-id>/<notebook>.html``.

How one batch runs:

1. The master gradebook is built once: ``nbgrader generate_assignment`` of
   every chapter that was submitted, in a temporary course directory
   (``release.build_release``).  It holds each test cell, its points and its
   checksum; the committed ``course/`` is not trusted for grading.
2. Each submission is graded in its own temporary course directory (config,
   non-notebook source files and release -- written from memory, so nothing
   one submission does on disk reaches the next --, a *copy* of the master
   gradebook, the submission under ``submitted/student/<id>/``; the solution
   notebook is never in it) by one child process that runs ``nbgrader
   autograde`` then ``nbgrader generate_feedback``.  nbgrader only ever sees
   the student id ``student``.  That child (and the kernel it starts) runs in
   its own session / process group, with ``cwd``, ``HOME`` and ``TMPDIR``
   inside the sandbox, under a wall-clock limit (the whole group, and every
   process carrying the sandbox's token in its environment, is SIGKILLed --
   also a process that escaped with ``setsid``) and a memory limit (below).
3. Scores are read back from that sandbox's gradebook copy and checked
   against the master: only ``auto_score`` counts (a submission cannot award
   itself a "manual" grade), every item is clipped to the master's points, and
   ``max_score`` always comes from the master.

Isolation levels.  As root with an interpreter other users can execute (a
grading container), every sandbox also runs as its own unprivileged uid: it
can neither write the repository nor see other sandboxes, even by absolute
path, and sandboxes can safely run in parallel.  Otherwise sandboxes run as
the grader's uid: relative paths only reach the sandbox itself (cwd, HOME and
TMPDIR are in it), but an absolute path reaches whatever that user may write,
and with ``jobs > 1`` two running sandboxes could find each other -- grade
untrusted classes with ``jobs=1`` or in such a container.

Memory limit: ``RLIMIT_AS`` would break torch (it reserves a lot of virtual
address space it never touches), so each process gets ``RLIMIT_DATA`` (heap
and private writable mappings: a big numpy/torch allocation fails with
``MemoryError`` / ``RuntimeError`` inside the cell, which then just loses its
points) and, on top, the resident set size of all the sandbox's processes is
polled from ``/proc`` twice a second; going over it kills the sandbox
(status ``crashed``).  Linux only; elsewhere only the time limit applies.

Statuses (``grades.csv``):

    graded              nbgrader ran the notebook; score = sum of the test cells'
                        auto scores.  Cells that raise (the learner's or the
                        tests') just lose their points.
    timeout             the submission ran past ``timeout`` seconds (whole notebook);
                        killed, score 0.
    crashed             the kernel died (``os._exit``, segfault, killed), the memory
                        limit was hit, nbgrader failed (e.g. the submission wrecked its
                        gradebook copy) or grading was cancelled; score 0.  nbgrader 0.9.6
                        aborts the whole notebook when its kernel dies and saves no
                        grade at all, so there is no partial score to report.
    not_a_notebook      the file is not JSON / not an nbformat-4 notebook.
    missing_notebook    no notebook in the chapter folder (or several, none named
                        like the chapter's), or a student folder without chapters.
    unknown_assignment  the chapter folder is not a chapter of ``solutions/``.

``review`` is ``yes`` for every row that is not a clean ``graded`` one (and for
graded ones with something odd: renamed notebook, edited locked cells, a cell
that hit the per-cell time limit, ...); ``detail`` says why in one line.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .release import (
    CONFIG_NAME,
    RELEASE_DIR,
    SOURCE_DIR,
    ReleaseError,
    build_release,
    chapter_ids,
    find_root,
    nbgrader_env,
)

__all__ = [
    "STATUSES",
    "Item",
    "Row",
    "grade",
    "discover",
    "read_grades",
    "summary",
    "sandbox_uids_available",
]

STATUSES = ("graded", "timeout", "crashed", "not_a_notebook", "missing_notebook", "unknown_assignment")
GRADE_COLUMNS = ["student", "assignment", "score", "max_score", "status", "detail",
                 "review", "notebook", "feedback", "seconds"]
ITEM_COLUMNS = ["student", "assignment", "grade_id", "score", "max_score", "notebook"]

DEFAULT_TIMEOUT = 600.0        # seconds per submission, wall clock
DEFAULT_MEMORY_LIMIT = 4.0     # GB per submission (RSS of all its processes)
MAX_NOTEBOOK_BYTES = 100 * 2**20
INTERNAL_STUDENT = "student"   # the id nbgrader sees; real names never reach it
TOKEN_VAR = "AECOURSE_GRADE_TOKEN"
SKIP = (".*", "__MACOSX", ".ipynb_checkpoints", "__pycache__", "*.pyc", "Thumbs.db")
UID_BASE = 61000               # sandbox uids when running as root: UID_BASE + k


# --------------------------------------------------------------------- data
@dataclass
class Item:
    grade_id: str
    score: float
    max_score: float
    notebook: str = ""


@dataclass
class Row:
    student: str
    assignment: str
    score: float
    max_score: float | None
    status: str
    detail: str
    review: bool = True
    notebook: str = ""        # the graded file, relative to SUBMISSIONS
    feedback: str = ""        # feedback HTML, relative to OUT
    seconds: float = 0.0
    items: list[Item] = field(default_factory=list)

    def csv_row(self) -> dict:
        return {
            "student": self.student, "assignment": self.assignment,
            "score": _num(self.score), "max_score": _num(self.max_score),
            "status": self.status, "detail": self.detail,
            "review": "yes" if self.review else "", "notebook": self.notebook,
            "feedback": self.feedback, "seconds": f"{self.seconds:.1f}",
        }


@dataclass
class Submission:
    student: str
    assignment: str           # as found on disk (may be unknown)
    folder: Path | None       # None: a student folder without any chapter folder
    note: str = ""


@dataclass
class Chapter:
    """What the master gradebook says about one chapter, and the files every sandbox gets.

    The files are kept in memory (not re-copied from disk for each sandbox), so
    nothing a submission writes while it runs can leak into the next sandbox.
    """
    id: str
    notebooks: list[str]      # notebook names, without .ipynb
    items: list[Item]         # every graded cell, in notebook order, score 0
    files: dict[str, bytes]   # sandbox-relative path -> bytes (config, gradebook, data, release)
    release_nbs: dict[str, dict]
    source_nbs: dict[str, dict]

    @property
    def max_score(self) -> float:
        return sum(i.max_score for i in self.items)

    def zero_items(self) -> list[Item]:
        return [Item(i.grade_id, 0.0, i.max_score, i.notebook) for i in self.items]


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.4g}" if x != int(x) else str(int(x))


def _skip(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in SKIP)


# ---------------------------------------------------------------- discovery
CHAPTER_LIKE = re.compile(r"^\d\d-")


def _submissions_root(path: Path) -> Path:
    """Descend through wrapper folders an archive adds (``export/`` around the student folders)."""
    for _ in range(3):
        entries = [p for p in path.iterdir() if not _skip(p.name)]
        dirs = [p for p in entries if p.is_dir()]
        if len(entries) != 1 or len(dirs) != 1:
            break
        # one folder: a wrapper unless it is already a student (holds chapter folders)
        if any(CHAPTER_LIKE.match(p.name) for p in dirs[0].iterdir() if p.is_dir()):
            break
        path = dirs[0]
    return path


def _extract_zip(archive: Path, dest: Path) -> Path:
    """Extract an LMS zip safely (no absolute paths, no ``..``, no links)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or ".." in parts or info.is_dir():
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:  # symlink
                continue
            target = dest / Path(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return dest


def discover(submissions: Path, exclude: Path | None = None) -> list[Submission]:
    """Every (student, chapter folder) under ``submissions``, sorted."""
    subs: list[Submission] = []
    exclude = exclude.resolve() if exclude else None
    for student in sorted(submissions.iterdir()):
        if _skip(student.name) or not student.is_dir() or student.is_symlink():
            continue
        if exclude is not None and student.resolve() == exclude:
            continue
        chapters = [p for p in sorted(student.iterdir())
                    if p.is_dir() and not p.is_symlink() and not _skip(p.name)]
        if not chapters:
            loose = sorted(p.name for p in student.glob("*.ipynb"))
            hint = f" (found {', '.join(loose)} directly in it)" if loose else ""
            subs.append(Submission(student.name, "", None,
                                   f"no chapter folder in {student.name}/{hint}; "
                                   "expected <student>/<chapter-id>/<notebook>.ipynb"))
            continue
        for chapter in chapters:
            subs.append(Submission(student.name, chapter.name, chapter))
    return subs


# ---------------------------------------------------------- master gradebook
def _grade_order(nb: dict) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def _read_chapter(template: Path, aid: str) -> Chapter:
    from nbgrader.api import Gradebook

    items: list[Item] = []
    release_nbs, source_nbs = {}, {}
    with Gradebook(f"sqlite:///{template / 'gradebook.db'}") as gb:
        notebooks = sorted(nb.name for nb in gb.find_assignment(aid).notebooks)
        for name in notebooks:
            points = {c.name: float(c.max_score) for c in gb.find_notebook(name, aid).grade_cells}
            points.update({c.name: float(c.max_score) for c in gb.find_notebook(name, aid).task_cells})
            release_nbs[name] = json.loads((template / RELEASE_DIR / aid / f"{name}.ipynb").read_text("utf-8"))
            source_nbs[name] = json.loads((template / SOURCE_DIR / aid / f"{name}.ipynb").read_text("utf-8"))
            order = _grade_order(release_nbs[name])
            order += sorted(set(points) - set(order))
            items += [Item(g, 0.0, points[g], name) for g in order if g in points]
    files = {CONFIG_NAME: (template / CONFIG_NAME).read_bytes(),
             "gradebook.db": (template / "gradebook.db").read_bytes()}
    for top in (SOURCE_DIR, RELEASE_DIR):
        for path in sorted((template / top / aid).rglob("*")):
            if path.is_file() and not (top == SOURCE_DIR and path.suffix == ".ipynb"):
                # the solution notebook (hidden tests in clear) never enters a sandbox
                files[path.relative_to(template).as_posix()] = path.read_bytes()
    return Chapter(aid, notebooks, items, files, release_nbs, source_nbs)


def _build_masters(root: Path, ids: list[str], batch: Path) -> tuple[dict[str, Chapter], dict[str, str]]:
    """Master gradebook(s): one build for all chapters; per chapter if that fails."""
    chapters: dict[str, Chapter] = {}
    broken: dict[str, str] = {}
    if not ids:
        return chapters, broken
    try:
        template = build_release(root, batch / "master", ids)
        chapters = {aid: _read_chapter(template, aid) for aid in ids}
    except ReleaseError:
        for aid in ids:
            try:
                template = build_release(root, batch / f"master-{aid}", [aid])
                chapters[aid] = _read_chapter(template, aid)
            except ReleaseError as err:
                broken[aid] = str(err).splitlines()[-1]
    for path in batch.glob("master*"):
        shutil.rmtree(path, ignore_errors=True)  # everything needed is in memory now
    return chapters, broken


# ------------------------------------------------------------- the sandbox
_DRIVER = r"""
import json, os, resource, sys, traceback
aid, student, result_path, mem, cell_timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if mem > 0:
    resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
out = {}
try:
    from traitlets.config.loader import PyFileConfigLoader
    from nbgrader.apps.api import NbGraderAPI
    cfg = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    cfg.CourseDirectory.root = os.getcwd()
    if cell_timeout > 0:
        cfg.Execute.timeout = cell_timeout
    api = NbGraderAPI(config=cfg)
    out["autograde"] = api.autograde(aid, student, force=True, create=True)
    if out["autograde"].get("success"):
        out["feedback"] = api.generate_feedback(aid, student, force=True)
except BaseException:
    out["driver_error"] = traceback.format_exc()
with open(result_path, "w") as fh:
    json.dump(out, fh)
"""


def _tagged_pids(token: str, pgid: int) -> list[int]:
    """Live processes of one sandbox: its process group, plus anything carrying its token."""
    needle = f"{TOKEN_VAR}={token}".encode()
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
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


def _rss_bytes(pids: list[int]) -> int:
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def _kill_sandbox(token: str, pgid: int) -> int:
    """SIGKILL the sandbox's process group and every straggler with its token; return how many."""
    killed = 0
    try:
        os.killpg(pgid, signal.SIGKILL)
        killed += 1
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(3):
        pids = _tagged_pids(token, pgid)
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
class _Run:
    returncode: int | None
    timed_out: bool
    memory_exceeded: bool
    seconds: float
    peak_rss: int
    stragglers: int


def _run_sandboxed(cmd: list[str], cwd: Path, env: dict, timeout: float, memory_limit: int,
                   log: Path, user: int | None, cancel: threading.Event | None = None) -> _Run:
    """Run ``cmd`` in its own session; kill its whole tree on timeout, memory excess or ``cancel``."""
    token = uuid.uuid4().hex
    env = dict(env, **{TOKEN_VAR: token})
    start = time.monotonic()
    extra = {"user": user, "group": user, "extra_groups": []} if user is not None else {}
    with open(log, "wb") as logfh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=logfh,
                                stderr=subprocess.STDOUT, start_new_session=True, **extra)
    pgid = proc.pid  # start_new_session: the child leads its own group
    timed_out = memory_exceeded = False
    peak = 0
    poll = 0.5
    while True:
        try:
            proc.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() - start > timeout or (cancel is not None and cancel.is_set()):
            timed_out = True
        elif memory_limit > 0 and os.path.isdir("/proc"):
            rss = _rss_bytes(_tagged_pids(token, pgid))
            peak = max(peak, rss)
            memory_exceeded = rss > memory_limit
        if timed_out or memory_exceeded:
            _kill_sandbox(token, pgid)
            proc.wait()
            break
    seconds = time.monotonic() - start
    # Anything still alive (a kernel child that escaped, a daemonised process) goes too.
    stragglers = 0 if (timed_out or memory_exceeded) else len(_tagged_pids(token, pgid))
    _kill_sandbox(token, pgid)
    return _Run(proc.returncode, timed_out, memory_exceeded, seconds, peak, stragglers)


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


def _chown_tree(path: Path, user: int) -> None:
    os.chown(path, user, user)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), user, user, follow_symlinks=False)


# ---------------------------------------------------------------- grading
@dataclass
class _Batch:
    root: Path
    submissions: Path
    out: Path
    tmp: Path
    chapters: dict[str, Chapter]
    broken: dict[str, str]
    timeout: float
    cell_timeout: int
    memory_limit: int
    env: dict
    uids: bool
    keep: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    cancel: threading.Event = field(default_factory=threading.Event)
    counter: int = 0

    def next_uid(self) -> int | None:
        if not self.uids:
            return None
        with self.lock:
            self.counter += 1
            return UID_BASE + self.counter


def _chapter_for(batch: _Batch, name: str) -> str | None:
    if name in batch.chapters or name in batch.broken:
        return name
    for aid in list(batch.chapters) + list(batch.broken):
        if aid.lower() == name.lower():
            return aid
    return None


def _pick_notebooks(folder: Path, expected: list[str]) -> tuple[dict[str, Path], list[str]]:
    """Map each expected notebook name to a submitted file; notes on what was guessed."""
    found = sorted(p for p in folder.glob("*.ipynb")
                   if p.is_file() and not p.is_symlink() and not _skip(p.name))
    by_name = {p.stem: p for p in found}
    chosen = {name: by_name[name] for name in expected if name in by_name}
    notes = []
    unused = [p for p in found if p.stem not in chosen]
    if len(expected) == 1 and not chosen and len(unused) == 1:
        chosen[expected[0]] = unused[0]
        notes.append(f"graded {unused[0].name} as {expected[0]}.ipynb")
    return chosen, notes


def _notebook_problem(path: Path) -> str | None:
    """Why ``path`` is not a notebook nbgrader can read (None when it is one)."""
    import nbformat

    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return f"{path.name} is not text (not UTF-8)"
    except OSError as err:
        return f"{path.name} cannot be read: {err.strerror}"
    try:
        json.loads(text)
    except ValueError as err:
        return f"{path.name} is not valid JSON ({err.msg} at line {err.lineno})"
    try:
        nb = nbformat.reads(text, as_version=4)
        if not isinstance(nb.get("cells"), list):
            return f"{path.name} has no cell list"
    except Exception as err:  # nbformat raises many kinds
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"{path.name} is not an nbformat 4 notebook ({msg[:120]})"
    return None


def _copy_submission(folder: Path, chosen: dict[str, Path], dest: Path) -> list[str]:
    """Copy the student's folder, minus junk, links, huge files and notebooks other than the
    graded ones (which get their expected names).  Returns the files left out for size."""
    dest.mkdir(parents=True)
    too_big = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not _skip(d) and not (here / d).is_symlink()]
        for name in filenames:
            src = here / name
            if _skip(name) or src.is_symlink() or name == "timestamp.txt":
                continue
            if src.stat().st_size > MAX_NOTEBOOK_BYTES:
                too_big.append(name)
                continue
            if name.endswith(".ipynb") and here == folder:
                continue  # graded notebooks are copied under their expected names below
            rel = src.relative_to(folder)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / rel)
    for name, src in chosen.items():
        shutil.copyfile(src, dest / f"{name}.ipynb")
    return too_big


def _prepare_sandbox(chapter: Chapter, work: Path, folder: Path, chosen: dict[str, Path]) -> tuple[Path, list[str]]:
    course = work / "course-root"
    for rel, data in chapter.files.items():
        target = course / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (course / SOURCE_DIR / chapter.id).mkdir(parents=True, exist_ok=True)
    too_big = _copy_submission(folder, chosen, course / "submitted" / INTERNAL_STUDENT / chapter.id)
    for sub in ("home", "tmp"):
        (work / sub).mkdir()
    notes = [f"left out files over {MAX_NOTEBOOK_BYTES // 2**20} MB: {', '.join(too_big)}"] if too_big else []
    return course, notes


def _sandbox_env(batch: _Batch, work: Path) -> dict:
    env = dict(batch.env)
    home = work / "home"
    env.update({
        "HOME": str(home), "TMPDIR": str(work / "tmp"), "TMP": str(work / "tmp"),
        "TEMP": str(work / "tmp"), "USER": INTERNAL_STUDENT, "LOGNAME": INTERNAL_STUDENT,
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "JUPYTER_DATA_DIR": str(home / ".jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / ".jupyter-runtime"), "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".matplotlib"), "MPLBACKEND": "Agg",
    })
    return env


def _scan_autograded(path: Path) -> list[str]:
    """Notes worth a human look, from the executed notebook."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    notes = []
    enames = [o.get("ename", "") for c in nb.get("cells", []) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if any(e == "CellTimeoutError" for e in enames) or any(
            "CellTimeoutError" in "".join(o.get("traceback", []))
            for c in nb.get("cells", []) for o in c.get("outputs", [])
            if o.get("output_type") == "error"):
        notes.append("a cell hit the per-cell time limit and was interrupted")
    if "MemoryError" in enames:
        notes.append("a cell ran out of memory (MemoryError)")
    return notes


def _locked_sources(nb: dict) -> dict[str, str]:
    found = {}
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict) and meta.get("locked") and meta.get("grade_id"):
            src = cell.get("source", "")
            found[meta["grade_id"]] = "".join(src) if isinstance(src, list) else src
    return found


def _locked_changes(chapter: Chapter, chosen: dict[str, Path]) -> list[str]:
    """Locked cells (tests, read-only) the learner edited or deleted, compared with the release."""
    edited, deleted = [], []
    for name, submitted in chosen.items():
        release = _locked_sources(chapter.release_nbs[name])
        source = _locked_sources(chapter.source_nbs[name])
        try:
            theirs = _locked_sources(json.loads(submitted.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        for gid, text in release.items():
            if gid not in theirs:
                deleted.append(gid)
            elif theirs[gid] not in (text, source.get(gid)):
                edited.append(gid)
    notes = []
    if edited:
        notes.append(f"edited locked cell(s) {', '.join(edited)} (restored before grading)")
    if deleted:
        notes.append(f"deleted locked cell(s) {', '.join(deleted)} (not re-added: their tests score 0)")
    return notes


def read_grades(db: Path, chapter: Chapter, student: str = INTERNAL_STUDENT) -> tuple[list[Item], list[str]]:
    """Per-item scores from a sandbox's gradebook copy, validated against the master.

    Only ``auto_score`` counts; each item is clipped to [0, master points];
    items the copy lacks score 0.  Returns (items, notes on anything odd).
    """
    from nbgrader.api import Gradebook, MissingEntry

    got: dict[tuple[str, str], float | None] = {}
    notes, manual = [], []
    with Gradebook(f"sqlite:///{db}") as gb:
        for name in chapter.notebooks:
            try:
                snb = gb.find_submission_notebook(name, chapter.id, student)
            except MissingEntry:
                notes.append(f"no grades for {name}.ipynb")
                continue
            for g in snb.grades:
                got[(name, g.name)] = g.auto_score
                if g.manual_score is not None:
                    manual.append(g.name)
    if manual:
        notes.append(f"ignored manual score(s) on {', '.join(sorted(manual))} (written by the submission?)")
    items = []
    for ref in chapter.items:
        raw = got.get((ref.notebook, ref.grade_id))
        score = min(max(float(raw or 0.0), 0.0), ref.max_score)
        if raw is not None and score != float(raw):
            notes.append(f"clipped {ref.grade_id} from {raw} to {score}")
        items.append(Item(ref.grade_id, score, ref.max_score, ref.notebook))
    return items, notes


def _tail_reason(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "DeadKernelError" in ln or "Kernel died" in ln or "kernel died" in ln:
            return "the kernel died while running the notebook (os._exit, a segfault or the memory limit)"
        if "UnresponsiveKernelError" in ln or "became unresponsive" in ln:
            return "the kernel became unresponsive and could not be interrupted"
    for ln in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception)\b", ln):
            return f"nbgrader failed: {ln[:200]}"
    return f"nbgrader failed: {lines[-1][:200]}" if lines else "nbgrader failed without a message"


def _grade_one(batch: _Batch, sub: Submission) -> Row:
    if batch.cancel.is_set():
        return Row(sub.student, sub.assignment, 0.0, None, "crashed", "grading was cancelled")
    t0 = time.monotonic()
    row = _grade_one_inner(batch, sub)
    if not row.seconds:
        row.seconds = time.monotonic() - t0
    row.review = row.review or row.status != "graded"
    return row


def _grade_one_inner(batch: _Batch, sub: Submission) -> Row:
    if sub.folder is None:
        return Row(sub.student, sub.assignment, 0.0, None, "missing_notebook", sub.note)
    rel_folder = f"{sub.student}/{sub.folder.name}"
    aid = _chapter_for(batch, sub.assignment)
    if aid is None:
        known = ", ".join(sorted(batch.chapters) + sorted(batch.broken)) or "none"
        return Row(sub.student, sub.assignment, 0.0, None, "unknown_assignment",
                   f"'{sub.assignment}' is not a chapter of {SOURCE_DIR}/ (known: {known})")
    notes = [] if aid == sub.assignment else [f"folder {sub.assignment} taken as {aid}"]
    if aid in batch.broken:
        return Row(sub.student, aid, 0.0, None, "crashed",
                   f"could not build the chapter from {SOURCE_DIR}/{aid}: {batch.broken[aid]}")
    chapter = batch.chapters[aid]
    base = Row(sub.student, aid, 0.0, chapter.max_score, "", "", items=chapter.zero_items())
    chosen, picked_notes = _pick_notebooks(sub.folder, chapter.notebooks)
    notes += picked_notes
    if not chosen:
        present = sorted(p.name for p in sub.folder.glob("*.ipynb") if not _skip(p.name))
        expected = ", ".join(f"{n}.ipynb" for n in chapter.notebooks)
        base.status = "missing_notebook"
        base.detail = (f"found {', '.join(present)} in {rel_folder}/, expected {expected}" if present
                       else f"no notebook in {rel_folder}/ (expected {expected})")
        return base
    base.notebook = ", ".join(f"{rel_folder}/{p.name}" for p in chosen.values())
    for path in chosen.values():
        problem = _notebook_problem(path)
        if problem:
            base.status, base.detail = "not_a_notebook", problem
            return base

    work = Path(tempfile.mkdtemp(prefix="sub-", dir=batch.tmp))
    try:
        course, copy_notes = _prepare_sandbox(chapter, work, sub.folder, chosen)
        notes += copy_notes
        user = batch.next_uid()
        if user is not None:
            _chown_tree(work, user)
            os.chmod(work, 0o700)
        result = work / "result.json"
        cmd = [sys.executable, "-c", _DRIVER, aid, INTERNAL_STUDENT, str(result),
               str(batch.memory_limit), str(batch.cell_timeout)]
        run = _run_sandboxed(cmd, course, _sandbox_env(batch, work), batch.timeout,
                             batch.memory_limit, work / "nbgrader.log", user, batch.cancel)
        base.seconds = run.seconds
        if run.timed_out:
            base.status = "timeout"
            base.detail = f"did not finish within {batch.timeout:g} s and was stopped (infinite loop? very slow cell?)"
            return base
        if run.memory_exceeded:
            base.status = "crashed"
            base.detail = f"used more than {batch.memory_limit / 2**30:.3g} GB of memory and was stopped"
            return base
        try:
            out = json.loads(result.read_text())
        except (OSError, ValueError):
            out = {}
        log_text = (work / "nbgrader.log").read_text(errors="replace") if (work / "nbgrader.log").exists() else ""
        auto = out.get("autograde") or {}
        if not auto.get("success"):
            base.status = "crashed"
            base.detail = _tail_reason((auto.get("error") or "") + "\n" + (auto.get("log") or "")
                                       + "\n" + (out.get("driver_error") or "") + "\n" + log_text)
            if run.returncode and run.returncode < 0:
                base.detail = f"the grading process was killed (signal {-run.returncode})"
            return base
        try:
            items, grade_notes = read_grades(course / "gradebook.db", chapter)
        except Exception as err:  # a gradebook the submission wrecked
            base.status = "crashed"
            base.detail = f"could not read the gradebook back ({type(err).__name__}); submission tampered with it?"
            return base
        notes += grade_notes
        notes += _locked_changes(chapter, chosen)
        for name in chapter.notebooks:
            notes += _scan_autograded(course / "autograded" / INTERNAL_STUDENT / aid / f"{name}.ipynb")
        if run.stragglers:
            notes.append(f"left {run.stragglers} background process(es) running; killed")
        base.items = items
        base.score = sum(i.score for i in items)
        base.status = "graded"
        tests = [i for i in items if i.max_score > 0]
        passed = sum(1 for i in tests if i.score >= i.max_score)
        base.detail = "; ".join([f"{passed}/{len(tests)} tests passed"] + notes)
        base.review = bool(notes)
        feedback = out.get("feedback") or {}
        if feedback.get("success"):
            base.feedback = _copy_feedback(batch, course, sub.student, aid, chapter.notebooks)
        else:
            base.detail += "; feedback could not be generated"
            base.review = True
        return base
    finally:
        if not batch.keep:
            shutil.rmtree(work, ignore_errors=True)


def _copy_feedback(batch: _Batch, course: Path, student: str, aid: str, notebooks: list[str]) -> str:
    src = course / "feedback" / INTERNAL_STUDENT / aid
    dest = batch.out / "feedback" / student / aid
    copied = []
    for name in notebooks:
        html = src / f"{name}.html"
        if html.is_file() and not html.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(html, dest / html.name)
            copied.append((dest / html.name).relative_to(batch.out).as_posix())
    return ", ".join(copied)


# ------------------------------------------------------------------ output
def _write_csvs(rows: list[Row], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=GRADE_COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow(row.csv_row())
    with open(out / "items.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ITEM_COLUMNS)
        w.writeheader()
        for row in rows:
            for it in row.items:
                w.writerow({"student": row.student, "assignment": row.assignment, "grade_id": it.grade_id,
                            "score": _num(it.score), "max_score": _num(it.max_score), "notebook": it.notebook})


def summary(rows: list[Row]) -> str:
    """Counts per status, mean score per chapter, and the rows that need a human look."""
    lines = [f"{len(rows)} submission(s)"]
    for status in STATUSES:
        n = sum(1 for r in rows if r.status == status)
        if n:
            lines.append(f"  {status:<19} {n}")
    for aid in sorted({r.assignment for r in rows if r.max_score}):
        these = [r for r in rows if r.assignment == aid and r.max_score]
        mean = sum(r.score for r in these) / len(these)
        graded = [r for r in these if r.status == "graded"]
        gmean = f", graded only {sum(r.score for r in graded) / len(graded):.2f}" if graded else ""
        lines.append(f"  mean score {aid}: {mean:.2f} / {_num(these[0].max_score)} (all rows{gmean})")
    review = [r for r in rows if r.review]
    if review:
        lines.append(f"{len(review)} need(s) a human look:")
        lines += [f"  {r.student}/{r.assignment or '?'}: {r.status}: {r.detail}" for r in review]
    return "\n".join(lines)


# -------------------------------------------------------------------- API
def grade(submissions: Path, out: Path, *, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT,
          memory_limit: float | None = DEFAULT_MEMORY_LIMIT, root: Path | None = None,
          cell_timeout: int | None = None, progress: bool = True, keep: bool = False,
          isolate_uid: bool | None = None) -> list[Row]:
    """Grade every ``<student>/<chapter-id>/`` under ``submissions``; write OUT; return the rows.

    jobs          submissions graded at once (each in its own process tree)
    timeout       wall-clock seconds per submission (whole notebook)
    memory_limit  GB per submission (RLIMIT_DATA per process + RSS of the sandbox); None/0: none
    root          course repository (default: found from the working directory)
    cell_timeout  per-cell limit, overriding ``Execute.timeout`` of the nbgrader config
    progress      show a progress bar and print the summary
    keep          keep the sandboxes (under the system temp dir) for debugging
    isolate_uid   run each sandbox as its own uid (default: when possible, i.e. as root with
                  an interpreter other users can execute); False: never
    """
    from tqdm.auto import tqdm

    submissions, out = Path(submissions), Path(out)
    root = Path(root).resolve() if root is not None else find_root()
    if not submissions.exists():
        raise FileNotFoundError(f"no submissions at {submissions}")
    mem = int((memory_limit or 0) * 2**30)
    tmp = Path(tempfile.mkdtemp(prefix="aecourse-grade-"))
    try:
        if submissions.is_file() and zipfile.is_zipfile(submissions):
            subs_root = _submissions_root(_extract_zip(submissions, tmp / "unzipped"))
        elif submissions.is_dir():
            subs_root = _submissions_root(submissions)
        else:
            raise ValueError(f"{submissions} is neither a folder nor a zip file")
        subs = discover(subs_root, exclude=out if out.exists() else None)
        known = chapter_ids(root)
        lower = {k.lower(): k for k in known}
        needed = sorted({lower[s.assignment.lower()] for s in subs if s.assignment.lower() in lower})
        chapters, broken = _build_masters(root, needed, tmp)
        if isolate_uid is not False:
            available = sandbox_uids_available()
            if isolate_uid and not available and progress:
                print("note: cannot run sandboxes as separate uids here (needs root and an interpreter "
                      "other users can execute)", file=sys.stderr)
            isolate_uid = available
        if isolate_uid:
            os.chmod(tmp, 0o711)  # sandboxes can reach their own folder, not list the others
        elif hasattr(os, "geteuid") and os.geteuid() == 0 and progress:
            print("warning: grading as root without uid sandboxes: submissions run as root",
                  file=sys.stderr)
        if not isolate_uid and jobs > 1 and progress:
            print("note: sandboxes share your uid, so submissions graded at the same time could reach "
                  "each other's files; for untrusted classes use --jobs 1, or grade as root in a "
                  "container (one uid per sandbox)", file=sys.stderr)
        env = nbgrader_env(tmp)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.setdefault("CUDA_VISIBLE_DEVICES", "")  # grade on CPU, like CI: same numbers everywhere
        threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, threads)
        for var in ("PYTHONSTARTUP", "PYTHONINSPECT", TOKEN_VAR):
            env.pop(var, None)
        batch = _Batch(root=root, submissions=subs_root, out=out, tmp=tmp, chapters=chapters,
                       broken=broken, timeout=float(timeout), cell_timeout=int(cell_timeout or 0),
                       memory_limit=mem, env=env, uids=bool(isolate_uid), keep=keep)
        rows: list[Row] = []
        bar = tqdm(total=len(subs), desc="grading", unit="sub", disable=not progress)
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            futures = [pool.submit(_grade_one_safe, batch, s) for s in subs]
            for fut in as_completed(futures):
                row = fut.result()
                rows.append(row)
                bar.set_postfix_str(f"{row.student}/{row.assignment}: {row.status}", refresh=False)
                bar.update()
        except BaseException:  # Ctrl-C: stop every sandbox now, not after its timeout
            batch.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            bar.close()
        rows.sort(key=lambda r: (r.student, r.assignment))
        _write_csvs(rows, out)
        if progress:
            print(summary(rows))
        return rows
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _grade_one_safe(batch: _Batch, sub: Submission) -> Row:
    """Never raises: an unexpected pipeline error becomes a ``crashed`` row."""
    try:
        return _grade_one(batch, sub)
    except Exception as err:  # keep the batch going, whatever happened
        chapter = batch.chapters.get(sub.assignment)
        return Row(sub.student, sub.assignment, 0.0, chapter.max_score if chapter else None, "crashed",
                   f"grading pipeline error: {type(err).__name__}: {err}"[:300],
                   items=chapter.zero_items() if chapter else [])
