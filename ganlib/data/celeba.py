"""Where CelebA's images are, and whether the download is sound, before anything decodes.

CelebA's aligned images (Liu et al. 2015, "Deep Learning Face Attributes in the Wild"),
202,599 JPEGs, are found in one of these layouts under data_root (`find_images`):

* `img_align_celeba/000001.jpg ...`: the official zip unpacked;
* `celeba/img_align_celeba/...`: torchvision's `CelebA` dataset folder;
* `img_align_celeba.zip` (or Kaggle's `celeba-dataset.zip` or `archive.zip`, or any zip that
  holds `img_align_celeba/`), in data_root or data_root/celeba, or given as data_root itself,
  left as downloaded: `ZipImages` reads the members in place. Unzipping writes 202,599 small
  files, slowly on laptops and network disks, and an unzip cut short leaves a folder that
  looks complete. The zip may be the official one (img_align_celeba/000001.jpg ...) or
  Kaggle's (img_align_celeba/img_align_celeba/... beside CSV files): images at any depth.

Downloads fail in known ways, each caught with what to do about it:

* Google Drive, where the official site points, answers a busy file with a web page (its
  download quota, or "cannot scan this file for viruses"), which gets saved under the zip's
  name: the first bytes are `<!DOCTYPE html` or `<html`, not a zip's `PK`.
* A download cut short lacks the zip's central directory, which zip readers look for at the
  end of the file: `zipfile.BadZipFile`.
* A partial set of images decodes fine: `CELEBA_COUNT` is there to compare with.
* Kaggle's zip unpacked gives img_align_celeba/img_align_celeba/: `list_images` says so.

Which entries are images is one rule, `entry_kind`, for the folder and the zip alike: macOS's
._ files and __MACOSX/, hidden files and Windows' Thumbs.db are never taken for images.
"""

import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .batches import DataFileError

CELEBA_COUNT = 202_599  # aligned images in the official release
# official/Drive's, Kaggle's command-line tool's, Kaggle's web page's
CELEBA_ZIPS = ("img_align_celeba.zip", "celeba-dataset.zip", "archive.zip")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
LITTER = ("thumbs.db", "desktop.ini")  # what Windows leaves in picture folders
CELEBA_DIR = "img_align_celeba"
CELEBA_HELP = (
    "Download CelebA's aligned images (img_align_celeba.zip, from the official site "
    "mmlab.ie.cuhk.edu.hk/projects/CelebA.html, its Google Drive, or Kaggle: `kaggle datasets "
    "download -d jessicali9530/celeba-dataset`) and put the zip as it is in <data_root>/ "
    "(ganlib reads it without unzipping), or unzip it so that the images lie at "
    "<data_root>/img_align_celeba/000001.jpg, 000002.jpg, ...")


def _folder(root, subdir):
    """`root/subdir`, or torchvision's layout `root/celeba/subdir` if only that exists."""
    return next((f for f in (root / subdir, root / "celeba" / subdir) if f.is_dir()),
                root / subdir)


def find_images(root, subdir=CELEBA_DIR):
    """(names, zip): the folder's image paths and None, or, where there is no folder but a
    zip, its image members and a `ZipImages` that reads them in place. The zip is `root`
    itself when `root` is a .zip file; else `<subdir>.zip` (for CelebA also the names
    Kaggle's downloads get, `CELEBA_ZIPS`) in `root` or `root/celeba`; else the one zip there
    that holds a `<subdir>/` folder, whatever its name. The zip is checked before use."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".zip":  # the zip given as data_root
        archive = ZipImages(root)
        return archive.names, archive
    if root.is_dir() and not _folder(root, subdir).is_dir():
        names = (f"{subdir}.zip",) + (CELEBA_ZIPS[1:] if subdir == CELEBA_DIR else ())
        places = [where for where in (root, root / "celeba") if where.is_dir()]
        known = [where / name for where in places for name in names]
        others = [z for where in places for z in sorted(where.glob("*.zip"))
                  if z not in known and _holds_folder(z, subdir)]
        for z in [z for z in known if z.is_file()] + others[:1]:
            archive = ZipImages(z)
            return archive.names, archive
    return list_images(root, subdir), None


def _holds_folder(path, subdir):
    """Whether the zip at `path` has entries under a `subdir/` folder (at any depth)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(f"/{subdir}/" in f"/{n}" for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def entry_kind(name):
    """What an entry of an image folder or zip is, from its path alone ('/'-separated,
    relative to the folder or the zip; a directory ends in '/'): the one rule both readers
    apply, so that a folder and the same files zipped give the same images.

    "litter" (never read, never reported): hidden entries, or entries in hidden folders
    (a part starting with '.': .DS_Store, macOS's ._000001.jpg resource forks,
    .ipynb_checkpoints/), anything under __MACOSX/, Thumbs.db and desktop.ini;
    "folder": any other directory; "image": a file ending in one of IMAGE_EXTENSIONS (any
    case); "other": any other file. The folder reader refuses "folder" and "other" entries
    (a folder of images holds images); the zip reader passes over them (Kaggle's zip holds
    CSV files beside the images, in folders)."""
    parts = name.rstrip("/").split("/")
    if (parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)
            or parts[-1].lower() in LITTER):
        return "litter"
    if name.endswith("/"):
        return "folder"
    return "image" if parts[-1].lower().endswith(IMAGE_EXTENSIONS) else "other"


def _entry_kind(path):
    return entry_kind(path.name + ("/" if path.is_dir() else ""))


