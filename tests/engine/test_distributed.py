"""Data-parallel training under torchrun, on the CPU: gloo, 2 processes (ganlib/engine/distributed.py,
`python -m ganlib.train_dcgan`).

Starting processes costs most of the time here, so there are three torchrun launches in all,
each shared by several tests (module-scoped fixtures):

* `steps`: this file run as a torchrun program (see the bottom): gradients of the D and G
  steps through DDP against one process on the global batch; the DCGAN pair's steps with
  BatchNorm; an MLP `fit` to compare with one process; a 2-process checkpoint.
* `cli_run`: `torchrun -m ganlib.train_dcgan` on a tiny DCGAN, killed (SIGKILL to the whole
  job) once it has written a checkpoint; then the same command again, which resumes.
The one-process references run inside pytest.
"""

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlib import (FitConfig, MLPDiscriminator, MLPGenerator, fit, load_checkpoint,
                    load_generator, make_adam, set_seed)
from ganlib.data.celeba import write_celeba_layout

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NZ, SHAPE = 8, (1, 6, 6)
STEPS, BATCH = 6, 16  # the MLP comparison: 6 steps of a global batch of 16 (8 per process)


def mlp_pair():
    """A G/D pair without BatchNorm or dropout: 2 processes must compute what 1 computes."""
    set_seed(0)
    G = MLPGenerator(nz=NZ, hidden=(16,), img_shape=SHAPE)
    D = MLPDiscriminator(img_shape=SHAPE, hidden=(16,), dropout=0.0)
    return G, D, make_adam(G), make_adam(D)


def images():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (64, *SHAPE), generator=g, dtype=torch.uint8)


def mlp_config(**kw):
    return FitConfig(**{"steps": STEPS, "batch_size": BATCH, "seed": 0, "progress": False,
                        "n_fixed": 4, "snapshot_every": 2, **kw})


def noisy_snapshot(G, D, fixed_noise):
    """A snapshot that draws random numbers (unseeded samples), which only rank 0 takes: it
    must not move the noise stream that every process draws the global batch's z from."""
    return {"samples": G.sample(2)}


def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                 "")]),
                OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def torchrun(args, nproc=2):
    # --standalone: a rendezvous on a free port, so parallel test runs never collide
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "--monitor-interval=0.1", *args]


def run_ok(cmd, timeout=180):
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=env(),
                         timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout + res.stderr


# ----------------------------------------------------------------------------- launch 1

@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps")
    run_ok(torchrun([str(Path(__file__)), str(out)]))
    return out


def close(a, b, tol=1e-5):
    return all(torch.allclose(x, y, rtol=tol, atol=tol) for x, y in zip(a, b))


def test_frozen_d_in_the_g_step_still_reduces_both_players_gradients(steps):
    """Three D-step/G-step rounds through DDP (a second round would raise "Expected to have
    finished reduction in the prior iteration" if the frozen-D pass left DDP waiting): D's
    gradients after the D step, and G's after the G step, equal one process's on the global
    batch, and the G step leaves D's gradients as they were."""
    for rank in (0, 1):
        r = json.loads((steps / f"grads{rank}.json").read_text())
        assert r["rounds"] == 3
        assert max(r["d_grad_err"]) < 1e-6, r
        assert max(r["g_grad_err"]) < 1e-6, r
        assert all(r["d_untouched_by_g_step"]), r
        assert r["params_err"] < 1e-5, r


def test_batchnorm_d_sees_real_then_fake_without_an_inplace_error(steps):
    """The DCGAN pair (BatchNorm in G and D) under DDP: D's two forward passes before one
    backward run, with DDP's buffer broadcast off (pytorch/pytorch#175024)."""
    for rank in (0, 1):
        r = json.loads((steps / f"bn{rank}.json").read_text())
        assert r == {"steps": 2, "buffer_sync": [False, False], "finite": True}, r


@pytest.fixture(scope="module")
def one_process():
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, images(), mlp_config(), snapshot_fn=noisy_snapshot)
    return G, D, run


def test_two_processes_with_half_batches_match_one_process(steps, one_process):
    G, D, run = one_process
    two = torch.load(steps / "fit0.pt", weights_only=True)
    assert close(G.state_dict().values(), two["G"].values())
    assert close(D.state_dict().values(), two["D"].values())
    for name in ("loss_d", "loss_g", "d_real", "d_fake"):  # averaged over the processes
        assert two["history"][name] == pytest.approx(run.history[name], rel=1e-5, abs=1e-6)


