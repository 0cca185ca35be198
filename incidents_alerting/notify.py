"""Delivering notifications: the alerts topic, webhooks (Alertmanager's format), Slack, and
Alertmanager itself.

Three kinds of message reach the notifiers:
- the **feed**: every recorded change, each its own record on the alerts topic (for other
  systems); what the dispatcher finds queued together is sent together, one wait for Kafka;
- **pages**: the grouped, settled net changes (incidents_alerting.outbox, .routing), to the
  webhook, Slack and Alertmanager;
- **refreshes**: every alert still firing, re-sent to Alertmanager now and then so that it
  keeps them firing (like Prometheus re-sends; Alertmanager ends an alert at its endsAt).

The sink only enqueues; a background thread delivers, with exponential back-off up to
``ALERTS_RETRIES`` attempts per notifier, and records every attempt of a feed or page in
`alert_deliveries`. A receiver that is down, answers an error or hangs (``ALERTS_TIMEOUT_S``)
never blocks or crashes the stream. After a restart, what was not delivered is sent again
(from the warehouse): delivery is at least once, and a receiver can drop repeats by the
alert's fingerprint and event.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import urllib3
from kafka import KafkaProducer
from kafka.errors import KafkaError

from incidents_alerting import payloads
from incidents_alerting.routing import Notification
from incidents_config.metrics import ALERT_NOTIFICATIONS
from incidents_config.names import Topics
from incidents_config.settings import Settings

logger = logging.getLogger(__name__)

Kind = Literal["feed", "page", "refresh"]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int = 0
    error: str = ""


class Notifier(Protocol):
    name: str
    kinds: frozenset[Kind]  # the kinds of message it takes

    def send(self, notification: Notification) -> Outcome: ...


class HttpNotifier:
    """POST a JSON body to a URL; 2xx is success."""

    kinds: frozenset[Kind] = frozenset({"page"})

    def __init__(
        self,
        name: str,
        url: str,
        body: Callable[[Notification], Any],
        timeout_s: float,
        token: str | None = None,
        kinds: frozenset[Kind] | None = None,
    ) -> None:
        self.name = name
        self._url = url
        self._body = body
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        if kinds is not None:
            self.kinds = kinds
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False)

    def send(self, notification: Notification) -> Outcome:
        data = json.dumps(self._body(notification)).encode()
        try:
            response = self._http.request("POST", self._url, body=data, headers=self._headers)
        except urllib3.exceptions.HTTPError as e:
            return Outcome(False, 0, type(e).__name__)  # never the URL: it may hold a secret
        if 200 <= response.status < 300:
            return Outcome(True, response.status)
        return Outcome(False, response.status, f"HTTP {response.status}")


class KafkaNotifier:
    """Every change, as JSON, on the alerts topic (keyed by alert id) for other systems."""

    name = "kafka"
    kinds: frozenset[Kind] = frozenset({"feed"})

    def __init__(self, settings: Settings) -> None:
        self._topic = Topics(settings.kafka.topic_prefix).alerts
        self._settings = settings
        self._producer: KafkaProducer | None = None

    def send(self, notification: Notification) -> Outcome:
        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    **self._settings.kafka.client_kwargs(), acks="all", enable_idempotence=True
                )
            futures = []
            for item in notification.items:
                change = item.change
                body = payloads.webhook_alert(item, self._settings.alerts.external_url)
                value = json.dumps({"event": change.event, "seq": change.seq, **body}).encode()
                key = change.alert_id.encode()
                futures.append(self._producer.send(self._topic, key=key, value=value))
            for future in futures:
                future.get(timeout=30)
        except KafkaError as e:
            return Outcome(False, 0, f"{type(e).__name__}: {e}"[:300])
        return Outcome(True)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)


def alertmanager_body(
    lifetime: timedelta, external_url: str
) -> Callable[[Notification], list[dict[str, Any]]]:
    """The body of `POST /api/v2/alerts` for a notification, at the time it is sent."""

    def body(notification: Notification) -> list[dict[str, Any]]:
        return payloads.alertmanager_alerts(notification, datetime.now(UTC), lifetime, external_url)

    return body


def notifiers_from(settings: Settings) -> list[Notifier]:
    """The notifiers the settings configure (the alerts topic always)."""
    a = settings.alerts
    out: list[Notifier] = [KafkaNotifier(settings)]
    if a.webhook_url is not None:
        token = a.webhook_token.get_secret_value() if a.webhook_token else None
        out.append(
            HttpNotifier(
                "webhook",
                a.webhook_url.get_secret_value(),
                lambda n: payloads.webhook(n, a.external_url),
                a.timeout_s,
                token,
            )
        )
    if a.slack_url is not None:
        out.append(
            HttpNotifier("slack", a.slack_url.get_secret_value(), payloads.slack, a.timeout_s)
        )
    if a.alertmanager_url is not None:
        url = a.alertmanager_url.get_secret_value().rstrip("/") + "/api/v2/alerts"
        lifetime = timedelta(seconds=4 * a.alertmanager_resend_s)
        out.append(
            HttpNotifier(
                "alertmanager",
                url,
                alertmanager_body(lifetime, a.external_url),
                a.timeout_s,
                kinds=frozenset({"page", "refresh"}),
            )
        )
    return out


# One delivery attempt: alert id, seq, notifier, attempt, ok, HTTP status, error.
Delivery = tuple[str, int, str, int, bool, int, str]


class Recorder(Protocol):
    def record_deliveries(self, deliveries: list[Delivery]) -> None: ...


DRAIN = 500  # messages delivered before their attempts are recorded in one insert


def _merge_feed(
    messages: list[tuple[Kind, Notification] | None],
) -> list[tuple[Kind, Notification]]:
    """The drained messages up to the stop mark, the feed's merged into one notification
    (first, in the order they were queued): the alerts topic gets each change as its own
    record either way, and one notification is one batch of sends and one wait for Kafka,
    not one per change. Pages and refreshes keep their grouping and order."""
    taken = [m for m in itertools.takewhile(lambda m: m is not None, messages) if m is not None]
    feed = [item for kind, n in taken if kind == "feed" for item in n.items]
    rest: list[tuple[Kind, Notification]] = [(k, n) for k, n in taken if k != "feed"]
    if not feed:
        return rest
    return [("feed", Notification((("feed", "changes"),), tuple(feed))), *rest]


class Dispatcher:
    """A thread that delivers queued messages to the notifiers that take them, with retries."""

    def __init__(
        self,
        notifiers: list[Notifier],
        recorder: Recorder,
        retries: int,
        retry_base_s: float,
    ) -> None:
        self._notifiers = notifiers
        self._recorder = recorder
        self._retries = retries
        self._base = retry_base_s
        self._queue: queue.Queue[tuple[Kind, Notification] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    def names(self, kind: Kind) -> list[str]:
        """The notifiers that take messages of `kind`."""
        return [n.name for n in self._notifiers if kind in n.kinds]

    def start(self) -> None:
        self._thread.start()

    def feed(self, notification: Notification) -> None:
        """Queue recorded changes for the feed (the alerts topic)."""
        self._put("feed", notification)

    def page(self, notification: Notification) -> None:
        """Queue a group's settled changes for the webhook, Slack and Alertmanager."""
        self._put("page", notification)

    def refresh(self, notification: Notification) -> None:
        """Queue the firing alerts for the notifiers that must hear them again (Alertmanager)."""
        if self.names("refresh"):
            self._put("refresh", notification)

    def _put(self, kind: Kind, notification: Notification) -> None:
        self._idle.clear()
        self._queue.put((kind, notification))

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until everything queued so far was delivered or given up (tests)."""
        return self._idle.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout_s)
        for n in self._notifiers:
            close = getattr(n, "close", None)
            if close is not None:
                close()

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = [self._queue.get()]
            while messages[-1] is not None and len(messages) < DRAIN and not self._queue.empty():
                messages.append(self._queue.get_nowait())
            attempts: list[Delivery] = []
            for kind, notification in _merge_feed(messages):
                for notifier in self._notifiers:
                    if kind in notifier.kinds:
                        self._deliver(notifier, kind, notification, attempts)
            try:
                if attempts:
                    self._recorder.record_deliveries(attempts)
            except Exception:
                logger.exception("cannot record %d delivery attempts", len(attempts))
            if messages[-1] is None:
                break
            if self._queue.empty():
                self._idle.set()

    def _deliver(
        self,
        notifier: Notifier,
        kind: Kind,
        notification: Notification,
        attempts: list[Delivery],
    ) -> None:
        delay = self._base
        for attempt in range(1, self._retries + 1):
            try:
                outcome = notifier.send(notification)
            except Exception as e:  # a notifier bug must not kill the thread
                logger.exception("notifier %s failed", notifier.name)
                outcome = Outcome(False, 0, f"{type(e).__name__}")
            if kind != "refresh":  # a refresh repeats what was delivered: not recorded
                attempts.extend(
                    (
                        item.change.alert_id,
                        item.change.seq,
                        notifier.name,
                        attempt,
                        outcome.ok,
                        outcome.status,
                        outcome.error,
                    )
                    for item in notification.items
                )
            if outcome.ok:
                ALERT_NOTIFICATIONS.labels(notifier.name, "sent").inc()
                return
            ALERT_NOTIFICATIONS.labels(notifier.name, "failed_attempt").inc()
            logger.warning(
                "%s: delivering %s (%d alerts) failed (%s), attempt %d of %d",
                notifier.name,
                notification.key,
                len(notification.items),
                outcome.error,
                attempt,
                self._retries,
            )
            if attempt < self._retries and self._stop.wait(delay):
                return
            delay *= 2
        ALERT_NOTIFICATIONS.labels(notifier.name, "gave_up").inc()
