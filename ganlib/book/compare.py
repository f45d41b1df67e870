"""The book's rule for "better", stated before the runs, and the tables that show it.

`decide(baseline, candidate)` takes one score per run (a seed) of each recipe and answers with
a one-sided exact rank test at level alpha: Mann–Whitney U for independent runs, the Wilcoxon
signed-rank test for runs paired by seed (scipy.stats). Ranks ignore how far apart the numbers
are, so a run that failed with a huge distance counts as one bad run, not as a mean dragged
towards it. The effect is the Hodges–Lehmann estimate, a ratio for positive scores (FID and
its kin span decades), with its exact distribution-free interval. A table of several fixes
against one baseline corrects its p-values for the number of rows (`holm`). How many seeds a
comparison needs is asked before the runs (`seeds_needed`), from a measured seed-to-seed
spread. Lehmann, "Nonparametrics" (1975); Holm 1979, Scand. J. Statist. 6:65-70.
"""

import math
import statistics
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

from .recipes import (OPTIMIZERS, Recipe, Testbed, build, calibrate, compare_recipes,  # noqa: F401
                      config, run_recipe, run_table)

ALPHA = 0.05  # the level the book's comparisons are decided at, one-sided


@dataclass(frozen=True)
class Decision:
    """What `decide` found. Scores are lower-is-better unless `decide` was told otherwise."""

    better: bool  # the candidate beats the baseline: p_value < alpha
    worse: bool  # the baseline beats the candidate: p_worse < alpha
    p_value: float  # one-sided p of "the candidate is better" (Holm-adjusted in a table)
    p_worse: float  # one-sided p of "the candidate is worse" (likewise)
    effect: float  # Hodges–Lehmann estimate: candidate / baseline, or candidate - baseline
    interval: tuple  # its exact 1 - 2 alpha interval (lo, hi); (nan, nan) if too few runs
    scale: str  # "ratio" (every score > 0) or "difference"
    test: str  # which exact one-sided test
    n: tuple  # (baseline runs, candidate runs)
    smallest_p: float  # the smallest p these numbers of runs can give
    alpha: float = ALPHA
    holm: int = 1  # rows of the table whose p-values were corrected together (1: none)

    @property
    def verdict(self):
        return "better" if self.better else "worse" if self.worse else "no verdict"

    def __str__(self):
        sep = "/" if self.scale == "ratio" else "-"
        lo, hi = self.interval
        ci = (f"[{lo:.3g}, {hi:.3g}]" if not math.isnan(lo) else
              "(no interval: too few runs)")
        holm = f", Holm-corrected over {self.holm} rows" if self.holm > 1 else ""
        return (f"{self.verdict}: p = {self.p_value:.3g} ({self.test}, {self.n[1]} vs "
                f"{self.n[0]} runs{holm}; smallest possible {self.smallest_p:.3g}); "
                f"candidate {sep} baseline {self.effect:.3g} {ci}")


def decide(baseline, candidate, *, paired=False, lower_is_better=True, alpha=ALPHA):
    """Is `candidate` better than `baseline`? Each is a list of scores, one per run (seed).

    paired=True: candidate[i] and baseline[i] share seed i (the same initial weights and
    batches), and the Wilcoxon signed-rank test compares them pair by pair; else the runs are
    independent, and the Mann–Whitney U test compares every run with every run. Both exact,
    one-sided, from scipy.stats; "better" when p < alpha, "worse" when the test the other way
    says so, else no verdict. lower_is_better=False for accuracies and the like.

    The smallest p a design can give: 1 / C(m + n, m) for m and n independent runs (3 vs 3:
    0.05, so never below alpha = 0.05; 4 vs 4: 0.014; 5 vs 5: 0.004) and 1 / 2**n for n
    pairs (4: 0.063, never below 0.05; 5: 0.031; 6: 0.016). Choose the number of seeds before
    the runs with `seeds_needed`.

    Returns a `Decision`. Raises ValueError for a side with fewer than two runs, for paired
    lists of unequal length, and for a score that is not a number (NaN: give a failed run its
    worst value, which a rank test needs no more of)."""
    base, cand = _scores(baseline, "baseline"), _scores(candidate, "candidate")
    if paired and len(base) != len(cand):
        raise ValueError(f"paired runs need one score per seed on each side: got {len(base)} "
                         f"and {len(cand)}; pass paired=False for independent runs")
    p_better, p_worse = _p_values(base, cand, paired, lower_is_better)
    ratio = all(x > 0 for x in base + cand)
    t = math.log if ratio else float
    if paired:
        d = sorted(t(c) - t(b) for b, c in zip(base, cand))
        diffs = sorted((d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d)))
        counts, smallest, test = (_signed_rank_counts(len(d)), 0.5 ** len(d),
                                  "one-sided exact Wilcoxon signed-rank")
    else:
        diffs = sorted(t(c) - t(b) for b in base for c in cand)
        counts = _rank_sum_counts(len(base), len(cand))
        smallest, test = 1 / math.comb(len(base) + len(cand), len(base)), \
            "one-sided exact Mann–Whitney U"
    effect, interval = _hodges_lehmann(diffs, counts, alpha)
    if ratio:
        effect, interval = math.exp(effect), tuple(math.exp(x) for x in interval)
    return Decision(p_better < alpha, p_worse < alpha, p_better, p_worse, effect, interval,
                    "ratio" if ratio else "difference", test, (len(base), len(cand)),
                    smallest, alpha)


