"""The data-quality suites, as code: one SQL query each, and the expectations its rows meet.

Each suite reads one result set from the warehouse (ClickHouse does the heavy lifting:
FINAL, joins, the recomputation) and Great Expectations checks it as a pandas DataFrame.
The suites are code rather than GX's JSON because their bounds come from the data
contract (schemas.report), the gazetteer and the settings; `incidents dq` writes them into
the GX project under the var dir on every run, so that project is never edited by hand.

Every query is fixed text with query parameters; nothing in it comes from user input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import Column

from incidents_config.settings import DqSettings
from schemas.gazetteer import PAKISTAN_BBOX, Gazetteer
from schemas.report import EARLIEST_DATE, MAX_PER_GROUP, Category

GROUPS = ("civilians", "security", "militants", "unknown")
CASUALTY_COLUMNS = tuple(f"{kind}_{g}" for kind in ("killed", "injured") for g in GROUPS)
TOTAL_COLUMNS = ("killed_total", "injured_total")
# The measures every aggregate carries, in the order of the analyst views.
MEASURES = (
    "incidents",
    "terror_attacks",
    "security_operations",
    *(f"killed_{g}" for g in (*GROUPS, "total")),
    *(f"injured_{g}" for g in (*GROUPS, "total")),
)
RECONCILIATIONS = ("province_quarter", "district_month", "national_quarter")


@dataclass(frozen=True)
class Suite:
    """One expectation suite over the rows of one query."""

    name: str
    description: str
    sql: str
    expectations: list[Expectation]
    parameters: dict[str, Any] = field(default_factory=dict)
    # Columns that name a row in the unexpected examples (e.g. the cell that disagrees).
    index_columns: tuple[str, ...] = ()


def place_pairs(gazetteer: Gazetteer) -> list[str]:
    """Every valid `province / district` pair, and `province / ` for no district."""
    pairs = [f"{p.name} / " for p in gazetteer.provinces]
    pairs += [f"{d.province} / {d.name}" for d in gazetteer.districts]
    return sorted(pairs)


def _dates(column: str, today: date, what: str) -> Expectation:
    # query_df gives Date columns as datetime64, which compares with datetimes, not dates.
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=datetime.combine(EARLIEST_DATE, time()),
        max_value=datetime.combine(today, time()),
        description=f"{what} is not in the future and not before {EARLIEST_DATE} (Pakistan)",
    )


def _casualties(what: str) -> list[Expectation]:
    bounded: list[Expectation] = [
        gxe.ExpectColumnValuesToBeBetween(
            column=c,
            min_value=0,
            max_value=MAX_PER_GROUP,
            description=f"{what}: {c} is non-negative and at most {MAX_PER_GROUP} (contract)",
        )
        for c in CASUALTY_COLUMNS
    ]
    bounded += [
        gxe.ExpectColumnValuesToBeBetween(
            column=c,
            min_value=0,
            max_value=len(GROUPS) * MAX_PER_GROUP,
            description=f"{what}: {c} is within the contract's bounds",
        )
        for c in TOTAL_COLUMNS
    ]
    bounded += [
        gxe.ExpectColumnValuesToBeBetween(
            column=f"{kind}_total_gap",
            min_value=0,
            max_value=0,
            description=f"{what}: {kind}_total is the sum of its four victim groups",
        )
        for kind in ("killed", "injured")
    ]
    return bounded


_CASUALTY_SELECT = ", ".join((*CASUALTY_COLUMNS, *TOTAL_COLUMNS)) + "".join(
    f", toInt64({kind}_total) - toInt64("
    + " + ".join(f"{kind}_{g}" for g in GROUPS)
    + f") AS {kind}_total_gap"
    for kind in ("killed", "injured")
)


def reports_suite(gazetteer: Gazetteer, today: date) -> Suite:
    sql = f"""
SELECT report_id, version, fingerprint, toString(published_at) AS published,
       source, source_event_id, occurred_on, province,
       concat(province, ' / ', ifNull(district, '')) AS province_district,
       latitude, longitude, {_CASUALTY_SELECT}
