"""Helpers for the grading tests: build submissions from a chapter's source and release.

Naming convention (see DESIGN.md): a solution cell ``ex_<name>`` is tested by
the grade cells whose id starts with ``test_<name>``; a test cell belongs to
the exercise with the longest matching name (so ``test_q10`` is ``ex_q10``'s,
not ``ex_q1``'s).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def nbg(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def source_of(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def exercises(nb: dict) -> list[str]:
    """``ex_*`` solution cell ids, in notebook order."""
    return [nbg(c)["grade_id"] for c in nb["cells"]
            if nbg(c).get("solution") and nbg(c).get("grade_id", "").startswith("ex_")]


def exercise_tests(nb: dict) -> dict[str, list[tuple[str, float]]]:
    """``ex_<name>`` -> [(test grade_id, points)]; key None for tests matching no exercise."""
    names = sorted((e[3:] for e in exercises(nb)), key=len, reverse=True)
    out: dict = {f"ex_{n}": [] for n in names}
    for cell in nb["cells"]:
        meta = nbg(cell)
        gid = meta.get("grade_id", "")
        if not meta.get("grade") or meta.get("solution") or not gid.startswith("test_"):
            continue
        owner = next((f"ex_{n}" for n in names if gid.startswith(f"test_{n}")), None)
        out.setdefault(owner, []).append((gid, float(meta.get("points", 0))))
    return out


def points_for(nb: dict, chosen: set[str] | list[str]) -> float:
    """Points a notebook scores with exactly the exercises ``chosen`` solved."""
    table = exercise_tests(nb)
    return sum(p for ex in chosen for _, p in table.get(ex, []))


def total_points(nb: dict) -> float:
    return sum(float(nbg(c).get("points", 0)) for c in nb["cells"] if nbg(c).get("grade"))


def partial(source: dict, release: dict, chosen: set[str] | list[str]) -> dict:
    """The release notebook with the source's solution cells copied in for ``chosen`` ex ids."""
    solutions = {nbg(c)["grade_id"]: c["source"] for c in source["cells"] if nbg(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        gid = nbg(cell).get("grade_id")
        if gid in chosen:
            cell["source"] = copy.deepcopy(solutions[gid])
    missing = set(chosen) - set(solutions)
    if missing:
        raise KeyError(f"no solution cells {sorted(missing)}")
    return nb


def with_cell(nb: dict, grade_id: str, source: str) -> dict:
    """A copy of ``nb`` whose cell ``grade_id`` has ``source``."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if nbg(cell).get("grade_id") == grade_id:
            cell["source"] = source
            return nb
    raise KeyError(grade_id)


def without_cells(nb: dict, grade_ids: set[str]) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if nbg(c).get("grade_id") not in grade_ids]
    return nb


def submit(submissions: Path, student: str, chapter: str, nb: dict | str | bytes,
           name: str | None = None) -> Path:
    """Write ``submissions/<student>/<chapter>/<name or chapter>.ipynb``."""
    path = Path(submissions) / student / chapter / f"{name or chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    elif isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def tree_digest(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` -> its bytes (to prove nothing changed)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def renamed_chapter(nb: dict, prefix: str) -> dict:
    """A copy of a source notebook whose grade ids all carry ``prefix`` (a different chapter)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        meta = nbg(cell)
        if meta.get("grade_id"):
            meta["grade_id"] = prefix + meta["grade_id"]
        cell.pop("id", None)
    nb["nbformat_minor"] = 4
    return nb


def add_chapter(root: Path, chapter: str, nb: dict) -> Path:
    """Write ``root/solutions/<chapter>/<chapter>.ipynb`` (call ``release(root)`` afterwards)."""
    path = Path(root) / "solutions" / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def digest(paths: list[Path]) -> str:
    """One sha256 over every file under ``paths`` (names and bytes); missing paths count too."""
    import hashlib

    h = hashlib.sha256()
    for top in paths:
        top = Path(top)
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        h.update(f"{top}:{len(files)}\n".encode())
        for path in files:
            h.update(str(path).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


# ------------------------------------------------------------ written answers (graded by TAs)
WRITTEN_ID = "written_why"
WRITTEN_POINTS = 2.0
WRITTEN_SOLUTION = "A bottleneck forces a compressed code; PCA is the linear special case (model answer)."


def written_answers(nb: dict) -> dict[str, float]:
    """grade_id -> points of the manually graded answers (grade and solution cells)."""
    return {nbg(c)["grade_id"]: float(nbg(c).get("points", 0)) for c in nb["cells"]
            if nbg(c).get("grade") and nbg(c).get("solution")}


def auto_points(nb: dict) -> float:
    """The points the autograder can give: every grade cell but the manually graded answers."""
    return total_points(nb) - sum(written_answers(nb).values())


def with_written_answer(nb: dict) -> dict:
    """A copy of a source notebook with a manually graded markdown answer (2 points) and its rubric."""
    nb = copy.deepcopy(nb)
    rubric = {"cell_type": "markdown", "id": "rubric-why", "source": [
        "### Written answer\n", "\n", "> **Kind:** written answer · **Difficulty:** ⭐☆☆ · **Time box:** 3 min · "
        "**Points:** 2\n", "\n", "Why does a bottleneck help? Rubric: 1 point for compression, 1 for PCA."],
        "metadata": {"nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": "rubric_why",
                                  "schema_version": 3, "task": False}}}
    answer = {"cell_type": "markdown", "id": "written-why", "source": [WRITTEN_SOLUTION],
              "metadata": {"nbgrader": {"grade": True, "solution": True, "locked": False, "points": WRITTEN_POINTS,
                                        "grade_id": WRITTEN_ID, "schema_version": 3, "task": False}}}
    at = next(i for i, c in enumerate(nb["cells"]) if nbg(c).get("grade_id") == "test_blank") + 1
    nb["cells"][at:at] = [rubric, answer]
    return nb
