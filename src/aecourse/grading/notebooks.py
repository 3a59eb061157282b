"""Trusted notebook work: the master gradebook, restoring locked cells, spotting what needs a look.

Everything here reads notebooks as data (json) in the grader's process; no
submitted code runs here.
"""

from __future__ import annotations

import copy
import json
import keyword
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..release import CONFIG_NAME, RELEASE_DIR, SOURCE_DIR, ReleaseError, build_release

MAX_NOTEBOOK_BYTES = 100 * 2**20


@dataclass
class Item:
    grade_id: str
    score: float
    max_score: float
    notebook: str = ""
    manual: bool = False      # a manually graded answer (a TA gives its points; autograding leaves it pending)
    by: str = "auto"          # who gave ``score``: "auto", "pending" (a manual item no TA graded yet), "ta"


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
    digest: str = ""          # of everything grading this chapter depends on (cache key part)

    @property
    def max_score(self) -> float:
        return sum(i.max_score for i in self.items)

    def zero_items(self) -> list[Item]:
        return [Item(i.grade_id, 0.0, i.max_score, i.notebook, i.manual, "pending" if i.manual else "auto")
                for i in self.items]

    @property
    def manual_ids(self) -> set[str]:
        return {i.grade_id for i in self.items if i.manual}


# ----------------------------------------------------------------- helpers
def nbg(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def text_of(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def grade_ids(nb: dict) -> list[str]:
    """Every nbgrader grade_id of a notebook, in order."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    return [nbg(c)["grade_id"] for c in cells or [] if isinstance(nbg(c).get("grade_id"), str)]


def _grade_order(nb: dict) -> list[str]:
    return [nbg(c)["grade_id"] for c in nb["cells"] if nbg(c).get("grade")]


# ---------------------------------------------------------- master gradebook
def _read_chapter(template: Path, aid: str) -> Chapter:
    import hashlib

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
            # a cell that is both an answer and graded is graded by hand (nbgrader: "manually graded answer")
            manual = {nbg(c).get("grade_id") for c in source_nbs[name]["cells"]
                      if nbg(c).get("grade") and nbg(c).get("solution")}
            items += [Item(g, 0.0, points[g], name, g in manual, "pending" if g in manual else "auto")
                      for g in order if g in points]
    files = {CONFIG_NAME: (template / CONFIG_NAME).read_bytes(),
             "gradebook.db": (template / "gradebook.db").read_bytes()}
    digest = hashlib.sha256(files[CONFIG_NAME])
    for top in (SOURCE_DIR, RELEASE_DIR):
        for path in sorted((template / top / aid).rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(template).as_posix()
            data = path.read_bytes()
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
            if not (top == SOURCE_DIR and path.suffix == ".ipynb"):
                # the solution notebook (hidden tests in clear) never enters a sandbox
                files[rel] = data
    return Chapter(aid, notebooks, items, files, release_nbs, source_nbs, digest.hexdigest())


def read_chapter(template: Path, aid: str) -> Chapter:
    """The master of chapter ``aid`` from a folder ``build_release`` made (or a copy of one)."""
    return _read_chapter(template, aid)


def build_masters(root: Path, ids: list[str], batch: Path) -> tuple[dict[str, Chapter], dict[str, str]]:
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


def chapter_fingerprints(root: Path, ids: list[str]) -> dict[str, set[str]]:
    """chapter id -> grade ids of its source notebooks (read as JSON: tells chapters apart)."""
    found = {}
    for aid in ids:
        ids_here: set[str] = set()
        for path in sorted((Path(root) / SOURCE_DIR / aid).glob("*.ipynb")):
            try:
                ids_here |= set(grade_ids(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue
        found[aid] = ids_here
    return found


def notebook_names(root: Path, ids: list[str]) -> dict[str, str]:
    """notebook stem (lower case) -> chapter id, for every notebook of ``solutions/``."""
    names = {}
    for aid in ids:
        for path in (Path(root) / SOURCE_DIR / aid).glob("*.ipynb"):
            names[path.stem.lower()] = aid
    return names


# ----------------------------------------------------------- validity
def notebook_problem(path: Path) -> tuple[str | None, dict | None]:
    """(why ``path`` is not a notebook nbgrader can read, or None; the parsed notebook)."""
    import nbformat

    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB", None
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return f"{path.name} is not text (not UTF-8): not a notebook", None
    except OSError as err:
        return f"{path.name} cannot be read: {err.strerror}", None
    try:
        raw = json.loads(text)
    except ValueError as err:
        return f"{path.name} is not valid JSON ({err.msg} at line {err.lineno}): not a notebook", None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return f"{path.name} is JSON but not a notebook (no cell list)", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing cell ids and the like: nbformat fixes them itself
            nbformat.validate(nbformat.reads(text, as_version=4))
    except Exception as err:  # nbformat raises many kinds
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"{path.name} is not a valid nbformat 4 notebook ({msg[:120]})", None
    return None, raw


def which_chapter(nb: dict, expected: str, fingerprints: dict[str, set[str]]) -> str | None:
    """The other chapter this notebook belongs to, when it is clearly not ``expected``'s."""
    ids = set(grade_ids(nb))
    if not ids:
        return None

    def share(aid: str) -> float:
        return len(ids & fingerprints.get(aid, set())) / max(1, len(fingerprints.get(aid, set())))

    own = share(expected)
    others = sorted(((share(a), a) for a in fingerprints if a != expected), reverse=True)
    if others and own < 0.5 and others[0][0] > own and others[0][0] >= 0.5:
        return others[0][1]
    return None


# ------------------------------------------------------ restoring cells
_META_KEYS = ("grade", "solution", "locked", "task", "points", "grade_id")


def _meta_key(meta: dict) -> tuple:
    return tuple((k, meta.get(k)) for k in _META_KEYS if k != "points" or meta.get("grade") or meta.get("task"))


def _protected(meta: dict) -> bool:
    """Cells whose text comes from the release, whatever the learner did: tests, instructions."""
    return bool(meta.get("locked") or meta.get("task") or (meta.get("grade") and not meta.get("solution")))


@dataclass
class Restored:
    notebook: dict
    edited: list[str] = field(default_factory=list)     # locked cells whose text was changed
    deleted: list[str] = field(default_factory=list)    # release cells missing, added back
    metadata: list[str] = field(default_factory=list)   # nbgrader metadata / cell type edited
    foreign: list[str] = field(default_factory=list)    # grade ids the release does not have, stripped
    duplicated: list[str] = field(default_factory=list)  # second copies of a grade id, stripped


def restore(student: dict, release: dict, source: dict) -> Restored:
    """The learner's notebook with every release cell back in place, as the release has it.

    * locked cells (tests, instructions, read-only setup) take the release's text
      (nbgrader then puts the hidden tests back from the gradebook);
    * answer cells keep the learner's text but the release's cell type and metadata
      (points, grade ids, flags cannot be edited);
    * release cells the learner deleted are added back where they were (after the
      nearest release cell before them), answer cells as the release's stub;
    * nbgrader metadata the release does not have (invented or duplicated grade
      ids) is removed, the cells themselves stay: they are the learner's code.
    """
    release_cells = [c for c in release["cells"]]
    by_id = {nbg(c)["grade_id"]: c for c in release_cells if isinstance(nbg(c).get("grade_id"), str)}
    source_text = {nbg(c)["grade_id"]: text_of(c) for c in source.get("cells", []) if nbg(c).get("grade_id")}
    result = Restored(notebook={})
    cells: list[dict] = []
    present: list[str | None] = []
    for cell in student.get("cells", []):
        if not isinstance(cell, dict):
            continue
        meta = nbg(cell)
        gid = meta.get("grade_id")
        if not meta:
            cells.append(copy.deepcopy(cell))
            present.append(None)
            continue
        if gid not in by_id or gid in present:
            if gid in present:
                result.duplicated.append(str(gid))
            elif meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task"):
                result.foreign.append(str(gid))
            plain = copy.deepcopy(cell)
            plain["metadata"].pop("nbgrader", None)
            cells.append(plain)
            present.append(None)
            continue
        ref = by_id[gid]
        refmeta = nbg(ref)
        if _meta_key(meta) != _meta_key(refmeta) or cell.get("cell_type") != ref.get("cell_type"):
            result.metadata.append(gid)
        new = copy.deepcopy(ref)
        if _protected(refmeta):
            if text_of(cell) not in (text_of(ref), source_text.get(gid)):
                result.edited.append(gid)
        else:
            new["source"] = text_of(cell)
        cells.append(new)
        present.append(gid)
    # add back what was deleted, next to its release neighbours
    order = [nbg(c).get("grade_id") for c in release_cells]
    for i, cell in enumerate(release_cells):
        gid = order[i]
        if not isinstance(gid, str) or gid in present:
            continue
        result.deleted.append(gid)
        before = [present.index(g) for g in order[:i] if g in present]
        after = [present.index(g) for g in order[i + 1:] if g in present]
        at = max(before) + 1 if before else (min(after) if after else len(cells))
        cells.insert(at, copy.deepcopy(cell))
        present.insert(at, gid)
    nb = {k: copy.deepcopy(v) for k, v in student.items() if k != "cells"}
    nb["nbformat"] = 4
    nb["nbformat_minor"] = max(int(student.get("nbformat_minor", 0) or 0), int(release.get("nbformat_minor", 0) or 0))
    nb.setdefault("metadata", {})
    seen_ids: set[str] = set()
    for cell in cells:
        if nb["nbformat_minor"] >= 5:
            cid = cell.get("id")
            if not isinstance(cid, str) or not re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", cid) or cid in seen_ids:
                cell["id"] = uuid.uuid4().hex[:12]
            seen_ids.add(cell["id"])
        else:
            cell.pop("id", None)
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    nb["cells"] = cells
    result.notebook = nb
    return result


# ------------------------------------------------------------ suspicious code
SUSPICIOUS = [
    (re.compile(r"\b__builtins__\b|\bimport\s+builtins\b|\bbuiltins\s*\.\s*\w+\s*="), "changes builtins"),
    (re.compile(r"\b(?:aecourse\s*\.\s*)?checks(?:\s*\.\s*\w+)+\s*=(?!=)"), "rebinds a function of aecourse.checks"),
    (re.compile(r"\bsetattr\s*\(\s*(?:aecourse|checks|builtins|__builtins__|sys|np|numpy|torch)\b"),
     "setattr on a module"),
    (re.compile(r"\bsys\s*\.\s*modules\s*\["), "edits sys.modules"),
    (re.compile(r"\.\s*__code__\s*=|\b__globals__\b"), "rewrites a function's code"),
    (re.compile(r"\bgradebook\b|\bnbgrader\b|\bNBGRADER_|\bsqlite3\b"), "refers to the grader"),
    (re.compile(r"\bsignal\s*\.\s*(?:signal|alarm|setitimer|pthread_sigmask)\b"), "installs signal handlers"),
    (re.compile(r"\bos\s*\.\s*(?:_exit|kill|killpg|fork|setsid|system)\b|\bctypes\b"), "process control"),
    (re.compile(r"\bsocket\b|\burllib\b|\brequests\s*\.\s*(?:get|post)|\bhttp\.client\b"), "network"),
    (re.compile(r"\bos\s*\.\s*environ\s*\[[^]]*\]\s*=(?!=)"), "changes the environment"),
    (re.compile(r"""(?<![\w.])[rfbu]?['"]/(?:proc|tmp|etc|home|root|work|var|usr|srv|mnt|opt|data)\b"""
                r"""|(?:['"]\.\./|\.\./\.\./)"""), "reaches outside its folder by path"),
]
_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*(?=[(.\[])")
_BOUND = re.compile(r"(?m)^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)|^\s*([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)"
                    r"|\bimport\s+[\w.]+\s+as\s+([A-Za-z_]\w*)|^\s*global\s+([A-Za-z_]\w*)")
_FROM_IMPORT = re.compile(r"(?m)^\s*from\s+\S+\s+import\s+\(?([\w\s,]+)\)?")
_SAFE = set(keyword.kwlist) | {"self", "print", "len", "range"}


def _bound_names(code: str) -> set[str]:
    names = {n for m in _BOUND.finditer(code) for n in m.groups() if n}
    for m in _FROM_IMPORT.finditer(code):
        for part in m.group(1).split(","):
            words = part.split()
            if words:
                names.add(words[-1])
    return names


def suspicious_code(student: dict, release: dict, source: dict) -> list[str]:
    """What in the learner's own code deserves a human look (monkeypatching, grader access, ...).

    Only lines that are not in the source or the release count (course code that
    legitimately uses, e.g., ``NBGRADER_EXECUTION`` is not flagged).  Returns
    short descriptions naming the cell.
    """
    known_lines = {ln.strip() for nb in (release, source) for c in nb.get("cells", []) for ln in text_of(c).splitlines()}
    test_cells = [c for c in source.get("cells", []) if nbg(c).get("grade") and not nbg(c).get("solution")]
    used = {n for c in test_cells for n in _CALLED.findall(text_of(c))} - _SAFE
    meant = {n for c in source.get("cells", []) if nbg(c).get("solution") for n in _bound_names(text_of(c))}
    helpers = used - meant
    found: list[str] = []
    for i, cell in enumerate(student.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or _protected(nbg(cell)):
            continue
        where = nbg(cell).get("grade_id") or f"cell {i + 1}"
        new_lines = [ln for ln in text_of(cell).splitlines() if ln.strip() and ln.strip() not in known_lines]
        code = "\n".join(new_lines)
        for pattern, what in SUSPICIOUS:
            m = pattern.search(code)
            if m:
                found.append(f"{what} in {where}: {_excerpt(code, m.start())}")
        rebound = sorted(_bound_names(code) & helpers)
        if rebound:
            found.append(f"redefines {', '.join(rebound)} (used by the tests) in {where}")
    return found


def _excerpt(code: str, at: int) -> str:
    start = code.rfind("\n", 0, at) + 1
    end = code.find("\n", at)
    line = code[start:end if end >= 0 else None].strip()
    return line[:80] + ("..." if len(line) > 80 else "")


def scan_executed(nb: dict | None) -> list[str]:
    """Flags from an executed notebook (read as data): cell time limit hit, MemoryError."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    outputs = [o for c in cells or [] if isinstance(c, dict) and isinstance(c.get("outputs"), list)
               for o in c["outputs"] if isinstance(o, dict)]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    flags = []
    if any(o.get("ename") == "CellTimeoutError"
           or "CellTimeoutError" in "".join(t for t in o.get("traceback") or [] if isinstance(t, str))
           for o in errors):
        flags.append("cell_timeout")
    if any(o.get("ename") == "MemoryError" for o in errors):
        flags.append("memory_error")
    return flags
