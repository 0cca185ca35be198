"""Delivering alert changes: webhooks (Alertmanager format), Slack, and the alerts topic.

Two streams reach the notifiers: every recorded change goes to the *feed* notifiers (the
alerts topic), and the settled net changes the outbox lets out (incidents_alerting.outbox)
go to the *paging* notifiers (webhook, Slack). The sink only enqueues; a background thread
delivers, with exponential back-off up to
``ALERTS_RETRIES`` attempts per notifier, and records every attempt in `alert_deliveries`.
A receiver that is down never blocks or crashes the stream. After a restart, changes
without a successful delivery are sent again (from the warehouse): delivery is at least
once, and a receiver can drop repeats by the alert's fingerprint and event.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kafka import KafkaProducer
from kafka.errors import KafkaError

from incidents_alerting import payloads
from incidents_alerting.lifecycle import Change
from incidents_config.metrics import ALERT_NOTIFICATIONS
from incidents_config.names import Topics
from incidents_config.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int = 0
    error: str = ""


class Notifier(Protocol):
    name: str
    every_change: bool  # True: the feed of every recorded change; False: it pages

    def send(self, change: Change, incident_ids: list[str]) -> Outcome: ...


class HttpNotifier:
    """POST a JSON body to a URL; 2xx is success."""

    every_change = False

    def __init__(
        self,
        name: str,
        url: str,
        body: Callable[[Change, list[str]], dict[str, Any]],
        timeout_s: float,
        token: str | None = None,
    ) -> None:
        self.name = name
        self._url = url
        self._body = body
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout_s), retries=False)

    def send(self, change: Change, incident_ids: list[str]) -> Outcome:
        data = json.dumps(self._body(change, incident_ids)).encode()
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
    every_change = True

    def __init__(self, settings: Settings) -> None:
        self._topic = Topics(settings.kafka.topic_prefix).alerts
        self._settings = settings
        self._producer: KafkaProducer | None = None

    def send(self, change: Change, incident_ids: list[str]) -> Outcome:
        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    **self._settings.kafka.client_kwargs(), acks="all", enable_idempotence=True
                )
            body = payloads.alertmanager(change, incident_ids)["alerts"][0]
            value = json.dumps({"event": change.event, "seq": change.seq, **body}).encode()
            future = self._producer.send(self._topic, key=change.alert_id.encode(), value=value)
            future.get(timeout=30)
        except KafkaError as e:
            return Outcome(False, 0, f"{type(e).__name__}: {e}"[:300])
        return Outcome(True)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)


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
                lambda c, ids: payloads.alertmanager(c, ids, a.external_url),
                a.timeout_s,
                token,
            )
        )
    if a.slack_url is not None:
        out.append(
            HttpNotifier("slack", a.slack_url.get_secret_value(), payloads.slack, a.timeout_s)
        )
    return out


# One delivery attempt: alert id, seq, notifier, attempt, ok, HTTP status, error.
Delivery = tuple[str, int, str, int, bool, int, str]


class Recorder(Protocol):
    def record_deliveries(self, deliveries: list[Delivery]) -> None: ...


DRAIN = 500  # changes delivered before their attempts are recorded in one insert


class Dispatcher:
    """A thread that delivers queued changes to every notifier, with retries."""

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
        # (change, incident ids, paging?): paging items go to paging notifiers, the others
        # to the feed notifiers.
        self._queue: queue.Queue[tuple[Change, list[str], bool] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    @property
    def notifier_names(self) -> list[str]:
        return [n.name for n in self._notifiers]

    @property
    def paging_names(self) -> list[str]:
        return [n.name for n in self._notifiers if not n.every_change]

    @property
    def feed_names(self) -> list[str]:
        return [n.name for n in self._notifiers if n.every_change]

    def start(self) -> None:
        self._thread.start()

    def feed(self, change: Change, incident_ids: list[str]) -> None:
        """Queue a recorded change for the feed notifiers (the alerts topic)."""
        self._idle.clear()
        self._queue.put((change, incident_ids, False))

    def page(self, change: Change, incident_ids: list[str]) -> None:
        """Queue a settled net change for the paging notifiers (webhook, Slack)."""
        self._idle.clear()
        self._queue.put((change, incident_ids, True))

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
            items = [self._queue.get()]
            while items[-1] is not None and len(items) < DRAIN and not self._queue.empty():
                items.append(self._queue.get_nowait())
            attempts: list[Delivery] = []
            for item in items:
                if item is None:
                    break
                change, ids, paging = item
                for notifier in self._notifiers:
                    if notifier.every_change != paging:
                        self._deliver(notifier, change, ids, attempts)
            try:
                if attempts:
                    self._recorder.record_deliveries(attempts)
            except Exception:
                logger.exception("cannot record %d delivery attempts", len(attempts))
            if items[-1] is None:
                break
            if self._queue.empty():
                self._idle.set()

    def _deliver(
        self, notifier: Notifier, change: Change, ids: list[str], attempts: list[Delivery]
    ) -> None:
        delay = self._base
        for attempt in range(1, self._retries + 1):
            try:
                outcome = notifier.send(change, ids)
            except Exception as e:  # a notifier bug must not kill the thread
                logger.exception("notifier %s failed", notifier.name)
                outcome = Outcome(False, 0, f"{type(e).__name__}")
            attempts.append(
                (
                    change.alert_id,
                    change.seq,
                    notifier.name,
                    attempt,
                    outcome.ok,
                    outcome.status,
                    outcome.error,
                )
            )
            if outcome.ok:
                ALERT_NOTIFICATIONS.labels(notifier.name, "sent").inc()
                return
            ALERT_NOTIFICATIONS.labels(notifier.name, "failed_attempt").inc()
            logger.warning(
                "%s: delivering %s#%d failed (%s), attempt %d of %d",
                notifier.name,
                change.alert_id,
                change.seq,
                outcome.error,
                attempt,
                self._retries,
            )
            if attempt < self._retries and self._stop.wait(delay):
                return
            delay *= 2
        ALERT_NOTIFICATIONS.labels(notifier.name, "gave_up").inc()
        logger.error("%s: gave up on %s#%d", notifier.name, change.alert_id, change.seq)
