"""`incidents demo`: what `make demo` runs after installing."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from incidents.commands.dq import check
from incidents.commands.report import load, write
from incidents.commands.stack import up
from incidents.common import CliError, err, out, print_result, query, settings_of
from incidents_config.settings import Settings
from incidents_ops.stack import wait_caught_up
from incidents_report.data import Quarter
from producers.acled import publish_acled
from producers.jsonl import publish_jsonl
from producers.samples.q1_2024 import ACLED_FILE, NEWS_FILE
from producers.summary import format_summary

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


def demo(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option(help="Give up when the pipeline makes no progress for this many seconds."),
    ] = 120,
) -> None:
    """Start the stack, publish the bundled Q1 2024 feeds, and show the province table."""
    settings = settings_of(ctx)
    up(ctx, workers=1, push=True)
    news, acled = NEWS_FILE, ACLED_FILE
    # --no-validate on the news feed: its malformed lines travel to the stream's dead letters.
    for path, summary in (
        (news, publish_jsonl(news, settings, validate=False, progress=None)),
        (acled, publish_acled(acled, settings, validate=True, progress=None)),
    ):
        out.print(f"[bold]{path.name}[/bold]: " + format_summary(summary))
    err.print("waiting for the stream and the sink to catch up...")
    if not wait_caught_up(settings, timeout):
        raise CliError(
            f"the pipeline made no progress for {timeout:.0f} s; "
            "see `incidents status` and var/log/"
        )
    result = query(settings, PROVINCE_QUARTER, {"quarter": "2024-01-01"})
    out.print("\n[bold]Q1 2024 by province[/bold] (SELECT ... FROM v_province_quarter)")
    print_result(result.column_names, result.result_rows, "table")
    national = query(
        settings,
        "SELECT incidents, killed_total, injured_total FROM v_national_quarter "
        "WHERE quarter = {quarter:Date}",
        {"quarter": "2024-01-01"},
    )
    print_result(national.column_names, national.result_rows, "table")
    if national.result_rows and result.result_rows:
        incidents, killed, injured = national.result_rows[0]
        shares = {row[0]: row[-1] for row in result.result_rows}
        out.print(
            f"\n[bold]Q1 2024: {killed} fatalities, {injured} injuries, {incidents} incidents; "
            f"Khyber Pakhtunkhwa {shares.get('Khyber Pakhtunkhwa', 0):.0f}% and "
            f"Balochistan {shares.get('Balochistan', 0):.0f}% of all fatalities.[/bold]"
        )
    rejected = query(settings, "SELECT count() AS dead_letters FROM rejected_reports FINAL")
    out.print(
        f"dead letters received so far (kept with their reasons): {rejected.result_rows[0][0]}; "
        'see them with: incidents sql "SELECT reasons, raw FROM rejected_reports FINAL"'
    )
    if settings.alerts.enabled:
        alerts = query(settings, DEMO_ALERTS)
        out.print(
            f"\n[bold]Alerts the sample raises[/bold] ({len(alerts.result_rows)}; they are"
            " history, so nobody was paged; `incidents alerts list` shows them)"
        )
        print_result(alerts.column_names, alerts.result_rows, "table")
    # The report states the data-quality result: check before writing it.
    out.print("\n[bold]Data quality[/bold] (incidents dq; the report quotes it)")
    run = check(settings, [], store=True, trigger="demo", detail=False)
    if not wait_stored(settings, run.run_id, timeout):
        err.print(
            f"[yellow]warning:[/yellow] the sink has not stored data-quality run {run.run_id}"
            f" within {timeout:.0f} s; the report may not quote it"
        )
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


def wait_stored(settings: Settings, run_id: str, timeout_s: float) -> bool:
    """Wait until the sink has stored the data-quality run `run_id` (it goes by Kafka)."""
    deadline = time.monotonic() + timeout_s
    while True:
        stored = query(
            settings, "SELECT count() FROM dq_runs WHERE run_id = {r:String}", {"r": run_id}
        )
        if stored.result_rows and stored.result_rows[0][0]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
