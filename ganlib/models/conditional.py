"""Conditional generators and discriminators, G(z, y) and D(x, y), for class labels y, as MLPs.

* concatenation (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets",
  arXiv:1411.1784): an embedding of y appended to G's noise and to D's flattened image;
* the projection discriminator (Miyato & Koyama 2018, arXiv:1802.05637):
  D(x, y) = psi(phi(x)) + <embed(y), phi(x)>;
* AC-GAN (Odena, Olah & Shlens 2017, arXiv:1610.09585): D sees no label; a second head
  classifies every image (`forward_with_classes`), and both players minimise its
  cross-entropy (`ganlib.losses.ac_loss`, weighted by FitConfig.ac_weight).

Every conditional G is `decode(z, embed(y))`; without labels it draws the classes in turn
(`balanced_labels`), so G(z) and G.sample(n) work as for an unconditional G.
"""

import math

import torch
from torch import nn

from .layers import Generator, _mlp, _spectral


def check_labels(y, n_classes, batch=None):
    """`y` as a long tensor of shape (B,), after checking that it holds integer class labels in
    [0, n_classes) and, if `batch` is given, one per image. Raises ValueError saying what is
    wrong and what is allowed."""
    y = torch.as_tensor(y)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        raise ValueError(f"labels must be integers in [0, {n_classes - 1}], got a {y.dtype} "
                         f"tensor; pass class indices, not one-hot vectors or scores")
    if y.dim() != 1:
        raise ValueError(f"labels must have shape (B,), one class index per image; got shape "
                         f"{tuple(y.shape)}")
    if batch is not None and len(y) != batch:
        raise ValueError(f"{len(y)} labels for {batch} images: give exactly one per image")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)].unique()[:5].tolist()
        raise ValueError(f"labels must be in [0, {n_classes - 1}] for a model of {n_classes} "
                         f"classes; got {bad}")
    return y.long()


def balanced_labels(n, n_classes):
    """(n,) labels 0, 1, ..., n_classes - 1, 0, 1, ...: every class n / n_classes times (the
    first n % n_classes classes once more when n is not a multiple)."""
    return torch.arange(n) % n_classes


def is_conditional(model):
    """Whether `model` takes class labels, G(z, y) or D(x, y): its hparams name n_classes."""
    return "n_classes" in getattr(model, "hparams", {})


class ConditionalGenerator(Generator):
    """Base class of G(z, y): `n_classes`, balanced labels when none are given, `sample`.
    A subclass has `embed` (an nn.Embedding of the classes) and `decode(z, e)`."""

    n_classes: int

    def forward(self, z, y=None):
        """Images (B, C, H, W) in [-1, 1] of classes y (B,) (None: `balanced_labels`)."""
        return self.decode(z, self.embed(self._labels(y, z)))

    def _labels(self, y, z):
        """`y` checked and on z's device; None: `balanced_labels` for the batch of z."""
        y = balanced_labels(len(z), self.n_classes) if y is None else y
        return check_labels(y, self.n_classes, batch=len(z)).to(z.device)

    def sample(self, n, y=None, seed=None, truncation=None):
        """`n` images of classes `y` ((n,) labels; None: every class equally often, see
        `balanced_labels`), from fresh noise seeded by `seed`, in eval mode; `truncation`: as
        `Generator.sample`."""
        y = balanced_labels(n, self.n_classes) if y is None else check_labels(
            y, self.n_classes, batch=n)
        return self._draw(n, seed, y, truncation=truncation)


class ConditionalMLPGenerator(ConditionalGenerator):
    """(z (B, nz), y (B,)) -> images (B, C, H, W) in [-1, 1]: the MLP generator of chapter 2
    with an `embed_dim` embedding of y concatenated to z (Mirza & Osindero 2014)."""

    def __init__(self, nz=100, n_classes=10, hidden=(256, 512, 1024), img_shape=(1, 28, 28),
                 act="leaky_relu", embed_dim=10):
        super().__init__()
        self.hparams = dict(nz=nz, n_classes=n_classes, hidden=tuple(hidden),
                            img_shape=tuple(img_shape), act=act, embed_dim=embed_dim)
        self.nz, self.n_classes, self.img_shape = nz, n_classes, tuple(img_shape)
        self.embed = nn.Embedding(n_classes, embed_dim)  # (B,) -> (B, embed_dim)
        self.net = _mlp([nz + embed_dim, *hidden, math.prod(img_shape)], act)

    def decode(self, z, e):
        """Images (B, C, H, W) from noise z (B, nz) and class codes e (B, embed_dim)."""
        h = torch.cat([z, e.to(z.dtype)], 1)  # (B, nz + embed_dim)
        return torch.tanh(self.net(h)).view(-1, *self.img_shape)  # (B, C, H, W)


