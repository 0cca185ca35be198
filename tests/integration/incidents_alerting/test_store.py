"""What the alert rules read from the warehouse (incidents_alerting.store), on embedded chdb:
each area's series with every live incident's killed, and the nation's."""

from __future__ import annotations

from datetime import date

import pytest
from clickhouse_connect.driver.client import Client

from incidents_alerting.evaluate import Area, Day
from incidents_alerting.store import AlertStore
from schemas.warehouse import Counts
from sinks import rows
from sinks.sink import ClickHouseSink
from tests.unit.sinks.samples import ORIGIN, incident, snapshot

pytestmark = pytest.mark.integration

DAY = date(2025, 2, 28)
KP, BALOCHISTAN = "Khyber Pakhtunkhwa", "Balochistan"


def write(writer: Client, revision: int, province: str, district: str, killed: list[int]) -> None:
    """One district-day's snapshot: an incident per entry of `killed` (0 and above), or a
    deleted one for a negative entry."""
    items = [
        incident(
            f"{district}-{n}",
            killed=Counts(security=abs(k)),
            deleted=k < 0,
            day=DAY,
            province=province,
            district=district,
        )
        for n, k in enumerate(killed)
    ]
    sink = ClickHouseSink(writer, "incidents")
    sink.setup()
    sink.add(rows.snapshot_rows(snapshot(revision, items, DAY, province, district)), ORIGIN)
    sink.flush()


def test_series_carry_each_live_incidents_killed(writer: Client) -> None:
    write(writer, 1, KP, "Bannu", [3, 3, 0])
    write(writer, 2, KP, "Bannu", [3, 3, 0, 7])  # a revision adds an incident
    write(writer, 1, KP, "Peshawar", [1, -25])  # one live, one deleted
    write(writer, 1, BALOCHISTAN, "Quetta", [12])
    store = AlertStore(writer, "incidents")

    series = store.series_many([Area(KP, "Bannu"), Area(KP), Area(BALOCHISTAN, "Quetta")])
    assert series[Area(KP, "Bannu")] == {DAY: Day(4, 13, (0, 3, 3, 7))}
    assert series[Area(KP)] == {DAY: Day.of([0, 1, 3, 3, 7])}
    assert series[Area(BALOCHISTAN, "Quetta")] == {DAY: Day.of([12])}
    assert store.national_series() == {DAY: Day.of([0, 1, 3, 3, 7, 12])}
    assert store.series_many([Area(KP, "Kohat")]) == {Area(KP, "Kohat"): {}}


def test_incident_ids_of_many_windows_in_one_query_match_a_recount(writer: Client) -> None:
    """Each window's live incidents (at most 200, by day and id), as a filter over what was
    written would list them: districts, a whole province, deleted ones left out."""
    sink = ClickHouseSink(writer, "incidents")
    sink.setup()
    written: list[tuple[str, str, date, str, bool]] = []  # province, district, day, id, deleted
    for province, district, days, per_day in (
        (KP, "Bannu", 4, 3),
        (KP, "Peshawar", 2, 130),  # 260 incidents: a window over both days is cut at 200
        (BALOCHISTAN, "Quetta", 3, 2),
    ):
        for d in range(days):
            day = date.fromordinal(DAY.toordinal() + d)
            items = [
                incident(
                    f"{district}-{d}-{n:03d}",
                    deleted=n % 7 == 6,
                    day=day,
                    province=province,
                    district=district,
                )
                for n in range(per_day)
            ]
            written += [(province, district, day, i.incident_id, i.deleted) for i in items]
            sink.add(rows.snapshot_rows(snapshot(1, items, day, province, district)), ORIGIN)
    sink.flush()
    after = date.fromordinal(DAY.toordinal() + 1)
    windows = [
        (Area(KP, "Bannu"), after, date.fromordinal(DAY.toordinal() + 2)),
        (Area(KP), DAY, DAY),  # the province: Bannu's and Peshawar's
        (Area(KP, "Peshawar"), DAY, after),
        (Area(BALOCHISTAN, "Quetta"), DAY, date(2030, 1, 1)),
        (Area(BALOCHISTAN, "Kech"), DAY, after),  # nothing there
        (Area(KP, "Bannu"), after, date.fromordinal(DAY.toordinal() + 2)),  # twice
    ]

    def recount(area: Area, first: date, last: date) -> list[str]:
        live = sorted(
            (day, i)
            for p, d, day, i, deleted in written
            if p == area.province
            and (not area.district or d == area.district)
            and first <= day <= last
            and not deleted
        )
        return [i for _, i in live][:200]

    found = AlertStore(writer, "incidents").incident_ids(windows)
    assert found == [recount(*w) for w in windows]
    assert len(found[2]) == 200 and found[4] == [] and len(found[1]) > 100
    assert AlertStore(writer, "incidents").incident_ids([]) == []
