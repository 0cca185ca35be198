"""The fatality rule: the compound Poisson tail against scipy and an independent
convolution, the toll distribution's shrinkage, the rule over realistic series, and how it
leaves mass-casualty incidents to their own rule."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from bench.fatality_cases import (
    DEADLY_WEEK,
    DISTRICT,
    PROVINCE,
    START,
    WINDOW_END,
    combined,
    district_case,
    district_history,
    nation_history,
    province_case,
    province_history,
    series_of,
    week,
)
from incidents_alerting import stats
from incidents_alerting.evaluate import Area, Day, area_episodes, fatality_tests
from incidents_alerting.rules import FatalitySpike, MassCasualty, Rules

RULES = Rules()


def convolution_sf(k: int, mean: float, pmf: list[float]) -> float:
    """P(S >= k) the long way: sum over n of Poisson(n) (scipy) times the n-fold
    convolution's tail (numpy's convolve), until P(N > n) is below 1e-13 of the sum."""
    f = np.array(pmf, dtype=float) / sum(pmf)
    ns = np.arange(int(mean + 40 * math.sqrt(mean) + 250))
    weights, rest = sps.poisson.pmf(ns, mean), sps.poisson.sf(ns, mean)
    power, total = np.array([1.0]), 0.0
    for n in ns:
        if k < len(power):
            total += weights[n] * math.fsum(power[k:])
        if rest[n] == 0 or (total > 0 and rest[n] < 1e-13 * total):
            break
        power = np.convolve(power, f)
    return total


pmfs = st.lists(st.integers(min_value=0, max_value=9), min_size=2, max_size=8).filter(
    lambda w: sum(w[1:]) > 0
)


# --- the tails --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(k=st.integers(min_value=0, max_value=300), mean=st.floats(min_value=1e-3, max_value=150))
def test_the_poisson_tail_is_scipys(k: int, mean: float) -> None:
    expected = sps.poisson.sf(k - 1, mean)  # scipy: P(X > k - 1)
    got = stats.poisson_sf(k, mean)
    if expected > 1e-300:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-15 if expected > 1e-6 else 0)
    else:
        assert got < 1e-290


@pytest.mark.parametrize(
    ("k", "mean", "pmf"),
    [
        (1, 0.5, [0.5, 0.5]),
        (5, 1.0, [0.5, 0.3, 0.2]),
        (30, 3.0, [0.4, 0.3, 0.1, 0, 0, 0.2]),
        (52, 0.7, [11, 4, 3, 3, 2, 1, 0.4, 0.4]),  # ordinary tolls, a quiet district
        (200, 2.0, [0.4, 0.2, 0.2, 0.1, 0.05, 0.05]),  # far in the tail: ~1e-60
    ],
)
def test_the_compound_poisson_tail_is_the_convolutions(
    k: int, mean: float, pmf: list[float]
) -> None:
    expected = convolution_sf(k, mean, pmf)
    assert expected > 0
    assert stats.compound_poisson_sf(k, mean, pmf) == pytest.approx(expected, rel=1e-8)


@settings(max_examples=100, deadline=None)
@given(k=st.integers(min_value=0, max_value=60), mean=st.floats(0.01, 12.0), weights=pmfs)
@example(k=44, mean=0.5, weights=[1, 1])  # 1e-82: S ~ Poisson(1/4), far out
def test_the_compound_poisson_tail_agrees_with_convolution(
    k: int, mean: float, weights: list[int]
) -> None:
    expected = convolution_sf(k, mean, [float(w) for w in weights])
    got = stats.compound_poisson_sf(k, mean, [float(w) for w in weights])
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_one_death_per_incident_is_the_poisson_tail() -> None:
    for k, mean in [(1, 0.3), (5, 2.0), (40, 3.0), (120, 60.0)]:
        assert stats.compound_poisson_sf(k, mean, [0.0, 1.0]) == pytest.approx(
            sps.poisson.sf(k - 1, mean), rel=1e-9
        )
    # two deaths each: S = 2N, so S >= 7 is N >= 4
    assert stats.compound_poisson_sf(7, 1.5, [0, 0, 1]) == pytest.approx(sps.poisson.sf(3, 1.5))


def test_the_tail_by_hand() -> None:
    # f: 0 or 1 killed, one half each; N ~ Poisson(1): S ~ Poisson(1/2) (thinning)
    assert stats.compound_poisson_sf(2, 1.0, [0.5, 0.5]) == pytest.approx(1 - math.exp(-0.5) * 1.5)
    # P(S >= 1) = P(some incident kills) = 1 - exp(-mean (1 - f(0)))
    assert stats.compound_poisson_sf(1, 2.0, [0.25, 0.5, 0.25]) == pytest.approx(1 - math.exp(-1.5))


@settings(max_examples=100, deadline=None)
@given(mean=st.floats(0.01, 30.0), weights=pmfs)
def test_the_tail_falls_from_one(mean: float, weights: list[int]) -> None:
    law = stats.CompoundPoisson(mean, [float(w) for w in weights])
    tails = [law.sf(k) for k in range(0, 80)]
    assert tails[0] == 1.0
    assert all(0 <= b <= a * (1 + 1e-9) for a, b in itertools.pairwise(tails))
    # the pmf adds up to the tail: P(S >= k) - P(S >= k + 1) = P(S = k)
    for k in (0, 3, 11):
        assert tails[k] - tails[k + 1] == pytest.approx(law.pmf(k), rel=1e-6, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    k=st.integers(min_value=0, max_value=150),
    mean=st.floats(min_value=0.01, max_value=20),
    weights=pmfs,
    threshold=st.sampled_from([1e-2, 1e-4, 1e-6, 1e-8]),
)
def test_stopping_early_never_changes_whether_a_window_fires(
    k: int, mean: float, weights: list[int], threshold: float
) -> None:
    pmf = [float(w) for w in weights]
    exact = stats.compound_poisson_sf(k, mean, pmf)
    early = stats.compound_poisson_sf(k, mean, pmf, stop_at=threshold)
    assert (early < threshold) == (exact < threshold)
    if exact < threshold:
        assert early == exact  # a firing window keeps its exact p-value
    else:
        assert threshold <= early <= exact * (1 + 1e-9)  # a lower bound, enough to say "no"


@settings(max_examples=60, deadline=None)
@given(
    laws=st.lists(
        st.tuples(
            st.integers(0, 120),
            st.floats(0.01, 40.0),
            st.lists(st.integers(0, 9), min_size=10, max_size=10),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_many_tails_at_once_are_each_one_alone(laws: list[tuple[int, float, list[int]]]) -> None:
    ks = np.array([k for k, _, _ in laws])
    means = np.array([m for _, m, _ in laws])
    pmfs_ = np.array([[w + 0.01 for w in weights] for _, _, weights in laws])
    pmfs_ /= pmfs_.sum(axis=1, keepdims=True)
    values = np.arange(10)
    many = stats.compound_poisson_sf_many(ks, means, pmfs_, values)
    for i, (k, mean, _) in enumerate(laws):
        assert many[i] == pytest.approx(
            stats.compound_poisson_sf(k, mean, pmfs_[i].tolist()), rel=1e-7, abs=1e-300
        )


def test_many_tails_on_sparse_toll_values() -> None:
    values = np.array([0, 1, 5, 40])
    pmf = np.array([[0.5, 0.3, 0.15, 0.05], [0.9, 0.0, 0.0, 0.1]])
    got = stats.compound_poisson_sf_many(np.array([45, 80]), np.array([2.0, 1.0]), pmf, values)
    dense = np.zeros((2, 41))
    dense[:, values] = pmf
    for i, k in enumerate((45, 80)):
        assert got[i] == pytest.approx(convolution_sf(k, [2.0, 1.0][i], dense[i].tolist()), 1e-8)


def test_a_huge_expected_count_does_not_underflow() -> None:
    # P(S = 0) = exp(-900 * 0.9) underflows; the recursion is kept scaled
    law = stats.CompoundPoisson(900.0, [0.1, 0.5, 0.4])
    assert law.sf(1200) == pytest.approx(sps.norm.sf(1200 - 0.5, 1170, math.sqrt(900 * 2.1)), 0.1)
    assert 0 < law.sf(3000) < 1e-200
    many = stats.compound_poisson_sf_many(
        np.array([1200]), np.array([900.0]), np.array([[0.1, 0.5, 0.4]]), np.arange(3)
    )
    assert many[0] == pytest.approx(law.sf(1200), rel=1e-9)


# --- the toll distribution ----------------------------------------------------------------


def test_shrinkage_weighs_the_area_by_its_incidents() -> None:
    parent = [0.5, 0.25, 0.25]
    own = Counter({0: 2, 4: 2})  # 4 incidents
    f = stats.shrunk_pmf(own, parent, strength=4.0)  # weight 4 / (4 + 4) = 1/2 each
    assert f == pytest.approx([0.5 * 0.5 + 0.5 * 0.5, 0.5 * 0.25, 0.5 * 0.25, 0.0, 0.5 * 0.5])
    assert sum(f) == pytest.approx(1.0)
    assert stats.shrunk_pmf(Counter(), parent, 20.0) == pytest.approx(parent)  # no data
    assert stats.shrunk_pmf(own, parent, 0.0) == pytest.approx([0.5, 0, 0, 0, 0.5])


def test_the_prior_has_its_mean() -> None:
    prior = stats.prior_pmf()
    assert sum(prior) == pytest.approx(1.0)
    mean = sum(k * p for k, p in enumerate(prior))
    assert mean == pytest.approx(stats.PRIOR_MEAN_TOLL, rel=1e-3)


# --- the rule over series -------------------------------------------------------------------


def scalar_tests(
    days: dict[date, Day], parents: list[dict[date, Day]], cfg: FatalitySpike, cut: int
) -> dict[date, stats.Test]:
    """The rule window by window, in plain Python: Counters, shrunk_pmf, CompoundPoisson."""
    span = (WINDOW_END - START).days + 1

    def tolls(series: dict[date, Day], lo: int, hi: int) -> Counter[int]:
        out: Counter[int] = Counter()
        for i in range(lo, hi):
            for t in series.get(START + timedelta(days=i), Day()).tolls:
                out[t if t < cut else 0] += 1
        return out

    out = {}
    for end in range(cfg.window_days - 1, span):
        lo = end - cfg.window_days + 1
        base_lo = max(lo - cfg.baseline_days, 0)
        seen = sum(k * n for k, n in tolls(days, lo, end + 1).items())
        if seen < cfg.min_killed or lo - base_lo < cfg.min_baseline_days:
            continue
        pmf = stats.prior_pmf(cut - 1)
        for level in reversed([days, *parents]):
            pmf = stats.shrunk_pmf(tolls(level, base_lo, lo), pmf, cfg.shrinkage)
        n = sum(tolls(days, base_lo, lo).values())
        rate = max(n / (lo - base_lo), cfg.floor_rate) * cfg.window_days
        law = stats.CompoundPoisson(rate, pmf)
        out[START + timedelta(days=end)] = stats.Test(seen, law.mean, law.sf(seen))
    return out


@settings(max_examples=25, deadline=None)
@given(
    incidents=st.lists(st.tuples(st.integers(0, 150), st.integers(0, 14)), min_size=1, max_size=60),
    province=st.lists(st.tuples(st.integers(0, 150), st.integers(0, 14)), min_size=0, max_size=120),
    shrinkage=st.sampled_from([0.0, 5.0, 20.0]),
)
def test_the_rule_over_a_series_is_the_window_by_window_computation(
    incidents: list[tuple[int, int]], province: list[tuple[int, int]], shrinkage: float
) -> None:
    end = (WINDOW_END - START).days
    days = series_of((START + timedelta(days=end - 150 + d), t) for d, t in incidents)
    rest = series_of((START + timedelta(days=end - 150 + d), t) for d, t in province)
    parents = [combined(days, rest)]
    cfg = FatalitySpike(min_killed=3, p_value=0.5, shrinkage=shrinkage, min_baseline_days=7)
    got = {w.end: w.test for w in fatality_tests(days, parents, START, WINDOW_END, cfg, cut=10)}
    expected = scalar_tests(days, parents, cfg, 10)
    assert got.keys() == expected.keys()
    for day, test in expected.items():
        assert got[day].observed == test.observed
        assert got[day].expected == pytest.approx(test.expected, rel=1e-9)
        if test.p_value < 0.5:  # at or above the threshold, a lower bound will do
            assert got[day].p_value == pytest.approx(test.p_value, rel=1e-7, abs=1e-300)
        else:
            assert got[day].p_value >= 0.5


def test_a_week_of_52_killed_where_1_5_were_expected_fires() -> None:
    area, district, parents = district_case()
    (e,) = [
        e
        for e in area_episodes(area, district, START, WINDOW_END, RULES, parents)
        if e.rule == "fatality_spike"
    ]
    assert (e.peak_end, e.observed) == (WINDOW_END, 52)
    assert 1.3 < e.expected < 1.8  # the week's expected toll, in the baseline
    assert e.p_value < 1e-12  # the negative binomial gave 1e-3 (tests/unit/bench)
    assert e.summary.startswith("Lakki Marwat: 52 killed in 7 days vs 1.6 expected (p=")


def test_a_province_week_of_63_killed_where_8_were_expected_fires() -> None:
    area, province, parents = province_case()
    (e,) = [
        e
        for e in area_episodes(area, province, START, WINDOW_END, RULES, parents)
        if e.rule == "fatality_spike"
    ]
    assert area == Area(PROVINCE) and (e.peak_end, e.observed) == (WINDOW_END, 63)
    assert 7 < e.expected < 10
    assert e.p_value < 1e-7


def test_ordinary_weeks_fire_nothing() -> None:
    district = district_history()
    province = combined(district, province_history())
    parents = [province, nation_history(province)]
    assert area_episodes(DISTRICT, district, START, WINDOW_END, RULES, parents) == []
    assert area_episodes(Area(PROVINCE), province, START, WINDOW_END, RULES, parents[1:]) == []


def test_without_parents_the_tolls_shrink_toward_the_prior() -> None:
    _, district, _ = district_case()
    episodes = area_episodes(DISTRICT, district, START, WINDOW_END, RULES)
    assert [e.rule for e in episodes if e.rule == "fatality_spike"] == ["fatality_spike"]


def test_the_rule_needs_each_incidents_killed() -> None:
    days = {START + timedelta(days=d): Day(2, 30) for d in range(0, 300, 3)}  # no tolls
    with pytest.raises(ValueError, match=r"Day\.tolls"):
        area_episodes(DISTRICT, days, START, WINDOW_END, RULES)
    with pytest.raises(ValueError, match="do not add up"):
        Day(2, 30, (10, 10))


# --- one bombing, one page ------------------------------------------------------------------


def bombing_case(killed: int) -> tuple[dict[date, Day], list[dict[date, Day]]]:
    """Lakki Marwat's ordinary history, then one attack that kills `killed` on the last day."""
    district = combined(district_history(), series_of([(WINDOW_END, killed)]))
    province = combined(district, province_history())
    return district, [province, nation_history(province)]


