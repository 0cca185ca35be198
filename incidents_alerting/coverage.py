"""Coverage: was a province being reported on through a period? (docs/alerting.md)

A rule judges an area's history: a quiet district is one whose sources reported nothing
there for half a year, a spike is a week against the area's baseline. That judgement is
only sound over days the feeds were actually reporting on the area. A feed that arrives
newest first, in chunks, or after an outage leaves stretches of history that are simply
not there yet, and they look exactly like quiet.

So a province is **covered** by runs of report days (any source's, in any of its
districts) in which no two consecutive days are more than ``max_gap_days`` apart; a run
covers from its first report day to ``max_gap_days`` after its last (the feed would have
reported something by then). Rules judge only periods inside one run: a district is quiet
only if its province was covered through the whole quiet period, and a spike's baseline
counts only days of the run its window is in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Run:
    """Days a province was covered: from `start` to `end`, both included."""

    start: date
    end: date

    def covers(self, first: date, last: date) -> bool:
        return self.start <= first and last <= self.end


def covered_runs(report_days: Iterable[date], max_gap_days: int) -> list[Run]:
    """The runs of coverage that some report days give, oldest first."""
    days = sorted(set(report_days))
    runs: list[Run] = []
    if not days:
        return runs
    gap = timedelta(days=max_gap_days)
    start = previous = days[0]
    for day in days[1:]:
        if day - previous > gap:
            runs.append(Run(start, previous + gap))
            start = day
        previous = day
    runs.append(Run(start, previous + gap))
    return runs


def run_of(runs: Sequence[Run], day: date) -> Run | None:
    """The run that covers `day`, if one does."""
    return next((r for r in runs if r.start <= day <= r.end), None)


def run_starts(runs: Sequence[Run] | None, origin: date, span: int) -> list[int]:
    """For each day `origin + i` (0 <= i < span): the offset from `origin` of the start of
    the run that covers it (never below 0), or -1 where no run does. No runs (None): every
    day is covered from `origin` on."""
    if runs is None:
        return [0] * span
    out = [-1] * span
    for run in runs:
        first = max((run.start - origin).days, 0)
        last = min((run.end - origin).days, span - 1)
        for i in range(first, last + 1):
            out[i] = first
    return out
