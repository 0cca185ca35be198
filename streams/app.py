"""The Faust app and the topics it reads and writes.

The app is built from settings at run time (:func:`build_app`); nothing is configured at
import time. Agents live one per module next to the table they own and register
themselves on the app through their ``register`` function.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import aiokafka.errors as kafka_errors
import faust

from incidents.metrics import AGENT_DELIVERY_RETRIES, CONSUMER_LAG, DEAD_LETTERS, source_label
from incidents.settings import Settings
from schemas.warehouse import DeadLetter
from streams.letters import Reason, dead_letter, raw_bytes

logger = logging.getLogger(__name__)

AgentFun = Callable[[Any], Awaitable[None]]


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
        # A raw message may be as large as the topics allow; fetch it whole.
        consumer_max_fetch_size=max(kafka.max_message_bytes, 1024**2),
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

    crashes = crash_file(settings, worker_id)
    crashes.unlink(missing_ok=True)  # a new worker: the last crash is history (in the log)
    validate.register(app, topics, settings, crashes)
    dedupe.register(app, topics, settings, crashes)
    rollup.register(app, topics, settings, crashes)
    _report_lag(app, settings)
    return app, topics


LAG_INTERVAL_S = 5.0


def _report_lag(app: faust.App, settings: Settings) -> None:
    """Export this worker's consumer lag per topic (partitions it owns) every few seconds."""
    group = app_name(settings)

    @app.timer(interval=LAG_INTERVAL_S)
    async def lag() -> None:
        consumer = app.consumer
        by_topic: dict[str, int] = {}
        for tp in consumer.assignment():
            try:
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
            except Exception:  # not assigned any more, or not fetched yet
                continue
            if position is None or highwater is None:
                continue
            by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(highwater - position, 0)
        for topic, value in by_topic.items():
            CONSUMER_LAG.labels(group, topic).set(value)


def batches(stream: Any, settings: Settings) -> AsyncIterator[list[faust.EventT]]:
    """Yield the stream's events in batches (``take_events``), ready for table writes.

    Faust's RocksDB store and changelog find a key's partition through the *current
    event*, which ``take_events`` leaves pointing at the last buffered one. Callers must
    wrap each event's table writes in :func:`current`.
    """
    return stream.take_events(settings.streams.batch_size, within=settings.streams.batch_timeout_s)


@dataclass(frozen=True)
class Send:
    """One output of an agent, and the input event it came from."""

    topic: faust.TopicT
    key: bytes | None
    value: bytes
    event: faust.EventT  # if Kafka can never take the output, this event is dead-lettered


# Kafka refuses these for good: sending again cannot help.
PERMANENT_SEND_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidMessageError,
    kafka_errors.CorruptRecordException,
)
MAX_RETRY_DELAY_S = 30.0


def is_permanent(exc: BaseException) -> bool:
    """Tell whether a send failed for good (too large ...) rather than for now."""
    seen: BaseException | None = exc
    for _ in range(5):  # faust wraps aiokafka's error in ProducerSendError
        if seen is None:
            return False
        if isinstance(seen, PERMANENT_SEND_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def deliver(sends: list[Send], agent: str, dead_letters: faust.TopicT) -> None:
    """Send an agent's outputs and wait until Kafka has acknowledged every one of them.

    Agents call this before their batch ends: Faust acks (and later commits) a batch's
    source offsets when the batch is done, so what it produced is never lost to a crash.
    An output Kafka can never take (too large ...) is replaced by a dead letter for its
    input event; one it cannot take now (broker down, leader moving) is sent again with
    back-off, for as long as it takes: the batch, and so its offsets, wait.

    The sending is shielded from cancellation: a worker that stops while a batch is in
    flight finishes sending it first, because Faust acks the batch as the agent exits.
    """
    task = asyncio.ensure_future(_deliver(sends, agent, dead_letters))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            logger.info("%s: stopping; finishing the batch in flight first", agent)
            await task
        raise


async def _deliver(sends: list[Send], agent: str, dead_letters: faust.TopicT) -> None:
    pending = list(sends)
    delay = 0.5
    while pending:
        # force=True skips Faust's "attach to the current event" path, which would only
        # publish at commit time and could not be awaited here.
        futures: list[Any] = []
        for s in pending:
            try:
                futures.append(await s.topic.send(key=s.key, value=s.value, force=True))
            except Exception as e:  # refused before it was queued (too large ...)
                futures.append(_failed(e))
        results = await asyncio.gather(*futures, return_exceptions=True)
        again: list[Send] = []
        transient = False
        for s, result in zip(pending, results, strict=True):
            if not isinstance(result, BaseException):
                continue
            if isinstance(result, asyncio.CancelledError):
                raise result
            if is_permanent(result) and s.topic is not dead_letters:
                again.append(_too_large(s, agent, result, dead_letters))
            elif is_permanent(result):
                raise FatalAgentError(f"{agent}: Kafka refuses a dead letter: {result!r}")
            else:
                transient = True
                AGENT_DELIVERY_RETRIES.labels(agent).inc()
                logger.warning(
                    "%s: Kafka did not take an output (%r); sending again", agent, result
                )
                again.append(s)
        if transient:
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)
        pending = again


