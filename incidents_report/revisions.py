"""What changed in a quarter's figures since a moment: the report's "Revised since" section.

Both sides come from the warehouse: the quarter as known at the moment (the as-of views,
sinks.as_of) and as known now (the live views), per province and measure, and the reports
whose current version differs between the two (new reports, revisions, retractions), with
what each changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sinks.as_of import moment_text

MEASURES = ("incidents", "killed_total", "injured_total")
NATIONAL = "Pakistan"
# Reports listed at most; the count of all is given.
MAX_REPORTS = 50


class ReadClient(Protocol):
    """What this module needs of a clickhouse-connect client."""

    def query(self, query: str, parameters: Any = ...) -> Any: ...


@dataclass(frozen=True)
class MeasureChange:
    """One province's (or the country's) measure then and now."""

    province: str
    measure: str  # incidents, killed_total, injured_total
    then: int
    now: int

    @property
    def delta(self) -> int:
        return self.now - self.then


@dataclass(frozen=True)
class ChangedReport:
    """A report whose current version differs between the moment and now."""

    report_id: str
    source: str
    url: str | None
    occurred_on: date
    province: str
    then_version: int | None  # None: it had not arrived yet
    now_version: int
    then_retracted: bool
    now_retracted: bool
    then_killed: int
    now_killed: int
    then_injured: int
    now_injured: int
    published_at: datetime  # when its current version arrived

    @property
    def what(self) -> str:
        """`new`, `retracted`, `restored` or `revised`."""
        if self.then_version is None:
            return "new"
        if self.now_retracted and not self.then_retracted:
            return "retracted"
        if self.then_retracted and not self.now_retracted:
            return "restored"
        return "revised"


@dataclass(frozen=True)
class Revisions:
    """The quarter's changes between `as_of` and `now`."""

    as_of: datetime
    now: datetime
    changes: tuple[MeasureChange, ...]  # only measures that changed
    reports: tuple[ChangedReport, ...]  # at most MAX_REPORTS, latest arrivals first
    reports_total: int

    @property
    def unchanged(self) -> bool:
        return not self.changes and not self.reports_total


_PROVINCES = """
SELECT province, incidents, killed_total, injured_total
FROM v_province_quarter_as_of(as_of = {as_of:DateTime64(3, 'UTC')})
WHERE quarter = {q:Date32}
"""

_CHANGED_REPORTS = """
SELECT
    n.report_id AS report_id, n.source AS source, n.url AS url,
    if(n.retracted AND t.report_id != '', t.occurred_on, n.occurred_on) AS occurred_on,
    if(n.retracted AND t.report_id != '', t.province, n.province) AS province,
    t.report_id != '' AS known_then,
    t.version AS then_version, n.version AS now_version,
    t.retracted AS then_retracted, n.retracted AS now_retracted,
    t.killed_total AS then_killed, n.killed_total AS now_killed,
    t.injured_total AS then_injured, n.injured_total AS now_injured,
    if(n.published_at = toDateTime64(0, 3, 'UTC'), n.received_at, n.published_at)
        AS published_at
FROM v_reports_as_of(as_of = {now:DateTime64(3, 'UTC')}) AS n
LEFT JOIN v_reports_as_of(as_of = {as_of:DateTime64(3, 'UTC')}) AS t USING (report_id)
WHERE (n.occurred_on BETWEEN {start:Date32} AND {end:Date32}
       OR (t.report_id != '' AND t.occurred_on BETWEEN {start:Date32} AND {end:Date32}))
  AND (t.report_id = '' OR t.version != n.version OR t.fingerprint != n.fingerprint)
  AND NOT (t.report_id = '' AND n.retracted)
ORDER BY published_at DESC, report_id
"""


def revisions_since(
    client: ReadClient, start: date, end: date, as_of: datetime, now: datetime
) -> Revisions:
    """The quarter's (``start`` to ``end``) figures and reports as known at ``as_of``
    against ``now``."""
    changes = _changes(_provinces(client, start, as_of), _provinces(client, start, now))
    result = client.query(
        _CHANGED_REPORTS,
        parameters={
            "as_of": moment_text(as_of),
            "now": moment_text(now),
            "start": start,
            "end": end,
        },
    )
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    reports = tuple(_report(row) for row in rows[:MAX_REPORTS])
    return Revisions(as_of, now, changes, reports, len(rows))


def _provinces(client: ReadClient, start: date, moment: datetime) -> dict[str, dict[str, int]]:
    """The quarter's measures per province as known at ``moment``, the country's first."""
    result = client.query(_PROVINCES, parameters={"q": start, "as_of": moment_text(moment)})
    out: dict[str, dict[str, int]] = {}
    for row in result.result_rows:
        values = dict(zip(result.column_names, row, strict=True))
        out[str(values["province"])] = {m: int(values[m]) for m in MEASURES}
    national = {m: sum(p[m] for p in out.values()) for m in MEASURES}
    return {NATIONAL: national, **out}


def _changes(
    then: Mapping[str, Mapping[str, int]], now: Mapping[str, Mapping[str, int]]
) -> tuple[MeasureChange, ...]:
    zero = dict.fromkeys(MEASURES, 0)
    provinces: Sequence[str] = [NATIONAL, *sorted((set(then) | set(now)) - {NATIONAL})]
    changes = []
    for province in provinces:
        before, after = then.get(province, zero), now.get(province, zero)
        for measure in MEASURES:
            if before[measure] != after[measure]:
                changes.append(MeasureChange(province, measure, before[measure], after[measure]))
    return tuple(changes)


def _report(row: Mapping[str, Any]) -> ChangedReport:
    known = bool(row["known_then"])
    return ChangedReport(
        report_id=str(row["report_id"]),
        source=str(row["source"]),
        url=row["url"],
        occurred_on=row["occurred_on"],
        province=str(row["province"]),
        then_version=int(row["then_version"]) if known else None,
        now_version=int(row["now_version"]),
        then_retracted=known and bool(row["then_retracted"]),
        now_retracted=bool(row["now_retracted"]),
        then_killed=int(row["then_killed"]) if known else 0,
        now_killed=int(row["now_killed"]),
        then_injured=int(row["then_injured"]) if known else 0,
        now_injured=int(row["now_injured"]),
        published_at=row["published_at"],
    )
