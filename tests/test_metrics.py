"""Metrics pinned on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecourse import metrics as M
from aecourse.data import make_sparse_features

Z = np.array([
    [0.0, 2.0, 0.0, 0.5],
    [0.0, 0.0, 0.0, 1.0],
    [0.0, 3.0, 0.1, 0.0],
])


# --------------------------------------------------------------------------- sparsity
def test_l0_frequency_and_dead_on_a_hand_made_code():
    assert M.l0(Z) == pytest.approx((2 + 1 + 2) / 3)
    assert M.l0(Z, threshold=0.2) == pytest.approx((2 + 1 + 1) / 3)
    assert np.allclose(M.activation_frequency(Z), [0, 2 / 3, 1 / 3, 2 / 3])
    assert M.dead_fraction(Z) == pytest.approx(0.25)
    assert M.dead_fraction(frequency=M.activation_frequency(Z), min_frequency=0.4) == pytest.approx(0.5)
    assert M.l0(torch.tensor(Z)) == M.l0(Z)  # tensors and arrays alike


def test_log_density_histogram_counts_every_unit_once():
    rng = np.random.default_rng(0)
    z = (rng.random((1000, 50)) < np.linspace(0, 0.5, 50)) * 1.0  # unit 0 never fires
    counts, edges, n_dead = M.log_density_histogram(z, bins=10, low=-4)
    assert n_dead == 1 and counts.sum() + n_dead == 50
    assert len(edges) == 11 and edges[0] == -4 and edges[-1] == 0


def test_fvu_known_values():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 5))
    assert M.fraction_variance_unexplained(x, x) == 0.0
    mean_predictor = np.broadcast_to(x.mean(0), x.shape)
    assert M.fraction_variance_unexplained(x, mean_predictor) == pytest.approx(1.0)
    # by hand: x = [[0], [2]] has mean 1 and total variance 2; predicting [[1], [1]] leaves all of it
    assert M.fraction_variance_unexplained([[0.0], [2.0]], [[0.5], [2.0]]) == pytest.approx(0.25 / 2)
    # images are flattened
    imgs = rng.random((10, 1, 4, 4))
    assert M.fraction_variance_unexplained(imgs, imgs) == 0.0


def test_shrinkage_known_values():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 8))
    assert M.shrinkage(x, x) == pytest.approx(1.0)
    assert M.shrinkage(x, 0.5 * x) == pytest.approx(0.5)
    assert M.shrinkage(x, 2 * x) == pytest.approx(2.0)
    assert M.shrinkage(x, np.zeros_like(x)) == 0.0


# --------------------------------------------------------------------------- feature recovery
@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return make_sparse_features(10, seed=0).dictionary.numpy().astype(np.float64)  # (64, 32)


def test_perfect_dictionary(truth):
    assert M.mmcs(truth, truth) == pytest.approx(1.0)
    assert M.recovered_fraction(truth, truth) == 1.0
    match = M.matched_cosines(truth, truth)
    assert match.score == pytest.approx(1.0)
    assert np.array_equal(match.learned_index, np.arange(64))


def test_invariant_to_permutation_and_positive_rescaling(truth):
    rng = np.random.default_rng(3)
    noisy = truth + 0.1 * rng.normal(size=truth.shape)
    perm = rng.permutation(64)
    scaled = noisy[perm] * rng.uniform(0.1, 10, size=(64, 1))
    assert M.mmcs(scaled, truth) == pytest.approx(M.mmcs(noisy, truth))
    assert M.recovered_fraction(scaled, truth) == M.recovered_fraction(noisy, truth)
    a, b = M.matched_cosines(noisy, truth), M.matched_cosines(scaled, truth)
    assert a.score == pytest.approx(b.score)
    # the matching follows the permutation: true feature f is matched to the row that now holds it
    assert np.array_equal(perm[b.learned_index], a.learned_index)
    # flipping signs is *not* harmless: an SAE cannot use a feature pointing the wrong way
    assert M.mmcs(-truth, truth) < 0.5  # only other, unrelated features are left to match


def test_random_dictionary_scores_at_chance(truth):
    chance = M.expected_random_mmcs(d=32, n_learned=64)
    assert 0.35 < chance < 0.45
    rng = np.random.default_rng(4)
    scores = [M.mmcs(rng.normal(size=(64, 32)), truth) for _ in range(5)]
    assert np.mean(scores) == pytest.approx(chance, abs=0.02)
    assert M.recovered_fraction(rng.normal(size=(64, 32)), truth) == 0.0


def test_expected_random_mmcs_matches_theory_and_simulation():
    assert M.expected_random_mmcs(d=8, n_learned=1) == pytest.approx(0.0, abs=1e-9)  # symmetric cosine
    rng = np.random.default_rng(5)
    a = rng.normal(size=(20_000, 3, 16))
    a /= np.linalg.norm(a, axis=2, keepdims=True)
    simulated = (a[:, :, 0]).max(axis=1).mean()  # max of 3 cosines with e_0
    assert M.expected_random_mmcs(d=16, n_learned=3) == pytest.approx(simulated, abs=0.01)


def test_subset_of_true_features_gives_exact_recovered_fraction(truth):
    learned = truth[:48]  # 48 of 64 true features, exactly
    # the other 16 true features are random directions, far from all 48 (checked, not assumed)
    assert M.cosine_matrix(learned, truth)[:, 48:].max() < 0.9
    assert M.recovered_fraction(learned, truth) == 48 / 64
    match = M.matched_cosines(learned, truth)
    assert np.array_equal(match.learned_index[:48], np.arange(48))
    assert (match.learned_index[48:] == -1).all() and (match.cosines[48:] == 0).all()
    assert match.score == pytest.approx(48 / 64)


def test_one_to_one_matching_catches_a_merged_dictionary(truth):
    t = truth[:3]
    learned = np.stack([t[0], t[0], t[1]])  # t[0] twice, t[2] missing
    cos = M.cosine_matrix(learned, t)
    assert M.mmcs(learned, t) == pytest.approx((1 + 1 + cos[:, 2].max()) / 3)
    match = M.matched_cosines(learned, t)
    assert match.score == pytest.approx((1 + 1 + cos[0, 2]) / 3)  # t[2] gets the spare copy of t[0]
    assert sorted(match.order.tolist()) == [0, 1, 2]


def test_matching_order_puts_matched_units_first(truth):
    rng = np.random.default_rng(6)
    learned = np.concatenate([rng.normal(size=(10, 32)), truth[[5, 2, 7]]])  # 13 learned, 3 true
    match = M.matched_cosines(learned, truth[[2, 5, 7]])
    assert match.learned_index.tolist() == [11, 10, 12]
    assert match.order[:3].tolist() == [11, 10, 12] and sorted(match.order.tolist()) == list(range(13))


def test_accepts_models_and_datasets():
    from aecourse.sae import SparseAutoencoder

    data = make_sparse_features(10, seed=0)
    model = SparseAutoencoder(in_shape=32, latent_dim=64)
    with torch.no_grad():
        model.decoder.weight.copy_(data.dictionary.T * 3.0)  # columns = true features, rescaled
    assert M.mmcs(model, data) == pytest.approx(1.0, abs=1e-6)


def test_activation_correlation_is_a_permutation_for_a_permuted_code():
    rng = np.random.default_rng(7)
    a = rng.random((500, 6)) * (rng.random((500, 6)) < 0.3)
    perm = rng.permutation(6)
    z = np.concatenate([a[:, perm] * 2.0, np.zeros((500, 1))], axis=1)  # + one dead unit
    corr = M.activation_correlation(z, a)
    assert corr.shape == (7, 6)
    assert np.allclose(corr[np.arange(6), perm], 1.0)
    assert np.allclose(corr[6], 0.0)


def test_zero_length_learned_feature_gets_cosine_zero(truth):
    learned = np.concatenate([np.zeros((1, 32)), truth[:2]])
    cos = M.cosine_matrix(learned, truth[:2])
    assert np.all(np.isfinite(cos)) and np.allclose(cos[0], 0.0)


# --------------------------------------------------------------------------- errors
def test_error_messages(truth):
    with pytest.raises(ValueError, match="same d"):
        M.mmcs(np.zeros((4, 16)), truth)
    with pytest.raises(ValueError, match="one feature per row"):
        M.mmcs(np.zeros(32), truth)
    with pytest.raises(ValueError, match="NaN"):
        M.l0(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(n, latent_dim\)"):
        M.l0(np.zeros(5))
    with pytest.raises(ValueError, match="exactly one of"):
        M.dead_fraction()
    with pytest.raises(ValueError, match="exactly one of"):
        M.dead_fraction(Z, frequency=np.zeros(4))
    with pytest.raises(ValueError, match="same shape"):
        M.fraction_variance_unexplained(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no variance"):
        M.fraction_variance_unexplained(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="threshold is a cosine"):
        M.recovered_fraction(truth, truth, threshold=2)
    with pytest.raises(ValueError, match="same inputs"):
        M.activation_correlation(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(TypeError, match="tensor or an array"):
        M.l0("not a code")
