"""Conditional generators and discriminators, G(z, y) and D(x, y), for class labels y.

Three ways to tell the networks which class to draw or judge, as fully connected models:

* **concatenation** (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets",
  arXiv:1411.1784): a learned embedding of y is appended to G's noise and to D's flattened
  image (`ConcatMLPDiscriminator`);
* the **projection discriminator** (Miyato & Koyama 2018, "cGANs with Projection
  Discriminator", arXiv:1802.05637): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, the class
  entering as an inner product with D's features rather than as an input
  (`ProjectionMLPDiscriminator`);
* **AC-GAN** (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
  Classifier GANs", arXiv:1610.09585): D sees no label; a second head classifies every image,
  real or fake, and both players also minimise that head's cross-entropy
  (`ACGANMLPDiscriminator.forward_with_classes`).

The same three on the DCGAN pair (Radford, Metz & Chintala 2016, arXiv:1511.06434) are in
`ganlib.conditional_dcgan`, built on this module's base class and checks.

Every conditional generator concatenates an embedding of y to z: `forward(z, y)` is
`decode(z, embed(y))`, and `decode` also takes mixtures of class codes (`ganlib.classes`). Its `sample(n, y=None, seed=None)`
draws exactly n / n_classes images of every class when y is not given (class balance by
construction), and so does G(z) without labels (classes 0, 1, ..., as `balanced_labels`), which
is what lets fit's snapshots and a score_fn written for unconditional generators
(`G(fixed_noise)`, `G.sample(n)`) show a conditional one. Every model here refuses labels
outside its classes with an error naming the allowed range (`check_labels`).

Status: trained by the one `ganlib.fit`. Given a conditional G (its hparams name n_classes)
and labelled data (an `ImageData` with labels, or batches of (x, y)), fit calls G(z, y) and
D(x, y), the fakes of a step drawn for the labels of its real batch (`ganlib.train`);
`FitConfig.ac_weight` adds AC-GAN's class cross-entropy to both players' losses
(`ganlib.losses.ac_loss`). Checkpoints store these models by kind and hparams, n_classes
included (`MODELS`, which `ganlib.checkpoint` adds to `ganlib.models.MODELS`), so
`ganlib.load_generator(path)` rebuilds a conditional G and resume compares the classes. Not yet:
conditional training under torchrun.
"""

import math

import torch
from torch import nn

from .models import Generator, _mlp, _spectral


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


def check_pair(G, D, y, ac_weight=0.0):
    """Check, before training, that G, D and the data's labels go together: `y` is the first
    batch's labels (B,), or None for unlabelled data; `ac_weight` is FitConfig's. Raises
    ValueError saying what to change: labels for an unconditional G or none for a conditional
    one, a conditional D with an unconditional G or the reverse, other n_classes, labels
    outside [0, n_classes) (`check_labels`), an AC-GAN D without ac_weight or the reverse."""
    g, d = is_conditional(G), is_conditional(D)
    has_head = hasattr(D, "forward_with_classes")
    if not g:
        if d:
            raise ValueError(f"D ({type(D).__name__}) takes class labels but G does not: "
                             f"train a conditional G with it (ConditionalMLPGenerator, "
                             f"ConditionalDCGANGenerator), or use an unconditional D")
        if y is not None:
            raise ValueError("the batches carry labels, (x, y), but G is unconditional: give "
                             "batches of images alone, or train a conditional G")
        if ac_weight:
            raise ValueError("FitConfig.ac_weight weighs the class head of an AC-GAN D, "
                             "which needs a conditional G and an AC-GAN D (ACGANMLPDiscriminator, "
                             "ACGANDCGANDiscriminator)")
        return
    n = G.hparams["n_classes"]
    if y is None:
        raise ValueError(f"G is conditional ({n} classes): it needs labelled data, an "
                         f"ImageData with labels or batches of (x, y)")
    if not d:
        raise ValueError(f"G is conditional ({n} classes) but D ({type(D).__name__}) takes no "
                         f"labels: use a conditional D (ganlib.conditional's MLPs or "
                         f"ganlib.conditional_dcgan's concat, projection or AC-GAN D)")
    if D.hparams["n_classes"] != n:
        raise ValueError(f"G has {n} classes, D {D.hparams['n_classes']}: build both with "
                         f"the data's number of classes")
    check_labels(y, n)
    if has_head and not ac_weight:
        raise ValueError("an AC-GAN D never sees the labels: only its class head, weighted by "
                         "FitConfig.ac_weight, tells G which class to draw; set "
                         "ac_weight=1.0 (Odena et al. 2017)")
    if ac_weight and not has_head:
        raise ValueError(f"FitConfig.ac_weight={ac_weight!r} weighs AC-GAN's class head, which "
                         f"{type(D).__name__} does not have: use ACGANMLPDiscriminator or "
                         f"ACGANDCGANDiscriminator, or ac_weight=0")


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

    def sample(self, n, y=None, seed=None):
        """`n` images of classes `y` ((n,) labels; None: every class equally often, see
        `balanced_labels`), from fresh noise seeded by `seed`, in eval mode."""
        y = balanced_labels(n, self.n_classes) if y is None else check_labels(
            y, self.n_classes, batch=n)
        return self._draw(n, seed, y)


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


# The kinds a checkpoint may name (`ganlib.checkpoint.MODELS` adds them to ganlib.models').
MODELS = {
    "cond_mlp_g": ConditionalMLPGenerator, "concat_mlp_d": ConcatMLPDiscriminator,
    "projection_mlp_d": ProjectionMLPDiscriminator, "acgan_mlp_d": ACGANMLPDiscriminator,
}
