"""Deliveries without an Event per record: nothing lost, failures counted, waits still work.

The Publisher runs on a stand-in for kafka-python's producer whose futures are real
``kafka.future.Future``s, resolved later (as kafka-python's I/O thread resolves a batch).
"""

from __future__ import annotations

import threading
from typing import Any

import kafka.errors as kafka_errors
import pytest
from kafka.future import Future

from incidents_config.settings import Settings
from producers.exceptions import ProducerReset, RecordTooLarge
from producers.publisher import Delivery, Publisher, is_permanent


class StandInProducer:
    """Queue futures; ``resolve`` completes them (successfully unless told otherwise)."""

    def __init__(self) -> None:
        self.pending: list[tuple[bytes | None, Future]] = []
        self.fail: dict[bytes | None, BaseException] = {}
        self.closed = False

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> Future:
        future = Future()
        self.pending.append((key, future))
        return future

    def resolve(self) -> None:
        pending, self.pending = self.pending, []
        for key, future in pending:
            if key in self.fail:
                future.failure(self.fail[key])
            else:
                future.success(None)

    def flush(self, timeout: float | None = None) -> None:
        self.resolve()

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory()


@pytest.fixture
def publisher(settings: Settings) -> tuple[Publisher, StandInProducer]:
    publisher = Publisher(settings.kafka)
    producer = StandInProducer()
    publisher._producer = producer  # type: ignore[assignment]
    publisher._open = True
    return publisher, producer


def test_a_delivery_waits_only_when_asked() -> None:
    delivery = Delivery()
    assert not delivery.done
    assert delivery._event is None  # no Event until someone waits
    assert delivery.wait(0.01) is False
    delivery.complete(None)
    assert delivery.done and delivery.wait(0) and delivery.error is None
    failed = Delivery.completed(RuntimeError("no"))
    assert failed.done and failed.wait() and isinstance(failed.error, RuntimeError)
    assert failed._event is None


def test_a_waiter_wakes_when_another_thread_completes() -> None:
    for _ in range(200):  # completion racing the waiter's first look
        delivery = Delivery()
        error = RuntimeError("late")
        threading.Timer(0.0005, delivery.complete, (error,)).start()
        assert delivery.wait(5.0)
        assert delivery.error is error


def test_many_waiters_and_completers_lose_nothing() -> None:
    deliveries = [Delivery() for _ in range(2000)]
    woken: list[bool] = []

    def wait_all() -> None:
        woken.append(all(d.wait(10.0) for d in deliveries))

    waiters = [threading.Thread(target=wait_all) for _ in range(3)]
    for t in waiters:
        t.start()
    for d in deliveries:
        d.complete(None)
    for t in waiters:
        t.join(20)
    assert woken == [True, True, True]


def test_every_outcome_is_counted_and_called_back(
    publisher: tuple[Publisher, StandInProducer],
) -> None:
    pub, producer = publisher
    producer.fail[b"s:bad"] = kafka_errors.KafkaTimeoutError()  # retriable: reported as is
    outcomes: list[BaseException | None] = []
    deliveries = [pub.send(f"s:{i}", b"{}", outcomes.append) for i in range(1000)]
    bad = pub.send("s:bad", b"{}", outcomes.append)
    assert not any(d.done for d in deliveries) and not outcomes  # nothing known before acks
    pub.flush()
    assert len(outcomes) == 1001
    assert all(d.done and d.error is None for d in deliveries)
    assert isinstance(bad.error, kafka_errors.KafkaTimeoutError)
    assert (pub.delivered, pub.failed) == (1000, 1)
    assert all(d._event is None for d in deliveries)  # nobody waited: no Event was made


def test_a_record_too_large_fails_at_once(
    publisher: tuple[Publisher, StandInProducer],
) -> None:
    pub, producer = publisher
    outcomes: list[BaseException | None] = []
    delivery = pub.send("s:big", b"x" * (pub.max_record_bytes + 1), outcomes.append)
    assert delivery.done and isinstance(delivery.error, RecordTooLarge)
    assert is_permanent(delivery.error) and outcomes == [delivery.error]
    assert producer.pending == [] and pub.failed == 1


def test_a_broker_refusal_resets_the_producer_and_fails_its_records_transiently(
    publisher: tuple[Publisher, StandInProducer],
) -> None:
    pub, producer = publisher
    producer.fail[b"s:huge"] = kafka_errors.MessageSizeTooLargeError()
    producer.fail[b"s:after"] = kafka_errors.IllegalStateError()  # the producer went fatal
    huge = pub.send("s:huge", b"x" * 1000)
    after = pub.send("s:after", b"{}")
    producer.resolve()
    assert isinstance(huge.error, RecordTooLarge) and is_permanent(huge.error)
    assert isinstance(after.error, ProducerReset)
    assert pub.max_record_bytes < 1000 + len(b"s:huge")
    assert pub._broken
