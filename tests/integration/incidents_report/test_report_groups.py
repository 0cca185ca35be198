"""The report's groups behind the violence, on incidents written by hand: each case of the
rule (docs/semantics.md, "Perpetrators") with the group worked out by hand.

Rows go straight into `incidents`, `report_versions` and `agg_district_day` (what the
views read), as in test_report_comparisons.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from clickhouse_connect.driver.client import Client

from incidents_report.data import UNNAMED, PerpetratorRow, Quarter, build_report

pytestmark = pytest.mark.integration

DAY = date(2024, 2, 10)

# incident -> (category, killed, injured, killed_from, {report_id: [perpetrator per version]})
INCIDENTS: dict[str, tuple[str, int, int, str, dict[str, list[str | None]]]] = {
    # The killed report names a group (ACLED's "ABBR: name" form): it wins over another.
    "i1": (
        "terror_attack",
        9,
        4,
        "acled:1",
        {"acled:1": ["TTP: Tehreek-i-Taliban Pakistan"], "news:1": ["BLA"]},
    ),
    # The killed report names none: most reports name BLA (spelling and case aside).
    "i2": (
        "terror_attack",
        5,
        2,
        "news:2",
        {"news:2": [None], "wire:2": ["bla "], "acled:2": ["BLA"], "x:2": ["ISKP"]},
    ),
    # A tie between two names: the first in alphabetical order (bla < iskp).
    "i3": (
        "terror_attack",
        3,
        1,
        "news:3",
        {"news:3": [None], "wire:3": ["ISKP"], "acled:3": ["BLA"]},
    ),
    # The killed report named TTP in version 1 but no one in its latest version.
    "i4": ("terror_attack", 4, 0, "news:4", {"news:4": ["TTP", None], "wire:4": ["ISKP"]}),
    # Only an unidentified attacker: unclaimed.
    "i5": ("terror_attack", 2, 6, "acled:5", {"acled:5": ["Unidentified Armed Group (Pakistan)"]}),
    # A security operation: the force the report names.
    "i6": ("security_operation", 7, 1, "news:6", {"news:6": ["police"]}),
}

# Addresses by (report, version): news:4's latest version dropped its address.
URLS = {("news:4", 1): "https://news.example.org/4", ("wire:4", 1): "https://wire.example.org/4"}


def test_each_case_of_the_group_rule(writer: Client) -> None:
    killed_sum = sum(c[1] for c in INCIDENTS.values())
    injured_sum = sum(c[2] for c in INCIDENTS.values())
    terror = sum(c[0] == "terror_attack" for c in INCIDENTS.values())
    writer.insert(
        "incidents.agg_district_day",
        [[DAY, "Balochistan", "Quetta", len(INCIDENTS), terror, len(INCIDENTS) - terror,
          killed_sum, killed_sum, injured_sum, injured_sum, 1, 0]],
        column_names=["day", "province", "district", "incidents", "terror_attacks",
                      "security_operations", "killed_total", "killed_unknown", "injured_total",
                      "injured_unknown", "revision", "is_deleted"],
    )  # fmt: skip
    writer.insert(
        "incidents.incidents",
        [
            [iid, DAY, "Balochistan", "Quetta", category, iid, iid, "other", killed, killed,
             injured, injured, killed_from, killed_from, sorted(reports), 1, 0]
            for iid, (category, killed, injured, killed_from, reports) in INCIDENTS.items()
        ],
        column_names=["incident_id", "occurred_on", "province", "district", "category",
                      "location", "location_display", "subtype", "killed_total",
                      "killed_unknown", "injured_total", "injured_unknown", "killed_from",
                      "injured_from", "report_ids", "revision", "is_deleted"],
    )  # fmt: skip
    writer.insert(
        "incidents.report_versions",
        [
            [rid, iid, rid.split(":")[0], rid.split(":")[1], version, datetime(2024, 2, 11,
             tzinfo=UTC), 0, DAY, "Balochistan", category, perpetrator,
             URLS.get((rid, version))]
            for iid, (category, _k, _i, _f, reports) in INCIDENTS.items()
            for rid, names in reports.items()
            for version, perpetrator in enumerate(names, 1)
        ],
        column_names=["report_id", "incident_id", "source", "source_event_id", "version",
                      "reported_at", "retracted", "occurred_on", "province", "category",
                      "perpetrator", "url"],
    )  # fmt: skip
    writer.database = "incidents"
    report = build_report(writer, Quarter(2024, 1))

    assert report.perpetrators == (
        # terror attacks: named groups by killed, then the unnamed
        PerpetratorRow("terror_attack", "TTP", 1, 9, 4, 1),  # i1 (sources disagreed)
        PerpetratorRow("terror_attack", "BLA", 2, 8, 3, 2),  # i2 + i3 (both disputed)
        PerpetratorRow("terror_attack", "ISKP", 1, 4, 0, 0),  # i4: only ISKP named now
        PerpetratorRow("terror_attack", UNNAMED, 1, 2, 6, 0),  # i5
        PerpetratorRow("security_operation", "police", 1, 7, 1, 0),  # i6
    )
    n = report.national
    assert sum(p.incidents for p in report.perpetrators) == n.incidents == 6
    assert sum(p.killed for p in report.perpetrators) == n.killed.total == killed_sum
    assert sum(p.injured for p in report.perpetrators) == n.injured.total == injured_sum

    # Sources are read at their latest version too: news:4 has no address any more.
    (i4,) = [i for i in report.deadliest if i.incident_id == "i4"]
    assert {s.report_id: s.url for s in i4.sources} == {
        "news:4": None,
        "wire:4": "https://wire.example.org/4",
    }
