"""The quarterly report's data: SQL over the analyst views -> a typed, immutable model.

Every number in the report comes from ClickHouse (the views of docs/analysts.md, the
lineage in report_versions, the dead letters in rejected_reports, the data-quality runs in
v_dq_latest); Python only parses the quarter, names things and moves values into the
model. Rendering is one module per output beside it: charts, html, markdown, pdf, terminal.

Each query takes the quarter as `{q:Date}` and filters its own period in one visible
place (a WHERE on the quarter's days or months), so a later filter (an as-of time) has
one obvious home per query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from incidents_report.exceptions import NoData, QuarterError

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
    """One report an incident merges: report_versions' source and url (latest version)."""

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


# --- the queries ---------------------------------------------------------------------

_VICTIM_COLUMNS = """
    c.killed_civilians AS killed_civilians, c.killed_security AS killed_security,
    c.killed_militants AS killed_militants, c.killed_unknown AS killed_unknown,
    c.killed_total AS killed_total,
    c.injured_civilians AS injured_civilians, c.injured_security AS injured_security,
    c.injured_militants AS injured_militants, c.injured_unknown AS injured_unknown,
    c.injured_total AS injured_total"""


def _change(column: str, other: str) -> str:
    return (
        f"if({other}.{column} > 0, round((toInt64(c.{column}) - {other}.{column}) * 100"
        f" / {other}.{column}, 1), NULL)"
    )


def _other_quarter(alias: str, shift: str) -> str:
    return f"""
LEFT JOIN
(
    SELECT quarter, quarter_label,
           toNullable(toInt64(incidents)) AS incidents,
           toNullable(toInt64(killed_total)) AS killed_total,
           toNullable(toInt64(injured_total)) AS injured_total
    FROM v_national_quarter
    WHERE quarter = {shift.format(q="{q:Date}")}
) AS {alias} ON {alias}.quarter = {shift.format(q="c.quarter")}"""


# The quarter against the previous one and the same quarter a year before: v_national_quarter
# joined to itself (a missing row is a quarter without incidents: NULL, not 0).
NATIONAL_SQL = f"""
SELECT
    c.incidents AS incidents, c.terror_attacks AS terror_attacks,
    c.security_operations AS security_operations,{_VICTIM_COLUMNS},
    p.incidents AS prev_incidents, p.killed_total AS prev_killed,
    p.injured_total AS prev_injured,
    {_change("incidents", "p")} AS prev_incidents_change_pct,
    {_change("killed_total", "p")} AS prev_killed_change_pct,
    {_change("injured_total", "p")} AS prev_injured_change_pct,
    y.incidents AS yoy_incidents, y.killed_total AS yoy_killed, y.injured_total AS yoy_injured,
    {_change("incidents", "y")} AS yoy_incidents_change_pct,
    {_change("killed_total", "y")} AS yoy_killed_change_pct,
    {_change("injured_total", "y")} AS yoy_injured_change_pct
FROM (SELECT * FROM v_national_quarter WHERE quarter = {{q:Date}}) AS c
{_other_quarter("p", "addQuarters({q}, -1)")}
{_other_quarter("y", "addYears({q}, -1)")}
"""

PROVINCES_SQL = """
SELECT
    province, incidents, terror_attacks, security_operations,
    killed_total AS killed, injured_total AS injured,
    killed_civilians, killed_security, killed_militants, killed_unknown,
    fatality_share_pct,
    round(incidents * 100 / sum(incidents) OVER (), 1) AS incident_share_pct,
    killed_change_pct, incidents_change_pct
FROM v_province_quarter
WHERE quarter = {q:Date}
ORDER BY killed DESC, incidents DESC, province
"""

DISTRICTS_SQL = """
SELECT
    province, district,
    sum(incidents) AS incidents,
    sum(terror_attacks) AS terror_attacks,
    sum(security_operations) AS security_operations,
    sum(killed_total) AS killed,
    sum(injured_total) AS injured
FROM v_district_month
WHERE month >= {q:Date} AND month < addQuarters({q:Date}, 1)
GROUP BY province, district
ORDER BY killed DESC, incidents DESC, injured DESC, province, district
"""

DEADLIEST_SQL = """
SELECT
    incident_id, occurred_on, province, district, location_display, category, subtype,
    killed_total AS killed, injured_total AS injured, report_ids
FROM v_incidents
WHERE occurred_on >= {q:Date} AND occurred_on < addQuarters({q:Date}, 1)
ORDER BY killed DESC, injured DESC, occurred_on, incident_id
LIMIT {n:UInt32}
"""

# The quarter's three months, nationally; a month without incidents is a row of zeros.
MONTHS_SQL = """
SELECT
    months.month AS month,
    toUInt64(v.incidents) AS incidents,
    toUInt64(v.terror_attacks) AS terror_attacks,
    toUInt64(v.security_operations) AS security_operations,
    toUInt64(v.killed_total) AS killed,
    toUInt64(v.injured_total) AS injured
FROM (SELECT addMonths({q:Date}, toInt32(number)) AS month FROM numbers(3)) AS months
LEFT JOIN v_national_month AS v ON v.month = months.month
ORDER BY month
"""

