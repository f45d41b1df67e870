"""Seeding, device choice, `slerp` in latent space, and `atomic_write`. Nothing here runs at
import time: seeding is always explicit."""

import os
import random
from pathlib import Path

import numpy as np
import torch


def set_seed(seed):
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _mps_available():
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def get_device(device="auto"):
    """`torch.device` for `device`; "auto" picks cuda, then mps, then cpu.

    A device this machine lacks fails here, with what to use instead, rather than deep inside
    the first `.to(device)`."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    asked = device
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {asked!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} was asked for, but CUDA is not available; "
                           f"use device='auto' or 'cpu'")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise RuntimeError(f"device {str(device)!r} was asked for, but this machine has "
                           f"{torch.cuda.device_count()} CUDA device(s), numbered from 0")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {str(device)!r} (Apple's GPU) was asked for, but MPS is not "
                           f"available here; use device='auto' or 'cpu'")
    return device


def fast_bf16(device):
    """True where bf16 autocast runs natively, so it speeds training up: CUDA, and CPUs whose
    oneDNN has bf16 instructions (AVX512-BF16, AMX). Elsewhere it would be emulated, slowly."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def fast_defaults(device, conv):
    """(bf16 autocast, channels_last): what `FitConfig.amp=None` and `channels_last=None` pick
    for a model on `device`; `conv`: whether it has convolutions.

    * CUDA: both on (channels_last for conv models).
    * A CPU: channels_last for conv models (oneDNN's convolutions prefer NHWC: 1.1-1.2x in
      float32 here), and bf16 autocast for conv models where bf16 is native (`fast_bf16`):
      DCGAN's step ran 1.4-1.9x faster with both on a 2-core AVX512-BF16 CPU (BENCHMARKS.md,
      `python -m ganlib.bench --precision`). MLPs stay float32 unless asked: the toys'
      coordinates need float32's precision, and chapter 2 asks for bf16 itself.
    * Elsewhere (MPS): neither.
    Weights, optimizer state and BatchNorm statistics stay float32 either way: autocast only
    runs the matrix products and convolutions in bf16."""
    device = torch.device(device)
    if device.type == "cuda":
        return True, conv
    if device.type == "cpu":
        return conv and fast_bf16(device), conv
    return False, False


def describe_device(device):
    """A one-line description for the record: 'cuda (NVIDIA H100 ...)', 'cpu (2 threads)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def slerp(z0, z1, t):
    """Spherical interpolation between latent vectors z0 and z1 (..., nz) at fractions t (T,).

    Gaussian latents concentrate near a sphere; a straight line between two of them passes
    through lower-norm points that G rarely saw in training, the arc does not (White 2016,
    "Sampling Generative Networks", arXiv:1609.04468). Returns (T, ..., nz)."""
    t = torch.as_tensor(t, dtype=z0.dtype).view(-1, *([1] * z0.dim()))
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def atomic_write(path, write):
    """Call `write(f)` on a temporary file beside `path` (same folder, so the same file
    system), flush it to disk, then rename it over `path` with `os.replace`, which is atomic on
    POSIX and Windows: a crash mid-write leaves the old file, never a half-written one. The
    temporary file, named `<path>.tmp<pid>`, is removed whatever happens."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
