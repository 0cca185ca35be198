"""Pure conversions from the pipeline's messages to warehouse rows.

Every row is fully determined by its message (and the message's Kafka coordinates), so a
message delivered twice gives the same row twice and the ReplacingMergeTree keeps one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import ValidationError

from schemas.places import load_places
from schemas.report import Casualties, Report
from schemas.warehouse import (
    SNAPSHOT_BUNDLE_PREFIX,
    VALID_BUNDLE_PREFIX,
    Counts,
    DeadLetter,
    DecodeError,
    DistrictDaySnapshot,
    DqRunMessage,
    IncidentKey,
    IncidentRow,
    SilenceMessage,
    SnapshotBundle,
    ValidBundle,
    ValidReport,
    decode,
)
from sinks import tables


class TableRow(NamedTuple):
    """One row for one table, as column name -> value."""

    table: str
    values: dict[str, Any]


class KafkaCoordinates(NamedTuple):
    """Where the sink read a message; `timestamp` is the record's Kafka timestamp.

    `published`: when the report it carries was published to the raw topic (the header a
    worker carries along), if the message says.
    """

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    published: datetime | None = None


class MessageKind(StrEnum):
    """What a topic carries, which decides how its messages become rows."""

    REPORT = "report"
    DEAD_LETTER = "dead_letter"
    SNAPSHOT = "snapshot"
    SILENCE = "silence"
    DQ_RUN = "dq_run"


REJECTED_BY_PIPELINE = "pipeline"  # a DeadLetter the producers or validate wrote
REJECTED_BY_SINK = "sink"  # a message on a sink topic the sink could not decode or store
UNDECODABLE = "undecodable"  # reason of a message the sink could not decode
UNSTORABLE = "unstorable"  # reason of a row ClickHouse refused for good
MAX_RAW_BYTES = 64 * 1024  # kept of a rejected message, like streams.letters


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive values are taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def kafka_timestamp(ms: int | None) -> datetime:
    """Convert a Kafka record timestamp (ms since the epoch) to UTC; -1/None -> epoch."""
    return datetime.fromtimestamp(max(ms or 0, 0) / 1000, tz=UTC)


def casualty_columns(prefix: str, c: Casualties | Counts) -> dict[str, int]:
    """Flatten casualties to `<prefix>_<group>` columns plus `<prefix>_total`."""
    civilians, security, militants, unknown = c.civilians, c.security, c.militants, c.unknown
    return {
        f"{prefix}_civilians": civilians,
        f"{prefix}_security": security,
        f"{prefix}_militants": militants,
        f"{prefix}_unknown": unknown,
        f"{prefix}_total": civilians + security + militants + unknown,
    }


def report_row(
    report: Report | ValidReport, at: KafkaCoordinates, report_json: bytes | None = None
) -> TableRow:
    """Convert one accepted report version to a `report_versions` row.

    ``report_json``: the message's value, a worker's ``report.model_dump_json()``, whose
    SHA-256 is the fingerprint (a :class:`ValidReport` needs it).
    """
    if report_json is not None:
        fingerprint = hashlib.sha256(report_json).hexdigest()
    elif isinstance(report, Report):
        fingerprint = report.fingerprint()
    else:
        raise ValueError("the fingerprint of a ValidReport needs its JSON")
    values: dict[str, Any] = {
        "report_id": report.report_id,
        "incident_id": IncidentKey.of(report).incident_id,  # lineage: report -> incident
        "source": report.source,
        "source_event_id": report.source_event_id,
        "version": report.version,
        "reported_at": utc(report.reported_at),
        "retracted": int(report.retracted),
        "occurred_on": report.occurred_on,
        "date_precision": str(report.date_precision),
        "province": report.province,
        "district": report.district,
        "location": report.location,
        "latitude": report.latitude,
        "longitude": report.longitude,
        "category": str(report.category),
        "subtype": str(report.subtype),
        **casualty_columns("killed", report.killed),
        **casualty_columns("injured", report.injured),
        "perpetrator": report.perpetrator,
        "target": report.target,
        "notes": report.notes,
        "url": report.url,
        "kafka_topic": at.topic,
        "kafka_partition": at.partition,
        "kafka_offset": at.offset,
        "received_at": utc(at.timestamp),
        "fingerprint": fingerprint,
        "published_at": utc(at.published or at.timestamp),
    }
    return TableRow(tables.REPORT_VERSIONS.name, values)


def incident_row(incident: IncidentRow, revision: int, gazetteer: str = "") -> TableRow:
    """Convert one incident of a district-day snapshot to an `incidents` row."""
    values: dict[str, Any] = {
        "incident_id": incident.incident_id,
        "occurred_on": incident.occurred_on,
        "province": incident.province,
        "district": incident.district,
        "category": str(incident.category),
        "location": incident.location,
        "location_display": incident.location_display,
        "subtype": incident.subtype,
        **casualty_columns("killed", incident.killed),
        **casualty_columns("injured", incident.injured),
        "killed_from": incident.killed_from,
        "injured_from": incident.injured_from,
        "report_ids": list(incident.report_ids),
        "revision": revision,
        "is_deleted": int(incident.deleted),
        **place_columns(incident.location),
        "gazetteer": gazetteer,
    }
    return TableRow(tables.INCIDENTS.name, values)


def place_columns(location_key: str) -> dict[str, Any]:
    """The canonical place of an incident whose key names one (``@<place id>``)."""
    place = load_places().by_id.get(location_key[1:]) if location_key.startswith("@") else None
    if place is None:
        return {"place_id": "", "place": "", "place_latitude": None, "place_longitude": None}
    return {
        "place_id": place.id,
        "place": place.name,
        "place_latitude": place.lat,
        "place_longitude": place.lon,
    }


def snapshot_rows(snapshot: DistrictDaySnapshot) -> list[TableRow]:
    """Convert a district-day snapshot to its `agg_district_day` row and its incident rows.

    A district-day without incidents is written as a delete marker (is_deleted=1), so views
    reading with FINAL stop showing it.
    """
    dd, agg = snapshot.district_day, snapshot.aggregate
    values: dict[str, Any] = {
        "day": dd.occurred_on,
        "province": dd.province,
        "district": dd.district,
        "incidents": agg.incidents,
        "terror_attacks": agg.terror_attacks,
        "security_operations": agg.security_operations,
        **casualty_columns("killed", agg.killed),
        **casualty_columns("injured", agg.injured),
        "revision": snapshot.revision,
        "is_deleted": int(agg.incidents == 0),
    }
    rows = [TableRow(tables.AGG_DISTRICT_DAY.name, values)]
    rows.extend(incident_row(i, snapshot.revision, snapshot.gazetteer) for i in snapshot.incidents)
    return rows


def silence_row(silence: SilenceMessage, at: KafkaCoordinates) -> TableRow:
    """Convert a silence to an `alert_silences` row; its Kafka offset orders its versions."""
    values: dict[str, Any] = {
        "silence_id": silence.silence_id,
        "rule": silence.rule,
        "province": silence.province,
        "district": silence.district,
        "starts_at": utc(silence.starts_at),
        "ends_at": utc(silence.ends_at),
        "comment": silence.comment,
        "created_by": silence.created_by,
        "deleted": int(silence.deleted),
        "version": at.offset,
    }
    return TableRow(tables.ALERT_SILENCES.name, values)


def _decode_text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace")


def raw_text(kept: bytes, size: int, sha256: str, truncated: bool) -> str:
    """The kept bytes as text; a marker says when they are only the start of the original."""
    text = _decode_text(kept)
    if truncated:
        text += f"\n[truncated: the original has {size} bytes, sha256 {sha256}]"
    return text


def _raw_columns(raw: bytes | None) -> dict[str, Any]:
    data = raw or b""
    sha = hashlib.sha256(data).hexdigest()
    truncated = len(data) > MAX_RAW_BYTES
    return {
        "raw": raw_text(data[:MAX_RAW_BYTES], len(data), sha, truncated),
        "raw_size": len(data),
        "raw_sha256": sha,
    }


def _reasons(errors: list[tuple[str, str]]) -> str:
    return "; ".join(f"{field}: {message}" if field else message for field, message in errors)


def dead_letter_row(letter: DeadLetter) -> TableRow:
    """Convert a DeadLetter to a `rejected_reports` row (keyed by where the bytes came from)."""
    try:
        kept = base64.b64decode(letter.raw_b64, validate=True)
    except (binascii.Error, ValueError):
        kept = letter.raw_b64.encode()
    size = letter.raw_size if letter.raw_size >= 0 else len(kept)
    sha = letter.raw_sha256 or hashlib.sha256(kept).hexdigest()
    errors = [(e.field, e.message) for e in letter.errors]
    values: dict[str, Any] = {
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "rejected_by": REJECTED_BY_PIPELINE,
        "errors": errors,
        "reasons": _reasons(errors),
        "raw": raw_text(kept, size, sha, letter.raw_truncated),
        "source": letter.source,
        "source_event_id": letter.source_event_id,
        "received_at": utc(letter.received_at),
        "stage": letter.stage,
        "reason": letter.reason,
        "raw_size": size,
        "raw_sha256": sha,
    }
    return TableRow(tables.REJECTED_REPORTS.name, values)


def undecodable_row(
    raw: bytes | None,
    at: KafkaCoordinates,
    errors: list[tuple[str, str]],
    reason: str = UNDECODABLE,
) -> TableRow:
    """Make a `rejected_reports` row for a message on a sink topic the sink cannot use."""
    errors = [(field[:200], message[:500]) for field, message in errors[:20]]
    values: dict[str, Any] = {
        "topic": at.topic,
        "partition": at.partition,
        "offset": at.offset,
        "rejected_by": REJECTED_BY_SINK,
        "errors": errors,
        "reasons": _reasons(errors),
        **_raw_columns(raw),
        "source": "",
        "source_event_id": "",
        "received_at": utc(at.timestamp),
        "stage": "sink",
        "reason": reason,
    }
    return TableRow(tables.REJECTED_REPORTS.name, values)


def dq_rows(run: DqRunMessage) -> list[TableRow]:
    """Convert a data-quality run to one `dq_runs` row per suite and one `dq_results` row
    per expectation."""
    rows = [
        TableRow(
            tables.DQ_RUNS.name,
            {
                "run_id": run.run_id,
                "suite": s.suite,
                "started_at": utc(run.started_at),
                "finished_at": utc(run.finished_at),
                "success": int(s.success),
                "expectations": s.expectations,
                "failed": s.failed,
                "trigger": run.trigger,
                "data_docs": s.data_docs or run.data_docs,
            },
        )
        for s in run.suites
    ]
    rows += [
        TableRow(
            tables.DQ_RESULTS.name,
            {
                "run_id": run.run_id,
                "finished_at": utc(run.finished_at),
                **r.model_dump(),
                "success": int(r.success),
            },
        )
        for r in run.results
    ]
    return rows


def validation_errors(e: ValidationError) -> list[tuple[str, str]]:
    """Return pydantic's errors as (field path, message) pairs."""
    return [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in e.errors()]


