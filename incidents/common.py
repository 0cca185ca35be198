"""What every `incidents` command shares: the one-line error, the consoles, the settings
of the invocation, read-only queries and how results are printed.

The CLI is the only part of the platform that writes to the terminal.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

import typer
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.query import QueryResult
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from incidents_config.settings import Settings
from incidents_config.var_dir import VarDir
from sinks import as_of as as_of_module
from sinks.clickhouse import database_name, open_read_client
from sinks.sql_client import SqlParser
from sinks.sql_policy import QueryRefused


def _width(stream: TextIO) -> int | None:
    """None (rich's own choice: COLUMNS, else the terminal's width) on a terminal or when
    COLUMNS is set; else 160, as off a terminal (CI logs, pipes) rich would wrap tables at
    80 columns. COLUMNS is the terminal's convention, not a setting of ours."""
    return None if stream.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160


out = Console(width=_width(sys.stdout))
err = Console(stderr=True, width=_width(sys.stderr))


class CliError(Exception):
    """A one-line error for the user (exit code 1)."""


def settings_of(ctx: typer.Context) -> Settings:
    """The settings this invocation loaded (``--env-file``, environment, defaults), with
    the var dir it works in as an absolute path."""
    settings: Settings = ctx.obj
    return settings


# Where the invocation keeps the var dir it located (click's `meta` is the invocation's).
VAR_DIR = "incidents.var_dir"


def var_dir_of(ctx: typer.Context) -> VarDir:
    """The var dir this invocation works in, and how it was chosen."""
    located: VarDir = ctx.meta[VAR_DIR]
    return located


def usage_error(message: str) -> typer.Exit:
    """A usage error in one line (click's own would add two lines of usage), exit code 2."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def first_line(text: str) -> str:
    """The first non-empty line of an error text, at most 400 characters."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:400]
    return text[:400]


# "...server response: Code: 60. DB::Exception: <message>. (UNKNOWN_TABLE) (for url ...)"
_CLICKHOUSE_ERROR = re.compile(
    r"Code: (?P<code>\d+)\. (?:DB::Exception: )?(?P<message>.*?)"
    r"(?: \([A-Z][A-Z0-9_]+\))?(?: \(version [^)]*\))?(?: \(for url [^)]*\))?\s*$"
)


_MESSAGE_CHARS = 400


def clickhouse_message(error: BaseException) -> str:
    """ClickHouse's own message of an error and its code, on one line:
    ``Unknown table expression identifier 'x' (code 60)``, without the client's prefixes.

    A message that quotes a query of several lines (a syntax error) is joined into one line
    and cut at 400 characters, so the code always shows.
    """
    text = " ".join(str(error).split())
    found = _CLICKHOUSE_ERROR.search(text)
    if found is None:
        return first_line(str(error))
    message = found["message"].strip().removesuffix(".")
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1].rstrip() + "…"
    return f"{message} (code {found['code']})"


def query(
    settings: Settings,
    sql: str,
    parameters: dict[str, Any] | None = None,
    as_of: datetime | None = None,
) -> QueryResult:
    """Run a read-only query on the warehouse; a SQL error is a one-line CliError.

    ``as_of``: answer as known at that moment, reading the live views' as-of twins
    (sinks.as_of); refused in one line when that answer would not be exact.
    """
    client = open_read_client(settings)
    try:
        if as_of is not None:
            sql, parameters = _as_of_query(client, settings, sql, parameters, as_of)
        return client.query(sql, parameters=parameters)
    except as_of_module.AsOfRefused as e:
        raise CliError(str(e)) from e
    except ClickHouseError as e:
        raise CliError(clickhouse_message(e)) from e
    finally:
        client.close()


def moment_of(as_of: str | None) -> datetime | None:
    """The moment an `--as-of TIME` option names (None without it); a one-line CliError."""
    if as_of is None:
        return None
    try:
        return as_of_module.parse_moment(as_of)
    except as_of_module.AsOfRefused as e:
        raise CliError(str(e)) from e


def _as_of_query(
    client: Any,
    settings: Settings,
    sql: str,
    parameters: dict[str, Any] | None,
    moment: datetime,
) -> tuple[str, dict[str, Any] | None]:
    """The query and parameters that answer ``sql`` as known at ``moment``; AsOfRefused
    when that answer would not be exact."""
    as_of_module.check_answerable(client, settings, moment)
    database = database_name(settings)
    rewritten, bound = as_of_module.bind(sql, database, moment, parameters)
    try:
        tree = SqlParser(client.raw_query).parse(rewritten)
    except QueryRefused as e:
        if e.reason != "syntax":
            raise
        tree = None  # running it reports the syntax error as the engine words it
    if tree is not None:
        warehouse = [str(row[0]) for row in client.query("SHOW TABLES").result_rows]
        as_of_module.check_reads_as_of(tree, database, warehouse, sql)
    return rewritten, bound


def print_result(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Print rows as a table (numbers right-aligned), CSV or JSON."""
    if fmt == "json":
        out.print_json(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
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
            table.add_row(*("" if v is None else escape(str(v)) for v in r))
        out.print(table)
        out.print(f"{len(rows)} row(s)")
    else:
        raise CliError(f"unknown --format {fmt!r}; use table, csv or json")


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d` -> a timedelta; a one-line error otherwise."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise CliError(f"bad duration {text!r}: use a number and s, m, h or d (e.g. 24h)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def state_label(running: bool) -> str:
    """A process's state, coloured."""
    return "[green]running[/green]" if running else "[red]stopped[/red]"
