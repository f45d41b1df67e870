"""`python -m ganlib.bench --precision`: the DCGAN training step in float32, bf16 autocast,
channels_last and both, and how close each comes to what the CPU's arithmetic allows.

What is timed is `ganlib.steps.train_step` itself, repeated on one in-memory batch of the
right shape: the step `fit` repeats, with nothing around it (no batch gathering and uint8
scaling, no history or progress bar; `python -m ganlib.bench` times the whole `fit`). The two
settings are the two `fit` applies with `FitConfig.amp` and `FitConfig.channels_last`: bf16
autocast around the forward passes, and G, D and the batch in NHWC layout. Each setting
warms up first (oneDNN creates its kernels on the first calls), then the settings take turns
over the rounds (`ganlib.bench.timing.interleave`) and each reports its median.

FLOPs of one step, per image (`train_flops_per_image`). With g and d the multiply-adds
(MACs) of G's and D's forward pass on one image (`ganlib.book.convmath.macs_per_image`) and g1, d1
those of their first layers, `train_step` computes:

* G's forward pass, once, shared by both updates: g.
* D's update: D forward on the reals and on the fakes, 2d; their backward pass, weight
  gradients (d each) and input gradients (d each), except the first layer's input gradient,
  which nothing needs (the reals are data, the fakes are detached): 4d - 2 d1.
* G's update: D forward on the fakes, d; backward through the frozen D, input gradients only
  (its weights do not require gradients), d; then G's backward, weight and input gradients
  but the first layer's input gradient (z is noise): 2g - g1.

MACs = 3g + 8d - 2 d1 - g1 and FLOPs = 2 MACs (a multiply-add is two FLOPs; FlopCounterMode's
convention). The rule of thumb "backward = 2 x forward" would give 3g + 9d: it misses that
the frozen D computes no weight gradients. Only convolutions count: BatchNorm, activations,
the loss and Adam move bytes rather than multiply, and are left out (the profile shows them).

Peak FLOP/s (`cpu_peak`) = cores x clock x FLOPs per cycle per core, with
* cores: the threads torch computes with (`torch.get_num_threads()`), one core each (two
  SMT threads share one core's FMA units: give --cores then);
* clock: cpufreq's maximum (turbo included) where the kernel exposes it, else /proc/cpuinfo's
  "cpu MHz", else BogoMIPS / 2 (the TSC's nominal rate, what a VM often shows); these two can
  sit below the turbo clock, which flatters the fraction of peak (--ghz overrides);
* fp32 FLOPs per cycle: 2 FMA units x 16 fp32 lanes x 2 = 64 with AVX-512; 32 on AMD Zen 4
  (family 25), which runs a 512-bit FMA on its two 256-bit units; 32 with AVX2 + FMA (2 x 8 x
  2); 8 otherwise. Some Xeons have one AVX-512 FMA unit (32): --flops-per-cycle overrides.
* bf16 FLOPs per cycle: 1024 with AMX (Intel's figure for AMX-BF16); twice fp32 with
  AVX512-BF16 (vdpbf16ps makes two products per fp32 lane); none otherwise: bf16 would be
  emulated, and the bf16 settings are skipped where `ganlib.fast_bf16` is False.
The nominal peak rests on a clock that a VM may report below its turbo (a fraction above 100%
says so), so `matmul_ceiling` also measures one: the FLOP/s of a large square matrix product
(2 n^3 FLOPs, n = 2048) in each precision, the best the CPU's BLAS reaches in practice; the
"of mm" column divides by it.
`--profile` (`profile`) runs torch.profiler over a few steps of chapter 3's size in each
setting and sums the self CPU time of the operators into groups (`GROUPS`).
"""

from pathlib import Path

import torch
from torch import nn

from ganlib.book.convmath import macs_per_image
from ganlib.models import DCGANDiscriminator, DCGANGenerator, weights_init
from ganlib.game import Game
from ganlib.steps import make_adam, train_step
from .timing import interleave, medians, seconds
from ganlib.utils import fast_bf16, set_seed

