"""`fit`: the one training loop of every chapter. It settles everything once at the top (checks,
precision, batches, the game, the schedules, resume), then repeats `ganlib.steps.train_step`.

Around the steps, `fit` keeps an exponential moving average of G's weights (`ema_update`:
averaging the iterates of a game that circles its equilibrium lands closer to it; Yazıcı et
al. 2019, arXiv:1806.04498), can decay both learning rates linearly to 0 (`set_lr`), and hands
history, snapshots, scores, checkpoints and the clock to `ganlib.engine.tracking.Tracker`.

Labels flow through the same `fit`: with a conditional G and labelled data, each D update's
fakes are drawn for the labels of the real batch they are judged against, so D compares reals
and fakes of the same classes in the data's own frequencies. Under torchrun,
`fit(..., parallel=ganlib.engine.distributed.init())` wraps G and D in DDP for the steps only.
"""

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from .augment import with_instance_noise
from .config import FitConfig, check_config, lazy_r1, total_steps  # noqa: F401 (re-exported)
from .data import TensorBatches
from .engine import resume
from .engine.checks import check_before_work, check_data
from .engine.safety import Guard
from .engine.snapshots import default_snapshot
from .engine.tracking import Tracker
from .game import make_game, randn
from .models import has_conv, is_conditional, unwrap
from .steps import METRICS, EvaluateOnly, make_adam, requires_grad, train_step  # noqa: F401
from .utils import fast_defaults


@torch.no_grad()
def ema_update(G_ema, G, decay, step=None):
    """G_ema <- decay * G_ema + (1 - decay) * G, parameter by parameter; decay = 0 copies G.

    Buffers (BatchNorm's running statistics) are copied, not averaged: they describe G's own
    recent activations (StyleGAN2-ADA's loop makes the same choice). With `step` (this
    update's index, from 0) the decay warms up as min(decay, (1 + step) / (10 + step)),
    TensorFlow's ExponentialMovingAverage rule, so early averages do not drag G's random start
    along."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def set_lr(opt, schedule, step, total):
    """Apply the learning-rate `schedule` ("none" or "linear") for `step` of `total` steps,
    from each parameter group's "initial_lr" (its lr when the run started, saved with the
    optimizer's state, so a resumed run continues the same schedule)."""
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
        if schedule == "linear":
            group["lr"] = group["initial_lr"] * (1.0 - step / total)


@dataclass
class Run:
    """What `fit` returns, and what a checkpoint restores."""

    history: dict = field(default_factory=lambda: {"step": [], **{m: [] for m in METRICS}})
    snapshots: list = field(default_factory=list)  # dicts: step, samples, whatever else
    fixed_noise: torch.Tensor | None = None  # (n_fixed, nz), on the CPU
    step: int = 0  # steps done (G updates, each after n_critic D updates), resumed ones too
    seconds: float = 0.0  # training wall time, resumed runs included
    images_per_second: float = 0.0  # throughput of the last fit call
    resumed_from: int | None = None  # the step a checkpoint restored, if any
    G_ema: nn.Module | None = None  # the averaged generator when FitConfig.ema > 0