FROM report_versions FINAL
"""
    return Suite(
        "reports",
        "Every accepted report version (report_versions)",
        sql,
        [
            gxe.ExpectColumnValueLengthsToBeBetween(
                column=c, min_value=1, description=f"every report version has a {c}"
            )
            for c in ("report_id", "source", "source_event_id")
        ]
        + [
            gxe.ExpectCompoundColumnsToBeUnique(
                # A report re-sent, or two bodies under one version, are rows of their own
                # (the figures as of a moment need them; docs/warehouse.md).
                column_list=["report_id", "version", "fingerprint", "published"],
                description="one row per report version, body and publication",
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="province_district",
                value_set=place_pairs(gazetteer),
                description="province and district are in the gazetteer",
            ),
            _dates("occurred_on", today, "occurred_on"),
            gxe.ExpectColumnValuesToBeBetween(
                column="latitude",
                min_value=PAKISTAN_BBOX.min_lat,
                max_value=PAKISTAN_BBOX.max_lat,
                description="latitude, where given, is inside Pakistan",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="longitude",
                min_value=PAKISTAN_BBOX.min_lon,
                max_value=PAKISTAN_BBOX.max_lon,
                description="longitude, where given, is inside Pakistan",
            ),
            *_casualties("reports"),
        ],
        index_columns=("report_id",),
    )


def incidents_suite(gazetteer: Gazetteer, today: date) -> Suite:
    sql = f"""
SELECT incident_id, occurred_on, province, district,
       concat(province, ' / ', district) AS province_district,
       category, length(report_ids) AS reports, {_CASUALTY_SELECT}
FROM incidents FINAL
WHERE is_deleted = 0
"""
    return Suite(
        "incidents",
        "The live incidents (incidents FINAL)",
        sql,
        [
            gxe.ExpectColumnValueLengthsToBeBetween(
                column="incident_id", min_value=1, description="every incident has an id"
            ),
            gxe.ExpectColumnValuesToBeUnique(
                column="incident_id", description="one live row per incident"
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="province_district",
                value_set=place_pairs(gazetteer),
                description="province and district are in the gazetteer",
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="category",
                value_set=[c.value for c in Category],
                description="category is one the contract knows",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="reports",
                min_value=1,
                description="every incident is explained by at least one report (lineage)",
            ),
            _dates("occurred_on", today, "occurred_on"),
            *_casualties("incidents"),
        ],
        index_columns=("incident_id",),
    )


def dead_letters_suite(settings: DqSettings, now: datetime) -> Suite:
    sql = """
SELECT source, sum(accepted) AS accepted, sum(rejected) AS dead_letters,
       -- a dead letter that names no source counts against every message of the window
       dead_letters / if(source = '(unknown source)',
                         sum(accepted + dead_letters) OVER (), accepted + dead_letters)
           AS dead_letter_rate
FROM
(
    SELECT source, count() AS accepted, toUInt64(0) AS rejected
    FROM report_versions FINAL
    WHERE received_at >= {since:DateTime64(3)}
    GROUP BY source
    UNION ALL
    SELECT if(source = '', '(unknown source)', source) AS source, toUInt64(0), count()
    FROM rejected_reports FINAL
    WHERE received_at >= {since:DateTime64(3)}
    GROUP BY source
)
GROUP BY source
ORDER BY source
"""
    window = settings.dead_letter_window_h
    limit = settings.dead_letter_max_rate
    return Suite(
        "dead_letters",
        f"Dead letters per source over the last {window:g} h",
        sql,
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="dead_letter_rate",
                min_value=0,
                max_value=limit,
                description=(
                    f"at most {limit:.1%} of each source's messages of the last {window:g} h"
                    " are dead letters (DQ_DEAD_LETTER_MAX_RATE)"
                ),
            )
        ],
        parameters={"since": _ago(now, window)},
        index_columns=("source",),
    )


def _ago(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)


def _recomputed(grain: str, keys: str, period: str) -> str:
    """Sums of the live incidents per grain, named like the views' columns."""
    sums = ", ".join(
        [
            "count() AS incidents",
            *(f"countIf(category = '{c.value}') AS {c.value}s" for c in Category),
            *(f"sum({m}) AS {m}" for m in MEASURES[3:]),
        ]
    )
    return (
        f"SELECT {period} AS {grain}, {keys}, {sums} FROM incidents FINAL"
        f" WHERE is_deleted = 0 GROUP BY {grain}, {keys}"
    )


