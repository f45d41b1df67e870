"""Do the models fit the data? `check_shapes`, which `fit` runs before its first step.

Without it, DCGAN models built for 32×32 train on 64×64 images without complaint (D returns
25 logits per real image against one per fake, so the losses mean nothing), and models built
for 64×64 fail on 32×32 images inside a convolution, in words about kernels. The checks read
what each model was built for from its `hparams`, so the advice names the constructor
argument to change.
"""

import torch

from ganlib.models import DCGAN_SIZES, Pack, unwrap


def _shape_text(shape):
    """(3, 64, 64) -> '3×64×64'; (2,) -> 'points in 2 dimensions'."""
    shape = tuple(shape)
    return f"points in {shape[0]} dimensions" if len(shape) == 1 else "×".join(map(str, shape))


def built_for(model):
    """The shape of one item `model` (a ganlib G or D) makes or takes, from its hparams:
    (nc, S, S) for DCGAN, img_shape for the MLP pair, (dim,) for the toys; None otherwise."""
    hp = getattr(model, "hparams", {})
    if "image_size" in hp:
        return (hp.get("nc", 3), hp["image_size"], hp["image_size"])
    if "img_shape" in hp:
        return tuple(hp["img_shape"])
    if "dim" in hp:
        return (hp["dim"],)
    return None


def _advice(model, shape):
    """What to do so that models like `model` fit data items of `shape`, in words."""
    hp, want = getattr(model, "hparams", {}), built_for(model)
    if want is None:
        return f"build the models for items of {_shape_text(shape)}"
    if "dim" in hp:
        return (f"build the models with dim={shape[0]}" if len(shape) == 1 else
                "the toy models take points (B, dim), not images: use the MLP or DCGAN models")
    if len(shape) != 3:
        return "give the models images (B, C, H, W), which they were built for"
    resize = f" or resize the data to {want[1]}×{want[2]}" if shape[1:] != want[1:] else ""
    if "img_shape" in hp:
        return f"build the models with img_shape={tuple(shape)}{resize}"
    if shape[1] != shape[2] or shape[1] not in DCGAN_SIZES:
        return (f"resize the data to {want[1]}×{want[2]} (DCGAN models are built for square "
                f"images of side {', '.join(map(str, DCGAN_SIZES))})")
    change = ([f"nc={shape[0]}"] if shape[0] != want[0] else []) + (
        [f"image_size={shape[1]}"] if shape[1] != want[1] else [])
    return f"build the models with {', '.join(change)}{resize}"


def _first_param(model):
    p = next(model.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def check_shapes(G, D, real, y=None):
    """Check, before training, that G makes items of the data's shape and that D gives one
    logit per data item; raise ValueError saying what to change if not.

    real: one batch of the data, a tensor (B, C, H, W) or (B, dim), B >= 1; D sees its first
    two items. G runs on z of shape (2, G.nz) from a private seeded generator (the global
    RNG is not touched). Both models run under torch.no_grad in eval mode, each module's
    train/eval mode restored afterwards: no parameter or buffer (BatchNorm's running
    statistics, spectral norm's vectors) changes. Wrapped models (torch.compile, DDP) are
    run unwrapped.

    Without it, DCGAN models built for 32×32 train on 64×64 images without complaint (D
    returns 25 logits per real image against one per fake), and models built for 64×64 fail
    on 32×32 images inside a convolution, in words about kernels. Raises ValueError:
    "the data is 3×64×64, G makes 3×32×32: build the models with image_size=64 or resize
    the data to 32×32"; "D gives 25 logits per item of the data (3×64×64), not one (...):
    it was built for 3×32×32 (image_size=32, nc=3): ..."; "D cannot take the data
    (3×32×32): it was built for 3×64×64 (...): ...", chained from D's own error. For the
    MLP pair the advice is img_shape=..., for the toys dim=....

    y: the batch's class labels (B,) for a conditional pair (`ganlib.models.conditional`), which then
    run as G(z, y[:2]) and D(x, y[:2])."""
    if not isinstance(real, torch.Tensor) or real.dim() < 2 or len(real) == 0:
        raise ValueError(f"check_shapes needs one batch of data, a tensor (B, ...) with B >= 1, "
                         f"got {type(real).__name__} of shape "
                         f"{tuple(getattr(real, 'shape', ()))}")
    G, D = unwrap(G), unwrap(D)
    data = tuple(real.shape[1:])
    modes = [(m, m.training) for model in (G, D) for m in model.modules()]
    G.eval(), D.eval()
    try:
        with torch.no_grad():
            device, dtype = _first_param(G)
            labels = () if y is None else (y[:2].to(device),)  # a conditional pair's
            z = torch.randn(2 if y is None else len(labels[0]), G.nz,
                            generator=torch.Generator().manual_seed(0))
            made = tuple(G(z.to(device, dtype), *labels).shape[1:])
            if made != data:
                raise ValueError(f"the data is {_shape_text(data)}, G makes "
                                 f"{_shape_text(made)}: {_advice(G, data)}")
            device, dtype = _first_param(D)
            m = next((mod.m for mod in D.modules() if isinstance(mod, Pack)), 1)  # PacGAN
            x = real[:2 * m].to(device, dtype if dtype.is_floating_point else torch.float32)
            labels = () if y is None else (y[:2 * m].to(device),)  # on D's device
            try:
                logits = D(x, *labels)
            except (RuntimeError, ValueError, IndexError) as e:
                raise ValueError(f"D cannot take the data ({_shape_text(data)}): "
                                 f"{_d_built_for(D)}{_advice(D, data)}") from e
            if tuple(logits.shape) != (len(x) // m,):
                raise ValueError(f"D gives {logits.numel() * m / len(x):g} logits per item of "
                                 f"the data ({_shape_text(data)}), not one (output shape "
                                 f"{tuple(logits.shape)} for {len(x)} items): "
                                 f"{_d_built_for(D)}{_advice(D, data)}")
    finally:
        for m, training in modes:
            m.training = training


def _d_built_for(D):
    """'it was built for 3×32×32 (image_size=32, nc=3): ' or '' if unknown."""
    shape, hp = built_for(D), getattr(D, "hparams", {})
    if shape is None:
        return ""
    keys = [k for k in ("image_size", "nc", "img_shape", "dim") if k in hp]
    return (f"it was built for {_shape_text(shape)} "
            f"({', '.join(f'{k}={hp[k]}' for k in keys)}): ")
