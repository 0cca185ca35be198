"""The sink process's loop against the session's real Kafka broker."""

from __future__ import annotations

import threading
from collections.abc import Callable

import clickhouse_connect
import pytest
from kafka import KafkaProducer

from incidents.settings import Settings
from incidents.topics import describe_offsets, ensure_topics
from sinks.service import run_sink
from tests.integration.conftest import free_port
from tests.unit.sinks.samples import dead_letter, incident, report, snapshot
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_run_sink_writes_messages_then_commits(
    settings_factory: Callable[..., Settings], unique_name: Callable[[str], str]
) -> None:
    settings = settings_factory(
        clickhouse={"sql_port": free_port()},
        sink={"flush_interval_s": 0.2, "batch_size": 100, "group_id": unique_name("sink")},
    )
    ensure_topics(settings.kafka)
    producer = KafkaProducer(**settings.kafka.client_kwargs(), acks="all")
    kafka = settings.kafka
    for snap in (snapshot(2, [incident("a"), incident("b")]), snapshot(1, [incident("a")])):
        producer.send(kafka.snapshots_topic, key=b"k", value=snap.model_dump_json().encode())
    producer.send(kafka.valid_topic, key=b"dawn:e-1", value=report().model_dump_json().encode())
    producer.send(kafka.dead_letter_topic, value=dead_letter().model_dump_json().encode())
    producer.send(kafka.snapshots_topic, key=b"k", value=b"{broken")
    producer.flush(timeout=30)
    producer.close()

    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_sink(settings, stop)
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    thread = threading.Thread(target=target, name="sink-under-test")
    thread.start()
    try:
        port = settings.clickhouse.sql_port
        wait_for("the SQL endpoint", lambda: bool(errors) or _answers(port), 60)
        assert not errors, errors
        client = clickhouse_connect.get_client(host="127.0.0.1", port=port, database="incidents")

        def all_written() -> bool:
            counts = client.query(
                "SELECT (SELECT count() FROM v_incidents), (SELECT count() FROM report_versions),"
                " (SELECT count() FROM rejected_reports)"
            ).result_rows[0]
            return tuple(counts) == (2, 1, 2)

        wait_for("the rows in the warehouse", all_written, 60)
        assert client.query("SELECT incidents, revision FROM v_district_day").result_rows == [
            (2, 2)
        ]
        reasons = client.query(
            "SELECT rejected_by, topic FROM rejected_reports ORDER BY rejected_by"
        ).result_rows
        assert reasons == [("pipeline", "incidents.reports.raw"), ("sink", kafka.snapshots_topic)]
        assert (settings.paths.run_dir / "sink.ready").exists()
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert not errors, errors
    assert not (settings.paths.run_dir / "sink.ready").exists()
    for p in describe_offsets(kafka, [settings.sink.group_id]):
        if p.end_offset:
            assert p.committed[settings.sink.group_id] == p.end_offset, p


def _answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=0.5) as r:
            return bool(r.status == 200)
    except OSError:
        return False
