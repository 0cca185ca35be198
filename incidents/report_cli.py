"""`incidents report`: the quarterly security report, on the terminal or as HTML, Markdown
or PDF. The numbers are read from the analyst views (incidents/report.py); rendering is in
incidents/report_render.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from incidents.cli import CliError, _first_line, _settings, err, out
from incidents.report import NoData, Quarter, QuarterError, Report
from incidents.settings import Settings

FORMATS = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".pdf": "pdf",
}


def _usage_error(message: str) -> typer.Exit:
    """A usage error in one line (click's own would add two lines of usage), exit code 2."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


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
) -> None:
    """The quarterly security report: national totals, provinces, districts, the deadliest
    incidents with their sources, charts, and a data-quality note.

    Every figure is read with SQL from the warehouse's analyst views (docs/analysts.md).
    Exits 1 when the quarter has no incidents.
    """
    try:
        q = Quarter.parse(quarter)
    except QuarterError as e:
        raise _usage_error(f"--quarter: {e}") from e
    kind = None
    if out_file is not None:
        kind = FORMATS.get(out_file.suffix.lower())
        if out_file.is_dir():
            raise _usage_error(f"--out {out_file}: is a directory; name a file (report.html)")
        if kind is None:
            raise _usage_error(f"--out {out_file}: the name must end in .html, .md or .pdf")
    data = load(_settings(ctx), q)
    if out_file is None:
        from incidents.report_render import print_terminal

        print_terminal(data, out)
        return
    write(data, out_file, kind or "html")
    out.print(f"{kind} report for {q.title} written to {out_file}", highlight=False)


def load(settings: Settings, quarter: Quarter) -> Report:
    """Read the quarter's report (a one-line CliError when the warehouse can't say)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from incidents.report import build_report
    from sinks.clickhouse import open_read_client

    client = open_read_client(settings)
    try:
        return build_report(client, quarter)
    except NoData as e:
        raise CliError(str(e)) from e
    except ClickHouseError as e:
        raise CliError("SQL error: " + _first_line(str(e))) from e
    finally:
        client.close()


def write(data: Report, path: Path, kind: str) -> list[Path]:
    """Write the report as `kind` (html, markdown, pdf); return the paths written."""
    from incidents.report_render import RenderError, write_html, write_markdown, write_pdf

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
