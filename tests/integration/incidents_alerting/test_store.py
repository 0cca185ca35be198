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
