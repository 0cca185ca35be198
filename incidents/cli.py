"""The `incidents` command: run the platform, feed it, and query it.

This is the only module that writes to the terminal. Every failure the user can cause
ends in one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from incidents.settings import Settings, load_settings

app = typer.Typer(
    name="incidents",
    help="Security-incident data platform: Kafka -> Faust -> ClickHouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns; allow wider rows.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "producers" / "samples" / "q1_2024"


class CliError(Exception):
    """A one-line error for the user."""


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def _main(
    ctx: typer.Context,
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="Settings file (default: ./incidents.env if present)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Client libraries log every failed connection attempt; the CLI says it once.
        for noisy in ("kafka", "aiokafka", "clickhouse_connect", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    ctx.obj = load_settings(env_file)


# --- the stack -------------------------------------------------------------------------


@app.command()
def up(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Faust worker processes.")] = 1,
    push: Annotated[bool, typer.Option(help="Also start the HTTP push endpoint.")] = True,
) -> None:
    """Start Kafka (local), the sink, the Faust workers and the push endpoint."""
    from incidents import stack

    settings = _settings(ctx)
    report = stack.up(settings, workers=workers, push=push, say=lambda m: err.print(m))
    table = Table("part", "state", title="incidents up")
    for name, state in report.parts.items():
        table.add_row(name, state)
    out.print(table)
    out.print(f"Kafka: {settings.kafka.bootstrap_servers}   warehouse: {settings.clickhouse_dsn}")
    if settings.embedded_warehouse:
        host, port = settings.clickhouse.sql_host, settings.clickhouse.sql_port
        out.print(f"SQL (read-only): http://{host}:{port}   logs: {settings.paths.log_dir}/")
    if push:
        out.print(f"push endpoint: http://{settings.push.host}:{settings.push.port}/v1/reports")
    if report.push_token_file:
        out.print(f"push token (generated for local use): {report.push_token_file}")


@app.command()
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
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from incidents import replay as replaying
    from producers.progress import wants_progress

    settings = _settings(ctx)
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


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop everything `up` started. Data is kept."""
    from incidents import stack

    stopped = stack.down(_settings(ctx))
    for name, was_running in stopped.items():
        out.print(f"{name}: {'stopped' if was_running else 'was not running'}")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show what runs and how it is doing: crashes, lag, the sink's retries, dead letters."""
    from incidents import stack
    from incidents.kafka_local import LocalBroker, broker_answers
    from incidents.topics import describe_offsets, topic_specs
    from sinks.clickhouse import endpoint_answers
    from streams.app import app_name

    settings = _settings(ctx)
    procs = Table("process", "state", "pid", "health", "log", title="processes")
    if settings.local_kafka.enabled:
        b = LocalBroker.from_settings(settings).status()
        procs.add_row("kafka (local)", _state(b.running), str(b.pid or ""), "", "")
    for name, info in stack.running(settings).items():
        procs.add_row(
            name, _state(info.running), str(info.pid or ""), _health(settings, name), str(info.log)
        )
    if settings.embedded_warehouse:
        answers = endpoint_answers(settings)
        url = f"http://{settings.clickhouse.sql_host}:{settings.clickhouse.sql_port}"
        procs.add_row("sql endpoint", _state(answers), "", "read-only", url)
    out.print(procs)
    if not broker_answers(settings.kafka.bootstrap_servers, timeout_s=3.0):
        raise CliError(
            f"Kafka at {settings.kafka.bootstrap_servers} does not answer; run `incidents up`"
        )
    generation = settings.generation
    groups = [app_name(settings), settings.sink.group(generation)]
    topics = Table("topic", "partitions", "messages", *(f"lag {g}" for g in groups), title="topics")
    by_topic: dict[str, list[Any]] = {}
    names = [s.name for s in topic_specs(settings.kafka, generation)]
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
    from incidents import health

    crashed = health.crash(settings, name) if name.startswith("worker-") else None
    if crashed is not None:
        return f"[red]{crashed.describe()}[/red]"
    samples = health.scrape(settings, name)
    if samples is None:
        return ""
    if name == "sink":
        sink = health.sink_health(samples)
        text = sink.describe()
        return f"[red]{text}[/red]" if sink.retrying else text
    if name.startswith("worker-"):
        return health.worker_notes(samples)
    if name == "push":
        return health.push_notes(samples)
    return ""


