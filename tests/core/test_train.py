import pytest
import torch

from conftest import dcgan_pair, interrupted_and_resumed, judged_separately, params, same
from ganlib import (FitConfig, MLPDiscriminator, MLPGenerator, d_step, fit, g_step,
                    load_checkpoint, load_generator, make_adam, set_seed, train_step)
from ganlib.engine.checkpoint import CheckpointError


def mlp_pair(seed=0):
    set_seed(seed)
    G = MLPGenerator(nz=16, hidden=(32, 64))
    D = MLPDiscriminator(hidden=(64, 32), dropout=0.3)  # dropout: uses the global RNG
    return G, D, make_adam(G), make_adam(D)


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_d_step_never_moves_g(pair):
    G, D, og, od = pair()
    g0, d0 = params(G), params(D)
    real = torch.rand(8, 1, *G.sample(1).shape[2:]) * 2 - 1
    fake = G(torch.randn(8, G.nz)).detach()
    d_step(D, od, real, fake)
    assert same(params(G), g0)
    assert all(p.grad is None for p in G.parameters())
    assert not same(params(D), d0)


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_g_step_never_moves_d(pair):
    G, D, og, od = pair()
    g0, d0 = params(G), params(D)
    fake = G(torch.randn(8, G.nz))
    g_step(D, og, fake)
    assert same(params(D), d0)
    assert all(p.grad is None for p in D.parameters())  # no wasted weight gradients for D
    assert all(p.requires_grad for p in D.parameters())  # and D is unfrozen afterwards
    assert not same(params(G), g0)


def test_train_step_returns_detached_scalars():
    G, D, og, od = mlp_pair()
    stats = train_step(G, D, og, od, torch.rand(8, 1, 28, 28) * 2 - 1)
    assert set(stats) == {"loss_d", "loss_g", "d_real", "d_fake", "d_fake_after"}
    for v in stats.values():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
    assert 0 < stats["d_real"] < 1 and 0 < stats["d_fake"] < 1


def test_joint_and_separate_d_forward_agree_without_batchnorm():
    set_seed(0)
    D = MLPDiscriminator(hidden=(32,), dropout=0.0)
    real, fake = torch.randn(6, 1, 28, 28), torch.randn(6, 1, 28, 28)
    out = []
    for joint in (True, False):
        Dc = MLPDiscriminator(hidden=(32,), dropout=0.0)
        Dc.load_state_dict(D.state_dict())
        Dc = Dc if joint else judged_separately(Dc)
        loss, _, _ = d_step(Dc, torch.optim.SGD(Dc.parameters(), lr=0.1), real, fake)
        out.append((loss, params(Dc)))
    assert torch.allclose(out[0][0], out[1][0])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(out[0][1], out[1][1]))


def run_fit(pair, data, steps, **kw):
    G, D, og, od = pair()
    cfg = FitConfig(steps=steps, batch_size=16, progress=False, **kw)
    return G, D, fit(G, D, og, od, data, cfg)


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_same_seed_same_parameters(pair):
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    if pair is dcgan_pair:
        data = torch.randint(0, 256, (64, 1, 32, 32), dtype=torch.uint8)
    G1, D1, _ = run_fit(pair, data, 6)
    G2, D2, _ = run_fit(pair, data, 6)
    assert same(params(G1), params(G2)) and same(params(D1), params(D2))
    G3, _, _ = run_fit(lambda: pair(seed=1), data, 6)
    assert not same(params(G1), params(G3))


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_resume_is_bit_exact(pair, tmp_path):
    side = 28 if pair is mlp_pair else 32
    data = torch.randint(0, 256, (40, 1, side, side), dtype=torch.uint8)  # 2 batches/epoch
    n = 5  # odd: the checkpoint falls mid-epoch
    G_full, D_full, full = run_fit(pair, data, 2 * n, snapshot_every=2)
    path = str(tmp_path / "ck.pt")
    run_fit(pair, data, n, snapshot_every=2, checkpoint_path=path)
    # a fresh process would build fresh models from a different RNG state: simulate that
    G, D, og, od = pair(seed=123)
    cfg = FitConfig(steps=2 * n, batch_size=16, progress=False, snapshot_every=2,
                    checkpoint_path=path)
    resumed = fit(G, D, og, od, data, cfg)
    assert resumed.resumed_from == n
    assert same(params(G), params(G_full)) and same(params(D), params(D_full))
    assert same(list(G.buffers()), list(G_full.buffers()))  # BatchNorm running stats too
    assert resumed.history == full.history
    # the interrupted run also kept a snapshot at its last step, n
    steps = [s["step"] for s in resumed.snapshots]
    assert steps == sorted({s["step"] for s in full.snapshots} | {n})
    by_step = {s["step"]: s["samples"] for s in resumed.snapshots}
    assert all(torch.equal(by_step[s["step"]], s["samples"]) for s in full.snapshots)


