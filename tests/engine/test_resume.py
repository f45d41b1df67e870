"""Resuming across what may change between sessions: the memory layout (a GPU checkpoint
resumed on a CPU), the GPUs and processes, and settings that FitConfig alone does not show;
and that every check happens before a checkpoint touches the caller's models."""

import copy

import pytest
import torch

from conftest import dcgan_pair, params, same
from ganlib import (FitConfig, MLPDiscriminator, MLPGenerator, TensorBatches, fit,
                    load_checkpoint, make_adam, resume, set_seed)
from ganlib.engine.checkpoint import save_checkpoint
from ganlib.engine.resume import match_param_layouts

CL = torch.channels_last


def images(n=32, side=32):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, side, side), generator=g, dtype=torch.uint8)


def config(**kw):
    return FitConfig(**{"batch_size": 8, "progress": False} | kw)


# ----------------------------------------------------------------------------- layouts

def test_fused_adam_steps_a_channels_last_parameter_with_its_own_moments():
    """The bug in isolation: Adam's moments saved in NCHW order, loaded for a channels_last
    parameter. With the layouts matched, the update is the NCHW update, bit for bit."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 2, 3, 3))
    grads = [torch.randn(4, 2, 3, 3) for _ in range(3)]
    ref = torch.optim.Adam([w], lr=0.1, fused=True)
    for g in grads[:2]:
        w.grad = g.clone()
        ref.step()
    saved = copy.deepcopy(ref.state_dict())  # moments in NCHW order, as a checkpoint has them
    w_cl = torch.nn.Parameter(w.detach().clone().contiguous(memory_format=CL))
    opt = torch.optim.Adam([w_cl], lr=0.1, fused=True)
    opt.load_state_dict(saved)
    match_param_layouts(opt)
    assert all(v.stride() == w_cl.stride() for v in opt.state[w_cl].values() if v.dim() == 4)
    w.grad, w_cl.grad = grads[2].clone(), grads[2].clone().contiguous(memory_format=CL)
    ref.step()
    opt.step()
    assert torch.equal(w_cl.detach(), w.detach())


@pytest.mark.parametrize("first,then", [(False, True), (True, False)])
def test_a_resume_that_changes_channels_last_continues_the_saved_run(tmp_path, first, then):
    """A checkpoint written in one layout, resumed in the other, equals the same resume from
    a copy of the checkpoint whose Adam moments were already laid out as the parameters will
    be (the layout-safe reference), bit for bit. The step count is odd, so the checkpoint
    falls mid-epoch."""
    data, path, ref_path = images(), tmp_path / "ck.pt", tmp_path / "ref.pt"
    def pair(seed=0):  # lr 1e-2: a wrong update shows, it does not hide in rounding
        G, D, og, od = dcgan_pair(seed)
        og.param_groups[0]["lr"] = od.param_groups[0]["lr"] = 1e-2
        return G, D, og, od

    G, D, og, od = pair()
    fit(G, D, og, od, data, config(steps=3, checkpoint_path=str(path), channels_last=first))
    ckpt = load_checkpoint(path)
    for key in ("opt_g", "opt_d"):
        for state in ckpt[key]["state"].values():
            for name, v in state.items():
                if v.dim() == 4:
                    state[name] = v.contiguous(memory_format=CL if then else
                                               torch.contiguous_format)
    save_checkpoint(ckpt, ref_path)

    def resumed(p):
        G, D, og, od = pair(seed=7)
        fit(G, D, og, od, data, config(steps=6, checkpoint_path=str(p), channels_last=then))
        return params(G) + params(D)

    assert same(resumed(path), resumed(ref_path))


def test_a_second_fit_in_another_layout_keeps_adams_moments_with_their_weights():
    """The same holds without a checkpoint: models and optimizers trained once in NCHW, then
    trained on with channels_last (a chapter that calls fit twice)."""
    G, D, og, od = dcgan_pair()
    fit(G, D, og, od, images(), config(steps=2, channels_last=False))
    fit(G, D, og, od, images(), config(steps=1, channels_last=True))
    for opt in (og, od):
        for p, state in opt.state.items():
            assert all(v.stride() == p.stride() for v in state.values() if v.dim() == 4)


# ----------------------------------------------------------------------------- random state

def test_snapshots_and_callbacks_that_draw_random_numbers_never_change_training():
    """Snapshots, score_fn and callbacks run on a forked random state: a run watched often,
    with functions that draw noise, trains exactly the run watched never."""
    def watched(**kw):
        set_seed(0)
        G = MLPGenerator(nz=8, hidden=(16,), img_shape=(1, 8, 8))
        D = MLPDiscriminator(img_shape=(1, 8, 8), hidden=(16,), dropout=0.3)
        data = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)
        fit(G, D, make_adam(G), make_adam(D), data, config(steps=6), **kw)
        return params(G) + params(D)

    quiet = watched()
    noisy = watched(snapshot_fn=lambda G, D, z: {"samples": G.sample(4), "r": torch.rand(3)},
                    score_fn=lambda G: float(G.sample(8).mean()),
                    callback=lambda step, stats: torch.randn(5))
    assert same(quiet, noisy)


class FakeCuda:
    """torch.cuda's random-state calls, recorded, for a machine without a GPU."""

    def __init__(self, monkeypatch, current=0):
        self.set = []
        monkeypatch.setattr(torch.cuda, "set_rng_state",
                            lambda state, device: self.set.append((state, device)))
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)


