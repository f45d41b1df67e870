"""Sample-quality measures.

* `frechet_distance`: the Fréchet distance between two Gaussians fitted to feature sets,
  ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) (Heusel et al. 2017, "GANs Trained by a
  Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", arXiv:1706.08500). FID uses
  Inception features; on MNIST-like data we use a small classifier trained on the same data
  (`ganlib.evaluate.classifier`), which needs no download. Its numbers are comparable only with the
  same classifier, so always print the real-vs-real floor beside them.
* `class_coverage`: how many classes the samples hit, by that classifier's predictions, and
  the KL divergence of their class histogram to uniform (0 when all classes are equally
  frequent, log K when everything is one class).
* `stacked_modes`: the modes of StackedMNIST (three digits in three channels, 1,000 modes)
  a generator hits, and the KL of its mode histogram to uniform.
* `spread`: how far apart the samples lie against real images, near 0 for a G that draws one
  image whatever z (chapter 5's "collapsed").
* `nearest_neighbours`: the memorisation check, each sample's closest training image.
* `toy_mode_coverage`: for mixtures of Gaussians (the ring and the grid), how many modes the
  generator hits and what fraction of its samples are "high quality", i.e. within 3 standard
  deviations of some mode (Srivastava et al. 2017, VEEGAN, arXiv:1705.07761; Metz et al. 2017,
  Unrolled GANs, arXiv:1611.02163).
"""

import math

import torch

# the feature classifier lives in its own module; these names are part of metrics' interface
from .classifier import (Classifier, accuracy, cached_classifier, predict,  # noqa: F401
                         train_classifier)
from ganlib.data import N_MODES, to_unit_range


def frechet_distance(feat_a, feat_b):
    """Fréchet distance between Gaussians fitted to `feat_a` (N, d) and `feat_b` (M, d):
    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), a float in squared feature units
    (the square of the features' unit; FID's 2048-d Inception features give hundreds).

    Computed in float64 with symmetric eigendecompositions: Tr((S_a S_b)^(1/2)) equals the sum
    of the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is symmetric."""
    a, b = torch.as_tensor(feat_a).double(), torch.as_tensor(feat_b).double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    sqrt_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp(min=0).sqrt().sum()
    return ((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross).item()


def _histogram(labels, k):
    """(fractions (k,) of `labels` (N,) in 0..k-1, KL (nats) of that histogram to uniform)."""
    hist = torch.bincount(labels, minlength=k).double() / len(labels)
    hit = hist > 0
    return hist, (hist[hit] * (hist[hit] * k).log()).sum().item()


def class_coverage(logits, n_classes=None, min_share=0.01):
    """Classes hit by samples whose classifier logits are `logits` (N, K).

    A class is hit if at least `min_share` of the samples are predicted as it. Returns
    dict(classes=K, hit=int, kl_to_uniform=float (nats), histogram=list of K fractions)."""
    k = n_classes or logits.shape[1]
    hist, kl = _histogram(logits.argmax(1), k)
    return {"classes": k, "hit": int((hist >= min_share).sum()), "kl_to_uniform": kl,
            "max_kl": math.log(k), "histogram": hist.tolist()}


def stacked_modes(clf, images, size=28):
    """The StackedMNIST modes of `images` (N, 3, H, W), uint8 or in [-1, 1]: each channel read
    by the digit classifier `clf`, mode = 100 * red + 10 * green + blue (`ganlib.data.
    stacked_mnist`); channels larger than `size` are centre-cropped to it first (32x32 images
    for a 28x28 classifier). Returns dict(modes=the modes hit by at least one sample, of 1,000;
    kl_to_uniform=KL (nats) of the mode histogram to uniform, as in Metz et al. 2017 and
    Srivastava et al. 2017, who score 26,000 samples; n=N). ValueError for other shapes."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"StackedMNIST images are (N, 3, H, W), got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"images of {h}x{w} are smaller than the classifier's {size}x{size}")
    top, left = (h - size) // 2, (w - size) // 2
    images = images[..., top:top + size, left:left + size]
    digits = [predict(clf, images[:, k:k + 1])[1].argmax(1) for k in range(3)]
    modes = digits[0] * 100 + digits[1] * 10 + digits[2]
    hist, kl = _histogram(modes, N_MODES)
    return {"modes": int((hist > 0).sum()), "kl_to_uniform": kl, "n": len(modes)}


def spread(x, real):
    """The mean distance between two samples (x (N, ...): images or features, flattened) over
    that between two real ones (real (M, ...)): 1 for samples as varied as the data, near 0
    when G draws (nearly) one image whatever z. A float."""
    def mean_pairwise(v):
        v = v.reshape(len(v), -1).double()
        return torch.pdist(v).mean().item()
    return mean_pairwise(x) / mean_pairwise(real)


def nearest_neighbours(queries, pool, batch_size=256):
    """For each image in `queries` (N, ...), the index in `pool` (M, ...) of its nearest image
    in pixel space (L2 on [-1, 1] values) and that distance. Returns (index (N,), dist (N,)).

    A generator that memorised its training set produces samples whose nearest training image
    is (almost) themselves; compare with the same distance for held-out real images."""
    q = to_unit_range(queries).flatten(1).float()
    p = to_unit_range(pool).flatten(1).float()
    best_d, best_i = [], []
    for k in range(0, len(q), batch_size):
        d = torch.cdist(q[k:k + batch_size], p, compute_mode="donot_use_mm_for_euclid_dist")
        dist, idx = d.min(1)
        best_d.append(dist)
        best_i.append(idx)
    return torch.cat(best_i), torch.cat(best_d)


def toy_mode_coverage(samples, centres, std, min_share=0.01):
    """Mode coverage of 2-D `samples` (N, 2) for a mixture with `centres` (K, 2) and `std`.

    A sample is high quality if it lies within 3 std of its nearest centre; a mode is covered
    if at least `min_share` of all samples are high-quality samples of that mode.
    Returns dict(modes=K, covered=int, high_quality=float, counts=list of K ints)."""
    samples, centres = torch.as_tensor(samples).float(), torch.as_tensor(centres).float()
    dist = torch.cdist(samples, centres)  # (N, K)
    nearest_d, nearest = dist.min(1)
    good = nearest_d < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    covered = int((counts >= min_share * len(samples)).sum())
    return {"modes": len(centres), "covered": covered,
            "high_quality": good.float().mean().item(), "counts": counts.tolist()}


def wasserstein_1d(a, b):
    """The 1-D Wasserstein-1 distance between the empirical distributions of `a` and `b`:
    the area between their distribution functions, the integral of |F_a(x) - F_b(x)| dx.

    Shifting every sample by delta gives exactly |delta|. Two finite samples of the same
    distribution are not at 0: compare with the distance between two samples of the data."""
    a = torch.as_tensor(a).double().flatten().sort().values
    b = torch.as_tensor(b).double().flatten().sort().values
    xs = torch.cat([a, b]).sort().values  # F_a - F_b is constant between consecutive points
    cdf_a = torch.searchsorted(a, xs[:-1], right=True) / len(a)
    cdf_b = torch.searchsorted(b, xs[:-1], right=True) / len(b)
    return ((cdf_a - cdf_b).abs() * xs.diff()).sum().item()