def test_resume_refuses_a_different_model(tmp_path):
    data = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    path = str(tmp_path / "ck.pt")
    run_fit(mlp_pair, data, 2, checkpoint_path=path)
    G = MLPGenerator(nz=16, hidden=(32, 65))
    D = MLPDiscriminator(hidden=(64, 32), dropout=0.3)
    with pytest.raises(ValueError, match="delete it"):
        fit(G, D, make_adam(G), make_adam(D), data,
            FitConfig(steps=4, batch_size=16, progress=False, checkpoint_path=path))


def test_fit_epochs_snapshots_and_callback():
    data = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8)  # 3 full batches of 16
    G, D, og, od = mlp_pair()
    seen = []
    run = fit(G, D, og, od, data, FitConfig(epochs=2, batch_size=16, snapshot_every=4,
                                            sync_every=4, progress=False),
              callback=lambda step, stats: seen.append(step))
    assert run.step == 6 and seen == list(range(1, 7))
    assert run.history["step"] == list(range(1, 7))
    assert all(len(v) == 6 for v in run.history.values())
    assert [s["step"] for s in run.snapshots] == [0, 4, 6]
    assert run.snapshots[0]["samples"].dtype == torch.uint8
    assert run.fixed_noise.shape == (64, 16) and run.images_per_second > 0


def test_fit_needs_exactly_one_length():
    G, D, og, od = mlp_pair()
    for cfg in (FitConfig(), FitConfig(steps=2, epochs=1)):
        with pytest.raises(ValueError, match="exactly one"):
            fit(G, D, og, od, torch.zeros(16, 1, 28, 28), cfg)


