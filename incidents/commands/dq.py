"""`incidents dq`: run the data-quality suites (Great Expectations) over the warehouse.

It reads through the same read-only path as `incidents sql`, writes the Data Docs site
under the var dir, sends the results to the sink (the dq.results topic; the sink stores
them in `dq_runs`/`dq_results` and raises an alert for a failing suite), prints a table and
exits non-zero when an expectation fails. docs/quality.md describes every suite.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated

import typer
from clickhouse_connect.driver.exceptions import ClickHouseError
from kafka.errors import KafkaError
from rich.markup import escape
from rich.table import Table

from incidents.common import CliError, clickhouse_message, err, out, settings_of
from incidents_config.names import Topics
from incidents_config.settings import Settings
from incidents_ops.topics import send_one
from schemas.warehouse import DqExpectationResult, DqRunMessage
from sinks.clickhouse import open_read_client

logger = logging.getLogger(__name__)


def dq(
    ctx: typer.Context,
    suite: Annotated[
        list[str] | None,
        typer.Option(
            "--suite",
            help="Run only this suite (repeatable): reports, incidents, dead_letters,"
            " reconciliation, freshness.",
        ),
    ] = None,
    store: Annotated[
        bool, typer.Option(help="Send the results to the sink, which stores them.")
    ] = True,
    every: Annotated[
        float,
        typer.Option(
            hidden=True, help="Run forever, every this many seconds (the stack's schedule)."
        ),
    ] = 0.0,
) -> None:
    """Check the warehouse's data quality; exit 1 when an expectation fails.

    Suites: reports and incidents (keys, gazetteer, contract bounds, dates, coordinates),
    dead_letters (rate per source), reconciliation (aggregates = a recomputation from the
    incidents), freshness (a feed that went silent). See docs/quality.md.
    """
    settings = settings_of(ctx)
    if every > 0:
        _schedule(settings, every)
        return
    if not check(settings, suite or [], store=store, trigger="cli").success:
        raise typer.Exit(1)


def check(
    settings: Settings, names: list[str], *, store: bool, trigger: str, detail: bool = True
) -> DqRunMessage:
    """Run the suites once, print and store the results; return what the run found.

    `detail=False` prints only the verdict (the demo's one line), not every expectation."""
    # lazy: Great Expectations takes seconds to import; only a run needs it
    from incidents_quality.run import UnknownSuite, run_suites, select_suites

    try:
        suites = select_suites(settings, names)
    except UnknownSuite as e:
        raise CliError(str(e)) from e
    client = open_read_client(settings)
    try:
        with err.status("data quality: starting...") as status:
            run = run_suites(
                settings,
                client,
                suites,
                trigger=trigger,
                on_suite=lambda name: status.update(f"data quality: suite {name}..."),
            )
    except ClickHouseError as e:
        raise CliError(clickhouse_message(e)) from e
    finally:
        client.close()
    if detail:
        _print(run.message)
        out.print(f"Data Docs: {run.data_docs}", highlight=False)
        for failing in (s for s in run.message.suites if not s.success and s.data_docs):
            out.print(f"  {failing.suite}: {failing.data_docs}", highlight=False)
    if store:
        _store(settings, run.message)
    failed = sum(s.failed for s in run.message.suites)
    total = sum(s.expectations for s in run.message.suites)
    if failed:
        err.print(f"[red]data quality: {failed} of {total} expectations failed[/red]")
    else:
        out.print(f"[green]data quality: all {total} expectations passed[/green]")
    return run.message


def _print(message: DqRunMessage) -> None:
    table = Table(
        "suite",
        "expectation",
        "result",
        "observed / unexpected",
        title=f"data quality run {message.run_id}",
    )
    for r in message.results:
        result = "[green]pass[/green]" if r.success else "[red]FAIL[/red]"
        what = r.description or f"{r.expectation} ({r.column})"
        table.add_row(escape(r.suite), escape(what), result, escape(_detail(r)))
    out.print(table)


def _detail(r: DqExpectationResult) -> str:
    if r.success:
        return _short(r.observed)
    examples = json.loads(r.unexpected_examples) if r.unexpected_examples else []
    shown = ", ".join(_short(json.dumps(e, ensure_ascii=False)) for e in examples[:3])
    if r.unexpected_count:
        return f"{r.unexpected_count} unexpected: {shown}"
    return _short(r.observed) or shown


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _store(settings: Settings, message: DqRunMessage) -> None:
    try:
        send_one(
            settings.kafka,
            Topics(settings.kafka.topic_prefix).dq_results,
            message.run_id,
            message.model_dump_json().encode(),
        )
    except KafkaError as e:
        err.print(
            f"[yellow]warning:[/yellow] results not stored (Kafka at"
            f" {settings.kafka.bootstrap_servers}: {type(e).__name__}); start the stack with"
            " `incidents up`",
            highlight=False,
        )


def _schedule(settings: Settings, every: float) -> None:
    """The stack's data-quality process: a run every `every` seconds; a failed run is
    stored (and alerted on by the sink), an error is logged, and the loop goes on."""
    while True:
        time.sleep(every)  # the first run one interval after start: data has arrived
        try:
            check(settings, [], store=True, trigger="schedule")
        except Exception:  # keep the schedule alive; the log says what happened
            logger.exception("data-quality run failed")
