"""Generators and discriminators for every chapter, and `weights_init`.

Three families, all built from constructor arguments only:

* `ToyGenerator` / `ToyDiscriminator`: small MLPs for 1-D and 2-D toy distributions
  (chapter 1, in the spirit of GAN Lab).
* `MLPGenerator` / `MLPDiscriminator`: the fully connected MNIST pair of the classic
  tutorials (Goodfellow et al. 2014, arXiv:1406.2661).
* `DCGANGenerator` / `DCGANDiscriminator`: Radford, Metz & Chintala 2016,
  "Unsupervised Representation Learning with Deep Convolutional GANs", arXiv:1511.06434.

Conventions shared by all of them:
* every generator takes `z` of shape (B, nz) and has `nz` and `sample(n, seed=None)`;
* every discriminator returns raw logits of shape (B,); the sigmoid lives in the loss
  (`BCEWithLogits`/softplus), which is numerically stable where Sigmoid + BCELoss is not;
* every model keeps the keyword arguments it was built with in `hparams`, so a checkpoint
  can rebuild it with `build(kind, **hparams)` without the caller knowing them.

`ganlib.shapes.check_shapes(G, D, real)` checks a pair against a batch of the data before
training, from the `hparams` (`fit` runs it).

Every discriminator takes `minibatch_std=False`. With True, a `MinibatchStd` layer before its
last layer appends one feature: the standard deviation of each feature over a group of images
of the batch, averaged (Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs",
arXiv:1710.10196, sec. 3). A generator that makes near-copies lowers it, and D can tell, which
counters mode collapse. D(x_i) then depends on the other images of its group, like BatchNorm:
the training step runs real and fake through D separately, and gradient penalties refuse it
(`mixes_batch`). `DCGANDiscriminator(batchnorm=False)` drops BatchNorm without spectral
normalisation (for R1 on faces, as StyleGAN's D has none). Both are recorded in `hparams` only
when not at their defaults, so older checkpoints compare equal. The MLP and toy
discriminators also take PacGAN's `pack=m` (Lin et al. 2018, arXiv:1712.04086; `Pack`): D
judges m samples at once, one logit per pack; it mixes the batch in the same sense.

Every discriminator takes `spectral_norm=False`. With True, each of its Linear and Conv
layers computes with W / sigma(W), sigma the largest singular value of W (reshaped to
(out, in * k * k) for a convolution), estimated by one step of power iteration per forward
pass in training mode (Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for
GANs", arXiv:1802.05957; torch's `parametrizations.spectral_norm`). A Linear layer is then
1-Lipschitz, up to the estimate (a convolution about so: its operator norm can exceed that of
the reshaped matrix), which keeps D's gradients bounded, as a Wasserstein critic needs. Like
Miyato et al.'s SN-DCGAN, `DCGANDiscriminator(spectral_norm=True)` has no BatchNorm:
normalising by batch statistics would rescale what SN just bounded, and it makes D(x_i)
depend on the rest of the batch, which gradient penalties assume it does not. `hparams`
records spectral_norm only when True, so the hparams of every model built before the option
existed are unchanged (resume compares them). The weights then live under
"<layer>.parametrizations.weight.original" in the state_dict, with the power iteration's
vectors u, v as buffers; `build` rebuilds the same layout.
"""

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

DCGAN_SIZES = (32, 64, 128)


def _activation(name):
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {name!r}")


