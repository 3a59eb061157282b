"""Interventional assays (chapter 06): known answers on toy autoencoders, the public checks, widget and figures."""

from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from matplotlib.figure import Figure

from aecourse import checks
from conftest import assert_public_check
from aecourse import interventions as iv
from aecourse.checks import CheckFailed
from aecourse.vae import VAE, reparameterize
from aecourse.viz import response_heatmap, response_map_figure
from aecourse.widgets import HIGHLIGHT_COLOUR, InterventionExplorer, intervention_explorer


# --------------------------------------------------------------------------- toy autoencoders
class Identity:
    """decode(z) = z, encode(x) = x: every code is its own response, R(z) = z."""

    def __init__(self, latent_dim: int = 3):
        self.latent_dim = latent_dim

    def encode(self, x):
        return torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)

    def decode(self, z):
        return z


class DeadLatent(Identity):
    """The decoder ignores latent ``dead``: the images carry no trace of it."""

    def __init__(self, latent_dim: int = 3, dead: int = 1):
        super().__init__(latent_dim)
        self.dead = dead

    def decode(self, z):
        out = z.clone()
        out[:, self.dead] = 0.0
        return out


class Shrink(Identity):
    """R(z) = c z: a contraction toward the origin (c < 1)."""

    def __init__(self, latent_dim: int = 3, c: float = 0.5):
        super().__init__(latent_dim)
        self.c = c

    def decode(self, z):
        return self.c * z


class Mixing(Identity):
    """encode rotates the first two factors by 45 degrees; decode undoes it, so R(z) = z still."""

    def __init__(self, latent_dim: int = 3):
        super().__init__(latent_dim)
        c = np.sqrt(0.5)
        self.rot = torch.eye(latent_dim)
        self.rot[:2, :2] = torch.tensor([[c, -c], [c, c]])

    def encode(self, x):
        return super().encode(x) @ self.rot

    def decode(self, z):
        return z @ self.rot.T


class Permuted(Identity):
    """encode permutes (and rescales) the factors; decode undoes it."""

    perm = [2, 0, 1]

    def encode(self, x):
        return 2.0 * super().encode(x)[:, self.perm]

    def decode(self, z):
        return z[:, np.argsort(self.perm)] / 2.0


class FactorData:
    """A GroundTruthData whose observations are the factor classes themselves (as float32)."""

    factor_sizes = (3, 5, 4)

    def sample_factors(self, n, rng):
        return np.random.default_rng(rng).integers(0, self.factor_sizes, size=(n, len(self.factor_sizes)))

    def sample_observations_from_factors(self, factors, rng):
        return np.asarray(factors, dtype=np.float32)


def tiny_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(in_shape=(1, 8, 8), latent_dim=4, hidden=(16,)).eval()


