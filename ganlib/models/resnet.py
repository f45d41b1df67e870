"""A normalisation-free ResNet pair in the style of R3GAN: Huang, Gokaslan, Kuleshov & Tompkin
2024, "The GAN is dead; long live the GAN! A Modern GAN Baseline", arXiv:2501.05441, sec. 4.

Each stage is a few residual blocks x + f(x), f a 1-3-1 bottleneck: a 1x1 conv widening C
channels to C * expansion, leaky ReLU, a grouped 3x3 conv (`group_channels` channels a group),
leaky ReLU, a 1x1 conv back to C. No normalisation anywhere: instead fix-up initialisation,
each block's last conv starting at zero (every block starts as the identity) and its other
convs scaled by L^(-1/4), L the number of blocks in the network, so that the sum of L
branches keeps its variance as L grows. Between stages the side doubles (G) or halves (D) by
bilinear resampling, and a 1x1 conv changes the channel count. No mapping network, minibatch
std or equalised learning rate.

Sizes: image_size in RESNET_SIZES; a stage at every side from 4 up to image_size, with
`width * max(1, image_size / (2 * side))` channels (DCGAN's schedule: 512, 256, 128, 64, 64
for 64 px and width 64). `blocks`: residual blocks at every stage, or a tuple with one
count per stage from 4x4 up; (1, 1, 1, 1, 0) leaves the 64x64 stage without blocks, the stage
that costs most (on a 2-core CPU, width 16, a training step about 4 times faster). G ends in
tanh, as every ganlib generator samples in [-1, 1] (R3GAN's G has no output squashing).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Generator

RESNET_SIZES = (16, 32, 64, 128)
BASIS = 4  # the side of G's first and D's last feature map


def _stage_channels(image_size, width):
    """[(side, channels)] from 4 up to image_size. ValueError for a size it cannot build."""
    if image_size not in RESNET_SIZES:
        raise ValueError(f"image_size must be one of {RESNET_SIZES}, got {image_size!r}")
    sides = [BASIS * 2 ** k for k in range(int(math.log2(image_size // BASIS)) + 1)]
    return [(s, width * max(1, image_size // (2 * s))) for s in sides]


def _per_stage(blocks, n_stages):
    """Residual blocks at each stage, from the 4x4 stage up: `blocks` as given (a tuple with
    one count per stage) or repeated (an integer). ValueError for counts it cannot build."""
    if isinstance(blocks, int) and not isinstance(blocks, bool):
        if blocks < 1:
            raise ValueError(f"blocks (residual blocks per stage) must be an integer >= 1, "
                             f"got {blocks!r}")
        return (blocks,) * n_stages
    counts = tuple(blocks) if isinstance(blocks, (tuple, list)) else None
    if (counts is None or len(counts) != n_stages or sum(counts) < 1
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts)):
        raise ValueError(f"blocks must be an integer >= 1 (blocks at every stage) or a tuple of "
                         f"{n_stages} integers >= 0, one per stage from 4x4 up, not all 0; "
                         f"got {blocks!r}")
    return counts


def _check(width, expansion, group_channels):
    if (width * expansion) % group_channels:
        raise ValueError(f"width * expansion ({width} * {expansion}) must be a multiple of "
                         f"group_channels ({group_channels}), the channels of each group of "
                         f"the 3x3 conv: change width or group_channels")


class Bottleneck(nn.Module):
    """x (B, C, H, W) -> x + f(x), f: 1x1 conv to C * expansion, leaky ReLU, grouped 3x3 conv,
    leaky ReLU, 1x1 conv back to C. `n_blocks`: the network's number of blocks L, for fix-up
    initialisation (last conv zero, the others He-initialised and scaled by L^(-1/4))."""

    def __init__(self, channels, expansion=2, group_channels=16, n_blocks=1):
        super().__init__()
        wide = channels * expansion
        self.widen = nn.Conv2d(channels, wide, 1)
        self.mix = nn.Conv2d(wide, wide, 3, padding=1, groups=wide // group_channels)
        self.narrow = nn.Conv2d(wide, channels, 1)
        scale = n_blocks ** -0.25  # fix-up: a branch of 3 layers scaled by L^(-1/(2*3 - 2))
        for conv in (self.widen, self.mix):
            nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu")
            conv.weight.data.mul_(scale)
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.narrow.weight)  # every block starts as the identity
        nn.init.zeros_(self.narrow.bias)

    def forward(self, x):
        h = F.leaky_relu(self.widen(x), 0.2)
        h = F.leaky_relu(self.mix(h), 0.2)
        return x + self.narrow(h)


def _stage(channels, blocks, expansion, group_channels, n_blocks):
    return nn.Sequential(*[Bottleneck(channels, expansion, group_channels, n_blocks)
                           for _ in range(blocks)])


class ResNetGenerator(Generator):
    """z (B, nz) -> images (B, nc, S, S) in [-1, 1], S in RESNET_SIZES: a linear map of z to a
    4x4 basis, then per stage its residual blocks and (but the last) a 1x1 conv to the next
    stage's channels and a bilinear 2x upsampling; a 1x1 conv to `nc` and tanh. Raises
    ValueError for a size, width or group it cannot build (what to change)."""

    def __init__(self, nz=64, nc=3, image_size=64, width=32, blocks=1, expansion=2,
                 group_channels=16):
        super().__init__()
        stages = _stage_channels(image_size, width)
        counts = _per_stage(blocks, len(stages))
        _check(width, expansion, group_channels)
        blocks = blocks if isinstance(blocks, int) else counts  # a list is saved as a tuple
        self.hparams = dict(nz=nz, nc=nc, image_size=image_size, width=width, blocks=blocks,
                            expansion=expansion, group_channels=group_channels)
        self.nz = nz
        n_blocks = sum(counts)  # fix-up's L: every residual branch in the network
        first = stages[0][1]
        self.basis = nn.Linear(nz, first * BASIS * BASIS)  # (B, nz) -> (B, C0 * 4 * 4)
        self.stages = nn.ModuleList(_stage(c, k, expansion, group_channels, n_blocks)
                                    for (_, c), k in zip(stages, counts))
        self.transitions = nn.ModuleList(  # channel change; the upsampling is in forward
            nn.Conv2d(c, c_next, 1) for (_, c), (_, c_next) in zip(stages, stages[1:]))
        self.to_image = nn.Conv2d(stages[-1][1], nc, 1)

    def forward(self, z):
        x = self.basis(z.view(z.shape[0], -1)).view(z.shape[0], -1, BASIS, BASIS)
        x = F.leaky_relu(x, 0.2)
        for k, stage in enumerate(self.stages):
            x = stage(x)
            if k < len(self.transitions):  # fewer channels first: cheaper to upsample
                x = F.interpolate(self.transitions[k](x), scale_factor=2, mode="bilinear",
                                  align_corners=False)
        return torch.tanh(self.to_image(x))


class ResNetDiscriminator(nn.Module):
    """images (B, nc, S, S) -> logits (B,), mirroring `ResNetGenerator`: a 1x1 conv from
    `nc`, then per stage its residual blocks and (but the last) an antialiased bilinear 2x
    downsampling and a 1x1 conv to the next stage's channels; the 4x4 map flattened to one
    logit by a linear layer."""

    def __init__(self, nc=3, image_size=64, width=32, blocks=1, expansion=2, group_channels=16):
        super().__init__()
        stages = _stage_channels(image_size, width)[::-1]  # from S down to 4
        up = _per_stage(blocks, len(stages))  # given from 4x4 up, as G's
        counts, blocks = up[::-1], blocks if isinstance(blocks, int) else up
        _check(width, expansion, group_channels)
        self.hparams = dict(nc=nc, image_size=image_size, width=width, blocks=blocks,
                            expansion=expansion, group_channels=group_channels)
        n_blocks = sum(counts)
        self.from_image = nn.Conv2d(nc, stages[0][1], 1)
        self.stages = nn.ModuleList(_stage(c, k, expansion, group_channels, n_blocks)
                                    for (_, c), k in zip(stages, counts))
        self.transitions = nn.ModuleList(
            nn.Conv2d(c, c_next, 1) for (_, c), (_, c_next) in zip(stages, stages[1:]))
        self.to_logit = nn.Linear(stages[-1][1] * BASIS * BASIS, 1)

    def forward(self, x):
        x = F.leaky_relu(self.from_image(x), 0.2)
        for k, stage in enumerate(self.stages):
            x = stage(x)
            if k < len(self.transitions):  # halve the side first: cheaper to widen after
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False,
                                  antialias=True)
                x = self.transitions[k](x)
        return self.to_logit(F.leaky_relu(x, 0.2).flatten(1)).squeeze(1)
