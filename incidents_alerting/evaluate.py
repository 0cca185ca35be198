"""Rules over one area's daily series: pure functions, from data to episodes.

An area (a district, or a whole province) has a daily series of incidents and killed, by
event time (``occurred_on``), with the killed of each incident. Each spike rule tests every
window ending on a day up to ``today``; firing windows no more than ``cooldown_days`` apart
form one **episode**, which is one alert. Everything here is a function of the series (the
area's, and its parents' for the fatality rule), the rules and ``today``, so the same data
in any order of arrival gives the same alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from incidents_alerting import stats
from incidents_alerting.coverage import Run, run_of, run_starts
from incidents_alerting.rules import FatalitySpike, Rules, WindowRule


@dataclass(frozen=True)
class Area:
    """A district of a province, or the whole province (district "")."""

    province: str
    district: str = ""

    @property
    def kind(self) -> str:
        return "district" if self.district else "province"

    @property
    def name(self) -> str:
        return self.district or self.province

    @property
    def key(self) -> str:
        return f"{self.province}|{self.district}"


@dataclass(frozen=True)
class Day:
    """What an area saw on one day: its incidents, their killed, and each one's killed.

    ``tolls`` (the killed of each incident, sorted) is what the fatality rule reads; a day
    built without it (``Day(3, 5)``) serves the count rule only.
    """

    incidents: int = 0
    killed: int = 0
    tolls: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.tolls and (len(self.tolls) != self.incidents or sum(self.tolls) != self.killed):
            raise ValueError(
                f"a day's tolls {self.tolls} do not add up to {self.incidents} incidents"
                f" and {self.killed} killed"
            )

    @classmethod
    def of(cls, tolls: Iterable[int]) -> Day:
        """The day of incidents that killed these many each."""
        each = tuple(sorted(int(t) for t in tolls))
        return cls(len(each), sum(each), each)


@dataclass(frozen=True)
class Episode:
    """One alert: a run of firing windows of one rule in one area (or one incident)."""

    rule: str
    area: Area
    start: date  # first day of the first firing window
    end: date  # last day of the last firing window
    peak_start: date  # the window with the smallest p-value
    peak_end: date
    observed: int
    expected: float
    p_value: float
    summary: str
    incident_id: str = ""  # mass casualty: the incident
    active: bool = True  # False: the condition no longer holds (a death toll revised down)

    @property
    def alert_id(self) -> str:
        """Stable id: the rule, the area (or incident) and where the episode starts."""
        what = self.incident_id or self.area.key
        raw = f"{self.rule}|{what}|{self.start.isoformat()}"
        return hashlib.sha1(raw.encode()).hexdigest()[:16]

    def firing(self, today: date, cooldown_days: int) -> bool:
        """Firing until its last firing day is more than the cooldown in the past."""
        return self.active and (today - self.end).days <= cooldown_days


# A window's test from its sums (the count rule's Poisson test, or another over the same sums)
SumsTest = Callable[[stats.Sums], stats.Test]


def window_episodes(
    rule: str,
    area: Area,
    values: Mapping[date, int],
    first_day: date,
    today: date,
    cfg: WindowRule,
    minimum: int,
    test: SumsTest,
    cooldown_days: int,
    coverage: Sequence[Run] | None = None,
) -> list[Episode]:
    """Test every window of a daily series from its sums, from the area's first possible
    day to `today`: windows summing to at least `minimum`, with `cfg.min_baseline_days`.

    With `coverage`, a window is tested only inside a covered run, and its baseline counts
    only the run's days (incidents_alerting.coverage); without it, everything from
    `first_day` counts."""
    width, base = cfg.window_days, cfg.baseline_days
    if not values:
        return []
    origin = first_day
    span = (today - origin).days + 1
    if span <= 0:
        return []
    series = [values.get(origin + timedelta(days=i), 0) for i in range(span)]
    starts = run_starts(coverage, origin, span)
    prefix, squares = [0], [0]
    for v in series:
        prefix.append(prefix[-1] + v)
        squares.append(squares[-1] + v * v)
    firing: list[tuple[int, stats.Test]] = []
    for end in range(span):
        lo = end - width + 1
        if lo < 0 or prefix[end + 1] - prefix[lo] < minimum:
            continue
        if starts[end] < 0 or starts[end] > lo:
            continue  # the window is not inside one covered run
        base_lo = max(lo - base, starts[end])
        if lo - base_lo < cfg.min_baseline_days:
            continue
        # O(1) per window from the prefix sums
        result = test(
            stats.Sums(
                observed=prefix[end + 1] - prefix[lo],
                width=width,
                base_days=lo - base_lo,
                base_sum=prefix[lo] - prefix[base_lo],
                base_sumsq=squares[lo] - squares[base_lo],
            )
        )
        if result.p_value < cfg.p_value:
            firing.append((end, result))
    return _group(rule, area, origin, firing, width, cooldown_days, {})


@dataclass(frozen=True)
class _Counted:
    """One series on the days of a span, as the fatality rule counts it: prefix sums (over
    days) of its incidents by toll, of its counted killed, and of its uncounted incidents.

    A toll of at least `cut` (an incident with a mass-casualty alert of its own) counts as 0:
    neither in a window's toll nor as a deadly incident of a baseline.
    """

    by_toll: np.ndarray  # (span + 1, tolls): incidents with each toll before each day
    killed: np.ndarray  # (span + 1,): counted killed before each day
    excluded: np.ndarray  # (span + 1,): incidents not counted before each day


def _tolls_of(days: Mapping[date, Day], origin: date, span: int) -> tuple[list[int], list[int]]:
    """The day (index in the span) and the toll of every incident in the span."""
    at: list[int] = []
    tolls: list[int] = []
    for day, v in days.items():
        i = (day - origin).days
        if not 0 <= i < span or not v.incidents:
            continue
        if len(v.tolls) != v.incidents:
            raise ValueError(
                f"{day}: the fatality rule needs the killed of each of the day's"
                f" {v.incidents} incidents (Day.tolls)"
            )
        at += [i] * v.incidents
        tolls += v.tolls
    return at, tolls


def _counted(
    level: tuple[list[int], list[int]], span: int, values: np.ndarray, cut: int | None
) -> _Counted:
    days = np.array(level[0], dtype=np.int64) + 1
    tolls = np.array(level[1], dtype=np.int64)
    kept = tolls if cut is None else np.where(tolls < cut, tolls, 0)
    by_toll = np.zeros((span + 1, len(values)), dtype=np.int64)
    np.add.at(by_toll, (days, np.searchsorted(values, kept)), 1)
    killed = np.bincount(days, weights=kept, minlength=span + 1).astype(np.int64)
    excluded = np.bincount(days, weights=kept != tolls, minlength=span + 1).astype(np.int64)
    return _Counted(by_toll.cumsum(axis=0), killed.cumsum(), excluded.cumsum())


@dataclass(frozen=True)
class WindowTest:
    """The fatality rule's test of one window."""

    end: date  # the window's last day
    test: stats.Test
    uncounted: int  # incidents in the window not counted (each has a mass-casualty alert)


