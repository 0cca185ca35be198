"""The Faust plumbing every agent shares: batches, delivery, dead letters, crashes.

This is the only module that touches Faust's (and aiokafka's and mode's) private API, in
seven places, each pinned by ``tests/unit/streams/test_runtime.py`` or ``test_app.py`` so
that an upgrade of faust-streaming that moves them fails a test instead of corrupting a
table:

- ``Stream._set_current_event`` (:func:`current`): Faust's table store and changelog
  find a key's partition through the stream's *current event*;
- ``Producer._ensure_producer`` (:func:`partitions_ready`, :func:`outputs_ready`): Faust
  has no public wait for a topic's metadata, and a table write or a partitioned send
  before it fails; and aiokafka keeps metadata only for the topics its client tracks
  (``AIOKafkaClient.add_topic``), so every topic an agent writes to must be tracked;
- aiokafka's ``create_batch``/``send_batch`` (:func:`deliver`, through the producer
  above): a batch's answer is its first record's offset, the others follow one by one;
- ``take_events`` acking its batch in a ``finally`` (:func:`guarded`): why an escape
  from an agent must end the process instead of returning;
- the aiokafka driver's ``Consumer._thread`` (:class:`SeekingConsumer`): after a
  rebalance Faust seeks back only partitions with a committed offset above 0;
- ``App.flow_control`` (:class:`SettledFlowControl`): Faust's recovery resumes the flow a
  second time after its seek, and mode's ``FlowControlEvent.resume`` empties every agent's
  queue each time, also of records delivered in the current generation;
- the RocksDB store's ``_db_for_partition`` (:func:`table_read`, :func:`table_write`):
  a key is read from and written to the database of its changelog partition, where
  Faust's recovery puts it, instead of Faust's read that searches every partition's
  database for a key it has not cached.

Agents write tables through their store (``Collection.data``, ``StoreT.__setitem__`` and
``StoreT.set_persisted_offset``, Faust's public store interface) and send the changelog
records themselves (:func:`table_write`); ``test_runtime.py`` pins that the records are
the ones Faust would send, and the exactness, replay and fault tests have Faust recover
tables from them.

Agents use only what is here plus the pure functions of :mod:`streams.semantics`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import aiokafka.errors as kafka_errors
import faust
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT
from mode.utils.queues import FlowControlEvent

from incidents_config.metrics import (
    AGENT_DELIVERY_RETRIES,
    DEAD_LETTERS,
    published_header,
    published_ms,
    source_label,
)
from incidents_config.settings import Settings
from schemas.errors import FieldError
from schemas.warehouse import DeadLetter
from streams.letters import Reason, dead_letter, raw_bytes

logger = logging.getLogger(__name__)

AgentFun = Callable[[Any], Awaitable[None]]


class SeekingConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, except that after a rebalance a stream partition nobody
    has committed yet is read again from its beginning.

    Faust drops records it fetched while a rebalance was under way (its flow stopped,
    the generation changed, or the partition was not active yet) and relies on seeking
    every partition back to its committed offset afterwards. aiokafka's
    ``seek_to_committed`` seeks only when that offset is above 0, so a partition without
    one keeps its position past the dropped records, which are then never handled until
    the worker restarts. That happened when a second worker joined before the first had
    committed the partitions it handed over: the new owner had fetched them during its
    recovery, dropped them, and the pipeline stood still with every record fetched and
    none committed (the stall of ``test_any_order...[2-4-2]`` under load). Seeking those
    partitions to their beginning is what a fresh consumer does with them
    (``consumer_auto_offset_reset = "earliest"``); the changelogs, which the group never
    commits, are left to Faust's recovery.

    And it seeks with its flow stopped. Faust's recovery resumes the stream partitions
    and then seeks them while the flow is running, so records delivered after aiokafka
    moved its position but before Faust reset its own bookkeeping (the last offset read,
    the committed offset) were counted against offsets they did not follow: acked
    offsets twice over and gaps at the head, which Faust commits past one offset per
    commit if at all. With the flow stopped the consumer delivers nothing during the
    seek; the recovery resumes the flow right after it (as does this method, when the
    flow was running before).
    """

    async def perform_seek(self) -> None:
        flowing = self.flow_active
        self.stop_flow()
        try:
            await super().perform_seek()
        finally:
            if flowing:
                self.resume_flow()

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        streams = stream_topics(self.app)
        unsought = [tp for tp, offset in committed.items() if not offset and tp.topic in streams]
        if unsought:
            logger.info("reading %d uncommitted partition(s) from the beginning", len(unsought))
            await self._thread.seek_to_beginning(*unsought)
        return committed