def _print_dead_letters(settings: Settings) -> None:
    """Dead letters of the last hour per source and reason (when the warehouse answers)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from incidents import health
    from sinks.exceptions import SinkError

    try:
        result = _query(settings, health.DEAD_LETTERS_LAST_HOUR)
    except (CliError, ClickHouseError, SinkError) as e:
        err.print(f"dead letters: the warehouse does not answer ({_first_line(str(e))})")
        return
    if not result.result_rows:
        out.print("dead letters in the last hour: none")
        return
    table = Table(
        "source", "reason", "stage", "letters", "example", title="dead letters, last hour"
    )
    for source, reason, stage, letters, example in result.result_rows:
        table.add_row(source or "?", reason or "?", stage or "?", str(letters), example[:80])
    out.print(table)


def _print_data_quality(settings: Settings) -> None:
    """The latest `incidents dq` run, and what failed in it (when the warehouse answers)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from incidents import health
    from sinks.exceptions import SinkError

    try:
        latest = _query(settings, health.LATEST_DQ_RUN).result_rows
        failures = _query(settings, health.LATEST_DQ_FAILURES).result_rows if latest else []
    except (CliError, ClickHouseError, SinkError) as e:
        err.print(f"data quality: the warehouse does not answer ({_first_line(str(e))})")
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


def _state(running: bool) -> str:
    return "[green]running[/green]" if running else "[red]stopped[/red]"


# --- feeding -------------------------------------------------------------------------


@app.command()
def publish(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSON lines or ACLED CSV file; '-' reads stdin.")],
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl, acled, or auto (by file extension).")
    ] = "auto",
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected records here as JSON lines.")
    ] = None,
    validate: Annotated[
        bool,
        typer.Option(help="Validate before sending; --no-validate leaves it to the stream."),
    ] = True,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: on a TTY).")] = None,
) -> None:
    """Publish incident reports to Kafka, keyed by source:source_event_id."""
    from producers.acled import publish_acled
    from producers.jsonl import publish_jsonl
    from producers.progress import wants_progress
    from producers.summary import format_summary

    settings = _settings(ctx)
    kind = fmt if fmt != "auto" else ("acled" if file.lower().endswith(".csv") else "jsonl")
    if kind not in ("jsonl", "acled"):
        raise CliError(f"unknown --format {fmt!r}; use jsonl, acled or auto")
    publish_file = publish_acled if kind == "acled" else publish_jsonl
    summary = publish_file(
        file, settings, validate=validate, rejects_path=rejects, progress=wants_progress(progress)
    )
    out.print(format_summary(summary))
    if summary.failed:
        raise CliError(f"{summary.failed} record(s) were not acknowledged by Kafka")


@app.command()
def config(ctx: typer.Context) -> None:
    """Show every setting's environment variable and its current value (secrets hidden)."""
    from incidents.settings import SECTIONS

    settings = _settings(ctx)
    table = Table("variable", "value", "description", title="settings")
    for name, cls in SECTIONS.items():
        section = getattr(settings, name)
        prefix = cls.model_config.get("env_prefix", "")
        for field, info in cls.model_fields.items():
            value = getattr(section, field)
            shown = "" if value is None else str(value)  # SecretStr prints as '**********'
            table.add_row(f"{prefix}{field}".upper(), shown, info.description or "")
    out.print(table)


@app.command()
def schema() -> None:
    """Print the report contract's JSON Schema."""
    from schemas.report import json_schema

    out.print_json(json.dumps(json_schema()))


# --- the warehouse -------------------------------------------------------------------


@app.command()
def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="A read-only ClickHouse SQL query.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Run a read-only SQL query against the warehouse and print the result."""
    settings = _settings(ctx)
    result = _query(settings, query)
    _print_result(result.column_names, result.result_rows, fmt)


def _query(settings: Settings, query: str, parameters: dict[str, Any] | None = None) -> Any:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from sinks.clickhouse import open_read_client

    client = open_read_client(settings)
    try:
        return client.query(query, parameters=parameters)
    except ClickHouseError as e:
        raise CliError("SQL error: " + _first_line(str(e))) from e
    finally:
        client.close()


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:400]
    return text[:400]


