"""What `incidents status` says about trouble: crashes, the sink's retries, dead letters.

Each function reads one source (a crash file, a process's /metrics, the warehouse) and
returns plain data; the CLI only prints it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from incidents_config import metrics
from incidents_config.names import crash_file
from incidents_config.settings import Settings

logger = logging.getLogger(__name__)

DEAD_LETTERS_LAST_HOUR = """
SELECT source, reason, stage, count() AS letters, any(reasons) AS example
FROM rejected_reports FINAL
WHERE received_at >= now64(3) - INTERVAL 1 HOUR
GROUP BY source, reason, stage
ORDER BY letters DESC, source, reason
LIMIT 50
"""

# The latest data-quality run (`incidents dq`, by hand or on the stack's schedule).
LATEST_DQ_RUN = """
SELECT finished_at, trigger, success, expectations, failed,
       arrayStringConcat(suites, ', ') AS suites
FROM v_dq_latest
"""
LATEST_DQ_FAILURES = """
SELECT suite, description, unexpected_count
FROM dq_results FINAL
WHERE run_id = (SELECT argMax(run_id, finished_at) FROM dq_runs FINAL) AND success = 0
ORDER BY suite, position
LIMIT 10
"""


@dataclass(frozen=True)
class Crash:
    """Why a worker stopped itself (streams.runtime.crash)."""

    at: float
    agent: str
    error: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        return f"agent {self.agent} crashed at {when}: {self.error[:200]}"


def crash(settings: Settings, name: str) -> Crash | None:
    """Return the crash a worker recorded, if it recorded one."""
    path = crash_file(settings.paths, name)
    try:
        record: Any = json.loads(path.read_text(encoding="utf-8"))
        return Crash(float(record["at"]), str(record["agent"]), str(record["error"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return Crash(path.stat().st_mtime if path.exists() else 0.0, "?", "unreadable crash file")


def scrape(settings: Settings, name: str) -> list[metrics.Sample] | None:
    """Read a process's /metrics, or None when it serves none or does not answer."""
    url = metrics.recorded_address(settings, name)
    if url is None:
        return None
    try:
        return metrics.scrape(url, timeout_s=2.0)
    except OSError:
        return None


# The sink's heartbeat moves at least every second while its loop runs; this much older
# and the sink is stuck (the IncidentsSinkStale rule of infra/prometheus/ says the same).
SINK_STUCK_AFTER_S = 120.0


@dataclass(frozen=True)
class SinkHealth:
    """The sink's write state, from its metrics."""

    retrying: bool
    retry_delay_s: float
    failures: int
    quarantined: int
    batches: int
    last_flush_age_s: float | None
    heartbeat_age_s: float | None = None  # since the last poll cycle of its loop

    @property
    def stuck(self) -> bool:
        """The sink's loop has not completed a poll cycle for minutes."""
        return self.heartbeat_age_s is not None and self.heartbeat_age_s > SINK_STUCK_AFTER_S

    @property
    def trouble(self) -> bool:
        """Something an operator should look at now."""
        return self.retrying or self.stuck

    def describe(self) -> str:
        parts = []
        if self.stuck:
            parts.append(f"STUCK: no poll cycle for {self.heartbeat_age_s:.0f} s")
        if self.retrying:
            parts.append(f"RETRYING a failed write (next attempt in {self.retry_delay_s:.0f} s)")
        parts.append(f"{self.batches} batches")
        if self.last_flush_age_s is not None:
            parts.append(f"last write {self.last_flush_age_s:.0f} s ago")
        if self.failures:
            parts.append(f"{self.failures} failed writes")
        if self.quarantined:
            parts.append(f"{self.quarantined} rows quarantined")
        return ", ".join(parts)


def sink_health(samples: list[metrics.Sample]) -> SinkHealth:
    """Summarize the sink's metrics."""
    last = metrics.total(samples, "incidents_sink_last_flush_timestamp_seconds")
    beat = metrics.total(samples, "incidents_sink_heartbeat_timestamp_seconds")
    return SinkHealth(
        retrying=metrics.total(samples, "incidents_sink_retrying") > 0,
        retry_delay_s=metrics.total(samples, "incidents_sink_retry_delay_seconds"),
        failures=int(metrics.total(samples, "incidents_sink_write_failures_total")),
        quarantined=int(metrics.total(samples, "incidents_sink_rows_quarantined_total")),
        batches=int(metrics.total(samples, "incidents_sink_batches_total")),
        last_flush_age_s=max(time.time() - last, 0.0) if last else None,
        heartbeat_age_s=max(time.time() - beat, 0.0) if beat else None,
    )


def worker_notes(samples: list[metrics.Sample]) -> str:
    """Summarize a worker's metrics: what it read, accepted, dead-lettered, and errors."""
    consumed = int(metrics.total(samples, "incidents_reports_consumed_total"))
    accepted = int(metrics.total(samples, "incidents_reports_accepted_total"))
    letters = int(metrics.total(samples, "incidents_dead_letters_total"))
    errors = int(metrics.total(samples, "incidents_agent_errors_total"))
    retries = int(metrics.total(samples, "incidents_agent_delivery_retries_total"))
    text = f"{consumed} read, {accepted} accepted, {letters} dead letters"
    if errors:
        text += f", {errors} AGENT ERRORS (see the log)"
    if retries:
        text += f", {retries} delivery retries"
    return text


def push_notes(samples: list[metrics.Sample]) -> str:
    """Summarize the push endpoint's metrics."""
    accepted = int(metrics.total(samples, "incidents_push_items_total", outcome="accepted"))
    rejected = int(metrics.total(samples, "incidents_push_items_total", outcome="rejected"))
    return f"{accepted} reports accepted, {rejected} rejected"
