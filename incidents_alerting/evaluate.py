"""Rules over one area's daily series: pure functions, from data to episodes.

An area (a district, or a whole province) has a daily series of incidents and killed, by
event time (``occurred_on``). Each spike rule tests every window ending on a day up to
``today``; firing windows no more than ``cooldown_days`` apart form one **episode**, which is
one alert. Everything here is a function of the series, the rules and ``today``, so the
same data in any order of arrival gives the same alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from incidents_alerting import stats
from incidents_alerting.rules import CountSpike, FatalitySpike, Rules


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
    """What an area saw on one day."""

    incidents: int = 0
    killed: int = 0


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


def _spike_episodes(
    rule: str,
    area: Area,
    values: dict[date, int],
    first_day: date,
    today: date,
    cfg: CountSpike | FatalitySpike,
    cooldown_days: int,
) -> list[Episode]:
    """Test every window ending from the area's first possible day to `today`."""
    width, base = cfg.window_days, cfg.baseline_days
    if not values:
        return []
    origin = first_day
    span = (today - origin).days + 1
    if span <= 0:
        return []
    series = [values.get(origin + timedelta(days=i), 0) for i in range(span)]
    prefix, squares = [0], [0]
    for v in series:
        prefix.append(prefix[-1] + v)
        squares.append(squares[-1] + v * v)
    minimum = cfg.min_count if isinstance(cfg, CountSpike) else cfg.min_killed
    firing: list[tuple[int, stats.Test]] = []
    for end in range(span):
        lo = end - width + 1
        if lo < 0 or prefix[end + 1] - prefix[lo] < minimum:
            continue
        base_lo = max(lo - base, 0)
        if lo - base_lo < cfg.min_baseline_days:
            continue
        # O(1) per window from the prefix sums; stop_at: a window that does not fire
        # needs no exact p-value (stats.count_spike)
        sums = stats.Sums(
            observed=prefix[end + 1] - prefix[lo],
            width=width,
            base_days=lo - base_lo,
            base_sum=prefix[lo] - prefix[base_lo],
            base_sumsq=squares[lo] - squares[base_lo],
        )
        if isinstance(cfg, CountSpike):
            test = stats.count_spike_test(sums, floor_rate=cfg.floor_rate, stop_at=cfg.p_value)
        else:
            test = stats.fatality_spike_test(
                sums, floor_rate=cfg.floor_rate, max_size=cfg.max_size, stop_at=cfg.p_value
            )
        if test.p_value < cfg.p_value:
            firing.append((end, test))
    return _group(rule, area, origin, firing, width, cooldown_days)


def _group(
    rule: str,
    area: Area,
    origin: date,
    firing: list[tuple[int, stats.Test]],
    width: int,
    cooldown_days: int,
) -> list[Episode]:
    episodes: list[Episode] = []
    run: list[tuple[int, stats.Test]] = []
    for item in firing:
        if run and item[0] - run[-1][0] > cooldown_days + 1:
            episodes.append(_episode(rule, area, origin, run, width))
            run = []
        run.append(item)
    if run:
        episodes.append(_episode(rule, area, origin, run, width))
    return episodes


def _episode(
    rule: str, area: Area, origin: date, run: list[tuple[int, stats.Test]], width: int
) -> Episode:
    peak_end, peak = min(run, key=lambda item: (item[1].p_value, item[0]))
    day = lambda offset: origin + timedelta(days=offset)  # noqa: E731
    what = "incidents" if rule == "count_spike" else "killed"
    summary = (
        f"{area.name}: {peak.observed} {what} in {width} days vs {peak.expected:.1f} expected"
        f" (p={peak.p_value:.1g})"
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
    area: Area, incident_days: Iterable[date], data_start: date, quiet_days: int
) -> list[Episode]:
    """An incident in a district after `quiet_days` without any (and with data that long)."""
    episodes: list[Episode] = []
    previous: date | None = None
    for day in sorted(set(incident_days)):
        quiet_since = previous or data_start
        if (day - quiet_since).days > quiet_days and (day - data_start).days > quiet_days:
            gap = (day - previous).days if previous else (day - data_start).days
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
    area: Area, days: dict[date, Day], data_start: date, today: date, rules: Rules
) -> list[Episode]:
    """Every spike and quiet-district episode of one area, from its whole series."""
    cooldown = rules.lifecycle.cooldown_days
    out: list[Episode] = []
    if rules.count_spike.enabled and area.kind in rules.count_spike.areas:
        counts = {d: v.incidents for d, v in days.items()}
        out += _spike_episodes(
            "count_spike", area, counts, data_start, today, rules.count_spike, cooldown
        )
    if rules.fatality_spike.enabled and area.kind in rules.fatality_spike.areas:
        killed = {d: v.killed for d, v in days.items()}
        out += _spike_episodes(
            "fatality_spike", area, killed, data_start, today, rules.fatality_spike, cooldown
        )
    if rules.quiet_district.enabled and area.kind == "district":
        active = [d for d, v in days.items() if v.incidents > 0]
        out += quiet_district_episodes(area, active, data_start, rules.quiet_district.quiet_days)
    return out