# A group's name as the reports spell it, made comparable: white space collapsed; ACLED's
# "TTP: Tehreek-i-Taliban Pakistan" cut to the short name before the colon; a name that
# says the attacker is unidentified or unknown counts as no name.
_NAMED = """
    trimBoth(replaceRegexpAll(ifNull(perpetrator, ''), '[[:space:]]+', ' ')) AS spaced,
    if(match(spaced, '^[^:]{1,24}:'), trimBoth(replaceRegexpOne(spaced, ':.*$', '')), spaced)
        AS short,
    if(match(lower(short), '^(unidentified|unknown|unnamed|not known)'), '', short) AS name,
    lower(name) AS group_key"""

# Perpetrators. An incident's group is chosen among its current reports (incidents.report_ids),
# each read at its latest version: the group named by the report its killed figure was taken
# from (incidents.killed_from); else the group most of its reports name; a tie goes to the
# name first in alphabetical order; no report naming a group: unnamed (''). So every incident
# counts once, and the groups add up to the quarter.
PERPETRATORS_SQL = f"""
WITH
quarter_incidents AS (
    SELECT incident_id, category, killed_total, injured_total, killed_from, report_ids
    FROM v_incidents
    WHERE occurred_on >= {{q:Date}} AND occurred_on < addQuarters({{q:Date}}, 1)
),
latest AS (
    -- ifNull first: argMax skips NULLs, and a latest version that names no one must win
    SELECT report_id, argMax(ifNull(perpetrator, ''), version) AS perpetrator
    FROM report_versions FINAL
    WHERE report_id IN (SELECT arrayJoin(report_ids) FROM quarter_incidents)
    GROUP BY report_id
),
named AS (
    SELECT report_id,{_NAMED}
    FROM latest
),
votes AS (
    SELECT
        i.incident_id AS incident_id,
        n.group_key AS group_key,
        min(n.name) AS name,
        count() AS reports,
        max(n.report_id = i.killed_from) AS from_killed
    FROM quarter_incidents AS i
    ARRAY JOIN i.report_ids AS rid
    INNER JOIN named AS n ON n.report_id = rid
    WHERE n.group_key != ''
    GROUP BY incident_id, group_key
),
chosen AS (
    SELECT
        incident_id,
        arraySort(
            v -> (-toInt64(v.1), -toInt64(v.2), v.3),
            groupArray((from_killed, reports, group_key, name))
        )[1] AS pick,
        uniqExact(group_key) AS groups_named
    FROM votes
    GROUP BY incident_id
)
SELECT
    i.category AS category,
    c.pick.3 AS group_key,
    min(c.pick.4) AS perpetrator,
    count() AS incidents,
    sum(i.killed_total) AS killed,
    sum(i.injured_total) AS injured,
    countIf(c.groups_named > 1) AS disputed
FROM quarter_incidents AS i
LEFT JOIN chosen AS c ON c.incident_id = i.incident_id
GROUP BY category, group_key
ORDER BY category DESC, group_key = '', killed DESC, incidents DESC, group_key
"""

# The newest report the warehouse has received: what the figures are "as of".
NEWEST_REPORT_SQL = "SELECT max(received_at) AS newest, count() AS versions FROM report_versions"

# Lineage: the reports an incident merges, each with its source and the url of its latest
# version (in a tuple: argMax skips a NULL url, and a latest version without one has none).
SOURCES_SQL = """
SELECT report_id, any(source) AS source, argMax(tuple(url), version).1 AS url
FROM report_versions FINAL
WHERE report_id IN {ids:Array(String)}
GROUP BY report_id
ORDER BY report_id
"""

# Per province and quarter over the last eight quarters, but not before the warehouse's
# first recorded incident: a quarter before it is unknown, not zero. Within that range a
# province without a row had no incidents (0).
# The last {n} quarters up to {q}, from the first quarter the warehouse has on.
_QUARTERS = """(
    SELECT addQuarters({q:Date}, -toInt32(number)) AS quarter
    FROM numbers({n:UInt32})
    WHERE quarter >= (SELECT min(quarter) FROM v_national_quarter)
) AS quarters"""
_QUARTER_LABEL = (
    "concat(toString(toYear(quarters.quarter)), '-Q', toString(toQuarter(quarters.quarter)))"
    " AS quarter_label"
)

TREND_SQL = f"""
SELECT
    quarters.quarter AS quarter,
    {_QUARTER_LABEL},
    provinces.province AS province,
    toUInt64(v.incidents) AS incidents,
    toUInt64(v.killed_total) AS killed
FROM {_QUARTERS}
CROSS JOIN
(
    SELECT DISTINCT province
    FROM v_province_quarter
    WHERE quarter > addQuarters({{q:Date}}, -{{n:UInt32}}) AND quarter <= {{q:Date}}
) AS provinces
LEFT JOIN v_province_quarter AS v
    ON v.quarter = quarters.quarter AND v.province = provinces.province
ORDER BY quarter, province
"""

