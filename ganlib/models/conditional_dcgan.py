"""Conditional DCGANs: G(z, y) and three ways for D to use the class y, on the DCGAN pair.

* `ConditionalDCGANGenerator`: z with an embedding of y concatenated (Mirza & Osindero 2014).
* `ConcatDCGANDiscriminator`: y's embedding as `embed_dim` constant channels of the image.
* `ProjectionDCGANDiscriminator`: psi(phi(x)) + <embed(y), sum phi(x)> (Miyato & Koyama 2018,
  arXiv:1802.05637, eq. 3), the class entering only at the end.
* `ACGANDCGANDiscriminator`: no label in; a second head classifies every image (Odena et al.
  2017, arXiv:1610.09585). Its known weakness: G is rewarded for images the head classifies
  easily, which can narrow each class (Gong et al. 2019, "Twin Auxiliary Classifiers GAN",
  arXiv:1907.02690).
Shapes below are for image_size S = 64 (32 and 128 work alike).
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from .conditional import ConditionalGenerator, check_labels
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .layers import _d_hparams, _spectral


class ConditionalDCGANGenerator(ConditionalGenerator):
    """(z (B, nz), y (B,)) -> images (B, nc, S, S) in [-1, 1], S in {32, 64, 128}: a
    `DCGANGenerator` whose input is z with an `embed_dim` embedding of y concatenated."""

    def __init__(self, nz=100, n_classes=10, ngf=64, nc=3, image_size=64, embed_dim=10):
        super().__init__()
        self.hparams = dict(nz=nz, n_classes=n_classes, ngf=ngf, nc=nc, image_size=image_size,
                            embed_dim=embed_dim)
        self.nz, self.n_classes = nz, n_classes
        self.embed = nn.Embedding(n_classes, embed_dim)  # (B,) -> (B, embed_dim)
        # (B, nz + embed_dim) -> (B, ngf*8, 4, 4) -> ... -> (B, nc, 64, 64)
        self.body = DCGANGenerator(nz + embed_dim, ngf, nc, image_size)

    def decode(self, z, e):
        """Images (B, nc, S, S) from noise z (B, nz) and class codes e (B, embed_dim): rows of
        `embed.weight`, or mixtures of them (`ganlib.evaluate.classes.class_path`)."""
        return self.body(torch.cat([z, e.to(z.dtype)], 1))


class _DCGANBody(nn.Module):
    """What the conditional DCGAN discriminators share: hparams, n_classes, and a
    `DCGANDiscriminator` split into its body phi, (B, in_ch, 64, 64) -> (B, ndf*8, 4, 4), and
    its last 4x4 conv psi, (B, ndf*8, 4, 4) -> (B, 1, 1, 1), the real-or-fake logit."""

    def __init__(self, n_classes, ndf, nc, image_size, spectral_norm, batchnorm, in_ch=None,
                 **extra):
        super().__init__()
        self.hparams = _d_hparams(spectral_norm, False, batchnorm, n_classes=n_classes, ndf=ndf,
                                  nc=nc, image_size=image_size, **extra)
        self.n_classes = n_classes
        net = DCGANDiscriminator(ndf, in_ch or nc, image_size, spectral_norm, batchnorm).net
        *body, self.psi = net
        self.phi = nn.Sequential(*body)

    def _labels(self, y, x):
        return check_labels(y, self.n_classes, batch=len(x)).to(x.device)


class ConcatDCGANDiscriminator(_DCGANBody):
    """(images (B, nc, S, S), y (B,)) -> logits (B,): a `DCGANDiscriminator` whose input is
    the image with y's `embed_dim`-dimensional embedding as that many constant channels,
    (B, nc + embed_dim, S, S) (Mirza & Osindero 2014, for convolutions)."""

    def __init__(self, n_classes=10, ndf=64, nc=3, image_size=64, embed_dim=10,
                 spectral_norm=False, batchnorm=True):
        super().__init__(n_classes, ndf, nc, image_size, spectral_norm, batchnorm,
                         in_ch=nc + embed_dim, embed_dim=embed_dim)
        self.embed = nn.Embedding(n_classes, embed_dim)  # (B,) -> (B, embed_dim)

    def forward(self, x, y):
        e = self.embed(self._labels(y, x)).to(x.dtype)  # (B, embed_dim)
        maps = e[:, :, None, None].expand(-1, -1, *x.shape[2:])  # (B, embed_dim, S, S)
        h = torch.cat([x, maps], 1)  # (B, nc + embed_dim, S, S)
        return self.psi(self.phi(h)).flatten()  # (B,)


class ProjectionDCGANDiscriminator(_DCGANBody):
    """(images (B, nc, S, S), y (B,)) -> logits (B,) = psi(phi(x)) + <embed(y), sum phi(x)>
    (Miyato & Koyama 2018, eq. 3): the label's (n_classes, ndf * S/8) embedding meets phi's
    features summed over the 4x4 positions (the paper's global sum pooling). The embedding is
    spectral-normalised with the rest when asked, as in the paper, and starts
    Xavier-uniform, as in the authors' code."""

    def __init__(self, n_classes=10, ndf=64, nc=3, image_size=64, spectral_norm=False,
                 batchnorm=True):
        super().__init__(n_classes, ndf, nc, image_size, spectral_norm, batchnorm)
        self.embed = nn.Embedding(n_classes, self.psi.in_channels)  # (B,) -> (B, ndf*8)
        nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            _spectral_norm(self.embed)

    def forward(self, x, y):
        y = self._labels(y, x)
        h = self.phi(x)  # (B, ndf*8, 4, 4)
        pooled = h.sum((2, 3))  # (B, ndf*8)
        return self.psi(h).flatten() + (self.embed(y).to(pooled.dtype) * pooled).sum(1)  # (B,)


class ACGANDCGANDiscriminator(_DCGANBody):
    """images (B, nc, S, S) -> logits (B,), real or fake; `forward_with_classes` also returns
    class logits (B, n_classes) from a second 4x4 conv on the same features (Odena et al.
    2017). D never sees a label: `forward(x, y)` accepts y only to share the conditional
    interface, and checks it."""

    def __init__(self, n_classes=10, ndf=64, nc=3, image_size=64, spectral_norm=False,
                 batchnorm=True):
        super().__init__(n_classes, ndf, nc, image_size, spectral_norm, batchnorm)
        head = nn.Conv2d(self.psi.in_channels, n_classes, 4, 1, 0, bias=True)
        self.classes = _spectral(head, spectral_norm)  # (B, ndf*8, 4, 4) -> (B, K, 1, 1)

    def forward_with_classes(self, x):
        h = self.phi(x)  # (B, ndf*8, 4, 4)
        return self.psi(h).flatten(), self.classes(h).flatten(1)  # (B,), (B, n_classes)

    def forward(self, x, y=None):
        if y is not None:
            self._labels(y, x)
        return self.forward_with_classes(x)[0]
