"""The local stack: broker, sink, Faust workers and the push endpoint, as one unit.

`incidents up` calls :func:`up`, `incidents down` calls :func:`down`. With
``LOCAL_KAFKA_ENABLED=false`` the broker is somebody else's cluster and is neither
started nor stopped here.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from incidents_config.names import (
    BROKER,
    DQ,
    PUSH,
    REPLAY_WORKER_PREFIX,
    SINK,
    WORKER_PREFIX,
    Generation,
    recorded_url,
    worker_name,
)
from incidents_config.settings import Settings, child_env
from incidents_ops import processes
from incidents_ops.exceptions import OpsError
from incidents_ops.kafka_local import LocalBroker, broker_answers
from incidents_ops.topics import describe_offsets, ensure_topics, group_state
from sinks.clickhouse import endpoint_answers

logger = logging.getLogger(__name__)

# The CLI runs each process of the stack: `incidents run <part>` (incidents/commands/run.py).
_RUN = [sys.executable, "-m", "incidents", "run"]


class StackError(OpsError):
    """A part of the local stack could not be started or reached."""


@dataclass
class UpReport:
    """What `up` did, part by part: 'started', 'already running' or 'external'."""

    parts: dict[str, str] = field(default_factory=dict)
    push_token_file: str | None = None


def push_token(settings: Settings) -> tuple[str | None, bool]:
    """Return the push endpoint's token and whether it was generated for local use.

    A configured ``PUSH_TOKEN`` wins. Without one, and unless ``PUSH_OPEN`` is set, the
    local stack makes a random token once and keeps it in ``var/push-token`` (mode 600).
    """
    if settings.push.token is not None:
        return settings.push.token.get_secret_value(), False
    if settings.push.open:
        return None, False
    path = settings.paths.var_dir / "push-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip(), True


def up(
    settings: Settings, *, workers: int = 1, push: bool = True, say: Callable[[str], None] = print
) -> UpReport:
    """Start whatever is not running yet and wait until each part answers."""
    report = UpReport()
    paths = settings.paths
    if settings.local_kafka.enabled:
        broker = LocalBroker.from_settings(settings)
        before = broker.status().running
        if not before:
            say("starting Kafka (first run fetches its jars with Maven)...")
        broker.start()
        report.parts[BROKER] = "already running" if before else "started"
    elif not broker_answers(settings.kafka.bootstrap_servers):
        raise StackError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers} "
            "(LOCAL_KAFKA_ENABLED=false, so `incidents up` does not start one)"
        )
    else:
        report.parts[BROKER] = "external"
    ensure_topics(settings.kafka, generation=Generation.of(settings).number)

    report.parts[SINK] = "started" if start_sink(settings) else "already running"
    for i in range(1, workers + 1):
        started = start_worker(settings, worker_name(i), i)
        report.parts[worker_name(i)] = "started" if started else "already running"
    wait_workers(settings, workers, say=say)

    if push:
        env = child_env(settings)
        token, generated = push_token(settings)
        push_env = {**env, "PUSH_TOKEN": token} if token else env
        argv = [*_RUN, PUSH]
        _, started = processes.start(paths, PUSH, argv, env=push_env)
        report.parts[PUSH] = "started" if started else "already running"
        if generated:
            report.push_token_file = str(paths.var_dir / "push-token")
        _wait_push(settings)
    if settings.dq.interval_s > 0:
        argv = [sys.executable, "-m", "incidents", "dq", "--every", str(settings.dq.interval_s)]
        _, started = processes.start(paths, DQ, argv, env=child_env(settings))
        report.parts[DQ] = "started" if started else "already running"
    time.sleep(0.5)
    for name in list(report.parts):
        if (
            name != BROKER
            and report.parts[name] == "started"
            and processes.exited_early(paths, name)
        ):
            log = processes.log_file(paths, name)
            raise StackError(
                f"{name} exited right after starting; see {log}:\n" + processes.tail(log)
            )
    return report


def start_sink(settings: Settings) -> bool:
    """Start the sink on these settings unless it runs; wait until it is ready.

    Return whether it was started now.
    """
    argv = [*_RUN, SINK]
    _, started = processes.start(settings.paths, SINK, argv, env=child_env(settings))
    wait_sink(settings)
    return started


def start_worker(settings: Settings, name: str, worker_id: int) -> bool:
    """Start Faust worker `worker_id` as process `name` unless it runs; whether it started."""
    argv = [*_RUN, "worker", "--worker-id", str(worker_id)]
    _, started = processes.start(settings.paths, name, argv, env=child_env(settings))
    return started


def wait_workers(
    settings: Settings,
    workers: int,
    timeout_s: float = 120.0,
    say: Callable[[str], None] = print,
) -> None:
    """Wait until the workers' consumer group is stable with at least `workers` members.

    Reports published before that are not lost, but one worker reads them while the others
    join, and each join moves partitions mid-stream. On a loaded machine such a move has
    left a worker that kept a partition unable to commit it any further (docs/streams.md:
    a Faust rebalance race not yet pinned down), so ``up`` returns once the group has
    settled. Raises if a worker exits; on timeout, says so and returns.
    """
    group = Generation.of(settings).app
    names = [worker_name(i) for i in range(1, workers + 1)]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name in names:
            if processes.exited_early(settings.paths, name):
                log = processes.log_file(settings.paths, name)
                raise StackError(f"{name} exited while joining; see {log}:\n" + processes.tail(log))
        state, members = group_state(settings.kafka, group)
        if state == "Stable" and members >= workers:
            return
        time.sleep(0.5)
    say(f"warning: the workers' group {group} has not settled in {timeout_s:.0f} s")


def wait_sink(settings: Settings, timeout_s: float = 60.0) -> None:
    """Wait until the sink has migrated the warehouse (and, embedded, serves SQL)."""
    if not settings.embedded_warehouse:
        return
    if not _wait_until(settings, SINK, lambda: endpoint_answers(settings), timeout_s):
        log = processes.log_file(settings.paths, SINK)
        raise StackError(f"the sink did not become ready; see {log}:\n" + processes.tail(log))


def push_url(settings: Settings) -> str | None:
    """The push endpoint's base URL; with ``PUSH_PORT=0`` the one the running endpoint
    recorded (None before it did)."""
    if settings.push.port:
        return f"http://{settings.push.host}:{settings.push.port}"
    return recorded_url(settings.paths, PUSH)


def _wait_push(settings: Settings, timeout_s: float = 60.0) -> None:
    """Wait until the push endpoint answers /healthz, so feeds can push right after `up`."""

    def answers() -> bool:
        base = push_url(settings)
        return base is not None and _healthy(f"{base}/healthz")

    if not _wait_until(settings, PUSH, answers, timeout_s):
        log = processes.log_file(settings.paths, PUSH)
        where = push_url(settings) or f"{settings.push.host} (no port recorded yet)"
        raise StackError(
            f"the push endpoint did not answer at {where}; see {log}:\n" + processes.tail(log)
        )


def _wait_until(settings: Settings, name: str, ready: Callable[[], bool], timeout_s: float) -> bool:
    """Wait until `ready()`, while process `name` runs; False on timeout or an early exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return True
        if processes.exited_early(settings.paths, name):
            return False
        time.sleep(0.2)
    return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def managed_names(settings: Settings) -> list[str]:
    """Names of every process the stack may have started, push, data quality and workers
    first."""
    run = settings.paths.run_dir
    workers = sorted(p.stem for p in run.glob(f"{WORKER_PREFIX}*.pid")) if run.exists() else []
    replaying = (
        sorted(p.stem for p in run.glob(f"{REPLAY_WORKER_PREFIX}*.pid")) if run.exists() else []
    )
    return [PUSH, DQ, *workers, *replaying, SINK]


