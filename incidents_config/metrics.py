"""Prometheus metrics of the long-running processes (docs/operations.md lists them).

Each process (worker, sink, push endpoint) serves its own ``/metrics`` with
:func:`serve`, and writes the address to ``var/run/<name>.metrics`` so that
``incidents status`` (and the tests) can find it when the port is chosen by the OS.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import Counter, Gauge, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from incidents_config.settings import Settings

logger = logging.getLogger(__name__)

# --- the stream (workers) -------------------------------------------------------------
REPORTS_CONSUMED = Counter(
    "incidents_reports_consumed", "Raw messages the validate agent read.", ["source"]
)
REPORTS_ACCEPTED = Counter(
    "incidents_reports_accepted", "Raw messages that passed the contract.", ["source"]
)
DEAD_LETTERS = Counter(
    "incidents_dead_letters",
    "Messages sent to the dead-letter topic, by stage, source and kind of reason.",
    ["stage", "source", "reason"],
)
AGENT_ERRORS = Counter(
    "incidents_agent_errors",
    "Unexpected errors inside an agent, each dead-lettered with its event.",
    ["agent"],
)
AGENT_DELIVERY_RETRIES = Counter(
    "incidents_agent_delivery_retries",
    "Times an agent re-sent its outputs because Kafka did not confirm them.",
    ["agent"],
)
CONSUMER_LAG = Gauge(
    "incidents_consumer_lag",
    "Messages not yet consumed, per consumer group and topic (as this process sees it).",
    ["group", "topic"],
)

# --- the sink --------------------------------------------------------------------------
SINK_BATCHES = Counter("incidents_sink_batches", "Batches written to ClickHouse.")
SINK_ROWS = Counter("incidents_sink_rows_written", "Rows written to ClickHouse.", ["table"])
SINK_FAILURES = Counter(
    "incidents_sink_write_failures", "Failed ClickHouse writes (each is retried).", ["table"]
)
SINK_QUARANTINED = Counter(
    "incidents_sink_rows_quarantined",
    "Rows ClickHouse can never store, written to rejected_reports instead.",
    ["table"],
)
SINK_RETRYING = Gauge(
    "incidents_sink_retrying", "1 while the sink is retrying a failed write, else 0."
)
SINK_RETRY_DELAY = Gauge(
    "incidents_sink_retry_delay_seconds", "The sink's current back-off before the next attempt."
)
SINK_CONSUMER_RESTARTS = Counter(
    "incidents_sink_consumer_restarts",
    "Times the sink replaced a Kafka consumer stuck outside its group (offsets uncommittable).",
)
SINK_LAST_FLUSH = Gauge(
    "incidents_sink_last_flush_timestamp_seconds", "When the sink last wrote a batch (Unix time)."
)

# --- alerting (in the sink) ------------------------------------------------------------
ALERT_CHANGES = Counter(
    "incidents_alert_changes", "Alert state changes recorded, by rule and event.", ["rule", "event"]
)
ALERT_NOTIFICATIONS = Counter(
    "incidents_alert_notifications",
    "Notification attempts by notifier and outcome (sent, failed_attempt, gave_up).",
    ["notifier", "outcome"],
)
ALERT_ERRORS = Counter(
    "incidents_alert_evaluation_errors", "Alert evaluations that failed (retried later)."
)

# --- the read-only SQL endpoint --------------------------------------------------------
SQL_REQUESTS = Counter(
    "incidents_sql_requests", "Requests to the read-only SQL endpoint, by outcome.", ["outcome"]
)
SQL_REFUSALS = Counter(
    "incidents_sql_refusals", "Queries the SQL endpoint refused, by reason.", ["reason"]
)

# --- the push endpoint -----------------------------------------------------------------
PUSH_REQUESTS = Counter("incidents_push_requests", "Push requests, by HTTP status.", ["status"])
PUSH_ITEMS = Counter("incidents_push_items", "Pushed reports, by outcome.", ["outcome"])

MAX_SOURCE_LABELS = 100
OTHER = "other"
_sources: set[str] = set()
_sources_lock = threading.Lock()


def source_label(source: str | None) -> str:
    """Return a label value for a feed id, keeping the label set bounded.

    Sources come from the input, so a hostile feed could invent millions of them: the
    first :data:`MAX_SOURCE_LABELS` distinct ones get their own label, the rest "other".
    """
    if not source:
        return "unknown"
    source = source[:64]
    with _sources_lock:
        if source in _sources:
            return source
        if len(_sources) < MAX_SOURCE_LABELS:
            _sources.add(source)
            return source
    return OTHER


def address_file(settings: Settings, name: str) -> Path:
    """Return the file where process `name` records its metrics address."""
    return settings.paths.run_dir / f"{name}.metrics"


def serve(settings: Settings, name: str, port: int) -> str | None:
    """Serve this process's metrics on ``port`` (0: any free one); return the URL.

    Returns None when metrics are disabled. A port already in use is logged, not fatal:
    the process's real work matters more than its metrics.
    """
    if not settings.metrics.enabled:
        return None
    host = settings.metrics.host
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as e:
        logger.warning("cannot serve metrics on %s:%d: %s", host, port, e)
        return None
    url = f"http://{host}:{server.server_port}/metrics"
    path = address_file(settings, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(url + "\n", encoding="utf-8")
    except OSError:
        logger.warning("cannot record the metrics address in %s", path, exc_info=True)
    logger.info("metrics on %s", url)
    return url


def recorded_address(settings: Settings, name: str) -> str | None:
    """Return the metrics URL process `name` recorded, if any."""
    try:
        return address_file(settings, name).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


Sample = tuple[str, tuple[tuple[str, str], ...], float]


def scrape(url: str, timeout_s: float = 2.0) -> list[Sample]:
    """Read a ``/metrics`` page: ``[(sample name, sorted labels, value), ...]``."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    return [
        (s.name, tuple(sorted(s.labels.items())), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """Sum the samples called `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for n, ls, v in samples if n == name and want <= set(ls))
