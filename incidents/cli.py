"""The `incidents` command: run the platform, feed it, and query it.

This module assembles the command groups (``incidents/commands/``) into one Typer app;
what they share is in :mod:`incidents.common`. Every failure the user can cause ends in
one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from clickhouse_connect.driver.exceptions import ClickHouseError
from kafka.errors import KafkaError
from rich.markup import escape

from incidents.commands import alerts, demo, dq, feeds, places, report, run, stack, warehouse
from incidents.common import VAR_DIR, clickhouse_message, err, first_line
from incidents_config import var_dir
from incidents_config.settings import load_settings

app = typer.Typer(
    name="incidents",
    help="Security-incident data platform: Kafka -> Faust -> ClickHouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
    settings = load_settings(env_file)
    located = var_dir.locate(settings.paths, cwd=Path.cwd(), code=var_dir.checkout())
    ctx.obj = settings.in_var_dir(located.path)
    ctx.meta[VAR_DIR] = located


for command in (
    stack.up,
    stack.replay,
    stack.down,
    stack.status,
    feeds.publish,
    warehouse.config,
    feeds.schema,
    warehouse.sql,
    warehouse.migrate,
    demo.demo,
):
    app.command()(command)
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(places.places_app, name="places")
app.command("dq")(dq.dq)
app.command("report")(report.report)
app.add_typer(run.run_app, name="run")


def main() -> None:
    """Entry point: run the CLI, turning every error into one line."""
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
            err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # the one place that turns errors into a line
        if isinstance(e, KafkaError):
            msg = f"Kafka error: {e}"
        elif isinstance(e, ClickHouseError):
            msg = clickhouse_message(e)
        else:
            msg = first_line(str(e)) or type(e).__name__
        err.print(f"[red]error:[/red] {escape(msg)}", highlight=False, soft_wrap=True)
        logging.getLogger(__name__).info("error details", exc_info=True)
        sys.exit(1)
