"""The one fit loop every chapter uses (the step it repeats is in `ganlib.steps`).

`fit` adds epochs/steps, fixed-noise snapshots (they feed `ganlib.widgets`), a tqdm bar in
img/s, a per-step callback, and checkpoints with exact resume (`ganlib.resume`); the
bookkeeping around the steps lives in `ganlib.bookkeeping`, so the loop reads as the
algorithm. Two options act on the whole run rather than on a step:

* `FitConfig.ema`: an exponential moving average of G's weights (`ema_update`), which
  snapshots, the checkpoint's generator and `load_generator` use. Averaging the iterates of a
  game that circles its equilibrium instead of settling lands closer to it (Yazıcı et al.
  2019, "The Unusual Effectiveness of Averaging in GAN Training", arXiv:1806.04498).
* `FitConfig.lr_decay="linear"`: both learning rates fall linearly to 0 at the last step, so
  the players' oscillation dies down instead of going on at full amplitude.

`FitConfig.augment` names a DiffAugment policy (`ganlib.augment`, Zhao et al. 2020,
arXiv:2006.10738): D then sees T(real) and T(fake) in its update, and G's loss is D(T(G(z))),
back-propagated through T. The steps take it as an `augment` callable (None: none).
`FitConfig.instance_noise` adds Gaussian noise after it, its std falling linearly to 0.

Chapter 5's fixes are FitConfig options of the same loop: the game (`g_loss`: hinge,
Wasserstein), gradient penalties on D (`gp_weight`, `r1_weight`, `ganlib.penalties`), D updates
per G update (`n_critic`), instance noise; TTUR is just two optimizers with different lrs.
`fit(..., score_fn=...)` scores the sampled generator at every snapshot and keeps the best one
next to the checkpoint (`ganlib.resume.best_path`), so a chapter can report best and last.

Labels flow through the same `fit`. With a conditional G (`ganlib.conditional`: its hparams
name n_classes) and labelled data (an `ImageData` with labels, or batches of (x, y)), each step
draws G(z, y) and D judges D(x, y). The fakes of each D update are drawn for the labels y of
the real batch they are judged against, not for labels drawn at random: D then compares reals
and fakes of the same classes in the data's own class frequencies (random labels would let D
tell fakes by how often their classes come up, on unbalanced data; WGAN-GP's interpolates would
lie between images of two classes), and no random number is drawn for them, so the noise
stream is the unconditional one's. `FitConfig.ac_weight` adds AC-GAN's class cross-entropy to
both losses (`ganlib.steps`). Snapshots and score_fn see G as an unconditional G: G(z) and
G.sample(n) draw the classes in turn (`ganlib.conditional.balanced_labels`). An unconditional
G trains on the images alone, labelled or not, exactly as before labels existed.

The same `fit` trains on many GPUs under torchrun: `fit(..., parallel=ganlib.distributed.init())`
wraps G and D in DDP for the steps and leaves everything else to rank 0 (ganlib/distributed.py,
`python -m ganlib.train_dcgan`). This module never imports torch.distributed itself.
"""

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import resume
from .augment import make_augment, with_instance_noise
from .bookkeeping import Bookkeeper
from .checkpoint import plain
from .conditional import check_labels, check_pair, is_conditional
from .config import FitConfig, check_config, lazy_r1, total_steps  # noqa: F401
from .data import TensorBatches
from .models import mixes_batch
from .shapes import check_shapes
from .snapshots import default_snapshot
from .steps import (METRICS, d_step, g_step, has_batchnorm, make_adam,  # noqa: F401
                    match_param_layouts, requires_grad, train_step)
from .utils import fast_defaults