def _print_result(columns: Any, rows: list[Any], fmt: str) -> None:
    if fmt == "json":
        out.print_json(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    elif fmt == "table":
        table = Table()
        for i, name in enumerate(columns):
            numeric = bool(rows) and all(
                isinstance(r[i], int | float) and not isinstance(r[i], bool) for r in rows
            )
            table.add_column(name, justify="right" if numeric else "left")
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        out.print(table)
        out.print(f"{len(rows)} row(s)")
    else:
        raise CliError(f"unknown --format {fmt!r}; use table, csv or json")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the warehouse migrations (idempotent)."""
    from sinks.clickhouse import connect
    from sinks.migrate import migrate as run_migrations

    settings = _settings(ctx)
    client = connect(settings)
    try:
        applied = run_migrations(client, settings)
    finally:
        client.close()
    out.print(f"applied: {', '.join(applied)}" if applied else "warehouse is up to date")


# --- the demo ------------------------------------------------------------------------

PROVINCE_QUARTER = """
SELECT province, incidents, terror_attacks, security_operations,
       killed_total, injured_total, fatality_share_pct
FROM v_province_quarter
WHERE quarter = {quarter:Date}
ORDER BY killed_total DESC, province
"""


DEMO_ALERTS = """
SELECT rule, state, peak_end AS day, observed, summary
FROM v_alerts
WHERE state != 'withdrawn' AND last_day >= '2024-01-01' AND last_day < '2024-04-01'
ORDER BY rule, observed DESC, day
LIMIT 20
"""


@app.command()
def demo(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option(help="Give up when the pipeline makes no progress for this many seconds."),
    ] = 120,
) -> None:
    """Start the stack, publish the bundled Q1 2024 feeds, and show the province table."""
    from producers.acled import publish_acled
    from producers.jsonl import publish_jsonl
    from producers.summary import format_summary

    settings = _settings(ctx)
    up(ctx, workers=1, push=True)
    news, acled = SAMPLE_DIR / "news.jsonl", SAMPLE_DIR / "acled.csv"
    # --no-validate on the news feed: its malformed lines travel to the stream's dead letters.
    for path, summary in (
        (news, publish_jsonl(news, settings, validate=False, progress=None)),
        (acled, publish_acled(acled, settings, validate=True, progress=None)),
    ):
        out.print(f"[bold]{path.name}[/bold]: " + format_summary(summary))
    from incidents.stack import wait_caught_up

    err.print("waiting for the stream and the sink to catch up...")
    if not wait_caught_up(settings, timeout):
        raise CliError(
            f"the pipeline made no progress for {timeout:.0f} s; "
            "see `incidents status` and var/log/"
        )
    result = _query(settings, PROVINCE_QUARTER, {"quarter": "2024-01-01"})
    out.print("\n[bold]Q1 2024 by province[/bold] (SELECT ... FROM v_province_quarter)")
    _print_result(result.column_names, result.result_rows, "table")
    national = _query(
        settings,
        "SELECT incidents, killed_total, injured_total FROM v_national_quarter "
        "WHERE quarter = {quarter:Date}",
        {"quarter": "2024-01-01"},
    )
    _print_result(national.column_names, national.result_rows, "table")
    if national.result_rows and result.result_rows:
        incidents, killed, injured = national.result_rows[0]
        shares = {row[0]: row[-1] for row in result.result_rows}
        out.print(
            f"\n[bold]Q1 2024: {killed} fatalities, {injured} injuries, {incidents} incidents; "
            f"Khyber Pakhtunkhwa {shares.get('Khyber Pakhtunkhwa', 0):.0f}% and "
            f"Balochistan {shares.get('Balochistan', 0):.0f}% of all fatalities.[/bold]"
        )
    rejected = _query(settings, "SELECT count() AS dead_letters FROM rejected_reports FINAL")
    out.print(
        f"dead letters received so far (kept with their reasons): {rejected.result_rows[0][0]}; "
        'see them with: incidents sql "SELECT reasons, raw FROM rejected_reports FINAL"'
    )
    if settings.alerts.enabled:
        alerts = _query(settings, DEMO_ALERTS)
        out.print(
            f"\n[bold]Alerts the sample raises[/bold] ({len(alerts.result_rows)}; they are"
            " history, so nobody was paged; `incidents alerts list` shows them)"
        )
        _print_result(alerts.column_names, alerts.result_rows, "table")
    from incidents.report import Quarter
    from incidents.report_cli import load, write

    page = (settings.paths.var_dir / "reports" / "2024Q1.html").resolve()
    write(load(settings, Quarter(2024, 1)), page, "html")
    out.print(
        f"\n[bold]The Q1 2024 report[/bold] (incidents report --quarter 2024Q1): {page}",
        highlight=False,
    )
    out.print(
        "The stack keeps running. Try `.venv/bin/incidents status`, `.venv/bin/incidents dq`"
        " and docs/analysts.md; stop it with `.venv/bin/incidents down`."
    )


def _register_subcommands() -> None:
    from incidents.alerts_cli import alerts_app
    from incidents.dq_cli import dq
    from incidents.places_cli import places_app
    from incidents.report_cli import report

    app.add_typer(alerts_app, name="alerts")
    app.add_typer(places_app, name="places")
    app.command("dq")(dq)
    app.command("report")(report)


_register_subcommands()


def main() -> None:
    """Entry point: run the CLI, turning every error into one line."""
    from clickhouse_connect.driver.exceptions import ClickHouseError
    from kafka.errors import KafkaError

    try:
        # Without standalone mode click returns a command's `typer.Exit(code)` instead of
        # exiting with it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except typer.TyperException as e:  # usage errors: click's own one-line message
        show = getattr(e, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # the one place that turns errors into a line
        if isinstance(e, KafkaError):
            msg = f"Kafka error: {e}"
        elif isinstance(e, ClickHouseError):
            msg = "ClickHouse error: " + _first_line(str(e))
        else:
            msg = _first_line(str(e)) or type(e).__name__
        err.print(f"[red]error:[/red] {msg}", highlight=False, soft_wrap=True)
        logging.getLogger(__name__).info("error details", exc_info=True)
        sys.exit(1)
