"""The normalisation-free ResNet pair (R3GAN-style): shapes, fix-up initialisation, no
normalisation, clear errors, a checkpoint round trip and training through `fit`."""

import pytest
import torch
from torch import nn

from ganlib import FitConfig, fit, load_generator, make_adam
from ganlib.models import (MODELS, RESNET_SIZES, Bottleneck, ResNetDiscriminator,
                           ResNetGenerator, kind_of)

SMALL = dict(width=16, blocks=1, expansion=2, group_channels=8)


@pytest.mark.parametrize("size", RESNET_SIZES[:3])
@pytest.mark.parametrize("nc", [1, 3])
def test_shapes_and_range(size, nc):
    G = ResNetGenerator(nz=8, nc=nc, image_size=size, **SMALL)
    D = ResNetDiscriminator(nc=nc, image_size=size, **SMALL)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, nc, size, size) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    assert G.sample(3, seed=1).shape == (3, nc, size, size)


def test_channels_follow_dcgans_schedule():
    G = ResNetGenerator(nz=8, image_size=64, width=16, group_channels=8)
    assert [s[0].widen.in_channels for s in G.stages] == [128, 64, 32, 16, 16]
    D = ResNetDiscriminator(image_size=64, width=16, group_channels=8)
    assert [s[0].widen.in_channels for s in D.stages] == [16, 16, 32, 64, 128]


def test_every_block_starts_as_the_identity_with_fixup_scaling():
    torch.manual_seed(0)
    few, many = Bottleneck(32, n_blocks=1, group_channels=8), Bottleneck(32, n_blocks=16,
                                                                        group_channels=8)
    x = torch.randn(4, 32, 8, 8)
    assert torch.equal(many(x), x)  # the last conv is zero: x + 0
    ratio = many.widen.weight.std() / few.widen.weight.std()
    assert abs(ratio - 16 ** -0.25) < 0.1  # L^(-1/4): half the spread for 16 blocks
    assert many.mix.groups == 32 * 2 // 8


def test_no_normalisation_anywhere():
    for model in (ResNetGenerator(image_size=32, **SMALL),
                  ResNetDiscriminator(image_size=32, **SMALL)):
        norms = [m for m in model.modules()
                 if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm,
                                   nn.InstanceNorm2d))]
        assert norms == []


@pytest.mark.parametrize("kw, message", [
    ({"image_size": 28}, "image_size must be one of (16, 32, 64, 128)"),
    ({"width": 12, "group_channels": 16}, "must be a multiple of group_channels"),
    ({"blocks": 0}, "blocks (residual blocks per stage) must be an integer >= 1"),
])
def test_bad_sizes_say_what_to_change(kw, message):
    for cls in (ResNetGenerator, ResNetDiscriminator):
        with pytest.raises(ValueError) as err:
            cls(**(SMALL | kw))
        assert message in str(err.value)


@pytest.mark.parametrize("blocks", [1, (1, 0, 1)])
def test_the_pair_trains_through_fit_and_its_checkpoint_rebuilds_g(tmp_path, blocks):
    torch.manual_seed(0)
    G = ResNetGenerator(nz=8, nc=1, image_size=16, **dict(SMALL, blocks=blocks))
    D = ResNetDiscriminator(nc=1, image_size=16, **dict(SMALL, blocks=blocks))
    assert MODELS[kind_of(G)] is ResNetGenerator and MODELS[kind_of(D)] is ResNetDiscriminator
    data = torch.randint(0, 256, (16, 1, 16, 16), dtype=torch.uint8)
    path = tmp_path / "ck.pt"
    cfg = FitConfig(steps=3, batch_size=8, progress=False, checkpoint_path=str(path),
                    g_loss="relativistic", r1_weight=1.0, r2_weight=1.0)
    before = [p.detach().clone() for p in G.parameters()]
    run = fit(G, D, make_adam(G), make_adam(D), data, cfg)
    assert run.step == 3 and any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    loaded = load_generator(path)
    assert type(loaded) is ResNetGenerator and loaded.hparams == G.hparams
    z = torch.randn(2, 8)
    assert torch.allclose(loaded(z), G.eval()(z))


def test_blocks_per_stage_can_leave_a_stage_without_blocks():
    G = ResNetGenerator(nz=8, nc=1, image_size=16, width=16, blocks=(1, 2, 0), group_channels=8)
    D = ResNetDiscriminator(nc=1, image_size=16, width=16, blocks=[1, 2, 0], group_channels=8)
    assert [len(s) for s in G.stages] == [1, 2, 0]  # G from 4x4 up
    assert [len(s) for s in D.stages] == [0, 2, 1]  # D from 16x16 down: the same stages
    assert G.hparams["blocks"] == D.hparams["blocks"] == (1, 2, 0)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, 1, 16, 16) and D(x).shape == (5,)
    rebuilt = ResNetDiscriminator(**D.hparams)
    assert [len(s) for s in rebuilt.stages] == [0, 2, 1]


@pytest.mark.parametrize("blocks", [(1, 1), (0, 0, 0), (1, -1, 1), (1, 1.5, 1), "111"])
def test_blocks_per_stage_must_name_every_stage(blocks):
    with pytest.raises(ValueError, match="a tuple of 3 integers >= 0, one per stage from 4x4 up"):
        ResNetGenerator(nz=8, nc=1, image_size=16, width=16, blocks=blocks, group_channels=8)
