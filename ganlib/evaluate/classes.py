"""Does a 7 look like a 7? Per-class measures and pictures of a conditional generator.

A conditional G(z, y) (`ganlib.models.conditional`) draws every class on request, so its class
balance is exact by construction; what is left to measure is whether each class is right and
varied. All measures use the book's feature classifier (`ganlib.evaluate.classifier`), trained on the
same real data:

* `judge`: "asked for c, reads as c" (the accuracy of the classifier on samples drawn for
  known classes, as in Odena et al. 2017's use of an Inception classifier on ImageNet classes),
  per class and as a confusion matrix (rows: the class asked for; columns: the class read),
  the shares of the classes read, the classifier's mean confidence, and per class the
  Fréchet distance to the real images of that class (the intra-class FD of Miyato & Koyama
  2018, "cGANs with Projection Discriminator", arXiv:1802.05637, sec. 5.1) and the spread of
  the features (the square root of the trace of their covariance, against the reals': below 1
  means the class is narrower than the data's, AC-GAN's known failure: R. Shu 2017, "AC-GAN
  Learns a Biased Distribution"; Gong et al. 2019, arXiv:1907.02690).
* `judge_real`: the same measures for held-out real images: the floor every G is read against.
* `class_grid`, `class_path`, `noise_path`: the class-by-noise grid (rows: classes, columns:
  one z each), and interpolations in y at a fixed z and in z at a fixed y.
* `class_grid_snapshot`: `fit`'s snapshot function that keeps the class-by-noise grid.
* `overlap_1d`: for 1-D classes that overlap (`ganlib.data.overlapping_classes`), how much of
  each class G puts on the other side of the boundary, its spread, and W1 to the data's class:
  AC-GAN's bias in its plainest form.
"""

import math

import torch

from .classifier import predict
from ganlib.models.conditional import check_labels
from .metrics import frechet_distance, wasserstein_1d
from ganlib.engine.snapshots import default_snapshot
from ganlib.utils import slerp


def _by_class(labels, n_classes, n_per_class, seed):
    """Indices of up to `n_per_class` items of each class of `labels` (N,), a fixed random
    choice, class by class."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for c in range(n_classes):
        idx = (labels == c).nonzero().flatten()
        out.append(idx[torch.randperm(len(idx), generator=gen)[:n_per_class]])
    return torch.cat(out)


def _spread(feats):
    """sqrt(Tr(Cov(feats))) of features (N, d): the features' total standard deviation."""
    return math.sqrt(torch.cov(feats.double().T).trace().item())


def _measures(clf, images, asked, ref_feats, ref_labels, n_classes):
    """The measures of `judge` for `images` (N, C, H, W) of known classes `asked` (N,)."""
    feats, logits = predict(clf, images)
    read = logits.argmax(1)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
    confusion.index_put_((asked, read), torch.ones_like(read), accumulate=True)
    per_class = confusion.diag().double() / confusion.sum(1).clamp(min=1)
    fd, spread = [], []
    for c in range(n_classes):
        mine, ref = feats[asked == c], ref_feats[ref_labels == c]
        fd.append(frechet_distance(mine, ref))
        spread.append(_spread(mine) / _spread(ref))
    return {"accuracy": (read == asked).double().mean().item(),
            "per_class_accuracy": per_class.tolist(), "confusion": confusion,
            "shares": (torch.bincount(read, minlength=n_classes).double() / len(read)).tolist(),
            "confidence": logits.softmax(1).max(1).values.mean().item(),
            "class_fd": fd, "mean_class_fd": sum(fd) / n_classes,
            "spread": spread, "mean_spread": sum(spread) / n_classes}


def reference(clf, real, n_per_class=200, seed=0):
    """(features (M, d), labels (M,)): the classifier's features of up to `n_per_class` real
    images of each class of `real` (an `ImageData` with labels), the reference `judge`
    compares each class with."""
    if real.labels is None:
        raise ValueError("the reference needs labelled real images (an ImageData with labels)")
    n_classes = clf.hparams["n_classes"]
    idx = _by_class(real.labels, n_classes, n_per_class, seed)
    return predict(clf, real.images[idx])[0], real.labels[idx]


def judge(G, clf, ref, n_per_class=100, seed=1):
    """Measures of a conditional G's samples, `n_per_class` of each class from noise seeded
    by `seed`, read by the classifier `clf` against `ref` (`reference`). Returns a dict:
    accuracy (float in [0, 1]: asked for c, reads as c), per_class_accuracy (K floats),
    confusion (K, K) counts (rows: asked, columns: read), shares (K fractions of the classes
    read), confidence (mean max softmax), class_fd (K Fréchet distances, in squared feature
    units, against the real images of each class; compare with `judge_real`'s floor),
    mean_class_fd, spread (K ratios of the samples' feature spread to the reals') and
    mean_spread. Raises ValueError if G and clf disagree on the number of classes."""
    n_classes = clf.hparams["n_classes"]
    if getattr(G, "n_classes", None) != n_classes:
        raise ValueError(f"G draws {getattr(G, 'n_classes', 'no')} classes, the classifier "
                         f"reads {n_classes}: judge a conditional G with a classifier of its "
                         f"data")
    asked = torch.arange(n_classes).repeat_interleave(n_per_class)
    images = G.sample(len(asked), y=asked, seed=seed)
    return _measures(clf, images, asked, *ref, n_classes)


