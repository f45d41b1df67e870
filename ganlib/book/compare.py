"""Comparing training recipes fairly: several seeds per recipe, one CPU-time budget each, and
the best snapshot reported beside the last.

Lucic, Kurach, Michalski, Gelly & Bousquet 2018 ("Are GANs Created Equal? A Large-Scale
Study", arXiv:1711.10337) found that most reported differences between GAN variants vanish
once every variant gets the same computational budget and several random seeds. So here:

* a `Recipe` is a name and the few settings a fix changes: FitConfig fields (the game,
  penalties, n_critic, EMA, instance noise, label smoothing), D's spectral norm, and the
  learning rates and betas of the two Adam optimizers (TTUR is just lr_d > lr_g);
* `calibrate` times a few steps of a recipe and turns the CPU-time budget into a step count,
  so a recipe whose steps cost more (five critic updates, a double backward) gets fewer of
  them, and schedules that depend on the step count (annealed instance noise) still end;
* `run_recipe` trains it for each seed with `ganlib.fit`, which scores the sampled generator
  at every snapshot and keeps the best one on disk (`fit(score_fn=...)`), and evaluates both
  the last and the best generator;
* `mean_sd` and `summary_row` turn the seeds' numbers into "mean ± sd" cells;
* `better` is the book's rule for calling one recipe better than another (chapter 4).

What a testbed is (data, networks, how to score) is passed in as a `Testbed`, so the 2-D
mixtures and MNIST share all of this.
"""

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ganlib.engine.checkpoint import load_generator
from ganlib.config import FitConfig
from ganlib.engine.resume import best_path
from ganlib.steps import make_adam
from ganlib.train import fit


@dataclass(frozen=True)
class Recipe:
    name: str  # a row of the table
    fit: dict = field(default_factory=dict)  # FitConfig fields this recipe sets
    spectral_norm: bool = False  # D's Linear/Conv layers divided by their largest singular value
    d: dict = field(default_factory=dict)  # more of D's options: minibatch_std, pack, dropout...
    lr_g: float | None = None  # G's learning rate; None: the testbed's
    lr_d: float | None = None  # D's learning rate; None: the testbed's
    betas: tuple | None = None  # both optimizers' Adam betas (SGD: momentum betas[0]); None:
    #                             the testbed's
    # "adam", or "sgd": plain SGD with momentum betas[0] (the optimizer of Goodfellow et al.
    # 2014, where the saturating loss's small gradients make small steps; Adam rescales them)
    optimizer: str = "adam"


OPTIMIZERS = ("adam", "sgd")  # Recipe.optimizer's choices


@dataclass(frozen=True)
class Testbed:
    name: str  # "ring", "grid", "mnist"...
    data: object  # what fit trains on: a tensor or ImageData
    make_g: object  # seed -> a fresh generator (on the device)
    make_d: object  # (seed, **options) -> a fresh discriminator (on the device); options:
    #                 spectral_norm and a recipe's `d`
    # G -> float, lower is better: called at every snapshot, picks the best; None: no score
    # during training (expensive measures), so the best generator is the last
    score: object
    evaluate: object  # G -> dict of the final metrics, for the last and the best generator
    batch_size: int = 64  # real samples per D update
    lr: float = 2e-4  # both players' Adam learning rate unless a recipe sets its own
    betas: tuple = (0.5, 0.999)  # both optimizers' Adam betas unless a recipe sets its own
    snapshot_fn: object = None  # fit's snapshot_fn; None: fit's default
    n_fixed: int = 64  # fixed-noise samples per snapshot
    amp: bool | None = None  # FitConfig.amp of every run (None: fit picks for the device)
    snapshots: int = 10  # snapshots per run (besides step 0): the best is picked among them


def build(testbed, recipe, seed):
    """(G, D, opt_g, opt_d) for `recipe` on `testbed`, G and D seeded by `seed`."""
    torch.manual_seed(seed)
    G = testbed.make_g(seed)
    D = testbed.make_d(seed, **({"spectral_norm": True} if recipe.spectral_norm else {}),
                       **recipe.d)
    betas = recipe.betas or testbed.betas
    if recipe.optimizer not in OPTIMIZERS:
        raise ValueError(f"Recipe {recipe.name!r}: optimizer must be one of {OPTIMIZERS}, "
                         f"got {recipe.optimizer!r}")
    if recipe.optimizer == "sgd":
        make = lambda model, lr: torch.optim.SGD(model.parameters(), lr=lr, momentum=betas[0])
    else:
        make = lambda model, lr: make_adam(model, lr, betas)
    return G, D, make(G, recipe.lr_g or testbed.lr), make(D, recipe.lr_d or testbed.lr)


