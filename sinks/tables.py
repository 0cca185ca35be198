"""The columns the sink writes, per table, with their ClickHouse types.

They mirror the DDL in `sinks/migrations/`; an integration test compares the two, so the
sink can build its insert contexts once without asking the server for the columns.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPS = ("civilians", "security", "militants", "unknown")


def _casualty_columns(prefix: str) -> tuple[tuple[str, str], ...]:
    cols = tuple((f"{prefix}_{g}", "UInt32") for g in GROUPS)
    return (*cols, (f"{prefix}_total", "UInt32"))


@dataclass(frozen=True)
class TableSpec:
    """A table the sink inserts into: its name and ordered (column, type) pairs."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def column_types(self) -> list[str]:
        return [t for _, t in self.columns]


REPORT_VERSIONS = TableSpec(
    "report_versions",
    (
        ("report_id", "String"),
        ("incident_id", "String"),
        ("source", "LowCardinality(String)"),
        ("source_event_id", "String"),
        ("version", "UInt32"),
        ("reported_at", "DateTime64(6, 'UTC')"),
        ("retracted", "UInt8"),
        ("occurred_on", "Date32"),
        ("date_precision", "LowCardinality(String)"),
        ("province", "LowCardinality(String)"),
        ("district", "Nullable(String)"),
        ("location", "Nullable(String)"),
        ("latitude", "Nullable(Float64)"),
        ("longitude", "Nullable(Float64)"),
        ("category", "LowCardinality(String)"),
        ("subtype", "LowCardinality(String)"),
        *_casualty_columns("killed"),
        *_casualty_columns("injured"),
        ("perpetrator", "Nullable(String)"),
        ("target", "Nullable(String)"),
        ("notes", "Nullable(String)"),
        ("url", "Nullable(String)"),
        ("kafka_topic", "LowCardinality(String)"),
        ("kafka_partition", "Int32"),
        ("kafka_offset", "Int64"),
        ("received_at", "DateTime64(3, 'UTC')"),
        ("fingerprint", "String"),
        ("published_at", "DateTime64(3, 'UTC')"),
    ),
)

INCIDENTS = TableSpec(
    "incidents",
    (
        ("incident_id", "String"),
        ("occurred_on", "Date32"),
        ("province", "LowCardinality(String)"),
        ("district", "LowCardinality(String)"),
        ("category", "LowCardinality(String)"),
        ("location", "String"),
        ("location_display", "String"),
        ("subtype", "LowCardinality(String)"),
        *_casualty_columns("killed"),
        *_casualty_columns("injured"),
        ("killed_from", "String"),
        ("injured_from", "String"),
        ("report_ids", "Array(String)"),
        ("revision", "UInt64"),
        ("is_deleted", "UInt8"),
        ("place_id", "String"),
        ("place", "String"),
        ("place_latitude", "Nullable(Float64)"),
        ("place_longitude", "Nullable(Float64)"),
        ("gazetteer", "LowCardinality(String)"),
    ),
)

AGG_DISTRICT_DAY = TableSpec(
    "agg_district_day",
    (
        ("day", "Date32"),
        ("province", "LowCardinality(String)"),
        ("district", "LowCardinality(String)"),
        ("incidents", "UInt32"),
        ("terror_attacks", "UInt32"),
        ("security_operations", "UInt32"),
        *_casualty_columns("killed"),
        *_casualty_columns("injured"),
        ("revision", "UInt64"),
        ("is_deleted", "UInt8"),
    ),
)

REJECTED_REPORTS = TableSpec(
    "rejected_reports",
    (
        ("topic", "LowCardinality(String)"),
        ("partition", "Int32"),
        ("offset", "Int64"),
        ("rejected_by", "LowCardinality(String)"),
        ("errors", "Array(Tuple(field String, message String))"),
        ("reasons", "String"),
        ("raw", "String"),
        ("source", "String"),
        ("source_event_id", "String"),
        ("received_at", "DateTime64(3, 'UTC')"),
        ("stage", "LowCardinality(String)"),
        ("reason", "LowCardinality(String)"),
        ("raw_size", "Int64"),
        ("raw_sha256", "String"),
    ),
)

ALERTS = TableSpec(
    "alerts",
    (
        ("alert_id", "String"),
        ("seq", "UInt32"),
        ("rule", "LowCardinality(String)"),
        ("event", "LowCardinality(String)"),
        ("state", "LowCardinality(String)"),
        ("province", "LowCardinality(String)"),
        ("district", "LowCardinality(String)"),
        ("area_kind", "LowCardinality(String)"),
        ("incident_id", "String"),
        ("first_day", "Date32"),
        ("last_day", "Date32"),
        ("peak_start", "Date32"),
        ("peak_end", "Date32"),
        ("observed", "UInt32"),
        ("expected", "Float64"),
        ("p_value", "Float64"),
        ("summary", "String"),
        ("incident_ids", "Array(String)"),
        ("notify", "UInt8"),
        ("silenced_by", "String"),
        ("notified_state", "LowCardinality(String)"),
        ("notified_observed", "UInt32"),
        ("recorded_at", "DateTime64(3, 'UTC')"),
    ),
)

ALERT_DELIVERIES = TableSpec(
    "alert_deliveries",
    (
        ("alert_id", "String"),
        ("seq", "UInt32"),
        ("notifier", "LowCardinality(String)"),
        ("attempt", "UInt16"),
        ("at", "DateTime64(3, 'UTC')"),
        ("ok", "UInt8"),
        ("status", "Int32"),
        ("error", "String"),
    ),
)

ALERT_SILENCES = TableSpec(
    "alert_silences",
    (
        ("silence_id", "String"),
        ("rule", "LowCardinality(String)"),
        ("province", "LowCardinality(String)"),
        ("district", "LowCardinality(String)"),
        ("starts_at", "DateTime64(3, 'UTC')"),
        ("ends_at", "DateTime64(3, 'UTC')"),
        ("comment", "String"),
        ("created_by", "String"),
        ("deleted", "UInt8"),
        ("version", "UInt64"),
    ),
)

DQ_RUNS = TableSpec(
    "dq_runs",
    (
        ("run_id", "String"),
        ("suite", "LowCardinality(String)"),
        ("started_at", "DateTime64(3, 'UTC')"),
        ("finished_at", "DateTime64(3, 'UTC')"),
        ("success", "UInt8"),
        ("expectations", "UInt32"),
        ("failed", "UInt32"),
        ("trigger", "LowCardinality(String)"),
        ("data_docs", "String"),
    ),
)

DQ_RESULTS = TableSpec(
    "dq_results",
    (
        ("run_id", "String"),
        ("suite", "LowCardinality(String)"),
        ("position", "UInt16"),
        ("expectation", "LowCardinality(String)"),
        ("column", "String"),
        ("description", "String"),
        ("success", "UInt8"),
        ("observed", "String"),
        ("unexpected_count", "UInt64"),
        ("unexpected_examples", "String"),
        ("finished_at", "DateTime64(3, 'UTC')"),
    ),
)

SINK_TABLES: tuple[TableSpec, ...] = (
    REPORT_VERSIONS,
    INCIDENTS,
    AGG_DISTRICT_DAY,
    REJECTED_REPORTS,
    ALERT_SILENCES,
    DQ_RUNS,
    DQ_RESULTS,
)
ALL_TABLES: tuple[TableSpec, ...] = (*SINK_TABLES, ALERTS, ALERT_DELIVERIES)