def fatality_tests(
    days: Mapping[date, Day],
    parents: Sequence[Mapping[date, Day]],
    first_day: date,
    today: date,
    cfg: FatalitySpike,
    *,
    cut: int | None = None,
    coverage: Sequence[Run] | None = None,
) -> list[WindowTest]:
    """The fatality rule's test of every window with at least `cfg.min_killed` killed and
    `cfg.min_baseline_days`: killed in the window against a compound Poisson.

    Incidents arrive at the baseline's rate (floored, as the count rule's), and each kills a
    number drawn from the area's toll distribution over the baseline, shrunk toward its
    parents' (`parents`, nearest first: a district's province then the nation; a province's
    nation), the last one toward :func:`stats.prior_pmf`. Incidents with at least `cut`
    killed (the mass-casualty rule's threshold, when it is on) count as killing none: they
    alert on their own. docs/alerting.md has the formulas. With `coverage`, windows and
    baselines are those of covered runs, as in :func:`window_episodes`.

    Every window is one row of numpy arrays: its baseline's toll counts come from prefix
    sums, and :func:`stats.compound_poisson_sf_many` computes all the tails in one run. A
    p-value at or above `cfg.p_value` may be a lower bound (as ``stop_at`` in stats).
    """
    width, base = cfg.window_days, cfg.baseline_days
    origin = first_day
    span = (today - origin).days + 1
    if not days or span <= 0:
        return []
    pairs = [_tolls_of(days, origin, span)] + [_tolls_of(p, origin, span) for p in parents]
    # the toll values the distributions can take: the prior's and the ones seen
    if cut is not None:
        top = cut - 1
        values = np.arange(top + 1)
    else:
        seen = {t for _, tolls in pairs for t in tolls}
        top = max(stats.PRIOR_MAX_TOLL, *seen) if seen else stats.PRIOR_MAX_TOLL
        values = np.array(sorted(set(range(stats.PRIOR_MAX_TOLL + 1)) | seen))
    levels = [_counted(level, span, values, cut) for level in pairs]
    own = levels[0]
    ends = np.arange(span)
    lo = ends - width + 1
    starts = np.array(run_starts(coverage, origin, span))
    ok = (lo >= 0) & (starts >= 0) & (starts <= lo)  # inside one covered run
    observed = np.where(ok, own.killed[ends + 1] - own.killed[np.maximum(lo, 0)], 0)
    base_lo = np.maximum(lo - base, np.maximum(starts, 0))
    ok &= (observed >= cfg.min_killed) & (lo - base_lo >= cfg.min_baseline_days)
    ends, lo, base_lo, observed = ends[ok], lo[ok], base_lo[ok], observed[ok]
    if not len(ends):
        return []
    prior = np.array(stats.prior_pmf(top))[values]
    pmf = np.broadcast_to(prior / prior.sum(), (len(ends), len(values)))
    for level in reversed(levels):  # the nation toward the prior, ..., the area toward its parent
        counts = level.by_toll[lo] - level.by_toll[base_lo]
        total = counts.sum(axis=1, keepdims=True) + cfg.shrinkage
        pmf = np.where(total > 0, (counts + cfg.shrinkage * pmf) / np.maximum(total, 1e-300), pmf)
    incidents = (own.by_toll[lo] - own.by_toll[base_lo]).sum(axis=1)
    rates = np.maximum(incidents / (lo - base_lo), cfg.floor_rate) * width
    p = stats.compound_poisson_sf_many(observed, rates, pmf, values, stop_at=cfg.p_value)
    expected = rates * (pmf @ values)
    uncounted = own.excluded[ends + 1] - own.excluded[lo]
    return [
        WindowTest(
            origin + timedelta(days=int(ends[i])),
            stats.Test(int(observed[i]), float(expected[i]), float(p[i])),
            int(uncounted[i]),
        )
        for i in range(len(ends))
    ]


