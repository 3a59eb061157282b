"""Generate the learner release ``course/`` from the nbgrader source ``solutions/``.

``course/<id>/`` is exactly what ``nbgrader generate_assignment`` makes of
``solutions/<id>/``.  nbgrader runs in a throw-away course directory (a copy
of the sources plus ``autograder/nbgrader_config.py``), never in the
repository, so no ``gradebook.db`` or other nbgrader state lands in the repo.

    release(root)           rewrite course/ (only files whose bytes change)
    diff_release(root)      [] when course/ matches a fresh release, else messages
    build_release(...)      the fresh release (and its gradebook) in a temp dir;
                            the grading pipeline uses it too
"""

from __future__ import annotations

import atexit
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "ReleaseError",
    "find_root",
    "config_path",
    "chapter_ids",
    "build_release",
    "release",
    "diff_release",
    "nbgrader_env",
]

SOURCE_DIR = "solutions"
RELEASE_DIR = "course"
CONFIG_NAME = "nbgrader_config.py"
# Never copied from a source folder, never compared, never deleted by `release`.
JUNK = (".*", "__pycache__", "*.pyc", "__MACOSX", ".ipynb_checkpoints", "gradebook.db")


class ReleaseError(RuntimeError):
    """nbgrader could not generate the release (bad cell metadata, missing region end, ...)."""


# ------------------------------------------------------------------ locating
def _is_course_root(path: Path) -> bool:
    return (path / SOURCE_DIR).is_dir() and (path / RELEASE_DIR).is_dir()


def find_root(start: Path | None = None) -> Path:
    """The course repository: the first folder holding both ``solutions/`` and ``course/``.

    Walks up from ``start`` (default: the working directory), then tries the
    checkout this package was imported from (``src/aecourse`` -> repo).
    """
    start = Path(start or Path.cwd()).resolve()
    for path in (start, *start.parents):
        if _is_course_root(path):
            return path
    here = Path(__file__).resolve()
    for path in here.parents:
        if _is_course_root(path):
            return path
    raise FileNotFoundError(
        f"no course found: neither {start} nor its parents (nor the aecourse checkout) "
        f"contain both '{SOURCE_DIR}/' and '{RELEASE_DIR}/'. Run this inside the aecourse repository."
    )


def config_path(root: Path | None = None) -> Path:
    """``autograder/nbgrader_config.py`` of ``root``, else the one of this checkout."""
    candidates = []
    if root is not None:
        candidates.append(Path(root) / "autograder" / CONFIG_NAME)
    candidates += [p / "autograder" / CONFIG_NAME for p in Path(__file__).resolve().parents]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"autograder/{CONFIG_NAME} not found (looked in {candidates[0].parent} and above the package)")


def chapter_ids(root: Path) -> list[str]:
    """Chapter ids present in ``root/solutions`` (folders holding at least one notebook)."""
    src = Path(root) / SOURCE_DIR
    if not src.is_dir():
        return []
    return sorted(
        p.name for p in src.iterdir()
        if p.is_dir() and not _junk(p.name) and any(p.glob("*.ipynb"))
    )


# ------------------------------------------------------------------- helpers
def _junk(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pat) for pat in JUNK)


def _git_ignored(root: Path, paths: list[Path]) -> set[Path]:
    """Those of ``paths`` git ignores (empty set when git or a work tree is missing)."""
    if not paths or shutil.which("git") is None:
        return set()
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--stdin", "-z"],
            input="\0".join(str(p) for p in paths), capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    if proc.returncode not in (0, 1):  # 128: not a git work tree
        return set()
    return {Path(p) for p in proc.stdout.split("\0") if p}


