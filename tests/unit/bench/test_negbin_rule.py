"""The fatality rule as it shipped before (bench.negbin_rule), the baseline column of
bench.alert_noise: its tail, and the surges it could not fire on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from bench.alert_noise import first_firing
from bench.fatality_cases import START, WINDOW_END, district_case, province_case
from bench.negbin_rule import NegbinRule, negbin_episodes, negbin_sf, negbin_test
from incidents_alerting import stats
from incidents_alerting.evaluate import Day
from incidents_alerting.rules import Rules


def test_tiny_tails_keep_their_precision() -> None:
    assert negbin_sf(30, 0.7, 0.7 + 0.49) == pytest.approx((0.7 / 1.7) ** 30, rel=1e-9)


def test_negative_binomial_tail() -> None:
    # mean 5, variance 10: r = 5, p = 0.5; P(X >= 3) = 1 - p^5 (1 + 5q + 15q^2)
    assert negbin_sf(3, 5, 10) == pytest.approx(1 - 0.5**5 * (1 + 2.5 + 3.75))
    assert negbin_sf(3, 5, 5) == pytest.approx(stats.poisson_sf(3, 5))
    # scipy's nbinom(n=r, p): P(X >= 12) for mean 4, variance 12 (r = 2, p = 1/3)
    assert negbin_sf(12, 4, 12) == pytest.approx(sps.nbinom.sf(11, 2, 1 / 3), rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    k=st.integers(min_value=0, max_value=400),
    mean=st.floats(min_value=0.01, max_value=200),
    over=st.floats(min_value=1.0, max_value=50.0),
    threshold=st.sampled_from([1e-2, 1e-4, 1e-6]),
)
def test_stopping_early_never_changes_whether_a_window_fires(
    k: int, mean: float, over: float, threshold: float
) -> None:
    exact = negbin_sf(k, mean, mean * over)
    early = negbin_sf(k, mean, mean * over, stop_at=threshold)
    assert (early < threshold) == (exact < threshold)
    if exact < threshold:
        assert early == exact  # a firing window keeps its exact p-value
    else:
        assert threshold <= early <= exact + 1e-12  # a lower bound, enough to say "no"


def killed_by_day(series: dict[date, Day]) -> list[int]:
    return [
        series.get(START + timedelta(days=i), Day()).killed
        for i in range((WINDOW_END - START).days + 1)
    ]


def test_the_old_rule_could_not_fire_on_a_districts_deadly_week() -> None:
    # the week of tests/unit/incidents_alerting/test_fatality.py: 52 killed, 1.6 expected
    area, district, _ = district_case()
    killed = killed_by_day(district)
    old = negbin_test(stats.sums(killed[-7:], killed[-97:-7]), NegbinRule())
    assert old.observed == 52 and 1e-4 < old.p_value < 1e-2  # far above its 1e-5
    assert negbin_episodes(area, district, START, WINDOW_END) == []


def test_the_old_rule_could_not_fire_on_a_provinces_deadly_week() -> None:
    area, province, _ = province_case()
    killed = killed_by_day(province)
    old = negbin_test(stats.sums(killed[-7:], killed[-97:-7]), NegbinRule())
    assert old.observed >= 63 and old.p_value > 1e-3
    assert negbin_episodes(area, province, START, WINDOW_END) == []


def test_a_surges_delay_is_its_first_firing_windows() -> None:
    area, district, parents = district_case()
    surge_day = WINDOW_END - timedelta(days=6)
    delays = first_firing(Rules(), area, district, parents, surge_day, WINDOW_END)
    # the count rule and the new fatality rule fire within the week; the old one not at all
    assert set(delays) == {"count_spike", "fatality_spike"}
    assert all(0 <= d <= 6 for d in delays.values())
