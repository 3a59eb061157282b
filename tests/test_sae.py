"""Sparse autoencoders: shapes, TopK, decoder norms, the losses against hand formulas, dead latents,
fit and checkpoints, and a short training run that beats chance at recovering known features."""

from __future__ import annotations

import math

import pytest
import torch

from aecourse import metrics
from aecourse.data import make_sparse_features
from aecourse.checkpoints import build_model, config_dict, load_checkpoint, save_checkpoint
from aecourse.sae import (SAE_RECIPES, SparseAutoencoder, SparseAutoencoderConfig, kl_sparsity_loss,
                          kl_sparsity_penalty, l1_loss, resample_dead_units_, topk_activation, topk_aux_loss, topk_loss,
                          train_sae)
from aecourse.train import evaluate, fit


def _sae(**kwargs) -> SparseAutoencoder:
    torch.manual_seed(0)
    return SparseAutoencoder(**{"in_shape": 8, "latent_dim": 16, **kwargs})


# --------------------------------------------------------------------------- shapes and config
@pytest.mark.parametrize("in_shape,x_shape", [(8, (5, 8)), ((8,), (5, 8)), ((1, 6, 6), (5, 1, 6, 6))])
@pytest.mark.parametrize("activation,k", [("relu", None), ("topk", 3), ("sigmoid", None)])
def test_shapes(in_shape, x_shape, activation, k):
    model = SparseAutoencoder(in_shape=in_shape, latent_dim=16, activation=activation, k=k)
    x = torch.rand(x_shape)
    z = model.encode(x)
    assert z.shape == (5, 16) and model.latent_dim == 16
    assert model.decode(z).shape == x.shape and model(x).shape == x.shape
    assert model.dictionary.shape == (16, math.prod(x_shape[1:]))
    if activation == "sigmoid":
        assert ((z > 0) & (z < 1)).all()
    else:
        assert (z >= 0).all()


def test_sigmoid_output_keeps_pixels_in_range():
    torch.manual_seed(0)  # unseeded, a large logit rounds to exactly 1.0 in float32 (still in range)
    model = SparseAutoencoder(in_shape=(1, 4, 4), latent_dim=8, output="sigmoid")
    x_hat = model(torch.rand(3, 1, 4, 4) * 10)
    assert ((x_hat >= 0) & (x_hat <= 1)).all() and x_hat.std() > 0


@pytest.mark.parametrize("kwargs,match", [
    (dict(activation="topk"), "needs k"),
    (dict(activation="topk", k=0), "needs k"),
    (dict(activation="topk", k=17), "from 1 to latent_dim=16"),
    (dict(activation="relu", k=3), "only used with activation='topk'"),
    (dict(activation="gelu"), "unknown sparse activation 'gelu'"),
    (dict(output="tanh"), "output must be"),
    (dict(latent_dim=0), "latent_dim must be"),
    (dict(in_shape=(0,)), "positive sizes"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseAutoencoderConfig(**{"in_shape": 8, "latent_dim": 16, **kwargs})


def test_wrong_shapes_say_how_to_fix():
    model = _sae()
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, 8\)"):
        model(torch.rand(4, 9))
    with pytest.raises(ValueError, match=r"codes of shape \(batch, 16\)"):
        model.decode(torch.rand(4, 3))
    images = SparseAutoencoder(in_shape=(1, 4, 4), latent_dim=4)
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        images(torch.rand(2, 4, 4))
    with pytest.raises(TypeError, match="not both"):
        SparseAutoencoder(SparseAutoencoderConfig(), latent_dim=3)


# --------------------------------------------------------------------------- TopK
def test_topk_activation_keeps_exactly_k_and_relus_them():
    pre = torch.tensor([[3.0, -1.0, 2.0, 0.5, 1.0], [-3.0, -1.0, -2.0, 0.5, -0.1]], requires_grad=True)
    z = topk_activation(pre, 2)
    assert z.tolist() == [[3.0, 0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.0]]  # negative winners are ReLU-ed
    z.sum().backward()
    assert pre.grad.tolist() == [[1, 0, 1, 0, 0], [0, 0, 0, 1, 0]]  # gradient only through kept, positive units
    with pytest.raises(ValueError, match="k must be between 1 and"):
        topk_activation(pre, 6)


def test_topk_model_has_exactly_k_nonzeros():
    model = _sae(activation="topk", k=3)
    with torch.no_grad():
        model.encoder.bias.fill_(10.0)  # every pre-activation positive: exactly k must survive
    z = model.encode(torch.randn(50, 8))
    assert ((z != 0).sum(1) == 3).all()
    model = _sae(activation="topk", k=3)
    assert ((model.encode(torch.randn(50, 8)) != 0).sum(1) <= 3).all()


# --------------------------------------------------------------------------- init and decoder norms
def test_init_is_unit_decoder_and_tied_encoder():
    model = _sae()
    assert torch.allclose(model.decoder.weight.norm(dim=0), torch.ones(16), atol=1e-6)
    assert torch.equal(model.encoder.weight, model.decoder.weight.T)
    assert (model.encoder.bias == 0).all() and (model.b_dec == 0).all()


def test_normalize_decoder_gives_unit_columns_and_keeps_directions():
    model = _sae()
    with torch.no_grad():
        model.decoder.weight.mul_(torch.linspace(0.1, 5, 16))  # columns of many lengths
    before = model.dictionary
    model.normalize_decoder_()
    assert torch.allclose(model.decoder.weight.norm(dim=0), torch.ones(16), atol=1e-6)
    assert torch.allclose(torch.cosine_similarity(before, model.dictionary, dim=1), torch.ones(16), atol=1e-6)


def test_init_b_dec_mean_and_geometric_median():
    model = _sae(in_shape=2, latent_dim=4)
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]])
    assert torch.allclose(model.init_b_dec_(x, method="mean"), x.mean(0))
    median = model.init_b_dec_(x)  # robust to the outlier: stays near the unit square
    assert torch.allclose(model.b_dec.detach(), median)
    assert (median < 1.5).all() and (median > 0.4).all()
    with pytest.raises(ValueError, match="'median' or 'mean'"):
        model.init_b_dec_(x, method="mode")
    with pytest.raises(ValueError, match="sigmoid"):
        _sae(output="sigmoid").init_b_dec_(torch.rand(5, 8))


