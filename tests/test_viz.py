"""Figures build headless, show what they claim, and reject bad shapes clearly."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aecourse.models import DenseAutoencoder
from aecourse.train import History
from aecourse.viz import (LiveTrainingFigure, heatmap, image_grid, latent_scatter, plot_history, response_heatmap,
                          response_map_figure, show_reconstructions, to_numpy_images, training_curve_figure,
                          traversal_grid)


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


# --------------------------------------------------------------------------- alt text (accessibility)
import base64
import html as html_lib

import aecourse.viz as viz_pkg
import aecourse.viz.sparse as viz_sparse
from aecourse.viz import alt_text, figure_alt, set_alt
from aecourse.viz.alt import describe_figure, figure_bundle, install


class Tiny(torch.nn.Module):
    """A fixed decoder to 4x4 images (latent 0 sets the brightness, latent 1 does nothing) and its encoder."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(2.0))  # show_reconstructions reads the parameters' device

    def decode(self, z):
        return torch.sigmoid(z[:, :1] * self.gain)[:, :, None, None].expand(-1, 1, 4, 4)

    def encode(self, x):
        return torch.stack([x.flatten(1).mean(1), torch.zeros(len(x))], 1)

    def forward(self, x):
        return self.decode(self.encode(x))


def _maps():
    values = np.linspace(-1.0, 1.0, 5)
    a, b = np.meshgrid(values, values, indexing="ij")
    magnitude = np.hypot(a, b)
    return {"values": values, "field": np.stack([a, b], -1), "magnitude": magnitude,
            "divergence": np.full((5, 5), 2.0), "curvature": a * 0.5}


def _history():
    return History(train_loss=[0.9, 0.4, 0.25], val_loss=[1.0, 0.5, 0.31])