def test_checkpoint_carries_everything_and_rebuilds_the_generator(tmp_path):
    data = torch.randint(0, 256, (32, 1, 32, 32), dtype=torch.uint8)
    path = tmp_path / "out" / "dcgan.pt"
    G, D, run = run_fit(dcgan_pair, data, 3, checkpoint_path=str(path))
    ckpt = load_checkpoint(path)  # weights_only=True inside
    assert {"generator", "discriminator", "opt_g", "opt_d", "rng", "step", "fixed_noise",
            "history", "snapshots", "config"} <= set(ckpt)
    assert ckpt["step"] == 3 and ckpt["config"]["batch_size"] == 16
    G2 = load_generator(path)
    assert G2.nz == 8 and not G2.training
    x = G2.sample(5, seed=0)
    assert x.shape == (5, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    G.eval()
    assert torch.equal(x, G.sample(5, seed=0))


def test_fast_path_flags_run_on_a_cpu():
    """bf16 autocast and channels_last are the CUDA defaults; forced on a CPU they still train."""
    data = torch.randint(0, 256, (32, 1, 32, 32), dtype=torch.uint8)
    G, D, og, od = dcgan_pair()
    run = fit(G, D, og, od, data, FitConfig(steps=3, batch_size=16, progress=False, amp=True,
                                            channels_last=True))
    assert all(torch.isfinite(torch.tensor(v)).all() for v in run.history.values())
    assert next(G.parameters()).dtype == torch.float32  # autocast never casts the weights
    conv = next(m for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_updates_one_player_only():
    data = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    for updates, frozen in (("d", "G"), ("g", "D")):
        G, D, og, od = mlp_pair()
        before = {"G": params(G), "D": params(D)}
        fit(G, D, og, od, data, FitConfig(steps=3, batch_size=16, progress=False, updates=updates))
        after = {"G": params(G), "D": params(D)}
        moved = "D" if frozen == "G" else "G"
        assert same(after[frozen], before[frozen]) and not same(after[moved], before[moved])
    with pytest.raises(ValueError, match="FitConfig.updates must be 'both', 'd' or 'g'"):
        fit(G, D, og, od, data, FitConfig(steps=3, batch_size=16, updates="both!"))


def checkpointed(tmp_path, steps=4, **kw):
    """A finished run's checkpoint, as a chapter leaves it in its out_dir."""
    data = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    path = str(tmp_path / "ck.pt")
    G, D, og, od = mlp_pair()
    fit(G, D, og, od, data, FitConfig(steps=steps, batch_size=16, progress=False,
                                      checkpoint_path=path, **kw), meta={"data": "digits"})
    return data, path


def test_resume_with_changed_settings_refuses_and_names_each_one(tmp_path):
    data, path = checkpointed(tmp_path)
    G, D, _, _ = mlp_pair(seed=5)
    og, od = make_adam(G, lr=0.01, betas=(0.9, 0.999)), make_adam(D)
    before = params(G)
    cfg = FitConfig(steps=8, batch_size=8, seed=1, progress=False, checkpoint_path=path)
    with pytest.raises(ValueError) as e:
        fit(G, D, og, od, data, cfg, meta={"data": "other digits", "max_images": 10})
    msg = str(e.value)
    assert "cannot resume from" in msg and "ck.pt" in msg and "6 setting(s) differ" in msg
    for line in ("FitConfig.batch_size: 16 -> 8", "FitConfig.seed: 0 -> 1",
                 "G's optimizer lr: 0.0002 -> 0.01",
                 "G's optimizer betas: (0.5, 0.999) -> (0.9, 0.999)",
                 "meta['data']: 'digits' -> 'other digits'",
                 "meta['max_images']: (not recorded) -> 10"):
        assert line in msg
    assert "D's optimizer" not in msg  # only what differs
    assert "fresh out_dir" in msg and "resume=False" in msg
    # refused before anything changed: the caller's model and optimizer are untouched
    assert same(params(G), before) and og.param_groups[0]["lr"] == 0.01
    assert load_checkpoint(path)["config"]["batch_size"] == 16  # nor the checkpoint


def test_resume_ignores_settings_that_do_not_change_what_is_trained(tmp_path):
    data, path = checkpointed(tmp_path)
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, data, FitConfig(steps=6, batch_size=16, progress=False,
                                            checkpoint_path=path, snapshot_every=1,
                                            sync_every=2, checkpoint_every=1),
              meta={"data": "digits"})
    assert run.resumed_from == 4 and run.step == 6


def test_resume_past_the_requested_total_refuses(tmp_path):
    data, path = checkpointed(tmp_path, steps=6)
    G, D, og, od = mlp_pair()
    with pytest.raises(ValueError, match=r"it holds 6 steps, but this run asks for 4 in all.*"
                                         r"fresh out_dir.*resume=False.*at least 6 steps"):
        fit(G, D, og, od, data, FitConfig(steps=4, batch_size=16, progress=False,
                                          checkpoint_path=path), meta={"data": "digits"})


def test_a_rerun_with_nothing_left_to_train_says_so_loudly(tmp_path, capsys):
    data, path = checkpointed(tmp_path)
    saved = load_generator(path)
    G, D, og, od = mlp_pair(seed=7)
    run = fit(G, D, og, od, data, FitConfig(steps=4, batch_size=16, progress=False,
                                            checkpoint_path=path), meta={"data": "digits"})
    err = capsys.readouterr().err
    assert "NO TRAINING IN THIS SESSION" in err and "already holds all 4 steps" in err
    assert "analyses that saved model, as of step 4" in err and "resume=False" in err
    assert run.step == 4 and run.resumed_from == 4 and run.images_per_second == 0
    assert same(params(G), params(saved))


def test_resume_from_a_truncated_checkpoint_names_it(tmp_path):
    data, path = checkpointed(tmp_path)
    with open(path, "r+b") as f:
        f.truncate(1000)
    G, D, og, od = mlp_pair()
    before = params(G)
    with pytest.raises(CheckpointError, match=r"ck.pt' is not a ganlib checkpoint, or it is "
                                              r"truncated.*delete it.*resume=False"):
        fit(G, D, og, od, data, FitConfig(steps=8, batch_size=16, progress=False,
                                          checkpoint_path=path))
    assert same(params(G), before)


@pytest.mark.parametrize("field,value", [("steps", 0), ("steps", -1), ("steps", 2.5),
                                         ("steps", True), ("epochs", "abc"), ("epochs", 0.5),
                                         ("batch_size", 0)])
def test_fit_rejects_a_step_total_that_is_not_a_positive_whole_number(field, value):
    G, D, og, od = mlp_pair()
    length = {} if field in ("steps", "epochs") else {"steps": 2}
    cfg = FitConfig(**{"batch_size": 16, "progress": False} | length | {field: value})
    with pytest.raises(ValueError, match=rf"FitConfig.{field} must be a whole number >= 1, "
                                         rf"got {value!r}"):
        fit(G, D, og, od, torch.zeros(32, 1, 28, 28), cfg)


def test_an_interrupted_snapshot_restores_the_training_modes():
    G, D, og, od = mlp_pair()

    def interrupted(G, D, noise):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(G, D, og, od, torch.zeros(32, 1, 28, 28),
            FitConfig(steps=2, batch_size=16, progress=False), snapshot_fn=interrupted)
    assert G.training and D.training


# ----------------------------------------------------------------------------- EMA, lr decay

def test_ema_with_decay_zero_is_the_raw_weights_and_otherwise_a_moving_average():
    from ganlib import ema_update

    G, _, _, _ = mlp_pair()
    avg = MLPGenerator(nz=16, hidden=(32, 64))
    before = params(avg)
    ema_update(avg, G, 0.0)
    assert same(params(avg), params(G))
    avg.load_state_dict(dict(zip(avg.state_dict(), before)))
    ema_update(avg, G, 0.9)  # closed form: 0.9 * old + 0.1 * new
    assert all(torch.allclose(a, 0.9 * b + 0.1 * g)
               for a, b, g in zip(params(avg), before, params(G)))
    # the warm-up: at step 0 the decay is min(0.999, 1/10)
    avg.load_state_dict(dict(zip(avg.state_dict(), before)))
    ema_update(avg, G, 0.999, step=0)
    assert all(torch.allclose(a, 0.1 * b + 0.9 * g)
               for a, b, g in zip(params(avg), before, params(G)))


def test_linear_lr_decay_falls_to_zero_at_the_last_step():
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    G, D, og, od = mlp_pair()
    lrs = []
    fit(G, D, og, od, data, FitConfig(steps=4, batch_size=16, progress=False, lr_decay="linear"),
        callback=lambda step, stats: lrs.append((og.param_groups[0]["lr"],
                                                 od.param_groups[0]["lr"])))
    assert lrs == [(2e-4 * f, 2e-4 * f) for f in (1.0, 0.75, 0.5, 0.25)]
    with pytest.raises(ValueError, match="lr_decay must be 'none' or 'linear', got 'cosine'"):
        fit(G, D, og, od, data, FitConfig(steps=4, batch_size=16, lr_decay="cosine"))


def test_ema_generator_is_what_snapshots_and_load_generator_show(tmp_path):
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    G, D, og, od = mlp_pair()
    path = tmp_path / "ck.pt"
    run = fit(G, D, og, od, data, FitConfig(steps=6, batch_size=16, progress=False, ema=0.9,
                                            checkpoint_path=str(path)))
    assert run.G_ema is not None and not same(params(run.G_ema), params(G))
    z = run.fixed_noise
    with torch.no_grad():
        want = run.G_ema(z).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(run.snapshots[-1]["samples"], want)
    assert same(params(load_generator(path)), params(run.G_ema))
    ckpt = load_checkpoint(path)
    assert same(list(ckpt["generator_raw"]["state"].values()), params(G))


def test_resume_after_a_kill_is_bit_exact_with_ema_and_lr_decay(tmp_path):
    data = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    kw = dict(steps=8, batch_size=16, progress=False, ema=0.9, lr_decay="linear",
              snapshot_every=2)
    G_full, D_full, og, od = mlp_pair()
    full = fit(G_full, D_full, og, od, data, FitConfig(**kw))
    cfg = FitConfig(**kw, checkpoint_every=4, checkpoint_path=str(tmp_path / "ck.pt"))
    resumed, G, D = interrupted_and_resumed(mlp_pair, data, cfg, at=6)
    assert resumed.resumed_from == 6
    assert same(params(G), params(G_full)) and same(params(D), params(D_full))
    assert same(params(resumed.G_ema), params(full.G_ema))
    assert og.param_groups[0]["lr"] == pytest.approx(2e-4 / 8)


def test_max_seconds_ends_the_run_early_with_its_snapshot_and_checkpoint(tmp_path, monkeypatch):
    import time

    clock = iter(range(1000))  # every call to the clock advances it by one "second"
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    G, D, og, od = mlp_pair()
    path = tmp_path / "ck.pt"
    run = fit(G, D, og, od, data, FitConfig(steps=100, batch_size=16, progress=False,
                                            max_seconds=3, checkpoint_path=str(path)))
    assert 1 <= run.step < 100
    assert run.snapshots[-1]["step"] == run.step and load_checkpoint(path)["step"] == run.step


# ----------------------------------------------------------------------------- DiffAugment

def test_fit_with_augment_trains_otherwise_and_resumes_exactly(tmp_path):
    data = torch.randint(0, 256, (40, 1, 32, 32), dtype=torch.uint8)
    kw = {"augment": "translation,cutout,color", "snapshot_every": 2}
    G_plain, _, _ = run_fit(dcgan_pair, data, 6, snapshot_every=2)
    G_full, D_full, full = run_fit(dcgan_pair, data, 6, **kw)
    assert not same(params(G_full), params(G_plain))
    path = str(tmp_path / "ck.pt")
    run_fit(dcgan_pair, data, 3, checkpoint_path=path, **kw)
    G, D, og, od = dcgan_pair(seed=123)
    resumed = fit(G, D, og, od, data, FitConfig(steps=6, batch_size=16, progress=False,
                                                checkpoint_path=path, **kw))
    assert resumed.resumed_from == 3 and resumed.history == full.history
    assert same(params(G), params(G_full)) and same(params(D), params(D_full))


def test_resume_refuses_another_augment_policy_and_fit_a_misspelt_one(tmp_path):
    data, path = checkpointed(tmp_path)  # trained without augmentation
    G, D, og, od = mlp_pair()
    with pytest.raises(ValueError, match=r"1 setting\(s\) differ.*\n  FitConfig.augment: '' -> "
                                         r"'translation'\n"):
        fit(G, D, og, od, data, FitConfig(steps=8, batch_size=16, progress=False,
                                          checkpoint_path=path, augment="translation"),
            meta={"data": "digits"})
    before = params(G)
    with pytest.raises(ValueError, match="unknown augmentation 'colour'"):
        fit(G, D, og, od, data, FitConfig(steps=2, batch_size=16, augment="colour"))
    assert same(params(G), before)


# ----------------------------------------------------------------------------- held-out D

class MeanLogit(torch.nn.Module):
    """A stand-in D whose logit is the image's mean pixel value: verdicts in closed form."""

    def forward(self, x):
        return x.flatten(1).mean(1)


class Constant(torch.nn.Module):
    nz = 3

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, z):
        return torch.full((len(z), 1, 4, 4), self.value)


