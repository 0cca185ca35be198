"""`incidents report`: the quarterly security report, on the terminal or as HTML, Markdown
or PDF. The numbers are read from the analyst views (incidents_report/data.py); each output
has its rendering module in incidents_report/.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from clickhouse_connect.driver.exceptions import ClickHouseError

from incidents.common import (
    CliError,
    clickhouse_message,
    moment_of,
    out,
    settings_of,
    usage_error,
)
from incidents_config.settings import Settings
from incidents_report.data import Quarter, QuarterlyReport, build_report
from incidents_report.exceptions import NoData, QuarterError, RenderError
from incidents_report.html import write_html
from incidents_report.markdown import write_markdown
from incidents_report.pdf import write_pdf
from incidents_report.screenshots import write_screenshots
from incidents_report.terminal import print_terminal
from sinks.as_of import AsOfRefused, check_answerable
from sinks.clickhouse import open_read_client

FORMATS = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".pdf": "pdf",
}


def report(
    ctx: typer.Context,
    quarter: Annotated[
        str,
        typer.Option(
            "--quarter",
            "-q",
            metavar="YYYYQn",
            help="The quarter, e.g. 2024Q1 (also 2024-Q1 or 'Q1 2024').",
            show_default=False,
        ),
    ],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the report to this file; its extension picks the format: .html (one"
            " self-contained page), .md (charts as SVG files in <name>_files/ beside it) or"
            " .pdf (needs Chromium). Without it: a summary on the terminal.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="TIME",
            help="The report as the platform knew it then: the reports that had arrived by"
            " TIME (2024-04-05 = midnight UTC; 2024-04-05 17:30 UTC; or"
            " 2024-04-05T17:30+05:00), with a 'Revised since' section on what changed"
            " between then and now.",
        ),
    ] = None,
    screenshots: Annotated[
        Path | None,
        typer.Option(
            "--screenshots",
            metavar="DIR",
            help="Also write PNGs of the report's first two printed pages and of its map"
            " into DIR (the pictures of docs/analysts.md; needs Chromium and pdftoppm).",
        ),
    ] = None,
) -> None:
    """The quarterly security report: national totals, provinces, districts, the deadliest
    incidents with their sources, charts, and a data-quality note.

    Every figure is read with SQL from the warehouse's analyst views (docs/analysts.md).
    Exits 1 when the quarter has no incidents.
    """
    try:
        q = Quarter.parse(quarter)
    except QuarterError as e:
        raise usage_error(f"--quarter: {e}") from e
    kind = None
    if out_file is not None:
        kind = FORMATS.get(out_file.suffix.lower())
        if out_file.is_dir():
            raise usage_error(f"--out {out_file}: is a directory; name a file (report.html)")
        if kind is None:
            raise usage_error(f"--out {out_file}: the name must end in .html, .md or .pdf")
    if screenshots is not None and screenshots.exists() and not screenshots.is_dir():
        raise usage_error(f"--screenshots {screenshots}: is a file; name a directory")
    data = load(settings_of(ctx), q, moment_of(as_of))
    if screenshots is not None:
        try:
            shots = write_screenshots(data, screenshots)
        except RenderError as e:
            raise CliError(str(e)) from e
        except OSError as e:
            raise CliError(f"cannot write {screenshots}: {e.strerror or e}") from e
        for shot in shots:
            out.print(f"screenshot written to {shot}", highlight=False)
        if out_file is None:
            return
    if out_file is None:
        print_terminal(data, out)
        return
    write(data, out_file, kind or "html")
    out.print(f"{kind} report for {q.title} written to {out_file}", highlight=False)


def load(settings: Settings, quarter: Quarter, known_at: datetime | None = None) -> QuarterlyReport:
    """Read the quarter's report, as known at ``known_at`` if given (a one-line CliError
    when the warehouse can't say)."""
    client = open_read_client(settings)
    try:
        if known_at is not None:
            check_answerable(client, settings, known_at)
        return build_report(client, quarter, known_at=known_at)
    except (NoData, AsOfRefused) as e:
        raise CliError(str(e)) from e
    except ClickHouseError as e:
        raise CliError(clickhouse_message(e)) from e
    finally:
        client.close()


def write(data: QuarterlyReport, path: Path, kind: str) -> list[Path]:
    """Write the report as `kind` (html, markdown, pdf); return the paths written."""
    try:
        if kind == "markdown":
            return list(write_markdown(data, path))
        if kind == "pdf":
            return [write_pdf(data, path)]
        return [write_html(data, path)]
    except RenderError as e:
        raise CliError(str(e)) from e
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}") from e
