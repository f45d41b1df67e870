"""What a training checkpoint holds, how `fit` resumes from one, and when it refuses to.

A checkpoint of `fit` is a plain dict (`ganlib.engine.checkpoint`): both models as (kind,
hparams, state), both optimizers' states, the random state, the step, history and snapshots,
the `FitConfig` and the caller's `meta`. With an EMA, the averaged G is the "generator" (what
`load_generator` returns) and the trained weights are "generator_raw". One rule: a resumed run
continues the saved run bit for bit (2N steps in one go equal N, a checkpoint, and N more), or
stops before any change, listing each setting that differs, saved -> new.
"""

import sys
from dataclasses import asdict, fields
from pathlib import Path

import torch

from ganlib.models import kind_of

from .checkpoint import load_checkpoint, model_record

# FitConfig fields a resumed run may change: they change how a run is watched, saved or sped
# up, not what it trains (epochs/steps: extending a run is what resuming is for). Every other
# field, today's and tomorrow's, must match the checkpoint's.
RESUME_FREE = frozenset({"epochs", "steps", "max_seconds", "snapshot_every", "sync_every",
                         "checkpoint_every", "checkpoint_path", "resume", "progress",
                         "channels_last", "compile"})
# "initial_lr" is compared in place of "lr" where present: with a learning-rate schedule the
# saved "lr" is wherever the schedule had got to, not the setting
OPTIMIZER_SETTINGS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")
# FitConfig fields removed since checkpoints were first written, with the one value any run
# ever used; a checkpoint that used another value is refused (it ran what is not offered now)
REMOVED = {"label_smoothing": 0.0}
RESUME_KEYS = ("generator", "discriminator", "opt_g", "opt_d", "rng", "step", "seconds",
               "fixed_noise", "history", "snapshots")
_UNSET = object()  # a setting the checkpoint (or this run) does not record


