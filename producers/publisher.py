"""The one way producers write to Kafka: an idempotent kafka-python producer.

:class:`Publisher` wraps :class:`kafka.KafkaProducer` with ``enable_idempotence=True`` and
``acks='all'``, so a retried batch is never written twice and a record counts as sent
only once every in-sync replica has it. Each :meth:`Publisher.send` returns a
:class:`Delivery` that completes when the broker acknowledges the record or gives up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import kafka.errors as kafka_errors
from kafka import KafkaProducer

from incidents.settings import KafkaSettings
from producers.exceptions import KafkaUnavailable, ProducerError

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


class Delivery:
    """The outcome of one send: completes when the broker acknowledges the record or gives up."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.error: BaseException | None = None

    @classmethod
    def completed(cls, error: BaseException | None = None) -> Delivery:
        delivery = cls()
        delivery.complete(error)
        return delivery

    def complete(self, error: BaseException | None) -> None:
        self.error = error
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the delivery completes; return False on timeout."""
        return self._done.wait(timeout)


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
        self.topic = topic or kafka.raw_topic
        self.bootstrap_timeout_s = bootstrap_timeout_s
        self.delivery_timeout_s = delivery_timeout_s
        self._config: dict[str, Any] = {
            **PRODUCER_DEFAULTS,
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
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    # -- lifecycle -------------------------------------------------------------------------

    def connect(self) -> None:
        """Bootstrap the producer; raise :class:`KafkaUnavailable` if no broker answers."""
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
        error. Raise :class:`KafkaUnavailable` when the topic's metadata cannot be had
        within the bootstrap timeout: then no record can be sent.
        """
        if self._producer is None:
            raise ProducerError("Publisher.send() before connect(); use `with Publisher(...)`")
        delivery = Delivery()

        def succeeded(_metadata: Any) -> None:
            self._finish(delivery, None, on_delivery)

        def failed(error: BaseException) -> None:
            logger.warning("delivery of %s to %s failed: %s", key, self.topic, error)
            self._finish(delivery, error, on_delivery)

        try:
            future = self._producer.send(
                self.topic, value=value, key=key.encode() if key is not None else None
            )
        except kafka_errors.KafkaTimeoutError as e:
            raise KafkaUnavailable(
                self.kafka.bootstrap_servers, f"no metadata for topic {self.topic}"
            ) from e
        except kafka_errors.KafkaError as e:
            failed(e)
            return delivery
        future.add_callback(succeeded)
        future.add_errback(failed)
        return delivery

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