def _scores(xs, side):
    xs = [float(x) for x in xs]
    if len(xs) < 2:
        raise ValueError(f"decide needs at least two runs a side to compare (the {side} has "
                         f"{len(xs)}); an exact rank test needs more to be able to decide")
    if any(math.isnan(x) for x in xs):
        raise ValueError(f"the {side}'s scores hold NaN: give a run that failed its worst "
                         f"value (inf for a distance), which a rank test takes as one bad run")
    return xs


def _p_values(base, cand, paired, lower_is_better):
    """(p of "candidate better", p of "candidate worse"), one-sided and exact: scipy's exact
    null distribution, or with tied values every arrangement enumerated (its exact method
    assumes no ties)."""
    from scipy import stats

    better, worse = ("less", "greater") if lower_is_better else ("greater", "less")
    if paired:
        d = [c - b for b, c in zip(base, cand)]
        if not any(d):  # every pair tied: no evidence either way
            return 1.0, 1.0
        ties = len({abs(x) for x in d}) < len(d) or 0.0 in d
        method = stats.PermutationMethod(n_resamples=math.inf) if ties else "exact"
        return tuple(float(stats.wilcoxon(d, alternative=a, method=method).pvalue)
                     for a in (better, worse))
    ties = len(set(base + cand)) < len(base) + len(cand)
    method = stats.PermutationMethod(n_resamples=math.inf) if ties else "exact"
    return tuple(float(stats.mannwhitneyu(cand, base, alternative=a, method=method).pvalue)
                 for a in (better, worse))


@lru_cache(maxsize=None)
def _rank_sum_counts(m, n):
    """counts[u]: how many of the C(m + n, m) orders of m and n values give Mann–Whitney U = u.
    The largest value comes from the first sample (adding n to U) or the second (adding 0)."""
    if m == 0 or n == 0:
        return (1,)
    a, b = _rank_sum_counts(m - 1, n), _rank_sum_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, c in enumerate(a):
        out[u + n] += c
    for u, c in enumerate(b):
        out[u] += c
    return tuple(out)


@lru_cache(maxsize=None)
def _signed_rank_counts(n):
    """counts[w]: how many of the 2**n sign patterns give a signed-rank sum W+ = w."""
    counts = [1]
    for r in range(1, n + 1):
        new = counts + [0] * r
        for w, c in enumerate(counts):
            new[w + r] += c
        counts = new
    return tuple(counts)


def _hodges_lehmann(diffs, counts, alpha):
    """The median of `diffs` (pairwise differences, or Walsh averages) and its exact 1 - 2 alpha
    interval: the order statistics cut off by the test's null distribution `counts`, whose
    lower tail below the cut holds less than alpha (Lehmann 1975, ch. 2 and 3)."""
    total, tail, cut = sum(counts), 0, -1
    for c in counts:
        if (tail + c) / total >= alpha:
            break
        tail, cut = tail + c, cut + 1
    if cut < 0:
        return statistics.median(diffs), (math.nan, math.nan)
    return statistics.median(diffs), (diffs[cut], diffs[len(diffs) - 1 - cut])


