"""Inception's (and the digit classifier's) features in float32, channels_last and bf16 autocast:
how fast, and how far apart.

    python benchmarks/inception_precision.py --n 400 --out benchmarks/inception-precision-cpu.json

For each setting the script times the TF-FID Inception network (ganlib.evaluate.inception) on
the same images, then compares what the chapters compute from its features: FID and KID
between two halves of the real set (the floor) and between the reals and a degraded copy (a
stand-in for a generator; Gaussian blur of sigma 1 pixel), on MNIST digits (chapters 2, 4, 5,
6) and the AT&T faces (chapter 3). A setting may become the chapters' default only if its
numbers move by far less than the seed-to-seed spread of the chapters' runs. Where the CPU has
no native bf16 (ganlib.utils.fast_bf16) it is emulated, about 16 times slower: there bf16's
numbers are measured on the first --n-emulated images of each set only, beside float32 on the
same images (`"emulated": true` in the record; its speed says nothing about a CPU that has
bf16). Every row also gives its features' largest relative distance to float32's. The
book's digit classifier (classifier-FD, chapters 2, 4 to 6) is timed and compared the same way
on the digits, after 2 epochs of training on them.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from ganlib.book.degrade import blur
from ganlib.data import att_faces, mnist_fallback
from ganlib.evaluate import fid, halves, inception_features, kid, load_inception
from ganlib.evaluate.classifier import predict, train_classifier
from ganlib.evaluate.metrics import frechet_distance
from ganlib.utils import describe_device, fast_bf16

SETTINGS = {"fp32": (False, False), "channels_last": (False, True), "bf16": (True, False),
            "bf16+channels_last": (True, True)}


def features(images, net, bf16, channels_last, extract=None):
    """Features of `images` in one setting (Inception's, or `extract(images, net)`'s), and the
    seconds per image."""
    net = net.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    extract = extract or (lambda x, m: inception_features(x, m, batch_size=50))
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), torch.no_grad():
        feats = extract(images, net).float()
    return feats, (time.perf_counter() - start) / len(images)


def measures(feats, n):
    """FID and KID of the floor (half A vs half B of the reals) and of the blurred copy."""
    a, b = halves(n, seed=0)
    real, blurred = feats[:n], feats[n:]
    size = min(len(a), len(b), 100)
    return {"fid_floor": fid(real[a], real[b]), "fid_blur": fid(real[b], blurred[a]),
            "kid_floor": kid(real[a], real[b], subset_size=size)[0],
            "kid_blur": kid(real[b], blurred[a], subset_size=size)[0]}


def compare_settings(real, net, n_emulated, extract=None, measure=measures):
    """{setting: {seconds_per_image, feature_error, **measure(features, n)}} for the images of
    `real` and their blurred copies; feature_error: the largest relative distance of a
    feature vector to float32's on the same image. Where bf16 is only emulated, bf16 alone
    (not with channels_last, whose numbers equal float32's) on the first n_emulated images,
    beside float32 on the same images ("fp32 (subset)")."""
    native = fast_bf16("cpu")
    rows, reference = {}, {}
    for setting, (bf16, cl) in SETTINGS.items():
        if bf16 and not native:
            if cl:
                continue
            real = real[:n_emulated]
            feats, secs = features(torch.cat([real, blur(real, 1.0)]), net, False, False, extract)
            reference[len(real)] = feats
            rows["fp32 (subset)"] = {"seconds_per_image": secs, "feature_error": 0.0,
                                     **measure(feats, len(real))}
        feats, secs = features(torch.cat([real, blur(real, 1.0)]), net, bf16, cl, extract)
        base = reference.setdefault(len(real), feats)
        error = ((feats - base).norm(dim=1) / base.norm(dim=1).clamp_min(1e-12)).max().item()
        rows[setting] = {"seconds_per_image": secs, "emulated": bf16 and not native,
                         "feature_error": error, **measure(feats, len(real))}
        row = rows[setting]
        print(f"  {setting:20} {secs * 1000:8.2f} ms/image  " + "  ".join(
            f"{k} {v:.4g}" for k, v in row.items() if k not in ("seconds_per_image", "emulated")),
            flush=True)
    return rows


def classifier_measures(feats, n):
    """classifier-FD of the floor (half A vs half B of the reals) and of the blurred copy."""
    a, b = halves(n, seed=0)
    return {"fd_floor": frechet_distance(feats[:n][a], feats[:n][b]),
            "fd_blur": frechet_distance(feats[:n][b], feats[n:][a])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400, help="real images per set")
    ap.add_argument("--n-emulated", type=int, default=40,
                    help="images per set for bf16 where the CPU only emulates it")
    ap.add_argument("--out", type=Path, default=None, help="write the record here (JSON)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    net = load_inception()
    sets = {"mnist": mnist_fallback().images[:args.n],
            "att-faces": att_faces("data", image_size=64, flip=True).images[:args.n]}
    record = {"device": describe_device("cpu"), "bf16_native": fast_bf16("cpu"),
              "n": args.n, "n_emulated": args.n_emulated, "weights": net.describe(), "sets": {}}
    for name, real in sets.items():
        print(name, flush=True)
        record["sets"][name] = compare_settings(real, net, args.n_emulated)
    digits = mnist_fallback()
    clf = train_classifier(digits.images[args.n:], digits.labels[args.n:], epochs=2).eval()
    print("classifier", flush=True)
    record["classifier"] = compare_settings(sets["mnist"], clf, args.n_emulated,
                                            extract=lambda x, m: predict(m, x)[0],
                                            measure=classifier_measures)
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
