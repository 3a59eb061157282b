"""The library's layout: imports run one way, and names say where things live.

- No import circle among the modules of ``src/aecourse``, counting imports inside functions
  too (an import moved into a function to dodge a circle is still a circle).
- No module reaches into another module's private names (``from .viz import _helper`` or
  ``viz._helper``): what another module needs is public API.
- Every chapter's checks module, library module(s) and tests exist under the names
  CONTRIBUTING.md's table gives, so a chapter's code is findable from its id.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "aecourse"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    # grading/box/ holds the code that runs inside the sandbox by path (driver.py, site/); only its
    # __init__ (which names those paths) is imported as a module.
    box = PACKAGE / "grading" / "box"
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if box not in p.parents or p == box / "__init__.py"}


def resolve(importer: str, is_package: bool, module: str | None, level: int) -> str | None:
    """The absolute name of what an import statement in ``importer`` names (``None`` if outside aecourse)."""
    if level == 0:
        return module if module and (module == "aecourse" or module.startswith("aecourse.")) else None
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """Every aecourse module ``name`` imports, anywhere in the file -> the first line that does."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str | None, line: int) -> None:
        # ``from . import viz`` names the module aecourse.viz; ``from .viz import f`` names aecourse.viz
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(resolve(name, is_package, alias.name, 0), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, is_package, node.module, node.level)
            if base is None:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in modules else base, node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = library_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(cycle)
    edges = [f"{a} imports {b} (line {graph[a][b]})" for a in cycle for b in graph[a] if b in members]
    return "; ".join(edges)


# --------------------------------------------------------------------------- the detector itself
def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def test_function_level_and_relative_imports_count(tmp_path, monkeypatch):
    pkg = tmp_path / "aecourse"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text("def f():\n    from .two import g\n    return g\n")
    (pkg / "two.py").write_text("from . import one\n")
    (pkg / "sub" / "__init__.py").write_text("from ..one import f\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    graph = import_graph()
    assert graph["aecourse.one"] == {"aecourse.two": 2}
    assert graph["aecourse.sub"] == {"aecourse.one": 1}
    assert find_cycles(graph) == [["aecourse.one", "aecourse.two"]]


# --------------------------------------------------------------------------- the library
def test_no_import_circles_in_the_library():
    graph = import_graph()
    assert len(graph) > 20, f"found only {len(graph)} modules under {PACKAGE}"
    cycles = find_cycles(graph)
    assert not cycles, "import circles in src/aecourse (imports inside functions count):\n" + "\n".join(
        describe(c, graph) for c in cycles)


PRIVATE_ATTRIBUTE = re.compile(r"\b(?:_viz|viz|_iv|interventions|models|train|vae|data|measure|metrics|"
                               r"wherewhat|sae|checkpoints|contracts|zoo|progress)\.(_[a-z]\w*)")


def test_no_module_imports_another_modules_private_names():
    modules = library_modules()
    offences = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = resolve(name, path.name == "__init__.py", node.module, node.level)
                if base is None:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offences.append(f"{name} line {node.lineno}: from {base} import {alias.name}")
        for m in PRIVATE_ATTRIBUTE.finditer(path.read_text()):
            offences.append(f"{name}: {m.group(0)}")
    assert not offences, "private names used across modules (make them public API):\n" + "\n".join(offences)


# --------------------------------------------------------------------------- findable from a chapter id
CHAPTERS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


def contributing_table() -> dict[str, dict[str, list[str]]]:
    """Chapter id -> {"library": [...], "checks": [...], "tests": [...]} from CONTRIBUTING.md's chapter table.

    A row reads ``| 02-sparse | sae, metrics, viz/sparse.py | checks/sparse.py | test_sae, test_metrics | 002 |``:
    library modules relative to ``src/aecourse`` (a parenthesis says which part of a package), checks
    modules, test modules.
    """
    rows = {}
    for line in (REPO / "CONTRIBUTING.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`?\d\d-[\w-]+`?", cells[0]):
            names = [[t.strip(" `") for t in re.sub(r"\([^)]*\)", "", cell).split(",") if t.strip(" `")]
                     for cell in cells[1:4]]
            rows[cells[0].strip("`")] = dict(zip(("library", "checks", "tests"), names))
    return rows


def library_path_exists(name: str) -> bool:
    path = PACKAGE / name.rstrip("/")
    return path.is_dir() or path.is_file() or path.with_suffix(".py").is_file()


def test_contributing_maps_every_chapter_to_files_that_exist():
    rows = contributing_table()
    assert set(CHAPTERS) <= set(rows), f"CONTRIBUTING.md's table lacks chapters {sorted(set(CHAPTERS) - set(rows))}"
    missing = []
    for chapter in CHAPTERS:
        row = rows[chapter]
        assert row["library"] and row["checks"] and row["tests"], f"{chapter}: CONTRIBUTING.md's row is incomplete"
        missing += [f"{chapter}: src/aecourse/{n}" for n in row["library"] if not library_path_exists(n)]
        missing += [f"{chapter}: src/aecourse/{n}" for n in row["checks"] if not (PACKAGE / n).is_file()]
        missing += [f"{chapter}: tests/{n}.py" for n in row["tests"]
                    if not (REPO / "tests" / f"{n.removesuffix('.py')}.py").is_file()]
    assert not missing, "CONTRIBUTING.md names files that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_has_a_checks_module_named_after_it(chapter):
    stem = chapter.split("-", 1)[1].replace("-", "")
    assert (PACKAGE / "checks" / f"{stem}.py").is_file(), (
        f"chapter {chapter}'s public checks should live in src/aecourse/checks/{stem}.py")


# ------------------------------------------------------------------ how make test spreads the suite
def root_conftest():
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest_layout", REPO / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    return conftest


#: What starts a grading box in a test: the batch grader (not a Chapter's ``.grade`` method, which
#: runs one cell in a kernel), Gradescope's and a pod's entry points, the sandbox itself.
STARTS_A_BOX = re.compile(r"(?<![.\w])grade\(|run_autograder|run_pod\(|grade_submission|isolation=|"
                          r"sandbox\.|Sandbox|bwrap")


def test_every_test_file_that_grades_is_in_the_grading_scope():
    """Under pytest-xdist, the grading tests share one worker (conftest.py): a new file that starts
    boxes elsewhere would race test_no_stray_processes, so it must be listed."""
    conftest = root_conftest()
    files = [p for p in (REPO / "tests").glob("test_*.py") if p.name != Path(__file__).name]  # not these words
    grading = {p.name for p in files if STARTS_A_BOX.search(p.read_text())}
    assert grading and grading <= conftest.GRADING_FILES, sorted(grading - conftest.GRADING_FILES)
    assert all((REPO / "tests" / name).is_file() for name in conftest.GRADING_FILES)


def test_xdist_scopes_keep_chapters_and_grading_together():
    scope = root_conftest().xdist_scope
    assert scope("solutions/02-sparse/02-sparse.ipynb::Cell 3") == scope("solutions/07-where-what/x.ipynb::Cell 0")
    assert scope("tests/test_grading_hostile.py::test_forger[x]") == scope("tests/test_k8s.py::test_pod") \
        == "grading"
    assert scope("tests/test_zoo.py::test_a") == scope("tests/test_zoo.py::test_b") != scope("tests/test_viz.py::t")