SIZES = {  # name -> the DCGAN and batch; what it is
    "ch3-64": (dict(image_size=64, ngf=32, ndf=32, nc=1, batch_size=64),
               "chapter 3's committed CPU run: AT&T faces, 64x64 grey, widths 32, batch 64"),
    "ch3-32": (dict(image_size=32, ngf=32, ndf=32, nc=3, batch_size=64),
               "chapter 3's CelebA default on a CPU: 32x32 colour, widths 32, batch 64"),
    "dcgan-64": (dict(image_size=64, ngf=64, ndf=64, nc=3, batch_size=128),
                 "the DCGAN tutorial's: 64x64 colour, widths 64, batch 128"),
}
SETTINGS = {"fp32": (False, False), "bf16": (True, False), "channels_last": (False, True),
            "bf16+channels_last": (True, True)}  # name -> (bf16 autocast, channels_last)
CPUFREQ_MAX = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")  # kHz, where exposed
GROUPS = {  # profile group -> lower-case fragments of operator names; the rest is data/other
    "convolutions": ("conv",),
    "batchnorm": ("batch_norm", "batchnorm"),
    "optimizer (Adam)": ("adam", "optimizer", "_foreach"),
    "copies and casts": ("copy", "aten::to", "clone", "contiguous"),
    "activations/elementwise": ("relu", "threshold", "tanh", "sigmoid", "softplus", "mul",
                                "add", "sub", "div", "neg", "exp", "log", "fill", "zero",
                                "mean", "sum", "lerp", "sqrt", "pow", "clamp", "where"),
}


def models(size, device, channels_last=False):
    """(G, D) of a `SIZES` entry, DCGAN-initialised from seed 0, on `device`, NCHW or NHWC."""
    set_seed(0)
    G = DCGANGenerator(ngf=size["ngf"], nc=size["nc"], image_size=size["image_size"])
    D = DCGANDiscriminator(ndf=size["ndf"], nc=size["nc"], image_size=size["image_size"])
    G.apply(weights_init), D.apply(weights_init)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)


def train_flops_per_image(G, D):
    """FLOPs of one `train_step` per image: 2 (3g + 8d - 2 d1 - g1) (the module's docstring)."""
    image = (D.hparams["nc"], D.hparams["image_size"], D.hparams["image_size"])
    first = lambda m: next(l for l in m.modules() if isinstance(l, (nn.Conv2d, nn.ConvTranspose2d)))
    g, d = macs_per_image(G, (G.nz,)), macs_per_image(D, image)
    g1, d1 = macs_per_image(first(G), (G.nz, 1, 1)), macs_per_image(first(D), image)
    return 2 * (3 * g + 8 * d - 2 * d1 - g1)


def stepper(size, device, bf16, channels_last):
    """A function n -> seconds of n `train_step`s in one setting, on one batch in [-1, 1]."""
    G, D = models(size, device, channels_last)
    opt_g, opt_d = make_adam(G), make_adam(D)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    s, nc = size["image_size"], size["nc"]
    real = (torch.rand(size["batch_size"], nc, s, s, device=device) * 2 - 1).contiguous(
        memory_format=fmt)
    game = Game(amp_dtype=torch.bfloat16 if bf16 else None)

    def steps(n):
        for _ in range(n):
            train_step(G, D, opt_g, opt_d, real, game)
    return lambda n: seconds(lambda: steps(n), device)


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    return dict((k.strip(), v.strip()) for k, _, v in
                (line.partition(":") for line in text.split("\n\n")[0].splitlines()))