def test_each_process_restores_its_own_gpus_random_state(monkeypatch, capsys):
    cuda = FakeCuda(monkeypatch)
    states = [torch.full((4,), r, dtype=torch.uint8) for r in range(2)]
    rng = {"cpu": torch.get_rng_state(), "cuda_by_rank": states}
    resume.restore_rng(rng, torch.device("cuda", 1), rank=1)
    assert len(cuda.set) == 1 and torch.equal(cuda.set[0][0], states[1])
    resume.restore_rng(rng, torch.device("cuda", 0), rank=2)  # more processes than saved
    assert len(cuda.set) == 1
    assert "no CUDA random state for process 2 (it has 2)" in capsys.readouterr().err


def test_an_old_checkpoint_from_a_bigger_machine_restores_what_exists(monkeypatch, capsys):
    """Format 1 kept get_rng_state_all(): one state per visible GPU. A machine with fewer GPUs
    used to raise IndexError; now it restores its GPU's state if saved, else says so."""
    cuda = FakeCuda(monkeypatch)
    rng = {"cpu": torch.get_rng_state(), "cuda": [torch.zeros(4, dtype=torch.uint8)]}
    resume.restore_rng(rng, torch.device("cuda", 0))
    assert len(cuda.set) == 1
    resume.restore_rng(rng, torch.device("cuda", 3))
    assert len(cuda.set) == 1 and "no CUDA random state for GPU 3" in capsys.readouterr().err


def test_a_checkpoint_keeps_one_random_state_per_process(tmp_path):
    G, D, og, od = dcgan_pair()
    fit(G, D, og, od, images(), config(steps=1, checkpoint_path=str(tmp_path / "ck.pt")))
    rng = load_checkpoint(tmp_path / "ck.pt")["rng"]
    assert set(rng) == {"cpu", "cuda_by_rank"} and rng["cuda_by_rank"] == [None]


# ----------------------------------------------------------------------------- what ran

def checkpointed(tmp_path, data=None, **kw):
    G, D, og, od = dcgan_pair()
    path = str(tmp_path / "ck.pt")
    fit(G, D, og, od, images() if data is None else data,
        config(steps=2, checkpoint_path=path, **kw))
    return path


def test_resume_compares_the_autocast_a_run_resolved_not_the_none_it_was_given(tmp_path,
                                                                             monkeypatch):
    """FitConfig.amp=None means bf16 where it is native (a GPU, an AVX512-BF16 CPU) and
    float32 elsewhere: a run resumed on another machine has the same FitConfig but would
    train on in another precision."""
    import ganlib.utils

    monkeypatch.setattr(ganlib.utils, "fast_bf16", lambda device: True)
    path = checkpointed(tmp_path)
    ckpt = load_checkpoint(path)
    assert ckpt["config"]["amp"] is None and ckpt["ran"]["amp"] == "bfloat16"
    monkeypatch.setattr(ganlib.utils, "fast_bf16", lambda device: False)  # another CPU
    G, D, og, od = dcgan_pair()
    with pytest.raises(ValueError, match=r"what ran: amp: 'bfloat16' -> None"):
        fit(G, D, og, od, images(), config(steps=4, checkpoint_path=path))


