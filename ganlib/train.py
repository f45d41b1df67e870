"""The one fit loop every chapter uses (the step it repeats is in `ganlib.steps`).

`fit` adds epochs/steps, fixed-noise snapshots (they feed `ganlib.widgets`), a tqdm bar in
img/s, a per-step callback, and checkpoints with exact resume (`ganlib.resume`). Two options
act on the whole run rather than on a step:

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

Chapter 4's fixes are FitConfig options of the same loop: the game (`g_loss`: hinge,
Wasserstein), gradient penalties on D (`gp_weight`, `r1_weight`, `ganlib.penalties`), D updates
per G update (`n_critic`), instance noise; TTUR is just two optimizers with different lrs.
`fit(..., score_fn=...)` scores the sampled generator at every snapshot and keeps the best one
next to the checkpoint (`ganlib.resume.best_path`), so a chapter can report best and last.

The same `fit` trains on many GPUs under torchrun: `fit(..., parallel=ganlib.distributed.init())`
wraps G and D in DDP for the steps and leaves everything else to rank 0 (ganlib/distributed.py,
`python -m ganlib.train_dcgan`). This module never imports torch.distributed itself.
"""

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import resume
from .augment import make_augment, with_instance_noise
from .checkpoint import save_checkpoint
from .config import FitConfig, check_config, total_steps
from .data import TensorBatches
from .snapshots import default_snapshot
from .steps import (METRICS, d_step, g_step, has_batchnorm, make_adam,  # noqa: F401
                    requires_grad, train_step)


@torch.no_grad()
def ema_update(G_ema, G, decay, step=None):
    """G_ema <- decay * G_ema + (1 - decay) * G, parameter by parameter; buffers (BatchNorm's
    running statistics) are copied. With `step` (updates done so far, from 0) the decay warms
    up as min(decay, (1 + step) / (10 + step)), so early averages do not drag G's random
    initial weights along for thousands of steps. decay = 0 copies G."""
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


def _snapshot(G, D, run, fn, device, score_fn=None):
    modes = G.training, D.training
    G.eval(), D.eval()
    try:
        with torch.no_grad():
            snap = fn(G, D, run.fixed_noise.to(device))
            if score_fn is not None:
                snap["score"] = float(score_fn(G))
    finally:  # an interrupt or an error mid-snapshot must not leave both models in eval mode
        G.train(modes[0]), D.train(modes[1])
    run.snapshots.append({"step": run.step, **snap})


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