def struct_error(e: DecodeError) -> tuple[str, str]:
    """msgspec's error as (field path, message): "Expected `int`, got `str` - at
    `$.killed.civilians`" -> ("killed.civilians", "Expected `int`, got `str`")."""
    message, _, path = str(e).partition(" - at `$")
    field = path.rstrip("`").lstrip(".")
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:
        field = f"{field}.{missing[1]}" if field else missing[1]
    return field, message


class Item(NamedTuple):
    """What one message carries for one origin: the rows, where they came from, and the
    bytes a quarantined row keeps. A message is one item, except a bundle: of valid
    reports, one item per report, each with its raw message's coordinates; of snapshots,
    one item per snapshot, each with its own publication time and the bundle's bytes."""

    at: KafkaCoordinates
    raw: bytes | None
    rows: list[TableRow]


def message_items(kind: MessageKind, value: bytes | None, at: KafkaCoordinates) -> list[Item]:
    """Convert one Kafka message to its items (:class:`Item`); what does not decode becomes
    a rejected row."""
    if value is not None:
        if kind is MessageKind.REPORT and value.startswith(VALID_BUNDLE_PREFIX):
            return bundle_items(value, at)
        if kind is MessageKind.SNAPSHOT and value.startswith(SNAPSHOT_BUNDLE_PREFIX):
            return snapshot_bundle_items(value, at)
        return [Item(at, value, _rows(kind, value, at))]
    return [Item(at, value, [undecodable_row(None, at, [("", "empty message (tombstone)")])])]


