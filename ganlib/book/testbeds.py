"""Chapter 5's testbeds: what `ganlib.book.compare` trains recipes on, and how it scores them.

* `toy_testbed("ring" | "grid")`: the ring of 8 and the 5 x 5 grid of 25 Gaussians of
  Metz et al. 2017 (Unrolled GANs, arXiv:1611.02163) and Srivastava et al. 2017 (VEEGAN,
  arXiv:1705.07761), chapter 1's toy networks. Metrics: modes covered and the share of
  high-quality samples (`ganlib.evaluate.metrics.toy_mode_coverage`); the score that picks the best
  snapshot is 1 - (modes covered / modes) * high-quality share, 0 for a perfect generator.
* `mnist_testbed(train, test, clf)`: chapter 2's fully connected pair at the size of its
  `classic-128` preset. Metrics: the Fréchet distance on the classifier's features to held-out
  digits (the score), the classes hit and the KL divergence of the class histogram to
  uniform (chapter 2's measures), the k-NN precision in the classifier's features
  (Kynkäänniemi et al. 2019), the samples' pixel spread against real digits', and the
  distance over an untrained G's (from_start); its snapshots also keep D's verdicts on
  training and held-out digits (`ganlib.engine.snapshots.with_heldout_accuracy`), the
  overfitting signal. Its runs use bf16 autocast where the hardware runs it natively
  (`ganlib.fast_bf16`), as chapter 2's.

* `faces_testbed(train, heldout, reference, net)`: chapter 3's DCGAN on the AT&T faces, with
  a D without BatchNorm (so that R1, a per-image gradient penalty, applies to every row).
  Metric: KID on Inception features against `reference`, the features of real training
  photos (`ganlib.evaluate.kid_score_fn`); no score during training (the features cost
  seconds), so the best generator is the last. Snapshots keep D's verdicts on training and
  held-out faces.

`classify` puts an MNIST run in one of three words by rules stated before the runs, on
measures that cannot flip on the noise of a threshold: "failed to train", "collapsed" or
"trained" (`OUTCOMES`); `classify_toy` does the same for a toy run.

Evaluation draws its noise from fixed seeds, so two generators are compared on the same z.
"""

import torch

from ganlib.evaluate.classifier import predict
from .recipes import Testbed
from ganlib.data import grid2d, grid_centres, ring2d, ring_centres, to_unit_range
from ganlib.evaluate.measures import precision_recall
from ganlib.evaluate.scores import kid_score_fn
from ganlib.evaluate.metrics import class_coverage, frechet_distance, spread, toy_mode_coverage
from ganlib.models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                     ToyDiscriminator, ToyGenerator, weights_init)
from ganlib.engine.snapshots import default_snapshot, with_heldout_accuracy
from ganlib.utils import fast_bf16

TOY_STD = 0.03  # the mixtures' standard deviation (ring2d's and grid2d's default)
OUTCOMES = ("trained", "collapsed", "failed to train")  # `classify`'s words
# The MNIST words (`classify`), each line far from the runs of chapter 5's pilots on both
# sides. A G whose samples are still over half as far (Fréchet distance) from the digits as
# an untrained G's has not left its start: pilots' stuck runs sat at 0.9-1.2, runs that moved
# at 0.3 and below
STILL_AT_START = 0.5
# Samples closer together (mean pixel distance) than this share of real digits': near
# copies. One repeated blob: about 0.05; a G drawing two or three classes: 0.2-0.7
COLLAPSED_SPREAD = 0.15
# Fewer samples than this inside the real digits' k-NN balls of classifier features: no
# recognisable digits, whatever their variety
FAILED_PRECISION = 0.1
SPREAD_N = 500  # samples (and real digits) whose pairwise pixel distances `spread` averages
# A class histogram further than this from uniform (KL, nats): collapsed. A generator that
# drops 3 of the 10 classes and draws the others evenly is at log(10 / 7) = 0.36
COLLAPSED_KL = 0.35
# The toy testbeds' words (`classify_toy`): fewer than half of the samples within 3 std of
# any mode means the generator never reached the modes; more than 2 modes missed (of 8 or 25)
# means it dropped some
TOY_FAILED_QUALITY = 0.5
TOY_COLLAPSED_MISSED = 2


