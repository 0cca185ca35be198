"""The report's "Revised since" data: the quarter as known at a moment against now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidents_config.settings import Settings
from incidents_report.data import Quarter
from incidents_report.revisions import NATIONAL, MeasureChange, revisions_since
from sinks.as_of import parse_moment
from sinks.clickhouse import open_read_client
from tests.integration.conftest import copy_warehouse
from tests.integration.revisions import EXTRA_KILLED, revise_one_q1_report

pytestmark = pytest.mark.integration


def test_revised_since_names_the_change_and_the_report_behind_it(
    sample_warehouse: Settings, tmp_path: Path
) -> None:
    settings = copy_warehouse(sample_warehouse, tmp_path)
    revised_id, between = revise_one_q1_report(settings)
    client = open_read_client(settings)
    try:
        now = datetime.now(UTC)
        revisions = revisions_since(client, Quarter(2024, 1), parse_moment(between), now)
        province = client.command(
            "SELECT province FROM report_versions WHERE report_id = {id:String} LIMIT 1",
            parameters={"id": revised_id},
        )
        unchanged = revisions_since(client, Quarter(2024, 1), now - timedelta(seconds=1), now)
        other_quarter = revisions_since(client, Quarter(2024, 2), parse_moment(between), now)
    finally:
        client.close()
    assert revisions.changes == (
        MeasureChange(NATIONAL, "killed_total", 432, 432 + EXTRA_KILLED),
        MeasureChange(
            str(province),
            "killed_total",
            revisions.changes[1].then,
            revisions.changes[1].then + EXTRA_KILLED,
        ),
    )
    assert revisions.reports_total == 1
    (report,) = revisions.reports
    assert report.report_id == revised_id and report.what == "revised"
    assert report.now_version == (report.then_version or 0) + 1
    assert report.now_killed - report.then_killed == EXTRA_KILLED
    assert unchanged.unchanged
    assert other_quarter.unchanged
