"""Coverage: runs of report days, and the periods they cover."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from incidents_alerting.coverage import Run, covered_runs, run_of, run_starts
from incidents_alerting.evaluate import Area, Day, area_episodes, quiet_district_episodes
from incidents_alerting.rules import Rules

D0 = date(2024, 1, 1)


def days(*offsets: int) -> list[date]:
    return [D0 + timedelta(days=o) for o in offsets]


def test_a_gap_longer_than_the_limit_splits_the_runs() -> None:
    runs = covered_runs(days(0, 10, 40, 100, 120), max_gap_days=45)
    assert runs == [
        Run(D0, D0 + timedelta(days=40 + 45)),
        Run(D0 + timedelta(days=100), D0 + timedelta(days=120 + 45)),
    ]
    assert run_of(runs, D0 + timedelta(days=90)) is None  # between the runs: not covered
    assert run_of(runs, D0 + timedelta(days=150)) == runs[1]


def test_no_reports_cover_nothing() -> None:
    assert covered_runs([], 45) == [] and run_of([], D0) is None


def test_a_run_covers_a_period_inside_it_only() -> None:
    (run,) = covered_runs(days(0, 30, 60), max_gap_days=45)
    assert run.covers(D0, D0 + timedelta(days=100))
    assert not run.covers(D0 - timedelta(days=1), D0 + timedelta(days=10))
    assert not run.covers(D0, D0 + timedelta(days=106))


def test_newest_first_history_is_not_coverage_until_the_middle_arrives() -> None:
    """A district's newest report and only the oldest months of history: what arrived
    first in the feed that paged "first incident in 536 days"."""
    arrived = days(0, 20, 40, 536)
    assert run_of(covered_runs(arrived, 45), D0 + timedelta(days=536)).start == days(536)[0]
    everything = arrived + days(*range(60, 536, 30))
    assert run_of(covered_runs(everything, 45), D0 + timedelta(days=536)).start == D0


@given(st.lists(st.integers(0, 2000), min_size=1, max_size=60), st.integers(1, 120))
def test_runs_are_ordered_disjoint_and_cover_every_report_day(offsets: list[int], gap: int) -> None:
    reported = days(*offsets)
    runs = covered_runs(reported, gap)
    assert all(a.end < b.start for a, b in itertools.pairwise(runs))
    assert all(run_of(runs, d) is not None for d in reported)
    assert len(runs) == 1 + sum(
        1
        for a, b in zip(sorted(set(reported)), sorted(set(reported))[1:], strict=False)
        if (b - a).days > gap
    )


# --- the rules judge only covered history ------------------------------------------------

AREA = Area("Khyber Pakhtunkhwa", "Karak")
TODAY = D0 + timedelta(days=540)


def incidents(*offsets: int) -> dict[date, Day]:
    return {D0 + timedelta(days=o): Day.of([0]) for o in offsets}


def test_a_district_is_quiet_only_through_covered_history() -> None:
    """The feed that paged falsely: Karak's newest report arrived with only the oldest
    months of the province's history, then the rest."""
    history = list(range(0, 60, 20))  # Karak's first months
    newest = 536
    arrived_first = covered_runs(days(*history, newest), 45)
    assert (
        quiet_district_episodes(
            AREA, [D0 + timedelta(days=o) for o in (*history, newest)], D0, 180, arrived_first
        )
        == []
    )
    # Once the province's history has arrived (other districts reported all along), Karak
    # really was quiet for over a year, and that is an alert.
    everything = covered_runs(days(*range(0, 540, 10)), 45)
    (quiet,) = quiet_district_episodes(
        AREA, [D0 + timedelta(days=o) for o in (*history, newest)], D0, 180, everything
    )
    assert quiet.summary == "Karak: first incident in 496 days"


def test_a_spike_needs_its_baseline_covered() -> None:
    surge = {o: 3 for o in range(530, 534)}
    surging = {D0 + timedelta(days=o): Day.of([0] * n) for o, n in surge.items()}
    series = {**incidents(*range(0, 520, 15)), **surging}
    rules = Rules()
    fired = [e for e in area_episodes(AREA, series, D0, TODAY, rules) if e.rule == "count_spike"]
    assert fired  # fully covered: the surge fires
    # Only the surge and the oldest history have arrived: the window's run is the surge
    # itself, with no baseline to judge it against.
    partial = covered_runs(days(0, 15, 30, *surge), 45)
    assert [
        e
        for e in area_episodes(AREA, series, D0, TODAY, rules, coverage=partial)
        if e.rule == "count_spike"
    ] == []
    covered = covered_runs(days(*range(0, 540, 10)), 45)
    assert [
        e.alert_id
        for e in area_episodes(AREA, series, D0, TODAY, rules, coverage=covered)
        if e.rule == "count_spike"
    ] == [e.alert_id for e in fired]


def test_run_starts_marks_each_day_with_its_runs_start() -> None:
    runs = [Run(D0 + timedelta(days=2), D0 + timedelta(days=4))]
    assert run_starts(runs, D0, 7) == [-1, -1, 2, 2, 2, -1, -1]
    assert run_starts(None, D0, 3) == [0, 0, 0]
