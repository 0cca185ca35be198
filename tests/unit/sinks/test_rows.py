from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings

from schemas.report import Casualties, Report
from schemas.warehouse import SNAPSHOT_BUNDLE_BYTES, IncidentKey, ValidReport, encode
from sinks import rows, tables
from sinks.rows import MessageKind, message_rows
from tests.strategies import valid_reports
from tests.unit.sinks.samples import AT, dead_letter, incident, report, snapshot


def _columns(spec: tables.TableSpec) -> set[str]:
    return set(spec.column_names)


def test_report_row_flattens_every_field_and_keeps_kafka_coordinates() -> None:
    row = rows.report_row(report(), AT)
    assert row.table == "report_versions"
    assert set(row.values) == _columns(tables.REPORT_VERSIONS)
    v = row.values
    assert v["report_id"] == "dawn:e-1"
    assert v["incident_id"] == IncidentKey.of(report()).incident_id != ""
    assert (v["killed_civilians"], v["killed_security"], v["killed_total"]) == (3, 1, 4)
    assert (v["injured_civilians"], v["injured_unknown"], v["injured_total"]) == (5, 2, 7)
    assert v["category"] == "terror_attack"
    assert v["subtype"] == "other"
    assert v["date_precision"] == "day"
    assert v["perpetrator"] is None
    assert (v["kafka_topic"], v["kafka_partition"], v["kafka_offset"]) == (AT[0], 2, 41)
    assert v["received_at"] == AT.timestamp


def test_report_row_normalizes_times_to_utc() -> None:
    pkt = timezone(timedelta(hours=5))
    row = rows.report_row(report(reported_at=datetime(2025, 3, 1, 15, 30, tzinfo=pkt)), AT)
    assert row.values["reported_at"] == datetime(2025, 3, 1, 10, 30, tzinfo=UTC)
    assert row.values["reported_at"].tzinfo == UTC


def test_snapshot_gives_one_aggregate_row_and_one_row_per_incident() -> None:
    snap = snapshot(7, [incident("a"), incident("b", deleted=True)])
    out = rows.snapshot_rows(snap)
    assert [r.table for r in out] == ["agg_district_day", "incidents", "incidents"]
    agg, a, b = (r.values for r in out)
    assert set(agg) == _columns(tables.AGG_DISTRICT_DAY)
    assert set(a) == _columns(tables.INCIDENTS)
    assert agg["day"] == date(2025, 2, 28)
    assert (agg["incidents"], agg["killed_total"], agg["revision"], agg["is_deleted"]) == (
        1,
        4,
        7,
        0,
    )
    assert (a["revision"], a["is_deleted"], b["is_deleted"]) == (7, 0, 1)
    assert a["report_ids"] == ["dawn:e-1"]


def test_empty_district_day_becomes_a_delete_marker() -> None:
    (agg,) = rows.snapshot_rows(snapshot(9, []))
    assert agg.values["incidents"] == 0
    assert agg.values["is_deleted"] == 1


def test_dead_letter_row_decodes_raw_and_joins_reasons() -> None:
    row = rows.dead_letter_row(dead_letter())
    assert set(row.values) == _columns(tables.REJECTED_REPORTS)
    v = row.values
    assert v["raw"] == '{"province": "X"}'
    assert v["errors"] == [("province", "unknown province"), ("killed.civilians", "must be >= 0")]
    assert v["reasons"] == "province: unknown province; killed.civilians: must be >= 0"
    assert (v["topic"], v["partition"], v["offset"]) == ("incidents.reports.raw", 1, 7)
    assert v["rejected_by"] == rows.REJECTED_BY_PIPELINE


def test_a_dead_letter_from_the_topic_with_plain_dict_errors_makes_the_same_row() -> None:
    value = (
        b'{"errors":[{"field":"province","message":"unknown province"},'
        b'{"field":"killed.civilians","message":"must be >= 0"}],'
        b'"raw_b64":"eyJwcm92aW5jZSI6ICJYIn0=","topic":"incidents.reports.raw","partition":1,'
        b'"offset":7,"received_at":"2025-03-01T09:00:00Z","source":"dawn","source_event_id":"e-9"}'
    )
    (row,) = message_rows(MessageKind.DEAD_LETTER, value, AT)
    assert row.table == tables.REJECTED_REPORTS.name
    assert row.values == rows.dead_letter_row(dead_letter()).values
    assert row.values["errors"] == [
        ("province", "unknown province"),
        ("killed.civilians", "must be >= 0"),
    ]


def test_dead_letter_with_bad_base64_keeps_the_text() -> None:
    letter = dead_letter().model_copy(update={"raw_b64": "not base64!"})
    assert rows.dead_letter_row(letter).values["raw"] == "not base64!"