def fit(G, D, opt_g, opt_d, data, cfg=None, *, snapshot_fn=default_snapshot, callback=None,
        meta=None, parallel=None, score_fn=None):
    """Train G and D on `data` as `cfg` (a FitConfig, required: it says how long) says;
    return a `Run`.

    data: a tensor or `ImageData` (batched by `TensorBatches`), or any object with `__len__`
      (batches per epoch) and `epoch(e, start)` yielding batches in [-1, 1], or (x, y) pairs
      with labels y (B,) for a conditional G.
    snapshot_fn(G, D, fixed_noise) -> dict: what to keep at each snapshot (`ganlib.engine.
      snapshots`); callback(step, stats): after every step, with the step's detached tensors;
      score_fn(G) -> float (lower is better) or a dict with a "score": at each snapshot (or
      every cfg.score_every steps), its best generator saved beside the checkpoint. Snapshots
      and scores see G (the EMA one if on); all three run under a forked random state, so
      watching never changes training.
    meta: plain values stored in checkpoints (the chapter's parameters, the data's source).
    parallel: None, or a `ganlib.engine.distributed.Parallel` under torchrun.

    G and D may come compiled or wrapped in DataParallel: the steps run them as given, and
    checkpoints hold the modules inside. With cfg.resume and a checkpoint at
    cfg.checkpoint_path, the run continues the saved one exactly, or stops before any change,
    listing what differs (`ganlib.engine.resume`). Everything that can be checked is checked
    before the first step and before a checkpoint touches the models (`ganlib.engine.checks`),
    with errors that say what to change. A NaN or inf loss raises `TrainingDiverged` at the
    next sync; with a checkpoint path, Ctrl-C and errors inside a step save the last whole
    step first (`ganlib.engine.safety`)."""
    # Everything the loop needs, settled once.
    check_config(cfg)
    data = check_data(data)
    G_train, D_train = G, D  # what the steps run: the models as given (compiled, DataParallel)
    G, D = unwrap(G), unwrap(D)  # what is checked, averaged and saved: the modules themselves
    device = next(G.parameters()).device
    conv = has_conv(G) or has_conv(D)
    default_amp, default_cl = fast_defaults(device, conv)  # what None picks (BENCHMARKS.md)
    amp_dtype = torch.bfloat16 if (default_amp if cfg.amp is None else cfg.amp) else None
    channels_last = conv and (default_cl if cfg.channels_last is None else cfg.channels_last)
    labels = getattr(data, "labels", None) if is_conditional(G) else None
    if hasattr(data, "epoch"):
        batches = data
    elif parallel is None:
        batches = TensorBatches(data, cfg.batch_size, device, seed=cfg.seed, labels=labels)
    else:
        batches = parallel.batches(data, cfg.batch_size, device, seed=cfg.seed)
    meta = check_before_work(G, D, opt_g, opt_d, cfg, batches, parallel, meta, labels,
                             (snapshot_fn, callback, score_fn))
    total = total_steps(cfg, len(batches))
    noise = randn if parallel is None else parallel.noise  # torchrun: this process's rows
    plain = make_game(cfg.g_loss, cfg.augment, 0.0, cfg.gp_weight, cfg.ac_weight, amp_dtype,
                      noise)
    k = cfg.r1_every  # lazy R1 and R2: on every k-th step, weighted by k (config.lazy_r1)
    with_r1 = make_game(cfg.g_loss, cfg.augment, cfg.r1_weight * k, cfg.gp_weight,
                        cfg.ac_weight, amp_dtype, noise, r2_weight=cfg.r2_weight * k)

    def game_at(step):  # the schedules are functions of the step: a resume continues them
        game = with_r1 if step % k == 0 else plain
        sigma = cfg.instance_noise * (1.0 - step / total)
        return replace(game, augment=with_instance_noise(game.augment, sigma)) if sigma else game

    opt_g_train = EvaluateOnly(opt_g) if cfg.updates == "d" else opt_g
    opt_d_train = EvaluateOnly(opt_d) if cfg.updates == "g" else opt_d
    resolved = resume.resolved_settings(amp_dtype, batches if hasattr(data, "epoch") else None)
    for opt in (opt_g, opt_d):  # records initial_lr, which a resume compares
        set_lr(opt, cfg.lr_decay, 0, total)
    G_ema = None
    if cfg.ema > 0:  # a copy that never trains: sampled from, checkpointed as "generator"
        G_ema = copy.deepcopy(G).eval()
        requires_grad(G_ema, False)
    resuming = bool(cfg.checkpoint_path and cfg.resume and Path(cfg.checkpoint_path).is_file())
    if resuming:  # before anything is loaded into the models and optimizers
        resume.check_resume(cfg.checkpoint_path, cfg, G, D, opt_g, opt_d, meta, total, resolved)
    # The layout first; then the optimizers' state takes the parameters' layout, since a
    # fused Adam steps parameters and moments as flat memory.
    for model in (G, D, G_ema) if channels_last else ():
        if model is not None:
            model.to(memory_format=torch.channels_last)
    for opt in (opt_g, opt_d):
        resume.match_param_layouts(opt)
    if resuming:
        ckpt = resume.restore(G, D, opt_g, opt_d, cfg.checkpoint_path, device, G_ema,
                              0 if parallel is None else parallel.rank)
        run = Run(history=ckpt["history"], snapshots=ckpt["snapshots"],
                  fixed_noise=ckpt["fixed_noise"], step=ckpt["step"], seconds=ckpt["seconds"],
                  resumed_from=ckpt["step"], G_ema=G_ema)
    else:
        gen = torch.Generator().manual_seed(cfg.seed)
        run = Run(fixed_noise=torch.randn(cfg.n_fixed, G.nz, generator=gen), G_ema=G_ema)
    tracker = Tracker(run, G, D, opt_g, opt_d, cfg, total, meta, resolved, parallel, snapshot_fn,
                      score_fn)
    if not resuming:
        tracker.snapshot()
    # The steps run the DDP-wrapped (or compiled) models; snapshots, the EMA and checkpoints
    # use the plain G and D, whose state_dicts have no "module." prefix.
    if parallel is not None:
        G_train, D_train = parallel.wrap(G), parallel.wrap(D)
    if cfg.compile:
        G_train, D_train = (m if hasattr(m, "_orig_mod") else torch.compile(m)
                            for m in (G_train, D_train))
    stream = _stream(batches, run.step * cfg.n_critic, cfg.n_critic)  # where the run stopped
    # Ctrl-C ends the step first, then saves; an error saves the last whole step (with a path)
    guard = Guard(tracker, (G, D), (opt_g, opt_d), on=bool(cfg.checkpoint_path) and
                  parallel is None)

    with guard:
        while run.step < total:
            reals = [_laid_out(b, channels_last) for b in next(stream)]  # n_critic batches
            if cfg.lr_decay != "none":
                for opt in (opt_g, opt_d):
                    set_lr(opt, cfg.lr_decay, run.step, total)
            with guard.step():
                stats = train_step(G_train, D_train, opt_g_train, opt_d_train, reals,
                                   game_at(run.step))
                if G_ema is not None:
                    ema_update(G_ema, G, cfg.ema, run.step)
            run.step += 1
            tracker.add(stats, sum(len(_images(b)) for b in reals))
            if callback is not None:
                with tracker.isolated_rng():
                    callback(run.step, stats)
            last = run.step >= total or tracker.out_of_time()
            tracker.end_of_step(last)
            if last:
                break
            guard.boundary()
    return tracker.close()


def _stream(batches, first, n):
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


def _images(batch):
    """The images of a batch: the batch itself, or x of (x, y)."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _laid_out(batch, channels_last):
    """`batch` with its images in NHWC memory order, if `channels_last` and they are images."""
    x = _images(batch)
    if not channels_last or x.dim() != 4:
        return batch
    x = x.contiguous(memory_format=torch.channels_last)
    return (x, batch[1]) if isinstance(batch, (tuple, list)) else x
