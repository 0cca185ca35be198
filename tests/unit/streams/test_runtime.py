"""streams.runtime: delivery rules without Kafka, and pins on the Faust internals it uses."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiokafka.errors as kafka_errors
import faust
import pytest
from aiokafka import AIOKafkaProducer as AIOKafkaProducerClient
from aiokafka.client import AIOKafkaClient
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder, MessageBatch
from faust.exceptions import ProducerSendError
from faust.streams import Stream
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from faust.types import TP
from hypothesis import given, settings
from hypothesis import strategies as st
from mode.utils.queues import FlowControlEvent

from incidents_config.metrics import published_header, published_ms
from streams import runtime
from streams.runtime import FatalAgentError, Send, deliver, is_permanent


@dataclass
class FakeBatch:
    """aiokafka's BatchBuilder as _send_all uses it: full past `limit` bytes."""

    limit: int
    records: list[tuple[bytes | None, bytes, Any]] = field(default_factory=list)
    size: int = 0

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes, headers: Any) -> Any:
        grown = len(value) + len(key or b"")
        if self.size + grown > self.limit:
            return None
        self.records.append((key, value, headers))
        self.size += grown
        return object()


@dataclass
class FakeProducer:
    """Stands in for Faust's producer and the aiokafka producer behind it: fails each
    value's first `failures[value]` sends, and a whole batch if one of its values fails."""

    failures: dict[bytes, list[BaseException]] = field(default_factory=dict)
    sent: list[tuple[str, bytes, int | None]] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list)  # of each message sent
    batch_limit: int = 1 << 30
    batches: list[tuple[str, int, list[bytes]]] = field(default_factory=list)  # as sent
    alone: list[bytes] = field(default_factory=list)  # values sent on their own

    # --- Faust's producer
    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.alone.append(value)
        errors = self.failures.get(value)
        if errors:
            future.set_exception(errors.pop(0))
        else:
            self.sent.append((topic, value, partition))
            self.headers.append(headers)
            # What aiokafka's send resolves to: where Kafka put the message.
            future.set_result(Metadata(topic, partition or 0, len(self.sent) + 99))
        return future

    def _ensure_producer(self) -> FakeProducer:
        return self

    # --- aiokafka's producer
    @property
    def client(self) -> Any:
        cluster = type("Cluster", (), {"partitions_for_topic": lambda _, t: {0, 1, 2, 3}})()
        return type("Client", (), {"cluster": cluster})()

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.batch_limit)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.batches.append((topic, partition, [v for _, v, _ in batch.records]))
        for _, value, _ in batch.records:
            errors = self.failures.get(value)
            if errors:
                future.set_exception(errors.pop(0))
                return future
        base = len(self.sent) + 100
        for _, value, headers in batch.records:
            self.sent.append((topic, value, partition))
            self.headers.append(headers)
        future.set_result(Metadata(topic, partition, base))
        return future


@dataclass(frozen=True)
class Metadata:
    topic: str
    partition: int
    offset: int


@dataclass
class FakeMessage:
    topic: str = "t.raw"
    partition: int = 0
    offset: int = 5
    key: bytes | None = b"news:1"
    timestamp: float = 1_700_000_000.25
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class FakeEvent:
    value: bytes
    message: FakeMessage = field(default_factory=FakeMessage)


def too_large() -> BaseException:
    error = ProducerSendError("Error while sending")
    error.__cause__ = kafka_errors.MessageSizeTooLargeError()
    return error


def test_permanent_and_transient_send_errors_are_told_apart() -> None:
    assert is_permanent(too_large())
    assert not is_permanent(ProducerSendError("x"))
    assert not is_permanent(kafka_errors.NotLeaderForPartitionError())
    assert not is_permanent(kafka_errors.KafkaTimeoutError())


def test_an_output_kafka_refuses_for_good_becomes_a_dead_letter(monkeypatch: Any) -> None:
    monkeypatch.setattr(runtime, "MAX_RETRY_DELAY_S", 0.0)
    producer = FakeProducer({b"huge": [too_large()]})
    event = FakeEvent(b"huge")
    sends = [
        Send("t.valid", b"k", b"ok-1", FakeEvent(b"a")),  # type: ignore[arg-type]
        Send("t.valid", b"k", b"huge", event, partition=2),  # type: ignore[arg-type]
    ]
    asyncio.run(deliver(sends, "ingest", producer, "t.dead"))
    assert producer.sent[0] == ("t.valid", b"ok-1", runtime.key_partition(b"k", 4))
    assert len(producer.sent) == 2 and producer.sent[1][0] == "t.dead"
    letter = producer.sent[1][1]
    assert b"could not send its output" in letter and b'"reason":"too_large"' in letter


