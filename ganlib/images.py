"""Image folders in the CelebA layout, decoded once into a uint8 cache, and the DCGAN
chapter's data.

CelebA's aligned images (Liu et al. 2015, "Deep Learning Face Attributes in the Wild") are
202,599 JPEGs of 178x218 pixels in `img_align_celeba/`. Decoding and resizing them costs far
more CPU time than a GPU needs to train on them, so `image_cache` does it once, in parallel,
into `<root>/img_align_celeba_<S>.npy` beside the data (202,599 x 3 x 64 x 64 bytes = 2.5 GB),
written atomically; later runs map that file and `TensorBatches` holds it on the GPU. A small
`<root>/img_align_celeba_<S>.json` beside it holds a fingerprint of the folder (each file's
name, size and modification time), so a cache older than its images is rebuilt, never
trained on.
"""

import contextlib
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .data import MNIST_FOLDERS, ImageData, load_mnist
from .utils import atomic_write

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CELEBA_DIR = "img_align_celeba"
CELEBA_HELP = (
    "Download CelebA's aligned images (img_align_celeba.zip, from the official site "
    "mmlab.ie.cuhk.edu.hk/projects/CelebA.html, its Google Drive, or a Kaggle mirror such as "
    "'jessicali9530/celeba-dataset') and unzip it so that the images lie at "
    "<data_root>/img_align_celeba/000001.jpg, 000002.jpg, ...")


def write_celeba_layout(root, n=12, size=(178, 218), seed=0):
    """Write `n` synthetic JPEGs of CelebA's size, named like its files (000001.jpg ...), under
    `root/img_align_celeba`. For tests and timing only: a smooth colour ramp plus noise, which
    decodes like a photo and differs per image. Returns `root`."""
    from PIL import Image

    folder = Path(root) / CELEBA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(1, n + 1):
        base = rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, h)[:, None, None] * rng.integers(0, 128, 3)
        img = np.clip(base + ramp + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:06d}.jpg", quality=90)
    return root