def holm(p_values):
    """Holm's step-down adjustment of p-values for testing them together (Holm 1979): the
    i-th smallest is multiplied by (k - i), each at least the one before, at most 1. A row is
    decided at level alpha when its adjusted p < alpha, which keeps the chance of any false
    "better" in the table below alpha."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted, running = [0.0] * k, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def decide_all(baseline, candidates, **kw):
    """{name: Decision} for each of `candidates` ({name: scores}) against `baseline`, with the
    p-values of the table corrected together (`holm`, each direction apart). `kw`: `decide`'s."""
    raw = {name: decide(baseline, scores, **kw) for name, scores in candidates.items()}
    names = list(raw)
    better = holm([raw[n].p_value for n in names])
    worse = holm([raw[n].p_worse for n in names])
    return {n: replace(raw[n], p_value=pb, p_worse=pw, better=pb < raw[n].alpha,
                       worse=pw < raw[n].alpha, holm=len(names))
            for n, pb, pw in zip(names, better, worse)}


def null_rate(m, n, alpha=ALPHA):
    """The exact chance that `decide` calls one of two equal recipes better, with m and n
    independent runs of them (no ties): at most alpha, less where the counts are coarse."""
    counts = _rank_sum_counts(m, n)
    total, tail = sum(counts), 0
    for c in counts:
        if (tail + c) / total >= alpha:
            return tail / total
        tail += c
    return tail / total


def log_spread(scores):
    """The seed-to-seed spread of positive scores: the sample standard deviation of their logs
    (0.1: runs typically about 10% apart)."""
    return statistics.stdev(math.log(float(x)) for x in scores)


def power(n, spread, ratio, *, paired=False, rows=1, alpha=ALPHA, sims=2000, seed=0):
    """The share of `sims` simulated comparisons of n runs against n in which `decide` calls
    the candidate better: scores log-normal with standard deviation `spread` on the log scale
    (`log_spread`), the candidate's median `ratio` times the baseline's (0.5: twice as good for
    a lower-is-better score). `rows` > 1: one row of a Holm-corrected table of that many,
    decided at alpha / rows (Holm's first step, which the best row must pass)."""
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, spread, (sims, n))
    cand = rng.normal(math.log(ratio), spread, (sims, n))
    if paired:
        p = stats.wilcoxon(cand - base, alternative="less", axis=1).pvalue
    else:
        p = stats.mannwhitneyu(cand, base, alternative="less", method="exact", axis=1).pvalue
    return float(np.mean(p < alpha / rows))


def seeds_needed(spread, ratio, *, want=0.8, max_n=20, **kw):
    """(n, {n: power}): the fewest runs a side with which `decide` calls a candidate `ratio`
    times the baseline better in at least `want` of the cases (`power`; `kw`: its options), or
    None if even max_n runs do not. Ask before the runs, with the spread of earlier ones."""
    table = {}
    for n in range(2, max_n + 1):
        table[n] = power(n, spread, ratio, **kw)
        if table[n] >= want:
            return n, table
    return None, table


# ------------------------------------------------------------------------------ tables

def mean_sd(xs):
    """(mean, sample standard deviation) of a list of numbers; sd 0 for one number."""
    xs = [float(x) for x in xs]
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def cell(xs, fmt="{:.2f}"):
    """'mean ± sd' of `xs`, each number formatted with `fmt`."""
    m, s = mean_sd(xs)
    return f"{fmt.format(m)} ± {fmt.format(s)}"


def summary_row(results, metrics, fmt=None):
    """One table row's cells: for each metric of `metrics`, 'mean ± sd' over the seeds of its
    last value and of its best-snapshot value, in that order. fmt: metric -> format."""
    fmt = fmt or {}
    cells = []
    for m in metrics:
        for which in ("last", "best"):
            cells.append(cell([r[which][m] for r in results], fmt.get(m, "{:.2f}")))
    return cells


def table(results, metrics, fmt=None, width=26):
    """Lines of a text table: a row per recipe, 'mean ± sd' over seeds of each metric at the
    last and at the best snapshot (`summary_row`)."""
    head = "".join(f"{m + ' ' + w:>20}" for m in metrics for w in ("last", "best"))
    lines = [f"{'recipe':{width}}{'steps':>7}" + head]
    for name, res in results.items():
        cells = summary_row(res, metrics, fmt)
        lines.append(f"{name:{width}}{res[0]['steps']:7,}" + "".join(f"{c:>20}" for c in cells))
    return lines


def ranked(results, key, which="last"):
    """Recipe names sorted by the seeds' mean of metric `key` (lower first)."""
    return sorted(results, key=lambda name: mean_sd([r[which][key] for r in results[name]])[0])


