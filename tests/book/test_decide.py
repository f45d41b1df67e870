"""`decide`, the book's rule for "better": exact p-values (against scipy and against counting
every arrangement), its false-positive rate on runs of one distribution, its power on a known
shift, the paired and higher-is-better forms, the effect and its interval, Holm's correction,
the seeds it asks for, and its refusals."""

import itertools
import math
import statistics

import numpy as np
import pytest
from scipy import stats

from ganlib.book import compare
from ganlib.book.compare import decide, decide_all, holm, power, seeds_needed


def enumerated_p(base, cand):
    """P(U <= u observed) over every way of splitting the pooled runs into two groups: the
    exact one-sided p of "candidate lower", counted by hand."""
    pooled, m = base + cand, len(cand)
    u = lambda c, b: sum((x < y) + 0.5 * (x == y) for x in c for y in b)
    seen = u(cand, base)
    splits = list(itertools.combinations(range(len(pooled)), m))
    hits = 0
    for idx in splits:
        c = [pooled[i] for i in idx]
        b = [pooled[i] for i in range(len(pooled)) if i not in idx]
        hits += u(c, b) >= seen - 1e-9
    return hits / len(splits)


@pytest.mark.parametrize("base, cand", [
    ([3.1, 4.0, 5.2], [1.0, 2.2, 3.5]),
    ([10, 12, 9, 11], [8, 13, 7, 6]),
    ([5, 6, 7, 8, 9], [1, 2, 3, 4, 10]),
    ([2.0, 2.0, 3.0, 4.0], [1.0, 2.0, 2.0, 5.0]),  # ties
])
def test_p_values_are_exact(base, cand):
    d = decide(base, cand)
    assert d.p_value == pytest.approx(enumerated_p(base, cand), abs=1e-12)
    method = "exact" if len(set(base + cand)) == len(base + cand) else stats.PermutationMethod()
    want = stats.mannwhitneyu(cand, base, alternative="less", method=method).pvalue
    assert d.p_value == pytest.approx(want)
    assert d.smallest_p == pytest.approx(1 / math.comb(len(base) + len(cand), len(base)))


def test_the_smallest_p_says_how_many_runs_can_decide():
    assert decide([4, 5, 6], [1, 2, 3]).p_value == pytest.approx(0.05)  # 1 / C(6, 3)
    assert decide([4, 5, 6], [1, 2, 3]).verdict == "no verdict"  # never below 0.05
    assert decide([5, 6, 7, 8], [1, 2, 3, 4]).p_value == pytest.approx(1 / 70)
    assert decide([5, 6, 7, 8], [1, 2, 3, 4]).better
    paired = decide([5, 6, 7, 8, 9], [1, 2, 3, 4, 5], paired=True)
    assert paired.smallest_p == paired.p_value == pytest.approx(1 / 32) and paired.better


def test_a_failed_runs_huge_score_counts_as_one_bad_run():
    """The range rule could never reward a fix against an erratic baseline (chapter 5's
    8,568, 559, 8,766); ranks do not care how large the failed numbers are."""
    base, fix = [8568, 559, 8766, 9102, 7950], [210, 190, 260, 230, 205]
    assert decide(base, fix).better and decide(base, fix).p_value == pytest.approx(1 / 252)
    assert decide(fix, base).worse


def test_false_positive_rate_on_runs_of_one_distribution_is_at_most_alpha():
    rng = np.random.default_rng(0)
    calls = [decide(list(rng.lognormal(0, 0.3, 6)), list(rng.lognormal(0, 0.3, 6))).better
             for _ in range(1000)]
    counts = compare._rank_sum_counts(6, 6)  # the exact rate: P(p < 0.05) under the null
    cum = np.cumsum(counts) / sum(counts)
    exact = cum[cum < 0.05][-1]
    assert exact <= 0.05
    assert abs(np.mean(calls) - exact) < 4 * math.sqrt(exact * (1 - exact) / 1000)


