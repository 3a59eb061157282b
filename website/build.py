"""Build the course website: ``make site`` (``python -m website.build``) -> ``_build/site/``.

A static site (Sphinx + myst-nb + sphinx-book-theme, Jupyter Book 1's stack: it builds with no
network, where Jupyter Book 2 / mystmd fetches its theme from the web) with one page per chapter
and an index with the course map.

**What a page shows is what a learner sees**: the cells of the released notebook ``course/<id>``
(stubs, goals, public checks, blank answer cells; nbgrader already cut the solutions and hidden
tests), with the outputs of an executed run of the chapter attached to every cell whose source is
the same in ``solutions/<id>``. Cells that differ (a stub, an answer cell), graded and answer cells,
and cells that call a public check get no output: a check's output from the solution run would tell
a stub "public checks passed". Interactive widgets cannot run on a static page; their output is a
note that says where they do.

**Executed once**: the outputs come from ``.cache/executed/<id>.ipynb``, which the test suite's
nbval run writes (``website/executed.py``), when its key matches the sources; otherwise the chapter
is executed here (nbclient, the current venv's kernel, network off through a socket guard, an empty
data folder) and the copy is cached for the next build.

**Nothing secret in the build**: no source notebook is copied (``html_copy_source = False``, no
download button), and after the build :mod:`website.leaks` scans every built file for every
solution's distinctive lines, every hidden test line and every accepted quiz answer; a leak fails
the build.

Math renders offline with MathJax 3 from npm (installed into ``.cache/npm`` by ``make site`` and
``make test``), copied into the build (``_static/mathjax``). Each page links to the chapter in JupyterLab on Binder
and in Colab.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from website import executed, leaks

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
BUILD = REPO / "_build"
OUT = BUILD / "site"
GITHUB = "aecourse/aecourse"
BINDER_URL = "https://mybinder.org/v2/gh/{repo}/HEAD?urlpath=lab/tree/course/{id}/{id}.ipynb"
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/main/course/{id}/{id}.ipynb"
#: Code cells whose output belongs to the learner's own answer, not to the solution run.
CHECK_CALL = re.compile(r"\bchecks\.\w+|\bcheck_(choice|blank|number|numbers)\s*\(|\bpassed\s*\(\s*\)")
#: A markdown link to a chapter notebook in course/ or solutions/ (``](../03-features/03-features.ipynb#x)``).
CHAPTER_LINK = re.compile(r"\]\((?:\.\./)*(?:(?:course|solutions)/)?(?P<id>\d\d-[\w-]+)/(?P=id)\.ipynb(?P<anchor>#[^)\s]*)?\)")
#: A text/html output that is only an <img> of the picture beside it (aecourse.viz's copy, for the alt text).
IMG_COPY = re.compile(r'\s*<img\b(?=[^>]*\bsrc="data:image/)(?:[^>]*\balt="(?P<alt>[^"]*)")?[^>]*>\s*$', re.S)
#: An image in markdown from the web (a badge): the page shows its alt text, so nothing is loaded from outside.
REMOTE_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(\s*https?://[^)]*\)")
REMOTE_IMG_TAG = re.compile(r'<img\b(?=[^>]*\bsrc="https?://)(?:[^>]*\balt="(?P<alt>[^"]*)")?[^>]*>', re.S)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("An interactive widget is shown here when the notebook runs. It needs a live kernel: "
               "open this chapter in JupyterLab (locally, on Binder or in Colab) to use it.")
#: npm's MathJax 3 (``make site`` and ``make test`` install it: ``npm install mathjax@MATHJAX_VERSION`` into
#: .cache/npm), or the ``es5`` folder of one named by $AECOURSE_MATHJAX.
MATHJAX_VERSION = "3.2.2"
MATHJAX_ES5 = REPO / ".cache" / "npm" / "node_modules" / "mathjax" / "es5"
#: What of it the pages load: the TeX/MathML-to-CHTML bundle and the parts it loads on demand (fonts,
#: accessibility, speech, menu, TeX extensions).
MATHJAX_KEEP = ("tex-mml-chtml.js", "output/chtml", "a11y", "sre", "ui", "input/tex", "input/mml", "adaptors")


@dataclass
class Chapter:
    id: str
    title: str  # "Sparse autoencoders: codes you can read"
    number: str  # "02"
    summary: str  # first sentence of the chapter's introduction ("" when there is none)
    source: str  # where the outputs came from: "nbval", "build" (executed here), "cache"
    binder: str = ""
    colab: str = ""


@dataclass
class Site:
    out: Path
    chapters: list[Chapter]
    seconds: float
    bytes: int
    files: int
    alts: dict[str, str] = field(default_factory=dict)


def launch_urls(chapter: str, repo: str = GITHUB) -> tuple[str, str]:
    return BINDER_URL.format(repo=repo, id=chapter), COLAB_URL.format(repo=repo, id=chapter)


def cell_text(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


# --------------------------------------------------------------------------- titles
def title_of(nb) -> tuple[str, str, str]:
    """(number, title, first sentence) from the first markdown cell that starts with a level-1 heading."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell_text(cell).strip().splitlines()
        if not lines or not lines[0].startswith("# "):
            continue
        heading = lines[0][2:].strip()
        m = re.match(r"(\d+)\s*[·:.-]\s*(.+)", heading)
        number, title = (m.group(1), m.group(2)) if m else ("", heading)
        body = " ".join(line.strip() for line in REMOTE_IMAGE.sub("", "\n".join(lines[1:])).splitlines()
                        if line.strip() and not line.startswith("#") and not re.fullmatch(r"\[\s*\]\([^)]*\)", line.strip()))
        body = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0] if body else ""
        return number, title, body
    return "", "", ""


