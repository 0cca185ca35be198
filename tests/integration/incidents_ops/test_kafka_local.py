"""The local broker, topic admin and client compatibility, against a real Kafka broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from incidents_config.names import Topics
from incidents_config.settings import Settings
from incidents_ops.kafka_local import LocalBroker, broker_answers
from incidents_ops.topics import TopicSpec, create_topics, describe_offsets, ensure_topics

pytestmark = pytest.mark.integration

FAUST_APP = Path(__file__).with_name("faust_table_app.py")


def topic_config(bootstrap: str, topic: str, key: str) -> str:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        result = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {key: None})]
        )
        return str(result["topic"][topic][key]["value"])
    finally:
        admin.close()


def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(topics)}
    finally:
        admin.close()


def test_broker_answers(kafka_broker: str) -> None:
    assert broker_answers(kafka_broker)


def test_start_is_idempotent(local_broker: LocalBroker, kafka_broker: str) -> None:
    before = local_broker.status()
    again = LocalBroker(local_broker.config).start()  # a second handle, as a second CLI call
    assert before.running
    assert again.pid == before.pid
    assert local_broker.status().pid == before.pid
    assert broker_answers(kafka_broker)


def test_topics_get_configured_partitions_and_retention(
    settings_factory: Callable[..., Settings], kafka_broker: str
) -> None:
    settings = settings_factory(
        kafka={"partitions": 3, "retention_ms": 7_200_000, "dead_letter_retention_ms": 3_600_000}
    )
    kafka = settings.kafka
    names = [
        Topics(kafka.topic_prefix).raw,
        Topics(kafka.topic_prefix).rekeyed,
        Topics(kafka.topic_prefix).valid,
        Topics(kafka.topic_prefix).dead_letter,
        Topics(kafka.topic_prefix).updates,
        Topics(kafka.topic_prefix).snapshots,
        Topics(kafka.topic_prefix).alerts,
        Topics(kafka.topic_prefix).silences,
        Topics(kafka.topic_prefix).dq_results,
    ]

    assert sorted(ensure_topics(kafka)) == sorted(names)
    assert ensure_topics(kafka) == []  # idempotent

    assert partition_counts(kafka_broker, names) == dict.fromkeys(names, 3)
    assert topic_config(kafka_broker, Topics(kafka.topic_prefix).raw, "retention.ms") == "7200000"
    assert (
        topic_config(kafka_broker, Topics(kafka.topic_prefix).snapshots, "retention.ms")
        == "7200000"
    )
    assert (
        topic_config(kafka_broker, Topics(kafka.topic_prefix).dead_letter, "retention.ms")
        == "3600000"
    )
    assert (
        topic_config(kafka_broker, Topics(kafka.topic_prefix).silences, "cleanup.policy")
        == "compact"
    )


def test_default_report_retention_is_forever(
    settings_factory: Callable[..., Settings], kafka_broker: str
) -> None:
    kafka = settings_factory().kafka
    ensure_topics(kafka)
    assert topic_config(kafka_broker, Topics(kafka.topic_prefix).valid, "retention.ms") == "-1"


def test_produce_consume_round_trip_and_lag(
    settings_factory: Callable[..., Settings], unique_name: Callable[[str], str]
) -> None:
    kafka = settings_factory(kafka={"partitions": 2}).kafka
    ensure_topics(kafka)
    group = unique_name("group")
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}

    producer = KafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    for key, value in sent.items():
        producer.send(Topics(kafka.topic_prefix).raw, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        Topics(kafka.topic_prefix).raw,
        **kafka.client_kwargs(),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    received: dict[bytes, bytes] = {}
    for message in consumer:
        received[message.key] = message.value
        if len(received) == 15:
            break
    consumer.commit()
    consumer.close()

    assert len(received) == 15
    assert all(sent[key] == value for key, value in received.items())

    offsets = [
        o
        for o in describe_offsets(kafka, [group, "never-read"])
        if o.topic == Topics(kafka.topic_prefix).raw
    ]
    assert sum(o.end_offset for o in offsets) == 20
    # The consumer may have fetched past what it yielded, so the committed lag is at most 5.
    assert sum(o.lag[group] for o in offsets) <= 5
    assert sum(o.lag["never-read"] for o in offsets) == 20
    assert all(o.committed["never-read"] is None for o in offsets)


def test_faust_table_app_runs_against_broker(
    settings_factory: Callable[..., Settings],
    unique_name: Callable[[str], str],
    kafka_broker: str,
    broker_log: Path,
    tmp_path: Path,
) -> None:
    """faust-streaming + aiokafka create their internal topics and run a table agent."""
    kafka = settings_factory().kafka
    source = unique_name("words")
    app_id = unique_name("faust")
    create_topics(kafka, [TopicSpec(source, 2, 1)])
    words = [b"alpha", b"beta", b"alpha", b"gamma", b"alpha", b"beta"]
    producer = KafkaProducer(**kafka.client_kwargs(), acks="all")
    for word in words:
        producer.send(source, key=word, value=word)
    producer.flush()
    producer.close()

    out_file = tmp_path / "counts.json"
    worker_log = tmp_path / "faust.log"
    with worker_log.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                str(FAUST_APP),
                kafka_broker,
                app_id,
                source,
                "2",
                str(len(words)),
                str(out_file),
                str(tmp_path / "faust-data"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while not out_file.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        log_text = worker_log.read_text(errors="replace")[-3000:]
        assert out_file.exists(), f"faust worker produced no result; its log:\n{log_text}"
        assert json.loads(out_file.read_text()) == {"alpha": 3, "beta": 2, "gamma": 1}

        changelog = f"{app_id}-counts-changelog"
        admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
        try:
            topics = set(admin.list_topics())
        finally:
            admin.close()
        assert changelog in topics, f"no changelog topic; broker log: {broker_log}"
        assert f"{app_id}-__assignor-__leader" in topics
        changelog_offsets = describe_offsets(kafka, [], topics=[changelog])
        assert sum(o.end_offset for o in changelog_offsets) >= 3  # one write per key at least
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_stop_then_start_keeps_data(
    local_broker: LocalBroker, settings_factory: Callable[..., Settings]
) -> None:
    kafka = settings_factory(kafka={"partitions": 1}).kafka
    ensure_topics(kafka)
    producer = KafkaProducer(**kafka.client_kwargs(), acks="all")
    producer.send(Topics(kafka.topic_prefix).valid, key=b"k", value=b"kept").get(timeout=10)
    producer.close()

    assert local_broker.stop() is True
    assert not local_broker.status().running
    assert local_broker.stop() is False
    local_broker.start()

    assert ensure_topics(kafka) == []  # every topic survived
    consumer = KafkaConsumer(
        Topics(kafka.topic_prefix).valid,
        **kafka.client_kwargs(),
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    first = next(iter(consumer), None)
    consumer.close()
    assert first is not None and first.value == b"kept"
    offsets = describe_offsets(kafka, [], topics=[Topics(kafka.topic_prefix).valid])
    assert [o.end_offset for o in offsets] == [1]
