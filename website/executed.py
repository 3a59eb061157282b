"""Executed copies of the chapters, so the website shows outputs without running the chapters twice.

``make test`` already executes every chapter once (nbval over ``solutions/``, see the root
``conftest.py``). That run's outputs are what the website shows: the root conftest hands each
finished nbval cell to :class:`Capture`, and when every code cell of a chapter has run and passed,
the chapter's notebook with those outputs is written to ``.cache/executed/<id>.ipynb``.

Each copy carries a key (:func:`source_key`): the sha256 of the solutions notebook, every file of
the library (``src/aecourse``: code, zoo manifest) and the Binder requirements. A copy is used only
while its key matches (:func:`load`), so an edit to a chapter or to the library never shows stale
outputs; otherwise the site builder executes the chapter itself (``website/build.py``).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "executed"
#: Bumped when what a cached copy holds changes shape.
FORMAT = 1
#: Files whose bytes decide the outputs of a chapter, besides its own notebook.
KEY_SOURCES = ("src/aecourse", "binder/requirements.txt", "binder/postBuild")
META = "aecourse_executed"


def source_key(notebook: Path, root: Path = REPO) -> str:
    """sha256 over the chapter's solutions notebook and the library's files (names and bytes)."""
    h = hashlib.sha256(f"aecourse-executed-v{FORMAT}\n".encode())
    files = [Path(notebook)]
    for rel in KEY_SOURCES:
        path = root / rel
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                            and p.suffix in (".py", ".json", ".txt", ".typed"))
        elif path.is_file():
            files.append(path)
    for path in files:
        h.update(str(path.relative_to(root) if path.is_relative_to(root) else path.name).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def cache_path(chapter: str, cache: Path = CACHE) -> Path:
    return cache / f"{chapter}.ipynb"


def load(notebook: Path, cache: Path = CACHE, root: Path = REPO):
    """The cached executed copy of ``notebook`` (a NotebookNode) when its key matches, else None."""
    path = cache_path(Path(notebook).parent.name, cache)
    if not path.is_file():
        return None
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a broken copy is no copy
        return None
    meta = nb.metadata.get(META, {})
    if meta.get("key") != source_key(notebook, root):
        return None
    return nb


def save(notebook: Path, nb, how: str, cache: Path = CACHE, root: Path = REPO) -> Path:
    """Write the executed ``nb`` of ``notebook`` with its key (atomically: a reader sees all or nothing)."""
    nb = copy.deepcopy(nb)
    nb.metadata[META] = {"key": source_key(notebook, root), "by": how, "format": FORMAT}
    path = cache_path(Path(notebook).parent.name, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


class Capture:
    """Collects the outputs nbval got for each code cell; writes a chapter once all of its cells passed.

    ``record`` is called with each nbval cell item's results (root conftest, after the call phase).
    A chapter with a failed, skipped or missing cell is never written.
    """

    def __init__(self, cache: Path = CACHE, root: Path = REPO):
        self.cache, self.root = cache, root
        self.cells: dict[Path, dict[int, list]] = {}
        self.failed: set[Path] = set()
        self.written: list[Path] = []

    def record(self, notebook: Path, nb, cell_num: int, passed: bool, outputs) -> Path | None:
        notebook = Path(notebook).resolve()
        if not notebook.is_relative_to((self.root / "solutions").resolve()):
            return None
        if not passed or outputs is None:
            self.failed.add(notebook)
            return None
        got = self.cells.setdefault(notebook, {})
        got[cell_num] = [nbformat.from_dict(dict(o)) for o in outputs]
        code = [c for c in nb.cells if c.cell_type == "code"]
        if notebook in self.failed or len(got) != len(code):
            return None
        executed = copy.deepcopy(nb)
        for num, cell in enumerate(c for c in executed.cells if c.cell_type == "code"):
            cell.outputs = got[num]
            counts = [o.get("execution_count") for o in cell.outputs if o.output_type == "execute_result"]
            cell.execution_count = counts[0] if counts else None
        nbformat.validate(executed)
        path = save(notebook, executed, "nbval", self.cache, self.root)
        self.written.append(path)
        del self.cells[notebook]
        return path


#: The capture of this process (the root conftest records into it; tests/test_site.py reads what it wrote).
SESSION = Capture()
