"""HTTP push endpoint for upstream feeds: ``POST /v1/reports`` -> Kafka.

* ``Authorization: Bearer <token>`` (``PUSH_TOKEN``) is required; without a configured
  token the app refuses to start unless ``PUSH_OPEN=true`` (local use).
* The body is one JSON report (``application/json``) or a batch of JSON lines
  (``application/x-ndjson``; blank lines are ignored) of at most ``PUSH_MAX_BODY_BYTES``
  and ``PUSH_MAX_ITEMS`` reports (more: ``413``, with the cap in the message).
* Every item is validated against the contract; valid ones are published (original
  bytes, keyed ``source:source_event_id``) and the answer waits for Kafka's
  acknowledgement: ``202 {"accepted": n, "rejected": m, "rejections": [{"index": i,
  "errors": [...]}]}``, where ``index`` is the item's 0-based line in the body. Whatever
  an item holds (binary, JSON nested 100,000 deep, a report too large for one Kafka
  message), it is rejected on its own and its neighbours go on.
* Kafka unreachable or not confirming -> ``503``; resending is safe, the stream
  deduplicates by report id and version. A record Kafka refuses for good (too large) is
  a rejection, never a 503.

``GET /healthz`` answers ``200`` while the process runs and says whether Kafka is connected.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from incidents_config.metrics import PUSH_ITEMS, PUSH_REGISTRY, PUSH_REQUESTS, serve
from incidents_config.names import PUSH, Topics, url_file
from incidents_config.settings import Settings, load_settings
from producers.exceptions import DeliveryFailed, KafkaUnavailable, ProducerError, PushConfigError
from producers.pipeline import check_record
from producers.publisher import Publisher, RecordSink, is_permanent
from schemas.errors import FieldError

logger = logging.getLogger(__name__)

JSON = "application/json"
NDJSON = "application/x-ndjson"
REPORTS_PATH = "/v1/reports"


@dataclass
class ItemResults:
    """The outcome of validating one request's items."""

    accepted: list[tuple[int, str, bytes]] = field(default_factory=list)  # (index, key, value)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, refused: dict[int, BaseException]) -> None:
        """Move the accepted items Kafka refused for good (by position) to the rejections."""
        for position, error in refused.items():
            index = self.accepted[position][0]
            self.rejections.append(
                {"index": index, "errors": [FieldError.whole(str(error)).model_dump()]}
            )
        self.accepted = [item for i, item in enumerate(self.accepted) if i not in refused]
        self.rejections.sort(key=lambda rejection: int(rejection["index"]))

    def body(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "rejected": len(self.rejections),
            "rejections": self.rejections,
        }


def split_items(body: bytes, content_type: str) -> list[tuple[int, bytes]]:
    """Return ``(index, bytes)`` per item: the whole JSON body, or each non-blank line."""
    if content_type == JSON:
        value = body.strip()
        return [(0, value)] if value else []
    return [(i, line.strip()) for i, line in enumerate(body.split(b"\n")) if line.strip()]


def too_many(body: bytes, most: int) -> bool:
    """Whether an NDJSON body holds more than `most` non-blank lines (stops counting there)."""
    count = 0
    for line in body.split(b"\n"):
        if line.strip():
            count += 1
            if count > most:
                return True
    return False


def validate_items(items: list[tuple[int, bytes]], max_message_bytes: int) -> ItemResults:
    """Validate each item against the contract and its size, and key the valid ones."""
    results = ItemResults()
    for index, value in items:
        key, errors = check_record(value, max_message_bytes=max_message_bytes)
        if errors:
            results.rejections.append({"index": index, "errors": [e.model_dump() for e in errors]})
        else:
            results.accepted.append((index, key or "", value))
    return results


class KafkaGate:
    """The endpoint's publisher: connects on first use and confirms each batch's delivery.

    Blocking; the handlers call it in a thread. kafka-python's producer is thread-safe,
    so concurrent requests share one producer.
    """

    def __init__(self, settings: Settings, publisher: RecordSink | None = None) -> None:
        self._settings = settings
        self._publisher: RecordSink | None = publisher
        self._owned: Publisher | None = None
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self._publisher is not None

    def _ensure(self) -> RecordSink:
        with self._lock:
            if self._publisher is None:
                push = self._settings.push
                publisher = Publisher(
                    self._settings.kafka,
                    bootstrap_timeout_s=push.connect_timeout_s,
                    delivery_timeout_s=push.delivery_timeout_s,
                    linger_ms=5,  # a request waits for its batch: keep the wait short
                )
                publisher.connect()
                self._owned = self._publisher = publisher
            return self._publisher

    def publish(self, records: list[tuple[str, bytes]]) -> dict[int, BaseException]:
        """Publish and wait for every acknowledgement; raise if any is missing.

        Return the records Kafka refused for good (too large), by position: sending them
        again would fail again, so they are the client's to fix, not a reason for 503.
        """
        publisher = self._ensure()
        deliveries = [publisher.send(key, value) for key, value in records]
        deadline = time.monotonic() + self._settings.push.delivery_timeout_s
        for delivery in deliveries:
            if not delivery.wait(max(0.0, deadline - time.monotonic())):
                raise KafkaUnavailable(
                    self._settings.kafka.bootstrap_servers, "delivery not confirmed in time"
                )
        refused = {
            i: d.error
            for i, d in enumerate(deliveries)
            if d.error is not None and is_permanent(d.error)
        }
        failures = [
            d.error for d in deliveries if d.error is not None and not is_permanent(d.error)
        ]
        if failures:
            raise DeliveryFailed(
                f"Kafka did not accept {len(failures)} of {len(records)} reports: {failures[0]}"
            )
        return refused

    def close(self) -> None:
        with self._lock:
            if self._owned is not None:
                self._owned.close()
            self._owned = self._publisher = None


