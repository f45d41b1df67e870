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

The same `fit` trains on many GPUs under torchrun: `fit(..., parallel=ganlib.distributed.init())`
wraps G and D in DDP for the steps and leaves everything else to rank 0 (ganlib/distributed.py,
`python -m ganlib.train_dcgan`). This module never imports torch.distributed itself.
"""

import copy
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import resume
from .augment import make_augment
from .checkpoint import save_checkpoint
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

@dataclass(frozen=True)
class FitConfig:
    epochs: int | None = None  # passes over the data; give epochs or steps
    steps: int | None = None  # total optimizer steps (one D and one G update each)
    batch_size: int = 128  # images per step
    g_loss: str = "nonsaturating"  # generator loss: "nonsaturating" or "minimax" (saturating)
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - label_smoothing
    updates: str = "both"  # "both", or "d" / "g" to update only that player
    n_fixed: int = 64  # fixed-noise samples drawn once and rendered at every snapshot
    snapshot_every: int = 0  # steps between snapshots; 0 keeps only the first and the last
    sync_every: int = 25  # steps between host syncs (history flush, progress-bar text)
    checkpoint_every: int = 0  # steps between checkpoints; 0 writes one at the end only
    checkpoint_path: str | None = None  # where checkpoints go; None: no checkpoints
    resume: bool = True  # continue from checkpoint_path when it exists
    seed: int = 0  # seeds the batch order and the fixed noise
    amp: bool | None = None  # bf16 autocast; None: on for CUDA, off elsewhere
    channels_last: bool | None = None  # NHWC layout for conv models; None: on for CUDA
    compile: bool = False  # torch.compile G and D: slow first steps, faster after (CUDA)
    progress: bool = True  # a tqdm bar in images/s
    ema: float = 0.0  # decay of the moving average of G's weights (0.999: ~1000 steps); 0: off
    lr_decay: str = "none"  # "linear": both learning rates fall linearly to 0 at the last step
    max_seconds: float = 0.0  # also stop after this much training time in this call; 0: no limit
    augment: str = ""  # DiffAugment policy on D's inputs, e.g. "translation,cutout,color"; "": off


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


def _snapshot(G, D, run, fn, device):
    modes = G.training, D.training
    G.eval(), D.eval()
    try:
        with torch.no_grad():
            snap = fn(G, D, run.fixed_noise.to(device))
    finally:  # an interrupt or an error mid-snapshot must not leave both models in eval mode
        G.train(modes[0]), D.train(modes[1])
    run.snapshots.append({"step": run.step, **snap})


def fit(G, D, opt_g, opt_d, data, cfg=FitConfig(), *, snapshot_fn=default_snapshot,
        callback=None, meta=None, parallel=None):
    """Train G and D on `data` as `cfg` says; return a `Run`.

    data: a tensor or `ImageData` (wrapped in `TensorBatches`), or any object with
      `__len__` (batches per epoch) and `epoch(e, start)` yielding batches in [-1, 1].
    snapshot_fn(G, D, fixed_noise) -> dict: what to keep at each snapshot (both models are in
      eval mode, under no_grad); the default keeps G's samples.
    callback(step, stats): called after every step with the step's detached tensors.
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
    if (cfg.epochs is None) == (cfg.steps is None):
        raise ValueError("give exactly one of FitConfig.epochs and FitConfig.steps")
    for name in ("epochs", "steps", "batch_size"):  # True is an int in Python; 0.5 is no count
        n = getattr(cfg, name)
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral)
                              or n < 1):
            raise ValueError(f"FitConfig.{name} must be a whole number >= 1, got {n!r}")
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
    total = int(cfg.steps) if cfg.steps is not None else int(cfg.epochs) * len(batches)
    if total < 1:
        raise ValueError(f"FitConfig.epochs={cfg.epochs} gives no steps: the data has no batches")
    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"FitConfig.ema must be in [0, 1), got {cfg.ema!r}")
    augment = make_augment(cfg.augment)  # None when off; a misspelt policy fails here
    for opt in (opt_g, opt_d):  # checks lr_decay; records initial_lr, compared on resume
        set_lr(opt, cfg.lr_decay, 0, total)
    G_ema = None
    if cfg.ema > 0:  # a copy that never trains: sampled from, checkpointed as "generator"
        G_ema = copy.deepcopy(G).eval()
        requires_grad(G_ema, False)
    sampler = G if G_ema is None else G_ema  # what snapshots show

    run = None
    ckpt_path = cfg.checkpoint_path
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
            _snapshot(sampler, D, run, snapshot_fn, device)
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
    bar = tqdm(total=total * cfg.batch_size, initial=run.step * cfg.batch_size, unit="img",
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
    epoch, k = divmod(run.step, len(batches))
    last = run.step >= total
    while not last:
        for real in batches.epoch(epoch, start=k):
            if channels_last and real.dim() == 4:
                real = real.contiguous(memory_format=torch.channels_last)
            if cfg.lr_decay != "none":
                for opt in (opt_g, opt_d):
                    set_lr(opt, cfg.lr_decay, run.step, total)
            # parallel: this process's rows of the noise drawn for the whole global batch
            z = parallel.noise(real.shape[0], G.nz, real.device) if parallel is not None else None
            stats = train_step(Gc, Dc, opt_g, opt_d, real, g_loss=cfg.g_loss,
                               label_smoothing=cfg.label_smoothing, amp_dtype=amp_dtype,
                               updates=cfg.updates, augment=augment, z=z)
            if G_ema is not None:
                ema_update(G_ema, G, cfg.ema, run.step)
            run.step += 1
            pending.append(torch.stack([stats[m] for m in METRICS]))
            seen_now = real.shape[0] * (1 if parallel is None else parallel.world_size)
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
                    _snapshot(sampler, D, run, snapshot_fn, device)
            if last or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0):
                flush()
                run.seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                checkpoint()
            if last:
                break
        epoch, k = epoch + 1, 0
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