def stream_topics(app: AppT) -> frozenset[str]:
    """The topics the app's agents read: never the tables' changelogs, which a worker only
    writes (and reads back when it recovers a table or keeps a standby)."""
    return frozenset(
        name
        for agent in app.agents.values()
        if isinstance(agent.channel, faust.TopicT)
        for name in agent.channel.topics
    )


class SeekingTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport, consuming through :class:`SeekingConsumer`."""

    Consumer = SeekingConsumer


class SettledFlowControl(FlowControlEvent):
    """Faust's flow control of the agents' queues, except that resuming a flow that is
    not suspended keeps what the queues hold.

    mode's ``FlowControlEvent.resume`` empties every queue, each time it is called. That
    is right after a suspension: the queues hold events of the generation a rebalance
    ended. But Faust's recovery resumes twice. It resumes the flow to restore the tables
    from their changelogs, then, once they are restored, resumes the stream partitions,
    seeks them to their committed offsets and resumes the flow again. The consumer
    delivers records while that seek is under way; the second resume then emptied the
    queues of them, after the consumer had counted them as read, so when it fetched
    them again after the seek it skipped them as already read. They were never handled
    and never acked, Faust commits only up to the first offset not acked, and the
    partition stood still at its committed offset for the rest of the worker's life
    (the stall of ``test_sigkill...`` under load: committed 369 while 420 to 1485 were
    acked). The same race is faust-streaming issue #596, open upstream. Keeping those
    events is safe: they are of the current generation and handled in offset order,
    and one fetched again after the seek is handled twice, which the semantics make
    harmless (a redelivery).
    """

    def resume(self) -> None:
        if not self.is_active():
            super().resume()
            return
        held = sum(queue.qsize() for queue in self._queues)
        if held:
            logger.info("flow already resumed: keeping %d event(s) delivered during the seek", held)


def use_safe_rebalancing(app: faust.App) -> None:
    """Make `app` consume through :class:`SeekingConsumer` and flow-control its agents'
    queues with :class:`SettledFlowControl` (before its consumer and agents exist)."""
    app.transport = SeekingTransport(app.conf.broker_consumer, app)
    app.flow_control = SettledFlowControl()


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

    topic: str
    key: bytes | None
    value: bytes
    event: faust.EventT  # if Kafka can never take the output, this event is dead-lettered
    partition: int | None = None  # None: the producer's partitioner picks it from the key
    # When the oldest report in the output was published (Unix ms); None: `event`'s.
    published: int | None = None
    # A changelog record of this Faust table (table_write): sent without headers, as Faust
    # sends it, and its offset persisted in the table's store once Kafka has it.
    table: Any = None

    def headers(self) -> list[tuple[str, bytes]] | None:
        """The output's Kafka headers: when the report(s) it carries were published."""
        if self.table is not None:
            return None
        at = self.published if self.published is not None else published_at(self.event)
        return [published_header(at)]


def published_at(event: faust.EventT) -> int:
    """When the report in `event` was first published, in Unix ms (for the sink's
    publish-to-queryable latency): the header a worker copied onto it, or for a raw message
    (which has none) its own Kafka timestamp.
    """
    message = event.message
    carried = published_ms(message.headers)
    if carried is not None:
        return carried
    return int((message.timestamp or 0.0) * 1000)


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


async def deliver(sends: list[Send], agent: str, producer: Any, dead_letters: str) -> None:
    """Send an agent's outputs and wait until Kafka has acknowledged every one of them.

    Agents call this before their batch ends: Faust acks (and later commits) a batch's
    source offsets when the batch is done, so what it produced is never lost to a crash.
    An output Kafka can never take (too large ...) is replaced by a dead letter for its
    input event; one it cannot take now (broker down, leader moving) is sent again with
    back-off, for as long as it takes: the batch, and so its offsets, wait.

    Outputs go straight to aiokafka's producer, in record batches per partition
    (:func:`_send_all`), without Faust's per-message channel machinery. The sending is
    shielded from cancellation: a worker that stops while a batch is in flight finishes
    sending it first, because Faust acks the batch as the agent exits.
    """
    if not sends:
        return
    task = asyncio.ensure_future(_deliver(sends, agent, producer, dead_letters))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            logger.info("%s: stopping; finishing the batch in flight first", agent)
            await task
        raise


