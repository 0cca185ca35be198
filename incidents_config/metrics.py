"""Prometheus metrics of the long-running processes (docs/operations.md lists them).

Each kind of process has its own registry, and a process serves only its own with
:func:`serve`: the sink :data:`SINK_REGISTRY` (the sink, its alerting and its SQL
endpoint), a Faust worker :data:`WORKER_REGISTRY`, the push endpoint
:data:`PUSH_REGISTRY`. A metric is defined below in the section of the one registry it
belongs to, so a worker cannot export a sink's metric: it is not in what the worker serves.
Every registry also holds ``incidents_build_info`` and the client's process and platform
collectors.

:func:`serve` writes the address to ``var/run/<name>.metrics`` so that ``incidents status``
(and the tests, and a Prometheus pointed at the stack) can find it when the port is chosen
by the OS.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.parser import text_string_to_metric_families

from incidents_config.settings import Settings

logger = logging.getLogger(__name__)

DISTRIBUTION = "incidents-platform"


def distribution_version() -> str:
    """This package's version, from its installed metadata ("unknown" when not installed)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _registry() -> CollectorRegistry:
    """A process kind's registry: build info, process (CPU, memory, fds) and platform."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    build = Gauge(
        "incidents_build_info",
        "Always 1; the labels say which version runs, on which Python.",
        ["version", "python_version"],
        registry=registry,
    )
    build.labels(distribution_version(), platform.python_version()).set(1)
    return registry


SINK_REGISTRY = _registry()  # `incidents run sink`: the sink, alerting, the SQL endpoint
WORKER_REGISTRY = _registry()  # `incidents run worker`: a Faust worker
PUSH_REGISTRY = _registry()  # `incidents run push`: the HTTP push endpoint

LAG_HELP = "Messages not yet fetched, per consumer group and topic this process consumes."

# --- a worker ----------------------------------------------------------------------------
REPORTS_CONSUMED = Counter(
    "incidents_reports_consumed",
    "Raw messages the validate agent read.",
    ["source"],
    registry=WORKER_REGISTRY,
)
REPORTS_ACCEPTED = Counter(
    "incidents_reports_accepted",
    "Raw messages that passed the contract.",
    ["source"],
    registry=WORKER_REGISTRY,
)
DEAD_LETTERS = Counter(
    "incidents_dead_letters",
    "Messages sent to the dead-letter topic, by stage, source and kind of reason.",
    ["stage", "source", "reason"],
    registry=WORKER_REGISTRY,
)
AGENT_ERRORS = Counter(
    "incidents_agent_errors",
    "Unexpected errors inside an agent, each dead-lettered with its event.",
    ["agent"],
    registry=WORKER_REGISTRY,
)
AGENT_DELIVERY_RETRIES = Counter(
    "incidents_agent_delivery_retries",
    "Times an agent re-sent its outputs because Kafka did not confirm them.",
    ["agent"],
    registry=WORKER_REGISTRY,
)
WORKER_LAG = Gauge("incidents_consumer_lag", LAG_HELP, ["group", "topic"], registry=WORKER_REGISTRY)

# --- the sink ----------------------------------------------------------------------------
SINK_LAG = Gauge("incidents_consumer_lag", LAG_HELP, ["group", "topic"], registry=SINK_REGISTRY)
SINK_BATCHES = Counter(
    "incidents_sink_batches", "Batches written to ClickHouse.", registry=SINK_REGISTRY
)
SINK_ROWS = Counter(
    "incidents_sink_rows_written", "Rows written to ClickHouse.", ["table"], registry=SINK_REGISTRY
)
SINK_FAILURES = Counter(
    "incidents_sink_write_failures",
    "Failed ClickHouse writes (each is retried).",
    ["table"],
    registry=SINK_REGISTRY,
)
SINK_QUARANTINED = Counter(
    "incidents_sink_rows_quarantined",
    "Rows ClickHouse can never store, written to rejected_reports instead.",
    ["table"],
    registry=SINK_REGISTRY,
)
SINK_RETRYING = Gauge(
    "incidents_sink_retrying",
    "1 while the sink is retrying a failed write, else 0.",
    registry=SINK_REGISTRY,
)
SINK_RETRY_DELAY = Gauge(
    "incidents_sink_retry_delay_seconds",
    "The sink's current back-off before the next attempt.",
    registry=SINK_REGISTRY,
)
SINK_CONSUMER_RESTARTS = Counter(
    "incidents_sink_consumer_restarts",
    "Times the sink replaced a Kafka consumer stuck outside its group (offsets uncommittable).",
    registry=SINK_REGISTRY,
)
SINK_LAST_FLUSH = Gauge(
    "incidents_sink_last_flush_timestamp_seconds",
    "When the sink last wrote a batch (Unix time); does not move while there is nothing to write.",
    registry=SINK_REGISTRY,
)
SINK_HEARTBEAT = Gauge(
    "incidents_sink_heartbeat_timestamp_seconds",
    "When the sink's main loop last completed a poll cycle (Unix time): it moves at least"
    " every second while the sink works or idles, and stops when the sink is stuck.",
    registry=SINK_REGISTRY,
)
GAZETTEER_STALE = Gauge(
    "incidents_gazetteer_stale",
    "1 when the live incident keys were built with another places gazetteer than places.json"
    " and the alias overlay now, or the overlay is unusable: run incidents replay.",
    registry=SINK_REGISTRY,
)
GAZETTEER_INFO = Gauge(
    "incidents_gazetteer_info",
    "Always 1: the gazetteer version the live keys were built with, and the one on disk.",
    ["generation", "built", "current"],
    registry=SINK_REGISTRY,
)
SINK_FLUSH_SECONDS = Histogram(
    "incidents_sink_flush_duration_seconds",
    "Time to write one batch to ClickHouse (every table), successful flushes only.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=SINK_REGISTRY,
)
PUBLISH_TO_QUERYABLE = Histogram(
    "incidents_publish_to_queryable_seconds",
    "From a report's Kafka timestamp on the raw topic to the end of the sink's write that"
    " made it queryable: its report_versions row (table=report_versions), or the"
    " district-day snapshot that counts it (table=agg_district_day).",
    ["table"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0),
    registry=SINK_REGISTRY,
)

# --- alerting (in the sink) ----------------------------------------------------------------
ALERT_CHANGES = Counter(
    "incidents_alert_changes",
    "Alert state changes recorded, by rule and event.",
    ["rule", "event"],
    registry=SINK_REGISTRY,
)
ALERT_NOTIFICATIONS = Counter(
    "incidents_alert_notifications",
    "Notification attempts by notifier and outcome (sent, failed_attempt, gave_up).",
    ["notifier", "outcome"],
    registry=SINK_REGISTRY,
)
ALERT_ERRORS = Counter(
    "incidents_alert_evaluation_errors",
    "Alert evaluations that failed (retried later).",
    registry=SINK_REGISTRY,
)

# --- the read-only SQL endpoint (in the sink) --------------------------------------------
SQL_REQUESTS = Counter(
    "incidents_sql_requests",
    "Requests to the read-only SQL endpoint, by outcome.",
    ["outcome"],
    registry=SINK_REGISTRY,
)
SQL_REFUSALS = Counter(
    "incidents_sql_refusals",
    "Queries the SQL endpoint refused, by reason.",
    ["reason"],
    registry=SINK_REGISTRY,
)

# --- the push endpoint ---------------------------------------------------------------------
PUSH_REQUESTS = Counter(
    "incidents_push_requests", "Push requests, by HTTP status.", ["status"], registry=PUSH_REGISTRY
)
PUSH_ITEMS = Counter(
    "incidents_push_items", "Pushed reports, by outcome.", ["outcome"], registry=PUSH_REGISTRY
)

# --- when a report was published, carried along the pipeline ------------------------------
# The workers copy this Kafka header onto every message they derive from a raw one (and
# a bundle or snapshot of several carries the oldest): the raw record's Kafka timestamp,
# in milliseconds, as ASCII digits. The sink reads it for PUBLISH_TO_QUERYABLE.
PUBLISHED_HEADER = "incidents-published-ms"

Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None


def published_header(ms: int) -> tuple[str, bytes]:
    """The header saying a message carries a report first published at `ms` (Unix ms)."""
    return PUBLISHED_HEADER, str(int(ms)).encode("ascii")


def published_ms(headers: Headers) -> int | None:
    """Read :data:`PUBLISHED_HEADER` from a record's headers; None if absent or garbled."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == PUBLISHED_HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


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


def serve(settings: Settings, name: str, port: int, registry: CollectorRegistry) -> str | None:
    """Serve `registry` (this kind of process's metrics) on ``port`` (0: any free one);
    return the URL.

    Returns None when metrics are disabled. A port already in use is logged, not fatal:
    the process's real work matters more than its metrics.
    """
    if not settings.metrics.enabled:
        return None
    host = settings.metrics.host
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        logger.warning("cannot serve metrics on %s:%d: %s", host, port, e)
        return None
    url = f"http://{_url_host(host)}:{server.server_port}/metrics"
    path = address_file(settings, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(url + "\n", encoding="utf-8")
    except OSError:
        logger.warning("cannot record the metrics address in %s", path, exc_info=True)
    logger.info("metrics on %s", url)
    return url


def _url_host(host: str) -> str:
    """Where this machine reaches a server listening on `host` (any address: loopback)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


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
