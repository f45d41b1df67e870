"""The book's benchmarks, out of the library's import path: `python -m ganlib.bench` times
ganlib's training against the classic tutorials' loops (speed.py, classic.py, timing.py);
`--quality` trains each for the same CPU time and scores the digits (quality.py);
`--precision` and `--profile` time DCGAN's step in fp32, bf16 and channels_last (precision.py).
BENCHMARKS.md holds the committed figures.
"""

from .speed import bench_dcgan, bench_mlp, gpu_figures, main  # noqa: F401