@torch.no_grad()
def ema_update(G_ema, G, decay, step=None):
    """G_ema <- decay * G_ema + (1 - decay) * G, parameter by parameter; decay = 0 copies G.

    Buffers (BatchNorm's running statistics) are copied from G, not averaged: they are
    statistics of G's own recent activations, and an average of them over past weights would
    match neither G nor G_ema. StyleGAN2-ADA's training loop makes the same choice (it lerps
    the parameters and copies every buffer); a stricter one recomputes the statistics for
    G_ema on fresh noise.

    With `step` (updates done so far, from 0) the decay warms up as
    min(decay, (1 + step) / (10 + step)), the rule of TensorFlow's
    `tf.train.ExponentialMovingAverage(decay, num_updates)` (tensorflow/python/training/
    moving_averages.py), so early averages do not drag G's random initial weights along for
    thousands of steps."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def set_lr(opt, schedule, step, total):
    """Apply the learning-rate `schedule` ("none" or "linear") for `step` of `total` steps,
    from each parameter group's "initial_lr" (its lr when the run started; it is saved with
    the optimizer's state, so a resumed run continues the same schedule)."""
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
        if schedule == "linear":
            group["lr"] = group["initial_lr"] * (1.0 - step / total)
        elif schedule != "none":
            raise ValueError(f"lr_decay must be 'none' or 'linear', got {schedule!r}")


# ----------------------------------------------------------------------------- fit

@dataclass
class Run:
    """What `fit` returns, and what a checkpoint restores."""

    history: dict = field(default_factory=lambda: {"step": [], **{m: [] for m in METRICS}})
    snapshots: list = field(default_factory=list)  # dicts: step, samples, whatever else
    fixed_noise: torch.Tensor | None = None  # (n_fixed, nz), on the CPU
    step: int = 0  # optimizer steps done, resumed ones included
    seconds: float = 0.0  # training wall time, resumed runs included
    images_per_second: float = 0.0  # throughput of the last fit call
    resumed_from: int | None = None  # the step a checkpoint restored, if any
    G_ema: nn.Module | None = None  # the averaged generator when FitConfig.ema > 0


def _groups(batches, first, n):
    """Lists of n consecutive batches from batch `first` (counted from epoch 0's first) on,
    running on through the epochs: each step's batches, one per D update."""
    epoch, k = divmod(first, len(batches))
    group = []
    while True:
        for real in batches.epoch(epoch, start=k):
            group.append(real)
            if len(group) == n:
                yield group
                group = []
        epoch, k = epoch + 1, 0