# --------------------------------------------------------------------------- executed outputs
def net_guard() -> str:
    """tests/browserhelp.py's sitecustomize socket guard (one guard for the tests and the site)."""
    sys.path.insert(0, str(REPO / "tests"))
    from browserhelp import NET_GUARD

    return NET_GUARD


def execute(notebook: Path, timeout: int = 900):
    """Run a solutions notebook top to bottom in the current venv's kernel, network off (socket guard,
    as tests/browserhelp.py's), an empty data folder and progress folder; the executed NotebookNode."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="aecourse-site-") as tmp:
        guard = Path(tmp) / "guard"
        guard.mkdir()
        (guard / "sitecustomize.py").write_text(net_guard())
        env = dict(os.environ)
        env.update(PYTHONPATH=os.pathsep.join([str(guard), str(REPO / "src"), env.get("PYTHONPATH", "")]),
                   AECOURSE_DATA=str(Path(tmp) / "data"), AECOURSE_DATA_HOME=str(Path(tmp) / "home"),
                   OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), MPLBACKEND="module://matplotlib_inline.backend_inline")
        (Path(tmp) / "data").mkdir()
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(notebook.parent)}})
        client.execute(env=env)
    return nb


def executed_notebook(notebook: Path, use_cache: bool = True) -> tuple[object, str]:
    """(executed solutions notebook, where it came from)."""
    if use_cache:
        nb = executed.load(notebook)
        if nb is not None:
            return nb, nb.metadata[executed.META].get("by", "cache")
    nb = execute(notebook)
    executed.save(notebook, nb, "build")
    return nb, "build"


# --------------------------------------------------------------------------- the learner's page
def shows_outputs(course_cell, solution_cell) -> bool:
    """Whether a course cell may show the solution run's outputs (see the module docstring)."""
    if course_cell.cell_type != "code" or solution_cell is None:
        return False
    meta = course_cell.metadata.get("nbgrader", {})
    if meta.get("grade") or meta.get("solution"):
        return False
    source = cell_text(course_cell)
    return source == cell_text(solution_cell) and not CHECK_CALL.search(source)


