"""Fully connected pairs: the toy MLPs of chapter 1 (1-D and 2-D points, in the spirit of GAN
Lab, arXiv:1809.01587) and the MNIST MLPs of the classic tutorials (Goodfellow et al. 2014,
arXiv:1406.2661).

Every discriminator takes `spectral_norm`, `minibatch_std` and PacGAN's `pack`
(`ganlib.models.layers`).
"""

import math

import torch
from torch import nn

from .layers import (Generator, Pack, _d_hparams, _mlp, _pack_hparams, _spectral,
                     _with_minibatch_std)


class ToyGenerator(Generator):
    """z (B, nz) -> x (B, dim): an MLP for 1-D and 2-D toy distributions."""

    def __init__(self, nz=2, dim=2, hidden=128, depth=3, act="relu"):
        super().__init__()
        self.hparams = dict(nz=nz, dim=dim, hidden=hidden, depth=depth, act=act)
        self.nz = nz
        self.net = _mlp([nz] + [hidden] * depth + [dim], act)

    def forward(self, z):
        return self.net(z)  # (B, dim), unbounded: toy data need not live in [-1, 1]


class ToyDiscriminator(nn.Module):
    """x (B, dim) -> logits (B,); with PacGAN's pack = m, one logit per m points (B / m,)."""

    def __init__(self, dim=2, hidden=128, depth=3, act="leaky_relu", spectral_norm=False,
                 minibatch_std=False, pack=1):
        super().__init__()
        self.hparams = _d_hparams(spectral_norm, minibatch_std, dim=dim, hidden=hidden,
                                  depth=depth, act=act, **_pack_hparams(pack))
        net = _with_minibatch_std(_mlp([dim * pack] + [hidden] * depth + [1], act),
                                  minibatch_std)
        self.pack = Pack(pack) if pack > 1 else None  # PacGAN: (B, dim) -> (B / m, m * dim)
        self.net = _spectral(net, spectral_norm)

    def forward(self, x):
        x = x if self.pack is None else self.pack(x)
        return self.net(x).squeeze(1)  # (B,), or (B / m,) with pack = m


class MLPGenerator(Generator):
    """z (B, nz) -> images (B, C, H, W) in [-1, 1]: the classic fully connected generator."""

    def __init__(self, nz=100, hidden=(256, 512, 1024), img_shape=(1, 28, 28), act="leaky_relu",
                 dropout=0.0):
        super().__init__()
        self.hparams = dict(nz=nz, hidden=tuple(hidden), img_shape=tuple(img_shape), act=act,
                            dropout=dropout)
        self.nz = nz
        self.img_shape = tuple(img_shape)
        self.net = _mlp([nz, *hidden, math.prod(img_shape)], act, dropout)

    def forward(self, z):
        x = torch.tanh(self.net(z))  # (B, C*H*W)
        return x.view(-1, *self.img_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """images (B, C, H, W) -> logits (B,): the classic fully connected discriminator; with
    PacGAN's pack = m, one logit per m images (B / m,)."""

    def __init__(self, img_shape=(1, 28, 28), hidden=(1024, 512, 256), act="leaky_relu",
                 dropout=0.3, spectral_norm=False, minibatch_std=False, pack=1):
        super().__init__()
        self.hparams = _d_hparams(spectral_norm, minibatch_std, img_shape=tuple(img_shape),
                                  hidden=tuple(hidden), act=act, dropout=dropout,
                                  **_pack_hparams(pack))
        net = _with_minibatch_std(_mlp([math.prod(img_shape) * pack, *hidden, 1], act, dropout),
                                  minibatch_std)
        self.pack = Pack(pack) if pack > 1 else None  # PacGAN: (B, F) -> (B / m, m * F)
        self.net = _spectral(net, spectral_norm)

    def forward(self, x):
        x = x.flatten(1) if self.pack is None else self.pack(x)  # (B, C*H*W) or packed
        return self.net(x).squeeze(1)  # (B,), or (B / m,) with pack = m