def test_a_transient_failure_is_sent_again_until_kafka_takes_it(monkeypatch: Any) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    flaky = [kafka_errors.NotLeaderForPartitionError(), kafka_errors.KafkaTimeoutError()]
    producer = FakeProducer({b"v": flaky})
    asyncio.run(
        deliver([Send("t.valid", None, b"v", FakeEvent(b"v"))], "ingest", producer, "t.dead")
    )  # type: ignore[arg-type]
    assert producer.sent == [("t.valid", b"v", None)]  # no key: the partitioner's pick


def test_every_output_carries_when_its_report_was_published() -> None:
    raw = FakeEvent(b"r")  # a raw message: its Kafka timestamp is when it was published
    rekeyed = FakeEvent(b"k", FakeMessage(headers=[published_header(1_600_000_000_000)]))
    sends = [
        Send("t.valid", b"k", b"from-raw", raw),  # type: ignore[arg-type]
        Send("t.valid", b"k", b"from-rekeyed", rekeyed),  # type: ignore[arg-type]
        Send("t.snapshots", b"k", b"a-snapshot", raw, published=1_500_000_000_000),  # type: ignore[arg-type]
    ]
    producer = FakeProducer()
    asyncio.run(deliver(sends, "ingest", producer, "t.dead"))
    assert [published_ms(h) for h in producer.headers] == [
        1_700_000_000_250,
        1_600_000_000_000,
        1_500_000_000_000,
    ]


def test_a_dead_letter_kafka_refuses_stops_the_agent() -> None:
    producer = FakeProducer({b"letter": [too_large()]})
    with pytest.raises(FatalAgentError):
        asyncio.run(
            deliver(
                [Send("t.dead", None, b"letter", FakeEvent(b"x"))], "ingest", producer, "t.dead"
            )
        )  # type: ignore[arg-type]


@dataclass
class FakeStore:
    """A table's store: the values written and the changelog offsets recorded."""

    values: dict[bytes, bytes] = field(default_factory=dict)
    persisted: list[tuple[faust.types.TP, int]] = field(default_factory=list)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.values[key] = value

    def set_persisted_offset(self, tp: faust.types.TP, offset: int) -> None:
        self.persisted.append((tp, offset))

    def get(self, key: bytes) -> bytes | None:
        if key == b"broken":
            raise OSError("corrupt block")
        return self.values.get(key)


@dataclass
class FakeTable:
    name: str = "reports"
    data: FakeStore = field(default_factory=FakeStore)
    changelog_topic: Any = None

    def __post_init__(self) -> None:
        topic = faust.App("t-fake").topic("app-reports-changelog")
        self.changelog_topic = topic


def test_table_write_stores_the_value_and_returns_its_changelog_record() -> None:
    table = FakeTable()
    event = FakeEvent(b"raw")
    send = runtime.table_write(table, b"news:1", b"state", event, 2)  # type: ignore[arg-type]
    assert table.data.values == {b"news:1": b"state"}
    assert (send.topic, send.key, send.value, send.partition) == (
        "app-reports-changelog",
        b"news:1",
        b"state",
        2,  # the key's changelog partition, as the producer's partitioner would pick it
    )
    assert send.headers() is None  # Faust's changelog records carry none
    assert table.data.persisted == []  # nothing is recorded before Kafka has the record


def test_table_read_reads_the_store_once_and_a_broken_store_stops_the_worker() -> None:
    table = FakeTable()
    table.data.values[b"news:1"] = b"state"
    assert runtime.table_read(table, b"news:1", 0) == b"state"
    assert runtime.table_read(table, b"news:2", 0) is None
    with pytest.raises(FatalAgentError, match="cannot read"):
        runtime.table_read(table, b"broken", 0)


@dataclass
class ChangelogRecord:
    """What Faust's recovery hands the store: a changelog record's message."""

    partition: int
    key: bytes
    value: bytes
    offset: int = 7

    @property
    def tp(self) -> TP:
        return TP("t-rdb-reports-changelog", self.partition)

    @property
    def message(self) -> ChangelogRecord:
        return self


