"""Migrations and the ReplacingMergeTree semantics the views rely on, on embedded chdb."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from incidents_config.settings import Settings
from schemas.report import Category
from schemas.warehouse import Counts
from sinks import rows
from sinks.clickhouse import connect
from sinks.migrate import MIGRATIONS_DIR, load_migrations, migrate
from sinks.sink import ClickHouseSink, Origin
from sinks.tables import ALL_TABLES
from tests.unit.sinks.samples import AT, ORIGIN, dead_letter, incident, report, snapshot

pytestmark = pytest.mark.integration


def _sink(writer: Client) -> ClickHouseSink:
    sink = ClickHouseSink(writer, "incidents")
    sink.setup()
    return sink


def test_migrations_apply_once_and_are_recorded(
    writer: Client, warehouse_settings: Settings
) -> None:
    assert migrate(writer, warehouse_settings) == []
    recorded = writer.query(
        "SELECT version FROM incidents.schema_migrations FINAL ORDER BY version"
    ).result_columns[0]
    assert recorded == [m.version for m in load_migrations()]


def test_table_specs_match_the_ddl(writer: Client) -> None:
    for spec in ALL_TABLES:
        described = writer.query(
            "SELECT name, type FROM system.columns"
            " WHERE database = 'incidents' AND table = {t:String} ORDER BY position",
            parameters={"t": spec.name},
        ).result_rows
        assert [tuple(r) for r in described] == list(spec.columns), spec.name


def test_newest_revision_wins_whatever_the_order(writer: Client) -> None:
    sink = _sink(writer)
    v1 = snapshot(1, [incident("a")])
    v2 = snapshot(2, [incident("a"), incident("b", killed=Counts(militants=5))])
    v3 = snapshot(3, [incident("a", deleted=True), incident("b", killed=Counts(militants=5))])
    # Newest first, duplicates, then older revisions arriving late.
    for snap in (v3, v2, v3, v1, v2):
        sink.add(rows.snapshot_rows(snap), ORIGIN)
    sink.flush()
    day = writer.query(
        "SELECT incidents, killed_total, killed_militants, revision FROM incidents.v_district_day"
    ).result_rows
    assert day == [(1, 5, 5, 3)]
    live = writer.query("SELECT incident_id FROM incidents.v_incidents").result_columns
    assert live == [["b"]]


def test_district_day_without_incidents_disappears(writer: Client) -> None:
    sink = _sink(writer)
    sink.add(rows.snapshot_rows(snapshot(1, [incident("a")])), ORIGIN)
    sink.flush()
    sink.add(rows.snapshot_rows(snapshot(2, [incident("a", deleted=True)])), ORIGIN)
    sink.flush()
    assert writer.command("SELECT count() FROM incidents.v_district_day") == 0
    assert writer.command("SELECT count() FROM incidents.v_incidents") == 0


def test_reports_and_dead_letters_are_idempotent(writer: Client) -> None:
    sink = _sink(writer)
    for _ in range(2):
        sink.add([rows.report_row(report(), AT), rows.dead_letter_row(dead_letter())], ORIGIN)
        sink.add(rows.message_rows(rows.MessageKind.SNAPSHOT, b"junk", AT), ORIGIN)
    sink.flush()
    assert writer.command("SELECT count() FROM incidents.report_versions FINAL") == 1
    rejected = writer.query(
        "SELECT rejected_by, reasons FROM incidents.rejected_reports FINAL ORDER BY rejected_by"
    ).result_rows
    assert [r[0] for r in rejected] == ["pipeline", "sink"]
    assert rejected[0][1].startswith("province: unknown province")


def _day(
    d: date, province: str, killed: int, incidents: int = 1, revision: int = 1
) -> list[rows.TableRow]:
    items = [
        incident(
            f"{province}-{d}-{n}",
            killed=Counts(civilians=killed if n == 0 else 0),
            day=d,
            province=province,
            district="D",
        )
        for n in range(incidents)
    ]
    return rows.snapshot_rows(snapshot(revision, items, day=d, province=province, district="D"))


def test_quarter_views(writer: Client) -> None:
    sink = _sink(writer)
    # 2024-Q4: Punjab 10 killed, Sindh 30. 2025-Q1: Punjab 15 (+50%), Sindh 0 killed, Balochistan 5.
    sink.add(_day(date(2024, 11, 3), "Punjab", 10), ORIGIN)
    sink.add(_day(date(2024, 12, 31), "Sindh", 30, incidents=2), ORIGIN)
    sink.add(_day(date(2025, 1, 1), "Punjab", 15), ORIGIN)
    sink.add(_day(date(2025, 3, 31), "Sindh", 0), ORIGIN)
    sink.add(_day(date(2025, 2, 2), "Balochistan", 5), ORIGIN)
    sink.flush()
    got = writer.query(
        "SELECT quarter_label, province, incidents, killed_total, fatality_share_pct,"
        " killed_change_pct, incidents_change_pct"
        " FROM incidents.v_province_quarter ORDER BY quarter, province"
    ).result_rows
    assert got == [
        ("2024-Q4", "Punjab", 1, 10, 25.0, None, None),
        ("2024-Q4", "Sindh", 2, 30, 75.0, None, None),
        ("2025-Q1", "Balochistan", 1, 5, 25.0, None, None),
        ("2025-Q1", "Punjab", 1, 15, 75.0, 50.0, 0.0),
        ("2025-Q1", "Sindh", 1, 0, 0.0, -100.0, -50.0),
    ]
    national = writer.query(
        "SELECT quarter, quarter_label, incidents, killed_total, killed_change_pct"
        " FROM incidents.v_national_quarter ORDER BY quarter"
    ).result_rows
    assert national == [
        (date(2024, 10, 1), "2024-Q4", 3, 40, None),
        (date(2025, 1, 1), "2025-Q1", 3, 20, -50.0),
    ]
    months = writer.query(
        "SELECT month_label, killed_total FROM incidents.v_national_month ORDER BY month"
    ).result_rows
    assert months == [
        ("2024-11", 10),
        ("2024-12", 30),
        ("2025-01", 15),
        ("2025-02", 5),
        ("2025-03", 0),
    ]
    assert writer.query(
        "SELECT year_label FROM incidents.v_national_year ORDER BY year"
    ).result_columns == [["2024", "2025"]]
    weeks = writer.query(
        "SELECT week, week_label FROM incidents.v_national_week ORDER BY week"
    ).result_rows
    assert weeks[0] == (date(2024, 10, 28), "2024-W44")
    assert (
        writer.command(
            "SELECT killed_total FROM incidents.v_district_month"
            " WHERE province = 'Sindh' AND month = '2024-12-01'"
        )
        == 30
    )


def test_category_counts(writer: Client) -> None:
    sink = _sink(writer)
    items = [incident("t"), incident("s", category=Category.SECURITY_OPERATION)]
    sink.add(rows.snapshot_rows(snapshot(1, items)), ORIGIN)
    sink.flush()
    assert writer.query(
        "SELECT terror_attacks, security_operations FROM incidents.v_province_month"
    ).result_rows == [(1, 1)]


def test_every_date_the_contract_accepts_is_stored_and_rolled_up(writer: Client) -> None:
    sink = _sink(writer)
    edges = [date(1947, 8, 14), date(1965, 9, 6), date(2148, 1, 1), date(2299, 1, 1)]
    for d in edges:
        sink.add(_day(d, "Punjab", 2), ORIGIN)
        at = datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(hours=4)
        edge = report(occurred_on=d, reported_at=at, source_event_id=str(d))
        sink.add([rows.report_row(edge, AT)], ORIGIN)
    sink.flush()
    stored = writer.query("SELECT day FROM incidents.v_district_day ORDER BY day").result_columns
    assert stored == [edges]
    assert writer.command("SELECT count() FROM incidents.report_versions FINAL") == len(edges)
    quarters = writer.query(
        "SELECT quarter, killed_total FROM incidents.v_province_quarter ORDER BY quarter"
    ).result_rows
    # Period starts keep pre-1970 and post-2149 dates (Date-returning functions would clamp).
    assert quarters == [
        (date(1947, 7, 1), 2),
        (date(1965, 7, 1), 2),
        (date(2148, 1, 1), 2),
        (date(2299, 1, 1), 2),
    ]
    months = writer.query("SELECT month FROM incidents.v_district_month ORDER BY month")
    assert months.result_columns == [
        [date(1947, 8, 1), date(1965, 9, 1), date(2148, 1, 1), date(2299, 1, 1)]
    ]


def test_a_row_clickhouse_can_never_store_is_quarantined_and_its_neighbours_are_written(
    writer: Client,
) -> None:
    sink = _sink(writer)
    sink.add(_day(date(2024, 1, 1), "Punjab", 3), ORIGIN)
    # A hostile snapshot: a negative revision fits no UInt64 column.
    bad = rows.snapshot_rows(
        snapshot(-1, [incident("x", day=date(2024, 1, 3))], day=date(2024, 1, 3))
    )
    poison = Origin(AT._replace(offset=99), b'{"revision": -1}')
    sink.add(bad, poison)
    sink.add(_day(date(2024, 1, 2), "Sindh", 4), ORIGIN)
    # Two good district-days (an aggregate and an incident row each), and the bad message's
    # two rows as rejected_reports rows (one after FINAL: they share its Kafka coordinates).
    assert sink.flush() == 6
    days = writer.query("SELECT day, killed_total FROM incidents.v_district_day ORDER BY day")
    assert days.result_rows == [(date(2024, 1, 1), 3), (date(2024, 1, 2), 4)]
    rejected = writer.query(
        "SELECT offset, stage, reason, raw, reasons FROM incidents.rejected_reports FINAL"
    ).result_rows
    assert len(rejected) == 1
    offset, stage, reason, raw, reasons = rejected[0]
    assert (offset, stage, reason, raw) == (99, "sink", "unstorable", '{"revision": -1}')
    assert "cannot store this row" in reasons
    assert sink.pending == 0


def test_an_older_warehouse_moves_to_date32_keeping_its_rows(
    tmp_path: Path, empty_warehouse_settings: Settings
) -> None:
    warehouse_settings = empty_warehouse_settings
    old = tmp_path / "migrations-0.1"
    old.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[123]_*.sql")):
        shutil.copy(path, old / path.name)
    client = connect(warehouse_settings)
    try:
        assert len(migrate(client, warehouse_settings, old)) == 3
        client.command(
            "INSERT INTO incidents.agg_district_day (day, province, district, incidents,"
            " killed_total, revision, is_deleted) VALUES ('2024-02-10', 'Balochistan', 'Quetta',"
            " 1, 7, 3, 0)"
        )
        client.command(
            "INSERT INTO incidents.incidents (incident_id, occurred_on, province, district,"
            " category, killed_total, revision, is_deleted) VALUES ('i-1', '2024-02-10',"
            " 'Balochistan', 'Quetta', 'terror_attack', 7, 3, 0)"
        )
        applied = migrate(client, warehouse_settings)
        assert applied[0].startswith("0004") and len(applied) == len(load_migrations()) - 3
        types = client.query(
            "SELECT table, type FROM system.columns WHERE database = 'incidents'"
            " AND name IN ('day', 'occurred_on') ORDER BY table"
        ).result_rows
        assert {t for _, t in types} == {"Date32"}, types
        assert client.query(
            "SELECT quarter, killed_total FROM incidents.v_province_quarter"
        ).result_rows == [(date(2024, 1, 1), 7)]
        assert client.query(
            "SELECT incident_id, killed_total FROM incidents.v_incidents"
        ).result_rows == [("i-1", 7)]
        leftovers = client.command(
            "SELECT count() FROM system.tables"
            " WHERE database = 'incidents' AND name LIKE '%_date32'"
        )
        assert leftovers == 0
        assert migrate(client, warehouse_settings) == []
    finally:
        client.close()
