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
from tests.cli import run_incidents
from tests.integration.conftest import copy_warehouse
from tests.integration.revisions import EXTRA_KILLED, revise_one_q1_report

pytestmark = pytest.mark.integration

Q1 = (Quarter(2024, 1).start, Quarter(2024, 1).end)
Q2 = (Quarter(2024, 2).start, Quarter(2024, 2).end)


def test_revised_since_names_the_change_and_the_report_behind_it(
    sample_warehouse: Settings, tmp_path: Path
) -> None:
    settings = copy_warehouse(sample_warehouse, tmp_path)
    revised_id, between = revise_one_q1_report(settings)
    client = open_read_client(settings)
    try:
        now = datetime.now(UTC)
        revisions = revisions_since(client, *Q1, parse_moment(between), now)
        province = client.command(
            "SELECT province FROM report_versions WHERE report_id = {id:String} LIMIT 1",
            parameters={"id": revised_id},
        )
        unchanged = revisions_since(client, *Q1, now - timedelta(seconds=1), now)
        other_quarter = revisions_since(client, *Q2, parse_moment(between), now)
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


def test_report_as_of_reproduces_the_published_figure_and_says_what_changed(
    sample_warehouse: Settings, tmp_path: Path
) -> None:
    settings = copy_warehouse(sample_warehouse, tmp_path)
    revised_id, between = revise_one_q1_report(settings)
    html, md = tmp_path / "then.html", tmp_path / "then.md"
    for out in (html, md):
        result = run_incidents(
            settings, "report", "--quarter", "2024Q1", "--as-of", between, "--out", str(out)
        )
        assert result.returncode == 0, result.stderr
    page = html.read_text()
    assert "Q1 2024: 432 fatalities, 370 injuries, 245 incidents" in page
    assert "Revised since" in page and 'id="revised-table"' in page
    assert f"<b>{revised_id}</b>" in page and "432" in page and "452" in page
    text = md.read_text()
    assert "## Revised since" in text and f"+{EXTRA_KILLED}" in text and revised_id in text
    # (Without --as-of the report reads the live views, which the stream keeps: this
    # revision was written to report_versions only. test_as_of.py checks that as-of now
    # equals the live views on the real pipeline.)
    terminal = run_incidents(settings, "report", "--quarter", "2024Q1", "--as-of", between)
    assert "Q1 2024: 432 fatalities" in terminal.stdout and "Revised since" in terminal.stdout
    refused = run_incidents(settings, "report", "--quarter", "2024Q1", "--as-of", "2100-01-01")
    assert refused.returncode == 1 and "in the future" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