def fit(G, D, opt_g, opt_d, data, cfg=None, *, snapshot_fn=default_snapshot,
        callback=None, meta=None, parallel=None, score_fn=None):
    """Train G and D on `data` as `cfg` (a FitConfig, required: it says how long) says;
    return a `Run`.

    data: a tensor or `ImageData` (wrapped in `TensorBatches`), or any object with
      `__len__` (batches per epoch) and `epoch(e, start)` yielding batches in [-1, 1]; for a
      conditional G, an `ImageData` with labels, or batches of (x, y) with y (B,) labels.
    snapshot_fn(G, D, fixed_noise) -> dict: what to keep at each snapshot (both models are in
      eval mode, under no_grad); the default keeps G's samples.
    callback(step, stats): called after every step with the step's detached tensors.
    score_fn(G) -> float, lower is better (a Fréchet distance...), or a dict of numbers whose
      "score" entry is that float (`ganlib.evaluate.kid_score_fn`): called at every snapshot,
      or every cfg.score_every steps and at the end, on the generator the snapshots show (the
      EMA one if on; eval mode, no_grad), its numbers kept in that step's snapshot; with a
      checkpoint_path, each new best score also saves that
      generator to `resume.best_path(checkpoint_path)` ("ck.pt" -> "ck_best.pt"), a file
      `load_generator` reads.
    meta: a dict stored in checkpoints (the chapter's parameters, the data's source...), of
      numbers, strings, lists, dicts and tensors (numpy values and paths are converted).
    parallel: None (one process), or a `ganlib.distributed.Parallel` under torchrun: G and D
      stay plain here and are wrapped in DDP for the steps only; cfg.batch_size is then the
      global batch, `data` must be sharded (`parallel.batches`), and rank 0 alone draws the
      progress bar and writes snapshots and checkpoints, which every process resumes from
      (so checkpoint_path must be on a file system they all see; ganlib/distributed.py).

    Snapshots, score_fn and callback run under `torch.random.fork_rng`: whatever random
    numbers they draw, training's random streams (noise, DiffAugment, dropout, penalties) are
    as if they had not run. So how often a run is watched never changes what it trains, and
    under torchrun rank 0's snapshots cannot desynchronise the processes' noise.

    With cfg.resume and a checkpoint at cfg.checkpoint_path, the run continues the saved one
    exactly, or stops before any change: other settings (models, FitConfig, optimizers, meta,
    what ran) or a checkpoint past the step total raise a ValueError that lists them
    (`ganlib.resume.check_resume`).

    Raises, before any work and before a checkpoint touches the models: TypeError if cfg is
    not a FitConfig or meta holds a value a checkpoint cannot; ValueError for a FitConfig that
    cannot run (`check_config`), gradient penalties with a BatchNorm D, unsharded batches
    under torchrun, a conditional G under torchrun, models and labels that do not go together
    (`ganlib.conditional.check_pair`; a label out of range is named with the allowed range),
    or a checkpoint that cannot be resumed; CheckpointError for an unreadable
    checkpoint file.
    """
    check_config(cfg)
    device = next(G.parameters()).device
    conv = has_conv(G) or has_conv(D)
    amp, channels_last = fast_defaults(device, conv)  # what None picks (BENCHMARKS.md)
    amp_dtype = torch.bfloat16 if (amp if cfg.amp is None else cfg.amp) else None
    channels_last = conv and (channels_last if cfg.channels_last is None else cfg.channels_last)
    # parallel: every `parallel is not None` below is the only difference a torchrun run makes
    conditional = is_conditional(G)  # then batches are (x, y)
    labels = getattr(data, "labels", None) if conditional else None  # an ImageData's
    if hasattr(data, "epoch"):
        batches = data
    elif parallel is None:
        batches = TensorBatches(data, cfg.batch_size, device, seed=cfg.seed, labels=labels)
    else:
        batches = parallel.batches(data, cfg.batch_size, device, seed=cfg.seed)
    meta = _check_before_work(G, D, cfg, batches, parallel, meta)
    if labels is not None:  # every label, not only the first batch's
        check_labels(labels, G.hparams["n_classes"])
    n_critic = int(cfg.n_critic)
    total = total_steps(cfg, len(batches))
    augment = make_augment(cfg.augment)  # None when off
    ran = resume.ran_record(amp_dtype, batches if hasattr(data, "epoch") else None)
    for opt in (opt_g, opt_d):  # records initial_lr, compared on resume
        set_lr(opt, cfg.lr_decay, 0, total)
    G_ema = None
    if cfg.ema > 0:  # a copy that never trains: sampled from, checkpointed as "generator"
        G_ema = copy.deepcopy(G).eval()
        requires_grad(G_ema, False)
    resuming = bool(cfg.checkpoint_path and cfg.resume and _exists(cfg.checkpoint_path))
    if resuming:  # before anything is loaded into the models and optimizers
        resume.check_resume(cfg.checkpoint_path, cfg, G, D, opt_g, opt_d, meta, total, ran)

    # The layout first, then the optimizers' state (restored or from an earlier fit call)
    # takes the parameters' layout: a fused Adam steps parameter and moments as flat memory.
    if channels_last:
        for model in (G, D, G_ema):
            if model is not None:
                model.to(memory_format=torch.channels_last)
    for opt in (opt_g, opt_d):
        match_param_layouts(opt)

    if resuming:
        ckpt = resume.restore(G, D, opt_g, opt_d, cfg.checkpoint_path, device, G_ema,
                              0 if parallel is None else parallel.rank)
        run = Run(history=ckpt["history"], snapshots=ckpt["snapshots"],
                  fixed_noise=ckpt["fixed_noise"], step=ckpt["step"], seconds=ckpt["seconds"],
                  resumed_from=ckpt["step"], G_ema=G_ema)
    else:
        gen = torch.Generator().manual_seed(cfg.seed)
        run = Run(fixed_noise=torch.randn(cfg.n_fixed, G.nz, generator=gen), G_ema=G_ema)
    book = Bookkeeper(run, G, D, opt_g, opt_d, cfg, total, meta, ran, parallel, snapshot_fn,
                       score_fn)
    if not resuming:
        book.snapshot()

    # The steps run the DDP-wrapped models (parallel); snapshots, EMA and checkpoints use the
    # plain G and D, so checkpoints hold their state_dicts without DDP's "module." prefix.
    Gc, Dc = (parallel.wrap(G), parallel.wrap(D)) if parallel is not None else (G, D)
    Gc, Dc = (torch.compile(Gc), torch.compile(Dc)) if cfg.compile else (Gc, Dc)
    groups = _groups(batches, run.step * n_critic, n_critic)  # resumes where the run stopped
    last = run.step >= total
    while not last:
        reals, ys = next(groups), None
        if conditional:  # (x, y) pairs: the fakes get the reals' labels (see the docstring)
            reals, ys = [x for x, _ in reals], [y.to(x.device) for x, y in reals]
        if channels_last:
            reals = [r.contiguous(memory_format=torch.channels_last) if r.dim() == 4 else r
                     for r in reals]
        if cfg.lr_decay != "none":
            for opt in (opt_g, opt_d):
                set_lr(opt, cfg.lr_decay, run.step, total)
        # a function of the step, like the learning rates, so a resumed run continues it
        augment_now = with_instance_noise(augment,
                                          cfg.instance_noise * (1.0 - run.step / total))
        # parallel: this process's rows of the noise drawn for the whole global batch
        z = ([parallel.noise(r.shape[0], G.nz, r.device) for r in reals]
             if parallel is not None else None)
        stats = train_step(Gc, Dc, opt_g, opt_d, reals, g_loss=cfg.g_loss,
                           label_smoothing=cfg.label_smoothing, amp_dtype=amp_dtype,
                           updates=cfg.updates, augment=augment_now, z=z,
                           gp_weight=cfg.gp_weight, r1_weight=lazy_r1(cfg, run.step), y=ys,
                           ac_weight=cfg.ac_weight)
        if G_ema is not None:
            ema_update(G_ema, G, cfg.ema, run.step)
        run.step += 1
        book.add(stats, sum(r.shape[0] for r in reals))
        if callback is not None:
            with book.unseen():
                callback(run.step, stats)
        last = run.step >= total or book.out_of_time()  # never overshoots
        book.end_of_step(last)
    return book.close()


def _check_before_work(G, D, cfg, batches, parallel, meta):
    """Whatever can be checked before a step is taken or a checkpoint loaded: the batches
    against the models (`ganlib.shapes.check_shapes`, on the first batch; its labels against
    a conditional pair, `ganlib.conditional.check_pair`), the penalties against D, `meta`
    (returned in the plain form a checkpoint holds: a value none could hold fails now, not at
    the first save)."""
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
    if (cfg.gp_weight or cfg.r1_weight) and mixes_batch(D):
        raise ValueError(
            "FitConfig.gp_weight and r1_weight penalise D's gradient at each image, which "
            "assumes D(x_i) depends on x_i alone; this D has BatchNorm or a minibatch "
            "standard deviation, which mix the batch (and BatchNorm's extra pass would update "
            "its running statistics). Use a D without them: spectral_norm=True or "
            "batchnorm=False for the DCGAN D, or the MLP D")
    return plain(meta or {}, "meta")


def _exists(path):
    return Path(path).is_file()


def has_conv(model):
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