async def _deliver(sends: list[Send], agent: str, producer: Any, dead_letters: str) -> None:
    pending = list(sends)
    delay = 0.5
    changelogs: dict[tuple[int, TP], tuple[Any, int]] = {}  # newest offset per table partition
    alone: set[int] = set()  # id() of outputs of a batch Kafka refused: one by one now
    while pending:
        results = await _send_all(pending, producer, alone)
        again: list[Send] = []
        transient = False
        for s, result in zip(pending, results, strict=True):
            if isinstance(result, Sent):
                if s.table is not None:
                    tp = TP(result.topic, result.partition)
                    known = changelogs.get((id(s.table), tp))
                    if known is None or known[1] < result.offset:
                        changelogs[(id(s.table), tp)] = (s.table, result.offset)
                continue
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BatchRefused):
                alone.add(id(s))  # which output Kafka refuses is told one by one
                again.append(s)
            elif is_permanent(result) and s.topic != dead_letters:
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
    for (_, tp), (table, offset) in changelogs.items():
        persist_offset(table, tp, offset)


@dataclass(frozen=True)
class Sent:
    """Where Kafka put one output."""

    topic: str
    partition: int
    offset: int


class BatchRefused(Exception):
    """Kafka refused for good a batch this output was in, maybe for another output of it."""


BATCHED_MAX_BYTES = 256 * 1024  # a larger output is sent on its own

_Wait = tuple[Any, list[int]]  # Kafka's future answer, and the outputs it answers for, in order


async def _send_all(sends: list[Send], producer: Any, alone: set[int]) -> list[Any]:
    """Send `sends` and wait for Kafka's answers: a :class:`Sent` or an error per output.

    Outputs bound for one partition go out in record batches (aiokafka's ``create_batch``
    and ``send_batch``): one future per batch instead of a coroutine, a future and a
    callback per message. Within a partition the outputs keep their order, as a sequence
    of sends keeps it: Faust's recovery must read a key's changelog records in the order
    they were written. An output goes on its own (``producer.send``) when it has no
    partition (no key: the producer's partitioner picks one), when it is over
    ``BATCHED_MAX_BYTES``, or when Kafka refused for good a batch it was in (`alone`, by
    ``id``): then Kafka's error names that output, not its neighbours.
    """
    kafka = producer._ensure_producer()  # aiokafka's; Faust's driver has no batch API
    cluster = kafka.client.cluster
    counts: dict[str, int] = {}  # partitions per topic (the metadata builds a set per call)
    waits: list[_Wait] = []
    by_partition: dict[tuple[str, int], list[int]] = {}
    for i, s in enumerate(sends):
        partition = s.partition
        if partition is None and s.key is not None:
            count = counts.get(s.topic)
            if count is None:
                count = counts[s.topic] = len(cluster.partitions_for_topic(s.topic) or ())
            if count:
                partition = key_partition(s.key, count)
        if partition is None:
            waits.append((await _send_one(producer, s, None), [i]))
        else:
            by_partition.setdefault((s.topic, partition), []).append(i)
    for (topic, partition), members in by_partition.items():
        batch, in_batch = kafka.create_batch(), list[int]()
        for i in members:
            s = sends[i]
            if len(s.value) + len(s.key or b"") > BATCHED_MAX_BYTES or id(s) in alone:
                if in_batch:
                    waits.append(await _send_batch(kafka, batch, topic, partition, in_batch))
                    batch, in_batch = kafka.create_batch(), []
                waits.append((await _send_one(producer, s, partition), [i]))
                continue
            headers = s.headers() or []
            if batch.append(timestamp=None, key=s.key, value=s.value, headers=headers) is None:
                if in_batch:  # full: send it, and start the next
                    waits.append(await _send_batch(kafka, batch, topic, partition, in_batch))
                    batch, in_batch = kafka.create_batch(), []
                if batch.append(timestamp=None, key=s.key, value=s.value, headers=headers) is None:
                    waits.append((await _send_one(producer, s, partition), [i]))
                    continue
            in_batch.append(i)
        if in_batch:
            waits.append(await _send_batch(kafka, batch, topic, partition, in_batch))
    answers = await asyncio.gather(*(future for future, _ in waits), return_exceptions=True)
    results: list[Any] = [None] * len(sends)
    for (_, members), answer in zip(waits, answers, strict=True):
        if isinstance(answer, BaseException):
            refused = len(members) > 1 and is_permanent(answer)
            for i in members:
                results[i] = BatchRefused(repr(answer)) if refused else answer
        else:
            for k, i in enumerate(members):  # a batch's records take consecutive offsets
                results[i] = Sent(answer.topic, answer.partition, answer.offset + k)
    return results