def test_parameters_are_identical_in_every_process(steps):
    a, b = (torch.load(steps / f"fit{r}.pt", weights_only=True) for r in (0, 1))
    for key in ("G", "D"):
        assert all(torch.equal(x, y) for x, y in zip(a[key].values(), b[key].values()))


def test_a_two_process_checkpoint_resumes_in_one_process_as_if_never_stopped(steps, tmp_path,
                                                                             one_process):
    """2 processes train 3 steps and save; 1 process resumes to 6: the same as 6 steps in one
    process (same batches, same noise, the same optimizer state), within float tolerance."""
    ckpt = steps / "mlp.pt"
    saved = load_checkpoint(ckpt)
    assert saved["step"] == 3 and saved["world_size"] == 2
    assert not any(k.startswith("module.") for k in saved["generator"]["state"])
    path = tmp_path / "mlp.pt"
    path.write_bytes(ckpt.read_bytes())
    G, D, og, od = mlp_pair()
    set_seed(123)  # the checkpoint's RNG state must take over
    run = fit(G, D, og, od, images(), mlp_config(checkpoint_path=str(path)))
    assert run.resumed_from == 3 and run.step == STEPS
    G1, D1, _ = one_process  # 6 steps in one go
    assert close(G.state_dict().values(), G1.state_dict().values())
    assert close(D.state_dict().values(), D1.state_dict().values())


# ----------------------------------------------------------------------------- launch 2, 3

CLI = ["-m", "ganlib.train_dcgan", "--dataset", "celeba", "--image-size", "32", "--ngf", "8",
       "--ndf", "8", "--batch-size", "8", "--max-images", "0", "--epochs", "1000",
       "--snapshot-every", "0", "--checkpoint-every", "1", "--no-progress"]


