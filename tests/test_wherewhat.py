"""Chapter 07-where-what: soft masks, the masked decoder, perturbation simplicity and TPL, with known answers."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aecourse import checks, zoo
from conftest import assert_public_check
from aecourse import wherewhat as ww
from aecourse.checks import CheckFailed


def peaked(n, index, height=40.0):
    """Logits that put (almost) all probability on one position."""
    logits = torch.full((n,), -height)
    logits[index] = height
    return logits


# --------------------------------------------------------------------------- where: masks
@pytest.mark.parametrize("start,end", [(2, 5), (0, 7), (3, 3), (0, 0), (7, 7)])
def test_peaked_soft_interval_is_the_hard_interval(start, end):
    got = ww.soft_interval(peaked(8, start), peaked(8, end))
    want = torch.zeros(8)
    want[start:end + 1] = 1
    assert torch.allclose(got, want, atol=1e-6)


def test_an_end_before_the_start_gives_an_empty_interval():
    assert torch.allclose(ww.soft_interval(peaked(8, 5), peaked(8, 2)), torch.zeros(8), atol=1e-6)


def test_soft_interval_formula_batch_axes_and_range():
    g = torch.Generator().manual_seed(0)
    a, b = 3 * torch.randn(2, 4, 9, generator=g), 3 * torch.randn(2, 4, 9, generator=g)
    got = ww.soft_interval(a, b)
    p, q = a.softmax(-1), b.softmax(-1)
    by_hand = torch.stack([p[..., :i + 1].sum(-1) * q[..., i:].sum(-1) for i in range(9)], -1)
    assert got.shape == (2, 4, 9) and torch.allclose(got, by_hand, atol=1e-6)
    assert float(got.min()) >= 0 and float(got.max()) <= 1
    # equal logits: start and end uniform, P(start <= i) P(end >= i) = (i + 1)(n - i) / n^2
    flat = ww.soft_interval(torch.zeros(4), torch.zeros(4))
    assert torch.allclose(flat, torch.tensor([4, 6, 6, 4]) / 16.0)


def test_soft_interval_rejects_mismatched_or_integer_logits():
    with pytest.raises(ValueError, match="same shape"):
        ww.soft_interval(torch.zeros(3, 5), torch.zeros(3, 4))
    with pytest.raises(TypeError, match="floating-point"):
        ww.soft_interval(torch.zeros(5, dtype=torch.long), torch.zeros(5, dtype=torch.long))


def test_rectangle_masks_are_outer_products_in_the_unit_interval():
    g = torch.Generator().manual_seed(1)
    d, h, w = 3, 5, 7
    rs, re, cs, ce = (torch.randn(d, n, generator=g) for n in (h, h, w, w))
    masks = ww.soft_rectangle_masks(rs, re, cs, ce)
    assert masks.shape == (d, h, w)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    rows, cols = ww.soft_interval(rs, re), ww.soft_interval(cs, ce)
    assert torch.allclose(masks[1], torch.outer(rows[1], cols[1]))
    # a hard rectangle: rows 1..2, columns 3..5
    hard = ww.soft_rectangle_masks(peaked(h, 1)[None], peaked(h, 2)[None], peaked(w, 3)[None], peaked(w, 5)[None])
    want = torch.zeros(1, h, w)
    want[0, 1:3, 3:6] = 1
    assert torch.allclose(hard, want, atol=1e-6)
    assert torch.allclose(ww.mask_area(hard), torch.tensor([6 / 35]))


def test_compose_puts_each_effect_only_in_its_rectangle():
    h = w = 6
    spans = [((0, 1), (0, 5)), ((2, 4), (1, 2)), ((5, 5), (4, 5))]  # disjoint rectangles (rows, cols)
    masks = torch.cat([ww.soft_rectangle_masks(peaked(h, r0)[None], peaked(h, r1)[None], peaked(w, c0)[None],
                                               peaked(w, c1)[None]) for (r0, r1), (c0, c1) in spans])
    effects = torch.randn(2, 3, 4)
    base = torch.randn(4, h, w)
    features = ww.compose_masked(masks, effects, base)
    assert features.shape == (2, 4, h, w)
    inside_any = torch.zeros(h, w, dtype=torch.bool)
    for j, ((r0, r1), (c0, c1)) in enumerate(spans):
        block = features[:, :, r0:r1 + 1, c0:c1 + 1] - base[None, :, r0:r1 + 1, c0:c1 + 1]
        assert torch.allclose(block, effects[:, j, :, None, None].expand_as(block), atol=1e-5)
        inside_any[r0:r1 + 1, c0:c1 + 1] = True
    outside = (features - base)[:, :, ~inside_any]
    assert torch.allclose(outside, torch.zeros_like(outside), atol=1e-5)  # no latent outside its mask


def test_compose_names_the_shapes_it_expects():
    with pytest.raises(ValueError, match=r"masks .*\(d, h, w\)"):
        ww.compose_masked(torch.zeros(3, 4, 4), torch.zeros(2, 3, 5), torch.zeros(4, 4, 4))


def test_masked_decoder_shapes_broad_start_and_gradients():
    torch.manual_seed(0)
    dec = ww.MaskedDecoder(5, (1, 32, 32), channels=8, grid=8, effect_hidden=6)
    masks = dec.masks().detach()
    assert masks.shape == (5, 8, 8)
    assert float(masks.min()) > 0.85 and float(ww.mask_area(masks).min()) > 0.95  # every mask starts broad
    z = torch.randn(3, 5)
    out = dec(z)
    assert out.shape == (3, 1, 32, 32)
    out.square().sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0
               for p in (dec.row_start, dec.col_end, dec.base, dec.effects.w1))
    assert ww.MaskedDecoder(2, (3, 16, 16), channels=4)(torch.zeros(1, 2)).shape == (1, 3, 16, 16)
    assert ww.MaskedDecoder(2, (1, 8, 8), channels=4)(torch.zeros(1, 2)).shape == (1, 1, 8, 8)


def test_a_latent_changes_only_its_masks_cells_and_a_one_cell_rim():
    # With latent 0's mask confined to the corner cell, moving latent 0 leaves the rest of the image alone.
    torch.manual_seed(0)
    dec = ww.MaskedDecoder(2, (1, 32, 32), channels=4)
    with torch.no_grad():
        dec.row_start[0], dec.row_end[0] = peaked(8, 0), peaked(8, 0)
        dec.col_start[0], dec.col_end[0] = peaked(8, 0), peaked(8, 0)
        z = torch.zeros(2, 2)
        z[1, 0] = 3.0
        x = dec(z)
    changed = (x[0] - x[1]).abs()[0] > 1e-6
    # cell (0, 0) covers pixels 0..3; the two transposed convolutions reach up to pixel 6, no further
    assert changed[:4, :4].any() and not changed[7:, :].any() and not changed[:, 7:].any()


@pytest.mark.parametrize("shape,match", [((1, 28, 28), "power of two"), ((1, 32, 16), "square")])
def test_masked_decoder_rejects_unsupported_sizes(shape, match):
    with pytest.raises(ValueError, match=match):
        ww.MaskedDecoder(3, shape)


def test_masked_decoder_rejects_wrong_codes():
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        ww.MaskedDecoder(3, (1, 8, 8))(torch.zeros(2, 4))


# --------------------------------------------------------------------------- what: perturbation simplicity
class ZeroRecogniser(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, x1, x2):
        return torch.zeros(len(x1), self.d), torch.zeros(len(x1))


def linear_decoder(weight):
    """``decode(z) = z @ weight`` shaped as (n, 1, H, W) images; weight is (d, H*W) with H*W a square."""
    side = math.isqrt(weight.shape[1])
    return lambda z: (torch.as_tensor(z, dtype=torch.float32) @ weight).view(len(z), 1, side, side)


def test_sample_perturbations_distribution_and_seed():
    dims, eps = ww.sample_perturbations(5000, 7, scale=2.0, min_abs=0.5, generator=torch.Generator().manual_seed(0))
    assert dims.dtype == torch.long and set(dims.tolist()) == set(range(7))
    assert float(eps.abs().min()) >= 0.5 and float(eps.abs().max()) <= 2.0
    assert 0.45 < float((eps > 0).float().mean()) < 0.55
    again = ww.sample_perturbations(5000, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], dims) and torch.equal(again[1], eps)
    with pytest.raises(ValueError, match="min_abs"):
        ww.sample_perturbations(4, 3, scale=1.0, min_abs=2.0)


def test_perturbation_loss_of_a_blind_recogniser_is_log_d_plus_mean_eps_squared():
    d = 6
    decode = linear_decoder(torch.randn(d, 16))
    z = torch.randn(10, d)
    dims, eps = ww.sample_perturbations(10, d, generator=torch.Generator().manual_seed(3))
    loss, logs = ww.perturbation_loss(decode, ZeroRecogniser(d), z, dims, eps)
    assert math.isclose(logs["ps_ce"], math.log(d), rel_tol=1e-6)
    assert math.isclose(logs["ps_mse"], float(eps.pow(2).mean()), rel_tol=1e-6)
    assert math.isclose(loss.item(), math.log(d) + float(eps.pow(2).mean()), rel_tol=1e-6)


def test_perturbation_loss_is_deterministic_and_trains_decoder_and_recogniser():
    torch.manual_seed(0)
    dec = ww.MaskedDecoder(4, (1, 16, 16), channels=4)
    rec = ww.PerturbationRecogniser(4, (1, 16, 16), channels=(4, 8), hidden=16)
    z = torch.randn(8, 4)
    dims, eps = ww.sample_perturbations(8, 4, generator=torch.Generator().manual_seed(1))
    decode = lambda z: torch.sigmoid(dec(z))  # noqa: E731
    a, logs_a = ww.perturbation_loss(decode, rec, z, dims, eps)
    b, logs_b = ww.perturbation_loss(decode, rec, z, dims, eps)
    assert torch.equal(a, b) and logs_a == logs_b and {"ps_ce", "ps_mse", "ps_acc"} <= set(logs_a)
    a.backward()
    assert float(rec.net[0].weight.grad.abs().sum()) > 0 and float(dec.effects.w2.grad.abs().sum()) > 0


def test_perturbation_loss_moves_only_the_chosen_latent():
    seen = {}

    class Spy(ZeroRecogniser):
        def forward(self, x1, x2):
            seen["diff"] = (x2 - x1).flatten(1)
            return super().forward(x1, x2)

    weight = torch.eye(4, 16)  # latent k lights pixel k
    dims, eps = torch.tensor([2, 0]), torch.tensor([0.5, -1.5])
    ww.perturbation_loss(linear_decoder(weight), Spy(4), torch.randn(2, 4), dims, eps)
    want = torch.zeros(2, 16)
    want[0, 2], want[1, 0] = 0.5, -1.5
    assert torch.allclose(seen["diff"], want, atol=1e-6)


@pytest.mark.parametrize("bad,match", [
    (dict(dims=torch.tensor([0.0, 1.0])), "integer"), (dict(dims=torch.tensor([0, 4])), r"0\.\.3"),
    (dict(eps=torch.zeros(3)), r"shape \(2,\)"),
])
def test_perturbation_loss_validates(bad, match):
    args = dict(z=torch.zeros(2, 4), dims=torch.tensor([0, 1]), eps=torch.ones(2)) | bad
    with pytest.raises(ValueError, match=match):
        ww.perturbation_loss(linear_decoder(torch.zeros(4, 16)), ZeroRecogniser(4), **args)


def test_recogniser_shapes_and_sign_sensitivity():
    torch.manual_seed(0)
    rec = ww.PerturbationRecogniser(5, (1, 32, 32))
    x1, x2 = torch.rand(3, 1, 32, 32), torch.rand(3, 1, 32, 32)
    logits, eps_hat = rec(x1, x2)
    assert logits.shape == (3, 5) and eps_hat.shape == (3,)
    assert not torch.allclose(rec(x1, x2)[1], rec(x2, x1)[1])  # up and down are told apart
    with pytest.raises(ValueError, match="multiples of 4"):
        ww.PerturbationRecogniser(5, (1, 30, 30))


# --------------------------------------------------------------------------- TPL
def test_distances_are_zero_for_identical_images_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 1, 16, 16, generator=g)
    b = a.clone()
    b[1:, 0, 3:6, 3:6] += 0.3
    for dist in (ww.pixel_distance, ww.ssim_distance):
        assert np.all(dist(a, a) == 0)
        d = dist(a, b)
        assert d.shape == (4,) and d[0] == 0 and np.all(d[1:] > 0)
    black, white = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
    assert np.allclose(ww.pixel_distance(black, white), 1.0)  # RMS: 1 whatever the resolution
    assert np.allclose(ww.pixel_distance(a[:1], b[:1] + 0.1), 0.1)
    assert np.allclose(ww.pixel_distance(a.numpy(), b.numpy()), ww.pixel_distance(a, b))


def test_ssim_distance_matches_skimage_and_needs_a_7x7_window():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 1, 12, 12, generator=g), torch.rand(2, 1, 12, 12, generator=g)
    want = [1 - structural_similarity(a[i, 0].double().numpy(), b[i, 0].double().numpy(), data_range=1.0)
            for i in range(2)]
    assert np.allclose(ww.ssim_distance(a, b), want)
    with pytest.raises(ValueError, match="7x7"):
        ww.ssim_distance(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 5, 5))
    with pytest.raises(ValueError, match="same shape"):
        ww.pixel_distance(torch.zeros(1, 1, 8, 8), torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        ww.pixel_distance(torch.zeros(8, 8), torch.zeros(8, 8))


def test_an_ignored_latent_has_traversal_length_exactly_zero():
    weight = torch.randn(3, 64)
    weight[1] = 0  # the decoder ignores latent 1
    decode = lambda z: torch.sigmoid(linear_decoder(weight)(z))  # noqa: E731
    z0 = torch.randn(3)
    for distance in ("pixel", "ssim"):
        assert ww.traversal_length(decode, z0, 1, distance=distance) == 0.0
        assert ww.traversal_length(decode, z0, 0, distance=distance) > 0


@pytest.mark.parametrize("span,steps", [(2.0, 50), (1.0, 7), (3.0, 2)])
def test_linear_decoder_traversal_length_is_the_weight_norm_closed_form(span, steps):
    # decode(z) = z W: consecutive images differ by (2 span / (steps - 1)) W_k, whose RMS is that times
    # ||W_k|| / sqrt(P); the steps - 1 of them add up to 2 span ||W_k|| / sqrt(P), whatever the base code.
    weight = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
    decode = linear_decoder(weight)
    for k in range(4):
        want = 2 * span * float(weight[k].norm()) / 10.0
        got = ww.traversal_length(decode, torch.randn(4), k, span=span, steps=steps)
        assert math.isclose(got, want, rel_tol=1e-5)


class LinearModel:
    def __init__(self, weight):
        self.weight, self.latent_dim = weight, weight.shape[0]

    def decode(self, z):
        return linear_decoder(self.weight)(z)


def test_tpl_score_counts_active_latents_and_sums_their_lengths():
    g = torch.Generator().manual_seed(0)
    # rows of norm 8 * scale on 64 pixels: length 2 * 2 * 8 * scale / sqrt(64) = 4 * scale
    directions = F.normalize(torch.randn(5, 64, generator=g), dim=1) * 8
    scales = torch.tensor([1.0, 0.0, 0.5, 1e-4, 0.25])
    model = LinearModel(directions * scales[:, None])
    out = ww.tpl_score(model, num_traversals=3)
    assert np.allclose(out["per_latent"], [4.0, 0.0, 2.0, 4e-4, 1.0], rtol=1e-4, atol=1e-9)
    assert out["active"].tolist() == [True, False, True, False, True] and out["num_active"] == 3
    assert math.isclose(out["score"], 7.0, rel_tol=1e-5)
    assert out["active_thresh"] == ww.DEFAULT_ACTIVE_THRESH["pixel"]
    strict = ww.tpl_score(model, num_traversals=3, active_thresh=1.5)
    assert strict["num_active"] == 2 and math.isclose(strict["score"], 6.0, rel_tol=1e-5)
    assert np.allclose(ww.traversal_lengths(model, num_traversals=3), out["per_latent"])
    assert ww.traversal_lengths(model, num_traversals=3, return_all=True).shape == (3, 5)


def test_tpl_score_is_seeded_and_validates():
    torch.manual_seed(0)
    dec = ww.MaskedDecoder(3, (1, 16, 16), channels=4)

    class Model:
        latent_dim = 3

        def decode(self, z):
            return torch.sigmoid(dec(z))

    a = ww.tpl_score(Model(), num_traversals=4, steps=10, seed=1)
    b = ww.tpl_score(Model(), num_traversals=4, steps=10, seed=1)
    c = ww.tpl_score(Model(), num_traversals=4, steps=10, seed=2)
    assert np.array_equal(a["per_latent"], b["per_latent"]) and not np.array_equal(a["per_latent"], c["per_latent"])
    with pytest.raises(ValueError, match="unknown distance"):
        ww.tpl_score(Model(), distance="vgg")
    with pytest.raises(ValueError, match="steps"):
        ww.tpl_score(Model(), steps=1)
    with pytest.raises(TypeError, match="latent_dim"):
        ww.tpl_score(lambda z: z)
    with pytest.raises(ValueError, match="dim"):
        ww.traversal_length(Model().decode, torch.zeros(3), 3)


# --------------------------------------------------------------------------- the public checks
def ref_soft_interval(start_logits, end_logits):
    p, q = start_logits.softmax(-1), end_logits.softmax(-1)
    return p.cumsum(-1) * q.flip(-1).cumsum(-1).flip(-1)


def ref_compose(masks, effects, base):
    return base + (masks[None, :, None] * effects[:, :, :, None, None]).sum(1)


def ref_perturbation_loss(decode, recogniser, z, dims, eps):
    z2 = z.clone()
    z2[torch.arange(len(z)), dims] += eps
    logits, eps_hat = recogniser(decode(z), decode(z2))
    return F.cross_entropy(logits, dims) + ((eps_hat - eps) ** 2).mean()


def ref_traversal_length(decode, z0, dim, span=2.0, steps=50):
    codes = z0.repeat(steps, 1)
    codes[:, dim] = torch.linspace(-span, span, steps)
    images = decode(codes)
    return float(((images[1:] - images[:-1]) ** 2).flatten(1).mean(1).sqrt().sum())


def _every_latent(decode, recogniser, z, dims, eps):
    logits, eps_hat = recogniser(decode(z), decode(z + eps[:, None]))
    return F.cross_entropy(logits, dims) + F.mse_loss(eps_hat, eps)


def _ce_only(decode, recogniser, z, dims, eps):
    z2 = z + eps[:, None] * F.one_hot(dims, z.shape[1])
    return F.cross_entropy(recogniser(decode(z), decode(z2))[0], dims)


def _abs_eps(decode, recogniser, z, dims, eps):
    z2 = z + eps[:, None] * F.one_hot(dims, z.shape[1])
    logits, eps_hat = recogniser(decode(z), decode(z2))
    return F.cross_entropy(logits, dims) + F.mse_loss(eps_hat, eps.abs())


def _squared_steps(decode, z0, dim, span=2.0, steps=50):
    codes = z0.repeat(steps, 1)
    codes[:, dim] = torch.linspace(-span, span, steps)
    images = decode(codes)
    return float(((images[1:] - images[:-1]) ** 2).flatten(1).mean(1).sum())


def _one_step_too_many(decode, z0, dim, span=2.0, steps=50):
    return ref_traversal_length(decode, z0, dim, span, steps + 1)


def _last_pair_missing(decode, z0, dim, span=2.0, steps=50):
    codes = z0.repeat(steps, 1)
    codes[:, dim] = torch.linspace(-span, span, steps)
    images = decode(codes)
    return float(((images[1:-1] - images[:-2]) ** 2).flatten(1).mean(1).sqrt().sum())


CHECK_CASES = [
    (checks.wherewhat.soft_interval, ref_soft_interval, [
        (lambda a, b: a.softmax(-1).cumsum(-1) * b.softmax(-1).cumsum(-1), "P\\(end <= i\\)"),
        (lambda a, b: a.softmax(-1).cumsum(-1) * (1 - b.softmax(-1).cumsum(-1)), "P\\(end > i\\)"),
        (lambda a, b: torch.sigmoid(a).cumsum(-1) * torch.sigmoid(b).flip(-1).cumsum(-1).flip(-1), "sigmoid"),
        (lambda a, b: ref_soft_interval(a.transpose(0, -1), b.transpose(0, -1)).transpose(0, -1), "does not match"),
    ]),
    (checks.wherewhat.compose, ref_compose, [
        (lambda m, e, b: torch.einsum("dhw,bdc->bchw", m, e), "base is missing"),
        (lambda m, e, b: b + torch.einsum("dhw,bdc->bhwc", m, e).reshape(e.shape[0], *b.shape), "does not match"),
        (lambda m, e, b: b + (m[None, :, None] * e[:, :, :, None, None]).mean(1), "does not match"),
    ]),
    (checks.wherewhat.perturbation_loss, ref_perturbation_loss, [
        (_every_latent, "every latent"),
        (_ce_only, "eps term is missing"),
        (_abs_eps, r"\|eps\|"),
        (lambda *a: ref_perturbation_loss(*a).detach(), "autograd"),
        (lambda *a: (ref_perturbation_loss(*a), {}), "tuple"),
    ]),
    (checks.wherewhat.traversal_length, ref_traversal_length, [
        (_squared_steps, "squared distances"),
        (_one_step_too_many, "steps"),
        (_last_pair_missing, "does not match"),
        (lambda decode, z0, dim, span=2.0, steps=50: ref_traversal_length(decode, z0, dim, span, steps) + 0.5,
         "ignored"),
    ]),
]


@pytest.mark.parametrize("check,reference,wrong", CHECK_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_public_checks_pass_the_reference_and_fail_stubs_and_mistakes(check, reference, wrong, capsys):
    assert_public_check(check, reference, wrong, capsys, also_none=True)


def test_checks_accept_the_library_functions(capsys):
    checks.wherewhat.soft_interval(ww.soft_interval)
    checks.wherewhat.compose(ww.compose_masked)
    checks.wherewhat.perturbation_loss(lambda *a: ww.perturbation_loss(*a)[0])
    checks.wherewhat.traversal_length(lambda d, z0, dim, span=2.0, steps=50:
                                      ww.traversal_length(d, z0, dim, span=span, steps=steps))
    assert capsys.readouterr().out.count("public checks passed") == 4


# --------------------------------------------------------------------------- the zoo recipes
def test_where_recipes_are_masked_and_old_recipes_keep_their_manifest_form():
    where, what = zoo.RECIPES["dsprites_where"], zoo.RECIPES["dsprites_where_what"]
    assert where.decoder == what.decoder == "masked" and where.resolution == what.resolution == 32
    assert where.objective == "beta_tcvae" and what.objective == "beta_tcvae_ps" and what.ps_weight > 0
    assert where.beta == what.beta == 6.0 and where.steps == what.steps == 16000
    # Fields added later stay out of as_dict at their defaults, so shipped manifests and caches still match.
    old = zoo.RECIPES["dsprites_beta_tcvae"].as_dict()
    assert not {"encoder", "decoder", "ps_weight", "ps_batch", "alpha", "gamma"} & set(old)
    assert {"decoder", "ps_weight"} <= set(what.as_dict())
    with pytest.raises(ValueError, match="beta_tcvae_ps"):
        zoo.Recipe("dsprites", "beta_tcvae", ps_weight=1.0)
    with pytest.raises(ValueError, match="decoder='masked'"):
        zoo.Recipe("dsprites", "beta_tcvae", mask_weight=1.0)
    with pytest.raises(ValueError, match="alpha and gamma"):
        zoo.Recipe("dsprites", "beta_vae", alpha=0.5)
    assert zoo.Recipe("dsprites", "beta_tcvae", alpha=0.5).as_dict()["alpha"] == 0.5
    with pytest.raises(ValueError, match="annealed_vae"):
        zoo.Recipe("dsprites", "beta_vae", c_max=10.0)
    assert zoo.Recipe("dsprites", "annealed_vae", c_max=10.0).as_dict()["c_max"] == 10.0
    assert not {"c_max", "anneal_steps"} & set(old)


def test_zoo_trains_the_recogniser_but_saves_only_the_vae(monkeypatch, tmp_path):
    recipe = zoo.Recipe("dsprites", "beta_tcvae_ps", 6.0, steps=3, batch_size=16, resolution=16, hidden=(32,),
                        latent_dim=3, decoder="masked", ps_weight=1.0, ps_batch=8)
    monkeypatch.setitem(zoo.RECIPES, "tiny_ps", recipe)
    made = []
    original = zoo.make_objective

    def spy(*args, **kwargs):
        loss_fn = original(*args, **kwargs)
        made.append((loss_fn, {k: p.detach().clone() for k, p in loss_fn.named_parameters()}))
        return loss_fn

    monkeypatch.setattr(zoo, "make_objective", spy)
    model, meta = zoo.train("tiny_ps", progress=False)
    assert "ps_acc" in meta["history"]
    loss_fn, initial = made[0]
    assert isinstance(loss_fn, torch.nn.Module) and initial
    assert all(not torch.equal(p, initial[k]) for k, p in loss_fn.named_parameters())  # Adam moved the recogniser
    assert not any(k.startswith("recogniser") or "tcvae" in k for k in model.state_dict())
    entry = zoo._save(model, meta, tmp_path)
    assert entry["recipe"]["decoder"] == "masked"
    again, _ = zoo.train("tiny_ps", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    loaded = zoo._load_file(tmp_path, "tiny_ps")
    x = torch.rand(2, 1, 16, 16)
    assert loaded.config.decoder == "masked" and loaded.decode(loaded.encode(x)).shape == (2, 1, 16, 16)


# --------------------------------------------------------------------------- chapter 07's claims on the zoo
@pytest.mark.slow
def test_zoo_where_what_models_behave_as_chapter_07_says():
    """07-where-what tells the learner: the masks of the used latents stay broad on dSprites; the masked decoder
    is as disentangled as the MLP one and gets there much sooner; the what loss changes the final MIG little;
    the traversal length does not rank the models like MIG (the plain VAE scores highest)."""
    from scipy.stats import spearmanr

    from aecourse import zoo
    from aecourse.data.dsprites import DSpritesGroundTruth

    table = zoo.manifest()
    where = zoo.load("dsprites_where", progress=False)
    _, x = DSpritesGroundTruth(32).sample(2000, np.random.default_rng(0))
    with torch.no_grad():
        used = where.encode(torch.from_numpy(x)).std(0) > 0.05
    areas = ww.mask_area(where.decoder.masks().detach())
    assert used.sum() == 3 and (areas[used] > 0.75).all(), areas

    metric = {n: table[n]["metrics"] for n in table}
    assert abs(metric["dsprites_where"]["mig"] - metric["dsprites_beta_tcvae"]["mig"]) < 0.05
    assert abs(metric["dsprites_where_what"]["mig"] - metric["dsprites_where"]["mig"]) < 0.05
    first_mig = {n: table[n]["curve"][0][2] for n in ("dsprites_where", "dsprites_beta_tcvae")}
    assert first_mig["dsprites_where"] > 0.25 > 0.2 > first_mig["dsprites_beta_tcvae"], first_mig

    names = ["dsprites_ae", "dsprites_vae", "dsprites_beta_vae", "dsprites_beta_tcvae", "dsprites_where",
             "dsprites_where_what"]
    tpl = {n: ww.tpl_score(zoo.load(n, progress=False), num_traversals=50, seed=0)["score"] for n in names}
    assert max(tpl, key=tpl.get) == "dsprites_vae", tpl
    rho = spearmanr([tpl[n] for n in names], [metric[n]["mig"] for n in names])[0]
    assert abs(rho) < 0.5, rho