class MinibatchStd(nn.Module):
    """x (B, F) or (B, C, H, W) -> one more feature or channel: the standard deviation of each
    feature (each channel and position) over groups of `group_size` images, averaged over the
    features, the same value for every image of a group (Karras et al. 2018, sec. 3; groups of
    4 as in ProGAN and StyleGAN). The group is the largest divisor of B up to group_size, so
    any batch size works (a batch of 1 gets 0)."""

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        B = x.shape[0]
        g = next(k for k in range(min(self.group_size, B), 0, -1) if B % k == 0)
        y = x.reshape(B // g, g, *x.shape[1:]).float()  # (groups, g, ...)
        std = (y.var(1, unbiased=False) + 1e-8).sqrt()  # (groups, ...)
        std = std.flatten(1).mean(1).to(x.dtype)  # (groups,): one number a group
        std = std.repeat_interleave(g)  # (B,)
        extra = std.view(B, *([1] * (x.dim() - 1))).expand(B, 1, *x.shape[2:])
        return torch.cat([x, extra], 1)  # (B, F + 1) or (B, C + 1, H, W)


class Pack(nn.Module):
    """x (B, ...) -> (B / m, m * F): every m consecutive samples flattened into one input, so
    D judges m samples at once and outputs one logit per pack (PacGAN; Lin, Khetan, Fanti &
    Oh 2018, arXiv:1712.04086, with m = 2 to 4). A pack of fakes that all look alike is easy
    to call fake, which penalises a generator that collapses. Real and fake packs are never
    mixed: a pack is m reals or m fakes. Raises ValueError when B is not a multiple of m."""

    def __init__(self, m=2):
        super().__init__()
        self.m = m

    def forward(self, x):
        if x.shape[0] % self.m:
            raise ValueError(f"PacGAN packs {self.m} samples into each D input, so the batch "
                             f"({x.shape[0]}) must be a multiple of {self.m}: change batch_size")
        return x.reshape(x.shape[0] // self.m, -1)  # (B / m, m * F)


def _pack_hparams(pack):
    """{"pack": m} for PacGAN's m > 1, {} for no packing (the hparams of models from before)."""
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise ValueError(f"pack must be a whole number >= 1 (PacGAN's m; 1: no packing), got "
                         f"{pack!r}")
    return {"pack": pack} if pack > 1 else {}


def mixes_batch(model):
    """Whether `model`'s output for one image depends on the other images of its batch
    (BatchNorm in training mode, `MinibatchStd`, `Pack`)."""
    return any(isinstance(m, (nn.modules.batchnorm._BatchNorm, MinibatchStd, Pack))
               for m in model.modules())


class Generator(nn.Module):
    """Base class: what every generator offers besides `forward`."""

    nz: int

    def sample(self, n, seed=None):
        """`n` samples in [-1, 1] from fresh noise (seeded if `seed` is given), in eval mode."""
        return self._draw(n, seed)

    @torch.no_grad()
    def _draw(self, n, seed, *inputs):
        """self(z, *inputs) in eval mode for `n` fresh noise vectors z (seeded if `seed` is
        given; drawn on the CPU, so a seed gives the same z on every device), as float32.
        Tensors in `inputs` (a conditional G's labels) are moved to G's device."""
        device = next(self.parameters()).device
        gen = None if seed is None else torch.Generator(device="cpu").manual_seed(seed)
        z = torch.randn(n, self.nz, generator=gen).to(device)
        inputs = [x.to(device) if torch.is_tensor(x) else x for x in inputs]
        was_training = self.training
        self.eval()
        try:
            return self(z, *inputs).float()
        finally:
            self.train(was_training)


def _mlp(sizes, act, dropout=0.0):
    """Linear layers with `act` (and dropout) between them; no activation after the last."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(_activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _spectral(model, on):
    """Spectral-normalise every Linear and Conv2d layer of `model` in place (if `on`)."""
    if on:
        for layer in [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]:
            _spectral_norm(layer)
    return model


def _d_hparams(spectral_norm, minibatch_std=False, batchnorm=True, **hparams):
    """A discriminator's hparams: the options only when not at their defaults (see the
    module's docstring), so that models built before they existed compare equal."""
    return (hparams | ({"spectral_norm": True} if spectral_norm else {})
            | ({"minibatch_std": True} if minibatch_std else {})
            | ({} if batchnorm else {"batchnorm": False}))


def _with_minibatch_std(net, on):
    """`net` (a Sequential ending in its output layer) with a MinibatchStd before that layer,
    whose input grows by one (if `on`)."""
    if not on:
        return net
    *body, last = list(net)
    if isinstance(last, nn.Linear):
        last = nn.Linear(last.in_features + 1, last.out_features, bias=last.bias is not None)
    else:
        last = nn.Conv2d(last.in_channels + 1, last.out_channels, last.kernel_size,
                         last.stride, last.padding, bias=last.bias is not None)
    return nn.Sequential(*body, MinibatchStd(), last)


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


# The kinds a checkpoint may name. A checkpoint stores (kind, hparams), never code.
# `ganlib.checkpoint.MODELS` adds ganlib.conditional's kinds (that module builds on this one,
# so this one cannot import it).
MODELS = {
    "toy_g": ToyGenerator, "toy_d": ToyDiscriminator,
    "mlp_g": MLPGenerator, "mlp_d": MLPDiscriminator,
    "dcgan_g": DCGANGenerator, "dcgan_d": DCGANDiscriminator,
}


def kind_of(model, registry=None):
    """The key of `model`'s class in `registry` (default `MODELS`): the inverse of `build`."""
    registry = MODELS if registry is None else registry
    for kind, cls in registry.items():
        if type(model) is cls:
            return kind
    raise TypeError(f"{type(model).__name__} is not a ganlib model; known: {sorted(registry)}")


def build(kind, registry=None, /, **hparams):
    """Rebuild a model from its kind in `registry` (default `MODELS`) and its `hparams`."""
    registry = MODELS if registry is None else registry
    if kind not in registry:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(registry)}")
    return registry[kind](**hparams)