def fatality_episodes(
    area: Area,
    days: Mapping[date, Day],
    parents: Sequence[Mapping[date, Day]],
    first_day: date,
    today: date,
    cfg: FatalitySpike,
    cooldown_days: int,
    *,
    cut: int | None = None,
    coverage: Sequence[Run] | None = None,
) -> list[Episode]:
    """The fatality rule's episodes: its firing windows (:func:`fatality_tests`), grouped."""
    firing: list[tuple[int, stats.Test]] = []
    notes: dict[int, str] = {}
    for w in fatality_tests(days, parents, first_day, today, cfg, cut=cut, coverage=coverage):
        if w.test.p_value < cfg.p_value:
            end = (w.end - first_day).days
            firing.append((end, w.test))
            if w.uncounted:
                plural = "s" if w.uncounted > 1 else ""
                notes[end] = f"; not counting {w.uncounted} mass-casualty incident{plural}"
    return _group("fatality_spike", area, first_day, firing, cfg.window_days, cooldown_days, notes)


def _group(
    rule: str,
    area: Area,
    origin: date,
    firing: list[tuple[int, stats.Test]],
    width: int,
    cooldown_days: int,
    notes: Mapping[int, str],
) -> list[Episode]:
    episodes: list[Episode] = []
    run: list[tuple[int, stats.Test]] = []
    for item in firing:
        if run and item[0] - run[-1][0] > cooldown_days + 1:
            episodes.append(_episode(rule, area, origin, run, width, notes))
            run = []
        run.append(item)
    if run:
        episodes.append(_episode(rule, area, origin, run, width, notes))
    return episodes


