"""The sink's poll/flush/commit loop, with a consumer that cannot commit (a fake)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import pytest
from kafka.errors import RebalanceInProgressError

from incidents_config.metrics import SINK_HEARTBEAT, SINK_REGISTRY, published_header
from incidents_config.names import Topics
from incidents_config.settings import Settings
from sinks import service
from sinks.rows import TableRow
from sinks.sink import Origin
from tests.unit.sinks import samples


class StuckConsumer:
    """Kafka-python's consumer after the hang: it fetches, but every commit fails."""

    def __init__(self, stop_after: threading.Event | None = None) -> None:
        self.commits = 0
        self.closed = False
        self.stop_after = stop_after

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        return {}

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        self.commits += 1
        raise RebalanceInProgressError("the consumer is not part of an active group")

    def assignment(self) -> set[Any]:
        return set()

    def pause(self, *partitions: Any) -> None: ...

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


class GoodConsumer(StuckConsumer):
    """The replacement: commits work; the test stops once it has polled."""

    polled = False

    def __init__(self, stop_after: threading.Event | None = None) -> None:
        super().__init__(stop_after)
        self.offsets: list[dict[Any, Any] | None] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.polled = True
        if self.stop_after is not None:
            self.stop_after.set()
        return {}

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        self.commits += 1
        self.offsets.append(offsets)


class NullSink:
    pending = 0

    def setup(self) -> None: ...

    def add(self, rows: Iterable[TableRow], origin: Origin) -> None: ...

    def flush(self) -> int:
        return 0


def test_a_consumer_that_cannot_commit_for_minutes_is_replaced(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "COMMIT_STUCK_S", 0.3)
    monkeypatch.setattr(service, "COMMIT_RETRY_S", 0.05)
    settings: Settings = settings_factory(sink={"flush_interval_s": 0.05})
    stop = threading.Event()
    stuck, good = StuckConsumer(), GoodConsumer(stop)
    consumers: list[StuckConsumer] = [stuck, good]
    batcher = service._Batcher(
        lambda: consumers.pop(0),
        NullSink(),
        settings,
        stop,
        kinds=service.topic_kinds(settings),
        group=settings.sink.group_id,
    )
    assert batcher.connect()
    batcher._messages = 1  # rows were written: the flush that follows commits
    batcher.flush_and_commit(retry=True)
    stop_by_timer = threading.Event()
    timer = threading.Timer(30, lambda: (stop_by_timer.set(), stop.set()))  # a safety net
    timer.start()
    try:
        batcher.run()
    finally:
        timer.cancel()
    assert stuck.closed and stuck.commits >= 2  # it tried again before giving up on it
    assert good.polled and not stop_by_timer.is_set()
    assert consumers == []


class RebalancingConsumer(GoodConsumer):
    """A group still rebalancing: commits fail until the consumer has polled `joins` times
    (polling is how a kafka-python consumer finishes joining); `arrivals` are what those
    polls return."""

    def __init__(self, joins: int, arrivals: list[dict[Any, Any]] | None = None) -> None:
        super().__init__()
        self.joins = joins
        self.arrivals = list(arrivals or [])
        self.polls = 0
        self.committed = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.polls += 1
        return self.arrivals.pop(0) if self.arrivals else {}

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        self.commits += 1
        if self.polls < self.joins:
            raise RebalanceInProgressError("the consumer is undergoing a rebalance")
        self.committed += 1


def stopped_batcher_with_a_failed_commit(settings_factory: Any, consumer: Any) -> Any:
    settings: Settings = settings_factory(sink={"flush_interval_s": 60.0})
    stop = threading.Event()
    batcher = batcher_on(settings, consumer, stop, live=False)
    batcher._messages = 1  # rows were written; their commit fails (a rebalance)
    batcher.flush_and_commit(retry=True)
    assert consumer.committed == 0
    stop.set()  # stopped before the retry COMMIT_RETRY_S later
    batcher.run()
    return batcher


def test_a_stopping_sink_commits_what_it_wrote_once_a_rebalance_is_over(
    settings_factory: Any,
) -> None:
    consumer = RebalancingConsumer(joins=3)
    stopped_batcher_with_a_failed_commit(settings_factory, consumer)
    assert consumer.committed == 1 and consumer.polls == 3