def bundle_items(value: bytes, at: KafkaCoordinates) -> list[Item]:
    """The reports of a :class:`ValidBundle`, each a row with its raw message's coordinates
    and publication time, and the bundle's own Kafka timestamp (when it reached
    ``reports.valid``). A report that does not decode is one rejected row, at its origin."""
    try:
        bundle = decode(value, ValidBundle)
    except DecodeError as e:  # also one origin per report, and origins in range
        return [Item(at, value, [undecodable_row(value, at, [struct_error(e)])])]
    items = []
    for report, (topic, partition, offset, published) in zip(
        bundle.reports, bundle.origins, strict=True
    ):
        raw = bytes(report)
        origin = KafkaCoordinates(
            topic, partition, offset, at.timestamp, kafka_timestamp(published)
        )
        items.append(Item(origin, raw, _rows(MessageKind.REPORT, raw, origin)))
    return items


def snapshot_bundle_items(value: bytes, at: KafkaCoordinates) -> list[Item]:
    """The snapshots of a :class:`SnapshotBundle`, each its rows with its own publication
    time. Each keeps the bundle's bytes (at most ``SNAPSHOT_BUNDLE_BYTES``, all of which
    a rejected row keeps), so that rows quarantined from several of its snapshots, which
    share the bundle's coordinates, lose nothing when they become one rejected row."""
    try:
        bundle = decode(value, SnapshotBundle)
    except DecodeError as e:  # also one publication time per snapshot, in range
        return [Item(at, value, [undecodable_row(value, at, [struct_error(e)])])]
    return [
        Item(at._replace(published=kafka_timestamp(published)), value, snapshot_rows(snapshot))
        for snapshot, published in zip(bundle.snapshots, bundle.published, strict=True)
    ]