def best(options, key, which="last"):
    """The setting of a sweep whose runs score lowest on average on metric `key` (lower is
    better). options: {setting: its runs, a list from `run_table`}. A run that diverged counts
    as +inf: scored as its untrained generator, a divergence could otherwise beat a run that
    trained badly. Ties go to the first setting. Raises ValueError for no options."""
    if not options:
        raise ValueError("best needs at least one setting: options is empty")

    def score(runs):
        return statistics.fmean(math.inf if r.get("diverged") is not None else r[which][key]
                                for r in runs)
    return min(options, key=lambda setting: score(options[setting]))


def verdict(candidate, baseline, **kw):
    """`decide`'s verdict in a word: "better", "worse" or "no verdict". `kw`: decide's."""
    return decide(baseline, candidate, **kw).verdict


def report(results, key, baseline="baseline", fmt="{:.2f}", outcome=None, which="last",
           **kw):
    """Lines of a table of metric `key` (lower is better): a row per recipe with its steps,
    mean seconds per run, every seed's number, their median, and `decide_all`'s decision
    against the row `baseline`, Holm-corrected over the rows (a line under the table says
    so). outcome(evaluate dict) -> word, if given, adds each run's outcome ("diverged" for a
    run that did, scored as its untrained generator). `kw`: decide's.
    Raises KeyError naming the rows if `baseline` is not one of them."""
    if baseline not in results:
        raise KeyError(f"no row {baseline!r} to compare with; rows: {list(results)}")
    scores = {name: [r[which][key] for r in runs] for name, runs in results.items()}
    rivals = {name: xs for name, xs in scores.items() if name != baseline}
    decisions = decide_all(scores[baseline], rivals, **kw) if rivals else {}
    width = max(len(name) for name in results) + 2
    lines = [f"{'':{width}}{'steps':>7}{'s/run':>7}   {key} per seed ({which}); median; "
             f"against {baseline}" + ("; outcomes" if outcome else "")]
    for name, runs in results.items():
        xs = scores[name]
        said = f"; {decisions[name]}" if name in decisions else ""
        words = ""
        if outcome is not None:  # a run that diverged says so, whatever its scores
            counts = Counter("diverged" if r.get("diverged") is not None else outcome(r[which])
                             for r in runs)
            words = "; " + ", ".join(f"{n} {w}" for w, n in counts.items())
        done = [r["seconds"] for r in runs if r.get("diverged") is None]
        secs = statistics.fmean(done) if done else math.nan
        lines.append(f"{name:{width}}{runs[0]['steps']:7,}{secs:7.1f}   "
                     f"{', '.join(fmt.format(x) for x in xs)}; "
                     f"{fmt.format(statistics.median(xs))}{said}{words}")
    if len(decisions) > 1:
        lines.append(f"(p-values Holm-corrected over the {len(decisions)} rows against "
                     f"{baseline}; a row is better when its corrected p < "
                     f"{next(iter(decisions.values())).alpha})")
    return lines


# ---------------------------------------------------------------- the rule it replaces

def better(a, b, paired=False):
    """The book's old range rule, which chapters 1, 2 and 6 still run (and chapter 3 states
    in words) until their next reruns (tests/chapters/test_notebooks.py lists them), and
    chapter 4 beside `decide` to show why it went; use `decide`. Is recipe A better than
    recipe B, given one score per run (lower is better) in the lists `a` and `b`? Only if
    every run of A scores below every run of B (with `paired=True`, below B's run of the
    same seed: a[i] against b[i]) *and* the
    difference of the two means is larger than the largest spread (max - min) between the
    seeds of either recipe. A coarse rule meant to be stated before the runs; it can say "no
    verdict" (False both ways). Returns None when either side has fewer than two runs: one
    run a side cannot show a spread. Raises ValueError for paired lists of unequal length."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if paired and len(a) != len(b):
        raise ValueError(f"paired runs need one score per seed on both sides: got {len(a)} "
                         f"and {len(b)}; pass paired=False for unpaired runs")
    if len(a) < 2 or len(b) < 2:
        return None
    wins = all(x < y for x, y in zip(a, b)) if paired else max(a) < min(b)
    spread = max(max(a) - min(a), max(b) - min(b))
    return wins and mean_sd(b)[0] - mean_sd(a)[0] > spread