# The national totals of the same quarters (the numbers on top of the trend chart's bars).
TREND_NATIONAL_SQL = f"""
SELECT
    {_QUARTER_LABEL},
    toUInt64(v.incidents) AS incidents,
    toUInt64(v.killed_total) AS killed
FROM {_QUARTERS}
LEFT JOIN v_national_quarter AS v ON v.quarter = quarters.quarter
ORDER BY quarters.quarter
"""

FIRST_QUARTER_SQL = "SELECT min(quarter) AS first FROM v_national_quarter"

DQ_EXISTS_SQL = "EXISTS TABLE v_dq_latest"
DQ_SQL = """
SELECT run_id, started_at, finished_at, success, expectations, failed, suites, trigger
FROM v_dq_latest
ORDER BY finished_at DESC
LIMIT 1
"""

# A dead letter belongs to the quarter when its raw text names an occurred_on in it (read
# with a pattern, so a malformed JSON line counts too) or when it was received during it.
_DEAD_LETTER_FILTER = """
    toDate32OrNull(extract(raw,
        '"occurred_on"[[:space:]]*:[[:space:]]*"([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])"'))
        AS named_day,
    toDate(received_at, 'Asia/Karachi') AS received_day,
    ifNull(named_day >= {q:Date} AND named_day < addQuarters({q:Date}, 1), 0) AS named_in,
    received_day >= {q:Date} AND received_day < addQuarters({q:Date}, 1) AS received_in"""

DEAD_LETTERS_SQL = f"""
WITH{_DEAD_LETTER_FILTER}
SELECT
    countIf(named_in OR received_in) AS total,
    countIf(named_in) AS named_in_quarter,
    countIf(received_in) AS received_in_quarter
FROM rejected_reports FINAL
"""

DEAD_LETTER_REASONS_SQL = f"""
WITH{_DEAD_LETTER_FILTER}
SELECT if(reason = '', 'unspecified', reason) AS why, count() AS letters
FROM rejected_reports FINAL
WHERE named_in OR received_in
GROUP BY why
ORDER BY letters DESC, why
"""


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


def build_report(
    client: ReadClient,
    quarter: Quarter,
    *,
    generated_at: datetime | None = None,
) -> QuarterlyReport:
    """Read the quarter's report from the warehouse; NoData when it has no incident."""
    q = quarter.start
    national_rows = _rows(client, NATIONAL_SQL, q=q)
    if not national_rows or not national_rows[0]["incidents"]:
        raise NoData(
            f"no incidents recorded in {quarter.code} ({quarter.start} to {quarter.end}) "
            "in the warehouse"
        )
    row = national_rows[0]
    national = National(
        incidents=int(row["incidents"]),
        terror_attacks=int(row["terror_attacks"]),
        security_operations=int(row["security_operations"]),
        killed=_victims(row, "killed"),
        injured=_victims(row, "injured"),
        previous=_comparison(row, "prev", quarter.shifted(-1).title),
        year_before=_comparison(row, "yoy", quarter.shifted(-4).title),
    )
    provinces = tuple(
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
    districts = tuple(
        DistrictRow(province=r["province"], district=r["district"] or "", **_counts(r))
        for r in _rows(client, DISTRICTS_SQL, q=q)
    )
    deadliest = _deadliest(client, q)
    months = tuple(
        MonthRow(month=_as_date(r["month"]), **_counts(r)) for r in _rows(client, MONTHS_SQL, q=q)
    )
    perpetrators = tuple(
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
    newest = _rows(client, NEWEST_REPORT_SQL)
    newest_at = newest[0]["newest"] if newest and int(newest[0]["versions"]) else None
    first = _rows(client, FIRST_QUARTER_SQL)[0]["first"]
    trend_rows = _rows(client, TREND_SQL, q=q, n=TREND_QUARTERS)
    trend = tuple(
        TrendPoint(
            quarter=r["quarter_label"],
            province=r["province"],
            incidents=int(r["incidents"]),
            killed=int(r["killed"]),
        )
        for r in trend_rows
    )
    trend_national = tuple(
        TrendPoint(
            quarter=r["quarter_label"],
            province="Pakistan",
            incidents=int(r["incidents"]),
            killed=int(r["killed"]),
        )
        for r in _rows(client, TREND_NATIONAL_SQL, q=q, n=TREND_QUARTERS)
    )
    trend_quarters = tuple(p.quarter for p in trend_national)
    return QuarterlyReport(
        quarter=quarter,
        generated_at=generated_at or datetime.now(UTC),
        newest_report_at=_utc(newest_at),
        national=national,
        months=months,
        perpetrators=perpetrators,
        provinces=provinces,
        districts=districts,
        deadliest=deadliest,
        trend_quarters=trend_quarters,
        trend=trend,
        trend_national=trend_national,
        first_quarter=Quarter.of(_as_date(first)).label,
        data_quality=_data_quality(client),
        dead_letters=_dead_letters(client, q),
    )


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
