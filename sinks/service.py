"""The sink process: Kafka -> ClickHouse, at least once.

It polls the valid-report, dead-letter and snapshot topics, converts each message to rows,
writes them per table per batch, and only then commits the consumer's offsets: those of
the newest written batch every observer (alerting) has acted on. A crash between the write
and the commit re-delivers the batch, which the ReplacingMergeTree keys make harmless. In
embedded mode the process owns the chdb folder and serves the read-only SQL endpoint for
everyone else.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from incidents_config.metrics import (
    PUBLISH_TO_QUERYABLE,
    SINK_CONSUMER_RESTARTS,
    SINK_FAILURES,
    SINK_HEARTBEAT,
    SINK_LAG,
    SINK_RETRY_DELAY,
    SINK_RETRYING,
    published_ms,
)
from incidents_config.names import Generation, Topics, sink_ready_file
from incidents_config.settings import Settings
from schemas.places import activate
from sinks.clickhouse import connect, database_name
from sinks.exceptions import SinkWriteError
from sinks.generations import REBUILT, create_build_tables
from sinks.migrate import migrate
from sinks.observer import SinkObserver, SuiteRun, Written
from sinks.rows import (
    REJECTED_BY_SINK,
    KafkaCoordinates,
    MessageKind,
    TableRow,
    kafka_timestamp,
    message_items,
)
from sinks.sink import BatchingSink, ClickHouseSink, Origin
from sinks.sql_endpoint import SqlEndpoint, open_sql_endpoint
from sinks.tables import AGG_DISTRICT_DAY, DQ_RUNS, REPORT_VERSIONS

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 30.0
COMMIT_RETRY_S = 5.0  # how often to commit again written rows whose commit failed
COMMIT_STUCK_S = 60.0  # uncommittable this long: replace the consumer
LAST_COMMITS_S = 10.0  # how long a stopping sink tries again to commit what it wrote
METADATA_MAX_AGE_MS = 30_000  # notice partition changes within 30 s, not 5 min
BOOTSTRAP_TIMEOUT_MS = 5000
LAG_INTERVAL_S = 1.0  # how often the sink exports its lag, written or not

# The messages that make a report queryable, and the table the latency is labelled with:
# its own report_versions row, and the district-day snapshot that counts it (the rows of
# agg_district_day and incidents, written in the same flush).
QUERYABLE_BY = {
    MessageKind.REPORT: REPORT_VERSIONS.name,
    MessageKind.SNAPSHOT: AGG_DISTRICT_DAY.name,
}


def topic_kinds(
    settings: Settings, generation: int | None = None, *, live: bool = True
) -> dict[str, MessageKind]:
    """Return the topics the sink reads for a pipeline generation and what each carries.

    Only the live generation reads the shared dead-letter, silences and data-quality topics.
    """
    names = Topics.of(settings, generation)
    kinds = {names.valid: MessageKind.REPORT, names.snapshots: MessageKind.SNAPSHOT}
    if live:
        kinds[names.dead_letter] = MessageKind.DEAD_LETTER
        kinds[names.silences] = MessageKind.SILENCE
        kinds[names.dq_results] = MessageKind.DQ_RUN
    return kinds


ObserverFactory = Callable[[Client, str], SinkObserver]


def run_sink(
    settings: Settings,
    stop_event: threading.Event | None = None,
    observers: Iterable[ObserverFactory] = (),
) -> None:
    """Run the sink until ``stop_event`` is set; flush, commit and close on the way out.

    Each of `observers` is called once with the sink's writing client and database, and
    the observer it returns is told about every batch written (alerting is one).
    """
    stop = stop_event or threading.Event()
    SINK_HEARTBEAT.set(time.time())  # starting: stale if it never gets to polling
    database = database_name(settings)
    writer = connect(settings)
    endpoint: SqlEndpoint | None = None
    batcher: _Batcher | None = None
    build: threading.Thread | None = None
    started: list[SinkObserver] = []
    ready_file = sink_ready_file(settings.paths)
    try:
        # The report rows' incident ids (lineage) are keys: built with places.json and the
        # overlay as they are at the sink's start (the workers' gazetteer unless an accept
        # has not been replayed yet; docs/operations.md).
        activate(settings.paths.overlay)
        applied = migrate(writer, settings)
        logger.info("migrations applied: %s", ", ".join(applied) or "none pending")
        sink = ClickHouseSink(writer, database)
        sink.setup()
        if settings.embedded_warehouse:
            endpoint = open_sql_endpoint(settings)
        watching = [make(writer, database) for make in observers]
        live = Generation.of(settings).number
        batcher = _batcher(settings, live, sink, stop, watching)
        if not batcher.connect():
            return  # stopped before Kafka or the topics were there
        if settings.sink.build_generation is not None:
            create_build_tables(writer, database, settings.sink.build_generation)
            build = threading.Thread(
                target=_build,
                args=(settings, settings.sink.build_generation, stop),
                name="build",
                daemon=True,
            )
            build.start()
        for observer in watching:
            observer.start()
            started.append(observer)
        _write_ready(ready_file, endpoint)
        logger.info("sink ready%s", f"; SQL endpoint {endpoint.url}" if endpoint else "")
        batcher.run()
    finally:
        ready_file.unlink(missing_ok=True)
        if build is not None:
            # Let it commit and leave its group: a consumer that vanishes holds the group's
            # next member back until the broker gives up on it (40 s and more).
            stop.set()
            build.join(timeout=30)
        if batcher is not None:
            batcher.close()
        for observer in started:
            observer.stop()
        if endpoint is not None:
            endpoint.stop()
        writer.close()
        logger.info("sink stopped")


def _build(settings: Settings, generation: int, stop: threading.Event) -> None:
    """Write generation `generation` (being rebuilt by `incidents replay`) into its copies
    of the rebuilt tables, with its own consumer group and client, until stopped."""
    database = database_name(settings)
    client = connect(settings)
    batcher: _Batcher | None = None
    try:
        rename = {name: Generation.of(settings, generation).build_table(name) for name in REBUILT}
        sink = ClickHouseSink(client, database, rename=rename)
        sink.setup()
        batcher = _batcher(settings, generation, sink, stop, live=False)
        logger.info("building generation %d into %s", generation, ", ".join(rename.values()))
        if batcher.connect():
            batcher.run()
    except Exception:
        logger.exception("building generation %d failed; the replay will stall", generation)
    finally:
        if batcher is not None:
            batcher.close()
        client.close()


def _batcher(
    settings: Settings,
    generation: int,
    sink: BatchingSink,
    stop: threading.Event,
    observers: Sequence[SinkObserver] = (),
    *,
    live: bool = True,
) -> _Batcher:
    """The batcher of one pipeline generation: its topics, its consumer group."""
    kinds = topic_kinds(settings, generation, live=live)
    group = Generation.of(settings, generation).sink_group
    return _Batcher(
        lambda: _subscribed_consumer(settings, stop, list(kinds), group),
        sink,
        settings,
        stop,
        observers,
        kinds=kinds,
        group=group,
        live=live,
    )


def _subscribed_consumer(
    settings: Settings, stop: threading.Event, topics: list[str], group: str
) -> KafkaConsumer | None:
    """A consumer subscribed to `topics` once they exist; None if stopped first.

    No rebalance listener: a revoked partition's unflushed messages are simply re-delivered
    to its next owner, which the idempotent tables absorb.
    """
    consumer = _consumer(settings, stop, group)
    if consumer is None:
        return None
    if not _await_topics(consumer, topics, stop):
        consumer.close(autocommit=False)
        return None
    consumer.subscribe(topics)
    return consumer


def _consumer(settings: Settings, stop: threading.Event, group: str) -> KafkaConsumer | None:
    """Connect to Kafka, retrying until it answers or ``stop`` is set (then None)."""
    while True:
        try:
            return KafkaConsumer(
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=settings.sink.batch_size,
                client_id=f"{group}-{os.getpid()}",
                bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                metadata_max_age_ms=METADATA_MAX_AGE_MS,
                **settings.kafka.client_kwargs(),
            )
        except KafkaError as e:
            logger.warning("Kafka (%s) is not reachable: %s", settings.kafka.bootstrap_servers, e)
            if stop.wait(1.0):
                return None


def _await_topics(consumer: KafkaConsumer, topics: list[str], stop: threading.Event) -> bool:
    """Wait until the consumer knows every topic's partitions; False if stopped first.

    A consumer that joins its group before its metadata lists a topic is assigned none of
    that topic's partitions, and only notices them at the next metadata refresh, minutes
    later. Fetching the metadata first avoids that idle start.
    """
    warned = False
    while True:
        missing = [t for t in topics if not consumer.partitions_for_topic(t)]
        if not missing:
            return True
        if not warned:
            logger.warning("waiting for topics %s to exist (run `incidents up`)", missing)
            warned = True
        if stop.wait(1.0):
            return False


def _write_ready(path: os.PathLike[str], endpoint: SqlEndpoint | None) -> None:
    marker = {"pid": os.getpid(), "sql_endpoint": endpoint.url if endpoint else None}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(marker, f)
    except OSError:
        logger.warning("cannot write the ready marker %s", path, exc_info=True)


class _Flushed(NamedTuple):
    """A written flush whose offsets are not committed yet."""

    number: int  # the sink's count of flushes, which the observers' acted() is compared to
    positions: dict[TopicPartition, OffsetAndMetadata]  # the consumer's, after the flush


class _Batcher:
    """Poll, convert, buffer; flush on size or age, then commit.

    The live generation's batcher also beats the sink's heartbeat (each poll cycle) and
    measures publish-to-queryable latency; a replay's build batcher does neither.
    """

    def __init__(
        self,
        connect: Callable[[], KafkaConsumer | None],
        sink: BatchingSink,
        settings: Settings,
        stop: threading.Event,
        observers: Sequence[SinkObserver] = (),
        *,
        kinds: dict[str, MessageKind],
        group: str,
        live: bool = True,
    ) -> None:
        self._connect = connect
        self._live = live
        self._observers = list(observers)
        self._written = Written()  # what the buffered rows change, for the observers
        self._consumer: KafkaConsumer | None = None
        self._sink = sink
        self._stop = stop
        self._kinds = kinds
        self._group = group
        self._batch_size = settings.sink.batch_size
        self._interval_s = settings.sink.flush_interval_s
        self._poll_ms = int(min(self._interval_s, 0.5) * 1000)
        self._messages = 0  # messages added since the last flush
        self._rows = 0  # ... and the rows they made (SINK_BATCH_SIZE counts these)
        self._oldest: float | None = None  # when the oldest unflushed message was added
        self._commit_failing_since: float | None = None  # written, not yet committed
        self._last_commit_try = 0.0
        self._flushes = 0  # batches written (and told to the observers)
        self._uncommitted: list[_Flushed] = []  # written, not committed yet
        self._last_lag = 0.0
        # (table, when published) of each buffered message that makes a report queryable
        self._published: list[tuple[str, float]] = []

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the sink's consumer is not connected")
        return self._consumer

    def connect(self) -> bool:
        """Create and subscribe the consumer; False if stopped before it could."""
        self._consumer = self._connect()
        return self._consumer is not None

    def close(self) -> None:
        if self._consumer is not None:
            self.consumer.close(autocommit=False)
            self._consumer = None

    def run(self) -> None:
        while not self._stop.is_set():
            # A bundle of valid reports is many rows: poll no more messages than rows left.
            room = max(self._batch_size - self._rows, 1)
            polled = self.consumer.poll(timeout_ms=self._poll_ms, max_records=room)
            for messages in polled.values():
                self.add(messages)
            if self._due():
                self.flush_and_commit(retry=True)
            elif self._committable() and (
                self._commit_failing_since is None
                or time.monotonic() - self._last_commit_try > COMMIT_RETRY_S
            ):
                self._commit()  # the observers have acted on what was written, or a retry
            if self._stuck() and not self._messages and not self._reconnect():
                return
            if time.monotonic() - self._last_lag >= LAG_INTERVAL_S:
                self._report_lag()
            self._beat()
        self.flush_and_commit(retry=False)
        self._last_commits()

    def _last_commits(self) -> None:
        """On the way out, try again for a little while to commit written rows whose commit
        failed: typically a rebalance still in progress (a loaded machine, a member that
        joined). The consumer must poll to finish joining; its partitions are paused, and
        should a poll return anything (a partition handed over meanwhile), nothing more is
        committed: the offsets to commit were taken when their rows were written, but the
        partition's new owner may have been handed the rest.
        """
        deadline = time.monotonic() + LAST_COMMITS_S
        while (
            self._commit_failing_since is not None
            and self._committable()
            and time.monotonic() < deadline
        ):
            self.consumer.pause(*self.consumer.assignment())
            if any(self.consumer.poll(timeout_ms=500).values()):
                logger.warning("stopping: records arrived while committing; not committing")
                return
            self._commit()

    def _beat(self) -> None:
        """A poll cycle is done: the sink is alive, whether or not there was data (and so
        are its observers, as of when they last said so)."""
        if self._live:
            SINK_HEARTBEAT.set(min([time.time(), *(o.alive_at() for o in self._observers)]))

    def _stuck(self) -> bool:
        since = self._commit_failing_since
        return since is not None and time.monotonic() - since > COMMIT_STUCK_S

    def _reconnect(self) -> bool:
        """Replace a consumer that cannot commit for minutes (stuck outside its group).

        kafka-python 3.0 can hang after joining a group: "performing partition
        assignments" and no assignment ever arrives, so every commit fails with
        RebalanceInProgressError and the lag never drains. The rows are written, so a
        new consumer that re-reads from the last committed offsets loses nothing.
        """
        logger.error(
            "offsets uncommittable for %.0f s (consumer stuck outside its group); reconnecting",
            time.monotonic() - (self._commit_failing_since or 0.0),
        )
        SINK_CONSUMER_RESTARTS.inc()
        self.close()
        self._commit_failing_since = None
        self._uncommitted = []  # the new member reads again from the last commit
        return self.connect()

    def add(self, messages: Iterable[ConsumerRecord]) -> None:
        for m in messages:
            published = published_ms(m.headers)
            at = KafkaCoordinates(
                m.topic,
                m.partition,
                m.offset,
                kafka_timestamp(m.timestamp),
                None if published is None else kafka_timestamp(published),
            )
            table = QUERYABLE_BY.get(self._kinds[m.topic]) if self._live else None
            # One item per message; a bundle of valid reports is one per report.
            for item in message_items(self._kinds[m.topic], m.value, at):
                for row in item.rows:
                    if row.values.get("rejected_by") == REJECTED_BY_SINK:
                        logger.warning(
                            "undecodable message %s[%d]@%d: %s",
                            item.at.topic,
                            item.at.partition,
                            item.at.offset,
                            row.values["reasons"],
                        )
                self._sink.add(item.rows, Origin(item.at, item.raw))
                if self._observers:
                    self._note(item.rows)
                self._rows += len(item.rows)
                # When its report(s) were published: the header, or a bundled report's own.
                if table is not None and item.at.published is not None:
                    self._published.append((table, item.at.published.timestamp()))
            self._messages += 1
            if self._oldest is None:
                self._oldest = time.monotonic()

    def _note(self, rows: Iterable[TableRow]) -> None:
        """Remember what these rows change, to tell the observers once they are written."""
        for r in rows:
            v = r.values
            if r.table == AGG_DISTRICT_DAY.name:
                self._written.district_days.add((v["province"], v["district"], v["day"]))
            elif r.table == DQ_RUNS.name:
                self._written.suite_runs.append(
                    SuiteRun(
                        run_id=v["run_id"],
                        suite=v["suite"],
                        finished_at=v["finished_at"],
                        success=bool(v["success"]),
                        expectations=int(v["expectations"]),
                        failed=int(v["failed"]),
                    )
                )

    def _due(self) -> bool:
        if not self._messages or self._oldest is None:
            return False
        return self._rows >= self._batch_size or time.monotonic() - self._oldest >= self._interval_s

    def flush_and_commit(self, retry: bool) -> None:
        """Write the buffered rows, then commit what was polled. Never commit unwritten rows.

        While ClickHouse fails, the sink backs off with its partitions paused: it keeps
        polling (so it stays in its consumer group however long the outage lasts) but
        fetches nothing new, and the offsets stay where they are.
        """
        if self._messages:
            delay = 0.5
            while True:
                try:
                    written = self._sink.flush()
                    break
                except SinkWriteError as e:
                    SINK_FAILURES.labels(e.table).inc()
                    SINK_RETRYING.set(1)
                    SINK_RETRY_DELAY.set(delay)
                    logger.error("%s; retrying in %.1fs", e, delay)
                    if not retry or self._idle(delay):
                        logger.error("stopping with unwritten rows; Kafka will re-deliver them")
                        return
                    delay = min(delay * 2, MAX_RETRY_DELAY_S)
            SINK_RETRYING.set(0)
            self._observe_latency()
            changed, self._written = self._written, Written()
            for observer in self._observers:
                observer.written(changed)  # before the commit: a crash tells them again
            # Everything polled is written now: these positions may be committed once
            # every observer has acted on this flush (alerting evaluates on its own thread,
            # every ALERTS_EVALUATE_S); until then a crash re-delivers the batch.
            self._flushes += 1
            self._uncommitted.append(_Flushed(self._flushes, self._positions()))
            SINK_RETRY_DELAY.set(0)
            logger.info("flushed %d rows from %d messages", written, self._messages)
            self._messages, self._rows, self._oldest = 0, 0, None
        if self._committable():
            self._commit()
        self._report_lag()

    def _positions(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """The consumer's position in each partition it owns: past every record it has
        returned (and past transaction markers, which the probes' end offsets count)."""
        out = {}
        for tp in self.consumer.assignment():
            try:
                offset = self.consumer.position(tp, timeout_ms=0)
            except KafkaError:
                continue
            if offset is not None:  # none yet: nothing of it was returned
                out[tp] = OffsetAndMetadata(offset, "", -1)
        return out

    def _acted(self) -> int:
        """How many flushes every observer has acted on."""
        return min((o.acted() for o in self._observers), default=self._flushes)

    def _committable(self) -> bool:
        return bool(self._uncommitted) and self._uncommitted[0].number <= self._acted()

    def _observe_latency(self) -> None:
        """The buffered rows are written: each report they carry is queryable now."""
        now = time.time()
        for table, published in self._published:
            PUBLISH_TO_QUERYABLE.labels(table).observe(max(now - published, 0.0))
        self._published = []

    def _commit(self) -> None:
        """Commit the positions of the newest flush every observer has acted on, in the
        partitions the consumer still owns; remember a failure to try again.

        A partition given away and back between a flush and its commit may have been read
        further, and committed, by another member meanwhile: the older offset then makes
        the owner read that stretch again, which the idempotent tables absorb. Dropping
        the flushes taken before a rebalance instead stalled a replay: kafka-python keeps
        a retained partition's position across a rebalance, so nothing read again what
        a dropped flush covered, and its offsets were never committed.
        """
        acted = self._acted()
        ready = [u for u in self._uncommitted if u.number <= acted]
        if not ready:
            return
        number = ready[-1].number
        owned = self.consumer.assignment()
        offsets = {tp: at for tp, at in ready[-1].positions.items() if tp in owned}
        self._last_commit_try = time.monotonic()
        try:
            self.consumer.commit(offsets=offsets)
        except (CommitFailedError, KafkaError) as e:
            # Rows are written; the next owner of the partitions re-delivers them harmlessly.
            logger.warning("offset commit failed: %s", e)
            if self._commit_failing_since is None:
                self._commit_failing_since = time.monotonic()
        else:
            self._commit_failing_since = None
            self._uncommitted = [u for u in self._uncommitted if u.number > number]

    def _idle(self, seconds: float) -> bool:
        """Wait `seconds` while staying in the group; return True if asked to stop.

        The assigned partitions are paused, so polling returns nothing from them; a
        partition a rebalance hands over meanwhile is not paused, and what it returns is
        buffered like anything else (dropping it would let its offset be committed unread).
        """
        deadline = time.monotonic() + seconds
        try:
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.consumer.pause(*self.consumer.assignment())
                polled = self.consumer.poll(timeout_ms=int(min(left, 0.5) * 1000))
                for messages in polled.values():
                    self.add(messages)
                self._beat()  # backing off is not stuck: IncidentsSinkRetrying says it
            return True
        finally:
            self.consumer.resume(*self.consumer.paused())

    def _report_lag(self) -> None:
        """Export how far the sink is behind, per topic it reads, from what the consumer
        knows (0 for a topic none of whose partitions it owns now)."""
        self._last_lag = time.monotonic()
        by_topic = dict.fromkeys(self._kinds, 0)
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = self.consumer.position(tp, timeout_ms=0)
            except (KafkaError, TypeError):
                continue
            if position is None:
                continue
            if tp.topic in by_topic:
                by_topic[tp.topic] += max(highwater - position, 0)
        for topic, lag in by_topic.items():
            SINK_LAG.labels(self._group, topic).set(lag)
