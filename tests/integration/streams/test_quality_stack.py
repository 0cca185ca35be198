"""Data quality in the running stack: the schedule, stored results, and the alert a
failing suite raises (and the next passing run resolves)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from incidents_config.names import DQ, Topics
from incidents_ops import processes
from incidents_ops.topics import send_one
from schemas.warehouse import DqExpectationResult, DqRunMessage, DqSuiteResult
from tests.cli import run_incidents
from tests.integration.streams.conftest import Pipeline, random_reports
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def _count(p: Pipeline, sql: str, **params: object) -> int:
    return int(p.query(sql, dict(params))[0][0])


def _dq_message(run_id: str, success: bool, finished_at: datetime) -> DqRunMessage:
    return DqRunMessage(
        run_id=run_id,
        started_at=finished_at - timedelta(seconds=1),
        finished_at=finished_at,
        suites=[
            DqSuiteResult(
                suite="reconciliation", success=success, expectations=3, failed=0 if success else 1
            )
        ],
        results=[
            DqExpectationResult(
                suite="reconciliation",
                position=0,
                expectation="expect_column_pair_values_to_be_equal",
                description="v_province_quarter equals the live incidents",
                success=success,
                unexpected_count=0 if success else 1,
            )
        ],
    )


def _alert_state(p: Pipeline) -> str:
    rows = p.query("SELECT state FROM v_alerts WHERE rule = 'data_quality'")
    return str(rows[0][0]) if rows else ""


def test_runs_are_scheduled_stored_and_alert_on_failure(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory(dq={"interval_s": 2})
    p.up()
    assert processes.info(p.settings.paths, DQ).running
    p.publish(list(random_reports(seed=11, n_events=40)))
    p.wait()

    # The stack's schedule runs every suite and the sink stores the run.
    wait_for(
        "a scheduled data-quality run in dq_runs",
        lambda: _count(p, "SELECT count() FROM dq_runs FINAL WHERE trigger = 'schedule'") >= 5,
    )
    processes.stop(p.settings.paths, DQ)  # the rest of the test sends its own results

    # A run by hand: the table, exit 0, and its rows stored under its run id.
    done = run_incidents(p.settings, "dq")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = done.stdout.split("data quality run ", 1)[1].split()[0]
    wait_for(
        "the CLI run in dq_results",
        lambda: (
            _count(p, "SELECT count() FROM dq_results FINAL WHERE run_id = {r:String}", r=run_id)
            > 40
        ),
    )
    latest = p.query("SELECT run_id, success, failed, trigger FROM v_dq_latest")
    assert latest == [(run_id, 1, 0, "cli")]
    status = run_incidents(p.settings, "status")
    assert "data quality: last run" in status.stdout and "passed" in status.stdout

    # A failing suite raises a data_quality alert; the next passing run resolves it.
    now = datetime.now(UTC)
    topic = Topics(p.settings.kafka.topic_prefix).dq_results
    failing = _dq_message("test-fail", False, now + timedelta(seconds=1))
    send_one(p.settings.kafka, topic, failing.run_id, failing.model_dump_json().encode())
    wait_for("a firing data_quality alert", lambda: _alert_state(p) == "firing")
    summary = p.query("SELECT summary FROM v_alerts WHERE rule = 'data_quality'")[0][0]
    assert "reconciliation failed 1 of 3" in summary

    passing = _dq_message("test-pass", True, now + timedelta(seconds=2))
    send_one(p.settings.kafka, topic, passing.run_id, passing.model_dump_json().encode())
    wait_for("the data_quality alert to resolve", lambda: _alert_state(p) == "resolved")
    assert _count(p, "SELECT count() FROM v_alerts WHERE rule = 'data_quality'") == 1