def _clean_output(out, chapter: str, code_number: int, alts: dict[str, str]):
    """An output as the static page shows it (widgets -> a note), image alt texts recorded in ``alts``
    (sha256 of the image bytes -> alt, the name myst-nb gives the image file)."""
    out = copy.deepcopy(out)
    data = out.get("data")
    if data is None:
        return out
    if WIDGET_MIME in data:
        return nbformat.v4.new_output("display_data", data={"text/markdown": f"*{WIDGET_NOTE}*",
                                                            "text/plain": WIDGET_NOTE})
    for mime in ("image/png", "image/jpeg", "image/gif"):
        if mime in data:
            meta = out.get("metadata", {}).get(mime, {})
            alt = meta.get("alt") if isinstance(meta, dict) else None
            copy_html = IMG_COPY.match(data.get("text/html", "") if isinstance(data.get("text/html"), str) else "")
            if copy_html:  # the library's <img> copy of the picture (for JupyterLab's alt): the PNG is shown
                del data["text/html"]
                alt = alt or html.unescape(copy_html.group("alt") or "")
            if not (isinstance(alt, str) and alt.strip()):
                alt = f"Figure output of code cell {code_number} in chapter {chapter}"
            digest = hashlib.sha256(b64decode(data[mime])).hexdigest()
            alts.setdefault(digest, alt.strip())
    return out


def learner_page(chapter: str, course_nb, run_nb, alts: dict[str, str]):
    """The page notebook: the course cells, outputs of ``run_nb`` where they belong, the launch links."""
    page = copy.deepcopy(course_nb)
    page.metadata.pop("widgets", None)
    run_cells = {c.get("id"): c for c in run_nb.cells if c.get("id")}
    code_number = 0
    for cell in page.cells:
        if cell.cell_type != "code":
            continue
        code_number += 1
        cell.execution_count = None
        solved = run_cells.get(cell.get("id"))
        if shows_outputs(cell, solved):
            cell.outputs = [_clean_output(o, chapter, code_number, alts) for o in solved.outputs]
        else:
            cell.outputs = []
    binder, colab = launch_urls(chapter)
    own_launch = re.compile(rf"^[ \t]*\[[^\]\n]*\]\((?:{re.escape(binder)}|{re.escape(colab)})\)[ \t]*\n?", re.M)
    for cell in page.cells:  # a link to another chapter's notebook goes to its page
        if cell.cell_type == "markdown":
            text = CHAPTER_LINK.sub(r"](\g<id>.ipynb\g<anchor>)", cell_text(cell))
            text = REMOTE_IMAGE.sub(lambda m: m.group("alt"), text)
            text = REMOTE_IMG_TAG.sub(lambda m: m.group("alt") or "", text)
            cell.source = own_launch.sub("", text)  # the chapter's own badge line: the page has its links
    links = (f"[Open in JupyterLab on Binder]({binder}) · [Open in Colab]({colab})\n\n"
             "*This page shows the chapter as you receive it, with the outputs of a run; "
             "the exercises are yours to solve in the notebook.*")
    first_h1 = next((c for c in page.cells
                     if c.cell_type == "markdown" and cell_text(c).lstrip().startswith("# ")), None)
    if first_h1 is None:  # no title: the links open the page
        page.cells.insert(0, nbformat.v4.new_markdown_cell(links, id="site-launch-links"))
    else:  # right under the title
        heading, _, rest = cell_text(first_h1).lstrip().partition("\n")
        first_h1.source = f"{heading}\n\n{links}\n\n{rest.lstrip()}"
    return page


def index_page(chapters: list[Chapter]) -> str:
    lines = ["# Autoencoders: a Jupyter-first course", "",
             "Build dense, sparse and disentangled autoencoders step by step, one notebook per chapter, "
             "on a small helper library. Each page shows a chapter as a learner receives it "
             "(explanations, figures and outputs of a run, the exercises with their goals and public checks) "
             "and opens it in JupyterLab on Binder or in Colab.", "", "## Course map", ""]
    for ch in chapters:
        label = f"{ch.number} · {ch.title}" if ch.number else ch.title
        lines.append(f"1. [{label}]({ch.id}.ipynb){': ' + ch.summary if ch.summary else ''} "
                     f"([Binder]({ch.binder}), [Colab]({ch.colab}))")
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", "", *[ch.id for ch in chapters], "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the build
def mathjax_source() -> Path:
    """The es5 folder of MathJax 3: $AECOURSE_MATHJAX, else npm's package in .cache/npm."""
    es5 = Path(os.environ.get("AECOURSE_MATHJAX") or MATHJAX_ES5)
    if not (es5 / "tex-mml-chtml.js").is_file():
        raise FileNotFoundError(
            f"MathJax 3 is missing ({es5}/tex-mml-chtml.js): the pages typeset their math with a local copy. "
            f"Run `make site` (it runs `npm install --prefix .cache/npm mathjax@{MATHJAX_VERSION}`), or point "
            "AECOURSE_MATHJAX at the es5 folder of a MathJax 3")
    return es5