def test_heldout_accuracy_in_closed_form():
    from ganlib import default_snapshot, with_heldout_accuracy

    heldout = torch.full((10, 1, 4, 4), 255, dtype=torch.uint8)  # uint8: all +1
    train = torch.cat([torch.full((3, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), -0.5)])
    snap = with_heldout_accuracy(default_snapshot, heldout, train, batch_size=3)
    out = snap(Constant(-0.25), MeanLogit(), torch.zeros(5, 3))
    s = torch.sigmoid(torch.tensor([1.0, 0.5, -0.5, -0.25])).tolist()
    assert out["d_heldout"] == pytest.approx(s[0]) and out["real_heldout"] == 1.0
    assert out["d_train"] == pytest.approx((3 * s[1] + s[2]) / 4) and out["real_train"] == 0.75
    assert out["d_fake"] == pytest.approx(s[3]) and out["real_fake"] == 0.0
    assert out["samples"].shape == (5, 1, 4, 4)  # the wrapped snapshot's keys stay
    assert "d_train" not in with_heldout_accuracy(default_snapshot, heldout)(
        Constant(0.0), MeanLogit(), torch.zeros(2, 3))


def test_heldout_accuracy_uses_the_same_subset_at_every_snapshot_through_fit():
    from ganlib import ImageData, default_snapshot, with_heldout_accuracy

    seen = []

    class Recording(MeanLogit):
        def forward(self, x):
            seen.append(x.sum().item())
            return super().forward(x)

    g = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 256, (50, 1, 4, 4), generator=g, dtype=torch.uint8)
    snap = with_heldout_accuracy(default_snapshot, ImageData(pool, None, "test"), n=8)
    D = Recording()
    snap(Constant(0.0), D, torch.zeros(2, 3))
    first, seen[:] = list(seen), []
    snap(Constant(0.0), D, torch.zeros(2, 3))
    assert seen == first
    # through fit, on a real pair: every snapshot has the verdicts, as shares in [0, 1]
    data = torch.randint(0, 256, (48, 1, 28, 28), dtype=torch.uint8)
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, data[:32], FitConfig(steps=4, batch_size=16, progress=False,
                                                 snapshot_every=2),
              snapshot_fn=with_heldout_accuracy(default_snapshot, data[32:], data[:32]))
    assert [s["step"] for s in run.snapshots] == [0, 2, 4]
    for s in run.snapshots:
        for k in ("heldout", "train", "fake"):
            assert 0 < s[f"d_{k}"] < 1 and 0 <= s[f"real_{k}"] <= 1


