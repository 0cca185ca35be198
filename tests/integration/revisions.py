"""A revision that arrives after a figure was published, written into a sample copy."""

from __future__ import annotations

from datetime import timedelta

from incidents_config.settings import Settings
from sinks.clickhouse import connect
from sinks.tables import REPORT_VERSIONS

EXTRA_KILLED = 20


def revise_one_q1_report(settings: Settings) -> tuple[str, str]:
    """Give one Q1 2024 report of the (stopped) warehouse a next version with
    EXTRA_KILLED more killed (unknown), published a second after every other report, as the
    sink would store it. Return its report id and a moment between (a UTC time text)."""
    client = connect(settings)
    try:
        revised_id, last = client.query(
            "SELECT min(report_id), max(published_at) FROM incidents.report_versions "
            "WHERE retracted = 0 AND occurred_on < '2024-04-01'"
        ).result_rows[0]
        latest = client.query(
            "SELECT * FROM incidents.v_reports_as_of(as_of = '2100-01-01 00:00:00') "
            "WHERE report_id = {id:String}",
            parameters={"id": revised_id},
        ).named_results()
        values = next(iter(latest))
        values["version"] += 1
        values["killed_unknown"] += EXTRA_KILLED
        values["killed_total"] += EXTRA_KILLED
        values["fingerprint"] = "f" * 64
        values["published_at"] = values["received_at"] = last + timedelta(seconds=1)
        names = REPORT_VERSIONS.column_names
        client.insert(
            "incidents.report_versions",
            [[values[c] for c in names]],
            column_names=names,
            column_type_names=REPORT_VERSIONS.column_types,
        )
    finally:
        client.close()
    between = (last + timedelta(milliseconds=500)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(revised_id), between