async def _send_one(producer: Any, s: Send, partition: int | None) -> Any:
    """One output through Faust's producer: its future, or the error that refused it."""
    try:
        return await producer.send(s.topic, s.key, s.value, partition, None, s.headers())
    except Exception as e:  # refused before it was queued (too large ...)
        return _failed(e)


async def _send_batch(
    kafka: Any, batch: Any, topic: str, partition: int, members: list[int]
) -> _Wait:
    try:
        future = await kafka.send_batch(batch, topic, partition=partition)
    except Exception as e:  # not queued (the producer closing, no room in time ...)
        future = _failed(e)
    return future, members


def persist_offset(table: Any, tp: TP, offset: int) -> None:
    """Record in the table's store that its changelog partition `tp` is in it up to `offset`
    (what Faust's own changelog callback does per record), so that a restarted worker
    recovers only what follows. A store that cannot is the worker's failure."""
    try:
        table.data.set_persisted_offset(tp, offset)
    except Exception as e:
        raise FatalAgentError(f"table {table.name}: cannot record offset {offset} of {tp}") from e


def _failed(error: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future


def _too_large(s: Send, agent: str, error: BaseException, dead_letters: str) -> Send:
    message = f"{agent} could not send its output to {s.topic} ({len(s.value)} bytes): {error!r}"
    letter = dead_letter(
        raw_bytes(s.event),
        [FieldError.whole(message)],
        s.event,
        stage=agent,
        reason=Reason.TOO_LARGE,
    )
    return dead_letter_send(letter, s.event, dead_letters)


def dead_letter_send(letter: DeadLetter, event: faust.EventT, dead_letters: str) -> Send:
    """An output that sends `letter` to the dead-letter topic (and counts it)."""
    DEAD_LETTERS.labels(letter.stage, source_label(letter.source), letter.reason).inc()
    key = event.message.key if isinstance(event.message.key, bytes) else None
    return Send(dead_letters, key, letter.model_dump_json().encode(), event)


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


CRASH_EXIT_CODE = 70  # EX_SOFTWARE


def table_options(settings: Settings) -> dict[str, int]:
    """RocksDB options for our tables, within ``STREAMS_TABLE_MEMORY_MB`` per partition.

    Faust opens one RocksDB per table partition, each by default with a 2 GiB block cache
    and three 64 MiB write buffers: a worker's RSS grew past 1.2 GiB within 600,000
    reports. A third of the budget goes to write buffers (two), the rest to the cache.
    """
    budget = settings.streams.table_memory_mb * 1024 * 1024
    buffer = max(budget // 6, 1024 * 1024)
    return {
        "write_buffer_size": buffer,
        "max_write_buffer_number": 2,
        "target_file_size_base": 4 * buffer,
        "block_cache_size": max(budget - 2 * buffer, 1024 * 1024),
        "block_cache_compressed_size": 0,
    }


async def partitions_ready(app: faust.App, topic: str) -> int:
    """Track `topic` in the producer's metadata and wait until its partitions are known.

    A table write picks its changelog partition from the producer's metadata
    (``use_partitioner=True``), synchronously, and :func:`key_partition` needs the number
    of partitions. Before the producer has fetched metadata for a topic created moments
    ago (a changelog, a new pipeline) the first fails inside aiokafka with a TypeError.
    See :func:`outputs_ready` for why the topic must also be *tracked*, not only known.
    """
    # faust exposes no public metadata wait; its aiokafka driver holds the producer.
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    await producer.client.add_topic(topic)  # at once when tracked already
    return len(await producer.partitions_for(topic))


async def outputs_ready(app: faust.App, topics: Iterable[str]) -> dict[str, int]:
    """Make the producer keep the metadata of every topic an agent writes to; return the
    number of partitions of each (for :func:`key_partition`).

    Call it before the agent writes anything, every batch (it returns at once when the
    topics are tracked already).

    aiokafka's client refreshes metadata for the topics it *tracks*, or for all topics
    while it tracks none, and each refresh replaces what it knew. Faust refreshes right
    after declaring its internal topics, tracking none, so the worker starts knowing every
    topic without tracking any; the first send to a topic it does not know yet (a
    changelog created a moment earlier) tracks that topic alone, and from the next refresh
    on every other topic is gone from the producer's metadata. A batch already queued for
    one of them (lingering, or behind a request in flight) then has no leader: aiokafka
    only refreshes metadata for the tracked topics, again and again, and expires the batch
    after ``producer_request_timeout`` (20 minutes). Nothing sends to that topic again,
    because :func:`deliver` waits for that very batch; Faust's commit and its shutdown
    both flush the producer first, so the worker commits nothing and ignores SIGTERM.
    """
    return {topic: await partitions_ready(app, topic) for topic in dict.fromkeys(topics)}


@functools.lru_cache(maxsize=1 << 16)
def _murmur2(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


class CachedPartitioner:
    """aiokafka's ``DefaultPartitioner`` (Kafka's murmur2 of the key, modulo the
    partitions), with the hash of the last 65,536 keys remembered.

    aiokafka's murmur2 is pure Python, and a worker hashes every report id twice (its
    ``reports.valid`` send and its table's changelog) and every district-day key once per
    membership and again for its snapshot and changelog: 3 % of the worker's CPU. The
    partitions are exactly the default's (``tests/unit/streams/test_runtime.py``), so
    keyed messages meet the table values and the other clients' keys as before. Set as
    Faust's ``producer_partitioner`` (``streams.app.app_options``).
    """

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        return all_partitions[_murmur2(bytes(key)) % len(all_partitions)]


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` on a topic of `partitions`
    partitions (murmur2, through :class:`CachedPartitioner`'s remembered hashes).

    It is the partition a keyed send would reach (Kafka numbers a topic's partitions from
    0), so a message sent there explicitly meets the table values keyed by `key` (their
    changelog uses the same partitioner). `partitions` comes from :func:`outputs_ready`;
    asking Faust's producer instead (``key_partition``) cost 3 % of the worker's CPU.
    """
    return _murmur2(bytes(key)) % partitions


async def changelog_ready(app: faust.App, table: Any) -> int:
    """Make sure a table's changelog partitions are known before writing to the table;
    return how many there are (for :func:`key_partition`)."""
    return await partitions_ready(app, table.changelog_topic.get_topic_name())


def _partition_db(table: Any, partition: int) -> Any:
    """The RocksDB of one partition of a table's store; None for a store without one
    (``memory://``, in tests), whose own lookup is used instead."""
    open_db = getattr(table.data, "_db_for_partition", None)
    return None if open_db is None else open_db(partition)


def table_read(table: Any, key: bytes, partition: int) -> bytes | None:
    """Read a table value from the store's database of `partition`, the key's changelog
    partition (``key_partition``), where :func:`table_write` writes it and Faust's
    recovery restores it; a failure of the store is the worker's, not the event's.

    Faust's own read (``use_partitioner`` tables) asks every partition's database for a
    key it has not cached: for a new report, each of them; at a million reports that
    was 8 % of the worker.
    """
    try:
        db = _partition_db(table, partition)
        value: bytes | None = table.data.get(key) if db is None else db.get(key)
    except Exception as e:
        raise FatalAgentError(f"table {table.name}: cannot read {key!r}: {e!r}") from e
    return value


def table_write(table: Any, key: bytes, value: bytes, event: faust.EventT, partition: int) -> Send:
    """Write a table value to the table's store, and return its changelog record, which the
    caller sends with the batch's outputs (:func:`deliver`); a failure of the store stops
    the worker uncommitted. Call it inside :func:`current` for `event`.

    Faust's own ``table[key] = value`` sends the changelog record through its per-message
    path (a ``FutureMessage``, the producer's buffer, a callback per record), which cost
    0.25–0.30 ms of CPU per write more here (``bench.faust_noop --floor`` against
    ``--floor --direct``: 0.68–0.74 against 0.43–0.44 ms per event).
    The record is the same: the key and value bytes, no headers, on the partition
    Faust's partitioner gives the key (``use_partitioner=True``), so Faust's recovery and
    standbys read it as their own. What differs is when it is sent, with the batch's
    outputs, and that the batch waits for it, as for them; :func:`deliver` then persists
    its offset in the store, as Faust's callback would.

    The store's database is that of `partition`, the key's changelog partition, as for
    :func:`table_read` (Faust's own write picks the event's partition: the same when the
    source is partitioned by the key's murmur2, as ours are).
    """
    try:
        db = _partition_db(table, partition)
        if db is None:
            table.data[key] = value
        else:
            db.put(key, value)
    except Exception as e:
        raise FatalAgentError(f"table {table.name}: cannot write {key!r}: {e!r}") from e
    return Send(
        table.changelog_topic.get_topic_name(), key, value, event, partition=partition, table=table
    )


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
