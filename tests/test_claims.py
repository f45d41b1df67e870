"""The committed chapters' key claims, checked against their own committed outputs.

nbval reruns the chapters with small parameters, which cannot reproduce what a full run
shows; these tests read what the committed full run printed, so that prose and figures can
never drift apart from the numbers behind them."""

import re

import nbformat

from conftest import ROOT


def outputs_text(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)


def test_chapter2_committed_run_meets_the_bar_it_claims():
    """The committed chapter 2 is a real default run; its printed figures must back the prose:
    digits of every class within 6 minutes of CPU training, judged by a classifier that is
    good enough to see the difference, and the averaged generator ahead of the raw one."""
    text = outputs_text(ROOT / "book" / "02_mnist.ipynb")
    seconds = float(re.search(r"trained [\d,]+ steps .* in (\d+) s on", text).group(1))
    assert seconds <= 360, seconds
    acc = float(re.search(r"held-out accuracy ([\d.]+)%", text).group(1))
    assert acc >= 98, acc
    assert "classes hit (>= 1% of samples): 10 of 10" in text
    assert "all within a factor of 2: True" in text  # every class within 2x of uniform
    kept = float(re.search(r"samples of the generator we keep: +([\d.]+)", text).group(1))
    raw = float(re.search(r"samples of the raw trained G: +([\d.]+)", text).group(1))
    floor = float(re.search(r"real training images: +([\d.]+)", text).group(1))
    assert floor < kept < raw, (floor, kept, raw)


def test_chapter1_committed_run_shows_the_fix_it_describes():
    text = outputs_text(ROOT / "book" / "01_minimax.ipynb")
    assert "the fixed run is closer to the data than the first (W1): True" in text
    assert "no bar over 3x the data's peak: True" in text
    rows = dict(re.findall(r"^(the first run|lr decayed to 0) +([\d.]+) ±", text, re.M))
    assert float(rows["lr decayed to 0"]) < float(rows["the first run"]) / 2, rows


def test_chapter3_committed_run_shows_faces_augmentation_and_no_copying_as_it_claims():
    """Chapter 3's committed run is the AT&T faces on a CPU: within its 15-minute budget, with
    D overfitting without augmentation and not with it, and samples no closer to the training
    faces than the held-out people's photos are."""
    nb = nbformat.read(ROOT / "book" / "03_dcgan.ipynb", as_version=4)
    text = outputs_text(ROOT / "book" / "03_dcgan.ipynb")
    assert "720 training images of (1, 64, 64)" in text and "80 images of people s37" in text
    minutes = [float(m) for m in re.findall(r"training time ([\d.]+) min on cpu", text)]
    assert len(minutes) == 2 and sum(minutes) <= 13, minutes  # the rest of the chapter: < 2 min
    assert nb.metadata.papermill.duration <= 15 * 60  # papermill's record of the whole run
    gaps = dict(re.findall(r"(no augmentation|DiffAugment) ([+-][\d.]+)", text.split(
        "mean gap over the snapshots: ")[1].splitlines()[0]))
    assert float(gaps["no augmentation"]) > 0.15 > float(gaps["DiffAugment"]), gaps
    no_closer = re.findall(r"generated no closer \(median\): (True|False)", text)
    assert no_closer == ["True", "True"], no_closer
