"""What `fit` does when a run goes wrong, so that no work is lost and no good file is spoilt.

* Non-finite numbers: a NaN or inf loss stops the run at the next point where fit syncs with
  the device anyway (`TrainingDiverged`, naming the step and the likely causes), and weights
  that are not finite are never written over a checkpoint.
* Ctrl-C (SIGINT): the step under way finishes, then the run is saved and the interrupt goes
  on; a second Ctrl-C stops at once.
* Any other error inside a step: if no optimizer has stepped yet in that step, the random
  state and buffers go back to the step's start and the run is saved there; otherwise the
  state is half a step and nothing is written. A rerun then resumes exactly.
"""

import contextlib
import math
import signal
import sys
import threading

import torch

from . import resume


class TrainingDiverged(FloatingPointError):
    """A loss or weight of a run became NaN or inf; `step` says when (None if unknown)."""

    def __init__(self, message, step=None):
        super().__init__(message)
        self.step = step


CAUSES = (
    "Likely causes: (1) non-finite or huge values in the data (fit checks a tensor's every "
    "value before work, a batch source's first batch only); (2) a game without a bound on D: "
    "a Wasserstein critic needs a gradient penalty (FitConfig(gp_weight=10.0)) or spectral "
    "normalisation (build D with spectral_norm=True), else its outputs grow without end; "
    "(3) learning rates too high for the game (try ten times smaller)")


def first_non_finite(rows, names, first_step):
    """(step, name, value) of the first non-finite number in `rows` (one list of floats per
    step, from `first_step` on), or None."""
    for i, row in enumerate(rows):
        for name, v in zip(names, row):
            if not math.isfinite(v):
                return first_step + i, name, v
    return None


def finite(*models):
    """Whether every parameter and buffer of `models` (None skipped) is finite."""
    return all(bool(torch.isfinite(t).all()) for m in models if m is not None
               for t in [*m.parameters(), *m.buffers()] if t.is_floating_point())


def diverged(what, step, path, saved_step):
    """The error for a run that went non-finite at `step`."""
    kept = (f"the checkpoint at {str(path)!r} (step {saved_step:,}) is the last healthy state "
            f"and was not overwritten. To train again with other settings, start afresh "
            f"(resume=False, or another checkpoint_path: a resume continues the saved run "
            f"only as it was)" if path and saved_step is not None else "nothing was saved")
    return TrainingDiverged(f"training diverged: {what} at step {step:,}. fit stopped; {kept}. "
                            f"{CAUSES}.", step=step)


class Guard:
    """`with Guard(tracker, models, optimizers) as guard:` around fit's loop, `with
    guard.step():` around each step, and `guard.boundary()` after each. It does anything only
    with a checkpoint path, in one process (under torchrun a lone save would hang the others)."""

    def __init__(self, tracker, models, optimizers, on=True):
        self.tracker, self.models, self.optimizers = tracker, models, optimizers
        self.on = on
        self.in_step = self.stepped = self.interrupted = False
        self.start = None  # the random state and buffers at the start of the step under way
        self.hooks, self.previous = [], None

    def __enter__(self):
        if not self.on:
            return self
        self.hooks = [opt.register_step_post_hook(self._stepped) for opt in self.optimizers]
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def _stepped(self, *_):
        self.stepped = True

    def _interrupt(self, *_):
        self.interrupted = True
        signal.signal(signal.SIGINT, self.previous)  # a second Ctrl-C stops at once
        print(f"\ninterrupted: finishing step {self.tracker.run.step + 1:,}, then saving "
              f"(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self):
        """One step: what an error inside it rolls back to, if no optimizer has stepped."""
        if self.on:
            self.stepped, self.in_step = False, True
            self.start = (resume.rng_state(self.tracker.device),
                          [b.clone() for m in self.models for b in m.buffers()])
        yield
        self.in_step = False

    def boundary(self):
        """Between steps: stop here, saved, if Ctrl-C came during the step."""
        if self.interrupted:
            raise KeyboardInterrupt(f"interrupted after step {self.tracker.run.step:,}")

    def __exit__(self, kind, error, traceback):
        for hook in self.hooks:
            hook.remove()
        if self.previous is not None and signal.getsignal(signal.SIGINT) == self._interrupt:
            signal.signal(signal.SIGINT, self.previous)
        if not self.on or kind is None or issubclass(kind, TrainingDiverged):
            return False
        note = self._save()
        print(f"\n{note}", file=sys.stderr, flush=True)
        return False  # the exception goes on

    def _save(self):
        """Save the last whole step, and say what was done."""
        tracker, run = self.tracker, self.tracker.run
        if self.in_step and self.stepped:
            return (f"not saved: the error came in the middle of step {run.step + 1:,}, after "
                    f"an optimizer had stepped, so the models hold half a step. The last "
                    f"checkpoint, if any, is as it was")
        if self.in_step:  # nothing trained yet in this step: undo its random draws
            rng, buffers = self.start
            resume.restore_rng({"cpu": rng["cpu"], "cuda_by_rank": [rng.get("cuda")]},
                               tracker.device)
            for b, saved in zip((b for m in self.models for b in m.buffers()), buffers):
                b.copy_(saved)
        try:
            tracker.save_now()
        except Exception as e:  # noqa: BLE001 (the original error matters more; say this one)
            return f"not saved ({type(e).__name__}): {e}"
        return (f"saved the run at step {run.step:,} to {str(tracker.cfg.checkpoint_path)!r} "
                f"before stopping: run the same fit again to resume it exactly")
