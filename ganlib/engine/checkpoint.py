"""Checkpoints: atomic writes, safe loads, and `load_generator`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)`, which refuses to run pickled code from a file someone
sent you. Models are stored as (kind, hparams, state_dict) and rebuilt by `ganlib.models.build`.
`save_checkpoint` converts what it can to those types and refuses the rest before a byte is
written; it writes a temporary file and renames it over the old one (`os.replace`, atomic), so
a crash mid-write leaves the previous checkpoint intact. A file that cannot be loaded raises a
`CheckpointError` that says whether it is truncated, holds unsafe types, or needs another
device, since the way out differs; it never advises weights_only=False.

## Compatibility: what ganlib writes, later ganlibs read
- Model kinds (`ganlib.models.MODELS`) and FitConfig field names are a file format.
- A model option added later is recorded in `hparams` only when not at its default
  (`_d_hparams`, `_pack_hparams`), so the hparams of models saved before it compare equal.
- A FitConfig field added later defaults to what runs did before it existed; a field removed
  is listed in `ganlib.engine.resume.REMOVED` with the only value runs ever used, and a
  checkpoint that used another value refuses to resume.
- Format 1 checkpoints kept rank 0's view of every GPU's random state; format 2 keeps one per
  process (`ganlib.engine.resume.restore_rng` reads both).
- `FitConfig.g_loss` names the whole game (D's loss too): the name predates the hinge and
  Wasserstein games, and checkpoints store it.
- tests/fixtures holds checkpoints written before ganlib became a package of rooms; they load
  and resume bit for bit (tests/engine/test_old_checkpoints.py).
"""

import numbers
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path, PurePath

import numpy as np
import torch

from ganlib.models import build, kind_of, unwrap
from ganlib.utils import atomic_write

# Leaves a weights_only load accepts (dicts, OrderedDicts, lists and tuples hold them).
_LEAVES = (torch.Tensor, str, bytes, bool, int, float, complex, type(None), torch.dtype,
           torch.device)


def plain_values(obj, key="state"):
    """`obj` with only values a weights_only load accepts. numpy scalars become Python
    numbers, numpy arrays tensors, paths strings, other numbers floats, namedtuples tuples,
    other mappings and lists dicts and lists; dicts and lists that need no change are
    returned as they are (a state_dict keeps its `_metadata`). Anything else raises a
    TypeError naming its key and type, e.g. "state['meta']['when'] is a datetime.datetime"."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj)).clone()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, _LEAVES):
        return obj
    if isinstance(obj, numbers.Number):  # Fraction, Decimal...
        return float(obj)
    if isinstance(obj, dict):
        pairs = [(plain_values(k, f"a key of {key}"), plain_values(v, f"{key}[{k!r}]"))
                 for k, v in obj.items()]
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, obj.items()))
        return obj if same and type(obj) in (dict, OrderedDict) else dict(pairs)
    if isinstance(obj, (list, tuple)):
        items = [plain_values(v, f"{key}[{i}]") for i, v in enumerate(obj)]
        if type(obj) in (list, tuple) and all(a is b for a, b in zip(items, obj)):
            return obj
        return tuple(items) if isinstance(obj, tuple) else items
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}".removeprefix("builtins.")
    raise TypeError(f"{key} is a {kind}, which a checkpoint cannot hold (a safe load would "
                    f"refuse the file): store it as a number, string, list, dict or tensor")


def save_checkpoint(state, path):
    """Write `state` to `path` atomically (temp file + fsync + rename, `utils.atomic_write`),
    after `plain_values` has checked and converted it: a TypeError names a value it cannot hold,
    before anything is written."""
    state = plain_values(state)
    atomic_write(path, lambda f: torch.save(state, f))


class CheckpointError(ValueError):
    """A file that is not a readable ganlib checkpoint: truncated, corrupt, or something else."""


def _not_a_checkpoint(path, why):
    return CheckpointError(
        f"{str(path)!r} is not a ganlib checkpoint, or it is truncated or corrupt ({why}). "
        f"Check that the path names a checkpoint that ganlib wrote. If it is left over from an "
        f"interrupted or older run, delete it, or set resume=False (or use a fresh out_dir) to "
        f"train afresh without it.")


def _intact(path):
    """Whether `path` is a complete torch zip file: every member present, every CRC right."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None and any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def _unsafe_types(path):
    """The types in the intact file at `path` that a weights_only load refuses ([] if none, or
    if this torch cannot tell)."""
    find = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)  # torch>=2.5
    try:
        return list(find(path)) if find else []
    except Exception:  # noqa: BLE001 (a file it cannot parse: the caller's generic message)
        return []


def _why_not_loaded(path, error, map_location):
    """The CheckpointError for a file that torch.load refused with `error`."""
    text = str(error)
    if _intact(path):
        unsafe = _unsafe_types(path)
        if unsafe:
            head = (f"{str(path)!r} is intact, but it holds values of types that a safe "
                    f"load refuses: {', '.join(unsafe)}. ganlib's "
                    f"save_checkpoint never writes these (it stores only plain values): the "
                    f"file was written by other code, or by a ganlib from before that rule. ")
            if all(t.startswith("numpy.") for t in unsafe):  # data, not code
                return CheckpointError(
                    head + "Do not delete it if it holds a run you need: numpy's scalar and "
                    "dtype types are plain data, so load it inside `with torch.serialization."
                    "safe_globals([...])` naming them, and save it again with "
                    "ganlib.save_checkpoint, which converts them.")
            return CheckpointError(
                head + "Some of them are not plain data and could run code while loading: "
                "unless you wrote this file yourself, do not allow them; train afresh "
                "without it (resume=False, or a fresh out_dir).")
        if "cuda" in text.lower() or "device" in text.lower():
            where = ("the device it was saved on" if map_location is None
                     else f"device {map_location!r}")
            return CheckpointError(
                f"{str(path)!r} is intact, but it cannot be loaded onto {where} here "
                f"({text.split('. ')[0].strip()}). Load it with "
                f"map_location='cpu', or on a machine with that device.")
    first = text.split(". ")[0].strip()
    detail = f": {first}" if first and "weights" not in text.lower() else ""
    return _not_a_checkpoint(path, f"{path.stat().st_size:,} bytes; torch.load raised "
                                   f"{type(error).__name__}{detail}")


def _is_model_record(rec):
    return isinstance(rec, dict) and {"kind", "hparams", "state"} <= set(rec)


def load_checkpoint(path, map_location="cpu", require=()):
    """Load a checkpoint dict with `weights_only=True`; `require`: keys it must have.

    Raises FileNotFoundError if there is no file; CheckpointError if the file is truncated or
    corrupt, holds types a safe load refuses, cannot go to `map_location` here, is not a dict,
    lacks a required key, or its "generator"/"discriminator" (when required) is not a model
    record. Each message says which, and what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols; the error says more
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # RuntimeError, EOFError, UnpicklingError, KeyError...
        # `from None`: torch's own message (which advises weights_only=False, the one thing not
        # to do with a file someone sent you) stays out of the traceback
        raise _why_not_loaded(path, e, map_location) from None
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
    model = unwrap(model)  # a compiled or DataParallel model is saved as its plain module
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
    (or (n, dim) points for the toy generator); a conditional generator's (ganlib.models.conditional)
    is `sample(n, y=None, seed=None)`, and it has `n_classes`. Raises FileNotFoundError or
    CheckpointError (see `load_checkpoint`), and ValueError for a model kind this ganlib does
    not know."""
    ckpt = load_checkpoint(path, map_location, require=("generator",))
    return load_model(ckpt["generator"], map_location).eval()
