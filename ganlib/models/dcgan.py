"""The DCGAN pair: Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with
Deep Convolutional GANs", arXiv:1511.06434, and its initialisation `weights_init`.

Strided (transposed) convolutions instead of pooling, BatchNorm in both (not on D's first
layer), ReLU in G and LeakyReLU(0.2) in D, tanh at G's output. `DCGANDiscriminator` also takes
spectral_norm=True (SN-DCGAN, Miyato et al. 2018: no BatchNorm, since batch statistics would
rescale what SN bounds), batchnorm=False, and minibatch_std=True.
"""

import math

from torch import nn
from torch.nn.utils import parametrize

from .layers import Generator, _d_hparams, _spectral, _with_minibatch_std

DCGAN_SIZES = (32, 64, 128)


def _check_size(image_size):
    if image_size not in DCGAN_SIZES:
        raise ValueError(f"image_size must be one of {DCGAN_SIZES}, got {image_size!r}")
    # One stride-2 block per doubling from 4x4 up to image_size: 3 for 32, 4 for 64, 5 for 128.
    return int(math.log2(image_size)) - 2


class DCGANGenerator(Generator):
    """z (B, nz) -> images (B, nc, S, S) in [-1, 1], S in {32, 64, 128}.

    Project z to a 4x4 map with `ngf * S/8` channels, then halve the channels and double the
    side with ConvTranspose + BatchNorm + ReLU, ending in a ConvTranspose to `nc` and tanh.
    Shapes below are for S = 64.
    """

    def __init__(self, nz=100, ngf=64, nc=3, image_size=64):
        super().__init__()
        n_up = _check_size(image_size)
        self.hparams = dict(nz=nz, ngf=ngf, nc=nc, image_size=image_size)
        self.nz = nz
        ch = ngf * image_size // 8
        layers = [  # (B, nz, 1, 1) -> (B, ngf*8, 4, 4)
            nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(inplace=True),
        ]
        for _ in range(n_up - 1):  # (B, ngf*8, 4, 4) -> ... -> (B, ngf, 32, 32)
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]  # (B, nc, 64, 64)
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images (B, nc, S, S) -> logits (B,), mirroring `DCGANGenerator`.

    Strided Conv + BatchNorm + LeakyReLU(0.2), with no BatchNorm on the first layer (the paper
    found that BatchNorm on D's input layer makes training unstable). Shapes for S = 64.
    spectral_norm=True: every Conv spectral-normalised and no BatchNorm at all (SN-DCGAN).
    batchnorm=False: no BatchNorm, without spectral normalisation. minibatch_std=True: a
    `MinibatchStd` channel before the last conv, (B, ndf*8 + 1, 4, 4).
    """

    def __init__(self, ndf=64, nc=3, image_size=64, spectral_norm=False, batchnorm=True,
                 minibatch_std=False):
        super().__init__()
        n_down = _check_size(image_size)
        self.hparams = _d_hparams(spectral_norm, minibatch_std, batchnorm, ndf=ndf, nc=nc,
                                  image_size=image_size)
        norm = batchnorm and not spectral_norm
        ch = ndf
        layers = [  # (B, nc, 64, 64) -> (B, ndf, 32, 32)
            nn.Conv2d(nc, ch, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(n_down - 1):  # (B, ndf, 32, 32) -> ... -> (B, ndf*8, 4, 4)
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                *([nn.BatchNorm2d(ch * 2)] if norm else []),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))  # (B, 1, 1, 1)
        net = _with_minibatch_std(nn.Sequential(*layers), minibatch_std)
        self.net = _spectral(net, spectral_norm)

    def forward(self, x):
        return self.net(x).flatten()  # (B,)


def weights_init(m):
    """DCGAN init (Radford et al. 2016, sec. 4): conv weights ~ N(0, 0.02), BatchNorm weights
    ~ N(1, 0.02), biases 0. Use as `model.apply(weights_init)`; other modules are left alone.
    A spectral-normalised conv gets its raw weight initialised (the scale then cancels out)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        spectral = parametrize.is_parametrized(m, "weight")
        nn.init.normal_(m.parametrizations.weight.original if spectral else m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
