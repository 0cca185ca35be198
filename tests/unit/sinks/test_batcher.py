"""The sink's poll/flush/commit loop, with a consumer that cannot commit (a fake)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pytest
from kafka.errors import RebalanceInProgressError

from incidents_config.settings import Settings
from sinks import service
from sinks.rows import TableRow
from sinks.sink import Origin


class StuckConsumer:
    """Kafka-python's consumer after the hang: it fetches, but every commit fails."""

    def __init__(self, stop_after: threading.Event | None = None) -> None:
        self.commits = 0
        self.closed = False
        self.stop_after = stop_after

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        return {}

    def commit(self) -> None:
        self.commits += 1
        raise RebalanceInProgressError("the consumer is not part of an active group")

    def assignment(self) -> set[Any]:
        return set()

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


class GoodConsumer(StuckConsumer):
    """The replacement: commits work; the test stops once it has polled."""

    polled = False

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.polled = True
        if self.stop_after is not None:
            self.stop_after.set()
        return {}

    def commit(self) -> None:
        self.commits += 1


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
