"""`incidents up`, `down`, `status` and `replay`: the local stack and its health."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from clickhouse_connect.driver.exceptions import ClickHouseError
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from incidents.common import (
    CliError,
    err,
    first_line,
    out,
    query,
    settings_of,
    state_label,
    var_dir_of,
)
from incidents_config import var_dir
from incidents_config.names import Generation
from incidents_config.settings import Settings
from incidents_ops import health, stack
from incidents_ops import replay as replaying
from incidents_ops.kafka_local import LocalBroker, broker_answers
from incidents_ops.topics import describe_offsets, topic_specs
from producers.progress import wants_progress
from sinks.clickhouse import endpoint_answers, endpoint_url
from sinks.exceptions import SinkError
from sinks.gazetteer import gazetteer_state


def up(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Faust worker processes.")] = 1,
    push: Annotated[bool, typer.Option(help="Also start the HTTP push endpoint.")] = True,
) -> None:
    """Start Kafka (local), the sink, the Faust workers and the push endpoint."""
    settings = settings_of(ctx)
    located = var_dir_of(ctx)
    # First: a stack that fails half-way is still found (and stopped) from any folder.
    var_dir.record(settings.paths, located, code=var_dir.checkout())
    report = stack.up(settings, workers=workers, push=push, say=lambda m: err.print(m))
    table = Table("part", "state", title="incidents up")
    for name, state in report.parts.items():
        table.add_row(name, state)
    out.print(table)
    found = "the same setting finds it" if located.how == "setting" else "found from any folder"
    out.print(f"var dir: {escape(str(located.path))} ({found})", highlight=False, soft_wrap=True)
    out.print(f"Kafka: {settings.kafka.bootstrap_servers}   warehouse: {settings.clickhouse_dsn}")
    if settings.embedded_warehouse:
        sql_url = endpoint_url(settings)
        out.print(f"SQL (read-only): {sql_url}   logs: {settings.paths.log_dir}/")
    if push:
        out.print(f"push endpoint: {stack.push_url(settings)}/v1/reports")
    if report.push_token_file:
        out.print(f"push token (generated for local use): {report.push_token_file}")


def replay(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Replay worker processes.")] = 1,
    stall: Annotated[
        float,
        typer.Option(help="Give up (and undo) when the replay makes no progress for this long, s."),
    ] = 300.0,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: on a TTY).")] = None,
) -> None:
    """Rebuild the warehouse from the retained raw topic, then switch to it atomically.

    Recomputes every report under the settings in force now (e.g. a new
    STREAMS_CASUALTY_RULE) into new tables while the live pipeline keeps serving; analysts
    see the old warehouse until the switch and the whole new one after it. See
    docs/operations.md.
    """
    settings = settings_of(ctx)
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} reports  {task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=not wants_progress(progress),
    )
    started = time.monotonic()
    with bar:
        task = bar.add_task("replaying", total=None, rate="")

        def show(p: replaying.Progress) -> None:
            elapsed = time.monotonic() - started
            rate = f"{p.done / elapsed:,.0f}/s" if elapsed > 0 else ""
            bar.update(task, completed=p.done, total=max(p.total, 1), rate=rate)

        result = replaying.replay(
            settings, workers=workers, stall_s=stall, on_progress=show, say=err.print
        )
    out.print(
        f"replayed {result.reports:,} reports into generation {result.generation} in"
        f" {result.seconds:,.0f} s ({result.reports / max(result.seconds, 1e-9):,.0f}/s);"
        " the views now show it"
    )


def down(ctx: typer.Context) -> None:
    """Stop everything `up` started. Data is kept."""

    stopped = stack.down(settings_of(ctx))
    for name, was_running in stopped.items():
        out.print(f"{name}: {'stopped' if was_running else 'was not running'}")
    where = escape(var_dir_of(ctx).describe())
    if any(stopped.values()):
        out.print(f"stack: stopped (var dir {where})", highlight=False, soft_wrap=True)
    else:
        out.print(
            f"stack: nothing was running (looked in {where})", highlight=False, soft_wrap=True
        )


def status(ctx: typer.Context) -> None:
    """Show what runs and how it is doing: crashes, lag, the sink's retries, dead letters."""
    settings = settings_of(ctx)
    procs = Table("process", "state", "pid", "health", "log", title="processes")
    up_here = False
    if settings.local_kafka.enabled:
        b = LocalBroker.from_settings(settings).status()
        procs.add_row("kafka (local)", state_label(b.running), str(b.pid or ""), "", "")
        up_here = b.running
    for name, info in stack.running(settings).items():
        up_here = up_here or info.running
        procs.add_row(
            name,
            state_label(info.running),
            str(info.pid or ""),
            _health(settings, name),
            str(info.log),
        )
    if settings.embedded_warehouse:
        answers = endpoint_answers(settings)
        url = endpoint_url(settings) or ""
        procs.add_row("sql endpoint", state_label(answers), "", "read-only", url)
    out.print(procs)
    where = var_dir_of(ctx).describe()
    state = "[green]running[/green] (var dir" if up_here else "[red]stopped[/red] (looked in"
    out.print(f"stack: {state} {escape(where)})", highlight=False, soft_wrap=True)
    places = gazetteer_state(settings)
    line = escape(f"places gazetteer (generation {places.generation}): {places.describe()}")
    out.print(f"[red]{line}[/red]" if places.stale else line, highlight=False)
    if not broker_answers(settings.kafka.bootstrap_servers, timeout_s=3.0):
        raise CliError(
            f"Kafka at {settings.kafka.bootstrap_servers} does not answer; run `incidents up`"
        )
    generation = Generation.of(settings)
    groups = [generation.app, generation.sink_group]
    topics = Table("topic", "partitions", "messages", *(f"lag {g}" for g in groups), title="topics")
    by_topic: dict[str, list[Any]] = {}
    names = [s.name for s in topic_specs(settings.kafka, generation.number)]
    for p in describe_offsets(settings.kafka, groups, names):
        by_topic.setdefault(p.topic, []).append(p)
    for name, parts in by_topic.items():
        lags = []
        for g in groups:
            if all(p.committed.get(g) is None for p in parts):
                lags.append("-")
            else:
                lags.append(str(sum(p.lag.get(g, 0) for p in parts)))
        messages = sum(p.end_offset - p.start_offset for p in parts)
        topics.add_row(name, str(len(parts)), str(messages), *lags)
    out.print(topics)
    _print_dead_letters(settings)
    _print_data_quality(settings)