def judge_real(clf, heldout, ref, n_per_class=100, seed=1):
    """`judge`'s measures for up to `n_per_class` held-out real images of each class of
    `heldout` (an `ImageData` with labels, none of them in `ref`): the floor of class_fd, and
    the classifier's own accuracy, which caps every G's."""
    n_classes = clf.hparams["n_classes"]
    idx = _by_class(heldout.labels, n_classes, n_per_class, seed)
    return _measures(clf, heldout.images[idx], heldout.labels[idx], *ref, n_classes)


@torch.no_grad()
def class_grid(G, z, classes=None):
    """Images (K * N, C, H, W) in [-1, 1]: row k is class classes[k] (default: every class)
    drawn from each of the N noise vectors z (N, nz), in G's current mode. The same z in
    every row: what changes down a column is the class, along a row the noise."""
    classes = torch.arange(G.n_classes) if classes is None else check_labels(classes,
                                                                             G.n_classes)
    z = z.repeat(len(classes), 1)  # (K * N, nz)
    y = classes.repeat_interleave(len(z) // len(classes)).to(z.device)
    return G(z, y).float()


@torch.no_grad()
def class_path(G, z, a, b, steps=8):
    """Images (steps, C, H, W): a fixed noise z (nz,) decoded with class codes that move in a
    straight line from class a's embedding to class b's (G.embed, `G.decode`)."""
    a, b = check_labels([a, b], G.n_classes).tolist()
    t = torch.linspace(0, 1, steps, device=z.device)[:, None]
    e = (1 - t) * G.embed.weight[a] + t * G.embed.weight[b]  # (steps, embed_dim)
    return G.decode(z.expand(steps, -1), e).float()


@torch.no_grad()
def noise_path(G, z0, z1, y, steps=8):
    """Images (steps, C, H, W) of class y along the arc from noise z0 to z1 (nz,) each
    (`ganlib.utils.slerp`)."""
    y = check_labels([y], G.n_classes).to(z0.device)
    z = slerp(z0, z1, torch.linspace(0, 1, steps))  # (steps, nz)
    return G(z, y.expand(steps)).float()


def class_grid_snapshot(n_z=8):
    """A snapshot function for `fit` that keeps `class_grid` of the first `n_z` fixed noise
    vectors, as uint8 (K * n_z, C, H, W) under "samples" (rows: classes): the scrubber's
    class-by-noise grid. Needs FitConfig.n_fixed >= n_z."""
    def snapshot(G, D, fixed_noise):
        if len(fixed_noise) < n_z:
            raise ValueError(f"class_grid_snapshot({n_z}) needs FitConfig.n_fixed >= {n_z}, "
                             f"got {len(fixed_noise)}")
        return default_snapshot(lambda z: class_grid(G, z), D, fixed_noise[:n_z])

    return snapshot


def overlap_1d(G, data, n=4000, seed=5):
    """Per class c of 1-D labelled `data` (an `ImageData` of (N, 1) floats, two classes, class
    0 on the left): `n` samples of G(z, c) against the data's class c. Returns a list of two
    dicts: mean, std and `across` (the share on the other class's side of the midpoint between
    the two class means) of the samples, the same of the data (real_mean, real_std,
    real_across), and w1 (the 1-D Wasserstein distance between samples and data, in the
    data's units). A G that only draws points a classifier reads easily has across near 0
    where the data's is not, and a smaller std."""
    x, labels = data.images.flatten(), data.labels
    if G.n_classes != 2 or labels.max() != 1:
        raise ValueError("overlap_1d compares two classes: give a two-class G and data")
    means = [x[labels == c].mean().item() for c in (0, 1)]
    middle = sum(means) / 2
    out = []
    for c in (0, 1):
        fake = G.sample(n, y=[c] * n, seed=seed).flatten().cpu()
        real = x[labels == c]
        side = (lambda v: v > middle) if c == 0 else (lambda v: v < middle)
        out.append({"mean": fake.mean().item(), "std": fake.std().item(),
                    "across": side(fake).double().mean().item(),
                    "real_mean": real.mean().item(), "real_std": real.std().item(),
                    "real_across": side(real).double().mean().item(),
                    "w1": wasserstein_1d(fake, real)})
    return out