def _long(check: str, left: str, right: str, keys: list[str], cell: str) -> str:
    """Compare two per-cell result sets measure by measure, one row per cell and measure;
    a cell that only one side has compares with 0."""
    view = "[" + ", ".join(f"toUInt64(v.{m})" for m in MEASURES) + "]"
    recomputed = "[" + ", ".join(f"toUInt64(r.{m})" for m in MEASURES) + "]"
    names = "[" + ", ".join(f"'{m}'" for m in MEASURES) + "]"
    return f"""
SELECT '{check}' AS check, {cell} AS cell, m.1 AS measure, m.2 AS in_view, m.3 AS recomputed
FROM ({left}) AS v
FULL OUTER JOIN ({right}) AS r USING ({", ".join(keys)})
ARRAY JOIN arrayZip({names}, {view}, {recomputed}) AS m
"""


def reconciliation_suite() -> Suite:
    quarter = "makeDate32(toYear(occurred_on), (toQuarter(occurred_on) - 1) * 3 + 1, 1)"
    month = "toDate32(occurred_on) - (toDayOfMonth(occurred_on) - 1)"
    view_cols = ", ".join(MEASURES)
    parts = [
        _long(
            "province_quarter",
            f"SELECT toDate32(quarter) AS quarter, province, {view_cols} FROM v_province_quarter",
            _recomputed("quarter", "province", quarter),
            ["quarter", "province"],
            "concat(toString(quarter), ' ', province)",
        ),
        _long(
            "district_month",
            "SELECT toDate32(month) AS month, province, district, "
            f"{view_cols} FROM v_district_month",
            _recomputed("month", "province, district", month),
            ["month", "province", "district"],
            "concat(toString(month), ' ', province, ' / ', district)",
        ),
        _long(
            "national_quarter",
            f"SELECT toDate32(quarter) AS quarter, {view_cols} FROM v_national_quarter",
            "SELECT toDate32(quarter) AS quarter, "
            + ", ".join(f"sum({m}) AS {m}" for m in MEASURES)
            + " FROM v_province_quarter GROUP BY quarter",
            ["quarter"],
            "toString(quarter)",
        ),
    ]
    explain = {
        "province_quarter": "v_province_quarter equals the live incidents summed per province "
        "and quarter",
        "district_month": "v_district_month (agg_district_day) equals the live incidents "
        "summed per district and month",
        "national_quarter": "v_national_quarter equals the sum of its provinces",
    }
    return Suite(
        "reconciliation",
        "The aggregates against a recomputation from the live incidents",
        "\nUNION ALL\n".join(parts),
        [
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="in_view",
                column_B="recomputed",
                row_condition=Column("check") == check,
                description=explain[check],
            )
            for check in RECONCILIATIONS
        ],
        index_columns=("cell", "measure"),
    )


def freshness_suite(settings: DqSettings, now: datetime) -> Suite:
    sql = """
SELECT source, max(received_at) AS newest,
       dateDiff('second', max(received_at), {now:DateTime64(3)}) / 3600 AS age_h
FROM report_versions FINAL
GROUP BY source
ORDER BY source
"""
    limit = settings.freshness_max_age_h
    return Suite(
        "freshness",
        "The newest report of each source",
        sql,
        [
            gxe.ExpectTableRowCountToBeBetween(
                min_value=1, description="the warehouse has reports from at least one source"
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="age_h",
                max_value=limit,
                description=(
                    f"every source sent a report in the last {limit:g} h"
                    " (DQ_FRESHNESS_MAX_AGE_H): a silent feed fails"
                ),
            ),
        ],
        parameters={"now": now},
        index_columns=("source",),
    )


def all_suites(
    settings: DqSettings, gazetteer: Gazetteer, today: date, now: datetime
) -> list[Suite]:
    """Every suite, in the order `incidents dq` runs them."""
    return [
        reports_suite(gazetteer, today),
        incidents_suite(gazetteer, today),
        dead_letters_suite(settings, now),
        reconciliation_suite(),
        freshness_suite(settings, now),
    ]


SUITE_NAMES = ("reports", "incidents", "dead_letters", "reconciliation", "freshness")
