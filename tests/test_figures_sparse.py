"""Static figures of the sparse chapters: they build, show the right things, and refuse bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aecourse import metrics
from aecourse.viz.sparse import (activation_heatmap, feature_grid, plot_feature_matrix, plot_log_density,
                                     plot_sparsity_tradeoff)
from aecourse.sae import SparseAutoencoder


def test_activation_heatmap_labels_and_values():
    z = np.array([[0.9, 0, 0, 0.2], [0, 0.8, 0.7, 0], [0.85, 0.6, 0, 0]])  # the worked example's table
    fig = activation_heatmap(z, ["A", "B", "C"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "C"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Lat1", "Lat2", "Lat3", "Lat4"]
    assert "0.85" in [t.get_text() for t in ax.texts] and len(ax.texts) == 12
    assert np.allclose(ax.images[0].get_array(), z)
    with pytest.raises(ValueError, match="3 row names and 4 unit names"):
        activation_heatmap(z, ["A", "B"])


def test_feature_grid_from_a_model():
    model = SparseAutoencoder(in_shape=(1, 6, 6), latent_dim=10)
    fig = feature_grid(model, shape=(6, 6), n=4)
    assert isinstance(fig, Figure) and sum(bool(ax.images) for ax in fig.axes) == 4
    with pytest.raises(ValueError, match=r"\(latent_dim, 64\)"):
        feature_grid(model, shape=(8, 8))


def test_log_density_counts_dead_units_apart():
    z = np.zeros((100, 5))
    z[:50, 0], z[:5, 1], z[0, 2] = 1, 1, 1  # densities 0.5, 0.05, 0.01, 0, 0
    fig = plot_log_density(z, bins=10, low=-3)
    bars = [p for p in fig.axes[0].patches if p.get_facecolor()[0] > 0.8]  # the red "dead" bar
    assert any(b.get_height() == 2 for b in bars)
    assert "dead (2)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_sparsity_tradeoff_one_panel_per_metric():
    results = [{"l1_coeff": c, "l0": 10 / c, "dead_fraction": c / 10, "fvu": c / 5, "mmcs": 0.9} for c in (3, 0.1, 1)]
    fig = plot_sparsity_tradeoff(results)
    assert len(fig.axes) == 4
    xs = fig.axes[0].lines[0].get_xdata()
    assert list(xs) == [0.1, 1, 3]  # sorted along the sweep
    with pytest.raises(ValueError, match="missing"):
        plot_sparsity_tradeoff([{"l1_coeff": 1.0}])


def test_feature_matrix_reordered_by_matching_shows_the_diagonal():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(5, 16))
    perm = rng.permutation(5)
    learned = true[perm]
    cos = metrics.cosine_matrix(learned, true)
    order = metrics.matched_cosines(learned, true).order
    fig = plot_feature_matrix(cos, order)
    assert np.allclose(np.diag(fig.axes[0].images[0].get_array()), 1.0)
    with pytest.raises(ValueError, match="permutation"):
        plot_feature_matrix(cos, [0, 0, 1, 2, 3])


def test_tensors_are_accepted():
    assert isinstance(activation_heatmap(torch.rand(3, 4)), Figure)
