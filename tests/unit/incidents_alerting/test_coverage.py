"""Coverage: runs of report days, and the periods they cover."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from incidents_alerting.coverage import Run, covered_runs, run_of

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
