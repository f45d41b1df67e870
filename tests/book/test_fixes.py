"""The pieces chapter 5 added: PacGAN's packing, lazy R1, a recipe's D options, equal-step
tables and the rule's verdict in words."""

import pytest
import torch

import ganlib
from ganlib import FitConfig, fit
from ganlib.book import compare, testbeds
from ganlib.book.compare import Recipe
from ganlib.config import lazy_r1
from ganlib.models import MLPDiscriminator, Pack, ToyDiscriminator, mixes_batch


def test_pack_judges_m_samples_at_once_in_order():
    x = torch.arange(12.0).view(6, 2)
    packed = Pack(3)(x)
    assert packed.shape == (2, 6)
    assert torch.equal(packed[0], torch.arange(6.0)) and torch.equal(packed[1],
                                                                     torch.arange(6.0, 12.0))
    D = ToyDiscriminator(hidden=8, pack=2)
    assert D(torch.randn(8, 2)).shape == (4,) and D.hparams["pack"] == 2
    assert mixes_batch(D)  # so the step runs real and fake packs through D separately
    D1 = MLPDiscriminator(hidden=(16,), pack=4)
    assert D1(torch.randn(8, 1, 28, 28)).shape == (2,)
    # a pack's logit depends on every one of its images, and on no other pack's
    x = torch.randn(8, 1, 28, 28, requires_grad=True)
    D1.eval()
    D1(x)[0].backward()
    assert (x.grad[:4].abs().sum((1, 2, 3)) > 0).all() and (x.grad[4:] == 0).all()


def test_pack_refuses_a_batch_it_cannot_split_and_bad_m():
    with pytest.raises(ValueError, match="multiple of 3: change batch_size"):
        ToyDiscriminator(pack=3)(torch.randn(4, 2))
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="pack must be a whole number >= 1"):
            MLPDiscriminator(pack=bad)
    assert "pack" not in ToyDiscriminator().hparams  # unchanged for models without it


def test_a_packed_d_trains_through_fit():
    data = torch.randn(64, 2)
    G = ganlib.ToyGenerator(hidden=8)
    D = ToyDiscriminator(hidden=8, pack=2)
    run = fit(G, D, ganlib.make_adam(G), ganlib.make_adam(D), data,
              FitConfig(steps=3, batch_size=16, progress=False))
    assert run.step == 3 and all(torch.isfinite(torch.tensor(run.history["loss_d"])))


def test_lazy_r1_weights_every_kth_step_by_k_and_keeps_the_average():
    cfg = FitConfig(steps=10, r1_weight=2.0, r1_every=4)
    weights = [lazy_r1(cfg, s) for s in range(8)]
    assert weights == [8.0, 0, 0, 0, 8.0, 0, 0, 0]
    assert sum(weights) / len(weights) == 2.0
    assert lazy_r1(FitConfig(steps=1, r1_weight=0.5), 3) == 0.5  # k = 1: every step
    with pytest.raises(ValueError, match="r1_every must be a whole number >= 1"):
        ganlib.config.check_config(FitConfig(steps=1, r1_every=0))


def test_lazy_r1_changes_d_only_on_its_steps():
    """With r1_every = 2, step 1 (no R1) is the plain step: a run with r1_weight = 0 and the
    same seed makes the same second D update from the same first state."""
    def first_two(r1_weight, r1_every):
        torch.manual_seed(0)
        G, D = ganlib.ToyGenerator(hidden=8), ToyDiscriminator(hidden=8)
        opt_g, opt_d = ganlib.make_adam(G), ganlib.make_adam(D)
        cfg = FitConfig(steps=1, batch_size=16, progress=False, r1_weight=r1_weight,
                        r1_every=r1_every, seed=1)
        data = torch.randn(64, 2, generator=torch.Generator().manual_seed(2))
        fit(G, D, opt_g, opt_d, data, cfg)
        return [p.detach().clone() for p in D.parameters()]

    lazy, plain, every = first_two(1.0, 2), first_two(0.0, 1), first_two(1.0, 1)
    # step 0 is an R1 step: weighted by 2, it differs from both the plain and the k = 1 step
    assert not all(torch.equal(a, b) for a, b in zip(lazy, plain))
    assert not all(torch.equal(a, b) for a, b in zip(lazy, every))


def test_a_recipe_passes_its_d_options_to_the_testbed():
    tb = testbeds.toy_testbed("ring", n=500, hidden=16)
    _, D, _, _ = compare.build(tb, Recipe("pac", d={"pack": 2}, spectral_norm=True), seed=0)
    assert D.hparams["pack"] == 2 and D.hparams["spectral_norm"] is True


