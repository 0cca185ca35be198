"""`incidents sql`, `migrate` and `config`: the warehouse, and the settings behind it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from incidents.common import moment_of, out, print_result, query, settings_of
from incidents_config.settings import SECTIONS
from sinks.clickhouse import connect
from sinks.migrate import migrate as run_migrations


def sql(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(metavar="QUERY", help="A read-only ClickHouse SQL query.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="TIME",
            help="Answer as the platform knew it then: the reports that had arrived by TIME"
            " (2024-04-05 = midnight UTC; 2024-04-05 17:30 UTC; or with an offset,"
            " 2024-04-05T17:30+05:00). Reads the views' as-of twins, v_<name>_as_of.",
        ),
    ] = None,
) -> None:
    """Run a read-only SQL query against the warehouse and print the result."""
    result = query(settings_of(ctx), text, as_of=moment_of(as_of))
    print_result(result.column_names, result.result_rows, fmt)


def migrate(ctx: typer.Context) -> None:
    """Apply the warehouse migrations (idempotent)."""
    settings = settings_of(ctx)
    client = connect(settings)
    try:
        applied = run_migrations(client, settings)
    finally:
        client.close()
    out.print(f"applied: {', '.join(applied)}" if applied else "warehouse is up to date")


def config(ctx: typer.Context) -> None:
    """Show every setting's environment variable and its current value (secrets hidden)."""
    settings = settings_of(ctx)
    table = Table("variable", "value", "description", title="settings")
    for name, cls in SECTIONS.items():
        section = getattr(settings, name)
        prefix = cls.model_config.get("env_prefix", "")
        for field, info in cls.model_fields.items():
            value = getattr(section, field)
            shown = "" if value is None else str(value)  # SecretStr prints as '**********'
            table.add_row(f"{prefix}{field}".upper(), shown, info.description or "")
    out.print(table)
