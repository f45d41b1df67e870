"""Timing on a shared machine, for the benchmarks (`ganlib.bench`, `ganlib.bench.precision`).

* `synchronize`: a GPU runs the kernels it is given later, in a queue; a timer must wait for
  the queue to empty before it reads the clock, or it times the queueing, not the work.
* `interleave`: call several contenders in turn, round after round. The speed of a shared
  machine drifts (other processes, the clock boosting or throttling); interleaving spreads
  the drift over every contender instead of handing it to whichever ran last, and the median
  over the rounds ignores a round that something else disturbed.
"""

import statistics
import time

import torch


def synchronize(device):
    """Wait until the work queued on `device` is done (CUDA, MPS); the CPU has no queue."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def seconds(fn, device):
    """Wall-clock seconds of `fn()`, from an empty queue on `device` to an empty queue."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def interleave(contenders, rounds):
    """Call each of `contenders` (name -> callable with no arguments, returning a number) once
    per round, in their order, `rounds` times. Returns name -> the list of its results."""
    results = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            results[name].append(fn())
    return results


def medians(results):
    """name -> the median of its list, for `interleave`'s results."""
    return {name: statistics.median(values) for name, values in results.items()}