def _episode(
    rule: str,
    area: Area,
    origin: date,
    run: list[tuple[int, stats.Test]],
    width: int,
    notes: Mapping[int, str],
) -> Episode:
    peak_end, peak = min(run, key=lambda item: (item[1].p_value, item[0]))
    day = lambda offset: origin + timedelta(days=offset)  # noqa: E731
    what = "incidents" if rule == "count_spike" else "killed"
    summary = (
        f"{area.name}: {peak.observed} {what} in {width} days vs {peak.expected:.1f} expected"
        f" (p={peak.p_value:.1g}{notes.get(peak_end, '')})"
    )
    return Episode(
        rule=rule,
        area=area,
        start=day(run[0][0] - width + 1),
        end=day(run[-1][0]),
        peak_start=day(peak_end - width + 1),
        peak_end=day(peak_end),
        observed=peak.observed,
        expected=peak.expected,
        p_value=peak.p_value,
        summary=summary,
    )


def quiet_district_episodes(
    area: Area,
    incident_days: Iterable[date],
    data_start: date,
    quiet_days: int,
    coverage: Sequence[Run] | None = None,
) -> list[Episode]:
    """An incident in a district after `quiet_days` without any, through days its province
    was covered (`coverage`; without it, every day from `data_start` counts)."""
    episodes: list[Episode] = []
    previous: date | None = None
    for day in sorted(set(incident_days)):
        run = run_of(coverage, day) if coverage is not None else Run(data_start, day)
        if run is None:
            previous = day
            continue  # nobody was reporting on the province then: no judgement
        quiet_since = max(previous or run.start, run.start)
        if (day - quiet_since).days > quiet_days:
            gap = (day - quiet_since).days
            episodes.append(
                Episode(
                    rule="quiet_district",
                    area=area,
                    start=day,
                    end=day,
                    peak_start=day,
                    peak_end=day,
                    observed=1,
                    expected=0.0,
                    p_value=1.0,
                    summary=f"{area.name}: first incident in {gap} days",
                )
            )
        previous = day
    return episodes


@dataclass(frozen=True)
class Incident:
    """What the mass-casualty rule needs of an incident."""

    incident_id: str
    area: Area  # its district (or its province when it names no district)
    day: date
    killed: int
    location: str = ""
    subtype: str = ""


def mass_casualty_episode(incident: Incident, min_killed: int) -> Episode:
    """One incident with at least `min_killed` killed is an alert of its own.

    Below the threshold the episode is inactive: it resolves an alert the incident had.
    """
    names = [incident.location, incident.area.name]
    where = ", ".join(
        n
        for i, n in enumerate(names)
        if n and n.casefold() not in (m.casefold() for m in names[:i])
    )
    kind = incident.subtype.replace("_", " ") or "attack"
    return Episode(
        rule="mass_casualty",
        area=incident.area,
        start=incident.day,
        end=incident.day,
        peak_start=incident.day,
        peak_end=incident.day,
        observed=incident.killed,
        expected=float(min_killed),
        p_value=0.0,
        summary=f"{where}: {incident.killed} killed in one incident ({kind})",
        incident_id=incident.incident_id,
        active=incident.killed >= min_killed,
    )


def area_episodes(
    area: Area,
    days: Mapping[date, Day],
    data_start: date,
    today: date,
    rules: Rules,
    parents: Sequence[Mapping[date, Day]] = (),
    coverage: Sequence[Run] | None = None,
) -> list[Episode]:
    """Every spike and quiet-district episode of one area, from its whole series.

    `parents` are the series the fatality rule shrinks the area's tolls toward, nearest
    first: for a district its province's then the nation's, for a province the nation's.
    `coverage` are the runs its province was reported on (incidents_alerting.coverage):
    history outside them is not judged. None: everything from `data_start` counts.
    """
    cooldown = rules.lifecycle.cooldown_days
    out: list[Episode] = []
    count = rules.count_spike
    if count.enabled and area.kind in count.areas:
        out += window_episodes(
            "count_spike",
            area,
            {d: v.incidents for d, v in days.items()},
            data_start,
            today,
            count,
            count.min_count,
            lambda s: stats.count_spike_test(s, floor_rate=count.floor_rate, stop_at=count.p_value),
            cooldown,
            coverage,
        )
    fatality = rules.fatality_spike
    if fatality.enabled and area.kind in fatality.areas:
        mc = rules.mass_casualty
        cut = mc.min_killed if mc.enabled else None
        out += fatality_episodes(
            area, days, parents, data_start, today, fatality, cooldown, cut=cut, coverage=coverage
        )
    if rules.quiet_district.enabled and area.kind == "district":
        active = [d for d, v in days.items() if v.incidents > 0]
        out += quiet_district_episodes(
            area, active, data_start, rules.quiet_district.quiet_days, coverage
        )
    return out
