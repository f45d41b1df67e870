"""StackedMNIST: three digits in the three colour channels of one image, 10^3 = 1,000 modes
(Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled GANs", arXiv:1611.02163, sec. 3.3;
Srivastava et al. 2017, "VEEGAN", arXiv:1705.07761). A generator's coverage is read by a
digit classifier on each channel (`ganlib.evaluate.stacked_modes`), so it needs no new judge.
"""

import torch

from .batches import ImageData

N_MODES = 1000  # three digits, ten classes each


def stacked_mnist(digits, n, seed=0):
    """`n` StackedMNIST images from `digits` (an `ImageData` of single-channel digits with
    labels 0-9): images (n, 3, H, W) uint8, channel k a digit drawn uniformly at random (with
    replacement, seeded), labels (n,) = 100 * red + 10 * green + blue, in 0..999.
    Raises ValueError, saying what to pass, for digits without labels or with more than one
    channel, and for n < 1."""
    if digits.labels is None:
        raise ValueError("StackedMNIST needs the digits' labels to name each image's mode: "
                         "pass an ImageData with labels (e.g. from ganlib.mnist_splits)")
    if digits.images.shape[1] != 1:
        raise ValueError(f"StackedMNIST stacks single-channel digits, got "
                         f"{digits.images.shape[1]} channels: pass grey digits")
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n (images to build) must be an integer >= 1, got {n!r}")
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(digits), (n, 3), generator=gen)  # three digits an image
    images = digits.images[pick.flatten(), 0].view(n, 3, *digits.images.shape[-2:])
    labels = (digits.labels[pick] * torch.tensor([100, 10, 1])).sum(1)
    return ImageData(images, labels, f"StackedMNIST: {n} images, 3 of {digits.source} each")
