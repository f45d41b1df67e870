"""Seeding and device choice. Nothing here runs at import time: seeding is always explicit."""

import random

import numpy as np
import torch


def set_seed(seed):
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device(device="auto"):
    """`torch.device` for `device`; "auto" picks cuda, then mps, then cpu."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} was asked for, but CUDA is not available; "
                           f"use device='auto' or 'cpu'")
    return device


def describe_device(device):
    """A one-line description for the record: 'cuda (NVIDIA H100 ...)', 'cpu (2 threads)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def show_source(obj):
    """Display `obj`'s source code (a function, class or module) as a highlighted block, so a
    chapter shows the library code it runs instead of a copy of it."""
    import inspect

    from IPython.display import Markdown

    return Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```")