# ----------------------------------------------------------------------------- progress bar

def test_the_progress_bar_ends_on_the_runs_own_images_per_second(capsys):
    import re

    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, data, FitConfig(steps=5, batch_size=16, sync_every=2))
    final = capsys.readouterr().err.strip().split("\r")[-1]  # the bar as it was left
    assert f" {run.images_per_second:,.0f} img/s, loss_d=" in final
    assert len(re.findall(r"/s\b", final)) == 1  # and no second, smoothed rate
    assert f"loss_g={run.history['loss_g'][-1]:.3f}" in final and "80.0/80.0" in final


def test_g_step_leaves_a_layer_the_caller_froze_frozen():
    G, D, og, od = dcgan_pair()
    first = next(D.parameters())
    first.requires_grad_(False)  # e.g. a pretrained feature layer
    before = first.detach().clone()
    for _ in range(2):
        train_step(G, D, og, od, torch.rand(4, 1, 32, 32) * 2 - 1)
    assert not first.requires_grad and torch.equal(first, before)
    assert all(p.requires_grad for p in list(D.parameters())[1:])


def test_fit_stops_before_the_first_step_when_data_and_models_differ_in_size():
    """DCGAN models built for 32x32 on 64x64 images (D would give 25 logits per real image),
    and the MLP pair built for 28x28 on 32x32 images: both stop before any step."""
    G, D, og, od = dcgan_pair()  # 32x32, one channel
    calls = []
    with pytest.raises(ValueError, match="the data is 1×64×64, G makes 1×32×32: build the "
                                         "models with image_size=64 or resize the data"):
        fit(G, D, og, od, torch.randint(0, 256, (8, 1, 64, 64), dtype=torch.uint8),
            FitConfig(steps=1, batch_size=4, progress=False),
            callback=lambda step, stats: calls.append(step))
    G, D, og, od = mlp_pair()
    with pytest.raises(ValueError, match=r"the data is 1×32×32, G makes 1×28×28: build the "
                                         r"models with img_shape=\(1, 32, 32\)"):
        fit(G, D, og, od, torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8),
            FitConfig(steps=1, batch_size=4, progress=False),
            callback=lambda step, stats: calls.append(step))
    assert calls == [] and not og.state


