"""Plots: image grids, training curves, and GAN-Lab-style views of toy GANs.

Everything here draws what it is given (tensors, arrays, a `Run`'s history and snapshots); it
never trains. matplotlib is imported inside the functions, and nothing here touches global
style (no rcParams), so importing ganlib stays side-effect free.

The 2-D view follows GAN Lab (Kahng et al. 2019, "GAN Lab: Understanding Complex Deep Generative
Models using Interactive Visual Experimentation", arXiv:1809.01587): real and generated samples
over the discriminator's output as a heatmap, with the generator's gradient field as arrows.
"""

import io

import numpy as np
import torch

REAL_COLOR, FAKE_COLOR = "#1b9e77", "#d95f02"


def image_grid(images, nrow=8, padding=2):
    """(N, C, H, W) uint8 or [-1, 1] float images -> one (H', W', 3) uint8 array."""
    from torchvision.utils import make_grid

    x = torch.as_tensor(images).detach().cpu()
    if x.dtype != torch.uint8:
        x = x.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=255)  # (3, H', W')
    return grid.permute(1, 2, 0).numpy()


def show_images(images, nrow=8, ax=None, title=None, row_labels=None, padding=2):
    """Draw an image grid on `ax` (a new figure if None), `nrow` images a row; `row_labels`
    (one string per row) names the rows on the left, e.g. the classes of a class-by-noise
    grid. Returns the axes. Raises ValueError for a wrong number of row labels."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(image_grid(images, nrow=nrow, padding=padding), interpolation="nearest")
    ax.set_axis_off()
    if row_labels is not None:
        rows = -(-len(images) // nrow)
        if len(row_labels) != rows:
            raise ValueError(f"{len(row_labels)} row labels for {rows} rows of {nrow} images")
        step = images.shape[-2] + padding  # one image and its padding, in pixels
        for r, label in enumerate(row_labels):
            ax.text(-padding, padding + r * step + step / 2, str(label), ha="right",
                    va="center", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, axes=None, upto=None, smooth=25):
    """Losses (left) and mean D(x), D(G(z)) (right) against steps, up to step `upto`.

    Curves are running means over `smooth` steps (the legend says so); the raw values stay faint."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    steps = np.asarray(history["step"])
    n = len(steps) if upto is None else int(np.searchsorted(steps, upto, side="right"))
    # D(G(z)) after D's update is the PyTorch tutorial's third number: how far one D step moves
    # D's verdict on the same fakes (dashed, drawn without its faint raw curve)
    groups = ((("loss_d", "loss D", REAL_COLOR), ("loss_g", "loss G", FAKE_COLOR)),
              (("d_real", "D(x)", REAL_COLOR), ("d_fake", "D(G(z))", FAKE_COLOR),
               ("d_fake_after", "D(G(z)) after D's step", FAKE_COLOR)))
    for ax, group in zip(axes, groups):
        for key, label, color in group:
            if key not in history:  # histories saved before this metric existed
                continue
            y = np.asarray(history[key][:n])
            dashed = key == "d_fake_after"
            if not dashed:
                ax.plot(steps[:n], y, color=color, alpha=0.25, lw=0.8)
            ax.plot(steps[:n], _running_mean(y, smooth), color=color, label=label,
                    ls="--" if dashed else "-", lw=1.0 if dashed else 1.5)
        if ax is axes[1]:
            ax.axhline(0.5, color="gray", lw=0.5, ls=":", label="D = 1/2")
        ax.set_xlabel("step")
        ax.set_xlim(0, max(steps[-1] if len(steps) else 1, 1))
        if n == 0:  # a snapshot before the first step: say so instead of empty axes
            ax.text(0.5, 0.5, "no training steps yet", ha="center", va="center",
                    transform=ax.transAxes, color="gray")
        ax.legend(loc="upper right", fontsize=8, title_fontsize=7,
                  title=f"running means over {smooth} steps" if smooth > 1 else None)
    # one loss scale for every frame of a scrubber: from the whole history, not the part shown
    # (the extreme 0.5% of single-batch values on either side may leave the frame)
    losses = [v for key in ("loss_d", "loss_g") if key in history for v in history[key]]
    if len(losses) > 1:
        lo, hi = np.percentile(losses, [0.5, 99.5])
        pad = 0.05 * (hi - lo) or 0.1
        axes[0].set_ylim(min(0.0, lo - pad), hi + pad)
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel("mean of D on a batch")
    axes[1].set_ylim(0, 1)
    return axes