def config(testbed, recipe, steps, seed, checkpoint_path=None):
    """The FitConfig of one run: the testbed's batch and snapshots, the recipe's fields."""
    base = FitConfig(steps=steps, batch_size=testbed.batch_size, n_fixed=testbed.n_fixed,
                     snapshot_every=max(1, steps // testbed.snapshots), seed=seed,
                     progress=False, resume=False, checkpoint_path=checkpoint_path,
                     amp=testbed.amp)
    return replace(base, **recipe.fit)


def calibrate(testbed, recipe, seconds, probe_seconds=0.5, rounds=3, warmup=20):
    """Steps of `recipe` that fit in `seconds` of training. After `warmup` untimed steps
    (first steps pay for allocations), times `rounds` stretches of about `probe_seconds` each
    and keeps the fastest: on a shared machine a stretch can be slowed down by others, never
    sped up, so the minimum is closest to the recipe's own cost. Stretches much shorter than
    this measured the same recipe 30% apart here. At least 1 step."""
    G, D, opt_g, opt_d = build(testbed, recipe, 0)

    def step_times(n):  # the seconds of each of n more steps of the same models
        cfg = replace(config(testbed, recipe, n, 0), snapshot_every=0, instance_noise=0.0)
        stamps = [time.perf_counter()]
        fit(G, D, opt_g, opt_d, testbed.data, cfg,
            callback=lambda step, stats: stamps.append(time.perf_counter()))
        return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]  # from the 2nd step on

    rough = sum(step_times(warmup)) / (warmup - 1)
    probe = max(10, math.ceil(probe_seconds / rough))
    times = step_times(rounds * probe + 1)
    per_step = min(sum(times[k * probe:(k + 1) * probe]) / probe for k in range(rounds))
    return max(1, int(seconds / per_step))


def run_recipe(testbed, recipe, seeds, steps, workdir):
    """Train `recipe` for `steps` steps once per seed; a list of one dict per seed:
    seed, steps, seconds, the Run (for its snapshots), last and best (evaluate's dicts),
    best_step and the score of every snapshot."""
    out = []
    for seed in seeds:
        G, D, opt_g, opt_d = build(testbed, recipe, seed)
        ck = Path(workdir) / testbed.name / _slug(recipe.name) / f"seed{seed}.pt"
        cfg = config(testbed, recipe, steps, seed, checkpoint_path=str(ck))
        kwargs = {} if testbed.snapshot_fn is None else {"snapshot_fn": testbed.snapshot_fn}
        run = fit(G, D, opt_g, opt_d, testbed.data, cfg, score_fn=testbed.score,
                  meta={"testbed": testbed.name, "recipe": recipe.name}, **kwargs)
        sampler = run.G_ema if run.G_ema is not None else G
        last = testbed.evaluate(sampler)
        scored = [s for s in run.snapshots if not math.isnan(s.get("score", math.nan))]
        best_step, best = run.step, last
        if scored:
            best_step = min(scored, key=lambda s: s["score"])["step"]
        if best_step != run.step:  # the best file holds another generator: evaluate it too
            best = testbed.evaluate(load_generator(best_path(ck),
                                                   map_location=next(G.parameters()).device))
        out.append({"seed": seed, "steps": run.step, "seconds": run.seconds, "run": run,
                    "last": last, "best": best, "best_step": best_step,
                    "scores": [s["score"] for s in scored]})
    return out


def run_table(testbed, recipes, seeds, steps, workdir, log=print):
    """{recipe name: run_recipe's list}: every recipe trained for the same `steps` generator
    updates on each seed (a recipe with n_critic > 1 makes more D updates, and its runs take
    longer: each run's seconds are reported beside its steps). Logs one line per recipe."""
    results, width = {}, max(len(r.name) for r in recipes)
    for recipe in recipes:
        results[recipe.name] = run_recipe(testbed, recipe, seeds, steps, workdir)
        secs = mean_sd([r["seconds"] for r in results[recipe.name]])[0]
        log(f"  {recipe.name:{width}}  {steps:7,} steps, {secs:5.1f} s per run")
    return results


VERDICTS = ("better", "no verdict", "worse")


def verdict(fix, baseline, paired=True):
    """The book's rule (`better`) both ways, in words: "better" when the fix's scores (lower
    is better, one per seed) beat the baseline's, "worse" when the baseline's beat the fix's,
    else "no verdict". By default paired: seed i of the fix against seed i of the baseline."""
    if better(fix, baseline, paired=paired):
        return "better"
    if better(baseline, fix, paired=paired):
        return "worse"
    return "no verdict"


def compare_recipes(testbed, recipes, seeds, seconds, workdir, log=print):
    """{recipe name: run_recipe's list} for every recipe, each calibrated to `seconds` of
    training per run; logs one line per recipe (steps, seconds per run)."""
    results = {}
    calibrate(testbed, recipes[0], seconds)  # a throwaway first timing: a cold start is slower
    for recipe in recipes:
        steps = calibrate(testbed, recipe, seconds)
        results |= run_table(testbed, [recipe], seeds, steps, workdir, log)
    return results


