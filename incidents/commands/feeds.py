"""`incidents publish` and `incidents schema`: feeding reports in, and their contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from incidents.common import CliError, out, settings_of
from producers.acled import publish_acled
from producers.jsonl import publish_jsonl
from producers.progress import wants_progress
from producers.summary import format_summary
from schemas.report import json_schema


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
    validators: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Processes that validate beside the one that sends (default: one per CPU"
            " beyond the first, at most 4, for a file of 4 MiB or more; 0: none).",
        ),
    ] = None,
) -> None:
    """Publish incident reports to Kafka, keyed by source:source_event_id."""
    settings = settings_of(ctx)
    kind = fmt if fmt != "auto" else ("acled" if file.lower().endswith(".csv") else "jsonl")
    if kind not in ("jsonl", "acled"):
        raise CliError(f"unknown --format {fmt!r}; use jsonl, acled or auto")
    publish_file = publish_acled if kind == "acled" else publish_jsonl
    summary = publish_file(
        file,
        settings,
        validate=validate,
        rejects_path=rejects,
        progress=wants_progress(progress),
        validators=validators,
    )
    out.print(format_summary(summary))
    if summary.failed:
        raise CliError(f"{summary.failed} record(s) were not acknowledged by Kafka")


def schema() -> None:
    """Print the report contract's JSON Schema."""
    out.print_json(json.dumps(json_schema()))
