"""Training recipes fairly: several seeds per recipe, equal generator steps (or one CPU-time
budget each), and the best snapshot scored beside the last.

Lucic, Kurach, Michalski, Gelly & Bousquet 2018 ("Are GANs Created Equal? A Large-Scale
Study", arXiv:1711.10337) found that most reported differences between GAN variants vanish
once every variant gets the same budget and several random seeds. A `Recipe` is a name and
the few settings a fix changes (FitConfig fields, D's options, the optimizers); a `Testbed`
is what it trains on and how it is scored; `run_table` trains each recipe on each seed with
`ganlib.fit`; `calibrate` turns a CPU-time budget into steps. The verdict is `ganlib.book.
compare.decide`'s.
"""

import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ganlib.config import FitConfig
from ganlib.engine.checkpoint import load_generator
from ganlib.engine.resume import best_path
from ganlib.engine.safety import TrainingDiverged
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
    seed, steps, seconds, the Run (for its snapshots), last and best (evaluate's dicts of the
    generator the recipe samples with: the EMA of G when it keeps one), best_step, the score
    of every snapshot, and last_raw: evaluate's dict of G's own last weights (the EMA's
    baseline, paired by seed), or None without an EMA. A run whose loss or weights went
    non-finite (`TrainingDiverged`) is kept as a failed run: diverged = the step it did, run =
    None, and last and best are its untrained generator's scores (the worst an honest rank
    test can give it: it learned nothing that lasted); diverged is None for every other run."""
    out = []
    for seed in seeds:
        G, D, opt_g, opt_d = build(testbed, recipe, seed)
        ck = Path(workdir) / testbed.name / _slug(recipe.name) / f"seed{seed}.pt"
        cfg = config(testbed, recipe, steps, seed, checkpoint_path=str(ck))
        kwargs = {} if testbed.snapshot_fn is None else {"snapshot_fn": testbed.snapshot_fn}
        try:
            run = fit(G, D, opt_g, opt_d, testbed.data, cfg, score_fn=testbed.score,
                      meta={"testbed": testbed.name, "recipe": recipe.name}, **kwargs)
        except TrainingDiverged as err:  # a failed run, scored as its untrained generator
            untrained = testbed.evaluate(build(testbed, recipe, seed)[0])
            out.append({"seed": seed, "steps": steps, "seconds": math.nan, "run": None,
                        "last": untrained, "best": untrained, "best_step": 0, "scores": [],
                        "last_raw": None, "diverged": err.step})
            continue
        sampler = run.G_ema if run.G_ema is not None else G
        last = testbed.evaluate(sampler)
        last_raw = None if run.G_ema is None else testbed.evaluate(G)
        scored = [s for s in run.snapshots if not math.isnan(s.get("score", math.nan))]
        best_step, best = run.step, last
        if scored:
            best_step = min(scored, key=lambda s: s["score"])["step"]
        if best_step != run.step:  # the best file holds another generator: evaluate it too
            best = testbed.evaluate(load_generator(best_path(ck),
                                                   map_location=next(G.parameters()).device))
        out.append({"seed": seed, "steps": run.step, "seconds": run.seconds, "run": run,
                    "last": last, "best": best, "best_step": best_step,
                    "scores": [s["score"] for s in scored], "last_raw": last_raw,
                    "diverged": None})
    return out


def run_table(testbed, recipes, seeds, steps, workdir, log=print):
    """{recipe name: run_recipe's list}: every recipe trained for the same `steps` generator
    updates on each seed (a recipe with n_critic > 1 makes more D updates, and its runs take
    longer: each run's seconds are reported beside its steps). Logs one line per recipe."""
    results, width = {}, max(len(r.name) for r in recipes)
    for recipe in recipes:
        results[recipe.name] = run_recipe(testbed, recipe, seeds, steps, workdir)
        rs = results[recipe.name]
        done = [r["seconds"] for r in rs if r["diverged"] is None]
        secs = f"{statistics.fmean(done):5.1f} s per run" if done else "every run diverged"
        lost = sum(r["diverged"] is not None for r in rs)
        log(f"  {recipe.name:{width}}  {steps:7,} steps, {secs}"
            + (f"; {lost} of {len(rs)} diverged (scored untrained)" if lost else ""))
    return results


def compare_recipes(testbed, recipes, seeds, seconds, workdir, log=print):
    """{recipe name: run_recipe's list} for every recipe, each calibrated to `seconds` of
    training per run; logs one line per recipe (steps, seconds per run)."""
    results = {}
    calibrate(testbed, recipes[0], seconds)  # a throwaway first timing: a cold start is slower
    for recipe in recipes:
        steps = calibrate(testbed, recipe, seconds)
        results |= run_table(testbed, [recipe], seeds, steps, workdir, log)
    return results


def _slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()
