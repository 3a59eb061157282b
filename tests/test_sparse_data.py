"""The sparse chapters' datasets: the worked example's patterns and the synthetic sparse features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecourse.data import (SPARSE_PRESETS, NamedVectors, SparseFeatures, available_datasets, load,
                           make_sparse_features, sparse_patterns)


def test_sparse_patterns_are_the_worked_example():
    p = sparse_patterns()
    assert isinstance(p, NamedVectors)
    assert p.names == ("A", "B", "C")
    assert p.x.dtype == torch.float32 and p.x.shape == (3, 4)
    assert p.x.tolist() == [[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]]
    assert len(p) == 3 and "A" in repr(p)


def test_named_vectors_validates():
    with pytest.raises(ValueError, match="one name per row"):
        NamedVectors(torch.zeros(3, 2), ("a", "b"))
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        NamedVectors(torch.zeros(3), ("a", "b", "c"))


@pytest.fixture(scope="module")
def features() -> SparseFeatures:
    return make_sparse_features(4000, seed=3)


def test_shapes_dtypes_and_generative_model(features):
    f = features
    assert f.x.shape == (4000, 32) and f.dictionary.shape == (64, 32) and f.activations.shape == (4000, 64)
    assert f.x.dtype == f.dictionary.dtype == f.activations.dtype == torch.float32
    assert (f.d, f.n_features) == (32, 64)
    # unit-norm rows, and x is exactly the sum of the active features' magnitude x direction
    assert torch.allclose(f.dictionary.norm(dim=1), torch.ones(64), atol=1e-5)
    assert torch.allclose(f.x, f.activations @ f.dictionary, atol=1e-5)


def test_sparsity_and_magnitudes(features):
    a = features.activations
    active = a[a > 0]
    assert active.min() >= 0.5 and active.max() <= 1.5
    assert features.p_active == pytest.approx(4 / 64)
    # ~4 active per input: binomial(64, 1/16) has mean 4 and sd ~1.9; 4000 inputs pin the mean to +-0.1
    assert features.mean_active() == pytest.approx(4.0, abs=0.15)
    # each feature fires independently with probability p: per-feature rates near 1/16
    rates = (a > 0).float().mean(0)
    assert rates.min() > 0.03 and rates.max() < 0.1


def test_deterministic_prefix_stable_and_dictionary_independent_of_n():
    a, b = make_sparse_features(500, seed=7), make_sparse_features(500, seed=7)
    assert torch.equal(a.x, b.x) and torch.equal(a.dictionary, b.dictionary)
    longer = make_sparse_features(1000, seed=7)
    assert torch.equal(longer.dictionary, a.dictionary)
    assert torch.equal(longer.x[:500], a.x)
    other = make_sparse_features(500, seed=8)
    assert not torch.equal(other.dictionary, a.dictionary)


def test_presets_and_overrides():
    hard = make_sparse_features(100, preset="hard")
    assert (hard.d, hard.n_features) == (SPARSE_PRESETS["hard"]["d"], SPARSE_PRESETS["hard"]["n_features"]) == (64, 256)
    assert hard.p_active == pytest.approx(4 / 256)
    custom = make_sparse_features(100, d=16, n_features=20, p_active=0.5, magnitude=1.0)
    assert (custom.d, custom.n_features) == (16, 20)
    assert set(custom.activations.unique().tolist()) <= {0.0, 1.0}  # a fixed magnitude
    assert (make_sparse_features(10, preset="hard", d=8).d) == 8  # explicit beats preset


def test_indexing_and_split(features):
    train, test = features.split(0.75)
    assert (len(train), len(test)) == (3000, 1000)
    assert torch.equal(train.dictionary, features.dictionary)
    assert torch.equal(test.x, features.x[3000:])
    assert len(features[5]) == 1 and len(features[-1]) == 1
    assert torch.equal(features[-1].x, features.x[-1:])
    assert "n_features=64" in repr(features)


@pytest.mark.parametrize("kwargs,match", [
    (dict(preset="easy"), r"preset must be one of \['default', 'hard'\], got 'easy'"),
    (dict(n=0), "n must be an integer >= 1"),
    (dict(p_active=0.0), r"p_active is a probability"),
    (dict(p_active=1.5), r"p_active is a probability"),
    (dict(magnitude=(-1, 1)), "magnitude must be a range of numbers > 0"),
    (dict(magnitude=(2, 1)), "low <= high"),
    (dict(d=0), "d must be an integer >= 1"),
    (dict(seed=-1), "seed must be an integer >= 0"),
])
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sparse_features(**{"n": 10, **kwargs})


def test_load_by_name():
    assert {"sparse_patterns", "sparse_features"} <= set(available_datasets())
    assert load("sparse_patterns").names == ("A", "B", "C")
    data = load("sparse_features", n=50, seed=1)
    assert isinstance(data, SparseFeatures) and len(data) == 50
    assert np.allclose(data.x.numpy(), make_sparse_features(50, seed=1).x.numpy())
