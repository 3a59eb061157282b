"""Latent traversals: the live widget (driven from Python), the static grid, and the images behind both."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from matplotlib.figure import Figure
from torch import nn

from aecourse.data import render_glyph
from aecourse.morphometry import measure, monotonicity
from aecourse.vae import VAE
from aecourse.viz import decode_images, traversal_grid, traversal_images
from aecourse.widgets import LatentTraversal, latent_traversal

H, W = 6, 5  # deliberately not square


class BrightnessDecoder(nn.Module):
    """Latent 0 sets the brightness of a fixed pattern (sigmoid), latent 1 does nothing.

    ``encode`` returns a VAE-style ``(mu, logvar)``: mu is the input's mean
    and max pixel value. Records the mode and grad state it is called in.
    """

    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.pattern = nn.Parameter(torch.linspace(0.2, 1.0, H * W).view(1, 1, H, W), requires_grad=True)
        self.calls: list[tuple[bool, bool, int]] = []  # (training, grad enabled, batch size)

    def decode(self, z):
        self.calls.append((self.training, torch.is_grad_enabled(), len(z)))
        return torch.sigmoid(z[:, :1, None, None]) * self.pattern

    def encode(self, x):
        flat = x.flatten(1)
        mu = torch.stack([flat.mean(1), flat.max(1).values], dim=1)
        return mu, torch.zeros_like(mu)


def png_pixels(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(data), format="png")


@pytest.fixture
def model() -> BrightnessDecoder:
    return BrightnessDecoder()


# --------------------------------------------------------------------------- the widget
def test_moving_latent_0_changes_the_image_and_latent_1_does_not(model):
    w = latent_traversal(model, [0.0, 0.0], scale=2)
    assert isinstance(w, LatentTraversal) and isinstance(w, widgets.VBox)
    assert len(w.sliders) == 2 and [s.description for s in w.sliders] == ["z0", "z1"]
    start_png, start = w.image.value, w.decoded()
    assert start.shape == (H, W)
    np.testing.assert_allclose(start, 0.5 * model.pattern.detach()[0, 0].numpy(), rtol=1e-6)
    assert png_pixels(start_png).shape[:2] == (2 * H, 2 * W)

    w.sliders[1].value = 2.5  # the do-nothing latent
    np.testing.assert_allclose(w.z, [0.0, 2.5])
    np.testing.assert_array_equal(w.decoded(), start)
    assert w.image.value == start_png

    w.sliders[0].value = 2.0  # brightness up: the slider, as a learner moves it
    assert w.decoded().mean() > start.mean()
    np.testing.assert_allclose(w.decoded(), torch.sigmoid(torch.tensor(2.0)).item() * start / 0.5, rtol=1e-5)
    assert w.image.value != start_png

    w.set_latent(0, -2.0)  # the same from code
    assert w.sliders[0].value == -2.0 and w.decoded().mean() < start.mean()


def test_reset_restores_the_base_code_and_image(model):
    w = latent_traversal(model, [0.7, -1.2])
    z0, png0 = w.z, w.image.value
    w.set_latent(0, 2.9)
    w.set_latent(1, -3.0)
    assert not np.allclose(w.z, z0)
    w.reset_button.click()
    np.testing.assert_allclose(w.z, z0, rtol=1e-6)
    assert [s.value for s in w.sliders] == pytest.approx([0.7, -1.2])
    assert w.image.value == png0


def test_one_decode_per_slider_move_in_eval_mode_without_gradients(model):
    model.train()
    w = latent_traversal(model, [0.0, 0.0])
    model.calls.clear()
    w.sliders[0].value = 1.0
    w.sliders[1].value = 1.0
    assert model.calls == [(False, False, 1), (False, False, 1)]
    model.calls.clear()
    w.reset()  # two sliders move, one decode
    assert len(model.calls) == 1
    assert model.training  # the caller's mode is restored


def test_set_latent_outside_the_span_widens_the_slider(model):
    w = latent_traversal(model, [0.0, 5.0], span=(-1, 1), step=0.05)  # z0 itself is outside
    assert w.sliders[1].value == 5.0 and w.sliders[1].max == 5.0 and w.z[1] == 5.0
    w.set_latent(0, -4.0)
    assert w.sliders[0].min == -4.0 and w.z[0] == -4.0 and w.sliders[0].step == 0.05
    with pytest.raises(ValueError, match="from 0 to 1"):
        w.set_latent(2, 0.0)
    with pytest.raises(ValueError, match="finite"):
        w.set_latent(0, float("nan"))


def test_names_label_the_sliders_and_are_validated(model):
    w = latent_traversal(model, names=["brightness", "nothing"])
    assert [s.description for s in w.sliders] == ["brightness", "nothing"]
    np.testing.assert_array_equal(w.z, [0.0, 0.0])  # default base code: zeros, sized by model.latent_dim
    with pytest.raises(ValueError, match=r"names must be one name per latent \(2\), got 3 entries"):
        latent_traversal(model, names=["a", "b", "c"])
    with pytest.raises(TypeError, match="one per latent"):
        latent_traversal(model, names="ab")


def test_bad_arguments_are_rejected(model):
    with pytest.raises(ValueError, match="span"):
        latent_traversal(model, span=(2, -2))
    with pytest.raises(ValueError, match="step"):
        latent_traversal(model, step=0)
    with pytest.raises(ValueError, match="scale"):
        latent_traversal(model, scale=0)
    with pytest.raises(ValueError, match="single code"):
        latent_traversal(model, np.zeros((2, 2)))
    with pytest.raises(TypeError, match="decode"):
        latent_traversal(object(), [0.0])
    with pytest.raises(ValueError, match="latent size"):
        latent_traversal(lambda z: z, None)  # a plain callable: no latent_dim to guess from
    with pytest.raises(TypeError, match="measures"):
        latent_traversal(model, measures="thickness")


def test_a_plain_callable_decoder_with_flat_output(model):
    decode = lambda z: torch.sigmoid(z[:, :1]) * torch.ones(len(z), H * W)  # noqa: E731
    w = latent_traversal(decode, np.zeros(3), image_shape=(H, W))
    assert w.decoded().shape == (H, W)
    np.testing.assert_allclose(w.decoded(), 0.5)
    w.set_latent(0, 1.0)
    np.testing.assert_allclose(w.decoded(), torch.sigmoid(torch.tensor(1.0)).item(), rtol=1e-6)
    with pytest.raises(ValueError, match="square"):
        latent_traversal(decode, np.zeros(3))  # 30 values per image, no image_shape


def test_inputs_are_encoded_to_posterior_means(model):
    x = torch.rand(7, 1, H, W)
    mu = torch.stack([x.flatten(1).mean(1), x.flatten(1).max(1).values], 1).numpy()
    w = latent_traversal(model, inputs=x, input_names=[f"x{i}" for i in range(7)])
    np.testing.assert_allclose(w.codes, mu, rtol=1e-6)
    np.testing.assert_allclose(w.z, mu[0], rtol=1e-6)  # default base code: the first input's
    assert [label for label, _ in w.input_selector.options][:2] == ["x0", "x1"]

    w.set_latent(1, 3.0)
    w.input_selector.value = 4  # start from input 4: all sliders jump to its code
    np.testing.assert_allclose(w.z, mu[4], rtol=1e-6)
    np.testing.assert_allclose(w.z0, mu[4], rtol=1e-6)
    w.set_latent(0, -1.0)
    w.reset()
    np.testing.assert_allclose(w.z, mu[4], rtol=1e-6)  # reset goes back to the chosen input

    picked = w.random_input()
    assert w.input_selector.value == picked
    np.testing.assert_allclose(w.z, mu[picked], rtol=1e-6)
    w.random_button.click()
    np.testing.assert_allclose(w.z, mu[w.input_selector.value], rtol=1e-6)


def test_encode_mean_is_preferred_and_a_vae_works():
    class WithMean(BrightnessDecoder):
        def encode_mean(self, x):
            return torch.full((len(x), 2), 0.25)

    w = latent_traversal(WithMean(), inputs=torch.rand(3, 1, H, W))
    np.testing.assert_allclose(w.z, [0.25, 0.25])

    torch.manual_seed(0)
    vae = VAE(in_shape=(1, 8, 8), latent_dim=3, hidden=(16,))
    x = torch.rand(5, 1, 8, 8)
    w = latent_traversal(vae, inputs=x)
    with torch.no_grad():
        np.testing.assert_allclose(w.codes, vae.posterior(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert w.decoded().shape == (8, 8) and len(w.sliders) == 3
    with pytest.raises(ValueError, match="z0 must be a code of the 3 latents the model encodes inputs to, got 2 latents"):
        latent_traversal(vae, np.zeros(2), inputs=x)


def test_without_inputs_there_is_no_input_picker(model):
    w = latent_traversal(model)
    assert w.input_selector is None and w.random_button is None
    with pytest.raises(ValueError, match="without inputs"):
        w.random_input()


def glyph_decoder(z):
    """A known 'disentangled' decoder: z0 sets the stroke thickness, z1 the slant, z2 nothing."""
    return torch.stack([render_glyph(3, thickness=2.25 + 0.4 * float(c[0]), slant=0.1 * float(c[1])) for c in z])


def test_measures_readout_follows_the_sliders():
    w = latent_traversal(glyph_decoder, np.zeros(3), names=["thick", "slant", "nothing"], measures=measure)
    assert set(w.measured) == {"area", "length", "thickness", "slant"}
    assert "thickness:" in w.readout.value and "slant:" in w.readout.value and "z = [" in w.readout.value
    start = dict(w.measured)
    w.set_latent(0, 2.5)
    assert w.measured["thickness"] > start["thickness"] + 0.6
    assert abs(w.measured["slant"] - start["slant"]) < 0.05
    w.set_latent(1, 3.0)
    assert w.measured["slant"] > start["slant"] + 0.2
    assert f"{w.measured['thickness']:.2f} px" in w.readout.value


# --------------------------------------------------------------------------- images and the grid
def test_traversal_images_move_one_latent(model):
    values = np.linspace(-3, 3, 7)
    images = traversal_images(model, [0.0, 9.0], 0, values)
    assert images.shape == (7, H, W)
    assert np.all(np.diff(images.mean(axis=(1, 2))) > 0)  # brightness grows with latent 0
    flat = traversal_images(model, [0.0, 0.0], 1, values)
    np.testing.assert_allclose(flat, np.broadcast_to(flat[0], flat.shape))  # latent 1 does nothing
    with pytest.raises(ValueError, match="dim must be a latent index from 0 to 1"):
        traversal_images(model, [0.0, 0.0], 2, values)
    with pytest.raises(ValueError, match="values"):
        traversal_images(model, [0.0, 0.0], 0, [])
    with pytest.raises(ValueError, match="single code"):
        traversal_images(model, np.zeros((2, 2)), 0, values)


def test_traversals_can_be_measured():
    values = np.linspace(-3, 3, 13)
    thick = measure(traversal_images(glyph_decoder, np.zeros(3), 0, values))
    lean = measure(traversal_images(glyph_decoder, np.zeros(3), 1, values))
    assert monotonicity(values, thick["thickness"]) > 0.95 and np.ptp(thick["slant"]) < 0.05
    assert monotonicity(values, lean["slant"]) > 0.95 and np.ptp(lean["thickness"]) < 0.3


def test_decode_images_shapes(model):
    assert decode_images(model, np.zeros(2)).shape == (1, H, W)
    assert decode_images(model, torch.zeros(4, 2)).shape == (4, H, W)
    with pytest.raises(ValueError, match="NaN"):
        decode_images(model, [np.nan, 0.0])
    with pytest.raises(ValueError, match="image_shape"):
        decode_images(model, np.zeros(2), image_shape=(5, 5))
    with pytest.raises(ValueError, match="channels"):
        decode_images(lambda z: torch.zeros(len(z), 3, 4, 4), np.zeros(2))


def test_traversal_grid_layout(model):
    fig = traversal_grid(model, [0.0, 0.0], steps=5, names=["brightness", "nothing"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 5
    assert fig.axes[0].get_ylabel() == "brightness" and fig.axes[5].get_ylabel() == "nothing"
    assert [ax.get_title() for ax in fig.axes[:5]] == ["-3", "-1.5", "+0", "+1.5", "+3"]
    row0 = [ax.get_images()[0].get_array().mean() for ax in fig.axes[:5]]
    row1 = [ax.get_images()[0].get_array().mean() for ax in fig.axes[5:]]
    assert np.all(np.diff(row0) > 0) and np.ptp(row1) == pytest.approx(0.0, abs=1e-7)

    fig = traversal_grid(model, torch.zeros(2), dims=[1], steps=3, span=(-1, 1))
    assert len(fig.axes) == 3 and fig.axes[0].get_ylabel() == "z1"


def test_traversal_grid_validates(model):
    with pytest.raises(ValueError, match="steps"):
        traversal_grid(model, [0.0, 0.0], steps=1)
    with pytest.raises(ValueError, match="span"):
        traversal_grid(model, [0.0, 0.0], span=(1, 1))
    with pytest.raises(ValueError, match="dims is empty"):
        traversal_grid(model, [0.0, 0.0], dims=[])
    with pytest.raises(ValueError, match="dim must be"):
        traversal_grid(model, [0.0, 0.0], dims=[0, 5])
    with pytest.raises(ValueError, match=r"names must be one name per latent \(2\), got 1 entries"):
        traversal_grid(model, [0.0, 0.0], names=["a"])


def test_traversal_grid_with_a_vae_posterior_mean():
    torch.manual_seed(0)
    vae = VAE(in_shape=(1, 8, 8), latent_dim=4, hidden=(16,))
    vae.train()
    z0 = vae.encode(torch.rand(1, 1, 8, 8))[0]
    fig = traversal_grid(vae, z0, steps=4)
    assert len(fig.axes) == 16 and vae.training