def toy_testbed(kind="ring", n=20_000, device="cpu", batch_size=256, lr=1e-3, n_eval=2000,
                hidden=128, g_hidden=None, seed=0):
    """The 2-D mixture testbed `kind` ("ring": 8 modes, "grid": 25), n training points; its
    centres are `ganlib.ring_centres()` or `ganlib.grid_centres()`. `hidden` is the width of
    both networks, `g_hidden` G's alone where it differs (a narrow G drops modes: chapter 5).
    Metrics: "modes" covered, "missed" (modes - covered: lower is better, for the rule),
    "high_quality" (the share of samples within 3 std of a mode) and "score"."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "ring":
        data, centres = ring2d(n, generator=gen), ring_centres()
    elif kind == "grid":
        data, centres = grid2d(n, generator=gen), grid_centres()
    else:
        raise ValueError(f"kind must be 'ring' or 'grid', got {kind!r}")

    def evaluate(G, n=n_eval):
        cov = toy_mode_coverage(G.sample(n, seed=10_000).cpu(), centres, std=TOY_STD)
        return {"modes": cov["covered"], "missed": cov["modes"] - cov["covered"],
                "high_quality": cov["high_quality"],
                "score": 1 - cov["covered"] / cov["modes"] * cov["high_quality"],
                "counts": cov["counts"]}

    return Testbed(
        name=kind, data=data.to(device),
        make_g=lambda seed: ToyGenerator(nz=2, dim=2, hidden=g_hidden or hidden).to(device),
        make_d=lambda seed, **opts: ToyDiscriminator(dim=2, hidden=hidden, **opts).to(device),
        score=lambda G: evaluate(G, n=1000)["score"], evaluate=evaluate,
        batch_size=batch_size, lr=lr, n_fixed=1000)


def mnist_testbed(train, test, clf, device="cpu", n_eval=1000, batch_size=64, lr=2e-4,
                  nz=100, g_hidden=(128, 256, 512), d_hidden=(512, 256), d_dropout=0.3):
    """The MNIST testbed: `train` and `test` are ImageData with labels, `clf` a trained
    `ganlib.evaluate.classifier.Classifier` (its features score the samples)."""
    img_shape = tuple(train.images.shape[1:])
    n_ref = min(n_eval, len(test))
    real_images = test.images[:n_ref]
    real_feats = predict(clf, real_images)[0]
    make_g = lambda seed: MLPGenerator(nz=nz, hidden=g_hidden, img_shape=img_shape).to(device)

    def measure(G, n):
        images = G.sample(n, seed=10_000)
        feats, logits = predict(clf, images)
        cov = class_coverage(logits)
        return {"distance": frechet_distance(feats, real_feats[:n]), "classes": cov["hit"],
                "kl": cov["kl_to_uniform"],
                "precision": precision_recall(real_feats[:n], feats, k=3)["precision"],
                "spread": spread(images[:SPREAD_N].float(), to_unit_range(
                    real_images[:SPREAD_N]))}

    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(0)
        start = measure(make_g(0), n_ref)["distance"]  # where an untrained G stands

    def evaluate(G, n=n_ref):
        ev = measure(G, n)
        return ev | {"from_start": ev["distance"] / start}

    return Testbed(
        name="mnist", data=train,
        make_g=make_g,
        make_d=lambda seed, **opts: MLPDiscriminator(
            img_shape=img_shape, hidden=d_hidden, **({"dropout": d_dropout} | opts)).to(device),
        score=lambda G: measure(G, n=min(500, n_ref))["distance"], evaluate=evaluate,
        batch_size=batch_size, lr=lr, amp=fast_bf16(device),
        snapshot_fn=with_heldout_accuracy(default_snapshot, test, train))


def classify(ev):
    """An MNIST run's outcome from `mnist_testbed`'s evaluate dict, in `OUTCOMES`' words, by
    these rules in order: "failed to train" while its distance is still over STILL_AT_START
    of an untrained G's; "collapsed" when its samples are near copies (pixel spread under
    COLLAPSED_SPREAD of real digits'); "failed to train" when under FAILED_PRECISION of its
    samples lie among real digits' features (k-NN precision, k = 3); "collapsed" when its
    class histogram's KL to uniform exceeds COLLAPSED_KL; else "trained"."""
    if ev["from_start"] > STILL_AT_START:
        return "failed to train"
    if ev["spread"] < COLLAPSED_SPREAD:
        return "collapsed"
    if ev["precision"] < FAILED_PRECISION:
        return "failed to train"
    return "collapsed" if ev["kl"] > COLLAPSED_KL else "trained"


def classify_toy(ev):
    """A toy run's outcome from `toy_testbed`'s evaluate dict, in `OUTCOMES`' words: "failed to
    train" when under TOY_FAILED_QUALITY of the samples lie near a mode, else "collapsed" when
    more than TOY_COLLAPSED_MISSED modes are missed, else "trained"."""
    if ev["high_quality"] < TOY_FAILED_QUALITY:
        return "failed to train"
    return "collapsed" if ev["missed"] > TOY_COLLAPSED_MISSED else "trained"


def faces_testbed(train, heldout, reference, net, n_kid, device="cpu", image_size=32, nz=100,
                  ngf=32, ndf=32, batch_size=64, lr=2e-4, kid_seed=5):
    """The face testbed: `train` and `heldout` are chapter 3's uint8 ImageData (1 channel),
    `reference` (N, 2048) the Inception features of real training photos, `net` the Inception
    network that made them (`ganlib.evaluate.inception.load_inception`), `n_kid` samples scored per
    evaluation. Every D is a `DCGANDiscriminator(batchnorm=False)`; both nets start from
    `weights_init` (Radford et al. 2016)."""
    nc = train.images.shape[1]

    def make_g(seed):
        return DCGANGenerator(nz=nz, ngf=ngf, nc=nc, image_size=image_size).apply(
            weights_init).to(device)

    def make_d(seed, **opts):
        return DCGANDiscriminator(ndf=ndf, nc=nc, image_size=image_size,
                                  **({"batchnorm": False} | opts)).apply(weights_init).to(device)

    return Testbed(
        name="faces", data=train, make_g=make_g, make_d=make_d, score=None,
        evaluate=kid_score_fn(reference, net, n=n_kid, seed=kid_seed),
        batch_size=batch_size, lr=lr,
        snapshot_fn=with_heldout_accuracy(default_snapshot, heldout.images, train.images,
                                          n=min(256, len(heldout))))