def test_a_rocksdb_table_is_read_and_written_in_the_keys_changelog_partition(
    tmp_path: Path,
) -> None:
    """On a real RocksDB store: table_write puts the value in the database of the key's
    changelog partition, where Faust's own read finds it, and where Faust's recovery
    restores a changelog record, which table_read finds there."""
    app = faust.App(
        "t-rdb", key_serializer="raw", value_serializer="raw", store="rocksdb://", datadir=tmp_path
    )
    table = app.Table("reports", key_type=bytes, value_type=bytes, partitions=4)
    event = FakeEvent(b"raw")  # arrived on partition 0: not where the key's state lives
    partition = runtime.key_partition(b"news:1", 4)
    runtime.table_write(table, b"news:1", b"state", event, partition)  # type: ignore[arg-type]
    assert table.data._db_for_partition(partition).get(b"news:1") == b"state"
    assert table.data.get(b"news:1") == b"state"  # Faust's own lookup agrees
    assert runtime.table_read(table, b"news:1", partition) == b"state"
    assert runtime.table_read(table, b"news:2", partition) is None
    # Recovery: the changelog record of news:3 on its partition.
    other = runtime.key_partition(b"news:3", 4)
    record = ChangelogRecord(other, b"news:3", b"recovered")
    table.data.apply_changelog_batch([record], to_key=bytes, to_value=bytes)
    assert runtime.table_read(table, b"news:3", other) == b"recovered"
    with pytest.raises(FatalAgentError, match="cannot write"):
        runtime.table_write(table, b"news:4", None, event, 1)  # type: ignore[arg-type]