GATE = web.AppKey("gate", KafkaGate)
SETTINGS = web.AppKey("settings", Settings)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def _authorized(request: web.Request, settings: Settings) -> bool:
    token = settings.push.token
    if token is None:
        return True  # create_app only allows this when push.open is set
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


async def post_reports(request: web.Request) -> web.Response:
    """Validate and publish one report or an NDJSON batch; 202 once Kafka has them."""
    settings = request.app[SETTINGS]
    if not _authorized(request, settings):
        return _error(401, "missing or wrong bearer token", **{"WWW-Authenticate": "Bearer"})
    limit = settings.push.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"body larger than {limit} bytes")
    if request.content_type not in (JSON, NDJSON):
        return _error(415, f"Content-Type must be {JSON} or {NDJSON}")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body larger than {limit} bytes")
    most = settings.push.max_items
    # Count before splitting: a body of a million empty-ish lines is refused cheaply.
    if request.content_type == NDJSON and body.count(b"\n") >= most and too_many(body, most):
        return _error(
            413, f"more than {most} reports in one request (PUSH_MAX_ITEMS); split the batch"
        )
    items = split_items(body, request.content_type)
    if not items:
        return _error(400, "empty body: send one JSON report or JSON lines")

    loop = asyncio.get_running_loop()
    max_message_bytes = settings.kafka.max_message_bytes
    results = await loop.run_in_executor(None, validate_items, items, max_message_bytes)
    if results.accepted:
        records = [(key, value) for _index, key, value in results.accepted]
        try:
            refused = await loop.run_in_executor(None, request.app[GATE].publish, records)
        except ProducerError as e:  # KafkaUnavailable, DeliveryFailed
            logger.warning("push of %d reports failed: %s", len(results.accepted), e)
            return _error(503, str(e), **{"Retry-After": "5"})
        results.refuse(refused)
    logger.info("push: accepted %d, rejected %d", len(results.accepted), len(results.rejections))
    PUSH_ITEMS.labels("accepted").inc(len(results.accepted))
    PUSH_ITEMS.labels("rejected").inc(len(results.rejections))
    return web.json_response(results.body(), status=202)


@web.middleware
async def count_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count every request by its HTTP status (incidents_push_requests_total)."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as e:
        PUSH_REQUESTS.labels(str(e.status)).inc()
        raise
    except Exception:
        PUSH_REQUESTS.labels("500").inc()
        raise
    PUSH_REQUESTS.labels(str(response.status)).inc()
    return response


async def healthz(request: web.Request) -> web.Response:
    """Liveness, plus whether the producer has reached Kafka yet."""
    gate = request.app[GATE]
    return web.json_response({"status": "ok", "kafka": gate.connected})


def create_app(settings: Settings, *, publisher: RecordSink | None = None) -> web.Application:
    """Build the push app; raise :class:`PushConfigError` when no token is set and not open.

    ``publisher`` replaces the lazily connected Kafka publisher (tests).
    """
    push = settings.push
    if push.token is None and not push.open:
        raise PushConfigError(
            "the push endpoint needs a token: set PUSH_TOKEN (or PUSH_OPEN=true for local use)"
        )
    if push.token is not None and not push.token.get_secret_value().strip():
        raise PushConfigError("PUSH_TOKEN is empty: set a real token")
    if push.token is None:
        logger.warning("push endpoint is OPEN: no bearer token required (PUSH_OPEN=true)")
    app = web.Application(client_max_size=push.max_body_bytes, middlewares=[count_requests])
    app[SETTINGS] = settings
    gate = KafkaGate(settings, publisher)
    app[GATE] = gate

    async def close_gate(_app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, gate.close)

    app.on_cleanup.append(close_gate)
    app.router.add_post(REPORTS_PATH, post_reports)
    app.router.add_get("/healthz", healthz)
    return app


def run_push(settings: Settings) -> None:
    """Serve the push endpoint on ``settings.push.host:port`` until interrupted.

    The URL it serves on is recorded in ``var/run/push.url`` (with ``PUSH_PORT=0`` the
    system picks the port, and that file is how the stack and tests find it).
    """
    app = create_app(settings)
    try:
        sock = socket.create_server((settings.push.host, settings.push.port))
    except OSError as e:
        raise PushConfigError(
            f"cannot listen on {settings.push.host}:{settings.push.port}: {e.strerror or e}"
        ) from e
    url = f"http://{settings.push.host}:{sock.getsockname()[1]}"
    recorded = url_file(settings.paths, PUSH)
    recorded.parent.mkdir(parents=True, exist_ok=True)
    recorded.write_text(url + "\n", encoding="utf-8")
    logger.info(
        "push endpoint on %s%s -> %s", url, REPORTS_PATH, Topics(settings.kafka.topic_prefix).raw
    )
    try:
        web.run_app(app, sock=sock, print=None)
    finally:
        recorded.unlink(missing_ok=True)


def main(settings: Settings | None = None) -> int:
    """The push process (``incidents run push``, ``python -m producers.http_push``): serve
    until interrupted; return the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings or load_settings()
    serve(settings, PUSH, settings.metrics.push_port, PUSH_REGISTRY)
    try:
        run_push(settings)
    except PushConfigError as e:
        logger.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