def stage(src: Path, root: Path = REPO, use_cache: bool = True, log=print,
          only: list[str] | None = None) -> tuple[list[Chapter], dict]:
    """Write the Sphinx project (conf, templates, static files, pages) into ``src``; ``only``: these chapters."""
    from aecourse.release import chapter_ids

    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copy(HERE / "conf.py", src / "conf.py")
    for sub in ("_templates", "_static"):
        if (HERE / sub).is_dir():
            shutil.copytree(HERE / sub, src / sub)
    es5, dest = mathjax_source(), src / "_static" / "mathjax"
    for rel in MATHJAX_KEEP:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (es5 / rel).is_dir() else shutil.copy)(es5 / rel, dest / rel)
    chapters, alts = [], {}
    for cid in [c for c in chapter_ids(root) if not only or c in only]:
        solution = root / "solutions" / cid / f"{cid}.ipynb"
        course = nbformat.read(root / "course" / cid / f"{cid}.ipynb", as_version=4)
        start = time.monotonic()
        run_nb, how = executed_notebook(solution, use_cache)
        log(f"site: {cid}: outputs from {'the nbval run' if how == 'nbval' else how} "
            f"({time.monotonic() - start:.1f} s)")
        page = learner_page(cid, course, run_nb, alts)
        nbformat.write(page, src / f"{cid}.ipynb")
        number, title, summary = title_of(course)
        binder, colab = launch_urls(cid)
        chapters.append(Chapter(cid, title or cid, number, summary, how, binder, colab))
    (src / "index.md").write_text(index_page(chapters), encoding="utf-8")
    (src / "image_alts.json").write_text(json.dumps(alts, indent=1), encoding="utf-8")
    return chapters, alts


def tree_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def build(out: Path = OUT, root: Path = REPO, use_cache: bool = True, log=print,
          only: list[str] | None = None) -> Site:
    """Stage and build the site into ``out``; raises if Sphinx fails or a secret is found in the build."""
    start = time.monotonic()
    out = Path(out)
    work = out.parent / f"{out.name}-work"
    src = work / "src"
    chapters, alts = stage(src, root, use_cache, log, only)
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-E",
           "-d", str(work / "doctrees"), str(src), str(out)]
    guard = work / "guard"  # Sphinx runs with the network off: a connection attempt fails the build
    guard.mkdir(parents=True, exist_ok=True)
    (guard / "sitecustomize.py").write_text(net_guard())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(guard), str(REPO), str(REPO / "src"),
                                                        os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    for leftover in (out / "_static").glob("*.html"):  # the themes' webpack macros, Jinja source, not pages
        leftover.unlink()
    for source_map in (out / "_static").rglob("*.map"):  # the themes' source maps: for their developers
        source_map.unlink()
    sources = out / "_sources"
    if sources.is_dir() and not any(sources.iterdir()):
        sources.rmdir()
    found = leaks.scan(out, leaks.secrets(root))
    if found:
        raise RuntimeError("the built site gives answers away:\n" + "\n".join(map(str, found[:20])))
    size, files = tree_size(out)
    site = Site(out, chapters, time.monotonic() - start, size, files, alts)
    log(f"site: {out} built in {site.seconds:.1f} s, {files} files, {size / 1e6:.1f} MB; no solution, hidden "
        f"test or accepted answer in it")
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m website.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(REPO)})")
    parser.add_argument("--no-cache", action="store_true",
                        help="execute every chapter here, ignoring the executed copies in .cache/executed")
    parser.add_argument("--chapter", action="append", metavar="ID",
                        help="build only this chapter (repeatable; for a quick look while editing)")
    args = parser.parse_args(argv)
    build(args.out, use_cache=not args.no_cache, only=args.chapter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
