"""The benchmarks run end to end (their figures are committed by real runs, not checked here:
no assertion below reads a wall-clock threshold), and the arithmetic behind them is right."""

import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ganlib.bench import precision, speed, timing
from ganlib.book.presets import MNIST_PRESETS
from ganlib.steps import make_adam, train_step
from ganlib.utils import fast_bf16

CPU = torch.device("cpu")


def numbers(tree):
    """Every int and float in a JSON tree (bools are not numbers here)."""
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in numbers(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in numbers(v)]
    return [tree] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


@pytest.mark.slow
def test_speed_bench_reports_both_sides(tmp_path):
    out = tmp_path / "speed.json"
    res = speed.main(["--models", "mlp", "--steps", "3", "--warmup", "1", "--rounds", "1",
                      "--device", "cpu", "--json", str(out)])
    mlp = json.loads(out.read_text())["models"]["mlp"]
    assert mlp["ganlib"] > 0 and mlp["classic"] > 0 and res["models"]["mlp"]["steps"] == 3


@pytest.mark.slow
def test_speed_bench_has_dcgan_rows_for_the_classic_loop_fp32_and_the_adopted_setting(tmp_path):
    out = tmp_path / "speed.json"
    speed.main(["--models", "dcgan", "--steps", "1", "--warmup", "1", "--rounds", "1",
                "--device", "cpu", "--json", str(out)])
    rows = json.loads(out.read_text())["models"]["dcgan"]
    for name in ("classic", "ganlib_fp32", "ganlib"):
        assert rows[name]["img_per_s"] > 0 and rows[name]["gflop_per_s"] > 0
        assert 0 < rows[name]["fraction_of_matmul"]
    assert "bf16" in rows["ganlib"]["what"] if fast_bf16(CPU) else "fp32" in rows["ganlib"]["what"]
    assert rows["ratio"] == rows["ganlib"]["img_per_s"] / rows["classic"]["img_per_s"]


@pytest.mark.slow
def test_quality_bench_trains_and_scores_every_contender(tmp_path, capsys):
    out = tmp_path / "quality.json"
    speed.main(["--quality", "--seconds", "1", "--classifier-epochs", "1", "--device", "cpu",
                "--json", str(out)])
    res = json.loads(out.read_text())
    assert set(res["contenders"]) == {"classic-64", "classic-128", "dropout", "book"}
    for name, c in res["contenders"].items():
        assert c["steps"] >= 1 and c["distance"] > 0 and 0 <= c["classes"] <= 10
        # the budget, not the step cap, ended training: the training time the run measured
        # itself (steps x batch / img/s) covers the 1-s budget
        assert c["steps"] < 10**9
        assert c["steps"] * MNIST_PRESETS[name]["batch_size"] / c["img_per_s"] >= 1.0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("book: steps ") and "classes " in line for line in lines)

    # one row rerun: the file keeps the other rows and gets that one replaced, dated
    before = json.loads(out.read_text())
    speed.main(["--quality", "--seconds", "1", "--classifier-epochs", "1", "--device", "cpu",
                "--contenders", "book", "--json", str(out)])
    after = json.loads(out.read_text())
    assert list(after["contenders"]) == list(before["contenders"])
    assert after["contenders"]["dropout"] == before["contenders"]["dropout"]
    assert after["contenders"]["book"]["date"] and after["contenders"]["book"] != before[
        "contenders"]["book"]


def test_interleave_takes_turns_and_keeps_each_contenders_results():
    calls = []
    res = timing.interleave({"a": lambda: calls.append("a") or len(calls),
                             "b": lambda: calls.append("b") or 10 * len(calls)}, rounds=3)
    assert calls == ["a", "b"] * 3
    assert res == {"a": [1, 3, 5], "b": [20, 40, 60]}
    assert timing.medians(res) == {"a": 3, "b": 40}


@pytest.mark.parametrize("size", ["ch3-32", "ch3-64"])
def test_train_flops_per_image_is_what_the_step_computes(size):
    """3g + 8d - 2 d1 - g1 multiply-adds per image (ganlib.bench.precision's docstring), checked
    against torch's FLOP counter on one real train_step at narrow widths."""
    shape = dict(precision.SIZES[size][0], ngf=8, ndf=4)
    G, D = precision.models(shape, CPU)
    batch = 3
    real = torch.rand(batch, shape["nc"], shape["image_size"], shape["image_size"]) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        train_step(G, D, make_adam(G), make_adam(D), real)
    assert counter.get_total_flops() == batch * precision.train_flops_per_image(G, D)


