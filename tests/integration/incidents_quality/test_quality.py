"""`incidents dq` on the bundled sample, clean and deliberately corrupted.

The sample goes through the real pipeline once (the `sample_warehouse` fixture); each
corruption works on a copy of its embedded warehouse, written by hand the way a bug or an
operator could, and must fail the expectation that guards against it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from incidents_config.settings import Settings
from incidents_quality.run import Run, docs_index, run_suites, select_suites
from sinks.clickhouse import connect, database_name, open_read_client
from tests.cli import run_incidents
from tests.integration.conftest import copy_warehouse

pytestmark = pytest.mark.integration


def _run(settings: Settings) -> Run:
    client = open_read_client(settings)
    try:
        return run_suites(settings, client, select_suites(settings))
    finally:
        client.close()


def _failed(run: Run) -> set[tuple[str, str]]:
    return {(r.suite, r.description) for r in run.message.results if not r.success}


def test_a_clean_load_passes_every_expectation(sample_warehouse: Settings) -> None:
    run = _run(sample_warehouse)
    assert _failed(run) == set()
    suites = {s.suite: s for s in run.message.suites}
    assert list(suites) == ["reports", "incidents", "dead_letters", "reconciliation", "freshness"]
    assert all(s.expectations > 0 and s.failed == 0 for s in suites.values())
    # The reconciliation really compared cells: its frames are not empty.
    reconciled = [r for r in run.message.results if r.suite == "reconciliation"]
    assert len(reconciled) == 3
    # The Data Docs site was written under the var dir.
    assert docs_index(sample_warehouse).is_file()
    assert sample_warehouse.paths.var_dir in docs_index(sample_warehouse).parents


def test_the_cli_prints_the_table_and_exits_zero_on_a_clean_load(
    sample_warehouse: Settings,
) -> None:
    done = run_incidents(sample_warehouse, "dq", "--no-store", "--suite", "reconciliation")
    assert done.returncode == 0, done.stderr
    assert "v_province_quarter equals the live incidents" in done.stdout
    assert "all 3 expectations passed" in done.stdout
    assert "Traceback" not in done.stderr


CORRUPTIONS = {
    # -1 is what a bug that subtracts too much stores; a UInt32 column holds it as 2^32 - 1.
    "negative count": (
        "INSERT INTO incidents SELECT * REPLACE (toUInt32(-1) AS killed_civilians,"
        " revision + 1 AS revision) FROM incidents FINAL WHERE is_deleted = 0"
        " ORDER BY incident_id LIMIT 1",
        ("incidents", "incidents: killed_civilians is non-negative and at most 5000 (contract)"),
    ),
    "unknown district": (
        "INSERT INTO incidents SELECT * REPLACE ('Atlantis' AS district,"
        " concat(incident_id, '-x') AS incident_id) FROM incidents FINAL WHERE is_deleted = 0"
        " ORDER BY incident_id LIMIT 1",
        ("incidents", "province and district are in the gazetteer"),
    ),
    "duplicated incident": (
        "INSERT INTO incidents SELECT * REPLACE (occurred_on + 1 AS occurred_on)"
        " FROM incidents FINAL WHERE is_deleted = 0 ORDER BY incident_id LIMIT 1",
        ("incidents", "one live row per incident"),
    ),
    "aggregate changed by hand": (
        "INSERT INTO agg_district_day SELECT * REPLACE (killed_total + 1 AS killed_total,"
        " revision + 1 AS revision) FROM agg_district_day FINAL WHERE is_deleted = 0"
        " ORDER BY day, province, district LIMIT 1",
        (
            "reconciliation",
            "v_province_quarter equals the live incidents summed per province and quarter",
        ),
    ),
}


def corrupted(sample_warehouse: Settings, tmp_path: Path, corruption: str) -> Settings:
    """A copy of the sample's warehouse with one corruption written into it."""
    settings = copy_warehouse(sample_warehouse, tmp_path)
    writer = connect(settings)
    writer.database = database_name(settings)
    try:
        writer.command(CORRUPTIONS[corruption][0])
    finally:
        writer.close()
    return settings


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupted_table_fails_the_right_expectation(
    corruption: str, sample_warehouse: Settings, tmp_path: Path
) -> None:
    settings = corrupted(sample_warehouse, tmp_path, corruption)
    expected = CORRUPTIONS[corruption][1]
    run = _run(settings)
    failed = _failed(run)
    assert expected in failed, failed
    # The failing suite's Data Docs page of this run shows the unexpected rows.
    page = next(s.data_docs for s in run.message.suites if s.suite == expected[0])
    assert Path(page).is_file() and settings.paths.var_dir.resolve() in Path(page).parents
    # Only what the corruption touches fails: reports, dead letters and freshness still pass.
    assert {suite for suite, _ in failed} <= {"incidents", "reconciliation"}


def test_the_cli_exits_1_and_shows_the_failure_on_a_corrupted_warehouse(
    sample_warehouse: Settings, tmp_path: Path
) -> None:
    """The command's behaviour on failure, once (the runs above check each expectation)."""
    settings = corrupted(sample_warehouse, tmp_path, "unknown district")
    done = run_incidents(settings, "dq", "--no-store")
    assert done.returncode == 1
    assert "expectations failed" in done.stderr
    assert "FAIL" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_aggregate_corruption_names_the_cell(
    sample_warehouse: Settings, tmp_path: Path
) -> None:
    settings = corrupted(sample_warehouse, tmp_path, "aggregate changed by hand")
    writer = connect(settings)
    writer.database = database_name(settings)
    try:
        province, day = writer.query(
            "SELECT province, day FROM agg_district_day FINAL WHERE is_deleted = 0"
            " ORDER BY day, province, district LIMIT 1"
        ).result_rows[0]
    finally:
        writer.close()
    run = _run(settings)
    bad = [r for r in run.message.results if r.suite == "reconciliation" and not r.success]
    # Province-quarter and district-month disagree; the nation still sums its provinces.
    assert len(bad) == 2
    by_province = next(r for r in bad if "province_quarter" in r.column)
    assert by_province.unexpected_count == 1
    assert province in by_province.unexpected_examples
    assert "killed_total" in by_province.unexpected_examples
    assert (
        day.strftime("%Y-%m")
        in next(r for r in bad if "district_month" in r.column).unexpected_examples
    )