def test_deliver_records_the_newest_changelog_offset_per_partition_once_acked(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    table = FakeTable()
    sends = [
        Send("c", b"a", b"1", FakeEvent(b"x"), partition=0, table=table),  # type: ignore[arg-type]
        Send("c", b"b", b"2", FakeEvent(b"x"), partition=1, table=table),  # type: ignore[arg-type]
        Send("t.valid", b"a", b"v", FakeEvent(b"x")),  # type: ignore[arg-type]
        Send("c", b"a", b"3", FakeEvent(b"x"), partition=0, table=table),  # type: ignore[arg-type]
    ]
    # The last record of partition 0 fails once: it is acked last, with the newest offset.
    producer = FakeProducer({b"3": [kafka_errors.KafkaTimeoutError()]})
    asyncio.run(deliver(sends, "ingest", producer, "t.dead"))
    # Its batch failed as a whole: both records of partition 0 went again, in order.
    assert producer.sent[-2:] == [("c", b"1", 0), ("c", b"3", 0)]
    assert sorted(table.data.persisted) == [
        (faust.types.TP("c", 0), 103),
        (faust.types.TP("c", 1), 100),
    ]


def test_a_store_that_cannot_record_its_offset_stops_the_worker() -> None:
    table = FakeTable()

    def broken(tp: Any, offset: int) -> None:
        raise OSError("disk full")

    table.data.set_persisted_offset = broken  # type: ignore[method-assign]
    send = Send("c", b"a", b"1", FakeEvent(b"x"), partition=0, table=table)  # type: ignore[arg-type]
    with pytest.raises(FatalAgentError, match="cannot record offset"):
        asyncio.run(deliver([send], "ingest", FakeProducer(), "t.dead"))


def test_faust_sends_a_tables_changelog_record_as_table_write_does() -> None:
    """Faust's own write path: key and value as they are (raw), the partition left to the
    producer's partitioner (use_partitioner), no headers. table_write's record must be
    the same, or Faust's recovery would read something else."""
    app = faust.App("t-pin", key_serializer="raw", value_serializer="raw", store="memory://")
    table = app.Table(
        "reports", key_type=bytes, value_type=bytes, partitions=4, use_partitioner=True
    )
    sent: list[dict[str, Any]] = []
    table.changelog_topic.send_soon = lambda **kw: sent.append(kw)  # type: ignore[method-assign]
    assert table.partition_for_key(b"news:1") is None
    table.send_changelog(table.partition_for_key(b"news:1"), b"news:1", b"state")
    (record,) = sent
    assert (record["key"], record["value"], record["partition"]) == (b"news:1", b"state", None)
    assert record.get("headers") is None
    assert (record["key_serializer"], record["value_serializer"]) == ("raw", "raw")
    # ... and the store interface table_write and deliver use is Faust's public one.
    from faust.types.stores import StoreT  # lazy: only this pin needs it

    assert callable(StoreT.set_persisted_offset)
    assert callable(StoreT.__setitem__)
    # table_read/table_write use a partition's RocksDB, as the store itself does: its write
    # and its recovery put a key in the database of a partition, and nothing else.
    from faust.stores.rocksdb import Store  # lazy: only this pin needs it

    assert list(inspect.signature(Store._db_for_partition).parameters) == ["self", "partition"]
    assert "db.put(key, value)" in inspect.getsource(Store._set)
    assert "batches[msg.partition].put(msg.key, msg.value)" in inspect.getsource(
        Store.apply_changelog_batch
    )


_real_sleep = asyncio.sleep


async def _no_sleep(_delay: float) -> None:
    await _real_sleep(0)


# --- the Faust internals streams.runtime relies on -----------------------------------


def test_faust_private_api_used_by_runtime_is_still_there() -> None:
    """An upgrade that moves these must fail here, not corrupt a table at run time."""
    assert callable(getattr(Stream, "_set_current_event", None))
    assert list(inspect.signature(Stream._set_current_event).parameters) == ["self", "event"]
    assert callable(getattr(AIOKafkaProducer, "_ensure_producer", None))
    assert callable(getattr(AIOKafkaProducer, "key_partition", None))
    send = inspect.signature(AIOKafkaProducer.send).parameters
    assert list(send)[:7] == ["self", "topic", "key", "value", "partition", "timestamp", "headers"]


def test_aiokafkas_batch_api_is_as_send_all_uses_it() -> None:
    """_send_all builds record batches itself: the calls, and that a batch's answer is its
    first record's offset, the others following one by one."""
    send_batch = inspect.signature(AIOKafkaProducerClient.send_batch).parameters
    assert list(send_batch) == ["self", "batch", "topic", "partition"]
    assert send_batch["partition"].kind is inspect.Parameter.KEYWORD_ONLY
    assert callable(AIOKafkaProducerClient.create_batch)
    append = inspect.signature(BatchBuilder.append).parameters
    assert [p for p in append if p != "self"] == ["timestamp", "key", "value", "headers"]
    done = inspect.getsource(MessageBatch.done)
    batch_answer = done.split("self.future.set_result(", 1)[1].split(")", 1)[0]
    assert "base_offset" in batch_answer  # the batch's own answer: where it begins
    assert "offset = base_offset + metadata.offset" in done  # ... and each record's


def test_take_events_still_acks_its_batch_in_a_finally() -> None:
    """Why guarded() ends the process: take_events acks the batch even if the agent raised."""
    source = inspect.getsource(Stream.take_events)
    assert "finally:" in source and "ack" in source.split("finally:", 1)[1]


def test_faust_is_pinned_below_its_next_minor_version() -> None:
    major, minor = (int(x) for x in faust.__version__.split(".")[:2])
    assert (major, minor) == (0, 15), "runtime.py was checked against faust-streaming 0.15"


@dataclass
class FakeClient:
    """aiokafka's client as outputs_ready uses it: the topics it tracks for metadata."""

    calls: list[tuple[str, str]]
    tracked: set[str] = field(default_factory=set)

    def add_topic(self, topic: str) -> asyncio.Future[bool]:
        self.calls.append(("track", topic))
        self.tracked.add(topic)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_result(True)
        return future


@dataclass
class FakeKafkaProducer:
    calls: list[tuple[str, str]] = field(default_factory=list)
    client: FakeClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = FakeClient(self.calls)

    async def partitions_for(self, topic: str) -> set[int]:
        assert topic in self.client.tracked, f"{topic} read before it is tracked"
        self.calls.append(("partitions", topic))
        return {0, 1, 2, 3}


def test_outputs_ready_tracks_every_output_before_reading_its_metadata() -> None:
    kafka = FakeKafkaProducer()
    app: Any = type("App", (), {"producer": type("P", (), {"_ensure_producer": lambda _: kafka})()})
    asyncio.run(runtime.outputs_ready(app, ["t.updates", "t.valid", "t.dead", "t.valid"]))
    assert kafka.client.tracked == {"t.updates", "t.valid", "t.dead"}
    assert kafka.calls[:2] == [("track", "t.updates"), ("partitions", "t.updates")]
    assert asyncio.run(runtime.partitions_ready(app, "t.changelog")) == 4
    assert "t.changelog" in kafka.client.tracked


def test_aiokafka_client_api_used_by_runtime_is_still_there() -> None:
    """outputs_ready tracks topics through the producer's client (see its docstring)."""
    assert list(inspect.signature(AIOKafkaClient.add_topic).parameters) == ["self", "topic"]
    assert "client" in inspect.getsource(AIOKafkaProducerClient.__init__)
    # The reason for it: a refresh asks for the tracked topics only, once there are any.
    assert "self._topics" in inspect.getsource(AIOKafkaClient._md_synchronizer)


# --- the agents' queues across Faust's recovery ----------------------------------------


def test_resuming_a_flow_that_is_not_suspended_keeps_the_queued_events() -> None:
    """Faust's recovery resumes twice; the second must not drop what the first let in."""
    app = faust.App("flow-test")
    runtime.use_safe_rebalancing(app)
    flow = app.flow_control
    assert isinstance(flow, runtime.SettledFlowControl)
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    queue.put_nowait("held over from the last generation")
    flow.resume()  # after a suspension: the last generation's events go
    assert queue.qsize() == 0
    queue.put_nowait("delivered while the recovery seeks")
    flow.resume()  # already flowing: this generation's events stay
    assert queue.qsize() == 1
    flow.suspend()
    flow.clear()  # what Faust does when partitions are revoked
    assert queue.qsize() == 0
    queue.put_nowait("fetched before the revocation")
    flow.resume()
    assert queue.qsize() == 0


def test_faust_recovery_still_resumes_the_flow_again_after_seeking() -> None:
    """Why SettledFlowControl exists: on_recovery_completed seeks the stream partitions,
    then resumes the flow that the restore already resumed."""
    source = inspect.getsource(Recovery.on_recovery_completed)
    assert source.index("perform_seek") < source.index("flow_control.resume()")
    # ... and the restore before it resumed the flow already.
    assert "flow_control.resume" in inspect.getsource(Recovery._restart_recovery.fun)
    # What SettledFlowControl.resume reads of mode's event.
    assert callable(FlowControlEvent.is_active)
    assert "self._queues" in inspect.getsource(FlowControlEvent.clear)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.none(), st.integers(1, 64))
