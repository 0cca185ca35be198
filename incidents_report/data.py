"""The quarterly report's data: SQL over the analyst views -> a typed, immutable model.

Every number in the report comes from ClickHouse (the views of docs/analysts.md, the
current version of each report in v_reports, the dead letters in rejected_reports, the
data-quality runs in v_dq_latest); Python only parses the quarter, names things and moves
values into the model. The SQL is in incidents_report/sql.py, one query per section; here one small
function per section runs its query with the quarter's first day and builds its part of the
model. As of a moment (`incidents report --as-of`), the same SQL reads every view through
its as-of twin (:class:`AsOfClient`), and the report adds what was revised since
(incidents_report/revisions.py). Rendering is one module per output beside it: charts,
html, markdown, pdf, terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from incidents_report.exceptions import NoData, QuarterError
from incidents_report.revisions import Revisions, revisions_since
from incidents_report.sql import (
    DEAD_LETTER_REASONS_SQL,
    DEAD_LETTERS_SQL,
    DEADLIEST_SQL,
    DISTRICTS_SQL,
    DQ_EXISTS_SQL,
    DQ_SQL,
    FIRST_QUARTER_SQL,
    MONTHS_SQL,
    NATIONAL_SQL,
    NEWEST_REPORT_SQL,
    PERPETRATORS_SQL,
    PROVINCES_SQL,
    SOURCES_SQL,
    TREND_NATIONAL_SQL,
    TREND_SQL,
)
from sinks import as_of

TOP_DISTRICTS = 10
DEADLIEST_INCIDENTS = 10
TREND_QUARTERS = 8


# --- the quarter ---------------------------------------------------------------------

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
_QUARTER_REVERSED = re.compile(r"^\s*[Qq]([1-4])\s*[-/ ]?\s*(\d{4})\s*$")


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter (of the Asia/Karachi dates the warehouse holds)."""

    year: int
    q: int

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 4:
            raise QuarterError(f"quarter {self.q} of {self.year}: the quarter must be 1 to 4")
        if not 1947 <= self.year <= 2299:
            raise QuarterError(f"year {self.year}: the warehouse holds 1947 to 2299")

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """`2024Q1`, `2024-Q1`, `2024q1` or `Q1 2024`."""
        m = _QUARTER.match(text)
        if m:
            return cls(int(m.group(1)), int(m.group(2)))
        m = _QUARTER_REVERSED.match(text)
        if m:
            return cls(int(m.group(2)), int(m.group(1)))
        shown = text if len(text) <= 40 else text[:39] + "…"
        raise QuarterError(f"{shown!r} is not a quarter; write it like 2024Q1 (quarters 1 to 4)")

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> date:
        """The first day of the quarter (how the views key it)."""
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> date:
        """The last day of the quarter."""
        last_month = 3 * self.q
        return date(self.year, last_month, 31 if last_month in (3, 12) else 30)

    @property
    def code(self) -> str:
        """`2024Q1`, as the CLI takes it (and the demo names its file)."""
        return f"{self.year}Q{self.q}"

    @property
    def label(self) -> str:
        """`2024-Q1`, as the views label it."""
        return f"{self.year}-Q{self.q}"

    @property
    def title(self) -> str:
        """`Q1 2024`, as a report names it."""
        return f"Q{self.q} {self.year}"

    def shifted(self, quarters: int) -> Quarter:
        index = self.year * 4 + (self.q - 1) + quarters
        return Quarter(index // 4, index % 4 + 1)

    def __str__(self) -> str:
        return self.code


# --- the model -----------------------------------------------------------------------


@dataclass(frozen=True)
class Victims:
    """Killed or injured, by victim group."""

    civilians: int
    security: int
    militants: int
    unknown: int
    total: int

    def groups(self) -> list[tuple[str, int]]:
        return [
            ("Civilians", self.civilians),
            ("Security forces", self.security),
            ("Militants", self.militants),
            ("Unknown", self.unknown),
        ]


@dataclass(frozen=True)
class Comparison:
    """The same quarter's totals in another quarter (previous, or a year before), with the
    change to the report's quarter in % (None: that quarter had none, or no row)."""

    label: str
    incidents: int | None
    killed: int | None
    injured: int | None
    incidents_change_pct: float | None
    killed_change_pct: float | None
    injured_change_pct: float | None

    @property
    def recorded(self) -> bool:
        return self.incidents is not None


@dataclass(frozen=True)
class National:
    incidents: int
    terror_attacks: int
    security_operations: int
    killed: Victims
    injured: Victims
    previous: Comparison
    year_before: Comparison


@dataclass(frozen=True)
class ProvinceRow:
    province: str
    incidents: int
    terror_attacks: int
    security_operations: int
    killed: int
    injured: int
    killed_civilians: int
    killed_security: int
    killed_militants: int
    killed_unknown: int
    fatality_share_pct: float
    incident_share_pct: float
    killed_change_pct: float | None
    incidents_change_pct: float | None


@dataclass(frozen=True)
class DistrictRow:
    province: str
    district: str  # '' when the reports named no district
    incidents: int
    terror_attacks: int
    security_operations: int
    killed: int
    injured: int

    @property
    def name(self) -> str:
        return self.district or "(district not named)"


@dataclass(frozen=True)
class Source:
    """One report an incident merges: its source and url (current version, v_reports)."""

    report_id: str
    source: str
    url: str | None


SUBTYPES = {"ied": "IED", "intelligence_based_operation": "intelligence-based operation"}


@dataclass(frozen=True)
class IncidentRow:
    incident_id: str
    occurred_on: date
    province: str
    district: str
    location: str
    category: str
    subtype: str
    killed: int
    injured: int
    sources: tuple[Source, ...]

    @property
    def place(self) -> str:
        parts = [p for p in (self.location, self.district) if p]
        if len(parts) == 2 and parts[0].casefold() == parts[1].casefold():
            parts = parts[:1]
        return ", ".join([*parts, self.province])

    @property
    def kind(self) -> str:
        category = {"terror_attack": "Terror attack", "security_operation": "Security operation"}
        text = category.get(self.category, self.category.replace("_", " "))
        subtype = SUBTYPES.get(self.subtype, self.subtype.replace("_", " "))
        if subtype and self.subtype != "other":
            text += f": {subtype}"
        return text


@dataclass(frozen=True)
class MonthRow:
    """One month of the quarter, nationally (v_national_month; zeros for a month without
    incidents)."""

    month: date  # its first day
    incidents: int
    terror_attacks: int
    security_operations: int
    killed: int
    injured: int

    @property
    def name(self) -> str:
        return f"{self.month:%B %Y}"


UNNAMED = ""  # the perpetrator of an incident whose reports name no group


@dataclass(frozen=True)
class PerpetratorRow:
    """Incidents of one category attributed to one group (UNNAMED: no report names one)."""

    category: str  # terror_attack | security_operation
    group: str
    incidents: int
    killed: int
    injured: int
    disputed: int  # of these incidents, those whose reports named more than one group

    @property
    def named(self) -> bool:
        return self.group != UNNAMED


@dataclass(frozen=True)
class TrendPoint:
    quarter: str  # 2024-Q1
    province: str
    incidents: int
    killed: int


@dataclass(frozen=True)
class DataQuality:
    """The latest `incidents dq` run (v_dq_latest)."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    success: bool
    expectations: int
    failed: int
    suites: tuple[str, ...]
    trigger: str


@dataclass(frozen=True)
class DeadLetters:
    """Dead letters (rejected_reports) that belong to the quarter: those whose raw text names
    an occurred_on in it, plus those received during it (Asia/Karachi dates)."""

    total: int
    named_in_quarter: int
    received_in_quarter: int
    by_reason: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class QuarterlyReport:
    quarter: Quarter
    generated_at: datetime
    newest_report_at: datetime | None  # the newest report the warehouse received (UTC)
    national: National
    months: tuple[MonthRow, ...]  # the quarter's three months, oldest first
    perpetrators: tuple[PerpetratorRow, ...]  # by category, then named groups worst first
    provinces: tuple[ProvinceRow, ...]
    districts: tuple[DistrictRow, ...]  # every district of the quarter, worst first
    deadliest: tuple[IncidentRow, ...]
    trend_quarters: tuple[str, ...]  # labels, oldest first, within the warehouse's coverage
    trend: tuple[TrendPoint, ...]  # per province
    trend_national: tuple[TrendPoint, ...]  # province "Pakistan": the national totals
    first_quarter: str  # the first quarter the warehouse records an incident in
    data_quality: DataQuality | None
    dead_letters: DeadLetters
    known_at: datetime | None = None  # the figures as known then (--as-of); None: now
    revised: Revisions | None = None  # what changed between known_at and generated_at

    @property
    def top_districts(self) -> tuple[DistrictRow, ...]:
        return self.districts[:TOP_DISTRICTS]

    @property
    def has_trend(self) -> bool:
        """More than one quarter recorded: a trend across quarters means something."""
        return len(self.trend_quarters) > 1

    def headline(self) -> str:
        """The CRSS-style sentence: totals and the two largest shares of the fatalities."""
        n = self.national
        text = (
            f"{self.quarter.title}: {n.killed.total:,} fatalities, {n.injured.total:,} injuries, "
            f"{n.incidents:,} incidents"
        )
        leaders = [p for p in self.provinces if p.killed > 0][:2]
        if leaders:
            shares = " and ".join(f"{p.province} {percent(p.fatality_share_pct)}" for p in leaders)
            text += f"; {shares} of all fatalities"
        return text + "."


def percent(value: float) -> str:
    """A share in whole percent, rounding halves up (50.5 -> 51%), as reports print them."""
    return f"{Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)}%"


class ReadClient(Protocol):
    """What the report needs of a clickhouse-connect client."""

    def query(self, query: str, parameters: Any = ...) -> Any: ...


def _rows(client: ReadClient, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters)
    names = list(result.column_names)
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _victims(row: Mapping[str, Any], kind: str) -> Victims:
    return Victims(
        civilians=int(row[f"{kind}_civilians"]),
        security=int(row[f"{kind}_security"]),
        militants=int(row[f"{kind}_militants"]),
        unknown=int(row[f"{kind}_unknown"]),
        total=int(row[f"{kind}_total"]),
    )


def _comparison(row: Mapping[str, Any], prefix: str, label: str) -> Comparison:
    return Comparison(
        label=label,
        incidents=_int(row[f"{prefix}_incidents"]),
        killed=_int(row[f"{prefix}_killed"]),
        injured=_int(row[f"{prefix}_injured"]),
        incidents_change_pct=_float(row[f"{prefix}_incidents_change_pct"]),
        killed_change_pct=_float(row[f"{prefix}_killed_change_pct"]),
        injured_change_pct=_float(row[f"{prefix}_injured_change_pct"]),
    )


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _counts(row: Mapping[str, Any]) -> dict[str, int]:
    """The counts a district's and a month's rows share."""
    names = ("incidents", "terror_attacks", "security_operations", "killed", "injured")
    return {name: int(row[name]) for name in names}


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AsOfClient:
    """A ReadClient that answers as known at ``moment``: each query's views are read
    through their as-of twins (sinks.as_of.bind), the moment passed as a parameter.
    Queries of tables without a twin (data quality, dead letters) answer as of now."""

    def __init__(self, client: ReadClient, moment: datetime) -> None:
        self._client = client
        self._moment = moment

    def query(self, query: str, parameters: Any = None) -> Any:
        text, bound = as_of.bind(query, "", self._moment, parameters)
        return self._client.query(text, parameters=bound)


def build_report(
    client: ReadClient,
    quarter: Quarter,
    *,
    generated_at: datetime | None = None,
    known_at: datetime | None = None,
) -> QuarterlyReport:
    """Read the quarter's report from the warehouse; NoData when it has no incident.

    ``known_at``: the figures as known at that moment (check it with
    sinks.as_of.check_answerable first), with what changed since. Each section is read by
    one function below from the quarter's first day `q`."""
    now = generated_at or datetime.now(UTC)
    revised = None
    if known_at is not None:
        revised = revisions_since(client, quarter.start, quarter.end, known_at, now)
        client = AsOfClient(client, known_at)
    q = quarter.start
    national = _national(client, quarter)
    trend, trend_national = _trend(client, q)
    return QuarterlyReport(
        quarter=quarter,
        generated_at=now,
        newest_report_at=_newest_report(client),
        known_at=known_at,
        revised=revised,
        national=national,
        months=_months(client, q),
        perpetrators=_perpetrators(client, q),
        provinces=_provinces(client, q),
        districts=_districts(client, q),
        deadliest=_deadliest(client, q),
        trend_quarters=tuple(p.quarter for p in trend_national),
        trend=trend,
        trend_national=trend_national,
        first_quarter=Quarter.of(_as_date(_rows(client, FIRST_QUARTER_SQL)[0]["first"])).label,
        data_quality=_data_quality(client),
        dead_letters=_dead_letters(client, q),
    )


def _national(client: ReadClient, quarter: Quarter) -> National:
    rows = _rows(client, NATIONAL_SQL, q=quarter.start)
    if not rows or not rows[0]["incidents"]:
        raise NoData(
            f"no incidents recorded in {quarter.code} ({quarter.start} to {quarter.end}) "
            "in the warehouse"
        )
    row = rows[0]
    return National(
        incidents=int(row["incidents"]),
        terror_attacks=int(row["terror_attacks"]),
        security_operations=int(row["security_operations"]),
        killed=_victims(row, "killed"),
        injured=_victims(row, "injured"),
        previous=_comparison(row, "prev", quarter.shifted(-1).title),
        year_before=_comparison(row, "yoy", quarter.shifted(-4).title),
    )


def _provinces(client: ReadClient, q: date) -> tuple[ProvinceRow, ...]:
    return tuple(
        ProvinceRow(
            province=r["province"],
            incidents=int(r["incidents"]),
            terror_attacks=int(r["terror_attacks"]),
            security_operations=int(r["security_operations"]),
            killed=int(r["killed"]),
            injured=int(r["injured"]),
            killed_civilians=int(r["killed_civilians"]),
            killed_security=int(r["killed_security"]),
            killed_militants=int(r["killed_militants"]),
            killed_unknown=int(r["killed_unknown"]),
            fatality_share_pct=float(r["fatality_share_pct"]),
            incident_share_pct=float(r["incident_share_pct"]),
            killed_change_pct=_float(r["killed_change_pct"]),
            incidents_change_pct=_float(r["incidents_change_pct"]),
        )
        for r in _rows(client, PROVINCES_SQL, q=q)
    )


def _districts(client: ReadClient, q: date) -> tuple[DistrictRow, ...]:
    return tuple(
        DistrictRow(province=r["province"], district=r["district"] or "", **_counts(r))
        for r in _rows(client, DISTRICTS_SQL, q=q)
    )


def _months(client: ReadClient, q: date) -> tuple[MonthRow, ...]:
    return tuple(
        MonthRow(month=_as_date(r["month"]), **_counts(r)) for r in _rows(client, MONTHS_SQL, q=q)
    )


def _perpetrators(client: ReadClient, q: date) -> tuple[PerpetratorRow, ...]:
    return tuple(
        PerpetratorRow(
            category=r["category"],
            group=r["perpetrator"] if r["group_key"] else UNNAMED,
            incidents=int(r["incidents"]),
            killed=int(r["killed"]),
            injured=int(r["injured"]),
            disputed=int(r["disputed"]),
        )
        for r in _rows(client, PERPETRATORS_SQL, q=q)
    )


def _newest_report(client: ReadClient) -> datetime | None:
    rows = _rows(client, NEWEST_REPORT_SQL)
    return _utc(rows[0]["newest"]) if rows and int(rows[0]["versions"]) else None


def _trend(client: ReadClient, q: date) -> tuple[tuple[TrendPoint, ...], tuple[TrendPoint, ...]]:
    """Per province, and national, over the last TREND_QUARTERS quarters."""
    by_province = tuple(
        TrendPoint(
            quarter=r["quarter_label"],
            province=r["province"],
            incidents=int(r["incidents"]),
            killed=int(r["killed"]),
        )
        for r in _rows(client, TREND_SQL, q=q, n=TREND_QUARTERS)
    )
    national = tuple(
        TrendPoint(
            quarter=r["quarter_label"],
            province="Pakistan",
            incidents=int(r["incidents"]),
            killed=int(r["killed"]),
        )
        for r in _rows(client, TREND_NATIONAL_SQL, q=q, n=TREND_QUARTERS)
    )
    return by_province, national


def _deadliest(client: ReadClient, q: date) -> tuple[IncidentRow, ...]:
    rows = _rows(client, DEADLIEST_SQL, q=q, n=DEADLIEST_INCIDENTS)
    ids = sorted({rid for r in rows for rid in r["report_ids"]})
    sources: dict[str, Source] = {}
    if ids:
        for s in _rows(client, SOURCES_SQL, ids=ids):
            sources[s["report_id"]] = Source(s["report_id"], s["source"], s["url"] or None)
    return tuple(
        IncidentRow(
            incident_id=r["incident_id"],
            occurred_on=_as_date(r["occurred_on"]),
            province=r["province"],
            district=r["district"] or "",
            location=r["location_display"] or "",
            category=r["category"],
            subtype=r["subtype"] or "",
            killed=int(r["killed"]),
            injured=int(r["injured"]),
            sources=tuple(
                sources.get(rid, Source(rid, rid.partition(":")[0], None))
                for rid in r["report_ids"]
            ),
        )
        for r in rows
    )


def _data_quality(client: ReadClient) -> DataQuality | None:
    """The latest data-quality run; None when none is recorded (or the warehouse predates
    the data-quality migration)."""
    exists = _rows(client, DQ_EXISTS_SQL)
    if not exists or not int(next(iter(exists[0].values()))):
        return None
    rows = _rows(client, DQ_SQL)
    if not rows:
        return None
    r = rows[0]
    return DataQuality(
        run_id=r["run_id"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        success=bool(r["success"]),
        expectations=int(r["expectations"]),
        failed=int(r["failed"]),
        suites=tuple(sorted(r["suites"])),
        trigger=r["trigger"],
    )


def _dead_letters(client: ReadClient, q: date) -> DeadLetters:
    counts = _rows(client, DEAD_LETTERS_SQL, q=q)[0]
    reasons = _rows(client, DEAD_LETTER_REASONS_SQL, q=q)
    return DeadLetters(
        total=int(counts["total"]),
        named_in_quarter=int(counts["named_in_quarter"]),
        received_in_quarter=int(counts["received_in_quarter"]),
        by_reason=tuple((r["why"], int(r["letters"])) for r in reasons),
    )


def province_order(report: QuarterlyReport) -> Sequence[str]:
    """Provinces worst first in the quarter, then the others of the trend by name."""
    names = [p.province for p in report.provinces]
    rest = sorted({p.province for p in report.trend} - set(names))
    return names + rest