def test_pre_bias_is_subtracted_before_encoding():
    model = _sae()
    x = torch.randn(4, 8)
    with torch.no_grad():
        model.b_dec.copy_(torch.randn(8))
    expected = torch.relu((x - model.b_dec) @ model.encoder.weight.T + model.encoder.bias)
    assert torch.allclose(model.encode(x), expected)
    assert torch.allclose(model.decode(expected), expected @ model.decoder.weight.T + model.b_dec)


# --------------------------------------------------------------------------- losses
def test_l1_loss_is_reconstruction_plus_penalty():
    model = _sae()
    x = torch.randn(6, 8)
    loss, logs = l1_loss(0.25)(model, x)
    z = model.encode(x)
    recon = ((model.decode(z) - x) ** 2).sum(1).mean()
    assert loss.item() == pytest.approx((recon + 0.25 * z.abs().sum(1).mean()).item(), rel=1e-5)
    assert logs["recon"] == pytest.approx(recon.item(), rel=1e-5)
    assert logs["l0"] == pytest.approx((z > 0).float().sum(1).mean().item())


def test_kl_penalty_equals_hand_formula():
    z = torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.7, 0.5]])
    rho = 0.2
    expected = 0.0
    for rho_hat in (0.2, 0.8, 0.5):  # column means
        expected += rho * math.log(rho / rho_hat) + (1 - rho) * math.log((1 - rho) / (1 - rho_hat))
    assert kl_sparsity_penalty(z, rho).item() == pytest.approx(expected, rel=1e-5)
    assert kl_sparsity_penalty(torch.full((4, 3), 0.2), 0.2).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_loss_combines_reconstruction_and_beta_kl():
    model = _sae(activation="sigmoid")
    x = torch.randn(6, 8)
    loss, logs = kl_sparsity_loss(rho=0.1, beta=2.0)(model, x)
    assert loss.item() == pytest.approx(logs["recon"] + 2.0 * logs["kl"], rel=1e-5)


def test_kl_needs_sigmoid_codes():
    with pytest.raises(ValueError, match="activation='sigmoid'"):
        kl_sparsity_loss()(_sae(activation="relu"), torch.randn(4, 8))
    with pytest.raises(ValueError, match=r"activations in \(0, 1\)"):
        kl_sparsity_penalty(torch.tensor([[2.0, 0.1]]), 0.1)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        kl_sparsity_loss(rho=1.0)


def test_aux_loss_zero_without_dead_and_positive_with_dead():
    model = _sae(activation="topk", k=2)
    x = torch.randn(32, 8)
    pre = model.pre_activations(x)
    x_hat = model.decode(model.activate(pre))
    none_dead = torch.zeros(16, dtype=torch.bool)
    assert topk_aux_loss(model, x, x_hat, pre, none_dead, aux_k=4).item() == 0.0

    dead = torch.zeros(16, dtype=torch.bool)
    dead[:6] = True
    aux = topk_aux_loss(model, x, x_hat, pre, dead, aux_k=4)
    assert aux.item() > 0
    model.zero_grad()
    aux.backward()
    # only dead units learn from it: live units' encoder rows and decoder columns get no gradient
    assert model.encoder.weight.grad[6:].abs().sum() == 0
    assert model.decoder.weight.grad[:, 6:].abs().sum() == 0
    assert model.encoder.weight.grad[:6].abs().sum() > 0