def _health(settings: Settings, name: str) -> str:
    """One cell on a process's health: its crash, or what its metrics say."""

    crashed = health.crash(settings, name) if name.startswith("worker-") else None
    if crashed is not None:
        return f"[red]{crashed.describe()}[/red]"
    samples = health.scrape(settings, name)
    if samples is None:
        return ""
    if name == "sink":
        sink = health.sink_health(samples)
        text = sink.describe()
        return f"[red]{text}[/red]" if sink.trouble else text
    if name.startswith("worker-"):
        return health.worker_notes(samples)
    if name == "push":
        return health.push_notes(samples)
    return ""


def _print_dead_letters(settings: Settings) -> None:
    """Dead letters of the last hour per source and reason (when the warehouse answers)."""

    try:
        result = query(settings, health.DEAD_LETTERS_LAST_HOUR)
    except (CliError, ClickHouseError, SinkError) as e:
        err.print(f"dead letters: the warehouse does not answer ({first_line(str(e))})")
        return
    if not result.result_rows:
        out.print("dead letters in the last hour: none")
        return
    table = Table(
        "source", "reason", "stage", "letters", "example", title="dead letters, last hour"
    )
    for source, reason, stage, letters, example in result.result_rows:
        table.add_row(
            *(escape(v or "?") for v in (source, reason, stage)), str(letters), escape(example[:80])
        )
    out.print(table)


def _print_data_quality(settings: Settings) -> None:
    """The latest `incidents dq` run, and what failed in it (when the warehouse answers)."""

    try:
        latest = query(settings, health.LATEST_DQ_RUN).result_rows
        failures = query(settings, health.LATEST_DQ_FAILURES).result_rows if latest else []
    except (CliError, ClickHouseError, SinkError) as e:
        err.print(f"data quality: the warehouse does not answer ({first_line(str(e))})")
        return
    if not latest:
        out.print("data quality: no run recorded yet (`incidents dq`)")
        return
    finished, trigger, success, expectations, failed, suites = latest[0]
    what = f"suites {suites}" if failed == 0 else ""
    verdict = (
        "[green]passed[/green]" if success else f"[red]{failed} of {expectations} failed[/red]"
    )
    out.print(f"data quality: last run {finished:%Y-%m-%d %H:%M} UTC ({trigger}): {verdict} {what}")
    for suite, description, unexpected in failures:
        out.print(f"  [red]FAIL[/red] {suite}: {description} ({unexpected} unexpected)")