def message_rows(kind: MessageKind, value: bytes | None, at: KafkaCoordinates) -> list[TableRow]:
    """Convert one Kafka message to rows; a message that does not decode becomes a rejected row."""
    return [row for item in message_items(kind, value, at) for row in item.rows]


def _rows(kind: MessageKind, value: bytes, at: KafkaCoordinates) -> list[TableRow]:
    try:
        if kind is MessageKind.REPORT:
            # Written by a worker after the contract accepted it: types are checked, the
            # contract's validators are not run again (schemas.warehouse.ValidReport).
            try:
                return [report_row(decode(value, ValidReport), at, value)]
            except DecodeError:
                # Not what a worker writes: the contract says all that is wrong with it
                # (or, should it accept it after all, how to read it).
                return [report_row(Report.model_validate_json(value), at, value)]
        if kind is MessageKind.SNAPSHOT:
            return snapshot_rows(decode(value, DistrictDaySnapshot))
        if kind is MessageKind.DEAD_LETTER:
            return [dead_letter_row(DeadLetter.model_validate_json(value))]
        if kind is MessageKind.SILENCE:
            return [silence_row(SilenceMessage.model_validate_json(value), at)]
        if kind is MessageKind.DQ_RUN:
            return dq_rows(DqRunMessage.model_validate_json(value))
        raise ValueError(f"no rows for messages of kind {kind}")
    except ValidationError as e:
        return [undecodable_row(value, at, validation_errors(e))]
    except DecodeError as e:  # one of the pipeline's own structs (schemas.warehouse)
        return [undecodable_row(value, at, [struct_error(e)])]
    except ValueError as e:  # a validator's own error that pydantic did not wrap
        return [undecodable_row(value, at, [("", str(e))])]
