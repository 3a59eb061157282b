"""The course website (``make site``, ``website/build.py``): built offline, leak-free, checked in a browser.

One build per session, by the code ``make site`` runs, into a temporary folder. It takes each
chapter's outputs from the nbval run of the same session (``.cache/executed``, written by the root
conftest; this file is ordered after the chapters and shares their xdist scope, "chapters"), so the chapters
are not executed a second time; run alone, the builder executes them itself.

- **No answers in the build**: every built file is scanned (``website.leaks``) for every solution's
  distinctive lines, every hidden test line and every accepted quiz or blank answer; a tampered copy
  of a page shows that the scan does find them. No source notebook is copied, and no page shows a
  check's output from the solution run.
- **In a browser** (Debian's chromium via Playwright, as tests/test_browser.py): the site is served
  on a free local port and every page is opened with every request off this machine blocked and
  counted. Each page must load every image (``naturalWidth > 0``, with an alt text), render its math
  with the local MathJax 3 (no ``\\(``, ``$...$`` left in the text), log no console error, and every
  link inside the site must answer 200 with its anchor present. Chapter pages link to Binder and
  Colab. axe-core (from the ``axe-playwright-python`` wheel, injected into the page: offline) must
  find no serious or critical violation, in the theme's light and dark modes; its counts go to
  ``artifacts/site/axe.json``.
"""
from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from browserhelp import ARTIFACTS, CHROMIUM, REPO, free_port, http_get, missing_tool, start_playwright

pytestmark = [pytest.mark.slow]  # on the chapters' xdist worker, after them: the root conftest.py

SITE_ARTIFACTS = ARTIFACTS / "site"
BLOCKING = ("serious", "critical")
MATH_READY_JS = """() => (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)
    ? window.MathJax.startup.promise.then(() => true) : false"""