def down(settings: Settings) -> dict[str, bool]:
    """Stop everything in the safe order: feeds, workers, sink, broker. Keep all data."""
    stopped: dict[str, bool] = {}
    for name in managed_names(settings):
        stopped[name] = processes.stop(settings.paths, name)
    if settings.local_kafka.enabled:
        stopped[BROKER] = LocalBroker.from_settings(settings).stop()
    return stopped


def running(settings: Settings) -> dict[str, processes.ProcessInfo]:
    """State of each managed process."""
    return {name: processes.info(settings.paths, name) for name in managed_names(settings)}


@dataclass(frozen=True)
class Progress:
    """How far the workers and the sink have read, over the topics each reads."""

    lag: int  # messages not yet consumed (and committed)
    committed: int  # sum of committed offsets: grows while work gets done


def progress(settings: Settings) -> Progress:
    """Read the committed offsets and lag of the stream's and the sink's groups."""
    return generation_progress(settings, Generation.of(settings).number, live=True)


def generation_progress(settings: Settings, generation: int, *, live: bool) -> Progress:
    """Progress of one pipeline generation's workers and sink (the live one also reads the
    shared dead-letter and silences topics)."""
    kafka = settings.kafka
    g = Generation.of(settings, generation)
    names = g.topics
    shared = {names.dead_letter, names.silences, names.dq_results} if live else set()
    reads = {
        g.app: {names.raw, names.rekeyed, names.updates},
        g.sink_group: {names.valid, names.snapshots, *shared},
    }
    parts = describe_offsets(kafka, list(reads), sorted(set().union(*reads.values())))
    lag = committed = 0
    for p in parts:
        for group, topics in reads.items():
            if p.topic in topics:
                lag += p.lag.get(group, 0)
                committed += p.committed.get(group) or 0
    return Progress(lag, committed)


def consumer_lag(settings: Settings) -> int:
    """Messages the workers and the sink have yet to read, over the topics each reads."""
    return progress(settings).lag


def wait_caught_up(
    settings: Settings,
    stall_s: float,
    *,
    quiet_checks: int = 3,
    interval_s: float = 1.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> bool:
    """Wait until the workers and the sink have consumed everything published.

    Waits as long as work gets done: returns False only when the committed offsets have
    not moved for ``stall_s`` while messages are still waiting. Lag must be zero several
    times in a row: a stage may still be sending what it read.
    """
    calm = 0
    last = progress(settings)
    moved = time.monotonic()
    while True:
        now = progress(settings)
        if on_progress is not None:
            on_progress(now)
        if now.committed != last.committed:
            last, moved = now, time.monotonic()
        calm = calm + 1 if now.lag == 0 else 0
        if calm >= quiet_checks:
            return True
        if now.lag and time.monotonic() - moved > stall_s:
            return False
        time.sleep(interval_s)
