"""The one way producers write to Kafka: an idempotent kafka-python producer.

:class:`Publisher` wraps :class:`kafka.KafkaProducer` with ``enable_idempotence=True`` and
``acks='all'``, so a retried batch is never written twice and a record counts as sent
only once every in-sync replica has it. Each :meth:`Publisher.send` returns a
:class:`Delivery` that completes when the broker acknowledges the record or gives up.

Size: a record's key and value together may take at most :func:`record_limit` bytes,
``KAFKA_MAX_MESSAGE_BYTES`` (the topics' ``max.message.bytes``) minus
:data:`RECORD_OVERHEAD_BYTES` for the record batch around it; a larger record fails at once
with :class:`RecordTooLarge`, without reaching Kafka. That matters beyond one record:
kafka-python's idempotent producer treats a broker's "message too large" as fatal and fails
every later record too. Should the broker refuse one anyway (a topic configured smaller
than the setting), the publisher lowers its own limit below that record, replaces the
broken producer, and fails the records lost with it with :class:`ProducerReset` (transient).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import kafka.errors as kafka_errors
from kafka import KafkaProducer

from incidents_config.names import Topics
from incidents_config.settings import KafkaSettings
from producers.exceptions import KafkaUnavailable, ProducerError, ProducerReset, RecordTooLarge

logger = logging.getLogger(__name__)

DeliveryCallback = Callable[[BaseException | None], None]

# kafka-python 2.x raises NoBrokersAvailable when bootstrap fails; 3.x raises KafkaTimeoutError.
_BOOTSTRAP_ERRORS: tuple[type[Exception], ...] = tuple(
    cls
    for cls in (getattr(kafka_errors, "NoBrokersAvailable", None), kafka_errors.KafkaTimeoutError)
    if cls is not None
)

# Batching: a short linger fills batches under load and costs at most 20 ms per request.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "linger_ms": 20,
    "batch_size": 128 * 1024,
    "max_in_flight_requests_per_connection": 5,  # the idempotent producer's ceiling
}

# What a record batch holding one record adds to its key and value: 61 bytes of batch
# header, about 20 of record framing; the rest is margin.
RECORD_OVERHEAD_BYTES = 512

# The broker's and kafka-python's "too large": sending the record again fails again.
SIZE_ERRORS: tuple[type[BaseException], ...] = (
    RecordTooLarge,
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
)


def record_limit(max_message_bytes: int) -> int:
    """Return the most bytes a record's key and value may take together."""
    return max_message_bytes - RECORD_OVERHEAD_BYTES


def too_large(size: int, max_message_bytes: int) -> RecordTooLarge:
    """Build the error for a record of ``size`` bytes (key and value) that cannot fit."""
    return RecordTooLarge(
        size,
        record_limit(max_message_bytes),
        f"KAFKA_MAX_MESSAGE_BYTES {max_message_bytes:,} minus {RECORD_OVERHEAD_BYTES}"
        " bytes of record overhead",
    )


def is_permanent(error: BaseException) -> bool:
    """True when the record itself was refused, so sending it again would fail again."""
    return isinstance(error, SIZE_ERRORS)


# Guards the creation of a waiter's Event (completing takes no lock; see Delivery.wait).
_WAITERS_LOCK = threading.Lock()


