"""Progress bars in a real JupyterLab: visible while training, readable after saving, closing and reopening.

A scratch notebook trains with ``fit`` and ``train_sae`` (the library's progress line,
:mod:`aecourse.progress`). In headless Chromium driven by Playwright it is run with
Run > Run All Cells; while it runs a ``<progress>`` bar must be on screen; afterwards,
after switching to another tab and back, after saving, and after its kernel is shut
down and the notebook reopened, every training cell must show its final line
("training DenseAutoencoder: 30/30 epochs, ...") and no cell may say "Error displaying
widget" or "model not found". The saved file is read back too: no widget views.

A control notebook shows the check can fail: a ``tqdm.auto`` bar with ``leave=False``
(what the library used before) leaves a widget view whose model is gone after
reopening, which JupyterLab reports as "Error displaying widget: model not found".

Screenshots go to ``artifacts/browser-progress/``. Needs Debian's chromium and the
playwright package, as tests/test_browser.py does (skips without them, fails under CI).
"""

from __future__ import annotations

import re
import shutil
import time

import pytest

from browserhelp import (ARTIFACTS, CHROMIUM, JupyterServer, lab_menu, lab_open, lab_output_texts, lab_save,
                         lab_wait_until_run, shut_down_kernels, start_playwright, write_notebook)

pytestmark = [pytest.mark.slow]

SHOTS = ARTIFACTS / "browser-progress"
RUN_TIMEOUT_S = 180
BROKEN = re.compile(r"Error displaying widget|model not found|Error rendering output")

# A pause after every step keeps the bar on screen long enough to be seen mid-run (30 epochs x 4 steps).
FIT_CELL = """\
import time
import torch
from aecourse.models import DenseAutoencoder
from aecourse.sae import train_sae
from aecourse.train import fit

torch.manual_seed(0)
model = DenseAutoencoder(in_shape=(1, 8, 8), latent_dim=4, hidden=(16,))
history = fit(model, torch.rand(256, 1, 8, 8), epochs=30, batch_size=64, after_step=lambda m: time.sleep(0.02))
"""
SAE_CELL = """\
sae, _ = train_sae(torch.rand(512, 16), "l1", epochs=5, latent_dim=32, progress=True)
print("trained")
"""
FINAL_LINES = {0: "training DenseAutoencoder: 30/30 epochs, ", 1: "training SparseAutoencoder: 5/5 epochs, "}

# The control: the old bar (a tqdm widget that closes itself when done).
TQDM_CELL = """\
import time
from tqdm.auto import tqdm
for _ in tqdm(range(20), desc="old bar", leave=False):
    time.sleep(0.01)
print("done")
"""

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def browser():
    api = start_playwright()
    try:
        b = api.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()
    finally:
        api.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    base = tmp_path_factory.mktemp("jupyter-progress")
    root = base / "root"
    write_notebook(root / "progress.ipynb", FIT_CELL, SAE_CELL)
    write_notebook(root / "control.ipynb", TQDM_CELL)
    srv = JupyterServer(root, base)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.copy(srv.log_path, SHOTS / "server.log")


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        yield p
    finally:
        p.close()


def _fail(page, what: str, message: str) -> None:
    path = SHOTS / f"{what}.png"
    try:
        page.screenshot(path=str(path))
        message += f"\n(screenshot: {path})"
    except Exception as err:  # noqa: BLE001 - the message matters more than the picture
        message += f"\n(no screenshot: {err})"
    pytest.fail(message, pytrace=False)


def _broken(texts: list[list[str]]) -> list[str]:
    return [f"cell {i}: {t.strip()[:200]!r}" for i, outs in enumerate(texts) for t in outs if BROKEN.search(t)]


def _final_lines_missing(texts: list[list[str]]) -> list[str]:
    return [f"cell {i}: no {line!r} among {[t[:120] for t in texts[i]] if i < len(texts) else 'no cell'}"
            for i, line in FINAL_LINES.items() if i >= len(texts) or not any(line in t for t in texts[i])]


def _settled(page, check, seconds: float = 20.0) -> list[str]:
    """Problems reported by ``check(texts)``, retried while outputs are still being rendered."""
    deadline = time.monotonic() + seconds
    while True:
        problems = check(lab_output_texts(page))
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.5)