def cpu_peak(info=None, ghz=None, cores=None, flops_per_cycle=None):
    """The CPU's peak FLOP/s in fp32 and bf16, with the assumptions behind it (module
    docstring). info: /proc/cpuinfo's fields (read here when None); ghz, cores,
    flops_per_cycle=(fp32, bf16 or None): what to use instead of the estimates."""
    info = _cpuinfo() if info is None else info
    flags = set(info.get("flags", "").split())
    amd_zen4 = info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25"
    if "avx512f" in flags:
        fp32, why = ((32, "AVX-512 on AMD Zen 4: one 512-bit FMA a cycle on two 256-bit "
                          "units, 16 x 2")
                     if amd_zen4 else (64, "AVX-512: 2 FMA units x 16 fp32 lanes x 2"))
    elif {"avx2", "fma"} <= flags:
        fp32, why = 32, "AVX2: 2 FMA units x 8 fp32 lanes x 2"
    else:
        fp32, why = 8, "no AVX2/FMA flags read: 4 lanes, a multiply and an add per cycle"
    bf16 = (1024 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else None)
    why_bf16 = ("AMX-BF16" if "amx_bf16" in flags else "AVX512-BF16 (vdpbf16ps): 2 x fp32"
                if bf16 else "no native bf16")
    if flops_per_cycle:
        (fp32, bf16), why = flops_per_cycle, "given"
        why_bf16 = "given" if bf16 else "none given"
    if ghz:
        source = "given"
    elif CPUFREQ_MAX.is_file():
        ghz, source = int(CPUFREQ_MAX.read_text()) / 1e6, "cpufreq maximum"
    elif "cpu MHz" in info:
        ghz, source = float(info["cpu MHz"]) / 1e3, "/proc/cpuinfo cpu MHz"
    elif "bogomips" in info:
        ghz, source = float(info["bogomips"]) / 2e3, "BogoMIPS / 2 (nominal TSC rate)"
    else:
        source = "unknown: give --ghz"
    cores = cores or torch.get_num_threads()
    peak = lambda fpc: cores * ghz * 1e9 * fpc if ghz and fpc else None
    return {"model": info.get("model name", "unknown"), "cores": cores, "ghz": ghz,
            "ghz_source": source, "fp32_flops_per_cycle": fp32, "fp32_why": why,
            "bf16_flops_per_cycle": bf16, "bf16_why": why_bf16, "peak_fp32": peak(fp32),
            "peak_bf16": peak(bf16)}


def matmul_ceiling(device, n=2048, reps=5):
    """FLOP/s of an n x n matrix product in fp32 and in bf16 (None where bf16 is not native),
    the best of `reps` after one warm-up: what this machine's BLAS reaches in practice."""
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if dtype is torch.bfloat16 and not fast_bf16(device):
            out[name] = None
            continue
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
        torch.mm(a, b)
        best = min(seconds(lambda: torch.mm(a, b), device) for _ in range(reps))
        out[name] = 2 * n ** 3 / best
    return out


def run(device, sizes=tuple(SIZES), steps=10, warmup=3, rounds=3, peak=None):
    """Time every setting of every size; returns the dict for the JSON record."""
    peak = peak if peak is not None else cpu_peak() if device.type == "cpu" else {}
    ceiling = matmul_ceiling(device)
    peak = dict(peak, matmul_fp32=ceiling["fp32"], matmul_bf16=ceiling["bf16"])
    print_ceiling(peak)
    out = {"measured": "ganlib.steps.train_step on one in-memory batch", "steps": steps,
           "warmup": warmup, "rounds": rounds, "peak": peak, "sizes": {}}
    native = fast_bf16(device)
    for name in sizes:
        size, what = SIZES[name]
        flops = train_flops_per_image(*models(size, "cpu"))
        timers = {s: stepper(size, device, bf16, cl) for s, (bf16, cl) in SETTINGS.items()
                  if native or not bf16}
        for t in timers.values():
            t(warmup)
        times = interleave({s: lambda t=t: t(steps) for s, t in timers.items()}, rounds)
        per_s = {s: steps * size["batch_size"] / sec for s, sec in medians(times).items()}
        rows = {}
        for s, (bf16, _) in SETTINGS.items():
            if s not in per_s:
                rows[s] = {"skipped": "emulated, skipped: no native bf16 here (ganlib.fast_bf16)"}
                continue
            top = peak.get("peak_bf16" if bf16 else "peak_fp32")
            mm = peak.get("matmul_bf16" if bf16 else "matmul_fp32")
            rows[s] = {"img_per_s": per_s[s], "ratio_to_fp32": per_s[s] / per_s["fp32"],
                       "gflop_per_s": per_s[s] * flops / 1e9, "seconds": times[s],
                       "fraction_of_peak": per_s[s] * flops / top if top else None,
                       "fraction_of_matmul": per_s[s] * flops / mm if mm else None}
        out["sizes"][name] = dict(size, what=what, gflop_per_image=flops / 1e9, settings=rows)
        print_size(name, out["sizes"][name])
    return out


