"""`FitConfig`: every setting of `ganlib.train.fit`, one comment each, and their checks.

A frozen dataclass of plain values, so a checkpoint stores it as a dict and a resumed run
compares it field by field (`ganlib.engine.resume.RESUME_FREE` lists the fields a resumed run
may change). Schedules (the learning rates' decay, instance noise, lazy R1) are functions of
the step and the run's length, so a resumed run continues them. A run extended to more steps
recomputes them over its new length: a decayed learning rate rises again, to
initial_lr * (1 - step / new length).
"""

import numbers
from dataclasses import dataclass

from .augment import parse_policy
from .losses import loss_pair

UPDATES = ("both", "d", "g")
LR_DECAY = ("none", "linear")


@dataclass(frozen=True)
class FitConfig:
    epochs: int | None = None  # passes over the data; give epochs or steps
    steps: int | None = None  # total steps (n_critic D updates and one G update each)
    batch_size: int = 128  # images per D update
    # the game, by G's loss: "nonsaturating" or "minimax" (both against D's cross-entropy
    # d_loss), "hinge", "wasserstein" or "relativistic" (RpGAN) (each with its own D loss;
    # ganlib.losses.LOSSES)
    g_loss: str = "nonsaturating"
    updates: str = "both"  # "both", or "d" / "g": the other player is evaluated, never stepped
    n_fixed: int = 64  # fixed-noise samples drawn once and rendered at every snapshot
    snapshot_every: int = 0  # steps between snapshots; 0 keeps only the first and the last
    # steps between fit's score_fn calls (each also takes a snapshot); 0: at every snapshot.
    # Scores cost more than snapshots (Inception features): score less often than you look
    score_every: int = 0
    sync_every: int = 25  # steps between host syncs (history flush, progress-bar text)
    # steps between checkpoints; 0: at the end only. With a path, Ctrl-C or an error in a
    # step also saves the last whole step (ganlib.engine.safety)
    checkpoint_every: int = 0
    checkpoint_path: str | None = None  # where checkpoints go; None: no checkpoints
    resume: bool = True  # continue from checkpoint_path when it exists
    seed: int = 0  # seeds the batch order and the fixed noise
    # bf16 autocast; None: on for CUDA, and for conv models on CPUs with native bf16
    # (ganlib.utils.fast_defaults); weights, Adam and BatchNorm statistics stay float32
    amp: bool | None = None
    channels_last: bool | None = None  # NHWC layout for conv models; None: on for CUDA and CPUs
    compile: bool = False  # torch.compile G and D: slow first steps, faster after (CUDA)
    progress: bool = True  # a tqdm bar in images/s
    ema: float = 0.0  # decay of the moving average of G's weights (0.999: ~1000 steps); 0: off
    lr_decay: str = "none"  # "linear": both learning rates fall linearly, to 0 after the last step
    max_seconds: float = 0.0  # also stop after this much training time in this call; 0: no limit
    augment: str = ""  # DiffAugment policy on D's inputs, e.g. "translation,cutout,color"; "": off
    gp_weight: float = 0.0  # WGAN-GP's lambda (10 in the paper): D's loss + lambda * GP; 0: off
    r1_weight: float = 0.0  # R1's gamma: D's loss + gamma / 2 * R1 on the reals; 0: off
    r2_weight: float = 0.0  # R2's gamma: D's loss + gamma / 2 * R2 on the fakes; 0: off
    # R1 and R2 on every k-th step only, weighted by k ("lazy regularization", Karras et al.
    # 2020, arXiv:1912.04958, app. B: k = 16): the double backward's cost falls by about k
    r1_every: int = 1
    # D updates per step, each on the next batch of the data, then one G update (WGAN: 5);
    # so `steps` counts G updates and an epoch has len(data) // n_critic steps
    n_critic: int = 1
    instance_noise: float = 0.0  # std of N(0, s^2) added to D's inputs, falling linearly to 0
    # AC-GAN (Odena et al. 2017): weight of the class head's cross-entropy in both players'
    # losses (the paper: 1); needs a conditional G and an AC-GAN D (forward_with_classes); 0: off
    ac_weight: float = 0.0


def check_config(cfg):
    """Raise a ValueError naming the first FitConfig field that cannot run, before training
    (and before a checkpoint is loaded into the caller's models)."""
    if not isinstance(cfg, FitConfig):
        raise TypeError(f"fit needs a FitConfig saying how long to train, e.g. "
                        f"FitConfig(epochs=5) or FitConfig(steps=1000); got {cfg!r}")
    if (cfg.epochs is None) == (cfg.steps is None):
        raise ValueError("give exactly one of FitConfig.epochs and FitConfig.steps, e.g. "
                         "FitConfig(epochs=5) or FitConfig(steps=1000)")
    # whole numbers >= 1 (True is an int, 0.5 no count)
    for name in ("epochs", "steps", "batch_size", "n_critic", "r1_every"):
        n = getattr(cfg, name)
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral)
                              or n < 1):
            raise ValueError(f"FitConfig.{name} must be a whole number >= 1, got {n!r}")
    for name in ("snapshot_every", "score_every", "checkpoint_every", "sync_every"):
        n = getattr(cfg, name)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"FitConfig.{name} must be a whole number >= 0, got {n!r}")
    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"FitConfig.ema must be in [0, 1), got {cfg.ema!r}")
    for name in ("gp_weight", "r1_weight", "r2_weight", "instance_noise", "ac_weight"):
        if not getattr(cfg, name) >= 0:
            raise ValueError(f"FitConfig.{name} must be >= 0, got {getattr(cfg, name)!r}")
    if cfg.compile and (cfg.gp_weight or cfg.r1_weight or cfg.r2_weight):
        raise ValueError("FitConfig.compile cannot go with gp_weight, r1_weight or r2_weight: "
                         "the penalties "
                         "back-propagate through D's input gradient (a double backward), which "
                         "torch.compile does not support")
    for name, options in (("updates", UPDATES), ("lr_decay", LR_DECAY)):
        if getattr(cfg, name) not in options:
            words = ", ".join(map(repr, options[:-1])) + f" or {options[-1]!r}"
            raise ValueError(f"FitConfig.{name} must be {words}, got {getattr(cfg, name)!r}")
    for name in ("amp", "channels_last"):
        if getattr(cfg, name) not in (None, True, False):
            raise ValueError(f"FitConfig.{name} must be None (pick for the device), True or "
                             f"False, got {getattr(cfg, name)!r}")
    parse_policy(cfg.augment)  # a misspelt augmentation fails here
    loss_pair(cfg.g_loss)  # a misspelt game fails here


def total_steps(cfg, n_batches):
    """The run's length in steps: cfg.steps, or cfg.epochs over data of `n_batches` batches."""
    if cfg.steps is not None:
        return int(cfg.steps)
    total = int(cfg.epochs) * n_batches // int(cfg.n_critic)
    if total < 1:
        raise ValueError(f"FitConfig.epochs={cfg.epochs} gives no steps: the data has fewer "
                         f"batches than the {cfg.n_critic} D updates of one step")
    return total


def lazy_r1(cfg, step):
    """R1's weight at step `step` (0-based): cfg.r1_weight * cfg.r1_every on every
    r1_every-th step (0, k, 2k, ...), else 0; so on average D's loss carries gamma / 2 * R1,
    in k times fewer double backward passes (Karras et al. 2020, arXiv:1912.04958, app. B).
    R2 (cfg.r2_weight) follows the same schedule."""
    k = int(cfg.r1_every)
    return cfg.r1_weight * k if step % k == 0 else 0.0
