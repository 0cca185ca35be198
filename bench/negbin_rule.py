"""The fatality rule as it shipped before the compound Poisson: a negative binomial over
the baseline's daily killed, kept here as the baseline column of ``bench.alert_noise``.

Deaths per day were fitted by moments (mean m, variance v per day; a window of W days has
mean W m and variance W v), the mean floored at ``floor_rate`` killed a day, and the size
r = mean^2 / (variance - mean) capped at ``max_size``. The cap made the tail so heavy that a
real surge could not fire (docs/alerting.md), which is why it was replaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from incidents_alerting import stats
from incidents_alerting.evaluate import Area, Day, Episode, window_episodes
from incidents_alerting.rules import FatalitySpike

_TERMS = 100_000
_NEGLIGIBLE = 1e-17


@dataclass(frozen=True)
class NegbinRule:
    """The old rule's parameters, as shipped (default_rules.toml before the change)."""

    p_value: float = 1e-5
    min_killed: int = 10
    floor_rate: float = 0.05  # killed per day
    max_size: float = 0.1
    window_days: int = 7
    baseline_days: int = 90
    min_baseline_days: int = 28


def negbin_sf(k: int, mean: float, variance: float, *, stop_at: float | None = None) -> float:
    """P(X >= k) for a negative binomial with this mean and variance (Poisson if not over).

    Parametrised by size r = mean^2 / (variance - mean) and p = mean / variance. With
    `stop_at`, a result at or above it may be a lower bound (the sum stopped early).
    """
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if variance <= mean * (1 + 1e-9):
        return stats.poisson_sf(k, mean, stop_at=stop_at)
    r = mean * mean / (variance - mean)
    p = mean / variance
    q = 1.0 - p
    if k <= mean:
        lower, log_term = 0.0, r * math.log(p)
        for i in range(k):
            lower += math.exp(log_term)
            log_term += math.log((i + r) / (i + 1) * q)
        return max(0.0, 1.0 - lower)
    log_pmf = (
        math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(p) + k * math.log(q)
    )
    total, term, i = 0.0, math.exp(log_pmf), k
    for _ in range(_TERMS):
        total += term
        if stop_at is not None and total >= stop_at:
            break
        term *= (i + r) / (i + 1) * q
        i += 1
        if term < total * _NEGLIGIBLE:
            break
    return min(total, 1.0)


def negbin_test(w: stats.Sums, rule: NegbinRule, *, stop_at: float | None = None) -> stats.Test:
    """The old test of one window from its sums."""
    days = max(w.base_days, 1)
    mean_day = max(w.base_sum / days, rule.floor_rate)
    # sum((x - m)^2) = sum(x^2) - 2 m sum(x) + n m^2, about the (floored) mean m
    spread = w.base_sumsq - 2 * mean_day * w.base_sum + w.base_days * mean_day * mean_day
    var_day = max(spread, 0.0) / days if w.base_days else mean_day
    mean, variance = mean_day * w.width, var_day * w.width
    # r <= max_size  <=>  variance >= mean + mean^2 / max_size
    variance = max(variance, mean + mean * mean / rule.max_size)
    return stats.Test(w.observed, mean, negbin_sf(w.observed, mean, variance, stop_at=stop_at))


def negbin_episodes(
    area: Area,
    days: dict[date, Day],
    data_start: date,
    today: date,
    rule: NegbinRule = NegbinRule(),
    cooldown_days: int = 3,
) -> list[Episode]:
    """The old rule's episodes over an area's daily killed (every incident counted)."""
    window = FatalitySpike(
        window_days=rule.window_days,
        baseline_days=rule.baseline_days,
        min_baseline_days=rule.min_baseline_days,
        p_value=rule.p_value,
    )
    return window_episodes(
        "fatality_spike",
        area,
        {d: v.killed for d, v in days.items()},
        data_start,
        today,
        window,
        rule.min_killed,
        lambda s: negbin_test(s, rule, stop_at=rule.p_value),
        cooldown_days,
    )
