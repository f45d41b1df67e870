"""Chapter 3's recipe in float32 and in the CPU default (bf16 autocast + channels_last): does
quality suffer?

    python benchmarks/ch3_precision_quality.py --seeds 0 1 \\
        --json benchmarks/ch3-precision-quality-cpu.json

The recipe is chapter 3's committed CPU run: the AT&T faces (36 people, mirrored: 720 images;
4 people held out), 64x64 grey, DCGAN with ngf = ndf = 32, batch 64, DiffAugment
("translation,cutout,color"), Adam 2e-4 (0.5, 0.999), 1,200 steps. Each seed trains it twice
from the same initial weights and batches: `FitConfig(amp=False, channels_last=False)` (float32,
NCHW) and the defaults, which on a CPU with native bf16 pick bf16 autocast and channels_last
(`ganlib.utils.fast_defaults`). Then each generator is scored:

* D's verdicts at the last step (`ganlib.engine.snapshots.with_heldout_accuracy`): the share of
  training faces, held-out faces and fakes that D calls real;
* KID and FID of 500 samples against a random half (360) of the 720 training images, on
  Inception features (`ganlib.evaluate.score_generator`), beside the real-vs-real floor (the
  other half against the same 360).

The rule, fixed before the runs: bf16 "does not hurt" if, for every seed, its KID is within
the seed-to-seed spread of float32's (the larger of |KID_fp32(seed 0) - KID_fp32(seed 1)| and
the two KIDs' subset standard deviations) of the float32 run of the same seed, or below it.
The wall times printed are this script's, on a shared machine: BENCHMARKS.md's speed figures
come from `python -m ganlib.bench`, not from here.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import ganlib
from ganlib import DCGANDiscriminator, DCGANGenerator, FitConfig, fit, make_adam, weights_init
from ganlib.data import images
from ganlib.engine import snapshots

SETTINGS = {"fp32": dict(amp=False, channels_last=False), "default": {}}
POLICY = "translation,cutout,color"


def train(setting, seed, data, heldout, steps, out):
    """Train one run (or reuse its checkpoint); returns its record."""
    path = out / f"{setting}_seed{seed}.pt"
    ganlib.set_seed(seed)
    G = DCGANGenerator(nz=100, ngf=32, nc=1, image_size=64)
    D = DCGANDiscriminator(ndf=32, nc=1, image_size=64)
    G.apply(weights_init), D.apply(weights_init)
    snap = snapshots.with_heldout_accuracy(ganlib.default_snapshot, heldout.images,
                                           data.images, n=min(256, len(heldout)), seed=seed)
    cfg = FitConfig(steps=steps, batch_size=64, augment=POLICY, seed=seed, progress=False,
                    checkpoint_path=str(path), **SETTINGS[setting])
    t0 = time.perf_counter()
    run = fit(G, D, make_adam(G, 2e-4, (0.5, 0.999)), make_adam(D, 2e-4, (0.5, 0.999)),
              ganlib.TensorBatches(data, 64, "cpu", seed=seed), cfg, snapshot_fn=snap)
    last = run.snapshots[-1]
    amp = ganlib.load_checkpoint(path)["ran"]["amp"]
    return {"setting": setting, "seed": seed, "steps": run.step, "amp": amp,
            "seconds": time.perf_counter() - t0, "checkpoint": path.name,
            **{k: last[k] for k in ("real_train", "real_heldout", "real_fake")}}


def score(rows, data, out, n):
    """KID and FID of each run's generator against the training faces, with the floor."""
    from ganlib import evaluate

    real = data.images
    for row in rows:
        G = ganlib.load_generator(out / row["checkpoint"])
        r = evaluate.score_generator(G, real, n=n, seed=1, cache_dir=out)
        g, f = r["generator"], r["floor"]
        row.update(fid=g["fid"], kid=g["kid_mean"], kid_sd=g["kid_std"],
                   fid_floor=f["fid"], kid_floor=f["kid_mean"], kid_floor_sd=f["kid_std"],
                   precision=g["precision"], recall=g["recall"], weights=r["weights"],
                   n_fake=r["n_fake"], n_reference=r["n_reference"])
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--n", type=int, default=500, help="samples scored per generator")
    p.add_argument("--data-root", default="data")
    p.add_argument("--out", default="runs/ch3_precision")
    p.add_argument("--no-score", action="store_true", help="train only")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(torch.get_num_threads())
    faces = images.dcgan_data("att-faces", args.data_root, 64, flip=True)
    # 36 people, all ten photos each (720 with mirrors); the 4 others held out (originals)
    data, heldout, *_ = images.dcgan_split(faces, "att-faces", 4, heldout_photos=0)
    rows = []
    for seed in args.seeds:
        for setting in SETTINGS:
            rows.append(train(setting, seed, data, heldout, args.steps, out))
            r = rows[-1]
            print(f"{setting:8} seed {seed}: amp {r['amp']}, {r['seconds']:.0f} s; D calls real: "
                  f"train {r['real_train']:.0%}, held-out {r['real_heldout']:.0%}, "
                  f"fakes {r['real_fake']:.0%}", flush=True)
    if not args.no_score:
        score(rows, data, out, args.n)
        print(f"features: {rows[0]['weights']}")
        for r in rows:
            print(f"{r['setting']:8} seed {r['seed']}: KID {r['kid']:.4f} ± {r['kid_sd']:.4f} "
                  f"(floor {r['kid_floor']:.4f}), FID {r['fid']:.1f} (floor "
                  f"{r['fid_floor']:.1f}), precision {r['precision']:.2f}, recall "
                  f"{r['recall']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"recipe": __doc__.split("\n\n")[2],
                                               "runs": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