class ConcatMLPDiscriminator(nn.Module):
    """(images (B, C, H, W), y (B,)) -> logits (B,): chapter 2's MLP discriminator with an
    `embed_dim` embedding of y concatenated to the flattened image (Mirza & Osindero 2014)."""

    def __init__(self, n_classes=10, img_shape=(1, 28, 28), hidden=(1024, 512, 256),
                 act="leaky_relu", dropout=0.5, embed_dim=10, spectral_norm=False):
        super().__init__()
        self.hparams = dict(n_classes=n_classes, img_shape=tuple(img_shape),
                            hidden=tuple(hidden), act=act, dropout=dropout, embed_dim=embed_dim,
                            **({"spectral_norm": True} if spectral_norm else {}))
        self.n_classes = n_classes
        self.embed = nn.Embedding(n_classes, embed_dim)
        net = _mlp([math.prod(img_shape) + embed_dim, *hidden, 1], act, dropout)
        self.net = _spectral(net, spectral_norm)

    def forward(self, x, y):
        y = check_labels(y, self.n_classes, batch=len(x)).to(x.device)
        h = torch.cat([x.flatten(1), self.embed(y).to(x.dtype)], 1)  # (B, C*H*W + embed_dim)
        return self.net(h).squeeze(1)  # (B,)


class _Features(nn.Module):
    """phi: images (B, C, H, W) -> features (B, hidden[-1]), the MLP body shared by the
    projection and AC-GAN discriminators (an activation after its last layer)."""

    def __init__(self, img_shape, hidden, act, dropout, spectral_norm):
        super().__init__()
        body = _mlp([math.prod(img_shape), *hidden, 1], act, dropout)
        body = nn.Sequential(*list(body)[:-1])  # drop the output layer: keep the features
        self.net = _spectral(body, spectral_norm)

    def forward(self, x):
        return self.net(x.flatten(1))


class _FeatureDiscriminator(nn.Module):
    """What the projection and AC-GAN discriminators share: their hparams, `n_classes` and
    the body `phi` whose features their heads read."""

    def __init__(self, n_classes, img_shape, hidden, act, dropout, spectral_norm):
        super().__init__()
        self.hparams = dict(n_classes=n_classes, img_shape=tuple(img_shape),
                            hidden=tuple(hidden), act=act, dropout=dropout,
                            **({"spectral_norm": True} if spectral_norm else {}))
        self.n_classes = n_classes
        self.phi = _Features(img_shape, hidden, act, dropout, spectral_norm)


class ProjectionMLPDiscriminator(_FeatureDiscriminator):
    """(images (B, C, H, W), y (B,)) -> logits (B,) = psi(phi(x)) + <embed(y), phi(x)>
    (Miyato & Koyama 2018, eq. 3): phi the MLP body, psi a linear layer to one logit, embed a
    (n_classes, hidden[-1]) table (spectral-normalised with the rest when asked, as in the
    paper)."""

    def __init__(self, n_classes=10, img_shape=(1, 28, 28), hidden=(1024, 512, 256),
                 act="leaky_relu", dropout=0.5, spectral_norm=False):
        super().__init__(n_classes, img_shape, hidden, act, dropout, spectral_norm)
        self.psi = _spectral(nn.Linear(hidden[-1], 1), spectral_norm)
        self.embed = nn.Embedding(n_classes, hidden[-1])
        if spectral_norm:
            torch.nn.utils.parametrizations.spectral_norm(self.embed)

    def forward(self, x, y):
        y = check_labels(y, self.n_classes, batch=len(x)).to(x.device)
        h = self.phi(x)  # (B, F)
        return self.psi(h).squeeze(1) + (self.embed(y).to(h.dtype) * h).sum(1)  # (B,)


class ACGANMLPDiscriminator(_FeatureDiscriminator):
    """images (B, C, H, W) -> logits (B,), real or fake; `forward_with_classes` also returns
    class logits (B, n_classes) from a second head on the same features (Odena et al. 2017).
    D never sees a label: `forward(x, y)` accepts y only to share the conditional interface,
    and checks it."""

    def __init__(self, n_classes=10, img_shape=(1, 28, 28), hidden=(1024, 512, 256),
                 act="leaky_relu", dropout=0.5, spectral_norm=False):
        super().__init__(n_classes, img_shape, hidden, act, dropout, spectral_norm)
        self.source = _spectral(nn.Linear(hidden[-1], 1), spectral_norm)  # real or fake
        self.classes = _spectral(nn.Linear(hidden[-1], n_classes), spectral_norm)

    def forward_with_classes(self, x):
        h = self.phi(x)  # (B, F)
        return self.source(h).squeeze(1), self.classes(h)  # (B,), (B, n_classes)

    def forward(self, x, y=None):
        if y is not None:
            check_labels(y, self.n_classes, batch=len(x))
        return self.forward_with_classes(x)[0]
