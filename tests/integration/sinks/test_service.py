"""The sink process's loop against the session's real Kafka broker."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable

import clickhouse_connect
import pytest
from kafka import KafkaProducer

from incidents_config.names import Topics
from incidents_config.settings import Settings
from incidents_ops.topics import describe_offsets, ensure_topics
from schemas.warehouse import encode
from sinks.clickhouse import endpoint_answers, endpoint_url
from sinks.service import run_sink
from tests.unit.sinks.samples import dead_letter, incident, report, snapshot
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_run_sink_writes_messages_then_commits(
    settings_factory: Callable[..., Settings], unique_name: Callable[[str], str]
) -> None:
    settings = settings_factory(
        sink={"flush_interval_s": 0.2, "batch_size": 100, "group_id": unique_name("sink")},
    )
    ensure_topics(settings.kafka)
    producer = KafkaProducer(**settings.kafka.client_kwargs(), acks="all")
    kafka = settings.kafka
    for snap in (snapshot(2, [incident("a"), incident("b")]), snapshot(1, [incident("a")])):
        producer.send(Topics(kafka.topic_prefix).snapshots, key=b"k", value=encode(snap))
    producer.send(
        Topics(kafka.topic_prefix).valid, key=b"dawn:e-1", value=report().model_dump_json().encode()
    )
    producer.send(
        Topics(kafka.topic_prefix).dead_letter, value=dead_letter().model_dump_json().encode()
    )
    producer.send(Topics(kafka.topic_prefix).snapshots, key=b"k", value=b"{broken")
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
        # CLICKHOUSE_SQL_PORT=0: the sink serves on a port the system picks and records it.
        wait_for("the SQL endpoint", lambda: bool(errors) or endpoint_answers(settings), 60)
        assert not errors, errors
        url = urllib.parse.urlsplit(endpoint_url(settings) or "")
        assert url.port and url.port != 0
        client = clickhouse_connect.get_client(
            host=url.hostname, port=url.port, database="incidents"
        )

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
        assert reasons == [
            ("pipeline", "incidents.reports.raw"),
            ("sink", Topics(kafka.topic_prefix).snapshots),
        ]
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
