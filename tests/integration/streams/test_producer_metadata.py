"""The workers' producer keeps the metadata of every topic it writes to.

aiokafka refreshes metadata for the topics its client tracks, or for all topics while it
tracks none, and each refresh replaces what it knew. Faust refreshes right after declaring
its internal topics, tracking none; the first send to a topic the producer does not know
yet then tracks that one alone, and every other topic drops out of the producer's metadata.
A batch already queued for one of them has no leader and is never sent (not before
``producer_request_timeout``, 20 minutes in Faust): an agent waiting for it stalls, and so
do Faust's commit and shutdown, which flush the producer first. That was the silent stall
of tests/faults/test_poison.py and test_broker_failover.py (a worker that handled one batch,
then committed nothing and ignored SIGTERM). ``streams.runtime.outputs_ready`` tracks every
topic an agent writes to before it writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from streams.runtime import outputs_ready, partitions_ready

pytestmark = pytest.mark.integration

LINGER_MS = 1000  # long enough for a refresh to land while the batch is queued


def create_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


def faust_like(producer: AIOKafkaProducer) -> Any:
    """What streams.runtime reads of a Faust app: ``app.producer._ensure_producer()``."""
    return SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))


async def queued_then_refreshed(
    bootstrap: str, out: str, late: str, *, track_outputs: bool
) -> tuple[bool, Any]:
    """Queue one message on `out`, then make the producer learn the new topic `late`.

    Return whether the message reached Kafka within 5 linger times, and `out`'s leader.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=LINGER_MS)
    await producer.start()
    try:
        app = faust_like(producer)
        # As Faust does after declaring its topics: every topic known, none tracked.
        await producer.client.force_metadata_update()
        assert producer.client.cluster.partitions_for_topic(out)
        if track_outputs:
            await outputs_ready(app, [out])
        sent = await producer.send(out, b"an output")
        create_topic(bootstrap, late)
        await partitions_ready(app, late)  # a changelog created moments ago
        try:
            await asyncio.wait_for(asyncio.shield(sent), 5 * LINGER_MS / 1000)
            delivered = True
        except TimeoutError:
            delivered = False
        leader = producer.client.cluster.leader_for_partition(TopicPartition(out, 0))
        # Sending to the topic again tracks it and releases the queued batch.
        await asyncio.wait_for(await producer.send(out, b"again"), 30)
        await asyncio.wait_for(sent, 30)
        return delivered, leader
    finally:
        await producer.stop()


def test_a_batch_queued_for_a_topic_the_producer_does_not_track_is_not_sent(
    kafka_broker: str, unique_name: Callable[[str], str]
) -> None:
    """Why outputs_ready exists: if aiokafka stops dropping untracked topics, this fails."""
    out, late = unique_name("out"), unique_name("late")
    create_topic(kafka_broker, out)
    delivered, leader = asyncio.run(
        queued_then_refreshed(kafka_broker, out, late, track_outputs=False)
    )
    assert (delivered, leader) == (False, None)


def test_outputs_ready_keeps_every_output_in_the_producers_metadata(
    kafka_broker: str, unique_name: Callable[[str], str]
) -> None:
    out, late = unique_name("out"), unique_name("late")
    create_topic(kafka_broker, out)
    delivered, leader = asyncio.run(
        queued_then_refreshed(kafka_broker, out, late, track_outputs=True)
    )
    assert delivered and leader is not None
