"""Chapter 5's comparison harness (ganlib.book.compare, ganlib.book.testbeds) and its snapshot and
plotting helpers: fair budgets, seeds that matter, best and last generators."""

import math

import pytest
import torch

import ganlib
from ganlib import viz
from ganlib.book import compare, testbeds
from ganlib.book.compare import Recipe
from ganlib.engine.snapshots import default_snapshot, with_g_grad_norm


def small_ring(**kw):
    return testbeds.toy_testbed("ring", n=2000, hidden=16, n_eval=300, **kw)


def test_a_recipe_sets_the_models_and_optimizers_it_names():
    tb = small_ring(lr=1e-3)
    G, D, opt_g, opt_d = compare.build(tb, Recipe("x", spectral_norm=True, lr_g=1e-4, lr_d=4e-4,
                                                  betas=(0.0, 0.9)), seed=0)
    assert opt_g.param_groups[0]["lr"] == 1e-4 and opt_d.param_groups[0]["lr"] == 4e-4
    assert opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    assert D.hparams.get("spectral_norm") is True
    _, D0, opt_g0, _ = compare.build(tb, Recipe("baseline"), seed=0)
    assert opt_g0.param_groups[0]["lr"] == 1e-3 and "spectral_norm" not in D0.hparams
    cfg = compare.config(tb, Recipe("y", fit={"n_critic": 5, "gp_weight": 10.0}), 100, seed=3)
    assert (cfg.n_critic, cfg.gp_weight, cfg.steps, cfg.seed, cfg.snapshot_every) == (5, 10.0,
                                                                                       100, 3, 10)


