"""The report on the terminal: a readable summary in rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from incidents_report.data import QuarterlyReport
from incidents_report.words import (
    MONTH_HEAD,
    REVISED_HEAD,
    REVISED_REPORT_HEAD,
    as_of,
    change,
    comparison_note,
    dead_letter_note,
    dq_note,
    fatality_share,
    generated,
    month_rows,
    national_rows,
    number,
    period,
    perpetrator_blocks,
    perpetrator_name,
    revised_note,
    revised_report_rows,
    revised_rows,
    revised_title,
    single_quarter_note,
    title,
)


def print_terminal(report: QuarterlyReport, console: Console) -> None:
    """A readable summary with rich tables."""
    n = report.national
    prev, year = n.previous, n.year_before
    console.print(
        f"[bold]{title(report)}[/bold]  ({period(report)}; generated {generated(report)})"
    )
    console.print(f"[bold]{report.headline()}[/bold]")
    console.print(f"[dim]{as_of(report)}[/dim]\n", highlight=False)

    totals = Table(title="National totals", title_justify="left")
    totals.add_column("")
    for head in (report.quarter.title, prev.label, "change", year.label, "change"):
        totals.add_column(head, justify="right")
    for row in national_rows(report, sub="  "):
        totals.add_row(*row)
    console.print(totals)
    if comparison_note(report):
        console.print(f"[dim]{comparison_note(report)}[/dim]", highlight=False)

    victims = Table(title="Victims", title_justify="left")
    victims.add_column("group")
    victims.add_column("killed", justify="right")
    victims.add_column("injured", justify="right")
    for (g, k), (_, i) in zip(n.killed.groups(), n.injured.groups(), strict=True):
        victims.add_row(g, number(k), number(i))
    victims.add_row("[bold]total[/bold]", number(n.killed.total), number(n.injured.total))
    console.print(victims)

    months = Table(title="Month by month", title_justify="left")
    for i, head in enumerate(MONTH_HEAD):
        months.add_column(head, justify="right" if i else "left")
    for row in month_rows(report):
        months.add_row(*row)
    console.print(months)
    if single_quarter_note(report):
        console.print(f"[dim]{single_quarter_note(report)}[/dim]", highlight=False)

    groups = Table(title="Who was behind the violence", title_justify="left")
    groups.add_column("group")
    for head in ("incidents", "killed", "injured", "% fatalities"):
        groups.add_column(head, justify="right")
    for heading, rows, sums in perpetrator_blocks(report):
        groups.add_row(f"[bold]{heading}[/bold]")
        for grp in rows:
            groups.add_row(
                "  " + perpetrator_name(grp),
                number(grp.incidents),
                number(grp.killed),
                number(grp.injured),
                fatality_share(report, grp.killed),
            )
        groups.add_row(
            "  all",
            number(sums[0]),
            number(sums[1]),
            number(sums[2]),
            fatality_share(report, sums[1]),
        )
    console.print(groups)

    provinces = Table(title="Provinces and territories", title_justify="left")
    provinces.add_column("province / territory")
    for head in (
        "incidents",
        "killed",
        "injured",
        "% fatalities",
        "% incidents",
        "killed vs prev. Q",
        "incidents vs prev. Q",
    ):
        provinces.add_column(head, justify="right")
    for p in report.provinces:
        provinces.add_row(
            p.province,
            number(p.incidents),
            number(p.killed),
            number(p.injured),
            f"{p.fatality_share_pct:.1f}",
            f"{p.incident_share_pct:.1f}",
            change(p.killed_change_pct),
            change(p.incidents_change_pct),
        )
    console.print(provinces)

    districts = Table(title="The ten worst-hit districts", title_justify="left")
    districts.add_column("#", justify="right")
    districts.add_column("district")
    districts.add_column("province")
    for head in ("incidents", "killed", "injured"):
        districts.add_column(head, justify="right")
    for i, d in enumerate(report.top_districts, 1):
        districts.add_row(
            str(i), d.name, d.province, number(d.incidents), number(d.killed), number(d.injured)
        )
    console.print(districts)

    deadliest = Table(title="The deadliest incidents", title_justify="left")
    deadliest.add_column("date")
    deadliest.add_column("place")
    deadliest.add_column("type")
    deadliest.add_column("killed", justify="right")
    deadliest.add_column("injured", justify="right")
    deadliest.add_column("sources")
    for inc in report.deadliest:
        deadliest.add_row(
            inc.occurred_on.isoformat(),
            inc.place,
            inc.kind,
            number(inc.killed),
            number(inc.injured),
            "\n".join(s.report_id + (f" {s.url}" if s.url else "") for s in inc.sources),
        )
    console.print(deadliest)
    if report.revised is not None:
        console.print(f"[bold]{revised_title(report)}[/bold]")
        console.print(escape(revised_note(report)), highlight=False)
        if report.revised.changes:
            changes = Table(title_justify="left")
            for i, head in enumerate(REVISED_HEAD):
                changes.add_column(head, justify="right" if i > 1 else "left")
            for row in revised_rows(report):
                changes.add_row(*row)
            console.print(changes)
        reports = revised_report_rows(report)
        if reports:
            table = Table(title_justify="left")
            for head in REVISED_REPORT_HEAD:
                table.add_column(head)
            for _, cells in reports:
                table.add_row(*(escape(c) for c in cells))
            console.print(table)
    console.print(f"[dim]{dq_note(report)}[/dim]")
    console.print(f"[dim]{dead_letter_note(report)}[/dim]")