def list_images(root, subdir=CELEBA_DIR):
    """Sorted image paths in `root/subdir` (or `root/celeba/subdir`, torchvision's layout),
    with errors that say how to fix the folder."""
    root = Path(root)
    if root.is_file():
        raise FileNotFoundError(
            f"data_root {str(root)!r} is a file, not a folder, and not a zip: give the folder "
            f"that holds {subdir}/ (or its zip), or the zip itself. {CELEBA_HELP}")
    if not root.is_dir():
        raise FileNotFoundError(f"data_root {str(root)!r} does not exist. {CELEBA_HELP}")
    folder = _folder(root, subdir)
    if not folder.is_dir() and any(_entry_kind(p) == "image" for p in root.iterdir()):
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
    files = sorted(p for p in folder.iterdir() if _entry_kind(p) != "litter")
    bad = [p for p in files if _entry_kind(p) != "image" or not p.is_file()]
    if bad:
        raise ValueError(
            f"{len(bad)} of {len(files)} entries in {str(folder)!r} are not images "
            f"({', '.join(IMAGE_EXTENSIONS)}); the first is {str(bad[0])!r}. Move them out.")
    if not files:
        raise ValueError(f"found 0 images in {str(folder)!r}. {CELEBA_HELP}")
    return files

GET_AGAIN = (
    "Delete it, then get the zip again by one of these routes: the official site "
    "(mmlab.ie.cuhk.edu.hk/projects/CelebA.html, 'Align&Cropped Images', "
    "img_align_celeba.zip); Kaggle's command-line tool, "
    "`kaggle datasets download -d jessicali9530/celeba-dataset` (it writes "
    "celeba-dataset.zip, which ganlib reads as it is); or Google Drive again later, once its "
    "daily download quota has reset.")


def check_zip(path):
    """Raise DataFileError, saying what happened and what to do, unless `path` opens as a
    zip. Reads the first bytes and the central directory only, never the 1.4 GB of images."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(512)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        raise DataFileError(
            f"{str(path)!r} ({size:,} bytes) is a web page, not a zip: the download was "
            f"probably refused by Google Drive's quota (or its 'cannot scan for viruses' "
            f"page was saved instead of the file). {GET_AGAIN}")
    try:
        with zipfile.ZipFile(path):
            pass
    except zipfile.BadZipFile:
        what = ("it starts like a zip but has no table of contents at its end: it looks "
                "truncated, a download or copy cut short" if head[:2] == b"PK" else
                f"it is not a zip at all (it starts with {head[:16]!r})")
        raise DataFileError(f"{str(path)!r} ({size:,} bytes) cannot be read: {what}. "
                            f"{GET_AGAIN}") from None


class ZipImages:
    """The images inside a zip, by member name, read without extracting anything.

    Picklable for DataLoader workers: each process opens its own handle on first use (a
    handle shared across a fork would share one file position, and reads would interleave)."""

    def __init__(self, path):
        self.path = Path(path)
        check_zip(self.path)
        with zipfile.ZipFile(self.path) as z:
            infos = [i for i in z.infolist() if entry_kind(i.filename) == "image"]
        if not infos:
            raise DataFileError(f"{str(self.path)!r} holds no images "
                                f"({', '.join(IMAGE_EXTENSIONS)}). {GET_AGAIN}")
        infos.sort(key=lambda i: i.filename)
        self.names = [i.filename for i in infos]
        # a member's name, size and CRC-32 say whether its bytes changed, for no read
        h = hashlib.sha256(f"zip {self.path.name}\n".encode())
        for i in infos:
            h.update(f"{i.filename}\t{i.file_size}\t{i.CRC}\n".encode())
        self.fingerprint = h.hexdigest()
        self._zip = self._pid = None

    def __len__(self):
        return len(self.names)

    def open(self, name):
        """Member `name` as an in-memory file, or None if its bytes cannot be read (a bad
        CRC, a damaged deflate stream): reported like an image that does not decode."""
        if self._pid != os.getpid():  # first use in this process
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        try:
            return io.BytesIO(self._zip.read(name))
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
            return None

    def close(self):
        if self._zip is not None and self._pid == os.getpid():
            self._zip.close()
        self._zip = self._pid = None

    def __getstate__(self):
        return dict(self.__dict__, _zip=None, _pid=None)


def fake_jpegs(n=12, size=(178, 218), seed=0):
    """`n` synthetic (name, JPEG bytes) named like CelebA's files (000001.jpg ...), of its
    size: a smooth colour ramp plus noise, which decodes like a photo and differs per image.
    For tests and timing only."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(1, n + 1):
        base = rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, h)[:, None, None] * rng.integers(0, 128, 3)
        img = np.clip(base + ramp + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        yield f"{i:06d}.jpg", buf.getvalue()


def write_celeba_zip(path, n=12, size=(178, 218), seed=0, folder="img_align_celeba/"):
    """Write `n` synthetic JPEGs (`fake_jpegs`) into a zip at `path`, under `folder` as in
    the official img_align_celeba.zip (Kaggle's: "img_align_celeba/img_align_celeba/").
    Returns `path`."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in fake_jpegs(n, size, seed):
            z.writestr(folder + name, data)
    return path


def write_celeba_layout(root, n=12, size=(178, 218), seed=0):
    """Write `n` synthetic JPEGs of CelebA's size, named like its files (000001.jpg ...), under
    `root/img_align_celeba` (`fake_jpegs`; `write_celeba_zip` for the zip). For
    tests and timing only. Returns `root`."""
    folder = Path(root) / CELEBA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in fake_jpegs(n, size, seed):
        (folder / name).write_bytes(data)
    return root
