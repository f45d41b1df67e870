"""What D sees: its real and fake inputs transformed alike, by one random family T.

DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, arXiv:2006.10738): with few training images D
memorises them. Augmenting the reals alone would teach G to draw augmented images; applying
T to both, D(T(x)) and D(T(G(z))) (each image its own draw), and back-propagating G's loss
through T, leaves the target alone. Every transformation here is differentiable in x (nothing in place), and
draws its random parameters from torch's global generator (which `fit` checkpoints) unless a
`generator` is given. Instance noise (Sønderby et al. 2016, arXiv:1610.04490; Arjovsky &
Bottou 2017, arXiv:1701.04862) is one more such T: x + sigma N(0, I), sigma annealed to 0,
so that the two distributions overlap early on.
"""

import torch
import torch.nn.functional as F

POLICIES = ("brightness", "saturation", "contrast", "color", "translation", "cutout")
COLOR = ("brightness", "saturation", "contrast")
TRANSLATION_RATIO = 1 / 8  # the largest shift, as a fraction of the image's side
CUTOUT_RATIO = 1 / 2  # the side of the blanked square, as a fraction of the image's side


def parse_policy(policy):
    """The transformations named in `policy` ("translation,cutout,color"), in order, with
    "color" expanded; () for "". Raises ValueError naming the allowed ones otherwise."""
    names = []
    for name in (s.strip() for s in (policy or "").split(",")):
        if not name:
            continue
        if name not in POLICIES:
            raise ValueError(f"unknown augmentation {name!r} in policy {policy!r}; allowed: "
                             f"{', '.join(POLICIES)} (comma-separated, applied in order)")
        names += COLOR if name == "color" else [name]
    return tuple(names)


def _uniform(x, n, generator, dtype=None):
    """(n,) samples of U(0, 1) on x's device: from `generator` if given, else torch's own."""
    if generator is None:
        return torch.rand(n, device=x.device, dtype=dtype or x.dtype)
    u = torch.rand(n, generator=generator, device=generator.device)
    return u.to(x.device, dtype or x.dtype, non_blocking=True)


def _randint(x, low, high, n, generator):
    """(n,) integers in [low, high) on x's device."""
    if generator is None:
        return torch.randint(low, high, (n,), device=x.device)
    k = torch.randint(low, high, (n,), generator=generator, device=generator.device)
    return k.to(x.device, non_blocking=True)


def brightness(x, generator=None):
    """Add b ~ U(-0.5, 0.5) to every pixel of each image."""
    b = _uniform(x, len(x), generator) - 0.5
    return x + b.view(-1, 1, 1, 1)


def saturation(x, generator=None):
    """Scale each pixel's deviation from its channel mean by s ~ U(0, 2); RGB only (with one
    channel there is nothing to scale)."""
    if x.shape[1] != 3:
        return x
    s = 2 * _uniform(x, len(x), generator)
    mean = x.mean(1, keepdim=True)  # (B, 1, H, W): each pixel's grey level
    return (x - mean) * s.view(-1, 1, 1, 1) + mean


def contrast(x, generator=None):
    """Scale each pixel's deviation from the image's mean by c ~ U(0.5, 1.5)."""
    c = _uniform(x, len(x), generator) + 0.5
    mean = x.mean((1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * c.view(-1, 1, 1, 1) + mean


def translation(x, generator=None, fill=0.0, ratio=TRANSLATION_RATIO):
    """Shift each image by (dy, dx) whole pixels, |dy| <= round(H * ratio), likewise dx:
    out[i, j] = x[i - dy, j - dx], `fill` where that falls outside the image."""
    B, _, H, W = x.shape
    sy, sx = round(H * ratio), round(W * ratio)
    dy = _randint(x, -sy, sy + 1, B, generator).view(B, 1, 1)
    dx = _randint(x, -sx, sx + 1, B, generator).view(B, 1, 1)
    padded = F.pad(x, (sx, sx, sy, sy), value=fill)  # (B, C, H + 2sy, W + 2sx)
    rows = torch.arange(H, device=x.device).view(1, H, 1) - dy + sy  # (B, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W) - dx + sx  # (B, 1, W)
    batch = torch.arange(B, device=x.device).view(B, 1, 1)
    # advanced indexing gathers (B, H, W, C); its backward scatters the gradient back to x
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x, generator=None, fill=0.0, ratio=CUTOUT_RATIO):
    """Set a round(H * ratio) x round(W * ratio) square to `fill`, centred on a uniformly
    random pixel of each image, so near a border part of it falls outside (DeVries & Taylor
    2017, arXiv:1708.04552)."""
    B, _, H, W = x.shape
    h, w = round(H * ratio), round(W * ratio)
    top = _randint(x, 0, H, B, generator).view(B, 1) - h // 2
    left = _randint(x, 0, W, B, generator).view(B, 1) - w // 2
    r, c = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    in_rows = (r >= top) & (r < top + h)  # (B, H)
    in_cols = (c >= left) & (c < left + w)  # (B, W)
    cut = (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)  # (B, 1, H, W)
    return torch.where(cut, torch.as_tensor(fill, dtype=x.dtype, device=x.device), x)


_OPS = {"brightness": brightness, "saturation": saturation, "contrast": contrast,
        "translation": translation, "cutout": cutout}


def diff_augment(x, policy="translation,cutout,color", generator=None, fill=0.0):
    """x (B, C, H, W) in [-1, 1] -> the same images, each transformed by the transformations
    in `policy` in order ("color" is brightness, saturation, contrast), each image with its own
    random parameters. Differentiable in x; dtype and channels_last layout are kept; an empty
    policy returns x. `fill` is what translation and cutout leave empty: 0, mid-grey, the
    middle of the range, what D's convolutions pad with and what Zhao et al.'s code fills
    with (-1 would be black, invisible on MNIST's background)."""
    names = parse_policy(policy)
    if not names:
        return x
    if x.dim() != 4:
        raise ValueError(f"diff_augment needs images (B, C, H, W), got shape {tuple(x.shape)}")
    out = x
    for name in names:
        if name in ("translation", "cutout"):
            out = _OPS[name](out, generator, fill)
        else:
            out = _OPS[name](out, generator)
    if x.is_contiguous(memory_format=torch.channels_last):
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def make_augment(policy, generator=None, fill=0.0):
    """The `augment` callable x -> diff_augment(x, policy, ...) for the training step, or
    None for an empty policy (no augmentation: the step skips it). Checks `policy` now, so
    a misspelt name fails before any training rather than at the first step."""
    if not parse_policy(policy):
        return None

    def augment(x):
        return diff_augment(x, policy, generator, fill)

    return augment


def with_instance_noise(augment, std):
    """The callable x -> augment(x) + std * N(0, I) (fresh noise per call, from torch's global
    generator), or `augment` itself (None: no augmentation) when std is 0."""
    if not std:
        return augment

    def noisy(x):
        x = x if augment is None else augment(x)
        return x + std * torch.randn_like(x)

    return noisy