class Delivery:
    """The outcome of one send: completes when the broker acknowledges the record or gives up.

    Cheap by design, one per record: no :class:`threading.Event` until :meth:`wait` is
    called on a delivery still pending (most callers only count outcomes in a callback).
    """

    __slots__ = ("_done", "_event", "error")

    def __init__(self) -> None:
        self._done = False
        self._event: threading.Event | None = None
        self.error: BaseException | None = None

    @classmethod
    def completed(cls, error: BaseException | None = None) -> Delivery:
        delivery = cls()
        delivery.error = error
        delivery._done = True
        return delivery

    def complete(self, error: BaseException | None) -> None:
        self.error = error
        self._done = True  # then look for a waiter: wait() does the converse
        event = self._event
        if event is not None:
            event.set()

    @property
    def done(self) -> bool:
        return self._done

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the delivery completes; return False on timeout."""
        if self._done:
            return True
        with _WAITERS_LOCK:
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        # complete() sets _done before it reads _event, and this reads _done after setting
        # _event: one of the two sees the other's write, so no completion goes unnoticed.
        if self._done:
            return True
        return event.wait(timeout)


class RecordSink(Protocol):
    """What the producers need from a publisher (unit tests inject a fake)."""

    def send(
        self, key: str | None, value: bytes, on_delivery: DeliveryCallback | None = None
    ) -> Delivery: ...

    def flush(self) -> None: ...


class Publisher:
    """Publish keyed records to one topic (``settings.raw_topic`` unless told otherwise)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        topic: str | None = None,
        bootstrap_timeout_s: float = 10.0,
        delivery_timeout_s: float = 30.0,
        **producer_config: Any,
    ) -> None:
        self.kafka = kafka
        self.topic = topic or Topics(kafka.topic_prefix).raw
        self.bootstrap_timeout_s = bootstrap_timeout_s
        self.delivery_timeout_s = delivery_timeout_s
        self._config: dict[str, Any] = {
            **PRODUCER_DEFAULTS,
            # A batch of several records must fit the topics' max.message.bytes as well.
            "batch_size": min(PRODUCER_DEFAULTS["batch_size"], kafka.max_message_bytes),
            "max_request_size": kafka.max_message_bytes,
            **kafka.client_kwargs(),
            "bootstrap_timeout_ms": int(bootstrap_timeout_s * 1000),
            "max_block_ms": int(bootstrap_timeout_s * 1000),
            "request_timeout_ms": int(min(delivery_timeout_s, 30.0) * 1000),
            "delivery_timeout_ms": int(delivery_timeout_s * 1000),
            **producer_config,
            "enable_idempotence": True,
            "acks": "all",
        }
        if self._config["max_in_flight_requests_per_connection"] > 5:
            raise ProducerError("max_in_flight_requests_per_connection must be <= 5")
        # Kafka requires delivery.timeout >= linger + request timeout.
        self._config["delivery_timeout_ms"] = max(
            self._config["delivery_timeout_ms"],
            self._config["request_timeout_ms"] + self._config["linger_ms"],
        )
        self._producer: KafkaProducer | None = None
        self._open = False  # between connect() and close()
        self._lock = threading.Lock()
        self._generation = 0  # bumped whenever a broken producer is replaced
        self._broken = False
        self.max_record_bytes = record_limit(kafka.max_message_bytes)
        self._refused_size: int | None = None  # smallest record the broker refused as too large
        self.delivered = 0
        self.failed = 0

    # -- lifecycle -------------------------------------------------------------------------

    def connect(self) -> None:
        """Bootstrap the producer; raise :class:`KafkaUnavailable` if no broker answers."""
        self._open = True
        if self._producer is not None:
            return
        try:
            self._producer = KafkaProducer(**self._config)
        except _BOOTSTRAP_ERRORS as e:
            raise KafkaUnavailable(self.kafka.bootstrap_servers) from e
        except kafka_errors.KafkaConnectionError as e:
            raise KafkaUnavailable(self.kafka.bootstrap_servers, str(e)) from e
        logger.info("connected to Kafka at %s, topic %s", self.kafka.bootstrap_servers, self.topic)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is buffered, then close the producer."""
        self._open = False
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self.delivery_timeout_s if timeout_s is None else timeout_s)

    def __enter__(self) -> Publisher:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- publishing ------------------------------------------------------------------------

    def send(
        self, key: str | None, value: bytes, on_delivery: DeliveryCallback | None = None
    ) -> Delivery:
        """Queue one record; ``on_delivery(error_or_None)`` runs when its fate is known.

        A record the producer refuses outright (too large ...) completes at once with the
        error; :func:`is_permanent` tells such errors from transient ones. Raise
        :class:`KafkaUnavailable` when the topic's metadata cannot be had within the
        bootstrap timeout: then no record can be sent.
        """
        producer, generation = self._current_producer()
        delivery = Delivery()
        key_bytes = key.encode() if key is not None else None
        size = len(value) + len(key_bytes) if key_bytes is not None else len(value)
        if size > self.max_record_bytes:
            self._failed(delivery, on_delivery, key, self._too_large(size))
            return delivery
        try:
            future = producer.send(self.topic, value=value, key=key_bytes)
        except kafka_errors.KafkaTimeoutError as e:
            raise KafkaUnavailable(
                self.kafka.bootstrap_servers, f"no metadata for topic {self.topic}"
            ) from e
        except kafka_errors.KafkaError as e:  # refused before queueing: the producer is fine
            self._failed(delivery, on_delivery, key, e)
            return delivery
        # kafka-python calls back on its I/O thread: one bound method per outcome, no closures.
        future.add_callback(self._succeeded, delivery, on_delivery)
        future.add_errback(self._failed_async, delivery, on_delivery, key, generation, size)
        return delivery

    def _succeeded(
        self, delivery: Delivery, on_delivery: DeliveryCallback | None, _metadata: Any
    ) -> None:
        self._finish(delivery, None, on_delivery)

    def _failed(
        self,
        delivery: Delivery,
        on_delivery: DeliveryCallback | None,
        key: str | None,
        error: BaseException,
    ) -> None:
        logger.warning("delivery of %.80s to %s failed: %s", key, self.topic, error)
        self._finish(delivery, error, on_delivery)

    def _failed_async(
        self,
        delivery: Delivery,
        on_delivery: DeliveryCallback | None,
        key: str | None,
        generation: int,
        size: int,
        error: BaseException,
    ) -> None:
        self._failed(delivery, on_delivery, key, self._after_failure(error, generation, size))

    def _current_producer(self) -> tuple[KafkaProducer, int]:
        """Return the producer to send with, first replacing one a failure has broken."""
        with self._lock:  # the common case: the producer is open and sound
            if self._open and not self._broken and self._producer is not None:
                return self._producer, self._generation
        broken: KafkaProducer | None = None
        try:
            with self._lock:
                if not self._open:
                    raise ProducerError(
                        "Publisher.send() before connect(); use `with Publisher(...)`"
                    )
                if self._broken:
                    broken, self._producer = self._producer, None
                    self._generation += 1
                    self._broken = False
                if self._producer is None:
                    logger.warning("starting a new Kafka producer: a refused record broke the last")
                    self.connect()  # on KafkaUnavailable the next send tries again
                assert self._producer is not None
                return self._producer, self._generation
        finally:
            if broken is not None:
                broken.close(timeout=0)  # every record it held has failed already

    def _after_failure(self, error: BaseException, generation: int, size: int) -> BaseException:
        """Note what a failed delivery says about the producer; return the error to report.

        kafka-python's idempotent producer turns a non-retriable error into a fatal state
        that fails every later record: the first such failure marks the producer broken
        (it is replaced on the next send), and records lost with it get
        :class:`ProducerReset`.
        """
        with self._lock:
            if generation != self._generation or self._broken:
                return ProducerReset(
                    "not sent: the Kafka producer was reset after another record was refused"
                    f" ({type(error).__name__}); sending again is safe"
                )
            if isinstance(error, kafka_errors.RetriableError):
                return error
            self._broken = True
            if not isinstance(error, SIZE_ERRORS):
                return error
            # Kafka refused this size: refuse it, and anything as large, before sending.
            self._refused_size = min(size, self._refused_size or size)
            self.max_record_bytes = min(self.max_record_bytes, size - 1)
            return self._too_large(size, refused=True)

    def _too_large(self, size: int, *, refused: bool = False) -> RecordTooLarge:
        if self._refused_size is None:
            return too_large(size, self.kafka.max_message_bytes)
        what = "it" if refused else f"a record of {self._refused_size:,} bytes"
        return RecordTooLarge(
            size,
            self.max_record_bytes,
            f"Kafka refused {what} on {self.topic}: the topic's max.message.bytes is below"
            f" KAFKA_MAX_MESSAGE_BYTES {self.kafka.max_message_bytes:,}",
        )

    def _finish(
        self, delivery: Delivery, error: BaseException | None, callback: DeliveryCallback | None
    ) -> None:
        with self._lock:
            if error is None:
                self.delivered += 1
            else:
                self.failed += 1
        if callback is not None:
            try:
                callback(error)
            except Exception:  # a counting bug must not kill kafka-python's I/O thread
                logger.exception("delivery callback failed")
        delivery.complete(error)

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every queued record is acknowledged or has failed."""
        if self._producer is None:
            return
        timeout = self.delivery_timeout_s + 5.0 if timeout_s is None else timeout_s
        try:
            self._producer.flush(timeout=timeout)
        except kafka_errors.KafkaTimeoutError as e:
            raise KafkaUnavailable(
                self.kafka.bootstrap_servers, f"deliveries not confirmed within {timeout:.0f} s"
            ) from e
