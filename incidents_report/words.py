"""The report's shared wording: numbers, changes, dates, the title and period, and the notes
and table rows that several outputs print the same way (HTML, Markdown, terminal, and the
trend chart's caption).

Input is the model of incidents_report/data.py; nothing here reads the warehouse or adds
up numbers.
"""

from __future__ import annotations

import re
from datetime import date

from incidents_report.data import TREND_QUARTERS, QuarterlyReport


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def change(value: float | None) -> str:
    """A change in %, signed, one decimal; an em dash when there is nothing to compare."""
    if value is None:
        return "—"
    if value == 0:
        return "±0.0%"
    return f"{'+' if value > 0 else '−'}{abs(value):.1f}%"


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def period(report: QuarterlyReport) -> str:
    start, end = report.quarter.start, report.quarter.end
    return f"{start.day} {start:%B} – {long_date(end)}"


def generated(report: QuarterlyReport) -> str:
    return f"{report.generated_at:%Y-%m-%d %H:%M} UTC"


def title(report: QuarterlyReport) -> str:
    return f"Security situation in Pakistan, {report.quarter.title}"


def comparison_note(report: QuarterlyReport) -> str:
    """Why comparison columns are empty, or ''."""
    missing = [
        c.label for c in (report.national.previous, report.national.year_before) if not c.recorded
    ]
    if not missing:
        return ""
    return (
        f"{' and '.join(missing)}: no incidents recorded (the warehouse's first quarter with"
        f" incidents is {report.first_quarter}), so there is no change to show."
    )


def dq_note(report: QuarterlyReport) -> str:
    dq = report.data_quality
    if dq is None:
        return "Data quality: no data-quality run recorded yet (`incidents dq` runs the checks)."
    verdict = (
        f"all {dq.expectations:,} expectations passed"
        if dq.success and not dq.failed
        else f"{dq.failed:,} of {dq.expectations:,} expectations failed"
    )
    suites = ", ".join(dq.suites) or "no suites"
    return (
        f"Data quality: the latest `incidents dq` run ({dq.run_id}, {dq.trigger}, finished "
        f"{dq.finished_at:%Y-%m-%d %H:%M} UTC; suites {suites}): {verdict}."
    )


def dead_letter_note(report: QuarterlyReport) -> str:
    """What rejected_reports holds for the quarter, and what is counted."""
    dl = report.dead_letters
    quarter = report.quarter.title
    counted = (
        f"{dl.named_in_quarter:,} name an occurred_on in the quarter in their raw text,"
        f" {dl.received_in_quarter:,} were received during it (Asia/Karachi dates); a letter"
        " that does both counts once"
    )
    if not dl.total:
        text = f"Dead letters: none for {quarter} ({counted})."
    else:
        text = (
            f"Dead letters: {dl.total:,} report(s) the platform could not use belong to"
            f" {quarter} ({counted})."
        )
    if dl.by_reason:
        text += " By reason: " + ", ".join(f"{why} {n:,}" for why, n in dl.by_reason) + "."
    return (
        text + " They are kept in rejected_reports with their reasons and add nothing to the"
        " figures."
    )


METHOD_NOTES = (
    "Incidents, not reports, are counted: reports of the same incident from several sources"
    " are merged; an incident takes its killed split from its report with the highest death"
    " toll and its injured split from the report with the most injured, so nobody is counted"
    " twice; retracted and superseded reports count for nothing (docs/semantics.md).",
    "Dates are local calendar dates in Asia/Karachi. 'Unknown' victims are those the sources"
    " did not split into civilians, security forces and militants (ACLED gives totals only).",
    "Changes compare with the previous quarter and with the same quarter a year before; a"
    " dash means the other quarter recorded no incidents (or no casualties) to compare with.",
    "Every figure is read with SQL from the warehouse's analyst views (v_national_quarter,"
    " v_province_quarter, v_district_month, v_incidents); sources of each incident come from"
    " report_versions.",
)


def source_text(url: str | None) -> str:
    """A source address as plain text, without its scheme (nothing in the HTML links out)."""
    if not url:
        return ""
    return re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", url).rstrip("/")


def trend_note(report: QuarterlyReport) -> str:
    if len(report.trend_quarters) >= TREND_QUARTERS:
        return ""
    return (
        f"The warehouse records incidents from {report.first_quarter} on; earlier quarters are"
        " marked 'not recorded'."
    )


def victim_rows(report: QuarterlyReport) -> list[tuple[str, int, int]]:
    """(group, killed, injured) per victim group."""
    n = report.national
    return [
        (group, killed, injured)
        for (group, killed), (_, injured) in zip(n.killed.groups(), n.injured.groups(), strict=True)
    ]


def national_rows(report: QuarterlyReport, sub: str) -> list[list[str]]:
    """The national totals table's rows: the quarter, the previous one, a year before."""
    n = report.national
    prev, year = n.previous, n.year_before

    def row(
        label: str, now: int, p: int | None, pc: float | None, y: int | None, yc: float | None
    ) -> list[str]:
        return [label, number(now), number(p), change(pc), number(y), change(yc)]

    return [
        row(
            "Incidents",
            n.incidents,
            prev.incidents,
            prev.incidents_change_pct,
            year.incidents,
            year.incidents_change_pct,
        ),
        [f"{sub}terror attacks", number(n.terror_attacks), "", "", "", ""],
        [f"{sub}security operations", number(n.security_operations), "", "", "", ""],
        row(
            "Killed",
            n.killed.total,
            prev.killed,
            prev.killed_change_pct,
            year.killed,
            year.killed_change_pct,
        ),
        row(
            "Injured",
            n.injured.total,
            prev.injured,
            prev.injured_change_pct,
            year.injured,
            year.injured_change_pct,
        ),
    ]