def match_param_layouts(opt):
    """Give each of `opt`'s state tensors (Adam's moments) its parameter's memory layout, in
    place. A fused or foreach Adam walks a parameter and its moments as flat memory, so a
    moment saved in NCHW order and stepped against a channels_last parameter (a GPU checkpoint
    resumed on a CPU, or FitConfig.channels_last changed) would update each weight with another
    weight's moments. `Optimizer.load_state_dict` keeps the saved layout."""
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for name, v in state.items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    state[name] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def rng_state(device):
    """This process's random state: the CPU generator's, and its own GPU's when on CUDA."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def training_state(G, D, opt_g, opt_d, run, cfg, meta, G_ema=None, rng=None, resolved=None):
    """The checkpoint dict of a run in progress (`run` is a `ganlib.train.Run`).

    rng: one `rng_state` per process, by rank (None: this process's, on the CPU).
    resolved: what the run resolved or was given besides `cfg` (`resolved_settings`), saved
    as "ran" and compared on resume."""
    rng = [rng_state(torch.device("cpu"))] if rng is None else rng
    state = {"format": 2, "generator": model_record(G if G_ema is None else G_ema),
             "discriminator": model_record(D),
             "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
             # the CPU state is the same in every process (ganlib.engine.distributed); GPUs' by rank
             "rng": {"cpu": rng[0]["cpu"], "cuda_by_rank": [r.get("cuda") for r in rng]},
             "step": run.step, "seconds": run.seconds, "fixed_noise": run.fixed_noise,
             "history": run.history, "snapshots": run.snapshots, "config": asdict(cfg),
             "ran": resolved or {}, "meta": meta or {}}
    if G_ema is not None:
        state["generator_raw"] = model_record(G)
    return state


def resolved_settings(amp_dtype, batches=None):
    """What a run used that its FitConfig may not say: the autocast dtype that
    `FitConfig.amp=None` resolved to on this device, and, for batches the caller built (pass
    them; `fit` builds its own from FitConfig.batch_size and .seed otherwise), their size,
    seed and count per epoch."""
    resolved = {"amp": None if amp_dtype is None else str(amp_dtype).removeprefix("torch.")}
    if batches is not None:
        resolved.update(batch_size=getattr(batches, "batch_size", None),
                   data_seed=getattr(batches, "seed", None), batches_per_epoch=len(batches))
    return resolved


def best_path(path):
    """Where the best-scoring generator goes, beside the checkpoint at `path`: ck_best.pt."""
    path = Path(path)
    return path.with_name(f"{path.stem}_best{path.suffix}")


def best_state(G, run, meta):
    """The file of `run`'s latest snapshot's generator `G` and its score: `load_generator`
    reads it (the one to sample from: the EMA generator when FitConfig.ema is on)."""
    snap = run.snapshots[-1]
    return {"format": 1, "generator": model_record(G), "step": snap["step"],
            "score": snap["score"], "meta": meta or {}}


def restore(G, D, opt_g, opt_d, path, device, G_ema=None, rank=0):
    """Load the checkpoint at `path` into the models and optimizers (in place) and restore the
    random state of process `rank`; return the checkpoint dict, whose step, history,
    snapshots... the caller turns into its `Run`. The models must already have the memory
    layout they will train in: the optimizers' state takes the layout of their parameters
    (`match_param_layouts`)."""
    ckpt = load_checkpoint(path, map_location="cpu", require=RESUME_KEYS)
    G.load_state_dict(ckpt.get("generator_raw", ckpt["generator"])["state"])
    if G_ema is not None:
        G_ema.load_state_dict(ckpt["generator"]["state"])
    D.load_state_dict(ckpt["discriminator"]["state"])
    for opt, key in ((opt_g, "opt_g"), (opt_d, "opt_d")):
        opt.load_state_dict(ckpt[key])
        match_param_layouts(opt)
    restore_rng(ckpt["rng"], device, rank)
    return ckpt


def restore_rng(rng, device, rank=0):
    """Set the CPU generator, and on CUDA this process's GPU generator, from a checkpoint's
    "rng". Format 2 keeps one GPU state per rank; format 1 kept rank 0's view of every visible
    GPU, of which only the GPU a one-process run used is meaningful. A state the checkpoint
    lacks (more processes now than then; a CPU run resumed on a GPU) is not restored, with a
    note on stderr: that GPU's stream then starts from its seed."""
    torch.set_rng_state(rng["cpu"])
    if device.type != "cuda":
        return
    index = device.index if device.index is not None else torch.cuda.current_device()
    if "cuda_by_rank" in rng:
        states, who = rng["cuda_by_rank"], f"process {rank}"
        state = states[rank] if rank < len(states) else None
    else:  # format 1: get_rng_state_all() of the process that saved it, by GPU index
        states, who = rng.get("cuda", []), f"GPU {index}"
        state = states[index] if index < len(states) else None
    if state is None:
        print(f"note: the checkpoint holds no CUDA random state for {who} (it has "
              f"{sum(s is not None for s in states)}); that GPU's random stream is not "
              f"restored, so this resumed run is not bit-exact", file=sys.stderr)
        return
    torch.cuda.set_rng_state(state, device)


def _optimizer_setting(group, name):
    if name == "lr":
        return group.get("initial_lr", group.get("lr", _UNSET))
    return group.get(name, _UNSET)


def _kind(model):
    try:
        return kind_of(model)
    except TypeError:  # not a ganlib model: its class name, which no saved kind equals
        return type(model).__name__


def resume_differences(ckpt, cfg, G, D, opt_g, opt_d, meta, resolved=None):
    """The settings that differ between the run saved in `ckpt` and this one, as lines
    'what: saved -> this run': the models' kinds and hyperparameters (a conditional model's
    n_classes among them), FitConfig's fields outside RESUME_FREE, each optimizer's settings,
    what ran (`resolved_settings`: the resolved autocast, the batches) and the caller's `meta`
    (data source, folder...)."""
    raw = ckpt.get("generator_raw", ckpt["generator"])
    records = (("generator", raw, G), ("discriminator", ckpt["discriminator"], D))
    pairs = [(f"{name}'s kind", rec["kind"], _kind(model)) for name, rec, model in records]
    pairs += [(name, rec["hparams"], dict(model.hparams)) for name, rec, model in records]
    saved = ckpt.get("config") or {}
    pairs += [(f"FitConfig.{f.name}", saved.get(f.name, f.default), getattr(cfg, f.name))
              for f in fields(cfg) if f.name not in RESUME_FREE]  # older: the default
    pairs += [(f"FitConfig.{name} (no longer an option)", saved[name], value)
              for name, value in REMOVED.items() if name in saved]
    for who, key, opt in (("G", "opt_g", opt_g), ("D", "opt_d", opt_d)):
        old_groups, new_groups = ckpt[key].get("param_groups", []), opt.param_groups
        if len(old_groups) != len(new_groups):
            pairs.append((f"{who}'s optimizer parameter groups", len(old_groups), len(new_groups)))
        for i, (old, new) in enumerate(zip(old_groups, new_groups)):
            group = f" (group {i})" if len(new_groups) > 1 else ""
            pairs += [(f"{who}'s optimizer {s}{group}", _optimizer_setting(old, s),
                       _optimizer_setting(new, s))
                      for s in OPTIMIZER_SETTINGS if s in old or s in new]
    old_resolved, new_resolved = ckpt.get("ran") or {}, resolved or {}
    pairs += [(f"what ran: {k}", old_resolved[k], new_resolved[k])  # older: not recorded
              for k in sorted(set(old_resolved) & set(new_resolved))]
    old_meta, new_meta = ckpt.get("meta") or {}, meta or {}
    pairs += [(f"meta[{k!r}]", old_meta.get(k, _UNSET), new_meta.get(k, _UNSET))
              for k in sorted(set(old_meta) | set(new_meta), key=str)]

    def plain(v):  # tuples come back from a checkpoint as tuples or lists; tensors as tensors
        v = v.tolist() if isinstance(v, torch.Tensor) else v
        return list(map(plain, v)) if isinstance(v, (tuple, list)) else v

    def show(v):
        return "(not recorded)" if v is _UNSET else repr(v)

    return [f"{what}: {show(old)} -> {show(new)}" for what, old, new in pairs
            if plain(old) != plain(new)]


def check_resume(path, cfg, G, D, opt_g, opt_d, meta, total, resolved=None):
    """Refuse to resume from `path` a run with other settings, or one already past `total`
    steps; say loudly when it holds exactly `total`, so nothing is trained in this session.
    Call it before `restore`, which overwrites the optimizers' settings and the weights."""
    ckpt = load_checkpoint(path, require=RESUME_KEYS)
    fresh = ("To train afresh, use a fresh out_dir (another checkpoint_path), or set "
             "resume=False (this run's checkpoint then replaces the saved one; or delete it).")
    diffs = resume_differences(ckpt, cfg, G, D, opt_g, opt_d, meta, resolved)
    if diffs:
        raise ValueError(
            f"cannot resume from {str(path)!r}: {len(diffs)} setting(s) differ from those of "
            f"the run it holds (saved -> this run):\n  " + "\n  ".join(diffs)
            + f"\n{fresh} To continue the saved run instead, set these back to the saved values.")
    step = ckpt["step"]
    if step > total:
        raise ValueError(
            f"cannot resume from {str(path)!r}: it holds {step:,} steps, but this run asks for "
            f"{total:,} in all. {fresh} To continue the saved run, ask for at least {step:,} "
            f"steps.")
    if step == total:  # on stderr, like data's fallback banner: red in Jupyter, no file paths
        print(f"{'=' * 78}\nNO TRAINING IN THIS SESSION: {str(path)!r} already holds all "
              f"{total:,} steps this run asks for, trained by an earlier run.\nEverything that "
              f"follows analyses that saved model, as of step {step:,}.\nTo train it longer, "
              f"ask for more steps. {fresh}\n{'=' * 78}", file=sys.stderr)