def fit(G, D, opt_g, opt_d, data, cfg=FitConfig(), *, snapshot_fn=default_snapshot,
        callback=None, meta=None, parallel=None, score_fn=None):
    """Train G and D on `data` as `cfg` says; return a `Run`.

    data: a tensor or `ImageData` (wrapped in `TensorBatches`), or any object with
      `__len__` (batches per epoch) and `epoch(e, start)` yielding batches in [-1, 1].
    snapshot_fn(G, D, fixed_noise) -> dict: what to keep at each snapshot (both models are in
      eval mode, under no_grad); the default keeps G's samples.
    callback(step, stats): called after every step with the step's detached tensors.
    score_fn(G) -> float, lower is better (a Fréchet distance...): called at every snapshot
      on the generator the snapshots show (the EMA one if on; eval mode, no_grad), kept as
      the snapshot's "score"; with a checkpoint_path, each new best score also saves that
      generator to `resume.best_path(checkpoint_path)` ("ck.pt" -> "ck_best.pt"), a file
      `load_generator` reads.
    meta: a dict stored in checkpoints (the chapter's parameters, the data's source...).
    parallel: None (one process), or a `ganlib.distributed.Parallel` under torchrun: G and D
      stay plain here and are wrapped in DDP for the steps only; cfg.batch_size is then the
      global batch, `data` must be sharded (`parallel.batches`), and rank 0 alone draws the
      progress bar and writes snapshots and checkpoints, which every process resumes from
      (so checkpoint_path must be on a file system they all see; ganlib/distributed.py).

    With cfg.resume and a checkpoint at cfg.checkpoint_path, the run continues the saved one
    exactly, or stops before any change: other settings (models, FitConfig, optimizers, meta)
    or a checkpoint past the step total raise a ValueError that lists them
    (`ganlib.resume.check_resume`).
    """
    check_config(cfg)
    device = next(G.parameters()).device
    on_cuda = device.type == "cuda"
    amp_dtype = torch.bfloat16 if (on_cuda if cfg.amp is None else cfg.amp) else None
    # parallel: every `parallel is not None` below is the only difference a torchrun run makes
    main = parallel is None or parallel.is_main  # the process that draws, snapshots and saves
    if hasattr(data, "epoch"):
        batches = data
    elif parallel is None:
        batches = TensorBatches(data, cfg.batch_size, device, seed=cfg.seed)
    else:
        batches = parallel.batches(data, cfg.batch_size, device, seed=cfg.seed)
    if parallel is not None and getattr(batches, "world_size", 1) != parallel.world_size:
        raise ValueError(f"under torchrun each of the {parallel.world_size} processes needs its "
                         f"own shard of every batch: build the data with parallel.batches(...)")
    n_critic = int(cfg.n_critic)
    total = total_steps(cfg, len(batches))
    augment = make_augment(cfg.augment)  # None when off; a misspelt policy fails here
    for opt in (opt_g, opt_d):  # checks lr_decay; records initial_lr, compared on resume
        set_lr(opt, cfg.lr_decay, 0, total)
    G_ema = None
    if cfg.ema > 0:  # a copy that never trains: sampled from, checkpointed as "generator"
        G_ema = copy.deepcopy(G).eval()
        requires_grad(G_ema, False)
    sampler = G if G_ema is None else G_ema  # what snapshots show
    ckpt_path = cfg.checkpoint_path

    def snapshot():  # rank 0 only
        _snapshot(sampler, D, run, snapshot_fn, device, score_fn)
        score = run.snapshots[-1].get("score", math.nan)
        best = min((s["score"] for s in run.snapshots[:-1]  # resumed runs' snapshots too
                    if not math.isnan(s.get("score", math.nan))), default=math.inf)
        if ckpt_path and score < best:
            save_checkpoint(resume.best_state(sampler, run, meta), resume.best_path(ckpt_path))

    run = None
    if ckpt_path and cfg.resume and _exists(ckpt_path):
        # before restore, which overwrites the optimizers' settings and the models' weights
        resume.check_resume(ckpt_path, cfg, G, D, opt_g, opt_d, meta, total)
        ckpt = resume.restore(G, D, opt_g, opt_d, ckpt_path, device, G_ema)
        run = Run(history=ckpt["history"], snapshots=ckpt["snapshots"],
                  fixed_noise=ckpt["fixed_noise"], step=ckpt["step"], seconds=ckpt["seconds"],
                  resumed_from=ckpt["step"])
    if run is None:
        gen = torch.Generator().manual_seed(cfg.seed)
        run = Run(fixed_noise=torch.randn(cfg.n_fixed, G.nz, generator=gen))
        if main:
            snapshot()
    run.G_ema = G_ema

    channels_last = on_cuda if cfg.channels_last is None else cfg.channels_last
    if channels_last and has_conv(G):
        for model in (G, D, G_ema):
            if model is not None:
                model.to(memory_format=torch.channels_last)
    # The steps run the DDP-wrapped models (parallel); snapshots, EMA and checkpoints use the
    # plain G and D, so checkpoints hold their state_dicts without DDP's "module." prefix.
    Gc, Dc = (parallel.wrap(G), parallel.wrap(D)) if parallel is not None else (G, D)
    Gc, Dc = (torch.compile(Gc), torch.compile(Dc)) if cfg.compile else (Gc, Dc)

    def checkpoint():
        if ckpt_path and main:
            state = resume.training_state(G, D, opt_g, opt_d, run, cfg, meta, G_ema)
            if parallel is not None:
                state["world_size"] = parallel.world_size  # a record; resuming may change it
            save_checkpoint(state, ckpt_path)
        if ckpt_path and parallel is not None:
            parallel.barrier()  # the others wait until rank 0's checkpoint is on disk

    from tqdm.auto import tqdm
    # no tqdm rate (a moving average): the postfix shows this call's whole-run img/s instead,
    # the number Run.images_per_second ends with, so the bar and the chapter's print agree
    per_step = cfg.batch_size * n_critic  # the real images D sees in a step
    bar = tqdm(total=total * per_step, initial=run.step * per_step, unit="img",
               unit_scale=True, disable=not (cfg.progress and main), desc="training",
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
    pending = []  # per-step stats, still on the device
    images = 0  # images trained on in this call

    def show(rate):  # the bar's postfix: the whole-run rate, then the latest losses
        h = run.history
        losses = (f", loss_d={h['loss_d'][-1]:.3f}, loss_g={h['loss_g'][-1]:.3f}"
                  if h["step"] else "")
        bar.set_postfix_str(f"{rate:,.0f} img/s{losses}", refresh=False)

    def flush():
        if pending:
            rows = torch.stack(pending)
            if parallel is not None:
                rows = parallel.mean(rows)  # the history records the global batch's means
            rows = rows.tolist()  # the one host sync
            first = run.step - len(rows) + 1
            for i, row in enumerate(rows):
                run.history["step"].append(first + i)
                for name, v in zip(METRICS, row):
                    run.history[name].append(v)
            pending.clear()
            show(_rate(images, time.perf_counter() - call_t0))  # just synced: an honest time

    call_t0 = t0 = time.perf_counter()
    groups = _groups(batches, run.step * n_critic, n_critic)  # resumes where the run stopped
    last = run.step >= total
    while not last:
        reals = next(groups)
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
                           gp_weight=cfg.gp_weight, r1_weight=cfg.r1_weight)
        if G_ema is not None:
            ema_update(G_ema, G, cfg.ema, run.step)
        run.step += 1
        pending.append(torch.stack([stats[m] for m in METRICS]))
        seen_now = sum(r.shape[0] for r in reals) * (1 if parallel is None
                                                      else parallel.world_size)
        images += seen_now  # all processes' images: the global batch
        bar.update(seen_now)
        if callback is not None:
            callback(run.step, stats)
        last = run.step >= total  # never overshoots, whatever the batches yield
        out_of_time = cfg.max_seconds and time.perf_counter() - call_t0 >= cfg.max_seconds
        if cfg.max_seconds and parallel is not None:  # all processes stop at the same step
            out_of_time = parallel.any(out_of_time)
        if out_of_time:
            last = True  # out of time: the end of the run, snapshot and checkpoint included
        if len(pending) >= cfg.sync_every or last:
            flush()
        if last or (cfg.snapshot_every and run.step % cfg.snapshot_every == 0):
            flush()
            if main:
                snapshot()
        if last or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0):
            flush()
            run.seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            checkpoint()
    flush()
    if on_cuda:
        torch.cuda.synchronize()
    now = time.perf_counter()
    run.seconds += now - t0
    run.images_per_second = _rate(images, now - call_t0)
    show(run.images_per_second)
    bar.close()
    return run


def _rate(images, seconds):
    return images / seconds if images and seconds > 0 else 0.0


def _exists(path):
    return Path(path).is_file()


def has_conv(model):
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
