"""Checkpoints written by ganlib before it became a package of rooms (commit a3f501a; see
tests/fixtures/README.md) still load, and a run resumed from the middle one ends exactly where
the old code ended it: the same weights, EMA, optimizer state, history and snapshots."""

import shutil
from pathlib import Path

import pytest
import torch

from ganlib import (DCGANDiscriminator, DCGANGenerator, FitConfig, ImageData, MLPDiscriminator,
                    MLPGenerator, fit, load_checkpoint, load_generator, make_adam)
from ganlib.models import (ACGANDCGANDiscriminator, ConditionalDCGANGenerator,
                           ConditionalMLPGenerator, ProjectionMLPDiscriminator)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def images(n, side, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, side, side), generator=g, dtype=torch.uint8)


def labelled(n, side, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, side, side), generator=g, dtype=torch.uint8)
    return ImageData(x, torch.randint(0, k, (n,), generator=g), "labelled noise")


# name -> (G, D, FitConfig options, data), as the fixtures were made
RUNS = {
    "mlp": (lambda: MLPGenerator(nz=4, hidden=(8,), img_shape=(1, 8, 8)),
            lambda: MLPDiscriminator(img_shape=(1, 8, 8), hidden=(8,), dropout=0.3),
            {"ema": 0.9}, lambda: images(32, 8)),
    "dcgan": (lambda: DCGANGenerator(nz=4, ngf=2, nc=1, image_size=32),
              lambda: DCGANDiscriminator(ndf=2, nc=1, image_size=32),
              {"channels_last": True}, lambda: images(32, 32)),
    "cond_mlp": (lambda: ConditionalMLPGenerator(nz=4, n_classes=4, hidden=(8,),
                                                 img_shape=(1, 8, 8), embed_dim=3),
                 lambda: ProjectionMLPDiscriminator(n_classes=4, img_shape=(1, 8, 8),
                                                    hidden=(8, 8)),
                 {"ema": 0.9, "r1_weight": 1.0, "r1_every": 2, "augment": "translation"},
                 lambda: labelled(32, 8)),
    "acgan_dcgan": (lambda: ConditionalDCGANGenerator(nz=4, n_classes=4, ngf=2, nc=1,
                                                      image_size=32, embed_dim=3),
                    lambda: ACGANDCGANDiscriminator(n_classes=4, ndf=2, nc=1, image_size=32),
                    {"ac_weight": 1.0, "lr_decay": "linear", "instance_noise": 0.1},
                    lambda: labelled(32, 32)),
}


def same(a, b):
    """Equal nested checkpoint values: tensors bit for bit, floats exactly."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


@pytest.mark.parametrize("name", RUNS)
def test_an_old_checkpoint_loads_and_samples(name):
    G = load_generator(FIXTURES / f"{name}_end.pt")
    x = G.sample(4, seed=0)
    assert x.shape[0] == 4 and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_resumes_to_the_old_end_bit_for_bit(name, tmp_path):
    make_g, make_d, options, data = RUNS[name]
    path = tmp_path / f"{name}.pt"
    shutil.copy(FIXTURES / f"{name}_mid.pt", path)
    G, D = make_g(), make_d()
    cfg = FitConfig(steps=6, batch_size=8, progress=False, n_fixed=4,
                    checkpoint_path=str(path), seed=0, **options)
    run = fit(G, D, make_adam(G), make_adam(D), data(), cfg, meta={"fixture": name})
    assert run.resumed_from == 3 and run.step == 6
    new, old = load_checkpoint(path), load_checkpoint(FIXTURES / f"{name}_end.pt")
    for key in ("generator", "discriminator", "generator_raw", "opt_g", "opt_d", "rng",
                "history", "snapshots", "fixed_noise", "step"):
        assert (key in new) == (key in old), key
        if key in old:
            assert same(new[key], old[key]), key
