import copy

import pytest
import torch
from torch import nn

from ganlib import (
    DCGANDiscriminator,
    DCGANGenerator,
    Game,
    d_step,
    diff_augment,
    g_step,
    make_adam,
    make_augment,
    set_seed,
    weights_init,
)
from ganlib.augment import parse_policy


def images(b=16, c=3, side=16, seed=0, low=-1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, side, side, generator=g, dtype=torch.float64) * (1 - low) + low


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_an_empty_policy_is_the_identity_and_an_unknown_name_lists_the_allowed_ones():
    x = images()
    assert diff_augment(x, "") is x and diff_augment(x, " , ") is x and make_augment("") is None
    assert parse_policy("color, cutout") == ("brightness", "saturation", "contrast", "cutout")
    for bad in ("translation,colour", "Cutout"):
        with pytest.raises(ValueError, match="allowed: brightness, saturation, contrast, color, "
                                             "translation, cutout"):
            diff_augment(x, bad)
    with pytest.raises(ValueError, match="allowed"):
        make_augment("flip")  # checked when the callable is made, before any training


def test_the_same_generator_seed_gives_the_same_augmentation_and_another_seed_another():
    x = images()
    a = diff_augment(x, generator=gen(1))
    assert torch.equal(a, diff_augment(x, generator=gen(1)))
    assert not torch.equal(a, diff_augment(x, generator=gen(2)))
    torch.manual_seed(3)  # without a generator: torch's global one
    b = diff_augment(x)
    torch.manual_seed(3)
    assert torch.equal(b, diff_augment(x))
    assert a.dtype == x.dtype and a.shape == x.shape


def test_brightness_adds_one_offset_per_image_within_half_the_range():
    x = images()
    d = diff_augment(x, "brightness", gen()) - x
    per_image = d.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image))
    assert per_image.abs().max() <= 0.5 and per_image[:, 0].unique().numel() == len(x)


def test_contrast_scales_deviations_from_each_image_mean_by_half_to_three_halves():
    x = images()
    y = diff_augment(x, "contrast", gen())
    mx, my = x.mean((1, 2, 3), keepdim=True), y.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(mx, my)
    factor = ((y - my) / (x - mx)).flatten(1)
    assert torch.allclose(factor, factor[:, :1].expand_as(factor))
    assert ((factor >= 0.5) & (factor <= 1.5)).all()


def test_saturation_keeps_each_pixels_grey_level_and_skips_one_channel_images():
    x = images(c=3)
    y = diff_augment(x, "saturation", gen())
    assert torch.allclose(x.mean(1), y.mean(1))
    factor = ((y - y.mean(1, keepdim=True)) / (x - x.mean(1, keepdim=True))).flatten(1)
    assert torch.allclose(factor, factor[:, :1].expand_as(factor))
    assert ((factor >= 0) & (factor <= 2)).all()
    grey = images(c=1)
    g = gen()
    assert torch.equal(diff_augment(grey, "saturation", g), grey)
    assert torch.equal(g.get_state(), gen().get_state())  # and draws nothing


def shifted(x, dy, dx, fill):
    """x (C, H, W) moved down by dy and right by dx, `fill` where nothing moved in."""
    out = torch.full_like(x, fill)
    H, W = x.shape[1:]
    out[:, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[:, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


@pytest.mark.parametrize("fill", [0.0, -1.0])
def test_translation_shifts_each_image_by_whole_pixels_up_to_an_eighth_of_its_side(fill):
    x = images(side=16, low=0.1)  # no pixel equals the fill
    y = diff_augment(x, "translation", gen(), fill=fill)
    shifts = set()
    for xi, yi in zip(x, y):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)  # 16 / 8 = 2
                 if torch.equal(shifted(xi, dy, dx, fill), yi)]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 3  # each image its own shift


def test_cutout_blanks_one_square_of_half_the_side_clipped_at_the_borders():
    x = images(side=16, low=0.1)
    y = diff_augment(x, "cutout", gen())
    corners = set()
    for xi, yi in zip(x, y):
        cut = (yi == 0).all(0)  # (H, W)
        assert torch.equal(yi[:, ~cut], xi[:, ~cut])  # the rest is untouched
        rows, cols = cut.any(1), cut.any(0)
        assert torch.equal(cut, rows[:, None] & cols[None, :])  # a rectangle
        assert 0 < rows.sum() <= 8 and 0 < cols.sum() <= 8
        # a full 8-pixel side unless it meets the border
        for along in (rows, cols):
            idx = along.nonzero().flatten()
            assert along.sum() == 8 or idx[0] == 0 or idx[-1] == 15
        corners.add((int(rows.nonzero()[0]), int(cols.nonzero()[0])))
    assert len(corners) > 3


def test_every_policy_is_differentiable_with_respect_to_the_images():
    x = images(b=3, c=3, side=8).requires_grad_(True)
    for policy in ("brightness", "saturation", "contrast", "translation", "cutout",
                   "translation,cutout,color"):
        # a fresh generator at every call: gradcheck compares the same random transformation
        assert torch.autograd.gradcheck(lambda t, p=policy: diff_augment(t, p, gen(5)), (x,))


def test_channels_last_in_channels_last_out():
    x = images().float().contiguous(memory_format=torch.channels_last)
    y = diff_augment(x, "translation,cutout,color", gen())
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(y, diff_augment(x.contiguous(), "translation,cutout,color", gen()))


# ----------------------------------------------------------------------------- in the steps

def dcgan(seed=0):
    set_seed(seed)
    G = DCGANGenerator(nz=8, ngf=4, nc=3, image_size=32)
    D = DCGANDiscriminator(ndf=4, nc=3, image_size=32)
    G.apply(weights_init), D.apply(weights_init)
    return G, D


class Seen(nn.Module):
    """D applied to flip(x): what D computes when the augmentation is a horizontal flip."""

    def __init__(self, D):
        super().__init__()
        self.D = D

    def forward(self, x):
        return self.D(x.flip(-1))


def flip(x):
    return x.flip(-1)


def test_d_step_augments_real_and_fake_alike():
    _, D = dcgan()
    D2 = copy.deepcopy(D)
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    out = d_step(D, make_adam(D), real, fake, Game(augment=flip))
    want = d_step(Seen(D2), make_adam(D2), real, fake)
    assert all(torch.equal(a, b) for a, b in zip(out, want))
    assert all(torch.equal(a, b) for a, b in zip(D.parameters(), D2.parameters()))


def test_g_step_back_propagates_through_the_augmentation():
    G, D = dcgan()
    G2 = copy.deepcopy(G)
    z = torch.randn(4, 8)
    g_step(D, make_adam(G), G(z), Game(augment=flip))
    g_step(Seen(D), make_adam(G2), G2(z))
    assert all(torch.equal(a, b) for a, b in zip(G.parameters(), G2.parameters()))
    # an augmentation that lets no gradient through leaves G where it was
    G3 = copy.deepcopy(G)
    g_step(D, make_adam(G3), G3(z), Game(augment=lambda x: x * 0))
    assert all(torch.equal(a, b) for a, b in zip(G.parameters(), G3.parameters()))
