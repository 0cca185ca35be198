"""Tail probabilities for the spike rules (docs/alerting.md), in plain Python and numpy.

Small tails are summed term by term from the observed value upward, so the tiny
probabilities the rules compare against (1e-4 and below) keep their precision: a
``1 - cdf`` would lose them to rounding. A large tail may be ``1 - cdf``: it loses nothing.

- :func:`poisson_sf`: incidents in a window (the count rule).
- :class:`CompoundPoisson`: killed in a window (the fatality rule). Incidents arrive as a
  Poisson process and each kills a number drawn from a toll distribution with bounded
  support; the window's toll S = X_1 + ... + X_N. Its pmf comes from Panjer's recursion,
  exactly, and its upper tail from the pmf.
- :func:`compound_poisson_sf_many`: the same for every window of a series at once (numpy).
- :func:`shrunk_pmf`: an area's toll distribution, its own tolls mixed with its parent's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

_TERMS = 100_000  # far more than any tail here needs; a guard, not a tuning knob
_NEGLIGIBLE = 1e-17  # relative size of a term past which the sum stops

# The compound Poisson tail is 1 - cdf while that is at least this large (the cdf's rounding,
# about 1e-14, is then a relative error below 1e-8); below it, the terms are summed upward.
_COMPLEMENT_FLOOR = 1e-6
# The upward sum stops when the rest of the tail is provably below this share of the sum.
_LOG_REST_SHARE = math.log(1e-12)
_RESCALE_AT = 1e250  # Panjer terms are kept scaled; above this they are scaled down
_THETAS = tuple(2.0**e for e in range(-7, 5))  # Chernoff bound: tilts tried for the rest

# When no area up the tree has an incident in its baseline (the first weeks of a feed), the
# tolls are shrunk toward this: a geometric distribution with mean 3 killed, heavier than
# the Q1 2024 sample's 1.8 (a guess should not make an ordinary toll look like a surge).
PRIOR_MEAN_TOLL = 3.0
PRIOR_MAX_TOLL = 40  # the prior's support: 0..40 (its mass above 40 is below 1e-5)


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


def prior_pmf(top: int = PRIOR_MAX_TOLL) -> list[float]:
    """The prior toll distribution on 0..top: geometric with mean PRIOR_MEAN_TOLL, cut at
    `top` and renormalised."""
    q = PRIOR_MEAN_TOLL / (1 + PRIOR_MEAN_TOLL)  # P(X = k) ∝ q^k has mean q / (1 - q)
    weights = [q**k for k in range(max(top, 0) + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def shrunk_pmf(counts: Mapping[int, int], parent: Sequence[float], strength: float) -> list[float]:
    """An area's toll pmf: its own tolls shrunk toward its parent's distribution.

    ``counts[k]`` is how many of the area's incidents killed k, n their number, q the
    parent's pmf, and kappa the `strength`: f(k) = (counts[k] + kappa q(k)) / (n + kappa),
    the mixture of the area's empirical pmf (weight n / (n + kappa)) and the parent's. With
    few incidents of its own an area borrows its parent's shape; with many, its own.
    """
    n = sum(counts.values())
    if n + strength <= 0:
        return list(parent)
    top = max(len(parent) - 1, max(counts, default=0))
    out = [strength * q for q in parent] + [0.0] * (top + 1 - len(parent))
    for k, c in counts.items():
        out[k] += c
    total = n + strength
    return [x / total for x in out]


class CompoundPoisson:
    """S = X_1 + ... + X_N with N ~ Poisson(mean) and X_i i.i.d. with pmf `tolls` on 0..K.

    Panjer's recursion gives S's pmf exactly: g(0) = exp(-mean (1 - f(0))) and
    g(s) = (mean / s) * sum_{j=1..min(s,K)} j f(j) g(s - j). The pmf computed so far is kept,
    so asking for several tails of one distribution (the windows of one baseline) costs the
    recursion once. The work is O(s K') for a tail at s, K' the number of nonzero f(j).
    """

    def __init__(self, mean: float, tolls: Sequence[float]) -> None:
        self.rate = max(mean, 0.0)  # expected number of incidents
        total = sum(tolls)
        pmf = [t / total for t in tolls] if total > 0 else [1.0]
        self._steps = [(j, j * f) for j, f in enumerate(pmf) if j and f > 0]
        self.top = max((j for j, _ in self._steps), default=0)
        self.mean = self.rate * sum(jf for _, jf in self._steps)  # E[S]
        self._pmf = pmf
        self._log_scale = -self.rate * (1.0 - pmf[0])  # g(s) = h(s) * exp(_log_scale)
        self._h = [1.0]
        self._below = [0.0, 1.0]  # _below[s] = sum of h(0..s-1), scaled like h
        self._log_mgf: list[tuple[float, float]] | None = None

    def _extend(self, upto: int) -> None:
        """Run the recursion until h(upto) is known."""
        h, below, steps, rate = self._h, self._below, self._steps, self.rate
        while len(h) <= upto:
            s = len(h)
            acc = 0.0
            for j, jf in steps:
                if j > s:
                    break
                acc += jf * h[s - j]
            value = rate * acc / s
            h.append(value)
            below.append(below[-1] + value)
            if value > _RESCALE_AT:
                for i in range(len(h)):
                    h[i] /= _RESCALE_AT
                for i in range(len(below)):
                    below[i] /= _RESCALE_AT
                self._log_scale += math.log(_RESCALE_AT)

    def _actual(self, scaled: float) -> float:
        if scaled <= 0:
            return 0.0
        return math.exp(math.log(scaled) + self._log_scale)

    def pmf(self, s: int) -> float:
        """P(S = s)."""
        if s < 0:
            return 0.0
        self._extend(s)
        return self._actual(self._h[s])

    def _log_rest_bound(self, t: int) -> float:
        """log of an upper bound of P(S >= t): Chernoff, min over a few tilts theta of
        -theta t + mean (M(theta) - 1), M the toll distribution's moment generating function."""
        if self._log_mgf is None:
            tilts = []
            for theta in _THETAS:
                if theta * self.top > 700:
                    break
                mgf = sum(f * math.exp(theta * j) for j, f in enumerate(self._pmf) if f > 0)
                tilts.append((theta, self.rate * (mgf - 1.0)))
            self._log_mgf = tilts
        return min((-theta * t + c for theta, c in self._log_mgf), default=0.0)

    def sf(self, k: int, *, stop_at: float | None = None) -> float:
        """P(S >= k).

        With `stop_at`, a result at or above it may be a lower bound of the exact value (the
        sum stopped early); a result below it is the exact value (to a relative 1e-8).
        """
        if k <= 0:
            return 1.0
        if self.rate <= 0 or not self._steps:
            return 0.0
        self._extend(k - 1)
        tail = 1.0 - self._actual(self._below[k])
        if tail >= _COMPLEMENT_FLOOR:
            return min(tail, 1.0)
        total, s = 0.0, k
        for _ in range(_TERMS):
            total += self.pmf(s)
            s += 1
            if stop_at is not None and total >= stop_at:
                break
            if s % 8 == 0:
                rest = self._log_rest_bound(s)
                if rest < -745 or (total > 0 and rest < math.log(total) + _LOG_REST_SHARE):
                    break
        return min(total, 1.0)


def compound_poisson_sf(
    k: int, mean: float, tolls: Sequence[float], *, stop_at: float | None = None
) -> float:
    """P(S >= k) for S compound Poisson: N ~ Poisson(mean) incidents, tolls with pmf `tolls`."""
    return CompoundPoisson(mean, tolls).sf(k, stop_at=stop_at)


def compound_poisson_sf_many(
    ks: np.ndarray,
    means: np.ndarray,
    pmfs: np.ndarray,
    values: np.ndarray,
    *,
    stop_at: float | None = None,
) -> np.ndarray:
    """P(S_i >= ks[i]) for many compound Poisson laws at once (the windows of one series).

    Law i has ``means[i]`` expected incidents and the toll pmf ``pmfs[i]`` over the toll
    values ``values`` (distinct, one column each). Panjer's recursion runs for all of them
    together, step s computing every law's P(S = s) at once, each law leaving once s reaches
    its k: the cost is that of the largest k, in numpy, instead of one Python recursion a
    window. A tail of at least 1e-6 is 1 - cdf; a smaller one (a window that may fire) is
    summed exactly by :class:`CompoundPoisson`, as is a law whose P(S = 0) underflows.
    `stop_at` as in :meth:`CompoundPoisson.sf`.
    """
    n = len(ks)
    out = np.ones(n)
    lags = values[values > 0]
    if n == 0 or len(lags) == 0:
        return np.where(ks <= 0, 1.0, 0.0) if n else out
    top = int(lags.max())
    jf = pmfs[:, values > 0] * lags  # j f(j), for the lags j of the recursion
    log_g0 = -means * (1.0 - pmfs[:, values == 0].sum(axis=1))
    order = np.argsort(-ks, kind="stable")  # the laws still running are a prefix of it
    ks_sorted, lam, jf = ks[order], means[order], jf[order]
    # history[:, top - j] = P(S = s - j) for j = 1..top (zero before s = 0)
    history = np.zeros((n, top))
    history[:, -1] = np.exp(log_g0[order])
    cdf = history[:, -1].copy()  # P(S <= s - 1), for s = 1 after this
    columns = top - lags
    running = int(np.count_nonzero(ks_sorted > 1))
    s = 1
    while running:
        a = running
        terms = np.einsum("ij,ij->i", jf[:a], history[:a, columns])
        g = lam[:a] * terms / s
        history[:a, :-1] = history[:a, 1:]
        history[:a, -1] = g
        cdf[:a] += g
        s += 1
        while running and ks_sorted[running - 1] <= s:
            running -= 1
    tail = np.empty(n)
    tail[order] = 1.0 - cdf
    out = np.where(ks <= 0, 1.0, np.clip(tail, 0.0, 1.0))
    exact = np.flatnonzero((ks > 0) & ((out < _COMPLEMENT_FLOOR) | (log_g0 < -700)))
    for i in exact:
        dense = np.zeros(int(values.max()) + 1)
        dense[values] = pmfs[i]
        out[i] = CompoundPoisson(float(means[i]), dense.tolist()).sf(int(ks[i]), stop_at=stop_at)
    return out


@dataclass(frozen=True)
class Test:
    """One rule's test of one window: what was seen, what was expected, how unlikely."""

    observed: int
    expected: float
    p_value: float


@dataclass(frozen=True)
class Sums:
    """What the count test needs of a window and its baseline: counts and sums.

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


def baseline_rate(incidents: int, days: int, floor_rate: float) -> float:
    """Incidents a day over a baseline, never below ``floor_rate`` (both spike rules)."""
    return max(incidents / max(days, 1), floor_rate)


def count_spike_test(w: Sums, *, floor_rate: float, stop_at: float | None = None) -> Test:
    """:func:`count_spike` from the window's :class:`Sums`."""
    expected = baseline_rate(w.base_sum, w.base_days, floor_rate) * w.width
    return Test(w.observed, expected, poisson_sf(w.observed, expected, stop_at=stop_at))