def _tree(folder: Path, root: Path | None = None) -> dict[str, Path]:
    """Relative posix path -> file for every non-junk (and, under git, non-ignored) file."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _junk(d))
        for name in sorted(filenames):
            if not _junk(name):
                path = Path(dirpath) / name
                if not path.is_symlink():
                    found[path.relative_to(folder).as_posix()] = path
    if root is not None:
        ignored = _git_ignored(root, list(found.values()))
        found = {k: v for k, v in found.items() if v not in ignored}
    return found


def _copy_tree(files: dict[str, Path], dest: Path) -> None:
    for rel, path in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _stable_cell_ids(path: Path) -> None:
    """Give cells without an ``id`` a deterministic one (nbformat would pick random ids)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # let nbgrader report it
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        return
    changed = False
    for i, cell in enumerate(nb.get("cells", [])):
        if isinstance(cell, dict) and not cell.get("id"):
            cell["id"] = f"cell-{i:03d}"
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def nbgrader_env(home: Path) -> dict[str, str]:
    """Environment for an nbgrader run: no user-level Jupyter config can leak in."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["JUPYTER_CONFIG_DIR"] = str(home / ".jupyter")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("NBGRADER_EXECUTION", None)
    return env


def _nbgrader(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise ReleaseError(f"nbgrader is not installed for {sys.executable}: pip install -e '.[grade]'")
    cmd = [sys.executable, "-m", "nbgrader", *args]
    (cwd / ".home").mkdir(exist_ok=True)
    return subprocess.run(cmd, cwd=cwd, env=nbgrader_env(cwd / ".home"),
                          capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------- release
def build_release(root: Path, workdir: Path, assignments: list[str] | None = None) -> Path:
    """Run ``nbgrader generate_assignment`` for ``assignments`` in ``workdir``.

    ``workdir`` becomes an nbgrader course directory: ``nbgrader_config.py``,
    ``solutions/<id>`` (copied from ``root``), ``course/<id>`` (the fresh
    release) and ``gradebook.db`` (the master gradebook: test cells, points,
    checksums).  Returns ``workdir``.  Raises ReleaseError with nbgrader's log
    when generation fails.
    """
    root, workdir = Path(root), Path(workdir)
    ids = chapter_ids(root) if assignments is None else list(assignments)
    missing = [a for a in ids if not (root / SOURCE_DIR / a).is_dir()]
    if missing:
        raise ReleaseError(f"no source for {', '.join(missing)} in {root / SOURCE_DIR}")
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path(root), workdir / CONFIG_NAME)
    for aid in ids:
        dest = workdir / SOURCE_DIR / aid
        _copy_tree(_tree(root / SOURCE_DIR / aid, root), dest)
        for nb in dest.glob("*.ipynb"):
            _stable_cell_ids(nb)
    if not ids:
        (workdir / RELEASE_DIR).mkdir(exist_ok=True)
        return workdir
    key = _inputs_key(workdir, ids)
    if key in _BUILT:  # the same inputs were generated before in this process: nbgrader is deterministic
        shutil.copytree(_BUILT[key], workdir, dirs_exist_ok=True, symlinks=True)
        return workdir
    proc = _nbgrader(["generate_assignment", "*", "--force"], cwd=workdir)
    if proc.returncode != 0:
        log = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise ReleaseError(f"nbgrader generate_assignment failed for {', '.join(ids)}:\n{log}")
    _remember(key, workdir)
    return workdir


# generate_assignment takes seconds (a fresh nbgrader process); `release`, `diff_release`, the
# grading masters and the Gradescope export often ask for the same chapters in one process. Each
# built course directory is kept (in a private temp folder, removed at exit) under a digest of
# everything nbgrader reads: its version, the chapter ids, the config and every source file.
_BUILT: dict[str, Path] = {}
_BUILT_MAX = 16
_BUILT_DIR: list[Path] = []


def _inputs_key(workdir: Path, ids: list[str]) -> str:
    from importlib.metadata import version

    h = hashlib.sha256(json.dumps([version("nbgrader"), sorted(ids)]).encode())
    for rel, path in sorted(_tree(workdir).items()):  # the config and solutions/<id>/ just copied there
        h.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _remember(key: str, workdir: Path) -> None:
    if not _BUILT_DIR:
        _BUILT_DIR.append(Path(tempfile.mkdtemp(prefix="aecourse-built-")))
        atexit.register(shutil.rmtree, _BUILT_DIR[0], True)
    while len(_BUILT) >= _BUILT_MAX:  # oldest first
        shutil.rmtree(_BUILT.pop(next(iter(_BUILT))), ignore_errors=True)
    keep = _BUILT_DIR[0] / key
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(workdir, keep, symlinks=True, ignore=shutil.ignore_patterns(".home"))
    _BUILT[key] = keep


def release(root: Path, assignments: list[str] | None = None) -> list[Path]:
    """Regenerate ``root/course`` from ``root/solutions``.

    Only files whose bytes change are written, files no longer generated are
    removed, and (when releasing everything) ``course/<id>`` folders whose
    source is gone are deleted.  Junk (``.ipynb_checkpoints``, hidden files,
    git-ignored files) is left alone.  Running it twice changes nothing.

    Returns the paths that were created, updated or removed (sorted).
    """
    root = Path(root).resolve()
    ids = chapter_ids(root) if assignments is None else list(assignments)
    changed: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="aecourse-release-") as tmp:
        fresh = build_release(root, Path(tmp), ids)
        for aid in ids:
            new = _tree(fresh / RELEASE_DIR / aid)
            dest = root / RELEASE_DIR / aid
            old = _tree(dest, root)
            for rel, path in new.items():
                target = dest / rel
                data = path.read_bytes()
                if not target.is_file() or target.read_bytes() != data:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    changed.append(target)
            for rel in sorted(set(old) - set(new)):
                old[rel].unlink()
                changed.append(old[rel])
            _remove_empty_dirs(dest)
    if assignments is None:
        for stale in _stale_release_dirs(root, ids):
            changed.extend(_tree(stale).values())
            shutil.rmtree(stale)
            changed.append(stale)
    return sorted(set(changed))


def _remove_empty_dirs(folder: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        path = Path(dirpath)
        if path != folder and not any(path.iterdir()):
            path.rmdir()


def _stale_release_dirs(root: Path, ids: list[str]) -> list[Path]:
    rel = root / RELEASE_DIR
    if not rel.is_dir():
        return []
    return sorted(p for p in rel.iterdir() if p.is_dir() and not _junk(p.name) and p.name not in ids)


# ---------------------------------------------------------------------- diff
def _cell_summary(nb: dict, i: int) -> str:
    cell = nb["cells"][i]
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {i}" + (f" ({gid})" if gid else "")


def _explain_notebook(old: bytes, new: bytes) -> str:
    """One line saying where two versions of a notebook first differ."""
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError:
        return "is not valid JSON"
    if a.get("metadata") != b.get("metadata"):
        return "notebook metadata differs"
    ca, cb = a.get("cells", []), b.get("cells", [])
    for i, (x, y) in enumerate(zip(ca, cb)):
        if x != y:
            fields = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            return f"{_cell_summary(a, i)} differs in {', '.join(fields)}"
    if len(ca) != len(cb):
        return f"has {len(ca)} cells, a fresh release has {len(cb)}"
    return "differs in formatting (same cells)"


def diff_release(root: Path) -> list[str]:
    """Differences between the committed ``course/`` and a fresh release; ``[]`` when in sync."""
    root = Path(root).resolve()
    ids = chapter_ids(root)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aecourse-release-") as tmp:
        fresh = build_release(root, Path(tmp), ids)
        for aid in ids:
            new = _tree(fresh / RELEASE_DIR / aid)
            old = _tree(root / RELEASE_DIR / aid, root)
            shown = f"{RELEASE_DIR}/{aid}"
            if not old:
                problems.append(f"{shown}/: missing (run `aecourse release`)")
                continue
            for rel in sorted(set(new) | set(old)):
                name = f"{shown}/{rel}"
                if rel not in old:
                    problems.append(f"{name}: missing from the committed release")
                elif rel not in new:
                    problems.append(f"{name}: not generated from {SOURCE_DIR}/{aid} (stale file)")
                else:
                    a, b = old[rel].read_bytes(), new[rel].read_bytes()
                    if a != b:
                        why = _explain_notebook(a, b) if rel.endswith(".ipynb") else "content differs"
                        problems.append(f"{name}: {why}")
    for stale in _stale_release_dirs(root, ids):
        problems.append(f"{RELEASE_DIR}/{stale.name}/: stale, {SOURCE_DIR}/{stale.name} does not exist")
    return problems
