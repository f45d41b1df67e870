"""Image folders and zips in the CelebA layout, decoded once into a uint8 cache, and the
DCGAN chapter's data.

CelebA's aligned images (Liu et al. 2015, "Deep Learning Face Attributes in the Wild") are
202,599 JPEGs of 178x218 pixels in `img_align_celeba/`, or in `img_align_celeba.zip` as
downloaded, read without unzipping (`ganlib.data.celeba` finds them and checks the zip). Decoding
and resizing them costs far more CPU time than a GPU needs to train on them, so
`image_cache` does it once, in parallel, into `<root>/img_align_celeba_<S>.npy` beside the
data (202,599 x 3 x 64 x 64 bytes = 2.5 GB), written atomically; later runs map that file
and `TensorBatches` holds it on the GPU. A small `<root>/img_align_celeba_<S>.json` beside it
holds a fingerprint of the files (each file's name, size and modification time; for a zip,
each member's name, size and CRC), so a cache older than its images is rebuilt, never
trained on.
"""

import contextlib
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .celeba import CELEBA_COUNT, CELEBA_DIR, find_images
from .batches import ImageData
from .mnist import MNIST_FOLDERS, load_mnist
from .faces import att_faces, split_faces
from .pixels import UnsupportedImage, to_8bit
from ..utils import atomic_write


def _decode(path, image_size):
    """One image (a path or an open file) as uint8 (3, S, S): its pixels as 8-bit RGB
    (`ganlib.data.pixels.to_8bit`: 16-bit images scaled, transparency composited onto white),
    the short side resized to S, then center-cropped.

    Raises UndecodableImage saying why for a file that cannot be decoded, or is refused
    (32-bit images), and for None (a zip member whose bytes cannot be read)."""
    from PIL import Image

    if path is None:
        raise UndecodableImage("its bytes cannot be read from the zip (a bad CRC or a "
                               "damaged member)")
    try:
        with Image.open(path) as im:
            im = to_8bit(im, "RGB")
    except UnsupportedImage as e:
        raise UndecodableImage(str(e)) from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UndecodableImage(f"PIL cannot read it as an image ({type(e).__name__})") from None
    w, h = im.size
    scale = image_size / min(w, h)
    im = im.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))),
                   Image.BILINEAR)
    w, h = im.size
    left, top = (w - image_size) // 2, (h - image_size) // 2
    im = im.crop((left, top, left + image_size, top + image_size))
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


class UndecodableImage(ValueError):
    """A file in an image folder or zip that gives no image, and why (skipped, named)."""


class _DecodeSet(torch.utils.data.Dataset):
    def __init__(self, files, image_size, archive=None):
        self.files, self.image_size, self.archive = files, image_size, archive

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        f = self.files[i] if self.archive is None else self.archive.open(self.files[i])
        try:
            return i, _decode(f, self.image_size)
        except UndecodableImage as e:
            return i, str(e)


def _keep(batch):
    return batch  # a list of (index, array, or why it did not decode): no collation needed


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