# name -> (builds the figure, strings its alt text must contain: numbers and names from the data)
FIGURE_CASES = {
    "image_grid": (lambda: image_grid(torch.full((6, 1, 5, 7), 0.5), nrow=2, row_labels=["top", "bottom"]),
                   ["6 images", "5x7", "2 rows", "top, bottom", "0.5"]),
    "show_reconstructions": (lambda: show_reconstructions(Tiny(), torch.zeros(3, 1, 4, 4), n=3),
                             ["3 inputs", "reconstructions", "mean squared error against the inputs 0.25"]),
    "latent_scatter": (lambda: latent_scatter(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), np.array([1, 7, 7]),
                                              name="digit"),
                       ["3 codes", "z1 from 0 to 4", "z2 from 1 to 5", "2 values of digit (1, 7)"]),
    "plot_history": (lambda: plot_history({"dense": _history()}),
                     ["dense", "train loss 0.9 to 0.25", "3 epochs", "held-out loss 1 to 0.31"]),
    "heatmap": (lambda: heatmap(np.array([[0.1, 0.84], [0.3, 0.0]]), title="mutual information",
                                row_names=["shape", "scale"], col_names=["z2", "z3"]),
                ["mutual information", "2 rows x 2 columns", "largest value 0.84 at (shape, z3)",
                 "smallest 0 at (scale, z3)"]),
    "response_heatmap": (lambda: response_heatmap(np.array([[0.5, 0.01], [0.02, 0.0]]), row_names=["a", "b"],
                                                  col_names=["a", "b"]),
                         ["RMS response", "intervention on latent", "largest value 0.5 at (a, a)"]),
    "response_map_figure": (lambda: response_map_figure(_maps(), names=("z_a", "z_b")),
                            ["z_a (horizontal)", "z_b (vertical)", "5x5 grid", "from -1 to 1",
                             "magnitude |R(z) - z| from 0 to 1.41", "divergence 2", "mean curvature from -0.5 to 0.5"]),
    "traversal_grid": (lambda: traversal_grid(Tiny(), np.zeros(2), steps=3, span=(-1, 1), names=["ink", "dead"]),
                       ["2 rows", "ink, dead", "from -1 to 1 in 3 steps", "4x4", "most change along ink",
                        "constant rows: dead"]),
    "training_curve_figure": (lambda: training_curve_figure([(10.0, 400, 0.12, None), (20.0, 800, 0.35, None)],
                                                            {"loss": [9.0, 4.5]}, target=0.3, title="beta-VAE"),
                              ["beta-VAE", "loss (log scale) from 9", "to 4.5", "2 evaluations", "latest 0.35",
                               "bar at MIG 0.3, cleared"]),
    "activation_heatmap": (lambda: viz_sparse.activation_heatmap(np.array([[0.9, 0, 0, 0.2], [0, 0.8, 0.7, 0]]),
                                                                 ["A", "B"]),
                           ["2 rows (inputs) x 4 columns (units)", "largest value 0.9 at (A, Lat1)",
                            "4 of 8 activations above 0"]),
    "feature_grid": (lambda: viz_sparse.feature_grid(np.eye(9, 9), shape=(3, 3), n=4),
                     ["4 of 9 features", "3x3 images", "red where a feature adds ink"]),
    "plot_log_density": (lambda: viz_sparse.plot_log_density(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]]),
                                                             bins=4, low=-2),
                         ["over 3 units", "1 dead", "the other 2 between"]),
    "plot_sparsity_tradeoff": (lambda: viz_sparse.plot_sparsity_tradeoff(
        [{"l1_coeff": c, "l0": 10 / c, "dead_fraction": c / 10, "fvu": c / 5, "mmcs": 0.9} for c in (2, 0.5)]),
        ["2 runs over l1_coeff from 0.5 to 2", "L0 (active units per input) 20 to 5", "dead fraction 0.05 to 0.2"]),
    "plot_feature_matrix": (lambda: viz_sparse.plot_feature_matrix(np.array([[0.2, 0.9], [0.95, 0.1]]), [1, 0]),
                            ["2 rows", "2 columns", "along the diagonal", "mean 0.925", "lowest 0.9"]),
}
# Public names of aecourse.viz that draw no figure (helpers, the alt text's own functions, the live figure class,
# tested below). A new figure function must get a case in FIGURE_CASES: the test below fails until it does.
NOT_FIGURES = {"to_numpy_images", "finish", "decode_images", "traversal_images", "decode_function", "model_device",
               "latent_index", "check_span", "latent_names", "single_code", "set_alt", "alt_text", "figure_alt",
               "LiveTrainingFigure"}


def test_every_figure_function_has_an_alt_text_case():
    public = set(viz_pkg.__all__) | set(viz_sparse.__all__)
    assert public - NOT_FIGURES - set(FIGURE_CASES) == set(), "figure functions without an alt text case"
    assert set(FIGURE_CASES) <= public


@pytest.mark.parametrize("name", sorted(FIGURE_CASES))
def test_figure_alt_text_says_what_it_shows_with_its_data(name):
    build, expected = FIGURE_CASES[name]
    fig = build()
    assert isinstance(fig, Figure)
    text = alt_text(fig)
    assert text, f"{name} stores no alt text"
    missing = [e for e in expected if e not in text]
    assert not missing, f"{name}'s alt text {text!r} does not say {missing}"
    assert figure_alt(fig) == text


def test_alt_text_follows_the_data():
    """Two calls with different data give different texts (the text is computed, not a fixed label)."""
    one = alt_text(heatmap(np.array([[0.1, 0.2]])))
    two = alt_text(heatmap(np.array([[0.7, 0.2]])))
    assert one != two and "0.7" in two


def test_live_training_figure_has_alt_text_of_the_run_so_far():
    live = LiveTrainingFigure(target=0.3, title="run", display=False)
    assert "no loss recorded yet" in alt_text(live.figure())
    live({"step": 100, "steps": 200, "seconds": 1.0, "loss": 8.0})
    live({"step": 200, "steps": 200, "seconds": 2.0, "loss": 6.0, "mig": 0.21})
    text = alt_text(live.figure())
    assert "from 8 at step 100 to 6 at step 200 of 200" in text and "latest 0.21" in text and "not cleared" in text