def test_run_table_gives_every_recipe_the_same_steps_and_reports_seconds(tmp_path):
    tb = testbeds.toy_testbed("ring", n=500, hidden=16, n_eval=200)
    lines = []
    res = compare.run_table(tb, [Recipe("baseline"), Recipe("critic", fit={"n_critic": 2})],
                            [0, 1], steps=12, workdir=tmp_path, log=lines.append)
    assert list(res) == ["baseline", "critic"] and len(lines) == 2
    assert all(r["steps"] == 12 and r["seconds"] > 0 for rs in res.values() for r in rs)


def test_without_a_score_the_best_generator_is_the_last_and_is_not_scored_twice(tmp_path):
    calls = []
    tb = testbeds.toy_testbed("ring", n=500, hidden=16, n_eval=200)
    evaluate = tb.evaluate
    tb = compare.Testbed(**{**tb.__dict__, "score": None,
                            "evaluate": lambda G: calls.append(1) or evaluate(G)})
    (r,) = compare.run_recipe(tb, Recipe("baseline"), [0], steps=10, workdir=tmp_path)
    assert r["best"] is r["last"] and r["best_step"] == 10 and len(calls) == 1


def test_verdict_says_decides_answer_in_words_both_ways():
    assert compare.verdict([1, 2, 3, 4], [20, 30, 40, 50]) == "better"
    assert compare.verdict([20, 30, 40, 50], [1, 2, 3, 4]) == "worse"
    assert compare.verdict([1, 30, 3, 40], [20, 2, 40, 4]) == "no verdict"
    assert compare.verdict([1, 2, 3], [20, 30, 40]) == "no verdict"  # 3 vs 3: p >= 0.05
    with pytest.raises(ValueError, match="one score per seed on each side"):
        compare.verdict([1, 2, 3], [20, 30], paired=True)


class MeanColour(torch.nn.Module):
    """A stand-in for Inception: 12 features, the mean of each channel four times."""

    sha256 = "0123456789ab"

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x.mean((2, 3)).repeat(1, 4)


def test_the_face_testbed_trains_a_d_without_batchnorm_and_scores_the_last_g_by_kid(tmp_path):
    gen = torch.Generator().manual_seed(0)
    faces = ganlib.ImageData(torch.randint(0, 256, (32, 1, 32, 32), dtype=torch.uint8,
                                           generator=gen), None, "noise faces")
    held = ganlib.ImageData(faces.images[:8], None, "held out")
    tb = testbeds.faces_testbed(faces, held, torch.randn(16, 12, generator=gen), MeanColour(),
                                n_kid=8, ngf=4, ndf=4, batch_size=8)
    _, D, _, _ = compare.build(tb, Recipe("none"), seed=0)
    assert not ganlib.models.mixes_batch(D)  # so that R1 applies
    (r,) = compare.run_recipe(tb, Recipe("R1, lazy", fit={"r1_weight": 1.0, "r1_every": 2}),
                              [0], steps=4, workdir=tmp_path)
    assert r["best"] is r["last"] and r["steps"] == 4
    assert {"kid_mean", "fid"} <= set(r["last"]) and "real_heldout" in r["run"].snapshots[-1]


def test_a_recipe_can_train_with_momentum_sgd_and_a_bad_optimizer_is_refused():
    tb = testbeds.toy_testbed("ring", n=500, hidden=16)
    G, D, opt_g, opt_d = compare.build(tb, Recipe("sgd", optimizer="sgd", lr_d=0.3), 0)
    assert isinstance(opt_g, torch.optim.SGD) and isinstance(opt_d, torch.optim.SGD)
    assert opt_g.param_groups[0]["momentum"] == tb.betas[0]  # betas[0] is SGD's momentum
    assert opt_g.param_groups[0]["lr"] == tb.lr and opt_d.param_groups[0]["lr"] == 0.3
    # fit steps G and D with them
    before = [p.detach().clone() for p in G.parameters()]
    run = fit(G, D, opt_g, opt_d, tb.data, FitConfig(steps=1, batch_size=32, progress=False))
    assert run.step == 1 and any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    with pytest.raises(ValueError, match=r"optimizer must be one of \('adam', 'sgd'\)"):
        compare.build(tb, Recipe("rmsprop", optimizer="rmsprop"), 0)


