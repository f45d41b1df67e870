"""Named recipes for chapter 2's fully connected MNIST GAN: the networks and optimizer settings
of the classic tutorials it replaces, and the book's own.

* `classic-64`: latent 64, G 64 -> 256 -> 256 -> 784 with ReLU, D 784 -> 256 -> 256 -> 1 with
  LeakyReLU(0.2), no dropout, batch 100, Adam 2e-4 with PyTorch's default betas (0.9, 0.999):
  the network of the shortest PyTorch MNIST GAN tutorials.
* `classic-128`: latent 100, G 100 -> 128 -> 256 -> 512 -> 784, D 784 -> 512 -> 256 -> 1,
  LeakyReLU(0.2) in both, batch 64, Adam 2e-4 with beta1 = 0.5 (the PyTorch-GAN collection's
  `gan.py`, without its BatchNorm in G).
* `dropout`: latent 100, G 256 -> 512 -> 1024, D 1024 -> 512 -> 256, LeakyReLU(0.2) everywhere,
  dropout 0.3 in D, batch 100, Adam 2e-4 with default betas (the "GANs from scratch" tutorials
  that add dropout to D and watch fixed-noise samples).
* `book`: this book's recipe: the `dropout` networks with beta1 = 0.5, a discriminator that
  learns at half the generator's rate (1e-4 against 2e-4), and an exponential moving average
  of G's weights for sampling (Yazıcı et al. 2019, arXiv:1806.04498).

`apply_preset(name, params)` gives the settings a chapter trains with: the preset's, except
where `params` (the chapter's parameters) set a value other than the `book` recipe's, which
the reader asked for explicitly, so it wins. `train_preset` trains them as chapter 2 does.
"""

from ganlib.data import TensorBatches
from ganlib.models import MLPDiscriminator, MLPGenerator
from ganlib.steps import make_adam
from ganlib.train import FitConfig, fit
from ganlib.utils import fast_bf16, set_seed

# the settings a preset fixes, all of them chapter parameters of the same name
BOOK = dict(nz=100, g_hidden=(256, 512, 1024), d_hidden=(1024, 512, 256), g_act="leaky_relu",
            d_act="leaky_relu", g_dropout=0.0, d_dropout=0.5, batch_size=100, lr_g=2e-4,
            lr_d=1e-4, beta1=0.5, beta2=0.999, ema=0.999)

MNIST_PRESETS = {
    "book": BOOK,
    "classic-64": dict(BOOK, nz=64, g_hidden=(256, 256), d_hidden=(256, 256), g_act="relu",
                       d_dropout=0.0, lr_d=2e-4, beta1=0.9, ema=0.0),
    "classic-128": dict(BOOK, g_hidden=(128, 256, 512), d_hidden=(512, 256), d_dropout=0.0,
                        batch_size=64, lr_d=2e-4, ema=0.0),
    "dropout": dict(BOOK, d_dropout=0.3, lr_d=2e-4, beta1=0.9, ema=0.0),
}


def apply_preset(name, params):
    """(settings, overrides): the preset `name`'s settings, with every parameter in `params`
    that differs from the book recipe's value put in its place; `overrides` names those."""
    if name not in MNIST_PRESETS:
        raise ValueError(f"preset must be one of {sorted(MNIST_PRESETS)}, got {name!r}")
    settings, overrides = dict(MNIST_PRESETS[name]), []
    for key, book_value in BOOK.items():
        if key in params and params[key] != book_value and params[key] != settings[key]:
            settings[key] = params[key]
            overrides.append(key)
    return settings, overrides


def mlp_pair(settings, img_shape, device="cpu"):
    """(G, D): chapter 2's MLP generator and discriminator as `settings` (a preset's) shape
    them, for images of `img_shape` (C, H, W), on `device`; seed before calling."""
    G = MLPGenerator(nz=settings["nz"], hidden=settings["g_hidden"], img_shape=img_shape,
                     act=settings["g_act"], dropout=settings["g_dropout"])
    D = MLPDiscriminator(img_shape=img_shape, hidden=settings["d_hidden"], act=settings["d_act"],
                         dropout=settings["d_dropout"])
    return G.to(device), D.to(device)


def train_preset(settings, train, steps, seed=0, device="cpu", checkpoint_path=None, **fit_kw):
    """Chapter 2's MLP pair built and trained with `settings` (a preset's, e.g. `BOOK`) on the
    images of `train` (an ImageData) for `steps` steps on `seed`, as chapter 2 trains it
    (bf16 autocast where the device runs it natively, the EMA of G sampled); resumes from
    `checkpoint_path` when it holds the same run. `fit_kw`: more of fit's arguments
    (score_fn, FitConfig fields such as score_every). Returns (Run, the G to sample)."""
    fit_args = {k: fit_kw.pop(k) for k in ("score_fn", "snapshot_fn", "callback", "meta")
                if k in fit_kw}
    set_seed(seed)
    G, D = mlp_pair(settings, tuple(train.images.shape[1:]), device)
    bs, betas = settings["batch_size"], (settings["beta1"], settings["beta2"])
    cfg = FitConfig(steps=steps, batch_size=bs, ema=settings["ema"], amp=fast_bf16(device),
                    checkpoint_path=None if checkpoint_path is None else str(checkpoint_path),
                    seed=seed, progress=False, **fit_kw)
    run = fit(G, D, make_adam(G, settings["lr_g"], betas), make_adam(D, settings["lr_d"], betas),
              TensorBatches(train, bs, device, seed=seed), cfg, **fit_args)
    return run, (run.G_ema if run.G_ema is not None else G)