def test_topk_loss_tracks_steps_since_fired_in_training_only():
    model = _sae(activation="topk", k=2)
    with torch.no_grad():
        model.encoder.bias[5] = -100.0  # unit 5 can never fire
    loss_fn = topk_loss(aux_k=3, dead_steps_threshold=3)
    x = torch.randn(64, 8)
    model.train()
    for step in range(3):
        loss, logs = loss_fn(model, x)
        assert logs["aux"] == 0.0 if step < 2 else logs["aux"] > 0  # dead from the 3rd step on
    assert model.steps_since_fired[5] == 3
    assert model.dead_latents(3)[5] and logs["dead"] > 0
    fired = (model.encode(x) > 0).any(0)
    assert (model.steps_since_fired[fired] == 0).all()
    model.eval()
    loss_fn(model, x)
    assert model.steps_since_fired[5] == 3  # evaluation does not count as a training step


def test_loss_factories_validate():
    with pytest.raises(ValueError, match="l1_coeff must be a finite number >= 0"):
        l1_loss(-1)
    with pytest.raises(ValueError, match="aux_k must be a positive integer"):
        topk_loss(aux_k=0)
    with pytest.raises(ValueError, match="dead_steps_threshold"):
        topk_loss(dead_steps_threshold=0)
    with pytest.raises(ValueError, match="activation='topk'"):
        topk_loss()(_sae(), torch.randn(4, 8))


# --------------------------------------------------------------------------- resampling
def test_resample_dead_units_revives_them_and_resets_adam():
    data = make_sparse_features(512, d=8, n_features=12, seed=0)
    model = _sae()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    l1_loss(0.1)(model, data.x)[0].backward()
    opt.step()  # creates Adam state
    with torch.no_grad():
        model.encoder.bias[:5] = -100.0  # units 0-4 are dead
    assert (model.encode(data.x)[:, :5] == 0).all()

    n = resample_dead_units_(model, data.x, optimizer=opt)
    assert n == 5
    assert torch.allclose(model.decoder.weight[:, :5].norm(dim=0), torch.ones(5), atol=1e-5)
    assert (model.encoder.bias[:5] == 0).all()
    assert (model.encode(data.x)[:, :5] > 0).any(0).all()  # each points at an input, so fires on it
    state = opt.state[model.encoder.weight]
    assert (state["exp_avg"][:5] == 0).all() and (state["exp_avg_sq"][:5] == 0).all()
    assert (state["exp_avg_sq"][5:] != 0).any()
    assert resample_dead_units_(model, data.x) == 0  # nothing dead any more
    with pytest.raises(ValueError, match="boolean mask"):
        resample_dead_units_(model, data.x, dead=torch.zeros(3, dtype=torch.bool))


# --------------------------------------------------------------------------- fit, checkpoints, recipes
def test_fit_and_checkpoint_round_trip(tmp_path):
    data = make_sparse_features(400, d=8, n_features=12, seed=1)
    model = _sae(activation="topk", k=2)
    history = fit(model, data.x, loss_fn=topk_loss(dead_steps_threshold=5), epochs=3, batch_size=64, progress=False,
                  device="cpu", after_step=SparseAutoencoder.normalize_decoder_)
    assert len(history.train_loss) == 3 and {"recon", "aux", "l0", "dead"} <= set(history.logs)
    assert torch.allclose(model.decoder.weight.norm(dim=0), torch.ones(16), atol=1e-5)

    path = save_checkpoint(model, tmp_path / "sae.pt", seed=0)
    rebuilt, meta = load_checkpoint(path)
    assert isinstance(rebuilt, SparseAutoencoder) and rebuilt.config == model.config
    assert meta == {"seed": 0}
    assert torch.equal(rebuilt(data.x), model(data.x))
    assert torch.equal(rebuilt.steps_since_fired, model.steps_since_fired)  # the dead-latent clock travels too
    assert build_model("SparseAutoencoder", config_dict(model)).config == model.config
    assert evaluate(model, data.x, l1_loss(0.0)) == pytest.approx(((model(data.x) - data.x) ** 2).sum(1).mean().item(),
                                                                  rel=1e-4)


def test_short_training_recovers_features_far_better_than_chance():
    data = make_sparse_features(5000, seed=0)
    model, history = train_sae(data, "topk", epochs=20, device="cpu")  # 400 steps, well under a second
    chance = metrics.expected_random_mmcs(d=32, n_learned=128)
    assert metrics.mmcs(model, data) > chance + 0.4  # chance is ~0.44; this reaches ~0.98
    assert metrics.recovered_fraction(model, data) > 0.8
    assert history.logs["l0"][-1] <= 4


def test_train_sae_validates_recipes():
    assert set(SAE_RECIPES) == {"l1", "topk"}
    with pytest.raises(ValueError, match="unknown recipe 'dense'"):
        train_sae(torch.zeros(4, 8), "dense")
    with pytest.raises(ValueError, match=r"unknown recipe keys \['epoch'\]"):
        train_sae(torch.zeros(4, 8), "l1", epoch=3)