def _running_mean(y, k):
    if len(y) == 0 or k <= 1:
        return y
    # a causal window: the curve at step s averages steps s-k+1 .. s (fewer at the start)
    c = np.cumsum(np.insert(np.asarray(y, dtype=float), 0, 0.0))
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(0, i - k)
    return (c[i] - c[lo]) / (i - lo)


def plot_toy(snap, real, ax=None, lim=1.2, arrows=True, density_max=None):
    """GAN-Lab view of one `gan_lab_snapshot`: D's heatmap, G's gradient field, samples.

    For 1-D data: the real density, a histogram of G's samples, and D(x) on the same axis;
    `density_max` fixes the density axis, so that frames of a scrubber compare."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    real = torch.as_tensor(real).cpu()
    fake = snap["samples"].cpu()
    if fake.shape[1] == 1:
        xs = snap["grid"].squeeze(1).numpy()
        ax.hist(real.squeeze(1).numpy(), bins=60, range=(-lim, lim), density=True,
                color=REAL_COLOR, alpha=0.35, label="real")
        ax.hist(fake.squeeze(1).numpy(), bins=60, range=(-lim, lim), density=True,
                color=FAKE_COLOR, alpha=0.5, label="generated")
        ax2 = ax.twinx()
        ax2.plot(xs, snap["d"].numpy(), color="k", lw=1.5, label="D(x)")
        ax2.set_ylim(0, 1.02)  # D(x) = 1 stays visible above the frame's edge
        ax2.set_ylabel("D(x)")
        if density_max:
            ax.set_ylim(0, density_max)
        ax.set_xlim(-lim, lim)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend(loc="upper left", fontsize=8)
        return ax
    n = int(round(len(snap["grid"]) ** 0.5))
    im = ax.imshow(snap["d"].view(n, n).numpy(), origin="lower", extent=(-lim, lim, -lim, lim),
                   cmap="PiYG", vmin=0, vmax=1, alpha=0.6)
    ax.figure.colorbar(im, ax=ax, shrink=0.75, pad=0.02, label="D(x)")
    ax.scatter(real[:, 0], real[:, 1], s=4, color=REAL_COLOR, alpha=0.5, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=6, color=FAKE_COLOR, alpha=0.8, label="generated")
    if arrows and "field" in snap:
        p, v = snap["field_at"].numpy(), snap["field"].numpy()
        ax.quiver(p[:, 0], p[:, 1], v[:, 0], v[:, 1], color="k", alpha=0.6, width=0.004,
                  angles="xy", scale_units="xy", scale=None)
    ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_xlabel("$x_1$"), ax.set_ylabel("$x_2$")
    ax.legend(loc="upper right", fontsize=7, markerscale=2, framealpha=0.8)
    return ax


def figure_png(fig, dpi=72, colors=256):
    """Render a figure to PNG bytes and close it (frames for `ganlib.viz.widgets`).

    The image is reduced to a palette of `colors` colours: plots have few colours, and a
    palette PNG is about a third of the size of matplotlib's RGBA one, which lets a notebook
    carry sharper frames within its size budget. colors=0 keeps matplotlib's PNG."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    if not colors:
        return buf.getvalue()
    out = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(colors).save(out, format="PNG", optimize=True)
    return out.getvalue()


def training_frames(run, draw, dpi=100, figsize=(10, 3.4), history=True):
    """One PNG per snapshot of `run`: `draw(ax, snap)` on the left, and the training curves up
    to that snapshot's step on the right. Returns (frames, steps)."""
    import matplotlib.pyplot as plt

    frames = []
    for snap in run.snapshots:
        if history:
            fig = plt.figure(figsize=figsize)
            ax = fig.add_axes([0.0, 0.05, 0.3, 0.85])
            axes = [fig.add_axes([0.43, 0.15, 0.25, 0.75]), fig.add_axes([0.75, 0.15, 0.25, 0.75])]
            plot_history(run.history, axes=axes, upto=snap["step"])
        else:
            fig, ax = plt.subplots(figsize=(figsize[1], figsize[1]))
        draw(ax, snap)
        ax.set_title(f"step {snap['step']}", fontsize=10)
        frames.append(figure_png(fig, dpi=dpi))
    return frames, [s["step"] for s in run.snapshots]