DARK_MODE_JS = """() => new Promise(resolve => {
    const style = document.createElement('style');
    style.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
    document.head.appendChild(style);
    const h = document.documentElement;
    h.dataset.mode = 'dark';
    h.dataset.theme = 'dark';
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(true)));
})"""
PAGE_FACTS_JS = """() => {
    const main = document.querySelector('main') || document.body;
    const clone = main.cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, mjx-container')
         .forEach(e => e.remove());
    return {
        images: [...document.querySelectorAll('main img')].map(i => ({src: i.currentSrc || i.src,
            complete: i.complete, width: i.naturalWidth, alt: i.getAttribute('alt')})),
        math: document.querySelectorAll('main .math').length,
        mathRendered: [...document.querySelectorAll('main .math')].filter(
            m => m.querySelector('mjx-container') || m.tagName === 'MJX-CONTAINER').length,
        mathErrors: document.querySelectorAll('mjx-merror').length,
        text: clone.innerText,
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        lang: document.documentElement.getAttribute('lang'),
    };
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from website import build

    shutil.rmtree(SITE_ARTIFACTS, ignore_errors=True)
    SITE_ARTIFACTS.mkdir(parents=True)
    try:
        build.mathjax_source()
    except FileNotFoundError as err:
        missing_tool(str(err))
    result = build.build(tmp_path_factory.mktemp("site") / "site")
    (SITE_ARTIFACTS / "build.json").write_text(json.dumps({
        "seconds": round(result.seconds, 1), "bytes": result.bytes, "files": result.files,
        "outputs_from": {ch.id: ch.source for ch in result.chapters}}, indent=1))
    return result


@pytest.fixture(scope="module")
def pages_src(site) -> dict[str, object]:
    """Chapter id -> the staged page notebook the builder wrote."""
    src = site.out.parent / f"{site.out.name}-work" / "src"
    return {ch.id: nbformat.read(src / f"{ch.id}.ipynb", as_version=4) for ch in site.chapters}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(site):
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(site.out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _local(url: str, base: str) -> bool:
    return url.startswith(base) or urllib.parse.urlparse(url).scheme in ("data", "blob", "about")


@pytest.fixture(scope="module")
def visits(site, served):
    """Every HTML page of the site opened once in Chromium: facts, console errors, requests, axe results."""
    from axe_playwright_python.sync_playwright import Axe

    api = start_playwright()
    browser = api.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    axe = Axe()
    out: dict[str, dict] = {}
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        outside: list[str] = []

        def route(r):
            if _local(r.request.url, served):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        for html in sorted(site.out.rglob("*.html")):
            rel = html.relative_to(site.out).as_posix()
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            before = len(outside)
            page.goto(f"{served}/{rel}", wait_until="load")
            math_ready = page.evaluate(MATH_READY_JS)
            facts = page.evaluate(PAGE_FACTS_JS)
            errors = list(errors)  # the page's own; axe fetches style sheets again, relative to the page
            violations = axe.run(page).response["violations"]
            # and in the theme's dark mode (the theme switch sets these two attributes), measured once the
            # colours have settled (the theme animates them: mid-transition they are neither mode's)
            page.evaluate(DARK_MODE_JS)
            violations += [dict(v, id=v["id"] + " (dark mode)") for v in axe.run(page).response["violations"]]
            facts.update(errors=errors, outside=outside[before:], math_ready=math_ready, violations=[
                {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"]),
                 "targets": [n["target"] for n in v["nodes"][:5]]} for v in violations])
            page.screenshot(path=str(SITE_ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", rel) + ".png")))
            page.close()
            out[rel] = facts
        context.close()
    finally:
        browser.close()
        api.stop()
    counts = {impact: sum(v["nodes"] for f in out.values() for v in f["violations"] if v["impact"] == impact)
              for impact in ("critical", "serious", "moderate", "minor")}
    (SITE_ARTIFACTS / "axe.json").write_text(json.dumps({
        "axe_core": "axe-playwright-python's axe.min.js", "pages": len(out),
        "violations_by_impact": counts,
        "per_page": {rel: f["violations"] for rel, f in out.items()}}, indent=1))
    return out


def _chapter_page(ch) -> str:
    return f"{ch.id}.html"


# --------------------------------------------------------------------------- the build
def test_site_builds_every_chapter(site):
    from aecourse.release import chapter_ids

    assert [ch.id for ch in site.chapters] == chapter_ids(REPO)
    for ch in site.chapters:
        assert (site.out / _chapter_page(ch)).is_file(), f"no page for {ch.id}"
        assert ch.title and ch.title != ch.id, f"{ch.id}: no title found in the notebook"
    index = (site.out / "index.html").read_text(encoding="utf-8")
    positions = [index.find(f'href="{_chapter_page(ch)}"') for ch in site.chapters]
    assert all(p >= 0 for p in positions), "the course map must link every chapter"
    assert positions == sorted(positions), "the course map must list the chapters in order"


def test_site_reuses_the_chapters_nbval_ran(site):
    """A chapter nbval executed in this session is not executed again for the site."""
    from website import executed

    ran = {Path(p).stem for p in executed.SESSION.written}
    again = [ch.id for ch in site.chapters if ch.id in ran and ch.source != "nbval"]
    assert not again, f"chapters executed twice (by nbval and for the site): {again}"


def test_no_solution_hidden_test_or_answer_in_build(site):
    from website import leaks

    secrets = leaks.secrets(REPO)
    by_chapter = {ch.id: {s.kind for s in secrets if s.chapter == ch.id} for ch in site.chapters}
    for cid, kinds in by_chapter.items():
        assert {"solution", "answer"} <= kinds, f"{cid}: the leak scan found no solution line or answer to look for"
    found = leaks.scan(site.out, secrets)
    assert not found, "the site gives answers away:\n" + "\n".join(map(str, found[:30]))
    sources = [p for p in (site.out / "_sources").rglob("*") if p.is_file()]
    assert not sources, f"source files are copied into the build: {sources[:5]}"
    for nb in site.out.rglob("*.ipynb"):
        assert "BEGIN SOLUTION" not in nb.read_text(encoding="utf-8"), f"{nb} is a solutions notebook"


def test_leak_scan_finds_a_tampered_page(site, tmp_path):
    """The scan is not blind: a solution line highlighted as Sphinx does, a hidden test line inside a
    JSON string and a quiz answer in a page's text are each found."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    from website import leaks

    secrets = [s for s in leaks.secrets(REPO) if s.chapter == "02-sparse"]
    solution = next(s for s in secrets if s.kind == "solution" and "(" in s.text)
    hidden = next(s for s in secrets if s.kind == "hidden test")
    answer = next(s for s in secrets if s.kind == "answer")
    var, value = answer.text.split(" = ", 1)
    page = (site.out / "02-sparse.html").read_text(encoding="utf-8")
    cases = {
        "solution.html": page.replace("</main>", highlight("    " + solution.text + "\n", PythonLexer(),
                                                           HtmlFormatter()) + "</main>"),
        "hidden.js": "var nb = " + json.dumps({"source": ["x = 1\n", hidden.text + "\n"]}) + ";",
        "answer.html": page.replace("</main>", f"<p>{var} = &quot;{value.strip(chr(39))}&quot;</p></main>"),
    }
    for name, text in cases.items():
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        (folder / name).write_text(text, encoding="utf-8")
        found = {leak.secret for leak in leaks.scan(folder, secrets)}
        want = {"solution.html": solution, "hidden.js": hidden, "answer.html": answer}[name]
        assert want in found, f"the scan missed {want.text!r} in {name}"
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "02-sparse.html").write_text(page, encoding="utf-8")
    assert leaks.scan(clean, secrets) == []