def _run_save_reopen(page, server, rel: str, poll=None) -> tuple[dict, list[list[str]]]:
    """Run All, save, shut the kernel down, reopen in a fresh page load; (saved notebook, texts after reopening)."""
    stem = rel.removesuffix(".ipynb")
    lab_open(page, server, rel, workspace=f"{stem}-first")
    lab_menu(page, "Run", "runmenu:run-all")
    lab_wait_until_run(page, RUN_TIMEOUT_S, poll=poll)
    page.screenshot(path=str(SHOTS / f"{stem}-run.png"))
    lab_save(page)
    saved = server.contents(rel)["content"]
    shut_down_kernels(server, rel)  # the kernel-side widget models die with the kernel, as after a restart
    lab_open(page, server, rel, workspace=f"{stem}-reopened")
    return saved, lab_output_texts(page)


@pytest.mark.timeout(400)
def test_progress_lines_survive_switching_tabs_saving_and_reopening(page, server):
    rel = "progress.ipynb"
    bars_seen = []

    def look_mid_run():
        bars_seen.append(page.locator(".jp-OutputArea-output progress").count())
        if bars_seen[-1] and sum(map(bool, bars_seen)) == 1:
            page.screenshot(path=str(SHOTS / "progress-mid-run.png"))

    lab_open(page, server, rel, workspace="progress-live")
    lab_menu(page, "Run", "runmenu:run-all")
    try:
        lab_wait_until_run(page, RUN_TIMEOUT_S, poll=look_mid_run)
    except RuntimeError as err:
        _fail(page, "progress-timeout", str(err))
    page.screenshot(path=str(SHOTS / "progress-run.png"))
    if not any(bars_seen):
        _fail(page, "progress-no-bar", f"no <progress> bar was on screen while training ({len(bars_seen)} looks)")

    problems = _settled(page, lambda t: _broken(t) + _final_lines_missing(t))
    if problems:
        _fail(page, "progress-after-run", "after training:\n" + "\n".join(problems))
    assert page.locator(".jp-OutputArea-output progress").count() == 0, "a finished line still shows a bar"

    # Another tab in front, then the notebook again (re-attaches its outputs).
    lab_menu(page, "File", "launcher:create")
    page.wait_for_selector(".jp-Launcher", timeout=30_000)
    page.locator(".lm-TabBar-tab", has_text=rel).first.click()
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="visible", timeout=30_000)
    problems = _settled(page, lambda t: _broken(t) + _final_lines_missing(t))
    if problems:
        _fail(page, "progress-tab-switch", "after switching tabs and back:\n" + "\n".join(problems))

    lab_save(page)
    saved = server.contents(rel)["content"]
    for i, cell in enumerate(saved["cells"]):
        for out in cell.get("outputs", []):
            assert WIDGET_VIEW not in out.get("data", {}), f"cell {i} saved a widget view: {out}"
    saved_texts = [["".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", ""))
                    for o in c.get("outputs", [])] for c in saved["cells"]]
    assert not _final_lines_missing(saved_texts), _final_lines_missing(saved_texts)

    # Kernel gone (as after closing JupyterLab), notebook reopened from disk.
    shut_down_kernels(server, rel)
    lab_open(page, server, rel, workspace="progress-reopened")
    problems = _settled(page, lambda t: _broken(t) + _final_lines_missing(t))
    page.screenshot(path=str(SHOTS / "progress-reopened.png"))
    if problems:
        _fail(page, "progress-reopened", "after saving and reopening:\n" + "\n".join(problems))


@pytest.mark.timeout(300)
def test_control_a_self_closing_tqdm_widget_breaks_after_reopening(page, server):
    """The check above can fail: the old bar (tqdm.auto, leave=False) saves a widget view without a model."""
    saved, _ = _run_save_reopen(page, server, "control.ipynb")
    views = [o for c in saved["cells"] for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
    assert views, "tqdm.auto drew no widget here (is ipywidgets installed in the kernel?)"
    problems = _settled(page, lambda t: [] if _broken(t) else ["no broken widget shown yet"])
    page.screenshot(path=str(SHOTS / "control-reopened.png"))
    assert not problems, ("the self-closing tqdm widget showed no 'Error displaying widget' after reopening, so "
                          "the progress test could not tell a broken bar from a good one")