def test_power_on_a_known_shift():
    rng = np.random.default_rng(1)
    wins = [decide(list(rng.lognormal(0, 0.2, 5)), list(rng.lognormal(math.log(0.5), 0.2, 5)))
            .better for _ in range(300)]
    assert np.mean(wins) > 0.9
    assert power(5, 0.2, 0.5, sims=500) == pytest.approx(np.mean(wins), abs=0.08)
    counts = compare._rank_sum_counts(5, 5)  # no shift: the false-positive rate, 12 / 252
    assert sum(counts[:5]) / 252 < 0.05 <= sum(counts[:6]) / 252
    assert power(5, 0.2, 1.0, sims=2000) == pytest.approx(12 / 252, abs=4 * 0.0048)


def test_paired_and_higher_is_better_forms():
    base, cand = [0.90, 0.80, 0.95, 0.85, 0.70], [0.93, 0.82, 0.99, 0.90, 0.71]
    d = decide(base, cand, paired=True, lower_is_better=False)
    want = stats.wilcoxon(np.subtract(cand, base), alternative="greater").pvalue
    assert d.better and d.p_value == pytest.approx(want) and d.scale == "ratio"
    assert decide(base, cand, paired=True).worse  # read as lower-is-better, it is worse
    assert not decide(base, cand, lower_is_better=False).better  # unpaired: too close


def test_the_effect_is_the_hodges_lehmann_ratio_with_its_interval():
    base = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    half = decide(base, [x / 2 for x in base], paired=True)
    assert half.effect == pytest.approx(0.5) and half.interval == pytest.approx((0.5, 0.5))
    d = decide([10, 11, 12, 13, 14], [5, 6, 7, 8, 9])
    logs = [math.log(c / b) for b in [10, 11, 12, 13, 14] for c in [5, 6, 7, 8, 9]]
    assert d.effect == pytest.approx(math.exp(statistics.median(logs)))
    lo, hi = d.interval
    assert lo < d.effect < hi < 1 and d.better  # the interval agrees with the test
    signed = decide([-0.01, 0.0, 0.02, 0.01], [0.1, 0.2, 0.15, 0.12])  # KID can be < 0
    assert signed.scale == "difference" and signed.worse
    assert "no interval: too few runs" in str(decide([2, 3, 4], [1, 2, 3]))


def test_holm_corrects_a_table_of_rows():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    base = [9, 10, 11, 12, 13]
    table = decide_all(base, {"a": [1, 2, 3, 4, 5], "b": [9.5, 10, 11, 12, 12.5],
                              "c": [5, 6, 7, 8, 14]})
    assert table["a"].better and not table["b"].better and table["a"].holm == 3
    assert table["a"].p_value == pytest.approx(3 * decide(base, [1, 2, 3, 4, 5]).p_value)
    assert "Holm-corrected over 3 rows" in str(table["a"])


def test_seeds_needed_asks_for_more_runs_for_smaller_effects():
    n_big, table = seeds_needed(0.2, 0.5, sims=400)
    n_small, _ = seeds_needed(0.2, 0.8, sims=400)
    assert n_big < n_small and table[n_big] >= 0.8 and all(
        table[k] < 0.8 for k in table if k < n_big)
    assert seeds_needed(0.5, 0.95, sims=200, max_n=6) == (None, pytest.approx(
        seeds_needed(0.5, 0.95, sims=200, max_n=6)[1]))


@pytest.mark.parametrize("base, cand, paired, message", [
    ([1.0], [2.0, 3.0], False, "at least two runs a side.*the baseline has 1"),
    ([1.0, 2.0], [float("nan"), 3.0], False, "NaN: give a run that failed its worst value"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], True, "one score per seed on each side"),
])
def test_decide_refuses_what_it_cannot_compare(base, cand, paired, message):
    with pytest.raises(ValueError, match=message):
        decide(base, cand, paired=paired)


def test_null_rate_is_the_exact_false_positive_rate():
    assert compare.null_rate(5, 5) == pytest.approx(12 / 252)
    assert compare.null_rate(3, 3) == 0.0  # 3 against 3 can never decide
    assert compare.null_rate(4, 4) == pytest.approx(2 / 70)  # p = 1/70 and 2/70 are < 0.05