def test_toy_testbed_narrow_generator_and_missed_modes():
    tb = testbeds.toy_testbed("grid", n=500, hidden=16, g_hidden=8, n_eval=200)
    G, D = tb.make_g(0), tb.make_d(0)
    assert G.hparams["hidden"] == 8 and D.hparams["hidden"] == 16
    ev = tb.evaluate(G)
    assert ev["missed"] == 25 - ev["modes"] and 0 <= ev["missed"] <= 25


def test_classify_toy_uses_the_stated_thresholds():
    ok = {"high_quality": 0.9, "missed": testbeds.TOY_COLLAPSED_MISSED}
    assert testbeds.classify_toy(ok) == "trained"
    assert testbeds.classify_toy(ok | {"missed": 10}) == "collapsed"
    assert testbeds.classify_toy({"high_quality": 0.2, "missed": 0}) == "failed to train"


def test_plot_seeds_draws_every_seed_its_median_and_keys_every_marker():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganlib import viz

    fig, ax = plt.subplots()
    viz.plot_seeds({"base": [1.0, 100.0, 7.0], "fix": [2.0, 4.0, 3.0]}, ax, baseline="base",
                   log=True, outcomes={"base": ["failed to train"] * 3,
                                       "fix": ["trained", "trained", "diverged"]},
                   seeds=[0, 1, 2])
    points = [ln for ln in ax.lines if ln.get_linestyle() in ("None", "")]
    assert sorted(float(p.get_xdata()[0]) for p in points) == [1, 2, 3, 4, 7, 100]
    bars = [ln for ln in ax.lines if len(ln.get_xdata()) == 2]
    assert sorted(float(b.get_xdata()[0]) for b in bars) == [3.0, 7.0]  # each row's median
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["median of the row", "trained", "failed to train", "diverged",
                      "seed 0", "seed 1", "seed 2"]
    weights = {t.get_text(): t.get_fontweight() for t in ax.get_yticklabels()}
    assert weights == {"base": "bold", "fix": "normal"}  # the baseline row stands out
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert {"1", "2", "5", "10", "100"} <= set(ticks), ticks  # written out, no minor labels
    assert not [t for t in ax.xaxis.get_minorticklabels() if t.get_text()]
    plt.close(fig)


def tiny_mnist_bed(**kw):
    from ganlib.evaluate.classifier import Classifier

    gen = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (80, 1, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.arange(80) % 10
    train = ganlib.ImageData(images[:60], labels[:60], "random")
    test = ganlib.ImageData(images[60:], labels[60:], "random, held out")
    torch.manual_seed(0)
    clf = Classifier(width=4, feature_dim=16).eval()
    state = torch.get_rng_state()
    tb = testbeds.mnist_testbed(train, test, clf, n_eval=20, g_hidden=(16,), d_hidden=(16,),
                                **kw)
    assert torch.equal(torch.get_rng_state(), state)  # building it drew nothing of ours
    return tb


def test_mnist_testbed_measures_from_the_start_and_leaves_the_random_state_alone():
    tb = tiny_mnist_bed()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the untrained G the testbed measured its start with
        G = tb.make_g(0)
    ev = tb.evaluate(G)
    assert set(ev) == {"distance", "classes", "kl", "precision", "spread", "from_start"}
    assert ev["from_start"] == pytest.approx(1.0)
    assert 0 <= ev["precision"] <= 1 and ev["spread"] > 0


def test_classify_reads_the_measures_in_the_stated_order():
    trained = {"from_start": 0.05, "spread": 0.9, "precision": 0.6, "kl": 0.05}
    assert testbeds.classify(trained) == "trained"
    assert testbeds.classify(trained | {"kl": 1.0}) == "collapsed"  # classes missing
    assert testbeds.classify(trained | {"spread": 0.05}) == "collapsed"  # one image
    assert testbeds.classify(trained | {"precision": 0.02}) == "failed to train"
    # still at the start: failed, even if its samples are copies of one grey image
    assert testbeds.classify(trained | {"from_start": 1.1, "spread": 0.05}) == "failed to train"
    # copies of one blob that moved from the start: collapsed, not failed
    assert testbeds.classify(trained | {"spread": 0.05, "precision": 0.0}) == "collapsed"


def test_spread_is_one_for_the_data_and_zero_for_copies():
    x = torch.randn(50, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert metrics_spread(x, x) == pytest.approx(1.0)
    assert metrics_spread(x[:1].expand(10, -1, -1, -1), x) == 0.0
    assert metrics_spread(2 * x, x) == pytest.approx(2.0)


def metrics_spread(x, real):
    from ganlib.evaluate.metrics import spread
    return spread(x, real)
