"""Chapter 5's FitConfig options in the one fit loop: n_critic, the games and penalties,
instance noise, TTUR, the best-score checkpoint; and that each resumes exactly or is refused."""

import math

import pytest
import torch

from conftest import dcgan_pair, interrupted_and_resumed, params, same
from ganlib import (FitConfig, MLPDiscriminator, MLPGenerator, TensorBatches, d_step, fit,
                    g_step, load_checkpoint, load_generator, make_adam, set_seed,
                    with_instance_noise)
from ganlib.engine.checkpoint import save_checkpoint
from ganlib.engine.resume import best_path


def mlp_pair(seed=0, lr_g=2e-4, lr_d=2e-4):
    set_seed(seed)
    G = MLPGenerator(nz=8, hidden=(16, 32))
    D = MLPDiscriminator(hidden=(32, 16), dropout=0.3)  # dropout: uses the global RNG
    return G, D, make_adam(G, lr=lr_g), make_adam(D, lr=lr_d)


def sn_dcgan_pair(seed=0):
    return dcgan_pair(seed, spectral_norm=True)


def images(n=48, side=28, seed=0):  # 48 images: 3 batches of 16 per epoch
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, side, side), generator=g, dtype=torch.uint8)


def config(**kw):
    return FitConfig(**{"batch_size": 16, "progress": False} | kw)


def by_hand(n_critic, steps, data):
    """Algorithm 1 of Goodfellow et al. with k = n_critic, written out with d_step and g_step:
    each D update on the next batch (running on across epochs) against fresh fakes; G's
    update on the fakes of the last one."""
    G, D, og, od = mlp_pair()
    batches = TensorBatches(data, 16, seed=0)
    stream = (b for e in range(100) for b in batches.epoch(e))
    for _ in range(steps):
        for k in range(n_critic):
            real = next(stream)
            fake = G(torch.randn(len(real), G.nz))
            d_step(D, od, real, fake.detach())
        g_step(D, og, fake)
    return G, D


@pytest.mark.parametrize("n_critic", [1, 2])
def test_fit_is_algorithm_1_with_k_equal_to_n_critic_bit_for_bit(n_critic):
    data = images()
    G_want, D_want = by_hand(n_critic, 4, data)  # 4 steps of 2: the batches cross epochs
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, data, config(steps=4, n_critic=n_critic))
    assert same(params(G), params(G_want)) and same(params(D), params(D_want))
    assert run.step == 4 and len(run.history["loss_d"]) == 4
    d_updates = od.state[next(iter(D.parameters()))]["step"]
    g_updates = og.state[next(iter(G.parameters()))]["step"]
    assert (d_updates, g_updates) == (4 * n_critic, 4)


def test_an_epoch_has_len_over_n_critic_steps():
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, images(), config(epochs=2, n_critic=2))  # 2 * 3 batches / 2
    assert run.step == 3
    with pytest.raises(ValueError, match="fewer batches than the 4 D updates"):
        fit(G, D, og, od, images(), config(epochs=1, n_critic=4))
    with pytest.raises(ValueError, match="n_critic must be a whole number >= 1"):
        fit(G, D, og, od, images(), config(steps=2, n_critic=0))


@pytest.mark.parametrize("game", ["hinge", "wasserstein"])
def test_the_other_games_train_and_refuse_bad_settings(game):
    G, D, og, od = mlp_pair()
    g0 = params(G)
    run = fit(G, D, og, od, images(), config(steps=3, g_loss=game, gp_weight=1.0, r1_weight=1.0))
    assert not same(params(G), g0)
    assert all(math.isfinite(v) for k in ("loss_d", "loss_g") for v in run.history[k])
    with pytest.raises(ValueError, match="gp_weight must be >= 0"):
        fit(G, D, og, od, images(), config(steps=2, g_loss=game, gp_weight=-1.0))
    with pytest.raises(ValueError, match="loss must be one of"):
        fit(G, D, og, od, images(), config(steps=2, g_loss="wgan"))
    with pytest.raises(ValueError, match="torch.compile does not support"):
        fit(G, D, og, od, images(), config(steps=2, g_loss=game, r1_weight=1.0, compile=True))


def test_instance_noise_comes_after_augmentation_with_the_given_std():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 32, 32)
    assert with_instance_noise(None, 0.0) is None
    assert with_instance_noise(torch.neg, 0) is torch.neg
    # an augmentation that blanks the image tells the orders apart: noise added after it
    # survives (std 0.5), noise added before it would be blanked too (all zeros)
    noisy = with_instance_noise(torch.zeros_like, 0.5)(x)
    assert abs(noisy.mean().item()) < 0.01 and noisy.std().item() == pytest.approx(0.5, rel=0.02)