def test_the_cached_partitioner_picks_the_default_partition(key: bytes | None, n: int) -> None:
    partitions = list(range(n))
    cached = runtime.CachedPartitioner()
    if key is None:  # no key: any available partition, as the default picks
        assert cached(None, partitions, partitions) in partitions
        return
    for _ in range(2):  # computed, then remembered
        assert cached(key, partitions, [0]) == DefaultPartitioner()(key, partitions, [0])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 64))
def test_key_partition_is_the_default_partitioners(key: bytes, n: int) -> None:
    """An explicit partition meets what a keyed send of the same key reaches."""
    partitions = list(range(n))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert runtime.key_partition(key, n) == expected
    assert runtime.key_partition(bytearray(key), n) == expected  # remembered by value


def test_a_batch_kafka_refuses_for_good_is_sent_one_by_one_and_only_the_culprit_dies() -> None:
    """Kafka refuses a whole batch for one record: its neighbours must not be
    dead-lettered with it."""
    producer = FakeProducer({b"bad": [too_large(), too_large()]})
    sends = [
        Send("t.valid", None, value, FakeEvent(value), partition=1)  # type: ignore[arg-type]
        for value in (b"before", b"bad", b"after")
    ]
    asyncio.run(deliver(sends, "ingest", producer, "t.dead"))
    assert producer.batches[0] == ("t.valid", 1, [b"before", b"bad", b"after"])
    assert producer.alone == [b"before", b"bad", b"after"]  # then each on its own
    delivered = [(topic, value) for topic, value, _ in producer.sent]
    assert delivered[:2] == [("t.valid", b"before"), ("t.valid", b"after")]
    assert [topic for topic, _ in delivered[2:]] == ["t.dead"]
    assert b'"reason":"too_large"' in producer.sent[2][1]


def test_outputs_keep_their_order_in_a_partition_whatever_goes_alone(monkeypatch: Any) -> None:
    """A key's changelog records must reach Kafka in the order written, also when a large
    one goes on its own or a batch fills up; a batch's offsets are consecutive."""
    monkeypatch.setattr(runtime, "BATCHED_MAX_BYTES", 10)
    table = FakeTable()
    values = [b"a1", b"a2", b"large-value-1", b"a3", b"a4", b"a5", b"a6"]
    sends = [
        Send("c", b"k", v, FakeEvent(b"x"), table=table)  # type: ignore[arg-type]
        for v in values
    ]
    producer = FakeProducer(batch_limit=6)  # three 2-byte values (and the key) per batch
    asyncio.run(deliver(sends, "ingest", producer, "t.dead"))
    partition = runtime.key_partition(b"k", 4)
    assert producer.sent == [("c", v, partition) for v in values]
    assert producer.alone == [b"large-value-1"]
    assert [b[2] for b in producer.batches] == [[b"a1", b"a2"], [b"a3", b"a4"], [b"a5", b"a6"]]
    assert table.data.persisted == [(faust.types.TP("c", partition), 106)]
