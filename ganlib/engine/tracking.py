"""What `fit` does around its steps, kept out of the loop so the loop reads as the algorithm:
the history (one host sync every `sync_every` steps), the progress bar in img/s, snapshots and
the best-scoring generator, checkpoints, and the clock.

Snapshots, `score_fn` and the callback run under `torch.random.fork_rng`
(`Tracker.isolated_rng`): whatever random numbers they draw, training's streams go on as if
they had not run, so how often a run is watched never changes what it trains. A non-finite
loss or weight stops the run (`ganlib.engine.safety`).
"""

import math
import time

import torch

from ganlib.steps import METRICS

from . import resume
from .checkpoint import plain_values, save_checkpoint
from .safety import diverged, finite, first_non_finite


def _score_entries(result):
    """A score_fn's result as snapshot entries: {"score": float, ...}."""
    if not isinstance(result, dict):
        return {"score": float(result)}
    if "score" not in result:
        raise ValueError(f"a score_fn that returns a dict must give the number to minimise as "
                         f"its 'score' entry; got the keys {sorted(result)}")
    return {**result, "score": float(result["score"])}


class Tracker:
    """The history, progress bar, snapshots, checkpoints and clock of one `fit` call. Under
    torchrun rank 0 draws, snapshots and saves; every process keeps the history."""

    def __init__(self, run, G, D, opt_g, opt_d, cfg, total, meta, resolved, parallel,
                 snapshot_fn, score_fn):
        from tqdm.auto import tqdm

        self.run, self.G, self.D, self.opt_g, self.opt_d = run, G, D, opt_g, opt_d
        self.cfg, self.meta, self.resolved, self.parallel = cfg, meta, resolved, parallel
        self.snapshot_fn, self.score_fn = snapshot_fn, score_fn
        self.device = next(G.parameters()).device
        self.main = parallel is None or parallel.is_main
        self.sampler = G if run.G_ema is None else run.G_ema  # what snapshots show
        self.world = 1 if parallel is None else parallel.world_size
        # no tqdm rate (a moving average): the postfix shows this call's whole-run img/s,
        # the number Run.images_per_second ends with, so the bar and the chapter's print agree
        per_step = cfg.batch_size * cfg.n_critic  # the real images D sees in a step
        self.bar = tqdm(total=total * per_step, initial=run.step * per_step, unit="img",
                        unit_scale=True, disable=not (cfg.progress and self.main),
                        desc="training", bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                                                    "[{elapsed}<{remaining}{postfix}]")
        self.pending = []  # per-step stats, still on the device
        self.saved_step = run.resumed_from  # the step the checkpoint file holds, if known
        self.images = 0  # images trained on in this call, all processes'
        self.call_t0 = self.t0 = time.perf_counter()

    def isolated_rng(self):
        """A context whose random draws never reach training's streams (`fork_rng`)."""
        on_cuda = self.device.type == "cuda"
        return torch.random.fork_rng(devices=[self.device] if on_cuda else [])

    def add(self, stats, images):
        """Record one step's stats (detached, on the device) and this process's images."""
        self.pending.append(torch.stack([stats[m] for m in METRICS]))
        self.images += images * self.world
        self.bar.update(images * self.world)

    def out_of_time(self):
        over = bool(self.cfg.max_seconds) and \
            time.perf_counter() - self.call_t0 >= self.cfg.max_seconds
        if self.cfg.max_seconds and self.parallel is not None:  # all stop at the same step
            over = self.parallel.any(over)
        return over

    def end_of_step(self, last):
        """The history, snapshot and checkpoint due after this step (all of them if `last`)."""
        cfg, step = self.cfg, self.run.step
        if len(self.pending) >= cfg.sync_every or last:
            self.flush()
        score_step = bool(cfg.score_every) and self.score_due()  # a score takes a snapshot
        if last or (cfg.snapshot_every and step % cfg.snapshot_every == 0) or score_step:
            self.flush()
            self.snapshot(last)
        if last or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
            self.save_now()

    def save_now(self):
        """The history so far, the clock, then a checkpoint (if fit has a path)."""
        self.flush()
        now = time.perf_counter()
        self.run.seconds += now - self.t0
        self.t0 = now
        self.checkpoint()

    def flush(self):
        if not self.pending:
            return
        rows = torch.stack(self.pending)
        if self.parallel is not None:
            rows = self.parallel.mean(rows)  # the history records the global batch's means
        rows = rows.tolist()  # the one host sync
        history, first = self.run.history, self.run.step - len(rows) + 1
        bad = first_non_finite(rows, METRICS, first)
        if bad is not None:
            step, name, value = bad
            raise diverged(f"{name} is {value}", step, self.cfg.checkpoint_path, self.saved_step)
        for i, row in enumerate(rows):
            history["step"].append(first + i)
            for name, v in zip(METRICS, row):
                history[name].append(v)
        self.pending.clear()
        self.show(_rate(self.images, time.perf_counter() - self.call_t0))  # an honest time

    def show(self, rate):  # the bar's postfix: the whole-run rate, then the latest losses
        h = self.run.history
        losses = (f", loss_d={h['loss_d'][-1]:.3f}, loss_g={h['loss_g'][-1]:.3f}"
                  if h["step"] else "")
        self.bar.set_postfix_str(f"{rate:,.0f} img/s{losses}", refresh=False)

    def score_due(self, last=False):
        """score_fn runs at the last step, and at every snapshot or at cfg.score_every's steps."""
        every = self.cfg.score_every
        return self.score_fn is not None and (last or not every or self.run.step % every == 0)

    def snapshot(self, last=False):
        """Rank 0: run snapshot_fn (and score_fn, when due) on the sampled G in eval mode,
        under no_grad and a forked random state; keep the best-scoring generator beside the
        checkpoint. score_fn returns a float, or a dict of numbers with the float "score"."""
        if not self.main:
            return
        run, G, D = self.run, self.sampler, self.D
        modes = G.training, D.training
        G.eval(), D.eval()
        try:
            with torch.no_grad(), self.isolated_rng():
                snap = self.snapshot_fn(G, D, run.fixed_noise.to(self.device))
                if self.score_due(last):
                    snap.update(_score_entries(self.score_fn(G)))
        finally:  # an interrupt or an error mid-snapshot must not leave both in eval mode
            G.train(modes[0]), D.train(modes[1])
        run.snapshots.append(plain_values({"step": run.step, **snap}, f"the snapshot at step "
                                                                f"{run.step}"))
        score = snap.get("score", math.nan)
        best = min((s["score"] for s in run.snapshots[:-1]  # resumed runs' snapshots too
                    if not math.isnan(s.get("score", math.nan))), default=math.inf)
        path = self.cfg.checkpoint_path
        if path and score < best:
            save_checkpoint(resume.best_state(G, run, self.meta), resume.best_path(path))

    def checkpoint(self):
        path, parallel = self.cfg.checkpoint_path, self.parallel
        if not path:
            return
        rng = resume.rng_state(self.device)  # by rank (a collective under torchrun)
        rng = [rng] if parallel is None else parallel.gather(rng)
        if not finite(self.G, self.D, self.run.G_ema):  # never over a healthy checkpoint
            raise diverged("the weights hold NaN or inf", self.run.step, path, self.saved_step)
        if self.main:
            state = resume.training_state(self.G, self.D, self.opt_g, self.opt_d, self.run,
                                          self.cfg, self.meta, self.run.G_ema, rng,
                                          self.resolved)
            if parallel is not None:
                state["world_size"] = parallel.world_size  # a record; resuming may change it
            save_checkpoint(state, path)
        self.saved_step = self.run.step
        if parallel is not None:
            parallel.barrier()  # the others wait until rank 0's checkpoint is on disk

    def close(self):
        """End the call: the last history rows, its wall time and img/s; the `Run`."""
        self.flush()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.run.seconds += now - self.t0
        self.run.images_per_second = _rate(self.images, now - self.call_t0)
        self.show(self.run.images_per_second)
        self.bar.close()
        return self.run


def _rate(images, seconds):
    return images / seconds if images and seconds > 0 else 0.0
