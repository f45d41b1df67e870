"""Data-parallel training under torchrun: one process per device, G and D in DDP, rank-0 I/O.

`torchrun --nproc_per_node=N -m ganlib.train_dcgan ...` starts N copies of the program;
`init()` reads who each is from the environment (RANK, LOCAL_RANK, WORLD_SIZE) and returns a
`Parallel`, or None when the program was not started that way. `fit(..., parallel=...)` then
runs its one loop: each process takes its rows of every global batch and of its noise, DDP
averages the gradients, and rank 0 alone draws, snapshots and saves. On the CPU, N processes
compute what one process computes on the global batch, up to the order of float sums
(tests/engine/test_distributed.py). CUDA uses NCCL, one GPU per process; the CPU uses gloo.
"""

import inspect
import os
import sys
from dataclasses import dataclass, field

import torch
from torch import nn

from ganlib.data import TensorBatches, to_unit_range

BATCHNORM = ("sync", "local")
SYNC_BN_DEVICES = ("cuda", "xpu", "hpu")  # where nn.SyncBatchNorm runs (not the CPU, not MPS)


def has_batchnorm(model):
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def from_env():
    """(rank, local_rank, world_size) that torchrun set, or None outside torchrun (or with
    one process: that run is an ordinary one and pays nothing for distribution)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    return int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), world_size


class ShardedBatches(TensorBatches):
    """`TensorBatches` whose batch_size is the global batch, of which process `rank` takes its
    share: rows [rank*b, (rank+1)*b) of every global batch, b = batch_size / world_size.

    The permutation is TensorBatches' own (seed + epoch), so the N shards of batch k, stacked,
    are exactly batch k of `TensorBatches(data, batch_size, seed=seed)`."""

    def __init__(self, data, batch_size, device="cpu", seed=0, rank=0, world_size=1):
        if batch_size % world_size:
            raise ValueError(f"the global batch_size {batch_size} must be a multiple of the "
                             f"number of processes ({world_size}): each takes an equal share")
        super().__init__(data, batch_size, device, seed, drop_last=True)
        self.rank, self.world_size = rank, world_size
        self.local_batch_size = batch_size // world_size

    def epoch(self, e, start=0):
        gen = torch.Generator().manual_seed(self.seed + e)  # as TensorBatches.epoch
        perm = torch.randperm(len(self.data), generator=gen).to(self.data.device)
        b = self.local_batch_size
        for k in range(start, len(self)):
            first = k * self.batch_size + self.rank * b
            idx = perm[first:first + b]
            yield to_unit_range(self.data[idx].to(self.device, non_blocking=True))


def note(text):
    print(f"note: {text}", file=sys.stderr, flush=True)


@dataclass
class Parallel:
    """This process's place in a torchrun job, and the few collective operations `fit` needs.
    What differs from one process, and why:

    * Data: every epoch is one seeded permutation, the same in every process (`ShardedBatches`);
      global batch k is the same images as in one process, and process r takes rows
      [r*b, (r+1)*b) of it, b = batch_size / N. `FitConfig.batch_size` stays the global batch.
    * Noise: every process draws z for the whole global batch from the CPU generator (seeded alike
      everywhere, restored from the checkpoint on resume) and keeps its own rows. Only the steps
      move that generator: `fit` runs rank 0's snapshots, score_fn and callbacks under
      `torch.random.fork_rng`, so their draws cannot put the processes' streams out of step. So
      the fake batch is one global set, as in one process: on the CPU, N processes compute what
      one process computes with the global batch, up to the order of float sums
      (tests/test_distributed.py).
    * Gradients: DDP averages G's and D's gradients over the processes during `backward()`, so
      every process takes the same optimizer step and the models stay identical. The G step
      freezes D (`requires_grad(D, False)`): D's backward then produces no weight gradients and
      DDP reduces none for it, which it allows; G's gradients are reduced as usual.
    * BatchNorm: with N > 1, each process sees b = B/N images. Plain BatchNorm would normalise D's
      (and G's) activations with statistics of b images, a different, noisier function than the
      one-GPU recipe trains. `batchnorm="sync"` (the default) converts every BatchNorm layer to
      `nn.SyncBatchNorm`, which computes the statistics over all N*b images, as one GPU does over
      B. It costs an all-reduce per BatchNorm layer per forward pass. `batchnorm="local"` keeps
      per-process statistics: cheaper, and as in many published multi-GPU GAN codes, but it trains
      with BatchNorm batches of B/N. SyncBatchNorm runs only on GPUs (torch raises for CPU
      tensors), so on the CPU (gloo, as in the tests) "sync" falls back to "local", with a note.
    * Buffers: DDP broadcasts rank 0's buffers (BatchNorm's running statistics) before every
      forward pass by default. D runs forward on the real batch and then on the fake one before
      one backward; the broadcast between them modifies in place buffers that autograd saved,
      and torch from 2.6 on raises "one of the variables needed for gradient computation has been
      modified by an inplace operation" (pytorch/pytorch#175024; the torch 2.14 the tests ran with
      has a fix, earlier versions may not). So buffer sync is off. Nothing is lost: training-mode
      BatchNorm normalises with batch statistics, never the running ones; with SyncBatchNorm the
      running statistics come out the same in every process anyway; with "local" they differ a
      little between processes, and rank 0's are the ones used for its snapshots and saved in the
      checkpoint. Parameters are always identical.
    * I/O: rank 0 alone draws the progress bar, takes snapshots and writes checkpoints (of the
      plain modules, so without DDP's "module." prefix); the others wait at a barrier until the
      checkpoint is on disk. The history is averaged over the processes.
    """

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    batchnorm: str = "sync"  # "sync": nn.SyncBatchNorm where it runs; "local": per process
    _noted: bool = field(default=False, repr=False)  # the SyncBatchNorm note, once

    @property
    def is_main(self):
        return self.rank == 0

    def batches(self, data, batch_size, device=None, seed=0):
        """This process's `ShardedBatches` of `data` (a tensor or ImageData)."""
        return ShardedBatches(data, batch_size, device or self.device, seed, self.rank,
                              self.world_size)

    def sync_bn(self):
        """Whether `wrap` converts BatchNorm to SyncBatchNorm on this device."""
        return self.batchnorm == "sync" and self.device.type in SYNC_BN_DEVICES

    def wrap(self, model):
        """`model` (its BatchNorm layers converted to SyncBatchNorm in place, if sync_bn()) in
        DistributedDataParallel without buffer sync (see the module's note on buffers).
        Conversion keeps the same Parameter objects, so optimizers built before still apply."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        if has_batchnorm(model) and self.sync_bn():
            # in place: the top module (a G or D with its hparams) stays, its layers change
            nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif has_batchnorm(model) and self.batchnorm == "sync" and self.is_main \
                and not self._noted:
            self._noted = True
            note(f"SyncBatchNorm runs only on GPUs; on {self.device.type} each of the "
                 f"{self.world_size} processes normalises with the statistics of its own "
                 f"share of the batch (as with --batchnorm local)")
        # torch >= 2.13 names the switch forward_sync_buffers (and warns for the old name)
        off = ("forward_sync_buffers" if "forward_sync_buffers" in
               inspect.signature(DDP).parameters else "broadcast_buffers")
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(model, device_ids=ids, **{off: False})

    def barrier(self):
        import torch.distributed as dist

        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def mean(self, t):
        """The average of tensor `t` over the processes (a new tensor)."""
        import torch.distributed as dist

        t = t.clone()
        dist.all_reduce(t)
        return t.div_(self.world_size)

    def gather(self, obj):
        """`obj` (picklable: a random state...) from every process, as a list by rank."""
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def any(self, flag):
        """True in every process if `flag` is true in any (one small all-reduce)."""
        import torch.distributed as dist

        t = torch.tensor([float(bool(flag))], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def noise(self, b, nz, device):
        """This process's b rows of N*b noise vectors drawn from the CPU generator, which is
        in the same state in every process: together, one global batch of noise."""
        z = torch.randn(b * self.world_size, nz)[self.rank * b:(self.rank + 1) * b]
        if device.type == "cuda":  # pinned + non_blocking: no host sync per step
            return z.pin_memory().to(device, non_blocking=True)
        return z.to(device)

    def same_everywhere(self, model):
        """Whether `model`'s parameters are bit-identical in every process."""
        import torch.distributed as dist

        flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, 0)
        ok = torch.tensor([float(torch.equal(flat, ref))], device=flat.device)
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        return bool(ok.item())

    def close(self):
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def init(device="auto", batchnorm="sync"):
    """Join the torchrun job this process belongs to; None outside torchrun (one process).

    device: "auto" (a GPU per process if CUDA is there, else the CPU), "cuda" or "cpu". Under
    torchrun process LOCAL_RANK uses cuda:LOCAL_RANK, with NCCL; the CPU uses gloo."""
    env = from_env()
    if env is None:
        return None
    if batchnorm not in BATCHNORM:
        raise ValueError(f"batchnorm must be one of {BATCHNORM}, got {batchnorm!r}")
    rank, local_rank, world_size = env
    import torch.distributed as dist

    kind = ("cuda" if torch.cuda.is_available() else "cpu") if device in (None, "auto") \
        else str(device)
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"under torchrun, device must be 'auto', 'cuda' or 'cpu' (each "
                         f"process takes cuda:LOCAL_RANK itself), got {device!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but CUDA is not available")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"process LOCAL_RANK={local_rank} has no GPU: this machine has "
                               f"{torch.cuda.device_count()}; start at most that many "
                               f"processes per node (--nproc_per_node)")
        torch.cuda.set_device(local_rank)
        dev, backend = torch.device("cuda", local_rank), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return Parallel(rank, local_rank, world_size, dev, batchnorm)