def test_cpu_peak_from_the_flags_and_the_clock(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "CPUFREQ_MAX", tmp_path / "none")  # as on a VM
    intel = {"vendor_id": "GenuineIntel", "cpu family": "6", "cpu MHz": "2000.000",
             "flags": "fma avx2 avx512f avx512_bf16 amx_bf16"}
    p = precision.cpu_peak(intel, cores=4)
    assert (p["fp32_flops_per_cycle"], p["bf16_flops_per_cycle"]) == (64, 1024)
    assert p["ghz_source"] == "/proc/cpuinfo cpu MHz"
    assert math.isclose(p["peak_fp32"], 4 * 2.0e9 * 64)
    zen4 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "bogomips": "5192.30",
            "flags": "fma avx2 avx512f avx512_bf16"}
    p = precision.cpu_peak(zen4, cores=2)
    assert (p["fp32_flops_per_cycle"], p["bf16_flops_per_cycle"]) == (32, 64)
    assert "BogoMIPS" in p["ghz_source"] and math.isclose(p["ghz"], 2.59615)
    avx2 = {"flags": "fma avx2", "cpu MHz": "3000"}
    p = precision.cpu_peak(avx2, cores=1)
    assert p["fp32_flops_per_cycle"] == 32 and p["peak_bf16"] is None
    p = precision.cpu_peak(avx2, ghz=1.5, cores=2, flops_per_cycle=(16, 48))
    assert p["ghz_source"] == "given" and math.isclose(p["peak_bf16"], 2 * 1.5e9 * 48)
    assert precision.cpu_peak({}, cores=1)["peak_fp32"] is None  # no clock known: no peak


@pytest.mark.slow
def test_precision_bench_writes_every_setting(tmp_path, monkeypatch):
    out = tmp_path / "precision.json"
    speed.main(["--precision", "--sizes", "ch3-32", "--steps", "1", "--warmup", "1",
                "--rounds", "2", "--device", "cpu", "--ghz", "2.0", "--json", str(out)])
    res = json.loads(out.read_text())
    rows = res["sizes"]["ch3-32"]["settings"]
    assert list(rows) == list(precision.SETTINGS)
    timed = [s for s, r in rows.items() if "skipped" not in r]
    assert ("bf16" in timed) == fast_bf16(CPU) and "fp32" in timed and "channels_last" in timed
    assert rows["fp32"]["ratio_to_fp32"] == 1.0
    for s in timed:
        assert len(rows[s]["seconds"]) == 2 and 0 < rows[s]["fraction_of_peak"]
    assert all(x > 0 for x in numbers({s: rows[s] for s in timed}))
    assert res["sizes"]["ch3-32"]["gflop_per_image"] > 0 and res["peak"]["ghz"] == 2.0

    # where bf16 would be emulated, its settings are reported as skipped, never timed
    monkeypatch.setattr(precision, "fast_bf16", lambda device: False)
    rows = precision.run(CPU, ["ch3-32"], steps=1, warmup=1, rounds=1)["sizes"]["ch3-32"]
    assert {s for s, r in rows["settings"].items() if "skipped" in r} == {
        "bf16", "bf16+channels_last"}


def test_profile_groups_the_operators():
    assert precision.group_of("aten::mkldnn_convolution") == "convolutions"
    assert precision.group_of("aten::convolution_backward") == "convolutions"
    assert precision.group_of("NativeBatchNormBackward0") == "batchnorm"
    assert precision.group_of("aten::_fused_adam_") == "optimizer (Adam)"
    assert precision.group_of("aten::leaky_relu_backward") == "activations/elementwise"
    assert precision.group_of("aten::_to_copy") == "copies and casts"
    assert precision.group_of("aten::randn") == "data/other"
    res = precision.profile(CPU, steps=1, warmup=1, size="ch3-32", top=3)
    assert "fp32" in res and "channels_last" in res
    for r in res.values():
        assert math.isclose(sum(r["groups"].values()), 1.0) and len(r["top"]) == 3
        assert r["groups"]["convolutions"] > 0 and all(ms > 0 for _, _, ms in r["top"])


def test_gpu_figures_run_on_the_cpu_and_write_their_record(tmp_path):
    out = tmp_path / "gpu.json"
    speed.main(["--gpu", "--device", "cpu", "--image-size", "32", "--width", "8",
                "--batch-size", "8", "--steps", "2", "--warmup", "1", "--rounds", "1",
                "--json", str(out)])
    res = json.loads(out.read_text())
    assert set(res) >= {"device", "torch", "date", "model", "settings", "steps", "ganlib_img_per_s",
                        "classic_img_per_s", "ratio", "celeba_epoch"}
    assert res["model"] == {"image_size": 32, "ngf": 8, "ndf": 8, "nc": 3, "batch_size": 8}
    assert res["settings"]["channels_last"] is True and res["settings"]["compile"] is False
    epoch = res["celeba_epoch"]
    assert epoch["images"] == 202_599 and "extrapolated" in epoch["method"]
    assert epoch["images_in_memory"] == 8 * (2 + 1 + 1)  # only what the steps use, off a GPU
    assert all(x > 0 for x in numbers(res))