def _build_cache(files, cache, image_size, workers, progress, archive=None):
    """Decode `files` (members of `archive`, a ZipImages, if given) into `cache` (written
    atomically); return the files that did not decode, each with why: [(file, why)]."""
    from tqdm.auto import tqdm

    _remove_orphans(cache)
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    tmp = cache.with_name(f"{cache.stem}.decoding.tmp{os.getpid()}")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                    shape=(len(files), 3, image_size, image_size))
    loader = torch.utils.data.DataLoader(_DecodeSet(files, image_size, archive), batch_size=64,
                                         num_workers=workers, collate_fn=_keep)
    n, bad = 0, []
    try:
        for batch in tqdm(loader, desc=f"decoding {len(files)} images", disable=not progress):
            for i, arr in batch:
                if isinstance(arr, str):
                    bad.append((files[i], arr))
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
    """All images under `root/subdir` (or in `root/<subdir>.zip`, see `find_images`) as uint8
    `ImageData` (N, 3, S, S), decoded once.

    The first call decodes every image (in `workers` processes) into
    `root/<subdir>_<S>.npy` beside the data, written atomically, and keeps a fingerprint of
    the files in `root/<subdir>_<S>.json`; later calls memory-map the cache. A zip is read in
    place: nothing is extracted. A cache that is cut short, or older than the files it came
    from, is rebuilt, with a note. Files that fail to decode, or whose pixels have no known
    8-bit meaning (32-bit images, `ganlib.data.pixels`), are skipped, the first named with why; a
    CelebA of other than 202,599 images gets a one-line note, and is used."""
    files, archive = find_images(root, subdir)
    root = Path(root)
    if root.is_file():  # the zip itself: the cache goes beside it
        root, where = root.parent, root.name
    else:
        found = archive.path if archive else files[0].parent
        where = f"{root.name}/{found.relative_to(root).as_posix()}"
    if subdir == CELEBA_DIR and len(files) != CELEBA_COUNT:
        _note(f"{where} holds {len(files):,} images, not CelebA's {CELEBA_COUNT:,}: the "
              f"download (or unzip) looks partial; training goes on with these")
    cache = root / f"{subdir}_{image_size}.npy"
    fingerprint = archive.fingerprint if archive else folder_fingerprint(files)
    arr = _read_cache(cache, image_size, fingerprint)
    if arr is None:
        try:
            bad = _build_cache(files, cache, image_size, workers, progress, archive)
        finally:
            if archive:
                archive.close()
        if bad:
            first = f"{archive.path.name}:{bad[0][0]}" if archive else str(bad[0][0])
            warnings.warn(f"skipped {len(bad)} image(s) that could not be decoded, the first "
                          f"being {first!r}: {bad[0][1]}", stacklevel=2)
        if len(bad) == len(files):
            raise ValueError(f"none of the {len(files)} files in {where!r} could be decoded "
                             f"as an image")
        record = {"fingerprint": fingerprint, "images": len(files) - len(bad),
                  "image_size": image_size}
        atomic_write(cache.with_suffix(".json"),
                            lambda f: f.write(json.dumps(record).encode()))
        arr = np.load(cache, mmap_mode="r")
    # the same words whether decoded now or read from the cache: a resumed run compares them
    return ImageData(torch.from_numpy(np.array(arr)), None, f"{len(arr)} images from {where}, "
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


def dcgan_data(dataset, root, image_size, max_images=0, download=False, progress=True,
               flip=False):
    """Images for the DCGAN chapter as uint8 `ImageData` (N, C, S, S).

    dataset="celeba": the folder `root/img_align_celeba` or the zip as downloaded, decoded
    once into a cache file (`image_cache`). dataset="att-faces": the 400 AT&T faces, grey,
    with person labels (`ganlib.data.faces.att_faces`; `flip` adds the 400 mirror images). dataset="mnist" or "fashion-mnist": torchvision's training split under
    `root`, resized to S (stand-ins that need no GPU-sized download). `max_images` > 0 keeps a
    random subset of that many (fixed seed)."""
    if dataset == "celeba":
        data = image_cache(root, image_size=image_size, progress=progress)
    elif dataset == "att-faces":
        data = att_faces(root, image_size=image_size, flip=flip)
    elif dataset in MNIST_FOLDERS:
        d = load_mnist(root, dataset, train=True, download=download)
        data = ImageData(resize_images(d.images, image_size), d.labels,
                         d.source.replace(" images)", f" images, resized to {image_size}x{image_size})"))
    else:
        raise ValueError(f"dataset must be 'celeba', 'att-faces' or one of "
                         f"{sorted(MNIST_FOLDERS)}, got {dataset!r}")
    if max_images and max_images < len(data):
        keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:max_images]
        data = ImageData(data.images[keep], None if data.labels is None else data.labels[keep],
                         f"a random {max_images:,} of {data.source}")
    return data


# The CPU's cap on steps: 1,600 steps in bf16 and channels-last (ganlib.utils.fast_defaults)
# take less time than 1,200 took in float32 (BENCHMARKS.md, "Spending the time saved").
CPU_STEPS = 1_600


# What "pick for me" (0 or -1) means for chapter 3's parameters and `python -m ganlib.train_dcgan`:
# big settings on a GPU; small ones on a CPU, which trains the 400 AT&T faces at 64x64 in
# minutes but CelebA only at 32x32 on a subset.
def dcgan_defaults(dataset, gpu, image_size=0, ngf=0, ndf=0, max_images=-1, epochs=0,
                   max_steps=-1):
    """The chapter's sizes with its 0 / -1 parameters replaced by the defaults they stand for."""
    faces = dataset == "att-faces"
    return {"image_size": image_size or (64 if gpu or faces else 32),
            "ngf": ngf or (64 if gpu else 32), "ndf": ndf or (64 if gpu else 32),
            "max_images": max_images if max_images >= 0 else (0 if gpu or faces else 20_000),
            "epochs": epochs or (300 if faces else 5 if gpu else 10),
            "max_steps": max_steps if max_steps >= 0 else (0 if gpu else CPU_STEPS)}


class Split(NamedTuple):
    """What `dcgan_split` returns."""
    train: ImageData  # what the GAN trains on
    heldout: ImageData  # never trained on: other people (faces) or other images
    heldout_photos: ImageData | None  # faces: unseen photos of the training people; else None
    originals: ImageData  # train without mirror images (faces); train itself for other data


def dcgan_split(data, dataset, heldout_people=4, heldout_photos=1):
    """A `Split` of chapter 3's data. The AT&T faces by `ganlib.data.faces.split_faces`: the last
    `heldout_people` people never trained on, and the last `heldout_photos` photos of each of
    the others. Other data: the last min(1000, N/10) images held out, heldout_photos None.
    The held-out images are the reference of chapter 3's checks (D's verdict on unseen reals;
    the generator's memorisation); the training originals that of its KID and FID."""
    if dataset == "att-faces":
        return Split(*split_faces(data, heldout_people, heldout_photos))
    k = min(1000, len(data) // 10)
    part = lambda sl, text: ImageData(data.images[sl], None if data.labels is None  # noqa: E731
                                      else data.labels[sl], text)
    train = part(slice(0, len(data) - k), data.source)
    return Split(train, part(slice(len(data) - k, None), f"the last {k} of {data.source}"), None,
                 train)