def test_a_figure_drawn_by_hand_is_described_from_its_panels():
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    left.plot([1, 2, 3]), left.set_title("loss"), left.set_xlabel("epoch")
    heatmap(np.array([[0.5, 0.25]]), ax=right, title="MIG matrix", colorbar=None)
    fig.colorbar(right.images[0], ax=right)
    plt.close(fig)
    text = figure_alt(fig)
    assert alt_text(fig) is None and text == describe_figure(fig)
    assert text.startswith("Figure with 2 panels: 'loss' with 1 line (x: epoch)")
    assert "Heatmap of MIG matrix: 1 row x 2 columns; largest value 0.5 at (z0, z0)" in text  # the library's panel
    with pytest.raises(ValueError, match="non-empty"):
        set_alt(fig, "  ")


class FakeShell:
    """What install() and IPython's select_figure_formats need of a shell: a display formatter."""

    def __init__(self):
        from IPython.core.formatters import DisplayFormatter

        self.display_formatter = DisplayFormatter()


def _shell_with_png(fmt="png"):
    from IPython.core.pylabtools import select_figure_formats

    shell = FakeShell()
    select_figure_formats(shell, {fmt})
    return shell


def test_displayed_figures_carry_their_alt_text_in_png_metadata_text_and_html():
    shell = _shell_with_png()
    assert install(shell) and install(shell)  # idempotent
    fig = heatmap(np.array([[0.25, 0.75]]), title="a <b> & c")
    data, md = shell.display_formatter.format(fig)
    text = alt_text(fig)
    assert md["image/png"]["alt"] == text and data["text/plain"] == text
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["text/html"] == (f'<img src="data:image/png;base64,{data["image/png"]}" '
                                 f'alt="{html_lib.escape(text, quote=True)}"/>')
    assert "a &lt;b&gt; &amp; c" in data["text/html"]  # escaped: the title cannot break out of the attribute
    # Not a figure: untouched.
    assert shell.display_formatter.format([1, 2]) == ({"text/plain": "[1, 2]"}, {})


def test_the_hook_survives_reconfiguring_the_inline_backend_and_keeps_retina_sizes():
    from IPython.core.pylabtools import select_figure_formats

    shell = _shell_with_png()
    install(shell)
    select_figure_formats(shell, {"retina"})  # what %config InlineBackend.figure_format = "retina" does
    fig = image_grid(torch.zeros(2, 1, 3, 3))
    data, md = shell.display_formatter.format(fig)
    assert md["image/png"]["alt"] == alt_text(fig)
    width, height = md["image/png"]["width"], md["image/png"]["height"]
    assert f'width="{int(width)}" height="{int(height)}"' in data["text/html"]


def test_the_html_copy_can_be_turned_off_and_svg_only_gets_the_text():
    shell = _shell_with_png()
    install(shell, html=False)
    fig = plot_history(_history())
    data, md = shell.display_formatter.format(fig)
    assert "text/html" not in data and md["image/png"]["alt"] == data["text/plain"] == alt_text(fig)
    install(shell, html=True)
    assert "text/html" in shell.display_formatter.format(fig)[0]
    data, md = figure_bundle(fig, {"image/svg+xml": "<svg/>"}, {})
    assert data == {"image/svg+xml": "<svg/>", "text/plain": alt_text(fig)} and md == {}


def test_live_figure_updates_carry_the_alt_text(monkeypatch):
    shell = _shell_with_png()
    install(shell)
    published = []

    def display(fig, display_id=False):
        published.append(shell.display_formatter.format(fig))

        class Handle:
            def update(self, fig):
                published.append(shell.display_formatter.format(fig))
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    live = LiveTrainingFigure(title="run", min_interval=0, display=True)
    live({"step": 100, "steps": 200, "seconds": 1.0, "loss": 8.0})
    live({"step": 200, "steps": 200, "seconds": 2.0, "loss": 6.0, "mig": 0.4})
    assert len(published) == 2
    assert "no MIG evaluated yet" in published[0][1]["image/png"]["alt"]
    assert "latest 0.4" in published[1][1]["image/png"]["alt"] and "latest 0.4" in published[1][0]["text/html"]
