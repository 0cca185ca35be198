"""The report's shared wording: numbers, changes, dates, the title and period, and the notes
and table rows that several outputs print the same way (HTML, Markdown, terminal, and the
trend chart's caption).

Input is the model of incidents_report/data.py; nothing here reads the warehouse or adds
up numbers.
"""

from __future__ import annotations

import re
from datetime import date

from incidents_report.data import TREND_QUARTERS, PerpetratorRow, QuarterlyReport
from incidents_report.revisions import ChangedReport


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


def as_of(report: QuarterlyReport) -> str:
    """The time the figures are as of: the newest report received, and the generation."""
    newest = report.newest_report_at
    if report.known_at is not None:
        known = f"{report.known_at:%Y-%m-%d %H:%M} UTC"
        last = f", the newest of them {newest:%Y-%m-%d %H:%M} UTC" if newest else ""
        return (
            f"Figures as known on {known}: the reports that had arrived by then{last}."
            f" Report generated {generated(report)}; what changed since is in"
            " 'Revised since'. Data quality and rejected reports are as of generation."
        )
    received = (
        f"the newest report the platform had received, {newest:%Y-%m-%d %H:%M} UTC"
        if newest is not None
        else "no report received"
    )
    return f"Figures as of {received}; report generated {generated(report)}."


def dq_reader_note(report: QuarterlyReport) -> str:
    """The data-quality result in a reader's words (the suites are in the appendix)."""
    dq = report.data_quality
    if dq is None:
        return (
            "Data-quality checks: none recorded for this warehouse yet, so the figures have not"
            " been cross-checked."
        )
    when = f"{dq.finished_at:%Y-%m-%d %H:%M} UTC"
    if dq.success and not dq.failed:
        return (
            f"Data-quality checks: all {dq.expectations:,} checks passed ({when}), including a"
            " recount of every published total from the individual incidents."
        )
    return (
        f"Data-quality checks: {dq.failed:,} of {dq.expectations:,} checks failed ({when});"
        " read the figures with care (the appendix names the checks' run)."
    )