def print_peak(p):
    if p.get("ghz"):
        print(f"peak: {p['cores']} cores x {p['ghz']:.2f} GHz ({p['ghz_source']}) x "
              f"{p['fp32_flops_per_cycle']:g} fp32 FLOP/cycle ({p['fp32_why']}) = "
              f"{p['peak_fp32'] / 1e9:,.0f} GFLOP/s; bf16: {p['bf16_why']}"
              + (f" = {p['peak_bf16'] / 1e9:,.0f} GFLOP/s" if p["peak_bf16"] else ""))


def print_ceiling(p):
    mm = [f"{k} {p[f'matmul_{k}'] / 1e9:,.0f} GFLOP/s" for k in ("fp32", "bf16")
          if p.get(f"matmul_{k}")]
    print(f"measured ceiling, a 2048 x 2048 matrix product: {', '.join(mm)}")


def print_size(name, r):
    def pct(x):
        return "" if x is None else f"{x:.1%}"

    print(f"\n{name}: {r['what']}; {r['gflop_per_image']:.3f} GFLOP per image and step")
    print(f"{'setting':20} {'img/s':>8} {'x fp32':>7} {'GFLOP/s':>8} {'of peak':>8} "
          f"{'of mm':>7}")
    for s, row in r["settings"].items():
        if "skipped" in row:
            print(f"{s:20} {row['skipped']}")
            continue
        print(f"{s:20} {row['img_per_s']:8,.1f} {row['ratio_to_fp32']:7.2f} "
              f"{row['gflop_per_s']:8,.1f} {pct(row['fraction_of_peak']):>8} "
              f"{pct(row['fraction_of_matmul']):>7}", flush=True)


def group_of(op):
    """The `GROUPS` name of a profiled operator, by its name; "data/other" for the rest."""
    low = op.lower()
    return next((g for g, parts in GROUPS.items() if any(p in low for p in parts)), "data/other")


def profile(device, steps=3, warmup=3, size="ch3-64", top=8):
    """Self CPU time of `steps` steps of `size` in each setting, by group and by operator;
    prints both, returns {setting: {"groups": {group: share}, "top": [(op, group, ms)]}}."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    out = {}
    for s, (bf16, cl) in SETTINGS.items():
        if bf16 and not fast_bf16(device):
            print(f"\n{s}: emulated, skipped (no native bf16 here)")
            continue
        t = stepper(SIZES[size][0], device, bf16, cl)
        t(warmup)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            t(steps)
        events = [(e.key, e.self_cpu_time_total / 1e3) for e in prof.key_averages()]
        total = sum(ms for _, ms in events) or 1.0
        groups = {g: 0.0 for g in (*GROUPS, "data/other")}
        for op, ms in events:
            groups[group_of(op)] += ms / total
        ops = sorted(events, key=lambda e: -e[1])[:top]
        out[s] = {"total_ms_per_step": total / steps, "groups": groups,
                  "top": [(op, group_of(op), ms / steps) for op, ms in ops]}
        print(f"\n{s} ({size}): {total / steps:,.1f} ms of self CPU time per step; "
              + ", ".join(f"{g} {v:.0%}" for g, v in groups.items()))
        for op, g, ms in out[s]["top"]:
            print(f"  {ms:9.2f} ms/step  {op:45.45} {g}")
    return out