def _failed(error: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future


def _too_large(s: Send, agent: str, error: BaseException, dead_letters: faust.TopicT) -> Send:
    topic = getattr(s.topic, "get_topic_name", lambda: "?")()
    message = f"{agent} could not send its output to {topic} ({len(s.value)} bytes): {error!r}"
    letter = dead_letter(
        raw_bytes(s.event),
        [{"field": "$", "message": message}],
        s.event,
        stage=agent,
        reason=Reason.TOO_LARGE,
    )
    count_dead_letter(letter)
    return Send(dead_letters, s.event.message.key, letter.model_dump_json().encode(), s.event)


def dead_letter_send(letter: DeadLetter, event: faust.EventT, dead_letters: faust.TopicT) -> Send:
    """An output that sends `letter` to the dead-letter topic (and counts it)."""
    count_dead_letter(letter)
    return Send(dead_letters, event.message.key, letter.model_dump_json().encode(), event)


def count_dead_letter(letter: DeadLetter) -> None:
    DEAD_LETTERS.labels(letter.stage, source_label(letter.source), letter.reason).inc()


class FatalAgentError(Exception):
    """An agent cannot go on without losing an event: the worker must stop uncommitted."""


def guarded(agent: str, crash_file: Path) -> Callable[[AgentFun], AgentFun]:
    """Stop the worker, committing nothing more, if anything escapes an agent's loop.

    Faust would log the crash, ack the batch in hand (``take_events`` acks in a
    ``finally``), restart the agent and so skip those events. Exiting the process at once
    leaves their offsets uncommitted: a restarted worker reads them again. The crash is
    written to ``var/run/<worker>.crash`` for ``incidents status``.
    """

    def wrap(fun: AgentFun) -> AgentFun:
        @functools.wraps(fun)
        async def run(stream: Any) -> None:
            try:
                await fun(stream)
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # every escape is fatal by design
                crash(agent, e, crash_file)

        return run

    return wrap


def crash(agent: str, error: BaseException, crash_file: Path) -> NoReturn:
    """Record why, then exit at once (no Faust shutdown, so no ack and no commit)."""
    logger.critical("agent %s crashed; stopping the worker uncommitted", agent, exc_info=error)
    try:
        crash_file.parent.mkdir(parents=True, exist_ok=True)
        record = {"at": time.time(), "agent": agent, "error": repr(error)[:2000]}
        crash_file.write_text(json.dumps(record) + "\n", encoding="utf-8")
    except OSError:
        logger.exception("cannot write %s", crash_file)
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)


def crash_file(settings: Settings, worker_id: int) -> Path:
    """Where worker `worker_id` records why it crashed (read by `incidents status`)."""
    return settings.paths.run_dir / f"worker-{worker_id}.crash"


CRASH_EXIT_CODE = 70  # EX_SOFTWARE


async def changelog_ready(app: faust.App, table: Any) -> None:
    """Make sure the producer knows the table's changelog partitions before writing to it.

    A table write picks its changelog partition from the producer's metadata
    (``use_partitioner=True``), synchronously. A worker that writes before the producer
    has fetched metadata for a changelog topic created moments ago fails with a TypeError
    inside aiokafka; this waits for that metadata (at once when it is cached).
    """
    # faust exposes no public metadata wait; its aiokafka driver holds the producer.
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    await producer.partitions_for(table.changelog_topic.get_topic_name())


def table_read(table: Any, key: bytes) -> bytes | None:
    """Read a table value; a failure of the store is the worker's, not the event's."""
    try:
        value: bytes | None = table.get(key)
    except Exception as e:
        raise FatalAgentError(f"table {table.name}: cannot read {key!r}: {e!r}") from e
    return value


def table_write(table: Any, key: bytes, value: bytes) -> None:
    """Write a table value (and its changelog); a failure stops the worker uncommitted."""
    try:
        table[key] = value
    except Exception as e:
        raise FatalAgentError(f"table {table.name}: cannot write {key!r}: {e!r}") from e


@contextmanager
def current(stream: Any, event: faust.EventT) -> Iterator[None]:
    """Make `event` the stream's current event while its table writes happen.

    The previous current event is put back afterwards, not None: take_events' buffer
    filler reads the current event when it wakes, and finding None crashes the stream
    ("Take buffer found current_event is None").
    """
    previous = stream.current_event
    stream._set_current_event(event)  # faust has no public setter; see batches()
    try:
        yield
    finally:
        stream._set_current_event(previous)


def _credentials(settings: Settings) -> faust.auth.CredentialsT | None:
    kafka = settings.kafka
    if kafka.sasl_mechanism and kafka.sasl_username and kafka.sasl_password:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
        )
    return None
