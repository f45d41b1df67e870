"""What `fit` does that a learner opens only when curious: the checks before the first step
(checks.py, shapes.py), atomic checkpoints and safe loads (checkpoint.py), exact resume
(resume.py), the history, progress bar, snapshots and clock (tracking.py, snapshots.py),
what happens when a run goes wrong (safety.py), and torchrun (distributed.py, imported only
under it).
"""
