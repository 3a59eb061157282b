"""Progress lines (aecourse.progress): text and HTML while running, a final line that survives saving.

The notebook case is tested for real: a tiny notebook that trains with ``fit`` is run
with nbclient (as nbgrader, nbconvert and nbval run notebooks) and its saved outputs are
read back: one plain text/plain + text/html output with the final line, no widget view.
The browser case (saving and reopening in JupyterLab) is tests/test_browser_progress.py.
"""

from __future__ import annotations

import io

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from aecourse import progress as pg
from aecourse.models import DenseAutoencoder
from aecourse.sae import train_sae
from aecourse.train import fit


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_format_seconds_stays_short():
    assert pg.format_seconds(4.24) == "4.2 s"
    assert pg.format_seconds(125) == "2 min 05 s"
    assert pg.format_seconds(3720) == "1 h 02 min"


def test_final_line_counts_units_and_shows_postfix():
    line = pg.ProgressLine(range(300), desc="training VAE", unit="epoch", enabled=False)
    for _ in line:
        line.set_postfix(loss="0.031")
    assert line.done and line.n == 300
    text = line.text()
    assert text.startswith("training VAE: 300/300 epochs, ") and text.endswith(" s, loss 0.031"), text
    assert "|" not in text and "left" not in text  # the final line has no bar and no estimate
    assert "300/300 epochs" in line.html() and "<progress" not in line.html()


def test_singular_unit_and_running_line_with_bar():
    one = pg.ProgressLine(range(1), desc="training", unit="epoch", enabled=False)
    assert "0/1 epoch " in one.text() + " "
    assert "epochs" not in one.text()
    line = pg.ProgressLine(total=4, desc="x", unit="step", enabled=False)
    line.update(2)
    text = line.text()
    assert "2/4 steps |" + "█" * (pg.BAR_WIDTH // 2) + "·" * (pg.BAR_WIDTH // 2) + "|" in text, text
    assert "left" in text
    assert '<progress value="2" max="4"' in line.html()


def test_a_loop_left_early_says_it_stopped():
    line = pg.ProgressLine(range(10), desc="training", unit="epoch", enabled=False)
    with pytest.raises(KeyboardInterrupt):
        with line:
            for i in line:
                if i == 3:
                    raise KeyboardInterrupt
    assert line.closed and line.stopped and not line.done
    assert line.text().startswith("training: stopped at 3/10 epochs, ")


def test_fit_draws_its_final_line_when_the_loss_fails(monkeypatch):
    lines = []
    real = pg.ProgressLine.close

    def spy(self, stopped=None):
        real(self, stopped)
        lines.append(self.text())

    monkeypatch.setattr(pg.ProgressLine, "close", spy)

    def broken(model, x):
        raise FloatingPointError("loss is NaN")

    with pytest.raises(FloatingPointError):
        fit(DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=2, hidden=()), torch.rand(8, 1, 4, 4),
            loss_fn=broken, epochs=3, progress=False)
    assert lines and lines[-1].startswith("training DenseAutoencoder: stopped at 0/3 epochs")


def test_terminal_redraws_one_line_and_a_log_gets_only_the_final_line():
    tty = FakeTTY()
    line = pg.ProgressLine(range(3), desc="t", unit="epoch", stream=tty, kernel=False)
    for _ in line:
        pass
    out = tty.getvalue()
    assert out.startswith("\rt: 0/3 epochs") and out.endswith("\n") and out.count("\n") == 1
    assert out.rstrip().split("\r")[-1].startswith("t: 3/3 epochs, ")

    log = io.StringIO()  # not a terminal: no \r, no line for 0/3, the final line once
    for _ in pg.ProgressLine(range(3), desc="t", unit="epoch", stream=log, kernel=False):
        pass
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines()[-1].startswith("t: 3/3 epochs, ")
    assert all(not l.startswith("t: 0/3") for l in log.getvalue().splitlines())


def test_progress_false_is_silent(capsys):
    fit(DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=2, hidden=()), torch.rand(16, 1, 4, 4), epochs=2,
        progress=False)
    train_sae(torch.rand(64, 8), "l1", epochs=1, latent_dim=16, progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_true_outside_a_kernel_writes_the_final_line(capsys):
    fit(DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=2, hidden=()), torch.rand(16, 1, 4, 4), epochs=2)
    err = capsys.readouterr().err
    assert "training DenseAutoencoder: 2/2 epochs, " in err and "loss " in err


class FakeHandle:
    def __init__(self, shown):
        self.shown = [shown]

    def update(self, obj):
        self.shown.append(obj)


def test_in_a_kernel_one_display_is_updated_in_place(monkeypatch):
    handles = []

    def fake_display(obj, display_id=False):
        assert display_id is True  # updatable in place: the saved output is the last update
        handles.append(FakeHandle(obj))
        return handles[-1]

    monkeypatch.setattr(pg, "display", fake_display)
    monkeypatch.setattr(pg, "KERNEL_INTERVAL_S", 0.0)
    line = pg.ProgressLine(range(5), desc="training", unit="epoch", kernel=True)
    for _ in line:
        line.set_postfix(loss="1")
    assert len(handles) == 1, "a progress line must display once and then update that display"
    shown = handles[0].shown
    assert len(shown) == 1 + 5 + 1  # the first draw, one per epoch, the final line
    last = shown[-1]
    assert repr(last).startswith("training: 5/5 epochs, ") and "5/5 epochs" in last._repr_html_()


# --------------------------------------------------------------------------- a real kernel
TRAIN_CELL = """\
import torch
from aecourse.models import DenseAutoencoder
from aecourse.train import fit
model = DenseAutoencoder(in_shape=(1, 8, 8), latent_dim=4, hidden=(16,))
history = fit(model, torch.rand(512, 1, 8, 8), epochs=40, batch_size=32, seed=0)
"""


@pytest.mark.timeout(180)
def test_executed_notebook_saves_a_final_text_line_and_no_widget():
    """As nbgrader, nbconvert and nbval run notebooks (nbclient, no widget manager)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(TRAIN_CELL)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert len(outputs) == 1, f"expected one progress output, got {outputs}"
    out = outputs[0]
    assert out.output_type == "display_data"
    assert set(out.data) == {"text/plain", "text/html"}, set(out.data)  # no widget view to go missing
    text = out.data["text/plain"]
    assert text.startswith("training DenseAutoencoder: 40/40 epochs, ") and "loss " in text, text
    assert "40/40 epochs" in out.data["text/html"] and "<progress" not in out.data["text/html"]
    assert "transient" not in out  # nothing the saved file would need a kernel for