# --------------------------------------------------------------------------- latent_response, intervene
def test_latent_response_is_encode_of_decode_on_cpu_in_batches():
    model = tiny_vae()
    z = torch.randn(10, 4)
    with torch.no_grad():
        want = model.encode(model.decode(z))
    got = iv.latent_response(model, z, batch_size=3)
    assert got.dtype == torch.float32 and got.device.type == "cpu" and not got.requires_grad
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(iv.latent_response(model, z.numpy()), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(iv.latent_response(Identity(), z[:, :3]), z[:, :3])


def test_latent_response_restores_training_mode_and_reads_tuple_means():
    model = tiny_vae().train()
    iv.latent_response(model, torch.zeros(2, 4))
    assert model.training

    class TupleEncoder(Identity):
        def encode(self, x):
            return x, torch.zeros_like(x)  # (mu, logvar)

    np.testing.assert_allclose(iv.latent_response(TupleEncoder(), torch.ones(2, 3)), 1.0)


def test_latent_response_rejects_bad_codes():
    model = tiny_vae()
    with pytest.raises(ValueError, match=r"shape \(n, 4\) \(the model's latent_dim\), got 3 latents per row"):
        iv.latent_response(model, torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"shape \(n, 4\).*z\[None\]"):
        iv.latent_response(model, torch.zeros(4))
    with pytest.raises(TypeError, match="encode"):
        iv.latent_response(object(), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="batch_size"):
        iv.latent_response(model, torch.zeros(1, 4), batch_size=0)


def test_intervene_sets_one_column_and_leaves_z_alone():
    z = torch.randn(5, 3)
    before = z.clone()
    out = iv.intervene(z, 1, torch.arange(5.0))
    torch.testing.assert_close(out[:, 1], torch.arange(5.0))
    torch.testing.assert_close(out[:, [0, 2]], z[:, [0, 2]])
    assert torch.equal(z, before) and out is not z
    torch.testing.assert_close(iv.intervene(z, 2, 7.0)[:, 2], torch.full((5,), 7.0))
    assert torch.equal(z, before)
    with pytest.raises(ValueError, match="dim must be a latent index from 0 to 2"):
        iv.intervene(z, 3, 0.0)
    with pytest.raises(ValueError, match=r"one per row, shape \(5,\)"):
        iv.intervene(z, 0, torch.zeros(4))


# --------------------------------------------------------------------------- sampling
def test_posterior_values_come_from_other_rows_of_the_same_column():
    codes = torch.arange(20.0).reshape(10, 2) + torch.tensor([0.0, 0.5])  # every entry unique
    z, values = iv.sample_interventions(codes, 8, generator=0)
    assert z.shape == values.shape == (8, 2)
    rows = [int(r) for r in (z[:, 0] / 2).round()]
    assert len(set(rows)) == 8  # without replacement when there are enough codes
    for j in range(2):
        value_rows = ((values[:, j] - codes[0, j]) / 2).round().long()
        torch.testing.assert_close(values[:, j], codes[value_rows, j])  # a value of latent j from the data
        assert all(int(v) != r for v, r in zip(value_rows, rows))  # ... never the base row's own
    z2, values2 = iv.sample_interventions(codes, 8, generator=0)
    assert torch.equal(z, z2) and torch.equal(values, values2)  # seeded


def test_more_samples_than_codes_and_the_prior_source():
    codes = torch.tensor([[0.0], [1.0]])
    z, values = iv.sample_interventions(codes, 50, generator=1)
    torch.testing.assert_close(values, 1.0 - z)  # two codes: the other one, always
    z, values = iv.sample_interventions(torch.randn(100, 3), 4000, source="prior", generator=2)
    assert abs(float(values.mean())) < 0.05 and abs(float(values.std()) - 1.0) < 0.05


def test_sample_interventions_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'posterior'.*or 'prior'"):
        iv.sample_interventions(torch.zeros(5, 2), 3, source="uniform")
    with pytest.raises(ValueError, match="at least 2 rows"):
        iv.sample_interventions(torch.zeros(1, 2), 3)
    with pytest.raises(ValueError, match="num_samples"):
        iv.sample_interventions(torch.zeros(5, 2), 0)
    with pytest.raises(TypeError, match="generator"):
        iv.sample_interventions(torch.zeros(5, 2), 3, generator="seed")


# --------------------------------------------------------------------------- response matrices
def test_identity_gives_a_diagonal_matrix_of_rms_value_changes():
    z, values = torch.randn(40, 3), torch.randn(40, 3)
    m = iv.response_matrix_from(lambda c: iv.latent_response(Identity(), c), z, values)
    assert m.shape == (3, 3)
    assert np.all(m[~np.eye(3, dtype=bool)] == 0.0)
    np.testing.assert_allclose(np.diag(m), ((values - z).double() ** 2).mean(0).sqrt().numpy(), rtol=1e-6)
    assert np.all(np.diag(m) > 0)


def test_response_matrix_of_models():
    codes = torch.randn(300, 3)
    m = iv.response_matrix(Identity(), codes, num_samples=128)
    assert np.all(m[~np.eye(3, dtype=bool)] == 0.0) and np.all(np.diag(m) > 0.5)
    np.testing.assert_array_equal(m, iv.response_matrix(Identity(), codes, num_samples=128))  # seed=0
    dead = iv.response_matrix(DeadLatent(dead=1), codes, num_samples=128)
    np.testing.assert_array_equal(dead[1], 0.0)  # intervening on a latent the decoder ignores: no response
    np.testing.assert_array_equal(dead[:, 1], 0.0)  # and it never responds
    assert dead[0, 0] > 0 and dead[2, 2] > 0
    prior = iv.response_matrix(Identity(), source="prior", num_samples=2000)
    np.testing.assert_allclose(np.diag(prior), np.sqrt(2.0), rtol=0.1)  # z and values both N(0, 1)
    shrink = iv.response_matrix(Shrink(c=0.5), codes, num_samples=128, seed=3)
    np.testing.assert_allclose(shrink, 0.5 * iv.response_matrix(Identity(), codes, num_samples=128, seed=3),
                               rtol=1e-6)


def test_response_matrix_with_a_vae_matches_the_definition():
    model = tiny_vae()
    codes = torch.randn(50, 4)
    m = iv.response_matrix(model, codes, num_samples=20, seed=7)
    z, values = iv.sample_interventions(codes, 20, generator=7)
    with torch.no_grad():
        base = model.encode(model.decode(z))
        for j in range(4):
            moved = model.encode(model.decode(iv.intervene(z, j, values[:, j])))
            np.testing.assert_allclose(m[j], (moved - base).pow(2).mean(0).sqrt().numpy(), rtol=1e-4, atol=1e-6)


def test_response_matrix_rejects_bad_arguments():
    with pytest.raises(ValueError, match="needs codes.*source='prior'"):
        iv.response_matrix(Identity())
    with pytest.raises(ValueError, match="'posterior'.*or 'prior'"):
        iv.response_matrix(Identity(), torch.zeros(4, 3), source="aggregate")
    with pytest.raises(ValueError, match=r"shape \(n, 3\) \(the model's latent_dim\), got 2 latents per row"):
        iv.response_matrix(Identity(), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="values must be of the shape of z"):
        iv.response_matrix_from(lambda c: c, torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="response_fn must be a function mapping codes"):
        iv.response_matrix_from(lambda c: c[:, :2], torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        iv.response_matrix(Identity(), source="prior", num_samples=0)
    with pytest.raises(TypeError, match="GroundTruthData.*lacks factor_sizes"):
        iv.conditioned_response_matrix(Identity(), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="num_traversals"):
        iv.conditioned_response_matrix(Identity(), FactorData(), num_traversals=0)


# --------------------------------------------------------------------------- conditioned matrix and score
def test_conditioned_matrix_of_an_identity_is_diagonal_with_score_one():
    cond = iv.conditioned_response_matrix(Identity(), FactorData(), num_traversals=5, batch_size=16)
    assert cond.shape == (3, 3)
    assert np.all(cond[~np.eye(3, dtype=bool)] == 0.0) and np.all(np.diag(cond) > 0.5)
    assert iv.causal_disentanglement_score(cond) == 1.0
    again = iv.conditioned_response_matrix(Identity(), FactorData(), num_traversals=5, batch_size=16)
    np.testing.assert_array_equal(cond, again)  # seed=0


def test_permuted_identity_scores_one_and_mixing_scores_less():
    perm = iv.conditioned_response_matrix(Permuted(), FactorData(), num_traversals=5, batch_size=16)
    assert iv.causal_disentanglement_score(perm) == 1.0
    assert [int(np.argmax(perm[:, j])) for j in range(3)] == Permuted.perm  # latent j encodes factor perm[j]
    mixed = iv.conditioned_response_matrix(Mixing(), FactorData(), num_traversals=5, batch_size=16)
    assert np.all(mixed[:2, :2] > 0.3)  # factors 0 and 1 both move latents 0 and 1
    assert iv.causal_disentanglement_score(mixed) < 0.8


def test_conditioned_matrix_of_a_vae_on_dsprites_shape():
    from aecourse.data.dsprites import DSpritesGroundTruth

    torch.manual_seed(0)
    model = VAE(in_shape=(1, 16, 16), latent_dim=3, hidden=(8,)).eval()
    cond = iv.conditioned_response_matrix(model, DSpritesGroundTruth(16), num_traversals=2, batch_size=4)
    assert cond.shape == (5, 3) and np.all(cond >= 0) and np.isfinite(cond).all()


def test_causal_score_known_values():
    assert iv.causal_disentanglement_score(np.ones((4, 7))) == pytest.approx(1 / 4)
    assert iv.causal_disentanglement_score(np.eye(3)) == 1.0
    assert iv.causal_disentanglement_score(torch.eye(3, 5)) == 1.0
    cond = np.array([[1.0, 0.0], [1.0, 2.0]])
    assert iv.causal_disentanglement_score(cond) == pytest.approx(3 / 4)  # (max(1, 1) + max(0, 2)) / 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero warning for an all-zero matrix
        assert iv.causal_disentanglement_score(np.zeros((3, 4))) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        iv.causal_disentanglement_score(-np.eye(3))
    with pytest.raises(ValueError, match=r"\(num_factors, latent_dim\)"):
        iv.causal_disentanglement_score(np.ones(3))


def test_active_latents():
    codes = torch.randn(100, 3) * torch.tensor([1.0, 0.01, 0.2])
    np.testing.assert_array_equal(iv.active_latents(codes), [True, False, True])


# --------------------------------------------------------------------------- response maps
def test_latent_grid_axis_convention():
    grid = iv.latent_grid(torch.tensor([9.0, 8.0, 7.0]), (2, 0), span=1.0, n=3)
    assert grid.shape == (3, 3, 3)
    np.testing.assert_allclose(grid[0, 2], [1.0, 8.0, -1.0])  # dims[0]=2 -> values[0], dims[1]=0 -> values[2]
    np.testing.assert_allclose(grid[..., 1], 8.0)
    with pytest.raises(ValueError, match="two different latents"):
        iv.latent_grid(np.zeros(3), (1, 1))
    with pytest.raises(ValueError, match="span"):
        iv.latent_grid(np.zeros(3), (0, 1), span=0)
    with pytest.raises(ValueError, match="n must be"):
        iv.latent_grid(np.zeros(3), (0, 1), n=1)


def test_response_map_of_a_contraction():
    maps = iv.response_map(Shrink(c=0.5), np.array([0.0, 3.0, 0.0]), (0, 2), span=2.0, n=9)
    v = maps["values"]
    np.testing.assert_allclose(v, np.linspace(-2, 2, 9))
    zz = np.stack(np.meshgrid(v, v, indexing="ij"), axis=-1)  # the two latents at each grid point
    np.testing.assert_allclose(maps["field"], -0.5 * zz, atol=1e-6)
    np.testing.assert_allclose(maps["magnitude"], 0.5 * np.hypot(zz[..., 0], zz[..., 1]), atol=1e-6)
    np.testing.assert_allclose(maps["divergence"], -1.0, atol=1e-5)  # 2 (c - 1) per latent unit
    # The field points straight at the origin: curvature 0.5 / |z|, checked away from the origin and edges.
    r = np.hypot(zz[..., 0], zz[..., 1])
    far = (r > 1.2) & (np.abs(zz).max(-1) < 2.0)
    np.testing.assert_allclose(maps["curvature"][far], 0.5 / r[far], rtol=0.15)
    assert maps["grid"].shape == (9, 9, 3) and maps["dims"] == (0, 2)


def test_divergence_and_curvature_on_known_fields():
    v = np.linspace(-1, 1, 11)
    a, b = np.meshgrid(v, v, indexing="ij")
    rotation = np.stack([-b, a], axis=-1)  # divergence-free
    np.testing.assert_allclose(iv.divergence_2d(rotation, v[1] - v[0]), 0.0, atol=1e-12)
    np.testing.assert_allclose(iv.divergence_2d(np.stack([3 * a, b], -1), v[1] - v[0]), 4.0)
    np.testing.assert_allclose(iv.divergence_2d(np.stack([3 * a, b], -1)), 4.0 * 0.2)  # per grid step
    np.testing.assert_array_equal(iv.mean_curvature_2d(np.zeros((4, 4, 2))), 0.0)  # no direction: 0, not NaN
    with pytest.raises(ValueError, match=r"\(n, m, 2\)"):
        iv.divergence_2d(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="spacing"):
        iv.divergence_2d(np.zeros((4, 4, 2)), 0.0)


# --------------------------------------------------------------------------- public checks
def ref_latent_response(model, z):
    with torch.no_grad():
        return model.encode(model.decode(z))


def ref_intervene(z, dim, values):
    out = z.clone()
    out[:, dim] = values
    return out


def ref_response_matrix(response_fn, z, values):
    base = response_fn(z)
    rows = [(response_fn(ref_intervene(z, j, values[:, j])) - base).pow(2).mean(0).sqrt() for j in range(z.shape[1])]
    return torch.stack(rows)


def ref_causal_score(cond):
    return float(cond.max(axis=0).sum() / cond.sum())


def sampled_response(model, z):
    with torch.no_grad():
        mu, logvar = model.posterior(model.decode(z))
    return reparameterize(mu, logvar)


def intervene_in_place(z, dim, values):
    z[:, dim] = values
    return z


def intervene_row(z, dim, values):
    out = z.clone()
    out[dim] = values
    return out


def mean_abs_matrix(response_fn, z, values):
    base = response_fn(z)
    return torch.stack([(response_fn(ref_intervene(z, j, values[:, j])) - base).abs().mean(0)
                        for j in range(z.shape[1])])


def no_subtraction_matrix(response_fn, z, values):
    return torch.stack([response_fn(ref_intervene(z, j, values[:, j])).pow(2).mean(0).sqrt()
                        for j in range(z.shape[1])])


CHECK_CASES = [
    (checks.interventions.latent_response, ref_latent_response, [
        (lambda model, z: model.decode(z), "images"),
        (sampled_response, "different responses"),
        (lambda model, z: ref_latent_response(model, z) - z, "does not match"),
        (lambda model, z: ref_latent_response(model, z).numpy(), "tensor"),
        (lambda model, z: None, "returned None"),
    ]),
    (checks.interventions.intervene, ref_intervene, [
        (intervene_in_place, "in-place"),
        (intervene_row, "COLUMN|raised"),
        (lambda z, dim, values: None, "returned None"),
    ]),
    (checks.interventions.response_matrix, ref_response_matrix, [
        (mean_abs_matrix, "ABSOLUTE"),
        (lambda f, z, v: ref_response_matrix(f, z, v).T, "swapped"),
        (no_subtraction_matrix, "not compared with R"),
        (lambda f, z, v: ref_response_matrix(f, z, v)[:3], "shape"),
        (lambda f, z, v: None, "returned None"),
    ]),
    (checks.interventions.causal_score, ref_causal_score, [
        (lambda cond: float(cond.max(axis=1).sum() / cond.sum()), "over latents instead of over factors"),
        (lambda cond: float(cond.max(axis=0).mean()), "does not match"),
        (lambda cond: None, "returned None"),
    ]),
]


@pytest.mark.parametrize("check,reference,wrong", CHECK_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_public_checks_pass_the_reference_and_fail_stubs_and_mistakes(check, reference, wrong, capsys):
    assert_public_check(check, reference, wrong, capsys)


def test_response_matrix_check_accepts_numpy_and_the_library_function(capsys):
    checks.interventions.response_matrix(iv.response_matrix_from)
    checks.interventions.latent_response(lambda model, z: iv.latent_response(model, z))
    checks.interventions.intervene(iv.intervene)
    checks.interventions.causal_score(iv.causal_disentanglement_score)
    assert capsys.readouterr().out.count("public checks passed") == 4


# --------------------------------------------------------------------------- the widget
class SquareIdentity(Identity):
    """Identity on 4 latents whose 'images' are the codes as 2x2 pictures."""

    def __init__(self):
        super().__init__(4)

    def decode(self, z):
        return z.reshape(len(z), 1, 2, 2)


def png_pixels(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(data), format="png")


def test_explorer_highlights_the_intervened_latent_of_an_identity():
    w = intervention_explorer(SquareIdentity(), scale=2)
    assert isinstance(w, InterventionExplorer) and isinstance(w, widgets.VBox)
    np.testing.assert_array_equal(w.responses, 0.0)  # no intervention yet: z_int = z0 = 0
    assert w.decoded.shape == (2, 2) and png_pixels(w.image.value).shape[:2] == (4, 4)
    start_image, start_bars = w.image.value, w.response_image.value

    w.set_intervention(2, 1.5)
    np.testing.assert_allclose(w.responses, [0, 0, 1.5, 0])
    assert w.bar_colours[2] == HIGHLIGHT_COLOUR and w.bar_colours.count(HIGHLIGHT_COLOUR) == 1
    np.testing.assert_allclose(w.decoded, [[0, 0], [1.5, 0]])
    assert w.image.value != start_image and w.response_image.value != start_bars
    assert "do(z2 = +1.50)" in w.readout.value

    w.dim = 0  # the same value, now on latent 0
    assert w.dim == 0 and w.value == 1.5
    np.testing.assert_allclose(w.responses, [1.5, 0, 0, 0])
    assert w.bar_colours[0] == HIGHLIGHT_COLOUR
    w.value = -2.0
    np.testing.assert_allclose(w.z, [-2.0, 0, 0, 0])
    assert int(np.argmax(w.responses)) == 0

    w.dim_selector.value = 3  # the controls, as a learner moves them
    w.slider.value = 1.0
    np.testing.assert_allclose(w.responses, [0, 0, 0, 1.0])


def test_explorer_on_a_dead_latent_and_a_vae():
    w = intervention_explorer(DeadLatent(4, dead=1), z0=np.ones(4), names=list("abcd"), image_shape=(2, 2))
    w.set_intervention(1, -3.0)
    np.testing.assert_array_equal(w.responses, 0.0)  # the decoder ignores it: nothing responds
    assert "do(b = -3.00), from +1.00" in w.readout.value
    w.set_intervention(0, 5.0)  # outside the span: the slider widens
    assert w.slider.max == 5.0 and w.value == 5.0

    vae = tiny_vae()
    w = intervention_explorer(vae)
    w.set_intervention(1, 2.0)
    z = torch.tensor([[0.0, 2.0, 0.0, 0.0]])
    np.testing.assert_allclose(w.responses, (iv.latent_response(vae, z) - iv.latent_response(vae, torch.zeros(1, 4)))
                               .abs()[0].numpy(), rtol=1e-5, atol=1e-6)
    assert w.decoded.shape == (8, 8)


def test_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dim must be a latent index from 0 to 3"):
        intervention_explorer(SquareIdentity()).set_intervention(4, 0.0)
    with pytest.raises(ValueError, match="finite"):
        intervention_explorer(SquareIdentity()).set_intervention(0, float("inf"))
    with pytest.raises(TypeError, match="encode"):
        intervention_explorer(lambda z: z, np.zeros(4))
    with pytest.raises(ValueError, match="span"):
        intervention_explorer(SquareIdentity(), span=(1, -1))
    with pytest.raises(ValueError, match=r"names must be one name per latent \(4\), got 2 entries"):
        intervention_explorer(SquareIdentity(), names=["a", "b"])


# --------------------------------------------------------------------------- figures
def test_response_heatmap_returns_a_labelled_figure():
    fig = response_heatmap(np.eye(3) * 0.8, title="identity")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "response of latent" and ax.get_ylabel() == "intervention on latent"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z0", "z1", "z2"]
    assert sum(t.get_text() == "0.80" for t in ax.texts) == 3
    fig = response_heatmap(torch.rand(5, 3), row_names=list("abcde"), row_label="factor traversed", annotate=False)
    assert fig.axes[0].get_ylabel() == "factor traversed" and not fig.axes[0].texts
    with pytest.raises(ValueError, match="row_names must be one name per row, got 2 entries for 3 rows"):
        response_heatmap(np.ones((3, 3)), row_names=["a", "b"])


def test_response_map_figure_has_three_panels_and_arrows():
    maps = iv.response_map(Shrink(c=0.5), np.zeros(3), (0, 1), n=20)
    fig = response_map_figure(maps, names=("z0", "z1"))
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["|R(z) - z|", "divergence", "mean curvature"]
    assert panels[0].get_xlabel() == "z0" and panels[0].get_ylabel() == "z1"
    assert len(panels[0].collections) == 1  # the quiver
    with pytest.raises(ValueError, match="response_map"):
        response_map_figure({"values": maps["values"]})


# --------------------------------------------------------------------------- chapter 06's claims on the zoo
@pytest.mark.slow
def test_zoo_causal_scores_rank_the_models_as_chapter_06_says():
    """06-interventions tells the learner: beta-TCVAE scores clearly first, then beta-VAE, with the VAE and
    the AE at the bottom; in beta-TCVAE's matrix x and y each move one latent of their own."""
    from aecourse import zoo
    from aecourse.data.dsprites import DSpritesGroundTruth

    data = DSpritesGroundTruth(32)
    cond = {name: iv.conditioned_response_matrix(zoo.load(name, progress=False), data, num_traversals=50, seed=0)
            for name in ("dsprites_ae", "dsprites_vae", "dsprites_beta_vae", "dsprites_beta_tcvae")}
    score = {name: iv.causal_disentanglement_score(c) for name, c in cond.items()}
    assert score["dsprites_beta_tcvae"] > score["dsprites_beta_vae"] + 0.1, score
    assert score["dsprites_beta_vae"] > max(score["dsprites_vae"], score["dsprites_ae"]), score
    c = cond["dsprites_beta_tcvae"]
    x, y = data.factor_names.index("posX"), data.factor_names.index("posY")
    assert c[x].argmax() != c[y].argmax()
    for row in (c[x], c[y]):          # one latent carries (almost) all of the factor's response
        assert np.sort(row)[-1] > 5 * np.sort(row)[-2], row