def test_show_source_displays_every_object_it_is_given(monkeypatch):
    import IPython.display

    from ganlib import losses, show_source

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    assert show_source(losses.d_loss_hinge, losses.g_loss_hinge, FitConfig) is None
    assert len(shown) == 3 and all(b.data.startswith("```python\n") for b in shown)
    for block, head in zip(shown, ("def d_loss_hinge(", "def g_loss_score(", "class FitConfig:")):
        assert head in block.data
    with pytest.raises(TypeError, match="at least one"):
        show_source()


def test_a_paired_g_step_judges_reals_never_moves_d_and_asks_for_them():
    from ganlib import make_game
    G, D, og, od = mlp_pair()
    D.eval()  # no dropout: the loss below is computed from the same D
    game = make_game("relativistic")
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    g0, d0 = params(G), params(D)
    fake = G(torch.randn(8, G.nz))
    with pytest.raises(ValueError, match="pass the real batch"):
        g_step(D, og, fake, game)
    with torch.no_grad():
        want = torch.nn.functional.softplus(D(real) - D(fake)).mean()
    loss, _ = g_step(D, og, fake, game, real)
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    assert same(params(D), d0) and all(p.grad is None for p in D.parameters())
    assert not same(params(G), g0)


def test_rpgan_with_lazy_r1_and_r2_resumes_bit_exact(tmp_path):
    data = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    kw = dict(g_loss="relativistic", r1_weight=1.0, r2_weight=1.0, r1_every=2, ema=0.9)
    G_full, D_full, full = run_fit(mlp_pair, data, 6, **kw)
    path = str(tmp_path / "ck.pt")
    run_fit(mlp_pair, data, 3, checkpoint_path=path, **kw)
    G, D, og, od = mlp_pair(seed=5)
    resumed = fit(G, D, og, od, data, FitConfig(steps=6, batch_size=16, progress=False,
                                                 checkpoint_path=path, **kw))
    assert resumed.resumed_from == 3
    assert same(params(G), params(G_full)) and same(params(D), params(D_full))
    assert resumed.history == full.history
    # R2 is part of the run: without it the same seed trains another D
    G2, D2, _ = run_fit(mlp_pair, data, 6, **(kw | {"r2_weight": 0.0}))
    assert not same(params(D2), params(D_full))
