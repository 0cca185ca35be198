"""The Faust app: built from settings at run time, with its agents registered.

Nothing is configured at import time. The agents live one per module next to the table
they own (:mod:`streams.ingest`, :mod:`streams.rollup`) and register themselves through
their ``register`` function; the plumbing they share is :mod:`streams.runtime`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust

from incidents_config.metrics import WORKER_LAG
from incidents_config.names import Generation, Ledger, Topics, crash_file, worker_name
from incidents_config.settings import Settings
from schemas.places import Places, activate
from streams import ingest, rollup
from streams.runtime import CachedPartitioner, stream_topics, use_safe_rebalancing

logger = logging.getLogger(__name__)


def app_options(settings: Settings, worker_id: int = 1) -> dict[str, Any]:
    """Faust's options for our workers (also what bench/faust_noop.py measures Faust with)."""
    kafka = settings.kafka
    datadir = Generation.of(settings).worker_dir(settings.paths.var_dir, worker_id)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return {
        "broker": [f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        "broker_credentials": _credentials(settings),
        "store": settings.streams.store,
        "datadir": str(datadir),
        "processing_guarantee": settings.streams.processing_guarantee,
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        # A raw message may be as large as the topics allow; fetch it whole.
        "consumer_max_fetch_size": max(kafka.max_message_bytes, 1024**2),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": False,
        "autodiscover": False,
        "stream_wait_empty": False,
        "broker_commit_interval": 1.0,
        # Throughput: every batch's outputs go out in few, large produce requests
        # (docs/benchmarks.md). Batches are awaited whole, so the linger is paid once.
        "producer_linger_ms": settings.streams.linger_ms,
        "producer_max_batch_size": 512 * 1024,
        "producer_max_request_size": 1_000_000,
        # Kafka's default partitions, with the pure-Python murmur2 of recent keys cached.
        "producer_partitioner": CachedPartitioner(),
        # Recover quickly from a dead worker: Kafka's default waits 45-60 s.
        "broker_session_timeout": settings.streams.session_timeout_s,
        "broker_heartbeat_interval": settings.streams.session_timeout_s / 4,
    }


class GazetteerChanged(RuntimeError):
    """This worker would build incident keys with another gazetteer than its generation's."""


def use_gazetteer(settings: Settings) -> Places:
    """Load the places gazetteer with the alias overlay, and check it is the one the
    generation's keys are built with (recording it when this is the generation's first
    worker). Keys of two gazetteers never mix: a changed one reaches history only by
    ``incidents replay``, whose workers run a new generation that records the new version.

    Raises :class:`schemas.exceptions.PlacesOverlayError` for an overlay that cannot be
    used (file, line, reason), :class:`GazetteerChanged` when the version differs.
    """
    places = activate(settings.paths.overlay)
    generation = Generation.of(settings).number
    ledger = Ledger(settings.paths)
    built = ledger.gazetteer(generation)
    if built is None:
        ledger.record_gazetteer(generation, places.version)
    elif built != places.version:
        raise GazetteerChanged(
            f"the places gazetteer changed: generation {generation}'s incident keys were built"
            f" with version {built}, and places.json with {settings.paths.overlay} is now"
            f" version {places.version}; run `incidents replay` to rebuild with it (or undo"
            " the change); a worker does not mix keys of two gazetteers"
        )
    return places


def build_app(settings: Settings, *, worker_id: int = 1) -> tuple[faust.App, Topics]:
    """Create the Faust app with its topics and agents (after :func:`use_gazetteer`)."""
    use_gazetteer(settings)
    generation = Generation.of(settings)
    app = faust.App(generation.app, **app_options(settings, worker_id))
    use_safe_rebalancing(app)

    names = generation.topics
    crashes = crash_file(settings.paths, worker_name(worker_id))
    crashes.unlink(missing_ok=True)  # a new worker: the last crash is history (in the log)
    ingest.register(app, names, settings, crashes)
    rollup.register(app, names, settings, crashes)
    _report_lag(app, settings)
    return app, names


LAG_INTERVAL_S = 5.0


async def lag_by_topic(consumer: Any, topics: Iterable[str]) -> dict[str, int]:
    """Messages not yet fetched per topic in `topics`, over the partitions the consumer
    owns (0 for a topic it owns none of, so a partition moved away does not leave a stale
    value behind). Partitions of other topics (the changelogs) are ignored."""
    by_topic = dict.fromkeys(topics, 0)
    for tp in consumer.assignment():
        if tp.topic not in by_topic:
            continue
        try:
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
        except Exception:  # not assigned any more, or not fetched yet
            continue
        if position is None or highwater is None:
            continue
        by_topic[tp.topic] += max(highwater - position, 0)
    return by_topic


def _report_lag(app: faust.App, settings: Settings) -> None:
    """Export this worker's consumer lag on the topics its agents read, every few seconds."""
    group = Generation.of(settings).app
    topics = stream_topics(app)

    @app.timer(interval=LAG_INTERVAL_S)
    async def lag() -> None:
        for topic, value in (await lag_by_topic(app.consumer, topics)).items():
            WORKER_LAG.labels(group, topic).set(value)


def _credentials(settings: Settings) -> faust.auth.CredentialsT | None:
    kafka = settings.kafka
    if kafka.sasl_mechanism and kafka.sasl_username and kafka.sasl_password:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
        )
    return None
