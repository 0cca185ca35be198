"""While the whole stack runs: every process's /metrics, and what `incidents status` says."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from incidents_config import metrics
from incidents_ops import stack
from sinks.clickhouse import endpoint_url
from tests.cli import run_incidents
from tests.integration.streams.conftest import Pipeline, random_reports

pytestmark = pytest.mark.integration


def push(p: Pipeline, lines: list[bytes]) -> dict[str, object]:
    token = (p.settings.paths.var_dir / "push-token").read_text().strip()
    request = urllib.request.Request(
        f"{stack.push_url(p.settings)}/v1/reports",
        data=b"\n".join(lines),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 202
        body: dict[str, object] = json.loads(response.read())
        return body


def test_every_process_serves_metrics_and_status_reports_them(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory()  # every port 0: each process records what it bound
    stack.up(p.settings, workers=1, push=True, say=lambda _m: None)
    good = random_reports(seed=9, n_events=1)[0]
    answer = push(p, [good.model_dump_json().encode(), b'{"source": "feed-x", "version": 1}'])
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    p.publish_raw([(b"feed-y:1", b"[" * 100_000)])
    p.wait()

    sql = urllib.parse.urlsplit(endpoint_url(p.settings) or "")
    client = clickhouse_connect.get_client(host=sql.hostname, port=sql.port)
    try:
        assert client.query("SELECT count() FROM report_versions FINAL").result_rows == [(1,)]
        with pytest.raises(DatabaseError):
            client.query("SELECT * FROM file('/etc/hostname', 'LineAsString')")
    finally:
        client.close()

    pushed = p.metrics("push")
    assert metrics.total(pushed, "incidents_push_items_total", outcome="accepted") == 1
    assert metrics.total(pushed, "incidents_push_items_total", outcome="rejected") == 1
    assert metrics.total(pushed, "incidents_push_requests_total", status="202") == 1
    worker = p.metrics("worker-1")
    assert metrics.total(worker, "incidents_reports_consumed_total") == 2
    assert metrics.total(worker, "incidents_reports_accepted_total") == 1
    assert metrics.total(worker, "incidents_dead_letters_total", reason="invalid_json") == 1
    sink = p.metrics("sink")
    assert metrics.total(sink, "incidents_sink_batches_total") >= 1
    assert metrics.total(sink, "incidents_sink_rows_written_total", table="report_versions") >= 1
    assert metrics.total(sink, "incidents_sql_requests_total") >= 2
    assert metrics.total(sink, "incidents_sql_refusals_total") >= 1
    assert metrics.total(sink, "incidents_sink_retrying") == 0

    status = run_incidents(p.settings, "status")
    assert status.returncode == 0, status.stderr
    text = " ".join(status.stdout.split())
    assert "1 reports accepted, 1 rejected" in text  # the push endpoint
    assert "2 read, 1 accepted, 1 dead letters" in text  # the worker
    assert "dead letters, last hour" in text and "invalid_json" in text and "feed-y" in text


def test_metrics_can_be_turned_off(pipeline_factory: Callable[..., Pipeline]) -> None:
    p = pipeline_factory(metrics={"enabled": False})
    p.up()
    assert metrics.recorded_address(p.settings, "sink") is None
    assert metrics.recorded_address(p.settings, "worker-1") is None
