"""Checkpoints: atomic writes, safe loads, and `load_generator`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)`, which refuses to run pickled code from a file someone
sent you. Models are stored as (kind, hparams, state_dict) and rebuilt by `models.build`.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
old checkpoint with `os.replace`, which is atomic on POSIX and Windows: a crash or a Colab
disconnect mid-write leaves the previous checkpoint intact, never a half-written one.

A file that torch cannot read, or that is not a dict with a ganlib checkpoint's records (a
checkpoint cut short by a copy, a file of another program, random bytes), raises
`CheckpointError`, naming the path and what to do. It never repeats torch's advice to load
with weights_only=False: for a file someone sent you, that is exactly what not to do.
"""

import warnings
from pathlib import Path

import torch

from .models import build, kind_of
from .utils import atomic_write


def save_checkpoint(state, path):
    """Write `state` to `path` atomically (temp file + fsync + rename, `utils.atomic_write`)."""
    atomic_write(path, lambda f: torch.save(state, f))


class CheckpointError(ValueError):
    """A file that is not a readable ganlib checkpoint: truncated, corrupt, or something else."""


def _not_a_checkpoint(path, why):
    return CheckpointError(
        f"{str(path)!r} is not a ganlib checkpoint, or it is truncated or corrupt ({why}). "
        f"Check that the path names a checkpoint that ganlib wrote. If it is left over from an "
        f"interrupted or older run, delete it, or set resume=False (or use a fresh out_dir) to "
        f"train afresh without it.")


def _is_model_record(rec):
    return isinstance(rec, dict) and {"kind", "hparams", "state"} <= set(rec)


def load_checkpoint(path, map_location="cpu", require=()):
    """Load a checkpoint dict with `weights_only=True`; `require`: keys it must have.

    Raises CheckpointError for anything else (the keys "generator" and "discriminator" must
    also hold model records)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols; the error says more
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # RuntimeError, EOFError, UnpicklingError, KeyError...: all alike
        # torch's own message is kept only where it does not advise weights_only=False, the
        # one thing not to do with a file someone sent you; `from None` drops it from the
        # traceback too.
        first = str(e).split(". ")[0].strip()
        detail = f": {first}" if first and "weights" not in str(e).lower() else ""
        raise _not_a_checkpoint(path, f"{path.stat().st_size:,} bytes; torch.load raised "
                                      f"{type(e).__name__}{detail}") from None
    if not isinstance(ckpt, dict):
        raise _not_a_checkpoint(path, f"it holds a {type(ckpt).__name__}, not a dict")
    missing = [k for k in require if k not in ckpt]
    if missing:
        raise _not_a_checkpoint(path, f"it has no {', '.join(map(repr, missing))}")
    bad = [k for k in ("generator", "discriminator")
           if k in require and not _is_model_record(ckpt[k])]
    if bad:
        raise _not_a_checkpoint(path, f"its {', '.join(map(repr, bad))} is not a model record")
    return ckpt


def model_record(model):
    """What a checkpoint stores of a model: enough to rebuild it without its code's caller."""
    return {"kind": kind_of(model), "hparams": dict(model.hparams),
            "state": model.state_dict()}


def load_model(record, map_location="cpu"):
    """Rebuild a model from `model_record`'s output."""
    model = build(record["kind"], **record["hparams"])
    model.load_state_dict(record["state"])
    return model.to(map_location)


def load_generator(path, map_location="cpu"):
    """The generator stored in the checkpoint at `path`, in eval mode.

    It has `nz` and `sample(n, seed=None)`, which returns n images (n, C, H, W) in [-1, 1]
    (or (n, dim) points for the toy generator)."""
    ckpt = load_checkpoint(path, map_location, require=("generator",))
    return load_model(ckpt["generator"], map_location).eval()