def test_message_rows_dispatches_on_kind() -> None:
    assert message_rows(MessageKind.REPORT, report().model_dump_json().encode(), AT)[0].table == (
        "report_versions"
    )
    snap = encode(snapshot(1, [incident()]))
    assert len(message_rows(MessageKind.SNAPSHOT, snap, AT)) == 2
    letter = dead_letter().model_dump_json().encode()
    assert message_rows(MessageKind.DEAD_LETTER, letter, AT)[0].values["offset"] == 7


def test_undecodable_message_becomes_a_rejected_row_with_reason() -> None:
    (bad,) = message_rows(MessageKind.SNAPSHOT, b"{not json", AT)
    assert bad.table == "rejected_reports"
    assert bad.values["rejected_by"] == rows.REJECTED_BY_SINK
    assert bad.values["raw"] == "{not json"
    assert "JSON" in bad.values["reasons"]
    assert (bad.values["topic"], bad.values["offset"]) == (AT.topic, AT.offset)


def test_wrong_shape_names_the_fields() -> None:
    (bad,) = message_rows(MessageKind.REPORT, b'{"source": "x"}', AT)
    fields = {f for f, _ in bad.values["errors"]}
    assert {"source_event_id", "province"} <= fields


def test_tombstone_and_binary_garbage_do_not_raise() -> None:
    (tomb,) = message_rows(MessageKind.REPORT, None, AT)
    assert "tombstone" in tomb.values["reasons"]
    (garbage,) = message_rows(MessageKind.REPORT, b"\xff\xfe\x00", AT)
    assert garbage.values["rejected_by"] == rows.REJECTED_BY_SINK


def test_casualty_columns_total() -> None:
    cols = rows.casualty_columns("killed", Casualties(civilians=1, militants=2))
    assert cols == {
        "killed_civilians": 1,
        "killed_security": 0,
        "killed_militants": 2,
        "killed_unknown": 0,
        "killed_total": 3,
    }


def test_kafka_timestamp() -> None:
    assert rows.kafka_timestamp(1_700_000_000_123) == datetime(
        2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC
    )
    assert rows.kafka_timestamp(-1) == datetime(1970, 1, 1, tzinfo=UTC)


def test_raw_b64_sample_is_valid() -> None:
    assert base64.b64decode(dead_letter().raw_b64) == b'{"province": "X"}'


def test_a_silence_becomes_a_row_and_a_hostile_one_a_rejection() -> None:
    from schemas.warehouse import SilenceMessage

    start = datetime(2025, 1, 1, tzinfo=UTC)
    silence = SilenceMessage(
        silence_id="s1", rule="*", starts_at=start, ends_at=start.replace(day=2)
    )
    (row,) = rows.message_rows(rows.MessageKind.SILENCE, silence.model_dump_json().encode(), AT)
    assert row.table == "alert_silences"
    assert (row.values["silence_id"], row.values["version"], row.values["deleted"]) == ("s1", 41, 0)
    for hostile in (b"[" * 100_000, b"\xff\x00", b'{"silence_id": ""}', b"{" * 3):
        (bad,) = rows.message_rows(rows.MessageKind.SILENCE, hostile, AT)
        assert bad.table == "rejected_reports" and bad.values["reason"] == "undecodable"


# --- reports.valid is read without the contract's validators: the same rows ------------------


def test_the_struct_the_sink_reads_reports_into_has_the_contracts_fields() -> None:
    assert set(ValidReport.__struct_fields__) == set(Report.model_fields)


@settings(max_examples=200, deadline=None)
@given(valid_reports())
def test_a_valid_report_gives_the_same_row_read_fast_or_through_the_contract(
    report: Report,
) -> None:
    value = report.model_dump_json().encode()
    (fast,) = message_rows(MessageKind.REPORT, value, AT)
    assert fast.values == rows.report_row(Report.model_validate_json(value), AT, value).values


def bundle(reports: list[bytes], origins: list[str]) -> bytes:
    return b'{"reports":[%s],"origins":[%s]}' % (
        b",".join(reports),
        ",".join(origins).encode(),
    )


def test_one_bad_report_in_a_bundle_is_one_rejected_row_at_its_own_origin() -> None:
    good = report(source_event_id="e-1").model_dump_json().encode()
    also_good = report(source_event_id="e-2").model_dump_json().encode()
    value = bundle(
        [good, b'{"report_id":"x"}', also_good],
        ['["t.raw",1,10,1700000000000]', '["t.raw",1,11,1700000000000]', '["t.raw",0,12,1]'],
    )
    items = rows.message_items(MessageKind.REPORT, value, AT)
    assert [(i.at.topic, i.at.partition, i.at.offset) for i in items] == [
        ("t.raw", 1, 10),
        ("t.raw", 1, 11),
        ("t.raw", 0, 12),
    ]
    tables_of = [[r.table for r in i.rows] for i in items]
    assert tables_of == [
        [tables.REPORT_VERSIONS.name],
        [tables.REJECTED_REPORTS.name],
        [tables.REPORT_VERSIONS.name],
    ]
    rejected = items[1].rows[0].values
    assert (rejected["topic"], rejected["offset"]) == ("t.raw", 11)
    assert "source: Field required" in rejected["reasons"]
    assert items[1].raw == b'{"report_id":"x"}'
    assert items[2].rows[0].values["published_at"] == datetime(1970, 1, 1, 0, 0, 0, 1000, UTC)