def test_the_same_seed_builds_the_same_networks_and_another_seed_does_not():
    tb = small_ring()
    a, b, c = (compare.build(tb, Recipe("r"), seed=s)[0] for s in (0, 0, 1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_calibrate_gives_a_costlier_recipe_fewer_steps():
    tb = small_ring()
    plain = compare.calibrate(tb, Recipe("baseline"), seconds=0.5, probe_seconds=0.1)
    critic = compare.calibrate(tb, Recipe("wgan", fit={"g_loss": "wasserstein", "n_critic": 5,
                                                       "gp_weight": 10.0}), seconds=0.5,
                               probe_seconds=0.1)
    assert plain >= 1 and critic >= 1
    assert critic < plain / 2  # five D updates with a double backward per step


def test_run_recipe_reports_last_and_best_and_the_best_is_the_best_snapshot(tmp_path):
    tb = small_ring()
    res = compare.run_recipe(tb, Recipe("baseline"), [0, 1], steps=40, workdir=tmp_path)
    assert [r["seed"] for r in res] == [0, 1] and all(r["steps"] == 40 for r in res)
    for r in res:
        assert set(r["last"]) >= {"modes", "high_quality", "score"}
        assert r["best_step"] in [s["step"] for s in r["run"].snapshots]
        # the best file holds the generator of the lowest-scoring snapshot
        assert min(r["scores"]) == r["run"].snapshots[[s["step"] for s in r["run"].snapshots]
                                                      .index(r["best_step"])]["score"]
        assert (tmp_path / "ring" / "baseline" / f"seed{r['seed']}_best.pt").is_file()
    # the seeds differ: otherwise the error bars measure nothing
    assert not torch.equal(res[0]["run"].snapshots[-1]["samples"],
                           res[1]["run"].snapshots[-1]["samples"])
    again = compare.run_recipe(tb, Recipe("baseline"), [0], steps=40, workdir=tmp_path / "b")
    assert again[0]["last"] == res[0]["last"]  # and a seed is a seed


def test_mean_sd_and_cells():
    assert compare.mean_sd([1, 2, 3]) == (2.0, 1.0)
    assert compare.mean_sd([4.0]) == (4.0, 0.0)
    assert compare.cell([1, 2, 3], "{:.1f}") == "2.0 ± 1.0"


def test_table_and_ranking_read_the_seeds_results():
    fake = lambda vals: [{"steps": 10, "last": {"m": v}, "best": {"m": v - 1}} for v in vals]
    results = {"baseline": fake([3, 5]), "fix": fake([1, 1])}
    lines = compare.table(results, ["m"], {"m": "{:.0f}"})
    assert "4 ± 1" in lines[1] and "3 ± 1" in lines[1] and lines[2].startswith("fix")
    assert compare.ranked(results, "m") == ["fix", "baseline"]


def test_a_sweep_never_picks_a_setting_whose_runs_diverged():
    # a diverged run is scored as its untrained G, which can be lower than a failed run's
    fake = lambda vals: [{"last": {"m": v}} for v in vals]
    diverged = [{"last": {"m": 7216.0}, "diverged": 40}]
    failed = [{"last": {"m": 9067.0}, "diverged": None}]
    assert compare.best({0.2: diverged, 0.05: failed}, "m") == 0.05
    assert compare.best({0.1: fake([3, 5]), 0.2: fake([1, 1])}, "m") == 0.2
    assert compare.best({"a": fake([2]), "b": fake([2])}, "m") == "a"  # ties: the first
    with pytest.raises(ValueError, match="at least one setting"):
        compare.best({}, "m")


def test_the_grid_testbed_scores_a_perfect_sampler_at_zero_and_one_mode_high():
    tb = testbeds.toy_testbed("grid", n=500)
    centres = ganlib.grid_centres()

    class OnCentres(torch.nn.Module):  # a "generator" that returns the centres themselves
        nz = 2

        def __init__(self, which):
            super().__init__()
            self.which, self.w = which, torch.nn.Parameter(torch.zeros(()))

        def sample(self, n, seed=None):
            return self.which[torch.arange(n) % len(self.which)]

    perfect = tb.evaluate(OnCentres(centres))
    assert perfect["modes"] == 25 and perfect["high_quality"] == 1.0 and perfect["score"] == 0
    one = tb.evaluate(OnCentres(centres[:1]))
    assert one["modes"] == 1 and math.isclose(one["score"], 1 - 1 / 25)
    with pytest.raises(ValueError, match="'ring' or 'grid'"):
        testbeds.toy_testbed("spiral")


def test_g_grad_norm_matches_backward_and_leaves_g_untouched():
    torch.manual_seed(0)
    G, D = ganlib.ToyGenerator(nz=2, dim=2, hidden=8), ganlib.ToyDiscriminator(dim=2, hidden=8)
    z = torch.randn(32, 2)
    before = [p.clone() for p in G.parameters()]
    snap = with_g_grad_norm(default_snapshot, "minimax")(G, D, z)
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert all(p.grad is None for p in G.parameters())
    ganlib.g_loss_minimax(D(G(z))).backward()
    expected = torch.sqrt(sum(p.grad.pow(2).sum() for p in G.parameters()))
    assert math.isclose(snap["g_grad"], expected.item(), rel_tol=1e-5)
    assert math.isclose(snap["d_fake"], torch.sigmoid(D(G(z))).mean().item(), rel_tol=1e-5)
    frozen = ganlib.ToyGenerator(nz=2, dim=2, hidden=8).requires_grad_(False)
    with pytest.raises(ValueError, match="EMA"):
        with_g_grad_norm(default_snapshot)(frozen, D, z)


def test_paired_frames_pair_snapshots_at_the_same_fraction_of_each_run():
    import matplotlib  # noqa: F401 (a dependency of ganlib: its absence is an error, no skip)

    from ganlib.train import Run

    def fake_run(total):
        r = Run(step=total)
        r.snapshots = [{"step": s, "samples": torch.zeros(5, 2)}
                       for s in range(0, total + 1, total // 10)]
        return r

    seen = []
    frames, percents = viz.paired_frames([fake_run(100), fake_run(1000)], ["a", "b"],
                                         lambda ax, snap: seen.append(snap["step"]), n=3)
    assert percents == [0, 50, 100] and len(frames) == 3
    assert seen == [0, 0, 50, 500, 100, 1000]


def test_the_old_range_rule_still_run_by_chapters_1_2_and_6():
    # every run of A below every run of B, mean difference 1.0 > the largest spread 0.2
    assert compare.better([1.0, 1.2], [2.1, 2.3]) is True
    assert compare.better([2.1, 2.3], [1.0, 1.2]) is False
    # A below B, but the spread (1.5) is larger than the difference of the means (1.0)
    assert compare.better([0.0, 1.5], [1.6, 2.1]) is False
    # overlapping runs: neither way
    assert compare.better([1.0, 2.0], [1.5, 2.5]) is False
    assert compare.better([1.5, 2.5], [1.0, 2.0]) is False
    # paired: lower on every seed is enough for the first half; unpaired it is not
    a, b = [1.0, 3.0, 5.0], [1.5, 3.5, 5.5]
    assert compare.better(a, b, paired=True) is False  # difference 0.5 < spread 4.0
    assert compare.better([1.0, 1.1], [1.3, 0.9], paired=True) is False  # seed 1 loses
    assert compare.better([1.0], [2.0]) is None
    with pytest.raises(ValueError, match="one score per seed"):
        compare.better([1.0, 2.0], [1.0, 2.0, 3.0], paired=True)


def test_run_recipe_scores_the_ema_and_gs_own_weights_of_the_same_run(tmp_path):
    from dataclasses import replace
    seen = []  # the generators evaluate was given, in order
    tb = small_ring()
    tb = replace(tb, score=None,  # the last G is the best: evaluated once
                 evaluate=lambda G: seen.append(G) or {"score": float(len(seen))})
    plain = compare.run_recipe(tb, Recipe("baseline"), [0], steps=30, workdir=tmp_path)
    assert plain[0]["last_raw"] is None and len(seen) == 1
    seen.clear()
    ema = compare.run_recipe(tb, Recipe("ema", fit={"ema": 0.9}), [0], steps=30,
                             workdir=tmp_path)
    assert seen[0] is ema[0]["run"].G_ema and ema[0]["last"] == {"score": 1.0}
    assert seen[1] is not seen[0] and ema[0]["last_raw"] == {"score": 2.0}
    assert not torch.equal(next(seen[0].parameters()), next(seen[1].parameters()))


def test_a_run_that_diverges_is_kept_as_a_failed_run_scored_untrained(tmp_path):
    from dataclasses import replace
    tb = small_ring()
    tb = replace(tb, score=None)
    blowup = Recipe("wasserstein, no bound", fit={"g_loss": "wasserstein"}, lr_g=50.0,
                    lr_d=50.0, optimizer="sgd")
    res = compare.run_recipe(tb, blowup, [0, 1], steps=200, workdir=tmp_path)
    assert all(r["diverged"] is not None and 0 < r["diverged"] <= 200 for r in res)
    untrained = tb.evaluate(compare.build(tb, blowup, 0)[0])
    assert res[0]["last"] == untrained and res[0]["run"] is None and res[0]["steps"] == 200
    lines = compare.report({"baseline": res, "again": res}, "score", outcome=lambda ev: "ok")
    assert "2 diverged" in lines[1] and "nan" in lines[1]
