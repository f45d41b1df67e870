"""The standard measures of a generator, on feature vectors (Inception's, or any network's),
each comparable with its real-vs-real floor (`real_floor`: two disjoint halves of the reals).

* FID (Heusel et al. 2017, arXiv:1706.08500), torchmetrics' `FrechetInceptionDistance`;
  biased: it shrinks as the sets grow, so compare only numbers from the same set sizes.
* KID (Bińkowski et al. 2018, arXiv:1801.01401), torchmetrics' `KernelInceptionDistance`: the
  unbiased squared MMD with k(x, y) = (x.y / d + 1)^3 over random subsets, mean and sd.
* Precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991, k = 3): the share of fakes
  inside the reals' k-NN balls (quality), and of reals inside the fakes' (variety).
* Density and coverage (Naeem et al. 2020, arXiv:2002.09797, k = 5), on the real balls only.
"""

import warnings

import torch


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
    drawn without replacement, each with its own KID subsets: {"n": [...], "fid": [...],
    "kid": [...]}, and each subset's value in "fid_each" and "kid_each" (a list per n); where
    n is all the fakes, FID's repeats coincide and only KID's subsets differ. Shows FID's
    bias: it falls as n grows, while KID's mean stays put (Bińkowski et al. 2018, sec. 4)."""
    if max(ns) > len(fake) or min(ns) < 4:
        raise ValueError(f"every n must lie in 4..{len(fake)} (the fakes given), got {list(ns)}")
    gen = torch.Generator().manual_seed(seed)
    out = {"n": list(ns), "fid": [], "kid": [], "fid_each": [], "kid_each": []}
    for n in ns:
        picks = [torch.randperm(len(fake), generator=gen)[:n] for _ in range(repeats)]
        fids = [fid(real, fake[p]) for p in picks]
        # each repeat draws its own KID subsets: with one seed, every repeat would reuse the
        # same subsets of `real`, and the repeats' spread would understate KID's
        kids = [kid(real, fake[p], 50, kid_subset_size(len(real), n), seed + r)[0]
                for r, p in enumerate(picks)]
        out["fid_each"].append(fids)
        out["kid_each"].append(kids)
        out["fid"].append(sum(fids) / repeats)
        out["kid"].append(sum(kids) / repeats)
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
