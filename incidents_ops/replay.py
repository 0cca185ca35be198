"""`incidents replay`: rebuild the warehouse from the retained raw topic, then switch to it.

The raw topic keeps every report forever; a changed rule (the casualty rule, the gazetteer,
a fixed bug) only reaches history by recomputing it. A replay builds the next pipeline
*generation* beside the live one, while the live one keeps serving:

1. the new generation's internal topics are created (``<prefix>.g<N>.*``);
2. the sink is restarted to also write generation N, into ``<table>_g<N>`` copies of the
   tables the stream derives (``sinks.generations``; a few seconds without the SQL
   endpoint in embedded mode);
3. replay workers (``replay-1`` ...) start with a fresh Faust app (``<app>-g<N>``: fresh
   consumer group, tables and changelogs) and read the raw topic from the beginning, with
   the settings in force now;
4. when they have caught up with the raw topic, the live workers stop, the rest drains,
   the sink stops, each rebuilt table is exchanged with its live one (``EXCHANGE
   TABLES``) while nobody can query, generation N is recorded in ``var/run/generation``
   and the stack restarts on it. Generation N's gazetteer version (places.json and the
   alias overlay as they were when the replay started) is recorded beside it: the only way
   a changed gazetteer reaches the keys (``streams.app.use_gazetteer``). Analysts see the
   old warehouse until the switch and the whole new one after it, never a half-rebuilt one.

A replay that fails or is interrupted before the switch is undone: replay workers stopped,
the sink restarted without the build, the copies dropped. Generation numbers are never
reused (:class:`incidents_config.names.Ledger`), so a later replay starts from scratch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from incidents_config.names import (
    SINK,
    WORKER_PREFIX,
    Generation,
    Ledger,
    Topics,
    replay_worker_name,
    worker_name,
)
from incidents_config.settings import Settings
from incidents_ops import processes, stack
from incidents_ops.exceptions import OpsError
from incidents_ops.topics import describe_offsets, ensure_topics
from schemas.places import places_with_overlay
from sinks.clickhouse import connect, database_name
from sinks.generations import drop_build_tables, switch

logger = logging.getLogger(__name__)

WORKER_ID_OFFSET = 1000  # replay worker i runs as worker id 1000 + i: its own folder


class ReplayError(OpsError):
    """The replay could not be done; the live pipeline is as it was."""


@dataclass(frozen=True)
class Progress:
    """How far the replay has read the raw topic, and what is left downstream."""

    done: int  # raw messages the replay workers have committed
    total: int  # raw messages now (the topic keeps growing while the live pipeline runs)
    lag: int  # messages the replay's workers and sink have still to read, all topics


@dataclass(frozen=True)
class ReplayResult:
    generation: int
    reports: int  # raw messages replayed
    seconds: float


def replay(
    settings: Settings,
    *,
    workers: int = 1,
    stall_s: float = 300.0,
    on_progress: Callable[[Progress], None] | None = None,
    say: Callable[[str], None] = print,
) -> ReplayResult:
    """Rebuild the warehouse as generation (last + 1) and switch the stack to it."""
    paths = settings.paths
    if not processes.info(paths, SINK).running:
        raise ReplayError("the stack is not running; start it with `incidents up` first")
    ledger = Ledger(paths)
    live = ledger.current(settings)
    running = [n for n in stack.managed_names(settings) if processes.info(paths, n).running]
    live_workers = [n for n in running if n.startswith(WORKER_PREFIX)] or [worker_name(1)]
    started = time.monotonic()
    # The gazetteer the new generation's keys are built with: places.json and the overlay
    # as they are now (a broken overlay stops the replay here, naming file and line).
    gazetteer = places_with_overlay(paths.overlay).version
    new = ledger.start_next()
    ledger.record_gazetteer(new, gazetteer)

    say(f"replaying into generation {new} (live: {live}); the live pipeline keeps serving")
    ensure_topics(settings.kafka, generation=new)
    building = settings.for_generation(live).model_copy(
        update={"sink": settings.sink.model_copy(update={"build_generation": new})}
    )
    _restart_sink(building)
    try:
        replay_settings = settings.for_generation(new).model_copy(
            update={"metrics": settings.metrics.model_copy(update={"worker_port": 0})}
        )
        for i in range(1, workers + 1):
            stack.start_worker(replay_settings, replay_worker_name(i), WORKER_ID_OFFSET + i)
        _follow(settings, new, stall_s, on_progress, raw_only=True)
        say("caught up with the raw topic; switching")
        for name in live_workers:
            processes.stop(paths, name)
        _follow(settings, new, stall_s, on_progress, raw_only=False)
        processes.stop(paths, SINK)
    except BaseException:
        _undo(settings, new, workers, live_workers, say)
        raise
    total = _raw_messages(settings)
    _switch(settings, new)
    for i in range(1, workers + 1):
        processes.stop(paths, replay_worker_name(i))
    _start_stack(settings.for_generation(new), live_workers)
    return ReplayResult(new, total, time.monotonic() - started)


def _follow(
    settings: Settings,
    generation: int,
    stall_s: float,
    on_progress: Callable[[Progress], None] | None,
    *,
    raw_only: bool,
) -> None:
    """Wait until the replay has read the raw topic (and, unless raw_only, everything)."""
    group = Generation.of(settings, generation).app
    kafka = settings.kafka
    last, moved = -1, time.monotonic()
    quiet = 0
    while True:
        raw = describe_offsets(kafka, [group], [Topics(kafka.topic_prefix).raw])
        done = sum(p.committed.get(group) or 0 for p in raw)
        total = sum(p.end_offset for p in raw)
        behind = stack.generation_progress(settings, generation, live=False)
        lag = behind.lag
        if on_progress is not None:
            on_progress(Progress(done, total, lag))
        finished = sum(p.lag.get(group, 0) for p in raw) == 0 if raw_only else lag == 0
        quiet = quiet + 1 if finished else 0
        if quiet >= 3:  # three polls in a row: nothing was in flight
            return
        if behind.committed != last:
            last, moved = behind.committed, time.monotonic()
        elif time.monotonic() - moved > stall_s:
            raise ReplayError(
                f"the replay made no progress for {stall_s:.0f} s ({lag} messages behind);"
                f" see {settings.paths.log_dir}/{replay_worker_name(1)}.log and sink.log"
            )
        time.sleep(1.0)


def _raw_messages(settings: Settings) -> int:
    parts = describe_offsets(settings.kafka, [], [Topics(settings.kafka.topic_prefix).raw])
    return sum(p.end_offset for p in parts)


def _switch(settings: Settings, generation: int) -> None:
    """Exchange the rebuilt tables with the live ones (nobody is querying), record it."""
    client = connect(settings)
    try:
        switch(client, database_name(settings), generation)
    finally:
        client.close()
    Ledger(settings.paths).make_live(generation)
    logger.info("switched to generation %d", generation)


def _undo(
    settings: Settings,
    generation: int,
    workers: int,
    live_workers: list[str],
    say: Callable[[str], None],
) -> None:
    """Put the live pipeline back as it was after a failed or interrupted replay."""
    say(f"replay into generation {generation} stopped; undoing it")
    paths = settings.paths
    for i in range(1, workers + 1):
        processes.stop(paths, replay_worker_name(i))
    processes.stop(paths, SINK)
    try:
        client = connect(settings)
        try:
            drop_build_tables(client, database_name(settings), generation)
        finally:
            client.close()
    except Exception:
        logger.exception("cannot drop generation %d's tables", generation)
    _start_stack(settings.for_generation(Ledger(paths).current(settings)), live_workers)


def _restart_sink(settings: Settings) -> None:
    processes.stop(settings.paths, SINK)
    stack.start_sink(settings)


def _start_stack(settings: Settings, workers: list[str]) -> None:
    """Start the sink and the named workers on `settings`' generation."""
    stack.start_sink(settings)
    for name in workers:
        stack.start_worker(settings, name, int(name.removeprefix(WORKER_PREFIX)))
