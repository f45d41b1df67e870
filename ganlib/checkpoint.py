"""Checkpoints: atomic writes, safe loads, and `load_generator`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)`, which refuses to run pickled code from a file someone
sent you. Models are stored as (kind, hparams, state_dict) and rebuilt by `models.build`.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
old checkpoint with `os.replace`, which is atomic on POSIX and Windows: a crash or a Colab
disconnect mid-write leaves the previous checkpoint intact, never a half-written one.
"""

import os
from pathlib import Path

import torch

from .models import build, kind_of


def save_checkpoint(state, path):
    """Write `state` to `path` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # only when something above failed
            tmp.unlink()


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint dict with `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    return torch.load(path, map_location=map_location, weights_only=True)


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
    ckpt = load_checkpoint(path, map_location)
    if "generator" not in ckpt:
        raise ValueError(f"{str(path)!r} is not a ganlib checkpoint (it has no 'generator')")
    return load_model(ckpt["generator"], map_location).eval()
