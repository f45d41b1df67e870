"""What `fit` checks before its first step and before a checkpoint touches the models: that
the models fit the data (`check_shapes`), that G, D and the labels go together (`check_pair`),
and the rest of what it was handed (`check_before_work`). Each error says what to change.
"""

import torch
from torch import nn

from ganlib.models import DCGAN_SIZES, Pack, check_labels, is_conditional, mixes_batch

from .checkpoint import plain_values


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


def _unwrap(model):
    """The module itself under torch.compile's or DistributedDataParallel's wrapper."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif getattr(model, "_orig_mod", None) is not None:
            model = model._orig_mod
        else:
            return model


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
    G, D = _unwrap(G), _unwrap(D)
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
                         f"labels: use a conditional D (ganlib.models' conditional MLPs or "
                         f"DCGANs: concat, projection or AC-GAN D)")
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


def check_before_work(G, D, cfg, batches, parallel=None, meta=None, labels=None):
    """Whatever can be checked before a step is taken or a checkpoint loaded: the batches
    against the models (`check_shapes`, on the first batch), G, D and the labels together
    (`check_pair`; `labels`, every label of the data, against G's classes), the penalties
    against D, torchrun's shards. Returns `meta` in the plain form a checkpoint holds, so a
    value none could hold fails now, not at the first save."""
    if parallel is not None and getattr(batches, "world_size", 1) != parallel.world_size:
        raise ValueError(f"under torchrun each of the {parallel.world_size} processes needs its "
                         f"own shard of every batch: build the data with parallel.batches(...)")
    if parallel is not None and is_conditional(G):
        raise ValueError("conditional training under torchrun is not supported yet: train a "
                         "conditional G in one process")
    first = next(iter(batches.epoch(0)))
    x, y = first if isinstance(first, (tuple, list)) else (first, None)
    check_pair(G, D, y, cfg.ac_weight)
    check_shapes(G, D, x, y)
    if labels is not None:
        check_labels(labels, G.hparams["n_classes"])
    if (cfg.gp_weight or cfg.r1_weight) and mixes_batch(D):
        raise ValueError(
            "FitConfig.gp_weight and r1_weight penalise D's gradient at each image, which "
            "assumes D(x_i) depends on x_i alone; this D has BatchNorm or a minibatch "
            "standard deviation, which mix the batch (and BatchNorm's extra pass would update "
            "its running statistics). Use a D without them: spectral_norm=True or "
            "batchnorm=False for the DCGAN D, or the MLP D")
    return plain_values(meta or {}, "meta")