def test_instance_noise_falls_linearly_to_zero_over_the_run(monkeypatch):
    import ganlib.train as train

    stds = []

    def recording(augment, std):
        stds.append(std)
        return with_instance_noise(augment, std)

    monkeypatch.setattr(train, "with_instance_noise", recording)
    G, D, og, od = mlp_pair()
    fit(G, D, og, od, images(), config(steps=4, instance_noise=0.2))
    assert stds == pytest.approx([0.2, 0.15, 0.1, 0.05])


def test_ttur_keeps_each_players_learning_rate_and_its_schedule():
    G, D, og, od = mlp_pair(lr_g=1e-4, lr_d=4e-4)
    lrs = []
    fit(G, D, og, od, images(), config(steps=2, lr_decay="linear"),
        callback=lambda step, stats: lrs.append((og.param_groups[0]["lr"],
                                                 od.param_groups[0]["lr"])))
    assert lrs == [(1e-4, 4e-4), (0.5e-4, 2e-4)]


# ----------------------------------------------------------------------------- resume

@pytest.mark.parametrize("pair,kw", [
    (mlp_pair, dict(n_critic=2, gp_weight=10.0, instance_noise=0.3, g_loss="wasserstein")),
    (sn_dcgan_pair, dict(n_critic=2, r1_weight=1.0, gp_weight=1.0, instance_noise=0.1,
                         g_loss="hinge", augment="translation,cutout", ema=0.9)),
])
def test_a_resumed_run_with_the_new_options_equals_an_uninterrupted_one(tmp_path, pair, kw):
    data = images(side=32 if pair is sn_dcgan_pair else 28)
    kw = dict(steps=6, snapshot_every=2, **kw)
    G_full, D_full, og, od = pair()
    full = fit(G_full, D_full, og, od, data, config(**kw))
    cfg = config(**kw, checkpoint_every=3, checkpoint_path=str(tmp_path / "ck.pt"))
    resumed, G, D = interrupted_and_resumed(pair, data, cfg, at=4)  # saved at 4, mid-epoch
    assert resumed.resumed_from == 4 and resumed.history == full.history
    assert same(params(G), params(G_full)) and same(params(D), params(D_full))
    assert same(list(D.buffers()), list(D_full.buffers()))  # spectral norm's u, v too


def test_resume_refuses_another_n_critic_or_gp_weight(tmp_path):
    path = str(tmp_path / "ck.pt")
    G, D, og, od = mlp_pair()
    fit(G, D, og, od, images(), config(steps=2, checkpoint_path=path))
    G, D, og, od = mlp_pair()
    with pytest.raises(ValueError, match=r"2 setting\(s\) differ.*\n  FitConfig.gp_weight: 0.0 "
                                         r"-> 10.0\n  FitConfig.n_critic: 1 -> 2\n"):
        fit(G, D, og, od, images(), config(steps=4, checkpoint_path=path, n_critic=2,
                                           gp_weight=10.0))


def test_a_checkpoint_from_before_the_new_options_still_resumes(tmp_path):
    path = tmp_path / "ck.pt"
    G, D, og, od = mlp_pair()
    fit(G, D, og, od, images(), config(steps=2, checkpoint_path=str(path)))
    ckpt = load_checkpoint(path)
    for name in ("gp_weight", "r1_weight", "n_critic", "instance_noise"):
        del ckpt["config"][name]  # as chapters 1-3 wrote them
    save_checkpoint(ckpt, path)
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, images(), config(steps=3, checkpoint_path=str(path)))
    assert run.resumed_from == 2 and run.step == 3


# ----------------------------------------------------------------------------- best checkpoint

def scripted(scores, seen):
    """A score_fn returning `scores` in turn, keeping the parameters of each G it scores."""
    scores = iter(scores)

    def score_fn(G):
        assert not G.training and not torch.is_grad_enabled()
        seen.append(params(G))
        return next(scores)

    return score_fn


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_the_best_file_holds_the_generator_of_the_best_scoring_snapshot(tmp_path, ema):
    path = tmp_path / "ck.pt"
    seen = []
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, images(), config(steps=8, snapshot_every=2, ema=ema,
                                             checkpoint_path=str(path)),
              score_fn=scripted([5.0, 3.0, math.nan, 1.0, 2.0], seen))
    assert [(s["step"], s["score"]) for s in run.snapshots][:2] == [(0, 5.0), (2, 3.0)]
    assert [s["score"] for s in run.snapshots][3:] == [1.0, 2.0]
    best = load_checkpoint(best_path(path))
    assert best_path(path).name == "ck_best.pt" and (best["step"], best["score"]) == (6, 1.0)
    assert same(params(load_generator(best_path(path))), seen[3])  # step 6's generator
    assert same(seen[-1], params(G if ema == 0 else run.G_ema))  # the sampled one: EMA if on