def paired_frames(runs, titles, draw, n=11, dpi=80, panel=3.6):
    """Frames comparing `runs` side by side at the same fractions of each run's length
    (0, 1/(n-1), ..., 1): runs with equal time budgets but different step counts stay in
    step. For each fraction, the snapshot of each run nearest to it, drawn by
    `draw(ax, snap)` in a panel titled with its `titles` entry and the snapshot's step.
    Returns (frames, percents): PNG bytes and the percent of the runs' length of each frame."""
    import matplotlib.pyplot as plt

    frames, percents = [], []
    for k in range(n):
        frac = k / (n - 1)
        fig, axes = plt.subplots(1, len(runs), figsize=(panel * len(runs), panel))
        for ax, run, title in zip(axes, runs, titles):
            snap = min(run.snapshots, key=lambda s: abs(s["step"] - frac * run.step))
            draw(ax, snap)
            ax.set_title(f"{title}, step {snap['step']:,}", fontsize=9)
        fig.tight_layout()
        frames.append(figure_png(fig, dpi=dpi))
        percents.append(round(100 * frac))
    return frames, percents


OUTCOME_MARKERS = {"trained": "o", "collapsed": "^", "failed to train": "x", "diverged": "s"}


def plot_seeds(values, ax, outcomes=None, baseline=None, log=False, title=None, xlabel=None,
               seeds=None):
    """Every seed's number, one row per recipe: `values` {row: [number per seed]} (lower is
    better), drawn as points with each row's median as a short bar (`decide` compares ranks,
    so the median, not the mean, is the row's centre), so a reader sees each run. `outcomes`
    {row: [word per seed]} picks each point's marker (OUTCOME_MARKERS: trained o, collapsed
    ^, failed to train x, diverged s), each in the legend; `seeds` (the seed numbers, in
    order) keys each point's colour; `baseline` (a row) has its name in bold. log=True: a
    log x-axis, ticked at 1, 2 and 5 times powers of 10."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    names = list(values)
    for i, name in enumerate(names):
        xs = [float(x) for x in values[name]]
        words = (outcomes or {}).get(name, ["trained"] * len(xs))
        for j, (x, word) in enumerate(zip(xs, words)):
            y = i + (j - (len(xs) - 1) / 2) * 0.12  # seeds side by side within the row
            ax.plot(x, y, OUTCOME_MARKERS.get(word, "o"), color=f"C{j}", ms=6, mfc="none"
                    if word == "trained" else None)
        median = float(np.median(xs))
        ax.plot([median, median], [i - 0.3, i + 0.3], color="0.3", lw=1.5)
    handles, labels = [Line2D([], [], color="0.3", lw=1.5)], ["median of the row"]
    ax.set_yticks(range(len(names)), names)
    for tick, name in zip(ax.get_yticklabels(), names):
        tick.set_fontweight("bold" if name == baseline else "normal")  # the row compared with
    ax.set_ylim(len(names) - 0.5, -0.5)  # the first row on top
    if log:  # ticks at 1, 2, 5 x 10^k written out: matplotlib's minor labels overlap
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.10g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    if outcomes:
        used = sorted({w for ws in outcomes.values() for w in ws}, key=list(OUTCOME_MARKERS).index)
        handles += [Line2D([], [], ls="", marker=OUTCOME_MARKERS[w], color="0.3",
                           mfc="none" if w == "trained" else None) for w in used]
        labels += used
    for j, seed in enumerate(seeds or []):  # a colour, not a marker: the marker is the outcome
        handles.append(Line2D([], [], color=f"C{j}", lw=3))
        labels.append(f"seed {seed}")
    ax.legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        ax.set_title(title, fontsize=10)
    if xlabel:
        ax.set_xlabel(xlabel + " (each seed a point; bar: the row's median)", fontsize=9)
    return ax
