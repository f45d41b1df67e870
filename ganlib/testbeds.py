"""Chapter 5's testbeds: what `ganlib.compare` trains recipes on, and how it scores them.

* `toy_testbed("ring" | "grid")`: the ring of 8 and the 5 x 5 grid of 25 Gaussians of
  Metz et al. 2017 (Unrolled GANs, arXiv:1611.02163) and Srivastava et al. 2017 (VEEGAN,
  arXiv:1705.07761), chapter 1's toy networks. Metrics: modes covered and the share of
  high-quality samples (`ganlib.metrics.toy_mode_coverage`); the score that picks the best
  snapshot is 1 - (modes covered / modes) * high-quality share, 0 for a perfect generator.
* `mnist_testbed(train, test, clf)`: chapter 2's fully connected pair at the size of its
  `classic-128` preset. Metrics: the Fréchet distance on the classifier's features to held-out
  digits (the score), the classes hit and the KL divergence of the class histogram to
  uniform (chapter 2's measures); its snapshots also keep D's verdicts on training and
  held-out digits (`ganlib.snapshots.with_heldout_accuracy`), the overfitting signal.

Evaluation draws its noise from fixed seeds, so two generators are compared on the same z.
"""

import torch

from .classifier import predict
from .compare import Testbed
from .data import grid2d, grid_centres, ring2d, ring_centres
from .metrics import class_coverage, frechet_distance, toy_mode_coverage
from .models import MLPDiscriminator, MLPGenerator, ToyDiscriminator, ToyGenerator
from .snapshots import default_snapshot, with_heldout_accuracy

TOY_STD = 0.03  # the mixtures' standard deviation (ring2d's and grid2d's default)


def toy_testbed(kind="ring", n=20_000, device="cpu", batch_size=256, lr=1e-3, n_eval=2000,
                hidden=128, seed=0):
    """The 2-D mixture testbed `kind` ("ring": 8 modes, "grid": 25), n training points; its
    centres are `ganlib.ring_centres()` or `ganlib.grid_centres()`."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "ring":
        data, centres = ring2d(n, generator=gen), ring_centres()
    elif kind == "grid":
        data, centres = grid2d(n, generator=gen), grid_centres()
    else:
        raise ValueError(f"kind must be 'ring' or 'grid', got {kind!r}")

    def evaluate(G, n=n_eval):
        cov = toy_mode_coverage(G.sample(n, seed=10_000).cpu(), centres, std=TOY_STD)
        return {"modes": cov["covered"], "high_quality": cov["high_quality"],
                "score": 1 - cov["covered"] / cov["modes"] * cov["high_quality"],
                "counts": cov["counts"]}

    return Testbed(
        name=kind, data=data.to(device),
        make_g=lambda seed: ToyGenerator(nz=2, dim=2, hidden=hidden).to(device),
        make_d=lambda seed, sn: ToyDiscriminator(dim=2, hidden=hidden,
                                                 spectral_norm=sn).to(device),
        score=lambda G: evaluate(G, n=1000)["score"], evaluate=evaluate,
        batch_size=batch_size, lr=lr, n_fixed=1000)


def mnist_testbed(train, test, clf, device="cpu", n_eval=1000, batch_size=64, lr=2e-4,
                  nz=100, g_hidden=(128, 256, 512), d_hidden=(512, 256)):
    """The MNIST testbed: `train` and `test` are ImageData with labels, `clf` a trained
    `ganlib.classifier.Classifier` (its features score the samples)."""
    img_shape = tuple(train.images.shape[1:])
    n_ref = min(n_eval, len(test))
    real_feats = predict(clf, test.images[:n_ref])[0]

    def evaluate(G, n=n_ref):
        feats, logits = predict(clf, G.sample(n, seed=10_000))
        cov = class_coverage(logits)
        return {"distance": frechet_distance(feats, real_feats[:n]), "classes": cov["hit"],
                "kl": cov["kl_to_uniform"]}

    return Testbed(
        name="mnist", data=train,
        make_g=lambda seed: MLPGenerator(nz=nz, hidden=g_hidden, img_shape=img_shape).to(device),
        make_d=lambda seed, sn: MLPDiscriminator(img_shape=img_shape, hidden=d_hidden,
                                                 spectral_norm=sn).to(device),
        score=lambda G: evaluate(G, n=min(500, n_ref))["distance"], evaluate=evaluate,
        batch_size=batch_size, lr=lr,
        snapshot_fn=with_heldout_accuracy(default_snapshot, test, train))