def test_pages_show_outputs_but_never_a_check_result(site, pages_src):
    for ch in site.chapters:
        page = pages_src[ch.id]
        code = [c for c in page.cells if c.cell_type == "code"]
        assert any(c.outputs for c in code), f"{ch.id}: the page shows no output of an executed run"
        for cell in code:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("solution"):
                assert not cell.outputs, f"{ch.id}: graded or answer cell {cell.get('id')} shows outputs"
    for html in site.out.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert "public checks passed" not in text, f"{html.name} shows a check's result from the solution run"
        assert not re.search(r'class="[^"]*\btraceback\b', text), f"{html.name} shows an error output"
    for ch in site.chapters:
        errors = [c.get("id") for c in pages_src[ch.id].cells if c.cell_type == "code"
                  for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{ch.id}: cells {errors} show an error"


# --------------------------------------------------------------------------- in the browser
def test_no_request_leaves_the_machine(visits):
    outside = {rel: f["outside"] for rel, f in visits.items() if f["outside"]}
    assert not outside, f"pages tried to reach the network: {outside}"


def test_no_console_error(visits):
    errors = {rel: f["errors"] for rel, f in visits.items() if f["errors"]}
    assert not errors, f"console errors: {errors}"


def test_every_figure_loads_with_alt_text(site, pages_src, visits):
    for ch in site.chapters:
        facts = visits[_chapter_page(ch)]
        figures = sum(1 for c in pages_src[ch.id].cells if c.cell_type == "code" for o in c.outputs
                      if any(m in o.get("data", {}) for m in ("image/png", "image/jpeg", "image/svg+xml")))
        shown = [i for i in facts["images"] if "_images/" in i["src"]]
        assert len(shown) == figures, f"{ch.id}: {figures} figure outputs, {len(shown)} images on the page"
    for rel, facts in visits.items():
        broken = [i["src"] for i in facts["images"] if not (i["complete"] and i["width"] > 0)]
        assert not broken, f"{rel}: images that did not load: {broken}"
        no_alt = [i["src"] for i in facts["images"] if not (i["alt"] or "").strip()]
        assert not no_alt, f"{rel}: images without alt text: {no_alt}"


def test_math_renders_offline(site, pages_src, visits):
    with_math = [ch for ch in site.chapters
                 if any("$" in c.source for c in pages_src[ch.id].cells if c.cell_type == "markdown")]
    assert with_math, "no chapter has math: the check below would test nothing"
    for ch in with_math:
        facts = visits[_chapter_page(ch)]
        assert facts["math_ready"], f"{ch.id}: MathJax did not load"
        assert facts["math"] > 0, f"{ch.id}: its $...$ became no math element"
        assert facts["mathRendered"] == facts["math"], \
            f"{ch.id}: {facts['math'] - facts['mathRendered']} of {facts['math']} formulas not typeset"
        assert facts["mathErrors"] == 0, f"{ch.id}: MathJax reports {facts['mathErrors']} errors"
    for rel, facts in visits.items():
        raw = re.findall(r"\\\(|\\\[|\$[^$\s][^$\n]{0,80}\$", facts["text"])
        assert not raw, f"{rel}: math left as source text: {raw[:5]}"


def test_internal_links_resolve(site, served, visits):
    checked: dict[str, tuple[int, str]] = {}
    for rel, facts in visits.items():
        for href in facts["links"]:
            if not href.startswith(served):
                continue
            url, _, anchor = href.partition("#")
            if url not in checked:
                status, body = http_get(url)
                checked[url] = (status, body.decode("utf-8", "replace"))
            status, body = checked[url]
            assert status == 200, f"{rel}: link {href} answers {status}"
            if anchor and url.endswith(".html"):
                anchor = urllib.parse.unquote(anchor)
                assert re.search(rf'\bid="{re.escape(anchor)}"', body), f"{rel}: link {href}: no #{anchor} there"
    assert len(checked) >= len(site.chapters) + 1


def test_binder_and_colab_links(site, visits):
    for ch in site.chapters:
        links = visits[_chapter_page(ch)]["links"]
        binder = f"https://mybinder.org/v2/gh/aecourse/aecourse/HEAD?urlpath=lab/tree/course/{ch.id}/{ch.id}.ipynb"
        colab = f"https://colab.research.google.com/github/aecourse/aecourse/blob/main/course/{ch.id}/{ch.id}.ipynb"
        assert binder in links, f"{ch.id}: no 'Open in JupyterLab on Binder' link"
        assert colab in links, f"{ch.id}: no 'Open in Colab' link"
        assert (REPO / "course" / ch.id / f"{ch.id}.ipynb").is_file()


def test_accessibility(visits):
    """axe-core on every page: no serious or critical violation (counts: artifacts/site/axe.json)."""
    for rel, facts in visits.items():
        assert facts["lang"], f"{rel}: <html> has no lang"
    bad = {rel: [v for v in f["violations"] if v["impact"] in BLOCKING] for rel, f in visits.items()}
    bad = {rel: v for rel, v in bad.items() if v}
    assert not bad, "axe-core found serious or critical violations:\n" + json.dumps(bad, indent=1)[:6000]


# --------------------------------------------------------------------------- the executed copies
def test_executed_copy_is_written_only_when_every_cell_passed(tmp_path):
    from website import executed

    root = tmp_path / "repo"
    (root / "solutions" / "99-x").mkdir(parents=True)
    (root / "src" / "aecourse").mkdir(parents=True)
    (root / "src" / "aecourse" / "lib.py").write_text("X = 1\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", id="a"),
                                         nbformat.v4.new_markdown_cell("text", id="b"),
                                         nbformat.v4.new_code_cell("print('hi')", id="c")])
    path = root / "solutions" / "99-x" / "99-x.ipynb"
    nbformat.write(nb, path)
    cache = tmp_path / "cache"
    result = {"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {}, "execution_count": 1}
    stream = {"output_type": "stream", "name": "stdout", "text": "hi\n"}

    capture = executed.Capture(cache, root)
    assert capture.record(path, nb, 0, True, [result]) is None  # one cell still to run
    written = capture.record(path, nb, 1, True, [stream])
    assert written == cache / "99-x.ipynb"
    copy = executed.load(path, cache, root)
    assert copy.cells[0].outputs[0].data["text/plain"] == "2" and copy.cells[2].outputs[0].text == "hi\n"

    (root / "src" / "aecourse" / "lib.py").write_text("X = 2\n")  # the library changed: the copy is stale
    assert executed.load(path, cache, root) is None

    failing = executed.Capture(tmp_path / "cache2", root)
    failing.record(path, nb, 0, False, [result])
    assert failing.record(path, nb, 1, True, [stream]) is None
    assert not (tmp_path / "cache2" / "99-x.ipynb").exists()


def test_no_learner_notebook_gives_its_own_answer_away():
    from website import leaks

    found = leaks.course_giveaways(REPO)
    assert not found, f"learner notebooks that show an accepted answer: {[(s.chapter, s.text) for s in found]}"


def test_learner_page_takes_outputs_only_where_the_learner_has_the_same_cell():
    """The page of a chapter: outputs on unchanged cells; none on stubs, graded cells or public checks;
    widgets become a note; a figure's alt text comes from its output metadata, else says what it is."""
    from base64 import b64encode

    from website import build

    png = b64encode(b"\x89PNG fake bytes").decode()
    alt_png = b64encode(b"\x89PNG other bytes").decode()
    v4 = nbformat.v4
    figure = v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    described = v4.new_output("display_data", data={"image/png": alt_png, "text/plain": "<Figure>"},
                              metadata={"image/png": {"alt": "Ten digits and their reconstructions"}})
    html_copy = v4.new_output("display_data", data={
        "image/png": b64encode(b"\x89PNG third").decode(), "text/plain": "A third figure",
        "text/html": f'<img src="data:image/png;base64,{png}" alt="A third figure, described">'})
    widget = v4.new_output("display_data", data={build.WIDGET_MIME: {"model_id": "x"}, "text/plain": "VBox()"})
    printed = v4.new_output("stream", name="stdout", text="✅ public checks passed\n")
    sol_cells = [
        v4.new_markdown_cell("# 99 · A chapter\n\n[![Open In Colab](https://colab.example/badge.svg)]("
                             + build.launch_urls("99-x")[1] + ")\n\nIt is short. Very.", id="t"),
        v4.new_markdown_cell("As in [chapter 1](../01-dense/01-dense.ipynb#pca) and [2](02-sparse/02-sparse.ipynb). "
                             "[![Open In Colab](https://colab.example/badge.svg)](https://colab.example/x) "
                             '<img src="https://example.org/a.png" alt="A badge">', id="l"),
        v4.new_code_cell("plot()", id="a", outputs=[figure, described, html_copy]),
        v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", id="b",
                         metadata={"nbgrader": {"solution": True, "grade_id": "ex_f"}},
                         outputs=[v4.new_output("stream", name="stdout", text="solved\n")]),
        v4.new_code_cell("checks.x.f(f)", id="c", outputs=[printed],
                         metadata={"nbgrader": {"grade": True, "grade_id": "test_f"}}),
        v4.new_code_cell("checks.x.g(f)", id="d", outputs=[printed]),
        v4.new_code_cell("table()", id="e", outputs=[widget]),
    ]
    course_cells = [nbformat.from_dict(dict(c)) for c in copy_cells(sol_cells)]
    next(c for c in course_cells if c.id == "b").source = "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    sol, course = v4.new_notebook(cells=sol_cells), v4.new_notebook(cells=course_cells)
    alts: dict[str, str] = {}
    page = build.learner_page("99-x", course, sol, alts)
    cells = {c.get("id"): c for c in page.cells}
    assert len(cells["a"].outputs) == 3
    assert not cells["b"].outputs and not cells["c"].outputs and not cells["d"].outputs
    assert build.WIDGET_MIME not in cells["e"].outputs[0].data and "JupyterLab" in cells["e"].outputs[0].data["text/plain"]
    assert sorted(alts.values()) == ["A third figure, described", "Figure output of code cell 1 in chapter 99-x",
                                     "Ten digits and their reconstructions"]
    assert cells["l"].source == ("As in [chapter 1](01-dense.ipynb#pca) and [2](02-sparse.ipynb). "
                                 "[Open In Colab](https://colab.example/x) A badge")
    assert "text/html" not in cells["a"].outputs[2].data  # the <img> copy: the PNG is shown, with its alt
    title = page.cells[0].source
    assert title.startswith("# 99 · A chapter\n") and build.launch_urls("99-x")[0] in title
    assert build.title_of(course) == ("99", "A chapter", "It is short.")
    assert "badge" not in title and title.count(build.launch_urls("99-x")[1]) == 1


def copy_cells(cells):
    import copy

    return [copy.deepcopy(c) for c in cells]