def test_resume_compares_prebuilt_batches_which_fitconfig_does_not_describe(tmp_path):
    path = checkpointed(tmp_path, data=TensorBatches(images(), 8, seed=0))
    G, D, og, od = dcgan_pair()
    with pytest.raises(ValueError) as e:
        fit(G, D, og, od, TensorBatches(images(), 4, seed=1),
            config(steps=4, checkpoint_path=path))
    for line in ("what ran: batch_size: 8 -> 4", "what ran: data_seed: 0 -> 1",
                 "what ran: batches_per_epoch: 4 -> 8"):
        assert line in str(e.value)


def test_every_setting_is_checked_before_the_checkpoint_touches_the_models(tmp_path):
    path = checkpointed(tmp_path)
    G, D, og, od = dcgan_pair(seed=3)
    before = params(G) + params(D)
    with pytest.raises(ValueError, match="FitConfig.updates must be 'both', 'd' or 'g', got 'D'"):
        fit(G, D, og, od, images(), config(steps=4, checkpoint_path=path, updates="D"))
    assert same(params(G) + params(D), before) and not og.state


def test_fit_without_a_config_says_what_to_give():
    G, D, og, od = dcgan_pair()
    with pytest.raises(TypeError, match=r"fit needs a FitConfig saying how long to train, "
                                        r"e.g. FitConfig\(epochs=5\)"):
        fit(G, D, og, od, images())
    with pytest.raises(ValueError, match="give exactly one of FitConfig.epochs and "
                                         "FitConfig.steps"):
        fit(G, D, og, od, images(), FitConfig())


# ----------------------------------------------------------------------------- fast defaults

@pytest.mark.parametrize("native", [True, False])
def test_fit_picks_bf16_for_conv_models_only_where_it_is_native(tmp_path, monkeypatch, native):
    """On a CPU, FitConfig's None means channels_last for conv models, and bf16 autocast for
    them where bf16 is native; MLPs stay float32. Weights, Adam's moments and BatchNorm's
    statistics stay float32 under autocast."""
    import ganlib.train
    import ganlib.utils

    monkeypatch.setattr(ganlib.utils, "fast_bf16", lambda device: native)
    seen = []
    real_step = ganlib.train.train_step
    monkeypatch.setattr(ganlib.train, "train_step",
                        lambda *a: seen.append(a[-1].amp_dtype) or real_step(*a))
    G, D, og, od = dcgan_pair()
    fit(G, D, og, od, images(), config(steps=2))
    assert seen == [torch.bfloat16 if native else None] * 2
    assert next(G.parameters()).is_contiguous(memory_format=CL)
    tensors = [*G.parameters(), *D.parameters(), *G.buffers(), *D.buffers(),
               *(v for opt in (og, od) for st in opt.state.values() for v in st.values())]
    assert {t.dtype for t in tensors if t.is_floating_point()} == {torch.float32}
    seen.clear()
    set_seed(0)
    G = MLPGenerator(nz=8, hidden=(16,), img_shape=(1, 8, 8))
    D = MLPDiscriminator(img_shape=(1, 8, 8), hidden=(16,))
    fit(G, D, make_adam(G), make_adam(D), torch.zeros(16, 1, 8, 8), config(steps=1))
    assert seen == [None]


def test_resume_is_bit_exact_in_the_adopted_cpu_setting(tmp_path, monkeypatch):
    """bf16 autocast and channels_last (what a CPU with native bf16 picks): 2N steps in one go
    equal N steps, a checkpoint and N more, bit for bit."""
    import ganlib.utils

    monkeypatch.setattr(ganlib.utils, "fast_bf16", lambda device: True)
    data = images(n=40)  # 5 batches an epoch: the checkpoint falls mid-epoch

    def run(steps, path=None, seed=0):
        G, D, og, od = dcgan_pair(seed)
        fit(G, D, og, od, data, config(steps=steps, checkpoint_path=path and str(path)))
        return params(G) + params(D) + list(G.buffers()) + list(D.buffers())

    whole = run(6)
    run(3, tmp_path / "ck.pt")
    assert load_checkpoint(tmp_path / "ck.pt")["ran"]["amp"] == "bfloat16"
    assert same(run(6, tmp_path / "ck.pt", seed=9), whole)
