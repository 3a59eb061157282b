"""VAEs and their objectives: known answers for every piece of the ELBO."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from aecourse.checkpoints import load_checkpoint, save_checkpoint
from aecourse.objectives import OBJECTIVES, make_objective
from aecourse.vae import (
    AnnealedCapacityLoss,
    FactorVAELoss,
    VAE,
    VAEConfig,
    ae_loss,
    bernoulli_reconstruction,
    beta_tcvae_loss,
    gaussian_kl,
    gaussian_log_density,
    kl_decomposition,
    permute_dims,
    reparameterize,
    vae_loss,
)


def _model(**kw):
    torch.manual_seed(0)
    return VAE(VAEConfig(**{"in_shape": (1, 8, 8), "latent_dim": 3, "hidden": (16,), **kw}))


def test_shapes_and_api():
    model = _model()
    x = torch.rand(5, 1, 8, 8)
    mu, logvar = model.posterior(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert torch.equal(model.encode(x), mu)  # the representation is the posterior mean
    out = model.decode(mu)
    out = out.detach()
    assert out.shape == (5, 1, 8, 8) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.allclose(model(x), out)
    assert torch.allclose(torch.sigmoid(model.decode_logits(mu)), out)


@pytest.mark.parametrize("bad", [torch.rand(5, 64), torch.rand(5, 1, 9, 8), torch.rand(1, 8, 8)])
def test_wrong_input_shape_names_the_expected_shape(bad):
    with pytest.raises(ValueError, match=r"\(batch, 1, 8, 8\)"):
        _model().encode(bad)


def test_wrong_code_shape():
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        _model().decode(torch.zeros(2, 4))


@pytest.mark.parametrize("kw", [dict(latent_dim=0), dict(hidden=()), dict(in_shape=(8, 8))])
def test_bad_config(kw):
    with pytest.raises(ValueError):
        VAEConfig(**kw)


def test_gaussian_kl_matches_torch_and_is_zero_at_the_prior():
    mu, logvar = torch.randn(7, 4), torch.randn(7, 4)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    assert torch.allclose(gaussian_kl(mu, logvar), ref, atol=1e-5)
    assert torch.equal(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))


def test_gaussian_log_density_matches_torch():
    z, mu, logvar = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    ref = Normal(mu, (0.5 * logvar).exp()).log_prob(z)
    assert torch.allclose(gaussian_log_density(z, mu, logvar), ref, atol=1e-5)


def test_reparameterize_moments_and_gradient():
    mu = torch.full((200_000, 1), 2.0, requires_grad=True)
    logvar = torch.full((200_000, 1), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    zs = z.detach()
    assert abs(float(zs.mean()) - 2.0) < 0.01 and abs(float(zs.std()) - 0.5) < 0.01
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None  # the point of the trick
    g = torch.Generator()
    a = reparameterize(mu, logvar, g.manual_seed(3))
    b = reparameterize(mu, logvar, g.manual_seed(3))
    assert torch.equal(a, b)


def test_bernoulli_reconstruction_is_summed_bce():
    logits, x = torch.randn(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    p = torch.sigmoid(logits)
    ref = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(bernoulli_reconstruction(logits, x), ref, atol=1e-5)


def test_kl_decomposition_terms_add_up_to_the_sampled_kl():
    # mi + tc + dwkl telescopes to E[log q(z|x) - log p(z)], whatever the estimator of q(z).
    torch.manual_seed(1)
    mu, logvar = torch.randn(64, 5), torch.randn(64, 5) * 0.3 - 1
    z = reparameterize(mu, logvar)
    parts = kl_decomposition(z, mu, logvar, dataset_size=10_000)
    sampled = (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, 0 * z, 0 * z)).sum(1).mean()
    assert torch.allclose(parts["mi"] + parts["tc"] + parts["dwkl"], sampled, atol=1e-4)


def test_total_correlation_is_larger_for_dependent_codes():
    # Two latents that are copies of each other carry total correlation; independent ones much less.
    torch.manual_seed(2)
    n = 512
    logvar = torch.full((n, 2), math.log(0.01))
    a = torch.randn(n, 1)
    dependent = torch.cat([a, a], 1)
    independent = torch.randn(n, 2)
    tc = {}
    for name, mu in {"dependent": dependent, "independent": independent}.items():
        z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
        tc[name] = float(kl_decomposition(z, mu, logvar, dataset_size=n)["tc"])
    assert tc["dependent"] > tc["independent"] + 1.0


def test_kl_decomposition_is_biased_for_fully_collapsed_posteriors():
    # every q(z|x_n) is the prior, so the true MI and TC are 0; the minibatch estimates are log N and (D-1) log N
    n, m, d = 737_280, 256, 10
    torch.manual_seed(0)
    parts = kl_decomposition(torch.randn(m, d), torch.zeros(m, d), torch.zeros(m, d), dataset_size=n)
    assert float(parts["mi"]) == pytest.approx(math.log(n), abs=1e-3)
    assert float(parts["tc"]) == pytest.approx((d - 1) * math.log(n), abs=1e-3)
    assert float(parts["dwkl"]) == pytest.approx(-d * math.log(n), abs=1e-3)  # the three still sum to KL = 0


def test_kl_decomposition_rejects_a_dataset_smaller_than_the_batch():
    z = torch.zeros(8, 2)
    with pytest.raises(ValueError, match="dataset_size"):
        kl_decomposition(z, z, z, dataset_size=4)


def test_objectives_logs_and_beta():
    model = _model()
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    torch.manual_seed(0)
    l1, logs1 = vae_loss(1.0)(model, x)
    torch.manual_seed(0)
    l4, logs4 = vae_loss(4.0)(model, x)
    assert logs1.keys() == {"recon", "kl"}
    assert math.isclose((l4 - l1).item(), 3 * logs1["kl"], rel_tol=1e-4)  # same noise: only beta differs
    loss, logs = ae_loss()(model, x)
    assert set(logs) == {"recon"} and math.isclose(loss.item(), logs["recon"], rel_tol=1e-6)
    loss, logs = beta_tcvae_loss(6.0, dataset_size=1000)(model, x)
    assert {"recon", "kl", "mi", "tc", "dwkl"} <= set(logs)
    expected = logs["recon"] + logs["mi"] + 6 * logs["tc"] + logs["dwkl"]
    assert math.isclose(loss.item(), expected, rel_tol=1e-4, abs_tol=1e-3)
    # alpha and gamma weight the MI and dimension-wise KL terms; make_objective passes them through
    torch.manual_seed(0)
    loss, logs = make_objective("beta_tcvae", beta=6.0, dataset_size=1000, alpha=0.25, gamma=2.0)(model, x)
    expected = logs["recon"] + 0.25 * logs["mi"] + 6 * logs["tc"] + 2.0 * logs["dwkl"]
    assert math.isclose(loss.item(), expected, rel_tol=1e-4, abs_tol=1e-3)


def test_annealed_capacity_tracks_a_linear_schedule_and_counts_only_training_steps():
    model = _model()
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    loss_fn = make_objective("annealed_vae", beta=1000.0, c_max=10.0, anneal_steps=4)
    assert isinstance(loss_fn, AnnealedCapacityLoss)
    assert [loss_fn.capacity(t) for t in (0, 1, 4, 9)] == [0.0, 2.5, 10.0, 10.0]
    capacities = []
    for _ in range(3):
        torch.manual_seed(0)
        loss, logs = loss_fn(model, x)
        capacities.append(logs["capacity"])
        # the loss is recon + gamma * |KL - C| with the C of this step
        assert math.isclose(loss.item(), logs["recon"] + 1000 * abs(logs["kl"] - logs["capacity"]), rel_tol=1e-4)
    assert capacities == [0.0, 2.5, 5.0] and loss_fn.steps_done == 3
    with torch.no_grad():
        loss_fn(model, x)  # an evaluation call does not advance the schedule
    model.eval()
    loss_fn(model, x)
    assert loss_fn.steps_done == 3
    with pytest.raises(ValueError, match="anneal_steps"):
        AnnealedCapacityLoss(anneal_steps=0)


def test_permute_dims_keeps_each_marginal_and_breaks_the_pairing():
    torch.manual_seed(0)
    z = torch.arange(200.0).reshape(100, 2)
    z[:, 1] = z[:, 0]  # perfectly dependent columns
    p = permute_dims(z)
    for j in range(2):  # each column is a permutation of itself
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    assert (p[:, 0] == p[:, 1]).float().mean() < 0.1  # rows no longer pair up


def test_factor_vae_discriminator_estimates_a_known_total_correlation():
    # Two Gaussians with correlation rho have TC = -log(1 - rho^2) / 2 (0.83 nats at 0.9); independent ones 0.
    torch.manual_seed(0)
    loss_fn = FactorVAELoss(latent_dim=2, hidden=(64, 64))
    opt = torch.optim.Adam(loss_fn.parameters(), lr=3e-3)
    rho = 0.9

    def codes(n, r):
        a, b = torch.randn(2, n)
        return torch.stack([a, r * a + math.sqrt(1 - r * r) * b], 1)

    for _ in range(600):
        loss, _ = loss_fn.discriminator_loss(codes(512, rho))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        tc = loss_fn.estimate_tc(codes(20000, rho)).item()
    assert 0.6 < tc < 1.1, tc  # -log(1 - 0.81) / 2 = 0.830
    torch.manual_seed(1)
    fresh = FactorVAELoss(latent_dim=2, hidden=(64, 64))
    opt = torch.optim.Adam(fresh.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _ = fresh.discriminator_loss(codes(512, 0.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert abs(fresh.estimate_tc(codes(20000, 0.0)).item()) < 0.1


def test_factor_vae_gradients_do_not_mix():
    # The VAE's part must not train the discriminator, and the discriminator's must not train the VAE.
    model = _model()
    x = (torch.rand(32, 1, 8, 8) > 0.5).float()

    def grads(gamma):
        torch.manual_seed(0)
        loss_fn = make_objective("factor_vae", beta=gamma, latent_dim=3)
        torch.manual_seed(1)
        model.zero_grad()
        loss, logs = loss_fn(model, x)
        loss.backward()
        expected = logs["recon"] + logs["kl"] + gamma * logs["tc"] + logs["disc_loss"]
        assert math.isclose(loss.item(), expected, rel_tol=1e-4)
        return ([p.grad.clone() for p in loss_fn.parameters()], [p.grad.clone() for p in model.parameters()])

    d0, m0 = grads(0.0)
    d100, m100 = grads(100.0)
    assert all(torch.allclose(a, b) for a, b in zip(d0, d100))  # gamma moves no discriminator gradient
    assert any(not torch.allclose(a, b) for a, b in zip(m0, m100))  # ...but does move the VAE's
    torch.manual_seed(1)
    model.zero_grad()
    vae_loss(1.0)(model, x)[0].backward()
    assert all(torch.allclose(a, p.grad) for a, p in zip(m0, model.parameters()))  # at gamma 0: the plain VAE's
    with pytest.raises(ValueError, match="latent_dim"):
        make_objective("factor_vae")
    with pytest.raises(ValueError, match="latent_dim=4"):
        FactorVAELoss(latent_dim=4)(model, x)


def test_objective_errors():
    with pytest.raises(ValueError, match="unknown objective"):
        make_objective("wae")
    with pytest.raises(ValueError, match="dataset_size"):
        make_objective("beta_tcvae")
    with pytest.raises(ValueError, match="beta"):
        vae_loss(-1)
    with pytest.raises(TypeError, match="needs a VAE"):
        vae_loss()(torch.nn.Linear(2, 2), torch.zeros(1, 2))


def test_training_lowers_the_loss_and_is_reproducible():
    from aecourse.data.dsprites import DSpritesGroundTruth

    data = DSpritesGroundTruth(resolution=16)
    _, x = data.sample(512, 0)
    x = torch.from_numpy(x)

    def run():
        torch.manual_seed(0)
        model = VAE(VAEConfig((1, 16, 16), 4, (64,)))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = make_objective("beta_vae", beta=2.0)
        losses = []
        for step in range(150):
            batch = x[(step * 64) % 512:(step * 64) % 512 + 64]
            loss, _ = loss_fn(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.mean(losses[:10]), np.mean(losses[-10:])

    first, last = run()
    assert last < 0.6 * first
    assert run() == (first, last)


def test_checkpoint_rebuilds_a_vae(tmp_path):
    model = _model()
    path = save_checkpoint(model, tmp_path / "vae.pt", note="x")
    loaded, meta = load_checkpoint(path)
    assert isinstance(loaded, VAE) and loaded.config == model.config and meta == {"note": "x"}
    x = torch.rand(2, 1, 8, 8)
    assert torch.allclose(loaded.encode(x), model.encode(x))


# --------------------------------------------------------------------------- architectures (chapter 07)
@pytest.mark.parametrize("encoder,decoder,side", [("conv", "conv", 32), ("conv", "conv", 64), ("mlp", "masked", 32),
                                                  ("conv", "masked", 64), ("conv", "mlp", 32), ("mlp", "masked", 8),
                                                  ("mlp", "broadcast", 32), ("conv", "broadcast", 64),
                                                  ("mlp", "broadcast", 7)])
def test_encoder_and_decoder_choices_keep_the_api(encoder, decoder, side):
    torch.manual_seed(0)
    model = VAE(VAEConfig((1, side, side), 3, (16,), encoder=encoder, decoder=decoder))
    x = torch.rand(2, 1, side, side)
    mu, logvar = model.posterior(x)
    assert mu.shape == logvar.shape == (2, 3)
    assert model.decode_logits(mu).shape == (2, 1, side, side)
    out = model(x).detach()
    assert out.shape == (2, 1, side, side) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_conv_layers_are_the_documented_ones():
    model = VAE(VAEConfig((1, 64, 64), 10, encoder="conv", decoder="conv"))
    convs = [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding) for m in model.encoder
             if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(1, 32, (4, 4), (2, 2), (1, 1)), (32, 32, (4, 4), (2, 2), (1, 1)),
                     (32, 64, (4, 4), (2, 2), (1, 1)), (64, 64, (4, 4), (2, 2), (1, 1))]
    linears = [(m.in_features, m.out_features) for m in model.encoder if isinstance(m, torch.nn.Linear)]
    assert linears == [(64 * 4 * 4, 256), (256, 20)]
    transposed = [(m.in_channels, m.out_channels) for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert transposed == [(64, 64), (64, 32), (32, 32), (32, 1)]
    small = VAE(VAEConfig((1, 32, 32), 10, encoder="conv", decoder="conv"))
    assert sum(isinstance(m, torch.nn.Conv2d) for m in small.encoder) == 3
    assert [m.out_channels for m in small.decoder if isinstance(m, torch.nn.ConvTranspose2d)] == [32, 32, 1]


@pytest.mark.parametrize("kw,match", [
    (dict(in_shape=(1, 28, 28), encoder="conv"), "conv encoder takes square 32x32 or 64x64 images, got 28x28"),
    (dict(in_shape=(1, 28, 28), decoder="conv"), "conv decoder .* got 28x28"),
    (dict(in_shape=(1, 28, 28), decoder="masked"), "8 times a power of two"),
    (dict(in_shape=(1, 28, 32), decoder="broadcast"), "broadcast decoder makes square images, got 28x32"),
    (dict(encoder="masked"), "unknown encoder"),
    (dict(decoder="transformer"), "unknown decoder"),
])
def test_config_rejects_unsupported_architectures_with_a_fix(kw, match):
    with pytest.raises(ValueError, match=match):
        VAEConfig(**kw)


def test_configs_saved_before_the_architecture_options_still_load(tmp_path):
    from aecourse.checkpoints import build_model, config_dict

    model = _model()
    old = {k: v for k, v in config_dict(model).items() if k not in ("encoder", "decoder")}
    rebuilt = build_model("VAE", old)
    assert rebuilt.config == model.config and rebuilt.config.encoder == rebuilt.config.decoder == "mlp"
    rebuilt.load_state_dict(model.state_dict())  # same parameter names as before conv and masked existed
    path = save_checkpoint(model, tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"] = old
    torch.save(payload, path)
    loaded, _ = load_checkpoint(path)
    x = torch.rand(2, 1, 8, 8)
    assert torch.allclose(loaded.encode(x), model.encode(x))


def test_masked_conv_and_broadcast_checkpoints_round_trip(tmp_path):
    for kw in (dict(decoder="masked"), dict(encoder="conv", decoder="conv"), dict(decoder="broadcast")):
        torch.manual_seed(0)
        model = VAE(VAEConfig((1, 32, 32), 3, (16,), **kw))
        loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))
        assert loaded.config == model.config
        z = torch.randn(2, 3)
        assert torch.allclose(loaded.decode(z), model.decode(z))


def test_perturbation_objective_is_finite_and_trains_its_recogniser():
    torch.manual_seed(0)
    model = _model(in_shape=(1, 16, 16), decoder="masked")
    loss_fn = make_objective("beta_tcvae_ps", beta=6.0, dataset_size=1000, latent_dim=3, image_shape=(1, 16, 16),
                             ps_weight=2.0, ps_batch=8)
    assert isinstance(loss_fn, torch.nn.Module) and "beta_tcvae_ps" in OBJECTIVES
    x = (torch.rand(16, 1, 16, 16) > 0.5).float()
    torch.manual_seed(1)
    loss, logs = loss_fn(model, x)
    assert torch.isfinite(loss) and {"recon", "tc", "ps", "ps_ce", "ps_mse", "ps_acc"} <= set(logs)
    tcvae_part = logs["recon"] + logs["mi"] + 6 * logs["tc"] + logs["dwkl"]
    assert math.isclose(loss.item(), tcvae_part + 2.0 * logs["ps"], rel_tol=1e-4, abs_tol=1e-3)
    loss.backward()
    grads = [p.grad for p in loss_fn.recogniser.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert model.decoder.row_start.grad is not None  # the masks learn from it too
    torch.manual_seed(1)
    again, _ = loss_fn(model, x)
    assert again.item() == loss.item()  # seeded: the same draws


def test_perturbation_objective_errors():
    with pytest.raises(ValueError, match="latent_dim and image_shape"):
        make_objective("beta_tcvae_ps", dataset_size=100)
    with pytest.raises(ValueError, match="dataset_size"):
        make_objective("beta_tcvae_ps", latent_dim=3, image_shape=(1, 8, 8))
    loss_fn = make_objective("beta_tcvae_ps", dataset_size=100, latent_dim=4, image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="latent_dim=4"):
        loss_fn(_model(), torch.rand(4, 1, 8, 8))


def test_mask_area_penalty_adds_the_summed_areas_and_keeps_the_recogniser_trainable():
    from aecourse.wherewhat import MaskAreaPenalty
    from aecourse.wherewhat import mask_area

    torch.manual_seed(0)
    model = _model(decoder="masked")
    x = (torch.rand(8, 1, 8, 8) > 0.5).float()
    torch.manual_seed(1)
    plain, _ = vae_loss(1.0)(model, x)
    torch.manual_seed(1)
    loss, logs = make_objective("vae", mask_weight=3.0)(model, x)
    areas = mask_area(model.decoder.masks())
    assert math.isclose(loss.item(), plain.item() + 3.0 * areas.sum().item(), rel_tol=1e-5)
    assert math.isclose(logs["mask_area"], areas.mean().item(), rel_tol=1e-5)
    loss.backward()
    assert float(model.decoder.row_start.grad.abs().sum()) > 0
    wrapped = make_objective("beta_tcvae_ps", dataset_size=100, latent_dim=3, image_shape=(1, 8, 8), mask_weight=1.0)
    assert isinstance(wrapped, MaskAreaPenalty) and len(list(wrapped.parameters())) > 0  # the recogniser's
    with pytest.raises(TypeError, match="decoder='masked'"):
        make_objective("vae", mask_weight=1.0)(_model(), x)
    with pytest.raises(ValueError, match=">= 0"):
        MaskAreaPenalty(vae_loss(), -1.0)
