"""The Faust app and the topics it reads and writes.

The app is built from settings at run time (:func:`build_app`); nothing is configured at
import time. Agents live one per module next to the table they own and register
themselves on the app through their ``register`` function.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from incidents.settings import Settings


@dataclass(frozen=True)
class Topics:
    """The project's topics, as Faust topic objects (bytes in, bytes out)."""

    raw: faust.TopicT
    valid: faust.TopicT
    dead_letter: faust.TopicT
    updates: faust.TopicT
    snapshots: faust.TopicT


def app_name(settings: Settings) -> str:
    """Return the Faust app id (also its consumer group and changelog prefix)."""
    return f"{settings.kafka.topic_prefix}-{settings.streams.app_id}"


def build_app(settings: Settings, *, worker_id: int = 1) -> tuple[faust.App, Topics]:
    """Create the Faust app with its topics and agents."""
    kafka = settings.kafka
    datadir = Path(settings.paths.var_dir, "faust", f"worker-{worker_id}").resolve()
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_name(settings),
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store=settings.streams.store,
        datadir=str(datadir),
        processing_guarantee=settings.streams.processing_guarantee,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        stream_wait_empty=False,
        broker_commit_interval=1.0,
        # Recover quickly from a dead worker: Kafka's default waits 45-60 s.
        broker_session_timeout=settings.streams.session_timeout_s,
        broker_heartbeat_interval=settings.streams.session_timeout_s / 4,
    )

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=kafka.partitions)

    topics = Topics(
        raw=topic(kafka.raw_topic),
        valid=topic(kafka.valid_topic),
        dead_letter=topic(kafka.dead_letter_topic),
        updates=topic(kafka.incident_updates_topic),
        snapshots=topic(kafka.snapshots_topic),
    )
    from streams import dedupe, rollup, validate

    validate.register(app, topics, settings)
    dedupe.register(app, topics, settings)
    rollup.register(app, topics, settings)
    return app, topics


def batches(stream: Any, settings: Settings) -> AsyncIterator[list[faust.EventT]]:
    """Yield the stream's events in batches (``take_events``), ready for table writes.

    Faust's RocksDB store and changelog find a key's partition through the *current
    event*, which ``take_events`` leaves pointing at the last buffered one. Callers must
    wrap each event's table writes in :func:`current`.
    """
    return stream.take_events(settings.streams.batch_size, within=settings.streams.batch_timeout_s)


Send = tuple[faust.TopicT, bytes | None, bytes]  # (topic, key, value)


async def deliver(sends: list[Send]) -> None:
    """Send messages and wait until Kafka has acknowledged every one of them.

    Agents call this before their batch ends: Faust acks (and later commits) a batch's
    source offsets when the batch is done, so what it produced is never lost to a crash.
    ``force=True`` skips Faust's "attach to the current event" path, which would only
    publish at commit time and could not be awaited here.
    """
    pending = [await topic.send(key=key, value=value, force=True) for topic, key, value in sends]
    await asyncio.gather(*pending)


@contextmanager
def current(stream: Any, event: faust.EventT) -> Iterator[None]:
    """Make `event` the stream's current event while its table writes happen."""
    stream._set_current_event(event)  # faust has no public setter; see batches()
    try:
        yield
    finally:
        stream._set_current_event(None)


def _credentials(settings: Settings) -> faust.auth.CredentialsT | None:
    kafka = settings.kafka
    if kafka.sasl_mechanism and kafka.sasl_username and kafka.sasl_password:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
        )
    return None
