"""Point the book at another repository: `python tools/set_repo_url.py https://github.com/you/fork`.

The URL lives in _config.yml (`repository.url`, read by the launch buttons) and in each
chapter's Colab setup cell (which installs ganlib from it); this rewrites both, so they stay
one setting. tests/test_notebooks.py checks that they agree.
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def main(url):
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        sys.exit(f"expected https://github.com/OWNER/REPO, got {url!r}")
    config = ROOT / "_config.yml"
    text, n = re.subn(r"(?m)^(  url: ).*$", rf"\g<1>{url}", config.read_text(), count=1)
    if n != 1:
        sys.exit("no `  url:` line under `repository:` in _config.yml")
    config.write_text(text)
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = nb.cells[0]
        cell.source, n = re.subn(r'REPO = "[^"]*"', f'REPO = "{url}"', cell.source)
        if n != 1:
            sys.exit(f"{path.name}: its first cell is not the Colab setup cell")
        nbformat.write(nb, path)
        print(f"{path.name}: {url}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
