"""What `fit` checks before its first step and before a checkpoint touches the models: the
data's container and values (`check_data`), that the models fit the data (`check_shapes`),
that G, D and the labels go together (`check_pair`), and the rest of what it was handed
(`check_before_work`: optimizers, callbacks, what a checkpoint can rebuild). Each error says
what to change.
"""

import inspect

import numpy as np
import torch
from torch import nn

from ganlib.data import ImageData
from ganlib.data.batches import check_values
from ganlib.models import check_labels, is_conditional, kind_of, mixes_batch

from .checkpoint import plain_values
from .shapes import check_shapes


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


def check_before_work(G, D, opt_g, opt_d, cfg, batches, parallel=None, meta=None, labels=None,
                      fns=(None, None, None)):
    """Whatever can be checked before a step is taken or a checkpoint loaded: the callbacks
    `fns` (snapshot_fn, callback, score_fn), what a checkpoint can rebuild, D's last layer,
    G, D and the labels together (`check_pair`; `labels`, every label of the data, against G's
    classes), the first batch's shape against the models (`check_shapes`), the optimizers,
    the penalties against D, torchrun's shards. Returns `meta` in the plain form a
    checkpoint holds, so a value none could hold fails now, not at the first save."""
    check_callbacks(*fns)
    check_checkpointable(G, D, cfg)
    check_logits(D)
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
    check_optimizers(G, D, opt_g, opt_d)
    if labels is not None:
        check_labels(labels, G.hparams["n_classes"])
    if (cfg.gp_weight or cfg.r1_weight or cfg.r2_weight) and mixes_batch(D):
        raise ValueError(
            "FitConfig.gp_weight, r1_weight and r2_weight penalise D's gradient at each image, which "
            "assumes D(x_i) depends on x_i alone; this D mixes the images of a batch "
            "(BatchNorm, a minibatch standard deviation or PacGAN's packing; BatchNorm's extra "
            "pass would also update its running statistics). Build D without them: "
            "minibatch_std=False and pack=1, and for the DCGAN D spectral_norm=True or "
            "batchnorm=False")
    return plain_values(meta or {}, "meta")


def check_data(data):
    """`data` as fit can batch it: a tensor or `ImageData` with values it can train on
    (`ganlib.data.batches.check_values`: every value, so a NaN in one image is found before
    step 1), a numpy array made a tensor, or a batch source (an object with `epoch(e,
    start)`, whose first batch `check_before_work` checks). TypeError for a container fit
    cannot batch, naming what to pass instead."""
    if hasattr(data, "epoch"):  # a batch source: its first batch, as it yields them
        first = next(iter(data.epoch(0)))
        check_values(first[0] if isinstance(first, (tuple, list)) else first,
                     "the first batch of the data")
        return data
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, ImageData):
        check_values(data.images, "the data's images")
    elif torch.is_tensor(data):
        check_values(data, "the data")
    else:
        kind = type(data).__name__
        raise TypeError(
            f"fit cannot batch a {kind}: give it all the images as one tensor (N, C, H, W), "
            f"uint8 or in [-1, 1] (e.g. torch.stack([x for x, _ in dataset]) for a Dataset), "
            f"an ImageData with labels, or an object with __len__ and epoch(e, start) that "
            f"yields batches. It draws shuffled batches itself, replayably, so a resumed run "
            f"sees the same ones; a DataLoader's order cannot be replayed")
    return data


def check_optimizers(G, D, opt_g, opt_d):
    """Each optimizer must hold every trainable parameter of its own model and no other
    parameter: with `opt_g = make_adam(D)` (a typo), optimizers swapped, or an opt_g built for
    a G a notebook cell has since rebuilt, fit would run and G would never move."""
    for name, model, opt, other in (("opt_g", G, opt_g, D), ("opt_d", D, opt_d, G)):
        who, rebuild = name[-1].upper(), f"{name} = make_adam({name[-1].upper()})"
        held = {id(p) for group in getattr(opt, "param_groups", []) for p in group["params"]}
        own = {id(p) for p in model.parameters()}
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        if not hasattr(opt, "param_groups"):
            raise TypeError(f"{name} is a {type(opt).__name__}, not a torch optimizer: build "
                            f"it with {rebuild}")
        if held and held <= {id(p) for p in other.parameters()}:
            raise ValueError(f"{name} holds {'DG'[who == 'D']}'s parameters, not {who}'s (a "
                             f"typo, or the two optimizers swapped): build it with {rebuild}")
        if not held & own:
            raise ValueError(f"{name} holds none of {who}'s parameters: it was built for another "
                             f"model, perhaps a {who} that a notebook cell has since rebuilt. "
                             f"Build it again after the model: {rebuild}")
        if held - own:
            raise ValueError(f"{name} holds {len(held - own)} parameters that are not {who}'s: "
                             f"give each optimizer its own model's parameters alone ({rebuild})")
        if trainable - held:
            raise ValueError(f"{name} misses {len(trainable - held)} of {who}'s "
                             f"{len(trainable)} trainable parameters (built before layers were "
                             f"added?): build it again after the model: {rebuild}")


def check_callbacks(snapshot_fn, callback, score_fn):
    """Each function fit calls later must take what fit will give it, so that a wrong
    signature fails now, not after the first step's work."""
    for name, fn, args in (("snapshot_fn", snapshot_fn, "(G, D, fixed_noise)"),
                           ("callback", callback, "(step, stats)"),
                           ("score_fn", score_fn, "(G)")):
        if fn is None:
            continue
        if not callable(fn):
            raise TypeError(f"{name} must be a function {args}, got a {type(fn).__name__}")
        try:
            inspect.signature(fn).bind(*([None] * (args.count(",") + 1)))
        except TypeError as e:
            raise TypeError(f"fit calls {name}{args}, which this {name} cannot take ({e})") \
                from None
        except ValueError:  # a builtin without a signature: nothing to check
            pass


def check_checkpointable(G, D, cfg):
    """With a checkpoint path, both models must be kinds a checkpoint can rebuild: said now,
    not after training to the first checkpoint."""
    if not cfg.checkpoint_path:
        return
    for name, model in (("G", G), ("D", D)):
        try:
            kind_of(model)
        except TypeError:
            raise ValueError(
                f"{name} is a {type(model).__name__}, which a ganlib checkpoint cannot rebuild "
                f"(it stores a model's kind and constructor arguments, never code). Use a model "
                f"of ganlib.models (for torch.compile, FitConfig(compile=True) or a compiled "
                f"ganlib model), or set checkpoint_path=None and save your model's "
                f"state_dict yourself") from None


def check_logits(D):
    """D must end in logits: ganlib's losses apply the sigmoid themselves, stably (softplus)."""
    leaves = [m for m in D.modules() if not list(m.children())]
    if leaves and isinstance(leaves[-1], nn.Sigmoid):
        raise ValueError("D ends in nn.Sigmoid, so it outputs probabilities, but ganlib's losses "
                         "take logits and apply the sigmoid themselves, as a softplus (stable "
                         "where Sigmoid + BCELoss rounds to log 0): remove the final Sigmoid")