def test_a_stopping_sink_does_not_commit_past_records_a_rebalance_handed_it(
    settings_factory: Any,
) -> None:
    handed = {Partition("t", 0): [Record("t", 0, 7, 0, b"{}", [])]}
    consumer = RebalancingConsumer(joins=1, arrivals=[handed])
    stopped_batcher_with_a_failed_commit(settings_factory, consumer)
    assert consumer.committed == 0  # offset 7 was never written: the next owner reads it


# --- what the batcher tells Prometheus: heartbeat, lag, publish-to-queryable ---------------


class Partition(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    """What kafka-python's consumer returns for one message (the fields the sink reads)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes
    headers: list[tuple[str, bytes]]


class FetchingConsumer(GoodConsumer):
    """Owns partitions with known offsets; returns `batches` from its first polls."""

    def __init__(
        self,
        owned: dict[Partition, tuple[int, int]],  # (position, highwater)
        batches: list[list[Record]] | None = None,
        stop_after_polls: int = 3,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(stop)
        self.owned = owned
        self.batches = list(batches or [])
        self.polls = 0
        self.stop_after_polls = stop_after_polls

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.polls += 1
        if self.polls >= self.stop_after_polls and self.stop_after is not None:
            self.stop_after.set()
        if self.batches:
            records = self.batches.pop(0)
            return {Partition(r.topic, r.partition): records for r in records}
        return {}

    def assignment(self) -> set[Any]:
        return set(self.owned)

    def highwater(self, tp: Partition) -> int:
        return self.owned[tp][1]

    def position(self, tp: Partition, timeout_ms: int = 0) -> int:
        return self.owned[tp][0]


def batcher_on(
    settings: Settings,
    consumer: StuckConsumer,
    stop: threading.Event,
    *,
    live: bool = True,
    observers: tuple[Any, ...] = (),
) -> Any:
    batcher = service._Batcher(
        lambda: consumer,
        NullSink(),
        settings,
        stop,
        observers,
        kinds=service.topic_kinds(settings, 0),
        group="g-test",
        live=live,
    )
    assert batcher.connect()
    return batcher


def heartbeat() -> float:
    return SINK_REGISTRY.get_sample_value("incidents_sink_heartbeat_timestamp_seconds") or 0.0


def queryable(table: str) -> tuple[float, float]:
    """(count, sum) of the publish-to-queryable histogram for `table`, so far."""
    count = SINK_REGISTRY.get_sample_value(
        "incidents_publish_to_queryable_seconds_count", {"table": table}
    )
    total = SINK_REGISTRY.get_sample_value(
        "incidents_publish_to_queryable_seconds_sum", {"table": table}
    )
    return count or 0.0, total or 0.0


def test_an_idle_live_sink_beats_its_heartbeat_and_reports_lag_on_every_topic_it_reads(
    settings_factory: Any,
) -> None:
    settings: Settings = settings_factory(sink={"flush_interval_s": 0.05})
    names = Topics.of(settings, 0)
    owned = {Partition(names.valid, 0): (4, 10), Partition(names.snapshots, 1): (7, 7)}
    stop = threading.Event()
    SINK_HEARTBEAT.set(0)
    before = time.time()
    batcher_on(settings, FetchingConsumer(owned, stop=stop), stop).run()  # nothing to write
    assert heartbeat() >= before
    lag = {
        topic: SINK_REGISTRY.get_sample_value(
            "incidents_consumer_lag", {"group": "g-test", "topic": topic}
        )
        for topic in service.topic_kinds(settings, 0)
    }
    assert lag[names.valid] == 6 and lag[names.snapshots] == 0
    assert lag[names.dead_letter] == 0  # read, but no partition of it owned: 0, not stale


def test_a_replays_build_batcher_does_not_beat_the_live_sinks_heartbeat(
    settings_factory: Any,
) -> None:
    settings: Settings = settings_factory(sink={"flush_interval_s": 0.05})
    stop = threading.Event()
    SINK_HEARTBEAT.set(0)
    batcher_on(settings, FetchingConsumer({}, stop=stop), stop, live=False).run()
    assert heartbeat() == 0


def test_publish_to_queryable_is_observed_once_the_rows_are_written(
    settings_factory: Any,
) -> None:
    settings: Settings = settings_factory(sink={"flush_interval_s": 60.0, "batch_size": 1000})
    names = Topics.of(settings, 0)
    published = int((time.time() - 2.0) * 1000)  # two seconds ago, on the raw topic
    value = samples.report().model_dump_json().encode()
    carried = Record(names.valid, 0, 1, 0, value, [published_header(published)])
    unmarked = Record(names.valid, 0, 2, 0, value, [])  # from a worker without the header
    for live, observed in ((True, 1.0), (False, 0.0)):
        stop = threading.Event()
        batcher = batcher_on(settings, FetchingConsumer({}), stop, live=live)
        count, total = queryable("report_versions")
        batcher.add([carried, unmarked])
        assert queryable("report_versions") == (count, total)  # buffered: not queryable yet
        batcher.flush_and_commit(retry=True)
        new_count, new_total = queryable("report_versions")
        assert new_count - count == observed
        if live:
            assert 2.0 <= new_total - total < 60.0


def test_a_bundle_of_reports_is_a_row_and_a_latency_per_report(settings_factory: Any) -> None:
    """A reports.valid bundle (many reports, one message) counts its rows toward
    SINK_BATCH_SIZE, and each report's own publication toward publish-to-queryable."""
    settings: Settings = settings_factory(sink={"flush_interval_s": 60.0, "batch_size": 3})
    names = Topics.of(settings, 0)
    now_ms = int(time.time() * 1000)
    delays = (3.0, 5.0, 7.0)  # each report was published this long ago, in s
    reports = [
        samples.report(source_event_id=f"e-{i}").model_dump_json().encode() for i in range(3)
    ]
    origins = ",".join(
        f'["{names.raw}",0,{i},{now_ms - int(d * 1000)}]' for i, d in enumerate(delays)
    )
    value = b'{"reports":[%s],"origins":[%s]}' % (b",".join(reports), origins.encode())
    header = [published_header(now_ms - 7000)]  # the bundle's oldest report
    batcher = batcher_on(settings, FetchingConsumer({}), threading.Event(), live=True)
    count, total = queryable("report_versions")
    batcher.add([Record(names.valid, 0, 1, 0, value[:40] + b"x", header)])  # one bad message
    assert not batcher._due()  # one row so far, three make a batch
    batcher.add([Record(names.valid, 0, 2, 0, value, header)])
    assert batcher._due()
    batcher.flush_and_commit(retry=True)
    new_count, new_total = queryable("report_versions")
    assert new_count - count == 4  # the bad message's header, then one per bundled report
    assert sum(delays) + 7.0 <= new_total - total < sum(delays) + 7.0 + 60.0


# --- an observer that acts later holds the commit back -------------------------------------


class LaterObserver:
    """Notes written batches; acts on them when the test says (like alerting's thread,
    between evaluations)."""

    def __init__(self) -> None:
        self.noted = 0
        self.done = 0
        self.alive = time.time()

    def start(self) -> None: ...

    def written(self, batch: Any) -> None:
        self.noted += 1

    def acted(self) -> int:
        return self.done

    def alive_at(self) -> float:
        return self.alive

    def stop(self) -> None: ...


def test_written_batches_are_committed_only_once_every_observer_has_acted_on_them(
    settings_factory: Any,
) -> None:
    """Each flush's offsets are those the consumer had then; the sink commits the newest
    flush every observer has acted on, and keeps writing meanwhile."""
    settings: Settings = settings_factory(sink={"flush_interval_s": 60.0, "batch_size": 1000})
    names = Topics.of(settings, 0)
    value = samples.report().model_dump_json().encode()
    observer = LaterObserver()
    stop = threading.Event()
    valid = Partition(names.valid, 0)
    consumer = FetchingConsumer({valid: (0, 10)}, stop_after_polls=1, stop=stop)
    batcher = batcher_on(settings, consumer, stop, observers=(observer,))
    for offset in (1, 2, 3):
        batcher.add([Record(names.valid, 0, offset, 0, value, [])])
        consumer.owned[valid] = (offset + 1, 10)  # the consumer's position after it
        batcher.flush_and_commit(retry=True)
    assert observer.noted == 3 and consumer.commits == 0  # written, held back
    observer.done = 2  # the observer has acted on the first two flushes, not the third
    batcher.run()  # one poll: the batcher commits what was acted on; then it stops
    assert consumer.commits == 1
    assert consumer.offsets == [{valid: (3, "", -1)}]  # past offset 2: the third waits
    observer.done = 3
    batcher.flush_and_commit(retry=False)  # nothing buffered: commits what is acted on
    assert consumer.offsets[-1] == {valid: (4, "", -1)}
    assert batcher._uncommitted == []


def test_offsets_of_a_partition_the_consumer_no_longer_owns_are_not_committed(
    settings_factory: Any,
) -> None:
    settings: Settings = settings_factory(sink={"flush_interval_s": 60.0})
    names = Topics.of(settings, 0)
    value = samples.report().model_dump_json().encode()
    kept, lost = Partition(names.valid, 0), Partition(names.valid, 1)
    consumer = FetchingConsumer({kept: (5, 9), lost: (8, 9)})
    observer = LaterObserver()
    batcher = batcher_on(settings, consumer, threading.Event(), observers=(observer,))
    batcher.add([Record(names.valid, 0, 4, 0, value, []), Record(names.valid, 1, 7, 0, value, [])])
    batcher.flush_and_commit(retry=True)
    del consumer.owned[lost]  # a rebalance gave it to another member meanwhile
    observer.done = 1
    batcher.flush_and_commit(retry=True)
    assert consumer.offsets == [{kept: (5, "", -1)}]


def test_the_heartbeat_is_never_newer_than_an_observers_last_sign_of_life(
    settings_factory: Any,
) -> None:
    """Alerting evaluates on its own thread: one stuck in an evaluation holds every commit
    back, so the sink's heartbeat stops with it (IncidentsSinkStuck, `incidents status`)."""
    settings: Settings = settings_factory(sink={"flush_interval_s": 0.05})
    observer = LaterObserver()
    observer.alive = time.time() - 600.0  # its thread has not ended a step for 10 minutes
    stop = threading.Event()
    batcher = batcher_on(settings, FetchingConsumer({}, stop=stop), stop, observers=(observer,))
    SINK_HEARTBEAT.set(0)
    batcher.run()
    assert heartbeat() == observer.alive
    observer.alive = time.time()
    stop.clear()
    batcher.run()
    assert heartbeat() >= observer.alive


class CommitsAfterARebalance(FetchingConsumer):
    """Its first commit fails (a rebalance under way); it keeps its partitions and their
    positions, as kafka-python does for a partition a rebalance leaves where it was."""

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        if self.commits == 0:
            self.commits += 1
            raise RebalanceInProgressError("the consumer is undergoing a rebalance")
        super().commit(offsets)


def test_a_flush_whose_commit_failed_in_a_rebalance_is_committed_after_it(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing will read that flush's records again (the position stayed past them), so
    its offsets must still be committed once the rebalance is over, or the lag never ends
    (a replay once stalled so)."""
    monkeypatch.setattr(service, "COMMIT_RETRY_S", 0.0)
    settings: Settings = settings_factory(sink={"flush_interval_s": 60.0})
    names = Topics.of(settings, 0)
    valid = Partition(names.valid, 0)
    stop = threading.Event()
    consumer = CommitsAfterARebalance({valid: (5, 5)}, stop_after_polls=2, stop=stop)
    batcher = batcher_on(settings, consumer, stop)
    batcher.add([Record(names.valid, 0, 4, 0, samples.report().model_dump_json().encode(), [])])
    batcher.flush_and_commit(retry=True)
    assert consumer.offsets == []  # the commit failed
    batcher.run()  # no more records: the retry commits the same flush
    assert consumer.offsets[0] == {valid: (5, "", -1)}
