"""Models: shapes, the linear special case, errors that say what to do."""

import pytest
import torch

from aecourse.checkpoints import build_model
from aecourse.models import AEConfig, ConvAutoencoder, DenseAutoencoder, count_parameters


@pytest.mark.parametrize("cls,shape,hidden", [
    (DenseAutoencoder, (1, 28, 28), (64,)),
    (DenseAutoencoder, (1, 8, 8), ()),
    (ConvAutoencoder, (1, 28, 28), (8, 16)),
    (ConvAutoencoder, (1, 64, 64), (8, 8, 16, 16)),
])
def test_round_trip_shapes(cls, shape, hidden):
    model = cls(in_shape=shape, latent_dim=5, hidden=hidden)
    x = torch.rand(3, *shape)
    z = model.encode(x)
    assert z.shape == (3, 5)
    x_hat = model.decode(z)
    assert x_hat.shape == x.shape
    assert torch.allclose(model(x), x_hat)
    assert ((x_hat >= 0) & (x_hat <= 1)).all()  # sigmoid output by default


def test_linear_autoencoder_is_linear():
    model = DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=3, hidden=(), activation="identity", output="identity")
    assert count_parameters(model) == (16 * 3 + 3) + (3 * 16 + 16)
    a, b = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4)
    zero = model(torch.zeros(1, 1, 4, 4))
    # affine map: f(a + b) - f(0) == (f(a) - f(0)) + (f(b) - f(0))
    assert torch.allclose(model(a + b) - zero, (model(a) - zero) + (model(b) - zero), atol=1e-5)


def test_count_parameters_skips_frozen():
    model = DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=2, hidden=(3,))
    total = count_parameters(model)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    assert count_parameters(model) < total
    assert count_parameters(model, trainable_only=False) == total


def test_build_model_from_config_dict():
    model = DenseAutoencoder(in_shape=(1, 8, 8), latent_dim=4, hidden=(10,))
    from aecourse.checkpoints import config_dict
    rebuilt = build_model("DenseAutoencoder", config_dict(model))
    assert rebuilt.config == model.config


@pytest.mark.parametrize("kwargs,match", [
    (dict(latent_dim=0), "latent_dim must be an integer >= 1"),
    (dict(activation="swishy"), "unknown activation 'swishy'"),
    (dict(in_shape=(28, 28)), "in_shape must be"),
])
def test_bad_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AEConfig(**kwargs)


def test_wrong_input_shape_says_how_to_fix():
    model = DenseAutoencoder(in_shape=(1, 28, 28), latent_dim=2)
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        model(torch.rand(5, 28, 28))
    with pytest.raises(ValueError, match=r"codes of shape \(batch, 2\)"):
        model.decode(torch.rand(5, 3))


def test_conv_rejects_indivisible_size():
    with pytest.raises(ValueError, match="not divisible"):
        ConvAutoencoder(in_shape=(1, 30, 30), latent_dim=2, hidden=(8, 8))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="known models"):
        build_model("Transformer", {})
