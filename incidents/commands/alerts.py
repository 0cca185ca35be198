"""`incidents alerts ...`: the rules, the alerts, silences, and a test notification.

The sink evaluates the rules and owns the warehouse; these commands read through the same
read-only path as `incidents sql`, and send silences to the sink over Kafka (the only
process that may write an embedded warehouse is the sink).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from incidents.common import CliError, out, parse_duration, print_result, query, settings_of
from incidents_alerting.evaluate import Area, Episode
from incidents_alerting.lifecycle import Change
from incidents_alerting.notify import notifiers_from
from incidents_alerting.routing import Notification
from incidents_alerting.rules import (
    DATA_QUALITY,
    DEFAULT_RULES_FILE,
    RULE_NAMES,
    TESTED_RULES,
    load_rules,
)
from incidents_config.names import Topics
from incidents_config.settings import Settings
from incidents_ops.topics import send_one
from schemas.exceptions import PlaceError
from schemas.gazetteer import load_gazetteer
from schemas.warehouse import SilenceMessage

alerts_app = typer.Typer(
    help="Alerts on spikes: rules, alerts, silences, test notifications.",
    no_args_is_help=True,
)


@alerts_app.command("rules")
def rules(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", help="Check this file instead of ALERTS_RULES_FILE.")
    ] = None,
) -> None:
    """List the active rules and their parameters (and check the rules file)."""
    settings = settings_of(ctx)
    path = file or settings.alerts.rules_file
    loaded = load_rules(path)
    table = Table(
        "rule", "enabled", "parameters", title=f"alert rules ({path or DEFAULT_RULES_FILE})"
    )
    for name, section in loaded.model_dump().items():
        enabled = section.pop("enabled", True)
        params = ", ".join(f"{k}={v}" for k, v in section.items())
        table.add_row(name, "" if name == "lifecycle" else ("yes" if enabled else "no"), params)
    out.print(table)


LIST_QUERY = """
SELECT state, rule, if(district = '', province, concat(district, ', ', province)) AS area,
       concat(toString(peak_start), ' .. ', toString(peak_end)) AS window,
       observed, round(expected, 2) AS expected, p_value, event,
       multiIf(notify = 0 AND silenced_by != '', 'silenced', notify = 0, 'not sent',
               last_delivery_ok = 1, 'sent', last_notifier = '', 'pending', 'failed')
           AS notification,
       summary, alert_id
FROM v_alerts
WHERE (state = {state:String} OR {state:String} = 'all')
  AND last_day >= {since:Date32}
ORDER BY last_day DESC, alert_id
LIMIT {limit:UInt32}
"""


@alerts_app.command("list")
def list_alerts(
    ctx: typer.Context,
    state: Annotated[str, typer.Option(help="firing, resolved, withdrawn or all.")] = "all",
    since: Annotated[str, typer.Option(help="Alerts whose window ends this recently.")] = "3650d",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Show alerts: state, area, window, observed vs expected, p-value, notification."""
    if state not in ("firing", "resolved", "withdrawn", "all"):
        raise CliError(f"unknown --state {state!r}; use firing, resolved, withdrawn or all")
    first = (datetime.now(UTC) - parse_duration(since)).date()
    result = query(settings_of(ctx), LIST_QUERY, {"state": state, "since": first, "limit": limit})
    rows = result.result_rows
    if fmt != "table":  # csv and json keep every column, and the p-value's every digit
        print_result(result.column_names, rows, fmt)
        return
    wide = out.width >= SUMMARY_COLUMNS
    out.print(alerts_table(result.column_names, rows, summaries=wide))
    hidden = "" if wide else f"; summaries: --format csv or json, or {SUMMARY_COLUMNS}+ columns"
    out.print(f"{len(rows)} alert(s){hidden}", highlight=False)


# From this terminal width on, `alerts list` also shows each alert's summary.
SUMMARY_COLUMNS = 160


def format_p_value(p: float) -> str:
    """A p-value to read at a glance: two significant digits, scientific below 0.001
    (``0.012``, ``0.5``, ``5.7e-05``, ``7e-05``)."""
    if not math.isfinite(p) or p == 0:
        return f"{p:g}"
    if abs(p) < 0.001:
        mantissa, exponent = f"{p:.1e}".split("e")
        return f"{mantissa.removesuffix('.0')}e{exponent}"
    return f"{p:.2g}"


def compact_window(window: str) -> str:
    """``2024-02-26 .. 2024-03-03`` as ``2024-02-26..03-03``: the end without the year it
    shares with the start, one day as that day."""
    start, separator, end = window.partition(" .. ")
    if not separator:
        return window
    if start == end:
        return start
    return f"{start}..{end[5:] if start[:5] == end[:5] else end}"