def test_a_mass_casualty_attack_pages_once_not_twice() -> None:
    district, parents = bombing_case(40)
    episodes = area_episodes(DISTRICT, district, START, WINDOW_END, RULES, parents)
    # the mass-casualty rule alerts on the incident (engine); the fatality rule leaves it out
    assert [e for e in episodes if e.rule == "fatality_spike"] == []
    # with the mass-casualty rule off, the same week is the fatality rule's to report
    off = RULES.model_copy(update={"mass_casualty": MassCasualty(enabled=False)})
    (e,) = [
        e
        for e in area_episodes(DISTRICT, district, START, WINDOW_END, off, parents)
        if e.rule == "fatality_spike"
    ]
    assert e.observed == 40


def test_a_deadly_week_with_a_bombing_in_it_counts_the_rest() -> None:
    district = combined(district_history(), week(DEADLY_WEEK), series_of([(WINDOW_END, 30)]))
    province = combined(district, province_history())
    parents = [province, nation_history(province)]
    (e,) = [
        e
        for e in area_episodes(DISTRICT, district, START, WINDOW_END, RULES, parents)
        if e.rule == "fatality_spike"
    ]
    assert e.observed == 52  # 82 killed, 30 of them in an attack that has its own alert
    assert e.summary.endswith("; not counting 1 mass-casualty incident)")


def test_an_attack_just_under_the_threshold_counts() -> None:
    district, parents = bombing_case(9)
    tests = fatality_tests(district, parents, START, WINDOW_END, RULES.fatality_spike, cut=10)
    assert tests == []  # 9 killed is under min_killed (10): no single incident can page
    low = RULES.fatality_spike.model_copy(update={"min_killed": 5})
    (last,) = [w for w in fatality_tests(district, parents, START, WINDOW_END, low, cut=10)][-1:]
    assert last.test.observed >= 9 and last.uncounted == 0
