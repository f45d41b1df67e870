"""The pieces the models are built from: MLP stacks, spectral normalisation, minibatch std,
PacGAN's packing, and the `Generator` base class with `sample`.

* `MinibatchStd`: Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs",
  arXiv:1710.10196, sec. 3.
* `Pack`: Lin, Khetan, Fanti & Oh 2018, "PacGAN", arXiv:1712.04086.
* spectral normalisation: Miyato, Kataoka, Koyama & Yoshida 2018, arXiv:1802.05957 (torch's
  `parametrizations.spectral_norm`: W / sigma(W), one power iteration per training forward).
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


def _activation(name):
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {name!r}")


class MinibatchStd(nn.Module):
    """x (B, F) or (B, C, H, W) -> one more feature or channel: the standard deviation of each
    feature over groups of `group_size` images, averaged over the features (Karras et al. 2018,
    sec. 3). A generator that makes near-copies lowers it, and D can tell. The group is the
    largest divisor of B up to group_size, so any batch size works (a batch of 1 gets 0)."""

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
    D judges m samples at once, one logit per pack (PacGAN, m = 2 to 4). A pack of look-alike
    fakes is easy to call fake, which penalises collapse. Raises ValueError when B is not a
    multiple of m."""

    def __init__(self, m=2):
        super().__init__()
        self.m = m

    def forward(self, x):
        if x.shape[0] % self.m:
            raise ValueError(f"PacGAN packs {self.m} samples into each D input, so the batch "
                             f"({x.shape[0]}) must be a multiple of {self.m}: change batch_size")
        return x.reshape(x.shape[0] // self.m, -1)  # (B / m, m * F)


def _pack_hparams(pack):
    """{"pack": m} for PacGAN's m > 1, {} for no packing."""
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise ValueError(f"pack must be a whole number >= 1 (PacGAN's m; 1: no packing), got "
                         f"{pack!r}")
    return {"pack": pack} if pack > 1 else {}  # at the default: not recorded (checkpoint.py)


def mixes_batch(model):
    """Whether `model`'s output for one image depends on the other images of its batch
    (BatchNorm in training mode, `MinibatchStd`, `Pack`)."""
    return any(isinstance(m, (nn.modules.batchnorm._BatchNorm, MinibatchStd, Pack))
               for m in model.modules())


def unwrap(model):
    """The module itself under torch.compile's, DataParallel's or DistributedDataParallel's
    wrapper (any depth): what a checkpoint saves and `build` rebuilds."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif getattr(model, "_orig_mod", None) is not None:  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


def has_conv(model):
    """Whether `model` has a convolution (then channels_last and bf16 pay off)."""
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


class Generator(nn.Module):
    """Base class: what every generator offers besides `forward`."""

    nz: int

    def sample(self, n, seed=None, truncation=None):
        """`n` samples in [-1, 1] from fresh noise (seeded if `seed` is given), in eval mode.
        truncation: the truncation trick (Brock et al. 2019, "BigGAN", arXiv:1809.11096, sec.
        3.1): every component of z beyond +-truncation is drawn again, so samples come from
        the dense middle of the noise, more typical and less varied; None: plain N(0, I)."""
        return self._draw(n, seed, truncation=truncation)

    @torch.no_grad()
    def _draw(self, n, seed, *inputs, truncation=None):
        """self(z, *inputs) in eval mode for `n` fresh noise vectors z, as float32. z is drawn
        on the CPU, so a seed gives the same z on every device; tensors in `inputs` (a
        conditional G's labels) go to G's device."""
        device = next(self.parameters()).device
        gen = None if seed is None else torch.Generator(device="cpu").manual_seed(seed)
        z = torch.randn(n, self.nz, generator=gen)
        if truncation is not None:
            if not truncation > 0:
                raise ValueError(f"truncation must be > 0 (a bound on |z|), got {truncation!r}")
            while (out := z.abs() > truncation).any():  # redraw what falls outside, seeded
                z[out] = torch.randn(int(out.sum()), generator=gen)
        z = z.to(device)
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
    """A discriminator's hparams, its options recorded only when not at their defaults (older
    checkpoints lack them: see ganlib/engine/checkpoint.py)."""
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
