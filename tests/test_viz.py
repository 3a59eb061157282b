"""Figures build headless, show what they claim, and reject bad shapes clearly."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aecourse.models import DenseAutoencoder
from aecourse.train import History
from aecourse.viz import heatmap, image_grid, latent_scatter, plot_history, show_reconstructions, to_numpy_images


def test_image_grid_layout():
    fig = image_grid(torch.rand(10, 1, 8, 8), nrow=2, titles=[str(i) for i in range(10)], row_labels=["a", "b"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10
    assert fig.axes[3].get_title() == "3"


def test_to_numpy_images_accepts_flat_vectors():
    assert to_numpy_images(np.zeros((3, 64))).shape == (3, 8, 8)
    with pytest.raises(ValueError, match="square"):
        to_numpy_images(np.zeros((3, 10)))


def test_show_reconstructions_rows():
    model = DenseAutoencoder(in_shape=(1, 8, 8), latent_dim=2, hidden=(4,))
    x = torch.rand(5, 1, 8, 8)
    assert len(show_reconstructions(model, x, n=4).axes) == 8
    assert len(show_reconstructions(model, x, n=4, inputs=x).axes) == 12  # noisy / recon / clean


def test_latent_scatter_categorical_and_continuous():
    z = np.random.default_rng(0).normal(size=(50, 2))
    fig = latent_scatter(z, np.arange(50) % 3, name="digit")
    assert fig.axes[0].get_legend() is not None
    fig = latent_scatter(z, np.linspace(0, 1, 50), name="thickness")
    assert len(fig.axes) == 2  # the plot and its colour bar


def test_latent_scatter_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        latent_scatter(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="4 values for 5 points"):
        latent_scatter(np.zeros((5, 2)), np.zeros(4))


def test_plot_history_one_or_many():
    h = History(train_loss=[1.0, 0.5], val_loss=[1.1, 0.6])
    assert len(plot_history(h).axes[0].lines) == 2
    assert len(plot_history({"a": h, "b": History(train_loss=[2.0, 1.0])}).axes[0].lines) == 3


def test_heatmap_annotates_above_a_threshold_outlines_cells_and_writes_given_text():
    share = np.array([[0.9, 0.05], [0.3, 0.0]])
    fig = heatmap(share, annotate=0.1, colorbar="share", cmap="viridis", vmax=1.0)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0.30", "0.90"]  # 0.05 and 0 stay blank
    assert fig.axes[1].get_ylabel() == "share"  # the colour bar
    # text colour follows the cell's brightness: viridis is bright at 0.9, dark at 0.3
    colour = {t.get_text(): t.get_color() for t in ax.texts}
    assert colour == {"0.90": "black", "0.30": "white"}

    counts = np.array([[7, 0], [2, 5]])
    fig = heatmap(counts / counts.sum(1, keepdims=True), text=counts, fmt="{}", colorbar=None,
                      outline=counts == counts.max(0), row_names=["a", "b"], col_names=["z0", "z1"])
    ax = fig.axes[0]
    assert len(fig.axes) == 1  # no colour bar
    assert sorted(t.get_text() for t in ax.texts) == ["2", "5", "7"]  # the zero count is left blank
    boxes = sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches)
    assert boxes == [(0.0, 0.0), (1.0, 1.0)]  # (col, row) of each column's maximum

    for bad, match in [({"text": np.ones(3)}, "text must be one entry per cell"), ({"outline": np.ones((3, 3))}, "outline must be one entry per cell"),
                       ({"vmin": 1.0, "vmax": 1.0}, "must be above vmin")]:
        with pytest.raises(ValueError, match=match):
            heatmap(share, **bad)
    with pytest.raises(ValueError, match="2-D matrix"):
        heatmap(np.ones(4))


def test_live_training_figure_follows_the_events_and_redraws_in_place(monkeypatch):
    from aecourse.viz import LiveTrainingFigure, training_curve_figure

    shown = []

    class Handle:
        def update(self, fig):
            shown.append(("update", fig))

    def display(fig, display_id=False):
        assert display_id is True
        shown.append(("display", fig))
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    live = LiveTrainingFigure(target=0.3, title="run", min_interval=3600, display=True)
    live({"step": 100, "steps": 300, "seconds": 1.0, "loss": 50.0})     # first event: drawn
    live({"step": 200, "steps": 300, "seconds": 2.0, "loss": 40.0})     # within min_interval: not drawn
    live({"step": 300, "steps": 300, "seconds": 3.0, "loss": 30.0, "mig": 0.31, "factor_vae": None})
    assert [kind for kind, _ in shown] == ["display", "update"]          # an evaluation always redraws
    assert live.loss_steps == [100, 200, 300] and live.losses == [50.0, 40.0, 30.0]
    assert live.mig_seconds == [3.0] and live.migs == [0.31]
    fig = live.figure()
    ax_loss, ax_mig = fig.axes
    assert list(ax_loss.lines[0].get_ydata()) == [50.0, 40.0, 30.0]
    assert list(ax_mig.lines[0].get_ydata()) == [0.31]
    assert list(ax_mig.lines[1].get_ydata()) == [0.3, 0.3]               # the bar
    assert "step 300 of 300" in fig._suptitle.get_text() and "MIG 0.310" in fig._suptitle.get_text()
    quiet = LiveTrainingFigure(display=False)
    quiet({"step": 100, "steps": 100, "seconds": 1.0, "loss": 5.0, "mig": 0.1})
    assert len(shown) == 2                                               # no kernel: nothing drawn
    done = training_curve_figure([(10.0, 400, 0.1, None), (20.0, 800, 0.35, None)], {"loss": [9.0] * 8},
                                 target=None)
    assert list(done.axes[1].lines[0].get_xdata()) == [10.0, 20.0] and len(done.axes[1].lines) == 1
    assert list(done.axes[0].lines[0].get_xdata()) == [100 * i for i in range(1, 9)]
    with pytest.raises(ValueError, match="min_interval"):
        LiveTrainingFigure(min_interval=-1)