def descendants(pid):
    """The processes under `pid` (Linux /proc). torchrun starts each worker in a session of
    its own, so killing the agent's process group would leave the workers training."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A 2-process run of the command, killed with SIGKILL (agent and workers at once: a
    machine that dies) once it has saved step 3 or later, then started again with a step
    limit a few steps further."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("finding torchrun's workers to kill them needs Linux's /proc")
    tmp = tmp_path_factory.mktemp("cli")
    root, out = write_celeba_layout(tmp / "celeba", n=24), tmp / "out"
    args = CLI + ["--data-root", str(root), "--out-dir", str(out)]
    ckpt = out / "dcgan_celeba_32.pt"
    job = subprocess.Popen(torchrun(args + ["--max-steps", "0"]), cwd=ROOT, env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job.poll() is None:
            if ckpt.exists() and load_checkpoint(ckpt)["step"] >= 3:
                break
            time.sleep(0.2)
        assert job.poll() is None, job.stdout.read()[-3000:]  # it must still be training
    finally:
        for pid in [job.pid, *descendants(job.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        job.wait()
        job.stdout.close()
    killed_at = load_checkpoint(ckpt)["step"]
    first = torch.load(ckpt, weights_only=True)
    log = run_ok(torchrun(args + ["--max-steps", str(killed_at + 3)]))
    return {"args": args, "ckpt": ckpt, "killed_at": killed_at, "log": log, "first": first}


def test_the_command_trains_under_torchrun_and_leaves_a_checkpoint_that_loads(cli_run):
    ckpt = load_checkpoint(cli_run["ckpt"])
    assert ckpt["world_size"] == 2
    assert not any(k.startswith("module.") for k in ckpt["discriminator"]["state"])
    assert load_generator(cli_run["ckpt"]).sample(2, seed=0).shape == (2, 3, 32, 32)
    assert "G's and D's parameters identical in all 2 processes: True" in cli_run["log"]
    # on the CPU, SyncBatchNorm falls back to per-process statistics, and says so
    assert "note: SyncBatchNorm runs only on GPUs" in cli_run["log"]
    assert cli_run["log"].count("training on:") == 1  # rank 0 alone prints


def test_a_killed_run_resumes_from_its_last_checkpoint(cli_run):
    n = cli_run["killed_at"]
    assert f"resuming from {cli_run['ckpt']}" in cli_run["log"]
    assert f"{n + 3:,} steps" in cli_run["log"] and "3 of them in this session" in cli_run["log"]
    ckpt = load_checkpoint(cli_run["ckpt"])
    assert ckpt["step"] == n + 3
    assert ckpt["history"]["step"] == list(range(1, n + 4))  # one record per step, no gap


def test_the_command_resumes_a_two_process_checkpoint_in_one_process(cli_run, capsys):
    from ganlib import train_dcgan

    n = cli_run["killed_at"] + 3
    assert train_dcgan.main(cli_run["args"][2:] + ["--max-steps", str(n + 2)]) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "2 of them in this session" in printed
    assert load_checkpoint(cli_run["ckpt"])["step"] == n + 2


# ----------------------------------------------------------------------------- no launch

def test_help_lists_every_option(capsys):
    from ganlib.train_dcgan import CHAPTER, OWN, main, option

    with pytest.raises(SystemExit) as exit_:  # what `python -m ganlib.train_dcgan --help` prints
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name, kind, default, _ in CHAPTER + OWN:
        assert option(name) in text, name
        if kind is bool:
            assert f"--no-{name}" in text, name
    assert "torchrun" in text and "global batch" in text and "learning rate" in text


def test_the_options_are_chapter_3s_parameters():
    """Same names, types and defaults as book/03_dcgan.ipynb's parameters cell: a parameter
    added to the chapter must be added to the command (or to CHAPTER_ONLY, with a reason)."""
    from ganlib.train_dcgan import CHAPTER, CHAPTER_ONLY

    nb = json.loads((ROOT / "book" / "03_dcgan.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    namespace = {}
    exec("".join(cell["source"]), {}, namespace)  # the cell is plain typed assignments
    chapter = {k: v for k, v in namespace.items()
               if k not in CHAPTER_ONLY and not k.startswith("__")}
    assert {name: default for name, _, default, _ in CHAPTER} == chapter
    declared = re.findall(r"^(\w+): (\w+) =", "".join(cell["source"]), flags=re.MULTILINE)
    types = {name: kind.__name__ for name, kind, _, _ in CHAPTER}
    assert {n: t for n, t in declared if n not in CHAPTER_ONLY} == types


@pytest.mark.parametrize("argv, says", [
    (["--image-size", "48", "--lr", "0"], ["--image-size '48'", "--lr '0'"]),
    (["--dataset", "cifar"], ["--dataset 'cifar': expected one of 'celeba'"]),
    (["--batchnorm", "global"], ["--batchnorm 'global'"]),
])
def test_bad_options_stop_with_every_problem_named(argv, says, capsys):
    from ganlib import train_dcgan

    with pytest.raises(SystemExit) as exit_:
        train_dcgan.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err


def test_the_global_batch_must_split_evenly_over_the_processes():
    from ganlib import train_dcgan
    from ganlib.book.params import ParameterError

    args = train_dcgan.parser().parse_args(["--batch-size", "10"])
    assert train_dcgan.check_args(args, world_size=2).batch_size == 10
    with pytest.raises(ParameterError, match="multiple of 4"):
        train_dcgan.check_args(args, world_size=4)
    with pytest.raises(ParameterError, match="cuda:LOCAL_RANK"):
        train_dcgan.check_args(train_dcgan.parser().parse_args(["--device", "cuda:1"]), 2)


def test_shards_of_a_global_batch_are_the_single_process_batch():
    from ganlib.data import TensorBatches
    from ganlib.engine.distributed import ShardedBatches

    x = images()
    whole = TensorBatches(x, 16, seed=3)
    shards = [ShardedBatches(x, 16, seed=3, rank=r, world_size=4) for r in range(4)]
    assert all(len(s) == len(whole) for s in shards)
    for e, start in ((0, 0), (2, 1)):  # a later epoch, resumed mid-way
        parts = zip(*(s.epoch(e, start) for s in shards))
        for batch, part in zip(whole.epoch(e, start), parts, strict=True):
            assert torch.equal(batch, torch.cat(part))
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        ShardedBatches(x, 10, rank=0, world_size=4)


def test_one_process_imports_no_distributed_code():
    code = ("import sys, ganlib, torch.distributed as d; "
            "print(sorted(m for m in sys.modules if m.startswith('ganlib.')), d.is_initialized())")
    out = run_ok([sys.executable, "-c", code], timeout=60)
    assert "ganlib.engine.distributed" not in out and "ganlib.train_dcgan" not in out
    assert out.strip().endswith("False")


def test_fit_refuses_unsharded_batches_under_parallel():
    from ganlib.data import TensorBatches
    from ganlib.engine.distributed import Parallel

    G, D, og, od = mlp_pair()
    parallel = Parallel(rank=0, local_rank=0, world_size=2, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="its own shard"):
        fit(G, D, og, od, TensorBatches(images(), BATCH), mlp_config(), parallel=parallel)


# ----------------------------------------------------------------------------- the program

def _grads(model):
    return [p.grad.detach().clone() for p in model.parameters()]


def _err(a, b):
    return max(float((x - y).detach().abs().max()) for x, y in zip(a, b))


def worker_grads(parallel, out):
    """D and G steps through DDP against one process with the whole global batch."""
    from ganlib import d_step, g_step

    rank, n = parallel.rank, parallel.world_size
    G, D, og, od = mlp_pair()
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    og0, od0 = make_adam(G0), make_adam(D0)
    Gw, Dw = parallel.wrap(G), parallel.wrap(D)
    gen = torch.Generator().manual_seed(2)  # the same global batches in every process
    b = BATCH // n
    mine = slice(rank * b, (rank + 1) * b)
    report = {"rounds": 0, "d_grad_err": [], "g_grad_err": [], "d_untouched_by_g_step": []}
    for _ in range(3):
        real = torch.rand(BATCH, *SHAPE, generator=gen) * 2 - 1
        z = torch.randn(BATCH, NZ, generator=gen)
        fake, fake0 = Gw(z[mine]), G0(z)
        d_step(Dw, od, real[mine], fake.detach())
        d_step(D0, od0, real, fake0.detach())
        report["d_grad_err"].append(_err(_grads(D), _grads(D0)))
        d_grads = _grads(D)
        g_step(Dw, og, fake)
        g_step(D0, og0, fake0)
        report["g_grad_err"].append(_err(_grads(G), _grads(G0)))
        report["d_untouched_by_g_step"].append(_err(_grads(D), d_grads) == 0.0)
        report["rounds"] += 1
    report["params_err"] = max(_err(list(G.parameters()), list(G0.parameters())),
                               _err(list(D.parameters()), list(D0.parameters())))
    (out / f"grads{rank}.json").write_text(json.dumps(report))


def worker_batchnorm(parallel, out):
    """The DCGAN pair: BatchNorm in both, so D runs on real, then on fake, before backward."""
    from ganlib import DCGANDiscriminator, DCGANGenerator, Game, train_step, weights_init

    set_seed(0)
    G = DCGANGenerator(nz=NZ, ngf=4, nc=1, image_size=32).apply(weights_init)
    D = DCGANDiscriminator(ndf=4, nc=1, image_size=32).apply(weights_init)
    og, od = make_adam(G), make_adam(D)
    Gw, Dw = parallel.wrap(G), parallel.wrap(D)
    finite = True
    for _ in range(2):
        real = torch.rand(4, 1, 32, 32) * 2 - 1
        stats = train_step(Gw, Dw, og, od, real, Game(noise=parallel.noise))
        finite &= all(bool(torch.isfinite(v)) for v in stats.values())
    report = {"steps": 2, "buffer_sync": [bool(Gw.broadcast_buffers), bool(Dw.broadcast_buffers)],
              "finite": finite}
    (out / f"bn{parallel.rank}.json").write_text(json.dumps(report))


def worker_fit(parallel, out):
    G, D, og, od = mlp_pair()
    run = fit(G, D, og, od, images(), mlp_config(), parallel=parallel,
              snapshot_fn=noisy_snapshot)
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "history": run.history},
               out / f"fit{parallel.rank}.pt")
    G, D, og, od = mlp_pair()  # half the run, saved for a 1-process resume
    fit(G, D, og, od, images(), mlp_config(steps=STEPS // 2, checkpoint_every=1,
                                           checkpoint_path=str(out / "mlp.pt")),
        parallel=parallel)


if __name__ == "__main__":  # under torchrun: python -m torch.distributed.run ... this_file OUT
    from ganlib.engine import distributed

    parallel = distributed.init("cpu")
    try:
        for work in (worker_grads, worker_batchnorm, worker_fit):
            work(parallel, Path(sys.argv[1]))
    finally:
        parallel.close()
