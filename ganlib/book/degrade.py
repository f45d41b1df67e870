"""Real images made worse in controlled ways: what a metric of generated images should notice.

Chapter "Measuring a GAN" scores each of these against the same real reference, to see which
measure moves for which failure. Each takes uint8 images (N, C, H, W) and returns uint8 images;
the random ones take a seed and never touch torch's global random state.

* `blur(images, sigma)`: a Gaussian blur (torchvision's), the samples of an undertrained or
  averaging generator: quality lost, variety kept.
* `add_noise(images, std, seed)`: Gaussian pixel noise, std in units of the full 0..255 range.
* `keep_classes(data, classes, n, seed)`: n images of some classes only: mode dropping.
* `repeat_few(images, k, n)`: k images, each repeated: memorisation, or a collapsed generator
  with k modes (Arora & Zhang 2017, "Do GANs learn the distribution?", arXiv:1706.08224, count
  such repeats with the birthday paradox).
* `shuffle_pixels(images, seed)`: each image's own pixels in a random order: junk that keeps
  every image's brightness histogram.
* `mix_in(images, junk, fraction, seed)`: a fraction of the images replaced by junk: a
  generator that is good most of the time.
"""

import math

import torch


def _check(images):
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} of shape "
                         f"{tuple(images.shape)}")


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def blur(images, sigma):
    """A Gaussian blur of standard deviation `sigma` pixels (kernel 2 * ceil(3 sigma) + 1 wide,
    reflecting at the borders), rounded back to uint8."""
    from torchvision.transforms.functional import gaussian_blur

    _check(images)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma!r}")
    size = 2 * math.ceil(3 * sigma) + 1
    out = gaussian_blur(images.float(), kernel_size=size, sigma=float(sigma))
    return out.round().clamp(0, 255).to(torch.uint8)


def add_noise(images, std, seed=0):
    """Images plus Gaussian noise of `std` times 255, clipped to 0..255."""
    _check(images)
    if not std >= 0:
        raise ValueError(f"std must be >= 0 (a fraction of the 0..255 range), got {std!r}")
    noise = torch.randn(images.shape, generator=_gen(seed)) * (std * 255)
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def keep_classes(data, classes, n, seed=0):
    """n images drawn at random without replacement from the images of `data` (an ImageData
    with labels) whose label is in `classes`. ValueError if there are fewer than n."""
    if data.labels is None:
        raise ValueError("keep_classes needs labelled data")
    pool = torch.isin(data.labels, torch.as_tensor(list(classes))).nonzero().flatten()
    if len(pool) < n:
        raise ValueError(f"classes {list(classes)} have {len(pool)} images, fewer than n={n}")
    pick = pool[torch.randperm(len(pool), generator=_gen(seed))[:n]]
    return data.images[pick.sort().values]


def repeat_few(images, k, n):
    """The first k of `images`, repeated in turn to make n images (each k-th is the same)."""
    _check(images)
    if not 1 <= k <= min(n, len(images)):
        raise ValueError(f"k must be 1..{min(n, len(images))} (at most n and len(images)), "
                         f"got {k}")
    return images[:k].repeat(math.ceil(n / k), 1, 1, 1)[:n]


def shuffle_pixels(images, seed=0):
    """Every image with its own pixel positions permuted at random (channels move together)."""
    _check(images)
    n, c, h, w = images.shape
    gen = _gen(seed)
    order = torch.stack([torch.randperm(h * w, generator=gen) for _ in range(n)])  # (N, HW)
    flat = images.flatten(2)  # (N, C, HW)
    return flat.gather(2, order[:, None].expand(n, c, h * w)).view(n, c, h, w)


def mix_in(images, junk, fraction, seed=0):
    """`images` with round(fraction * N) of them, at random positions, replaced by the images
    of `junk` at the same positions (same shape as `images`)."""
    _check(images)
    _check(junk)
    if junk.shape != images.shape:
        raise ValueError(f"junk must have the images' shape {tuple(images.shape)}, got "
                         f"{tuple(junk.shape)}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    swap = torch.randperm(len(images), generator=_gen(seed))[:round(fraction * len(images))]
    out = images.clone()
    out[swap] = junk[swap]
    return out
