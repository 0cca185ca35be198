"""The report's comparisons (previous quarter, a year before) on a multi-quarter warehouse.

The bundled sample holds one quarter, so these rows are written straight into
agg_district_day (what the analyst views sum) and the report's SQL is checked against
numbers worked out by hand.
"""

from __future__ import annotations

from datetime import date

import pytest
from clickhouse_connect.driver.client import Client

from incidents_report.data import Quarter, build_report

pytestmark = pytest.mark.integration

# (day, province, district, incidents, killed_total, injured_total)
ROWS = [
    ("2023-02-01", "Balochistan", "Quetta", 4, 10, 5),  # Q1 2023
    ("2023-11-15", "Balochistan", "Quetta", 2, 8, 4),  # Q4 2023
    ("2023-12-01", "Punjab", "Lahore", 2, 2, 0),  # Q4 2023
    ("2024-01-10", "Balochistan", "Quetta", 3, 12, 6),  # Q1 2024
    ("2024-03-31", "Punjab", "Lahore", 3, 3, 3),  # Q1 2024, its last day
    ("2024-04-01", "Punjab", "Lahore", 9, 90, 9),  # Q2 2024: in no compared quarter
]


def test_changes_from_the_previous_quarter_and_a_year_before(writer: Client) -> None:
    writer.insert(
        "incidents.agg_district_day",
        [[date.fromisoformat(r[0]), *r[1:4], r[3], r[4], r[4], r[5], r[5], 1, 0] for r in ROWS],
        column_names=[
            "day",
            "province",
            "district",
            "incidents",
            "terror_attacks",
            "killed_total",
            "killed_unknown",
            "injured_total",
            "injured_unknown",
            "revision",
            "is_deleted",
        ],
    )
    writer.database = "incidents"
    report = build_report(writer, Quarter(2024, 1))

    n = report.national
    assert (n.incidents, n.killed.total, n.injured.total) == (6, 15, 9)
    prev, year = n.previous, n.year_before
    assert (prev.incidents, prev.killed, prev.injured) == (4, 10, 4)
    assert (prev.incidents_change_pct, prev.killed_change_pct, prev.injured_change_pct) == (
        50.0,
        50.0,
        125.0,
    )
    assert (year.incidents, year.killed, year.injured) == (4, 10, 5)
    assert (year.incidents_change_pct, year.killed_change_pct, year.injured_change_pct) == (
        50.0,
        50.0,
        80.0,
    )
    by_province = {p.province: p for p in report.provinces}
    assert by_province["Balochistan"].killed_change_pct == 50.0  # 8 -> 12
    assert by_province["Punjab"].killed_change_pct == 50.0  # 2 -> 3
    assert by_province["Balochistan"].fatality_share_pct == 80.0
    assert by_province["Punjab"].incident_share_pct == 50.0

    # The quarter's months: a month without incidents is a row of zeros, not a gap.
    assert [(m.incidents, m.killed, m.injured) for m in report.months] == [
        (3, 12, 6),
        (0, 0, 0),
        (3, 3, 3),
    ]
    assert report.has_trend  # five quarters recorded, from Q1 2023

    # A year before with no incidents: nothing to compare, not a 100 % rise.
    first = build_report(writer, Quarter(2023, 4))
    assert not first.national.year_before.recorded
    assert first.national.year_before.killed_change_pct is None