def table(results, metrics, fmt=None, width=26):
    """Lines of a text table: a row per recipe, 'mean ± sd' over seeds of each metric at the
    last and at the best snapshot (`summary_row`)."""
    head = "".join(f"{m + ' ' + w:>20}" for m in metrics for w in ("last", "best"))
    lines = [f"{'recipe':{width}}{'steps':>7}" + head]
    for name, res in results.items():
        cells = summary_row(res, metrics, fmt)
        lines.append(f"{name:{width}}{res[0]['steps']:7,}" + "".join(f"{c:>20}" for c in cells))
    return lines


def ranked(results, key, which="last"):
    """Recipe names sorted by the seeds' mean of metric `key` (lower first)."""
    return sorted(results, key=lambda name: mean_sd([r[which][key] for r in results[name]])[0])


def _slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def mean_sd(xs):
    """(mean, sample standard deviation) of a list of numbers; sd 0 for one number."""
    t = torch.tensor([float(x) for x in xs], dtype=torch.float64)
    return t.mean().item(), (t.std().item() if len(t) > 1 else 0.0)


def cell(xs, fmt="{:.2f}"):
    """'mean ± sd' of `xs`, each number formatted with `fmt`."""
    m, s = mean_sd(xs)
    return f"{fmt.format(m)} ± {fmt.format(s)}"


def summary_row(results, metrics, fmt=None):
    """One table row's cells: for each metric of `metrics`, 'mean ± sd' over the seeds of its
    last value and of its best-snapshot value, in that order. fmt: metric -> format."""
    fmt = fmt or {}
    cells = []
    for m in metrics:
        for which in ("last", "best"):
            cells.append(cell([r[which][m] for r in results], fmt.get(m, "{:.2f}")))
    return cells


def overlap(a, b):
    """True when the mean ± sd intervals of the two lists of numbers overlap: the difference
    is inside the seed-to-seed spread."""
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    return abs(ma - mb) <= sa + sb


def better(a, b, paired=False):
    """The book's rule (chapter 4): is recipe A better than recipe B, given one score per run
    (lower is better) in the lists `a` and `b`? Only if every run of A scores below every run
    of B (with `paired=True`, below B's run of the same seed: a[i] against b[i]) *and* the
    difference of the two means is larger than the largest spread (max - min) between the
    seeds of either recipe. A coarse rule meant to be stated before the runs; it can say "no
    verdict" (False both ways). Returns None when either side has fewer than two runs: one
    run a side cannot show a spread. Raises ValueError for paired lists of unequal length."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if paired and len(a) != len(b):
        raise ValueError(f"paired runs need one score per seed on both sides: got {len(a)} "
                         f"and {len(b)}; pass paired=False for unpaired runs")
    if len(a) < 2 or len(b) < 2:
        return None
    wins = all(x < y for x, y in zip(a, b)) if paired else max(a) < min(b)
    spread = max(max(a) - min(a), max(b) - min(b))
    return wins and mean_sd(b)[0] - mean_sd(a)[0] > spread


def report(results, key, baseline="baseline", fmt="{:.2f}", outcome=None, which="last"):
    """Lines of a table of metric `key` (lower is better): a row per recipe with its steps,
    mean seconds per run, every seed's number, mean ± sd, and `verdict` against the row
    `baseline` (paired by seed). outcome(evaluate dict) -> word, if given, adds each run's
    outcome (`ganlib.book.testbeds.classify`). Raises KeyError naming the rows if `baseline` is
    not one of them."""
    if baseline not in results:
        raise KeyError(f"no row {baseline!r} to compare with; rows: {list(results)}")
    base = [r[which][key] for r in results[baseline]]
    width = max(len(name) for name in results) + 2
    lines = [f"{'':{width}}{'steps':>7}{'s/run':>7}   {key} per seed ({which}); mean ± sd; "
             f"verdict against {baseline}" + ("; outcomes" if outcome else "")]
    for name, runs in results.items():
        xs = [r[which][key] for r in runs]
        seeds = ", ".join(fmt.format(x) for x in xs)
        v = "" if name == baseline else f"; {verdict(xs, base)}"
        words = ""
        if outcome is not None:
            counts = Counter(outcome(r[which]) for r in runs)
            words = "; " + ", ".join(f"{n} {w}" for w, n in counts.items())
        secs = mean_sd([r["seconds"] for r in runs])[0]
        lines.append(f"{name:{width}}{runs[0]['steps']:7,}{secs:7.1f}   {seeds}; "
                     f"{cell(xs, fmt)}{v}{words}")
    return lines
