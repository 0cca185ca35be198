"""Tail probabilities for the spike rules (docs/alerting.md), in plain Python.

Both tails are summed term by term from the observed value upward in log space, so the
tiny probabilities the rules compare against (1e-4 and below) keep their precision: a
``1 - cdf`` would lose them to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_TERMS = 100_000  # far more than any tail here needs; a guard, not a tuning knob
_NEGLIGIBLE = 1e-17  # relative size of a term past which the sum stops


def _upper_tail(
    log_pmf_k: float, ratio: Callable[[int], float], k: int, stop_at: float | None
) -> float:
    """Sum pmf(k), pmf(k+1), ... given log pmf(k) and i -> pmf(i+1)/pmf(i).

    Every term is positive, so a partial sum is a lower bound: once it reaches `stop_at`
    the sum stops and that bound is returned (the caller only asks "is it below?").
    """
    total, term, i = 0.0, math.exp(log_pmf_k), k
    for _ in range(_TERMS):
        total += term
        if stop_at is not None and total >= stop_at:
            break
        term *= ratio(i)
        i += 1
        if term < total * _NEGLIGIBLE:
            break
    return min(total, 1.0)


def poisson_sf(k: int, mean: float, *, stop_at: float | None = None) -> float:
    """P(X >= k) for X ~ Poisson(mean).

    With `stop_at`, a result at or above it may be a lower bound of the exact value (the
    sum stopped early); a result below it is always the exact value.
    """
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if k <= mean:  # the upper tail is large: 1 - lower tail loses nothing that matters
        lower, term = 0.0, math.exp(-mean)
        for i in range(k):
            lower += term
            term *= mean / (i + 1)
        return max(0.0, 1.0 - lower)
    log_pmf = -mean + k * math.log(mean) - math.lgamma(k + 1)
    return _upper_tail(log_pmf, lambda i: mean / (i + 1), k, stop_at)


def negbin_sf(k: int, mean: float, variance: float, *, stop_at: float | None = None) -> float:
    """P(X >= k) for a negative binomial with this mean and variance (Poisson if not over).

    Parametrised by size r = mean^2 / (variance - mean) and p = mean / variance.
    `stop_at` as in :func:`poisson_sf`.
    """
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if variance <= mean * (1 + 1e-9):
        return poisson_sf(k, mean, stop_at=stop_at)
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
    return _upper_tail(log_pmf, lambda i: (i + r) / (i + 1) * q, k, stop_at)


@dataclass(frozen=True)
class Test:
    """One rule's test of one window: what was seen, what was expected, how unlikely."""

    observed: int
    expected: float
    p_value: float


@dataclass(frozen=True)
class Sums:
    """What the spike tests need of a window and its baseline: counts and sums.

    The evaluation computes them in O(1) per window from prefix sums of the area's
    series (``incidents_alerting.evaluate``); :func:`sums` computes them from the days.
    """

    observed: int  # sum over the window
    width: int  # days in the window
    base_days: int
    base_sum: int
    base_sumsq: int  # sum of squares over the baseline (for its variance)


def sums(window: Sequence[int], baseline: Sequence[int]) -> Sums:
    return Sums(
        sum(window), len(window), len(baseline), sum(baseline), sum(x * x for x in baseline)
    )


def count_spike(
    window: Sequence[int],
    baseline: Sequence[int],
    *,
    floor_rate: float,
    stop_at: float | None = None,
) -> Test:
    """Incidents in the window against a Poisson rate from the baseline days.

    With `stop_at` (the rule's threshold) a p-value at or above it may be a lower bound:
    exact enough to tell that the window does not fire, at a fraction of the cost.

    The rate is the baseline's mean per day, but never below ``floor_rate``: an area with
    no incident in its baseline would otherwise expect zero and fire on its first one.
    """
    return count_spike_test(sums(window, baseline), floor_rate=floor_rate, stop_at=stop_at)


def count_spike_test(w: Sums, *, floor_rate: float, stop_at: float | None = None) -> Test:
    """:func:`count_spike` from the window's :class:`Sums`."""
    rate = max(w.base_sum / max(w.base_days, 1), floor_rate)
    expected = rate * w.width
    return Test(w.observed, expected, poisson_sf(w.observed, expected, stop_at=stop_at))


def fatality_spike(
    window: Sequence[int],
    baseline: Sequence[int],
    *,
    floor_rate: float,
    max_size: float,
    stop_at: float | None = None,
) -> Test:
    """Killed in the window against a negative binomial fitted to the baseline days.

    Fatalities are overdispersed (one bombing kills 30), so their daily counts are fitted
    by moments: mean m and variance v per day, the window's sum having mean W*m and
    variance W*v. The mean is floored like the count rule's rate, and the size parameter
    r = mean^2 / (variance - mean) is capped at ``max_size``: a quiet baseline (variance
    near zero) must not turn into a Poisson model under which any killing is a miracle.
    `stop_at` as in :func:`count_spike`.
    """
    return fatality_spike_test(
        sums(window, baseline), floor_rate=floor_rate, max_size=max_size, stop_at=stop_at
    )


def fatality_spike_test(
    w: Sums, *, floor_rate: float, max_size: float, stop_at: float | None = None
) -> Test:
    """:func:`fatality_spike` from the window's :class:`Sums`."""
    days = max(w.base_days, 1)
    mean_day = max(w.base_sum / days, floor_rate)
    # sum((x - m)^2) = sum(x^2) - 2 m sum(x) + n m^2, about the (floored) mean m
    spread = w.base_sumsq - 2 * mean_day * w.base_sum + w.base_days * mean_day * mean_day
    var_day = max(spread, 0.0) / days if w.base_days else mean_day
    mean, variance = mean_day * w.width, var_day * w.width
    # r <= max_size  <=>  variance >= mean + mean^2 / max_size
    variance = max(variance, mean + mean * mean / max_size)
    return Test(w.observed, mean, negbin_sf(w.observed, mean, variance, stop_at=stop_at))