def test_a_resumed_run_keeps_the_best_score_to_beat(tmp_path):
    path = tmp_path / "ck.pt"
    G, D, og, od = mlp_pair()
    fit(G, D, og, od, images(), config(steps=4, snapshot_every=2, checkpoint_path=str(path)),
        score_fn=scripted([5.0, 3.0, 4.0], []))
    G, D, og, od = mlp_pair()
    fit(G, D, og, od, images(), config(steps=8, snapshot_every=2, checkpoint_path=str(path)),
        score_fn=scripted([4.5, 3.5], []))  # steps 6 and 8: neither beats step 2's 3.0
    assert load_checkpoint(best_path(path))["step"] == 2


def test_score_every_scores_at_its_steps_and_the_last_and_keeps_dict_scores():
    calls = iter(range(100))
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, images(), config(steps=7, snapshot_every=1, score_every=3),
              score_fn=lambda G: {"score": float(next(calls)), "kid_std": 0.5})
    scored = [(s["step"], s["score"], s["kid_std"]) for s in run.snapshots if "score" in s]
    assert scored == [(0, 0.0, 0.5), (3, 1.0, 0.5), (6, 2.0, 0.5), (7, 3.0, 0.5)]
    assert len(run.snapshots) == 8  # every step's snapshot is still taken
    G, D, og, od = mlp_pair()  # scoring steps that are not snapshot steps take one
    run = fit(G, D, og, od, images(), config(steps=4, snapshot_every=0, score_every=2),
              score_fn=lambda G: 1.0)
    assert [s["step"] for s in run.snapshots] == [0, 2, 4]


def test_a_dict_score_without_its_score_entry_says_what_it_needs():
    G, D, og, od = mlp_pair()
    with pytest.raises(ValueError, match=r"must give the number to minimise as its 'score' "
                                         r"entry; got the keys \['fid'\]"):
        fit(G, D, og, od, images(), config(steps=2), score_fn=lambda G: {"fid": 1.0})


@pytest.mark.parametrize("name", ["score_every", "snapshot_every", "checkpoint_every"])
def test_negative_or_fractional_intervals_are_refused(name):
    G, D, og, od = mlp_pair()
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match=rf"FitConfig.{name} must be a whole number >= 0, "
                                             rf"got {bad}"):
            fit(G, D, og, od, images(), config(steps=2, **{name: bad}))


@pytest.mark.parametrize("penalty", ["gp_weight", "r1_weight"])
def test_gradient_penalties_refuse_a_batchnorm_discriminator(penalty):
    G, D, og, od = dcgan_pair()
    with pytest.raises(ValueError, match="this D mixes the images of a batch.*spectral_norm=True"):
        fit(G, D, og, od, images(side=32), config(steps=1, **{penalty: 1.0}))
    G, D, og, od = sn_dcgan_pair()  # SN-DCGAN: no BatchNorm, so the penalty is what it says
    fit(G, D, og, od, images(side=32), config(steps=1, **{penalty: 1.0}))


def test_r1_trains_a_dcgan_d_without_batchnorm_and_refuses_a_minibatch_std_d():
    from ganlib import DCGANDiscriminator, DCGANGenerator

    def pair(**d_options):
        set_seed(0)
        G = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=32)
        D = DCGANDiscriminator(ndf=4, nc=1, image_size=32, **d_options)
        return G, D, make_adam(G), make_adam(D)

    run = fit(*pair(batchnorm=False), images(side=32), config(steps=2, r1_weight=1.0))
    assert run.step == 2
    with pytest.raises(ValueError, match="minibatch standard deviation"):
        fit(*pair(batchnorm=False, minibatch_std=True), images(side=32),
            config(steps=1, r1_weight=1.0))


def test_a_minibatch_std_d_sees_real_and_fake_in_separate_passes():
    """D's verdict on the reals in its update is D(reals) alone: fakes in the same pass would
    change the group statistics."""
    set_seed(0)
    D = MLPDiscriminator(img_shape=(1, 8, 8), hidden=(8,), dropout=0.0, minibatch_std=True)
    real, fake = torch.rand(8, 1, 8, 8), torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        alone = D(real)
    _, real_logits, _ = d_step(D, make_adam(D), real, fake)
    assert torch.allclose(real_logits, alone)