def list_images(root, subdir=CELEBA_DIR):
    """Sorted image paths in `root/subdir`, with errors that say how to fix the folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data_root {str(root)!r} does not exist. {CELEBA_HELP}")
    folder = root / subdir
    if not folder.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir()):
        raise FileNotFoundError(
            f"data_root {str(root)!r} holds the images themselves; it should hold the folder "
            f"{subdir}/ with the images in it: set data_root to {str(root.parent)!r}, one "
            f"level up, if the folder is named {subdir}")
    if (folder / subdir).is_dir():  # Kaggle's zip unpacks to img_align_celeba/img_align_celeba/
        raise FileNotFoundError(
            f"the images are one folder further down, in {str(folder / subdir)!r} (the layout "
            f"of Kaggle's download): set data_root to {str(folder)!r}, one level down")
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


def folder_fingerprint(files):
    """A hash of the names, sizes and modification times of `files`: cheap (no pixel is read),
    and it changes when an image is added, removed, replaced or edited."""
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _note(text):
    # on stderr, like the MNIST fallback: seen in Jupyter (red), without warnings' file paths
    print(f"note: {text}", file=sys.stderr)


def _read_cache(cache, image_size, fingerprint):
    """The cache file, memory-mapped, if it is readable and was built from the folder as it is
    now; else None, with a note saying why it is rebuilt."""
    if not cache.exists():
        return None
    try:
        arr = np.load(cache, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:  # a build killed mid-copy, a full disk...
        return _note(f"rebuilding the cache {cache.name}: it is unreadable, probably cut short "
                     f"({e})")
    try:
        record = json.loads(cache.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return _note(f"rebuilding the cache {cache.name}: it has no fingerprint of the folder "
                     f"it was built from (an older ganlib built it, or the build was stopped)")
    if record.get("fingerprint") != fingerprint:
        return _note(f"rebuilding the cache {cache.name}: the image files changed since it "
                     f"was built (names, sizes or modification times)")
    if arr.shape != (record.get("images"), 3, image_size, image_size):
        return _note(f"rebuilding the cache {cache.name}: it holds {arr.shape}, not "
                     f"{record.get('images')} images of 3x{image_size}x{image_size}")
    return arr


def _remove_orphans(cache):
    """Delete temporary files of `cache` left by builds that were killed (their process is
    gone); a build running elsewhere keeps its own."""
    for tmp in cache.parent.glob(f"{cache.stem}.*.tmp*"):
        pid = tmp.name.rsplit(".tmp", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):  # Windows: still open in a live process
                tmp.unlink()


def _alive(pid):
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return False  # no cheap check: try to delete, which fails if the file is in use
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build_cache(files, cache, image_size, workers, progress):
    """Decode `files` into `cache` (written atomically); return the files that did not decode."""
    from tqdm.auto import tqdm

    _remove_orphans(cache)
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    tmp = cache.with_name(f"{cache.stem}.decoding.tmp{os.getpid()}")
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
        if bad and n:  # shrink the file to the images that decoded
            arr = np.load(tmp, mmap_mode="r")[:n]
            atomic_write(cache, lambda f: np.save(f, arr))
            del arr
        elif n:
            os.replace(tmp, cache)
    finally:
        tmp.unlink(missing_ok=True)
    return bad


def image_cache(root, image_size=64, subdir=CELEBA_DIR, workers=None, progress=True):
    """All images under `root/subdir` as uint8 `ImageData` (N, 3, S, S), decoded once.

    The first call decodes every image (in `workers` processes) into
    `root/<subdir>_<S>.npy` beside the data, written atomically, and keeps a fingerprint of
    the folder's files in `root/<subdir>_<S>.json`; later calls memory-map the cache. A cache
    that is cut short, or older than the files it came from, is rebuilt, with a note. Files
    that fail to decode are reported and skipped."""
    files = list_images(root, subdir)
    cache = Path(root) / f"{subdir}_{image_size}.npy"
    fingerprint = folder_fingerprint(files)
    arr = _read_cache(cache, image_size, fingerprint)
    if arr is None:
        bad = _build_cache(files, cache, image_size, workers, progress)
        if bad:
            warnings.warn(f"skipped {len(bad)} image(s) that could not be decoded, the first "
                          f"being {str(bad[0])!r}", stacklevel=2)
        if len(bad) == len(files):
            raise ValueError(f"none of the {len(files)} files in {str(Path(root) / subdir)!r} "
                             f"could be decoded as an image")
        record = {"fingerprint": fingerprint, "images": len(files) - len(bad),
                  "image_size": image_size}
        atomic_write(cache.with_suffix(".json"),
                            lambda f: f.write(json.dumps(record).encode()))
        arr = np.load(cache, mmap_mode="r")
    # the same words whether decoded now or read from the cache: a resumed run compares them
    return ImageData(torch.from_numpy(np.array(arr)), None,
                     f"{len(arr)} images from {Path(root).name}/{subdir}, "
                     f"{image_size}x{image_size}, cached in {cache.name}")


def resize_images(images, size):
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), bilinear with antialiasing, in chunks."""
    import torch.nn.functional as F

    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.uint8)
    for k in range(0, len(images), 4096):
        x = images[k:k + 4096].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[k:k + 4096] = y.round().clamp(0, 255).to(torch.uint8)
    return out


def dcgan_data(dataset, root, image_size, max_images=0, download=False, progress=True):
    """Images for the DCGAN chapter as uint8 `ImageData` (N, C, S, S).

    dataset="celeba": the folder `root/img_align_celeba`, decoded once into a cache file
    (`image_cache`). dataset="mnist" or "fashion-mnist": torchvision's training split under
    `root`, resized to S (stand-ins that need no GPU-sized download). `max_images` > 0 keeps a
    random subset of that many (fixed seed)."""
    if dataset == "celeba":
        data = image_cache(root, image_size=image_size, progress=progress)
    elif dataset in MNIST_FOLDERS:
        d = load_mnist(root, dataset, train=True, download=download)
        data = ImageData(resize_images(d.images, image_size), d.labels,
                         d.source.replace(" images)", f" images, resized to {image_size}x{image_size})"))
    else:
        raise ValueError(f"dataset must be 'celeba' or one of {sorted(MNIST_FOLDERS)}, "
                         f"got {dataset!r}")
    if max_images and max_images < len(data):
        keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:max_images]
        data = ImageData(data.images[keep], None if data.labels is None else data.labels[keep],
                         f"a random {max_images:,} of {data.source}")
    return data