def alerts_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, summaries: bool
) -> Table:
    """The alerts of `alerts list` (its query's columns) as a table that fits 120 columns.

    Every cell but the area's stays on one line; the alert id is never cut, so it can be
    copied into SQL. Wide terminals (`summaries`) also get each alert's summary, wrapped.
    """
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    table.add_column("alert_id", no_wrap=True, min_width=16, overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("area", ratio=1, min_width=12)
    table.add_column("window", no_wrap=True)
    for name in ("obs", "exp", "p-value"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("notified", no_wrap=True)
    if summaries:
        table.add_column("summary", ratio=2, min_width=20)
    for values in rows:
        alert = dict(zip(columns, values, strict=True))
        tested = alert["rule"] in TESTED_RULES
        cells = [
            alert["alert_id"],
            alert["state"],
            alert["rule"],
            escape(alert["area"]),
            compact_window(alert["window"]),
            str(alert["observed"]),
            f"{alert['expected']:g}",
            format_p_value(alert["p_value"]) if tested else "-",
            alert["notification"],
        ]
        table.add_row(*cells, *([escape(alert["summary"])] if summaries else []))
    return table


def _area(text: str) -> tuple[str, str]:
    """`*`, a province, or a district (any gazetteer spelling) -> (province, district)."""
    if text.strip() == "*":
        return "*", "*"
    gazetteer = load_gazetteer()
    try:
        return gazetteer.province(text).name, ""
    except PlaceError:
        pass
    try:
        district = gazetteer.district(text)
    except PlaceError as e:
        raise CliError(f"unknown area {text!r}: {e.message}") from e
    return district.province, district.name


def _publish_silence(settings: Settings, silence: SilenceMessage) -> None:
    send_one(
        settings.kafka,
        Topics(settings.kafka.topic_prefix).silences,
        silence.silence_id,
        silence.model_dump_json().encode(),
    )


@alerts_app.command("silence")
def silence(
    ctx: typer.Context,
    rule: Annotated[str, typer.Option(help="A rule name, or * for any.")] = "*",
    area: Annotated[str, typer.Option(help="A province or district, or * for any.")] = "*",
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 30m, 24h, 7d.")] = "24h",
    comment: Annotated[str, typer.Option(help="Why (shown with the silence).")] = "",
) -> None:
    """Hold notifications of matching alerts for a while (they are still recorded)."""
    rules = (*RULE_NAMES, DATA_QUALITY)
    if rule != "*" and rule not in rules:
        raise CliError(f"unknown rule {rule!r}; rules: {', '.join(rules)} or *")
    province, district = _area(area)
    now = datetime.now(UTC)
    message = SilenceMessage(
        silence_id=uuid.uuid4().hex[:12],
        rule=rule,
        province=province,
        district=district,
        starts_at=now,
        ends_at=now + parse_duration(duration),
        comment=comment,
        created_by="cli",
    )
    _publish_silence(settings_of(ctx), message)
    out.print(
        f"silence {message.silence_id}: rule {rule}, area {district or province},"
        f" until {message.ends_at:%Y-%m-%d %H:%M} UTC"
    )


SILENCES_QUERY = """
SELECT silence_id, rule, province, district, starts_at, ends_at, comment
FROM alert_silences FINAL
WHERE deleted = 0 AND ends_at > now64(3)
ORDER BY ends_at
"""


@alerts_app.command("silences")
def silences(ctx: typer.Context) -> None:
    """List the silences in force."""
    result = query(settings_of(ctx), SILENCES_QUERY)
    print_result(result.column_names, result.result_rows, "table")


@alerts_app.command("unsilence")
def unsilence(
    ctx: typer.Context, silence_id: Annotated[str, typer.Argument(help="The silence's id.")]
) -> None:
    """Remove a silence before it expires."""
    settings = settings_of(ctx)
    found = query(
        settings,
        "SELECT rule, province, district, starts_at, ends_at, comment FROM alert_silences FINAL"
        " WHERE silence_id = {id:String} AND deleted = 0",
        {"id": silence_id},
    ).result_rows
    if not found:
        raise CliError(f"no silence {silence_id!r} in force (see `incidents alerts silences`)")
    rule, province, district, starts_at, ends_at, comment = found[0]
    message = SilenceMessage(
        silence_id=silence_id,
        rule=rule,
        province=province,
        district=district,
        starts_at=starts_at,
        ends_at=ends_at,
        comment=comment,
        created_by="cli",
        deleted=True,
    )
    _publish_silence(settings, message)
    out.print(f"silence {silence_id} removed")


@alerts_app.command("test")
def test(
    ctx: typer.Context,
    notifier: Annotated[str, typer.Option(help="webhook, slack or alertmanager.")] = "webhook",
) -> None:
    """Send a test notification through a configured notifier."""
    settings = settings_of(ctx)
    chosen = [n for n in notifiers_from(settings) if n.name == notifier and "page" in n.kinds]
    if not chosen:
        variable = {
            "webhook": "ALERTS_WEBHOOK_URL",
            "slack": "ALERTS_SLACK_URL",
            "alertmanager": "ALERTS_ALERTMANAGER_URL",
        }.get(notifier)
        hint = f"set {variable}" if variable else "use webhook, slack or alertmanager"
        raise CliError(f"no notifier {notifier!r} is configured: {hint}")
    today = date.today()
    episode = Episode(
        rule="test",
        area=Area("Test", ""),
        start=today,
        end=today,
        peak_start=today,
        peak_end=today,
        observed=0,
        expected=0.0,
        p_value=1.0,
        summary="Test notification from the incidents platform",
    )
    outcome = chosen[0].send(Notification.single(Change(episode, 1, "fired", "firing", True)))
    if not outcome.ok:
        raise CliError(f"{notifier}: delivery failed ({outcome.error or outcome.status})")
    out.print(f"{notifier}: test notification delivered (HTTP {outcome.status})")
