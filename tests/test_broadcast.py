"""The spatial broadcast decoder (aecourse.broadcast): what its docstring says it computes."""

import pytest
import torch

from aecourse.broadcast import BroadcastDecoder, pixel_coordinates


def test_pixel_coordinates_run_row_by_row_from_minus_one_to_one():
    xy = pixel_coordinates(3)
    assert xy.shape == (9, 2)
    assert xy[:3].tolist() == [[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0]]  # first row: x varies, y = -1
    assert xy[:, 1].reshape(3, 3)[:, 0].tolist() == [-1.0, 0.0, 1.0]  # y grows down the rows
    assert pixel_coordinates(1).tolist() == [[0.0, 0.0]]


def test_it_is_one_mlp_applied_to_the_code_and_the_coordinates_of_every_pixel():
    """The split first layer equals one Linear on [z, x, y] tiled over the pixels (a 1x1 conv on the broadcast)."""
    torch.manual_seed(0)
    dec = BroadcastDecoder(3, (2, 5, 5), width=6, depth=2)
    z = torch.randn(4, 3)
    got = dec(z)
    assert got.shape == (4, 2, 5, 5)
    weight = torch.cat([dec.from_code.weight, dec.from_position.weight], dim=1)  # (width, 3 + 2)
    first = torch.nn.Linear(5, 6)
    first.weight.data, first.bias.data = weight, dec.from_code.bias.data
    xy = pixel_coordinates(5)
    for b in range(4):
        for p in (0, 7, 24):
            row, col = divmod(p, 5)
            inputs = torch.cat([z[b], xy[p]])
            want = dec.per_pixel(first(inputs))  # the same per-pixel MLP on the concatenation
            assert torch.allclose(got[b, :, row, col], want, atol=1e-6)


def test_the_same_code_decodes_the_same_whatever_else_is_in_the_batch():
    torch.manual_seed(1)
    dec = BroadcastDecoder(4, (1, 8, 8))
    z = torch.randn(3, 4)
    assert torch.allclose(dec(z)[1:2], dec(z[1:2]), atol=1e-6)


def test_a_code_that_only_shifts_the_first_layer_moves_the_picture():
    """With from_code = from_position, code (dx, 0) draws the picture of code 0 shifted by dx (in [-1, 1] units)."""
    torch.manual_seed(2)
    dec = BroadcastDecoder(2, (1, 9, 9), width=8, depth=2)
    with torch.no_grad():
        dec.from_code.weight.copy_(-dec.from_position.weight)  # h depends on (x - z0, y - z1) only
    step = 2 / 8  # one pixel in coordinate units at side 9
    still = dec(torch.zeros(1, 2))[0, 0]
    moved = dec(torch.tensor([[2 * step, 0.0]]))[0, 0]
    assert torch.allclose(moved[:, 2:], still[:, :-2], atol=1e-5)  # two pixels to the right


@pytest.mark.parametrize("kw,match", [(dict(out_shape=(1, 8, 9)), "square images, got \\(1, 8, 9\\)"),
                                      (dict(width=0), "width"), (dict(depth=0), "depth")])
def test_bad_arguments_name_the_problem(kw, match):
    with pytest.raises(ValueError, match=match):
        BroadcastDecoder(3, **kw)