def dead_letter_reader_note(report: QuarterlyReport) -> str:
    dl = report.dead_letters
    if not dl.total:
        return "Unreadable reports: none for this quarter."
    return (
        f"Unreadable reports: {dl.total:,} report(s) for this quarter could not be read"
        " (malformed or incomplete) and are not counted; they are kept for review."
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


PERPETRATOR_RULE = (
    "Who is named: each report may name the group that claimed or is held responsible for"
    " an attack (for a security operation, the force that carried it out). When the sources"
    " of one incident disagree, the incident takes the group named by the report its death"
    " toll was taken from; if that report names none, the group named by most of its"
    " reports (a tie goes to the name first in alphabetical order); if no report names one,"
    " it is counted as unclaimed. Names are compared ignoring case and spacing; ACLED's"
    " 'TTP: Tehreek-i-Taliban Pakistan' counts as 'TTP', and 'unidentified armed group' as"
    " unclaimed. Each incident counts once, so the groups add up to the national totals."
)

READER_METHOD = (
    "What counts: an incident is one event on one day in one place: a terror attack (by a"
    " non-state armed group) or a security operation (by the police, the army, the Frontier"
    " Corps or a counter-terrorism department). Incidents are counted, not news reports.",
    "Several sources, one incident: reports from different sources that give the same day,"
    " province, district, type and place are merged into one incident (different spellings"
    " of one place are recognised), which is counted once.",
    "Revisions and retractions: only the latest version of each report counts; a report its"
    " source withdrew counts for nothing; a revision that changes the day or the place moves"
    " the report to the incident it now describes.",
    "Casualties: when sources give different tolls, an incident takes (by the platform's"
    " default rule) the highest death toll among its reports, with that report's split by"
    " victim group, and, separately, the highest number of injured. Tolls are never added"
    " across sources, so nobody is counted twice. 'Unknown' victims are those the sources"
    " did not split into civilians, security forces and militants.",
    PERPETRATOR_RULE,
    "Dates are local calendar dates in Pakistan (Asia/Karachi). Changes compare with the"
    " previous quarter and with the same quarter a year before; a dash means that quarter"
    " recorded nothing to compare with.",
)

# The appendix: where each figure is read (for analysts who recompute them).
METHOD_NOTES = (
    "Every figure is read with SQL (query parameters only) from the warehouse's analyst"
    " views: `v_national_quarter` (totals, and joined to itself for the comparisons),"
    " `v_national_month` (the months), `v_province_quarter`, `v_district_month` summed over"
    " the quarter's months, and `v_incidents` (the deadliest incidents and the groups)."
    " docs/analysts.md describes them; docs/semantics.md defines the merge rules.",
    "Casualty rule: 'How the figures are made' describes the default, `max_total`; a"
    " warehouse built with `STREAMS_CASUALTY_RULE=latest` takes both figures from the most"
    " recent report instead. An incident's `killed_from` and `injured_from` name the reports"
    " its figures were taken from.",
    "Groups: for each incident of the quarter, its current reports (`v_incidents.report_ids`)"
    " are read at their current version (`v_reports`: the version order of"
    " docs/semantics.md; a current version naming no one counts as no name); the group is"
    " that of `killed_from` if it names one, else the most frequent name among the reports"
    " (ties: first in alphabetical order), else unnamed.",
    "Sources of each incident: `v_incidents.report_ids`, with the source and the url of each"
    " report's current version (`v_reports`). 'As of': when the newest current version"
    " arrived (`published_at`).",
)


def source_text(url: str | None) -> str:
    """A source address as text to show, without its scheme."""
    if not url:
        return ""
    return re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", url).rstrip("/")


def link(url: str | None) -> str | None:
    """The address to link to: http(s) only (never javascript: or file:), else None."""
    if url and re.match(r"^https?://[^\s/]", url, re.IGNORECASE):
        return url
    return None


CATEGORY_BLOCKS = (
    ("terror_attack", "Terror attacks, by group claiming or held responsible", "Unclaimed"),
    ("security_operation", "Security operations, by the force reports name", "Force not named"),
)


def perpetrator_name(row: PerpetratorRow) -> str:
    """The group as the reports name it ("police" -> "Police"), or what its absence means."""
    if row.named:
        return row.group[:1].upper() + row.group[1:] if row.group.islower() else row.group
    return {c: unnamed for c, _, unnamed in CATEGORY_BLOCKS}.get(row.category, "Not named")


def perpetrator_blocks(
    report: QuarterlyReport,
) -> list[tuple[str, list[PerpetratorRow], tuple[int, int, int]]]:
    """(heading, rows, (incidents, killed, injured)) per category with incidents; a category
    this report does not name comes last under its own name."""
    known = {c for c, _, _ in CATEGORY_BLOCKS}
    headings = [(c, h) for c, h, _ in CATEGORY_BLOCKS] + [
        (c, c.replace("_", " ").capitalize())
        for c in sorted({p.category for p in report.perpetrators} - known)
    ]
    blocks = []
    for category, heading in headings:
        rows = [p for p in report.perpetrators if p.category == category]
        if rows:
            totals = (
                sum(p.incidents for p in rows),
                sum(p.killed for p in rows),
                sum(p.injured for p in rows),
            )
            blocks.append((heading, rows, totals))
    return blocks


def month_rows(report: QuarterlyReport) -> list[list[str]]:
    """The months table's rows, then the quarter's total."""
    n = report.national
    return [
        [
            m.name,
            number(m.incidents),
            number(m.terror_attacks),
            number(m.security_operations),
            number(m.killed),
            number(m.injured),
        ]
        for m in report.months
    ] + [
        [
            report.quarter.title,
            number(n.incidents),
            number(n.terror_attacks),
            number(n.security_operations),
            number(n.killed.total),
            number(n.injured.total),
        ]
    ]


MONTH_HEAD = ("Month", "Incidents", "Terror attacks", "Security operations", "Killed", "Injured")


def fatality_share(report: QuarterlyReport, killed: int) -> str:
    total = report.national.killed.total
    return f"{killed * 100 / total:.1f}%" if total else "—"


def single_quarter_note(report: QuarterlyReport) -> str:
    """Why there is no trend across quarters, or ''."""
    if report.has_trend:
        return ""
    return (
        f"No trend across quarters yet: the warehouse records incidents from"
        f" {report.first_quarter} on, so {report.quarter.title} is the only quarter to show."
    )


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


# --- revised since (incidents report --as-of) ----------------------------------------

REVISED_MEASURES = {"incidents": "incidents", "killed_total": "killed", "injured_total": "injured"}
REVISED_HEAD = ("area", "measure", "then", "now", "change")
REVISED_REPORT_HEAD = (
    "report",
    "source",
    "date",
    "province",
    "what",
    "version",
    "killed",
    "injured",
    "arrived",
)


def revised_title(report: QuarterlyReport) -> str:
    known = report.known_at
    return f"Revised since {known:%Y-%m-%d %H:%M} UTC" if known else "Revised since"


def revised_note(report: QuarterlyReport) -> str:
    """One sentence on what changed between the as-of moment and the generation."""
    revised = report.revised
    if revised is None:
        return ""
    if revised.unchanged:
        return (
            f"Nothing changed in {report.quarter.title} between then and"
            f" {generated(report)}: no report of the quarter arrived, was revised or retracted."
        )
    shown = len(revised.reports)
    more = f" (the {shown} latest shown)" if revised.reports_total > shown else ""
    return (
        f"Between then and {generated(report)}, {revised.reports_total} report(s) of the"
        f" quarter arrived, were revised or retracted{more}; the figures above are as they"
        " were known then, the table below gives them now."
    )


def revised_rows(report: QuarterlyReport) -> list[list[str]]:
    """Per area (the country first) and measure that changed: then, now, change."""
    if report.revised is None:
        return []
    return [
        [
            c.province,
            REVISED_MEASURES[c.measure],
            number(c.then),
            number(c.now),
            f"{c.delta:+,}",
        ]
        for c in report.revised.changes
    ]


def _then_now(then: int | None, now: int) -> str:
    return f"{number(now)}" if then is None or then == now else f"{number(then)} → {number(now)}"


def revised_report_rows(report: QuarterlyReport) -> list[tuple[ChangedReport, list[str]]]:
    """The reports behind the changes, latest arrival first, with their cells."""
    if report.revised is None:
        return []
    rows = []
    for r in report.revised.reports:
        version = (
            f"v{r.now_version}"
            if r.then_version is None
            else (f"v{r.then_version} → v{r.now_version}")
        )
        known = r.then_version is not None
        rows.append(
            (
                r,
                [
                    r.report_id,
                    r.source,
                    r.occurred_on.isoformat(),
                    r.province,
                    r.what,
                    version,
                    _then_now(r.then_killed if known else None, r.now_killed),
                    _then_now(r.then_injured if known else None, r.now_injured),
                    f"{r.published_at:%Y-%m-%d %H:%M}",
                ],
            )
        )
    return rows