def assert_rejected_whole(kind: MessageKind, hostile: dict[bytes, str]) -> None:
    """Each hostile bundle is one rejected row, at the bundle's coordinates, saying why."""
    for value, reason in hostile.items():
        (item,) = rows.message_items(kind, value, AT)
        (row,) = item.rows
        assert row.table == tables.REJECTED_REPORTS.name
        assert (row.values["topic"], row.values["offset"]) == (AT.topic, AT.offset)
        assert reason in row.values["reasons"], (value[:40], row.values["reasons"])
        assert item.raw == value


def test_a_hostile_bundle_is_one_rejected_row_at_the_bundles_coordinates() -> None:
    good = report().model_dump_json().encode()
    hostile = {
        b'{"reports":' + b"[" * 100_000: "nested too deeply",
        b'{"reports":[' + b"[" * 100_000 + b'],"origins":[["t",0,1,5]]}': "nested too deeply",
        bundle([good], []): "one origin per report",
        bundle([good], ['["t",0,1,-5]']): ">= 0",
        bundle([good], ['["t",0,1,99999999999999999]']): "<= 253402300799999",
        bundle([good], ['["t",-1,1,5]']): ">= 0",
        b'{"reports":[\xff\xfe],"origins":[["t",0,1,5]]}': "malformed",
        b'{"reports":[],"origins":[],"extra":1}': "unknown field",
    }
    assert_rejected_whole(MessageKind.REPORT, hostile)


def test_a_single_valid_report_message_still_reads_as_before() -> None:
    """Messages written before reports were bundled (an upgrade with a topic not empty)."""
    value = report().model_dump_json().encode()
    (item,) = rows.message_items(MessageKind.REPORT, value, AT)
    assert item.at == AT and item.raw == value
    assert item.rows == message_rows(MessageKind.REPORT, value, AT)
    assert item.rows[0].values["kafka_offset"] == AT.offset


def snapshot_bundle(snapshots: list[bytes], published: list[str]) -> bytes:
    return b'{"snapshots":[%s],"published":[%s]}' % (
        b",".join(snapshots),
        ",".join(published).encode(),
    )


def test_a_snapshot_bundle_is_one_item_per_snapshot_with_its_own_publication_time() -> None:
    first = encode(snapshot(3, [incident("a")]))
    second = encode(snapshot(4, [incident("b"), incident("c", deleted=True)]))
    value = snapshot_bundle([first, second], ["1700000000000", "1"])
    items = rows.message_items(MessageKind.SNAPSHOT, value, AT)
    assert [[r.table for r in i.rows] for i in items] == [
        ["agg_district_day", "incidents"],
        ["agg_district_day", "incidents", "incidents"],
    ]
    assert [i.rows for i in items] == [
        message_rows(MessageKind.SNAPSHOT, first, AT),
        message_rows(MessageKind.SNAPSHOT, second, AT),
    ]
    assert [i.at.published for i in items] == [
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 1000, UTC),
    ]
    # Both at the bundle's coordinates, each keeping the whole bundle: a quarantine of rows
    # of both is one rejected row that still holds both snapshots.
    assert {(i.at.topic, i.at.partition, i.at.offset, i.raw) for i in items} == {
        (AT.topic, AT.partition, AT.offset, value)
    }
    assert message_rows(MessageKind.SNAPSHOT, value, AT) == items[0].rows + items[1].rows


def test_a_hostile_snapshot_bundle_is_one_rejected_row_at_its_coordinates() -> None:
    good = encode(snapshot(3, [incident("a")]))
    hostile = {
        b'{"snapshots":' + b"[" * 100_000: "Expected `object`, got `array`",
        snapshot_bundle([good], []): "one publication time per snapshot",
        snapshot_bundle([good], ["-5"]): ">= 0",
        snapshot_bundle([good], ["99999999999999999"]): "<= 253402300799999",
        snapshot_bundle([good, b'{"revision":1}'], ["1", "2"]): "missing required field",
        b'{"snapshots":[\xff\xfe],"published":[1]}': "malformed",
        b'{"snapshots":[],"published":[],"extra":1}': "unknown field",
    }
    assert_rejected_whole(MessageKind.SNAPSHOT, hostile)


def test_a_quarantined_snapshot_bundle_is_kept_whole() -> None:
    """Rows of several snapshots of one bundle become one rejected row (same coordinates):
    it must hold the whole bundle, so a bundle is never larger than a rejected row keeps."""
    assert SNAPSHOT_BUNDLE_BYTES <= rows.MAX_RAW_BYTES
