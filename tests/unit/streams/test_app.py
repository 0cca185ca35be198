"""streams.app: a worker reports lag on the topics its agents read, never on a changelog."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from mode.utils.locks import Event

from incidents_config.names import Topics
from incidents_config.settings import Settings
from streams.app import build_app, lag_by_topic
from streams.runtime import SeekingConsumer, stream_topics


class Partition(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    """Faust's consumer as the lag timer sees it: partitions with (position, highwater)."""

    def __init__(self, owned: dict[Partition, tuple[int | None, int | None]]) -> None:
        self.owned = owned

    def assignment(self) -> set[Partition]:
        return set(self.owned)

    async def position(self, tp: Partition) -> int | None:
        return self.owned[tp][0]

    def highwater(self, tp: Partition) -> int | None:
        return self.owned[tp][1]


def test_a_worker_consumes_its_agents_sources_and_no_changelog(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    app, names = build_app(settings)
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    assert len(changelogs) == 2  # reports, district_days
    assert stream_topics(app) == {names.raw, names.rekeyed, names.updates}
    assert not stream_topics(app) & changelogs


def test_lag_counts_owned_partitions_of_consumed_topics_only() -> None:
    names = Topics("p")
    changelog = "p-streams-reports-changelog"
    consumer = FakeConsumer(
        {
            Partition(names.raw, 0): (10, 15),
            Partition(names.raw, 1): (3, 3),
            Partition(names.updates, 2): (None, 9),  # not fetched yet: unknown, not lag
            # An active table's changelog: written, never read back; its lag only grows.
            Partition(changelog, 0): (0, 50_000),
        }
    )
    consumed = [names.raw, names.rekeyed, names.updates]
    lag = asyncio.run(lag_by_topic(consumer, consumed))
    assert lag == {names.raw: 5, names.rekeyed: 0, names.updates: 0}


class FakeThread:
    """The aiokafka consumer thread as SeekingConsumer uses it: committed offsets, seeks."""

    def __init__(self, committed: dict[Partition, int | None], consumer: Any = None) -> None:
        self.committed = committed
        self.consumer = consumer
        self.sought_to_beginning: list[Partition] = []
        self.flowing_while_seeking: list[bool] = []

    async def seek_to_committed(self) -> dict[Partition, int | None]:
        if self.consumer is not None:
            self.flowing_while_seeking.append(self.consumer.flow_active)
        return dict(self.committed)

    async def seek_to_beginning(self, *partitions: Partition) -> None:
        self.sought_to_beginning.extend(partitions)


def test_a_worker_reads_uncommitted_stream_partitions_again_after_a_rebalance(
    settings_factory: Callable[..., Settings],
) -> None:
    """aiokafka seeks back only offsets above 0; records Faust dropped during a rebalance
    on a partition nobody committed yet must be read again, from its beginning."""
    app, names = build_app(settings_factory())
    assert app.transport.Consumer is SeekingConsumer  # type: ignore[attr-defined]
    changelog = next(iter(app.tables.values())).changelog_topic.get_topic_name()
    committed: dict[Partition, int | None] = {
        Partition(names.raw, 0): None,  # never committed: sought to its beginning
        Partition(names.raw, 1): 0,  # aiokafka does not seek 0 either
        Partition(names.raw, 2): 57,  # aiokafka seeks it itself
        Partition(changelog, 0): None,  # Faust's recovery owns the changelogs
    }
    consumer = object.__new__(SeekingConsumer)
    consumer.app = app
    thread = FakeThread(committed)
    consumer._thread = thread  # type: ignore[assignment]
    assert asyncio.run(consumer.seek_to_committed()) == committed
    assert thread.sought_to_beginning == [Partition(names.raw, 0), Partition(names.raw, 1)]


def seeking_consumer(app: Any, committed: dict[Partition, int | None]) -> SeekingConsumer:
    """A SeekingConsumer with just the state its seeks touch, over a FakeThread."""
    consumer = object.__new__(SeekingConsumer)
    consumer.app = app
    consumer._thread = FakeThread(committed, consumer)  # type: ignore[assignment]
    consumer._read_offset = defaultdict(lambda: None)
    consumer._committed_offset = defaultdict(lambda: None)
    consumer.can_resume_flow = Event()
    consumer.suspend_flow = Event()
    return consumer


@pytest.mark.parametrize("flowing", [True, False])
def test_a_worker_seeks_with_its_flow_stopped_and_then_flows_as_before(
    settings_factory: Callable[..., Settings], flowing: bool
) -> None:
    """Records delivered while Faust seeks were counted against the wrong offsets."""
    app, names = build_app(settings_factory())
    raw = Partition(names.raw, 0)
    consumer = seeking_consumer(app, {raw: 57})
    consumer.resume_flow() if flowing else consumer.stop_flow()
    asyncio.run(consumer.perform_seek())
    thread: Any = consumer._thread
    assert thread.flowing_while_seeking == [False]
    assert consumer.flow_active is flowing
    assert consumer.can_resume_flow.is_set() is flowing
    # What Faust's own perform_seek does after the seek is left as it was.
    assert consumer._read_offset[raw] == 57 and consumer._committed_offset[raw] == 57


def test_the_consumer_thread_still_has_what_seeking_consumer_calls() -> None:
    assert issubclass(SeekingConsumer, Consumer)
    assert callable(AIOKafkaConsumerThread.seek_to_committed)
    assert callable(AIOKafkaConsumerThread.seek_to_beginning)
    assert "_thread" in Consumer.__annotations__
