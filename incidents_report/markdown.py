"""The report as Markdown, with its charts written as SVG files in a folder beside it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from incidents_report.charts import Chart, charts
from incidents_report.data import QuarterlyReport
from incidents_report.geo import credit
from incidents_report.words import (
    METHOD_NOTES,
    MONTH_HEAD,
    PERPETRATOR_RULE,
    READER_METHOD,
    REVISED_HEAD,
    REVISED_REPORT_HEAD,
    as_of,
    change,
    comparison_note,
    dead_letter_note,
    dead_letter_reader_note,
    dq_note,
    dq_reader_note,
    fatality_share,
    generated,
    link,
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
    source_text,
    title,
)


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Iterable[Sequence[object]], right: set[int]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |"]
    lines.append(
        "| " + " | ".join("---:" if i in right else "---" for i in range(len(head))) + " |"
    )
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _source(report_id: str, url: str | None) -> str:
    target = link(url)
    if target:
        return f"{report_id} [{source_text(url)}]({target})"
    return report_id + (f" {source_text(url)}" if url else "")


def render_markdown(report: QuarterlyReport, files_dir: str, made: Sequence[Chart]) -> str:
    """Markdown that shows the charts from `files_dir` (relative to the .md file)."""
    n = report.national
    by_name = {c.name: c for c in made}

    def image(name: str) -> list[str]:
        c = by_name.get(name)
        if c is None:
            return []
        return [f"![{c.title}]({files_dir}/{c.name}.svg)", "", f"*{c.caption}*", ""]

    prev, year = n.previous, n.year_before
    out = [
        f"# {title(report)}",
        "",
        f"*Quarterly security report · {period(report)} · generated {generated(report)}*",
        "",
        f"*{as_of(report)}*",
        "",
        f"**{report.headline()}**",
        "",
        "## National totals",
        "",
        _md_table(
            ["", report.quarter.title, prev.label, "change", year.label, "change"],
            national_rows(report, sub="– "),
            right={1, 2, 3, 4, 5},
        ),
        "",
    ]
    if comparison_note(report):
        out += [comparison_note(report), ""]
    out += [
        _md_table(
            ["Victim group", "Killed", "Injured"],
            [
                [g, number(k), number(i)]
                for (g, k), (_, i) in zip(n.killed.groups(), n.injured.groups(), strict=True)
            ]
            + [["**Total**", f"**{number(n.killed.total)}**", f"**{number(n.injured.total)}**"]],
            right={1, 2},
        ),
        "",
        *image("victims-by-group"),
        "## Month by month",
        "",
        _md_table(MONTH_HEAD, month_rows(report), right={1, 2, 3, 4, 5}),
        "",
        *image("months"),
        *([single_quarter_note(report), ""] if single_quarter_note(report) else []),
        *image("trend-by-province"),
        "## Who was behind the violence",
        "",
        _md_table(
            ["Group", "Incidents", "Killed", "Injured", "% of fatalities"],
            [
                row
                for heading, rows, totals in perpetrator_blocks(report)
                for row in [
                    [f"*{heading}*", "", "", "", ""],
                    *(
                        [
                            perpetrator_name(p),
                            number(p.incidents),
                            number(p.killed),
                            number(p.injured),
                            fatality_share(report, p.killed),
                        ]
                        for p in rows
                    ),
                    [
                        f"**All {heading.split(',')[0].lower()}**",
                        f"**{number(totals[0])}**",
                        f"**{number(totals[1])}**",
                        f"**{number(totals[2])}**",
                        f"**{fatality_share(report, totals[1])}**",
                    ],
                ]
            ]
            + [
                [
                    "**Pakistan**",
                    f"**{number(n.incidents)}**",
                    f"**{number(n.killed.total)}**",
                    f"**{number(n.injured.total)}**",
                    "**100%**",
                ]
            ],
            right={1, 2, 3, 4},
        ),
        "",
        PERPETRATOR_RULE,
        "",
        *image("perpetrators"),
        "## Provinces and territories",
        "",
        _md_table(
            [
                "Province / territory",
                "Incidents",
                "Killed",
                "Injured",
                "% of fatalities",
                "% of incidents",
                "Killed vs prev. quarter",
                "Incidents vs prev. quarter",
            ],
            [
                [
                    p.province,
                    number(p.incidents),
                    number(p.killed),
                    number(p.injured),
                    f"{p.fatality_share_pct:.1f}%",
                    f"{p.incident_share_pct:.1f}%",
                    change(p.killed_change_pct),
                    change(p.incidents_change_pct),
                ]
                for p in report.provinces
            ]
            + [
                [
                    "**Pakistan**",
                    f"**{number(n.incidents)}**",
                    f"**{number(n.killed.total)}**",
                    f"**{number(n.injured.total)}**",
                    "100%",
                    "100%",
                    change(prev.killed_change_pct),
                    change(prev.incidents_change_pct),
                ]
            ],
            right=set(range(1, 8)),
        ),
        "",
        *image("fatalities-by-province"),
        "## The ten worst-hit districts",
        "",
        _md_table(
            ["#", "District", "Province", "Incidents", "Killed", "Injured"],
            [
                [i, d.name, d.province, number(d.incidents), number(d.killed), number(d.injured)]
                for i, d in enumerate(report.top_districts, 1)
            ],
            right={0, 3, 4, 5},
        ),
        "",
        *image("district-map"),
        "## The deadliest incidents",
        "",
        _md_table(
            ["Date", "Place", "Type", "Killed", "Injured", "Sources"],
            [
                [
                    i.occurred_on.isoformat(),
                    i.place,
                    i.kind,
                    number(i.killed),
                    number(i.injured),
                    "; ".join(_source(s.report_id, s.url) for s in i.sources),
                ]
                for i in report.deadliest
            ],
            right={3, 4},
        ),
        "",
        *_revised(report),
        "## How the figures are made",
        "",
        *[f"- {note}" for note in READER_METHOD],
        f"- {as_of(report)} Later reports and revisions can change them.",
        f"- {dq_reader_note(report)}",
        f"- {dead_letter_reader_note(report)}",
        "",
        "## Appendix: technical notes",
        "",
        *[f"- {note}" for note in METHOD_NOTES],
        f"- {dq_note(report)}",
        f"- {dead_letter_note(report)}",
        f"- {credit()}.",
        "",
        f"*Generated by `incidents report --quarter {report.quarter.code}`"
        f" on {generated(report)}.*",
        "",
    ]
    return "\n".join(out)


def _revised(report: QuarterlyReport) -> list[str]:
    """The 'Revised since' section of an as-of report (nothing otherwise)."""
    if report.revised is None:
        return []
    out = [f"## {revised_title(report)}", "", revised_note(report), ""]
    if report.revised.changes:
        out += [_md_table(REVISED_HEAD, revised_rows(report), right={2, 3, 4}), ""]
    reports = revised_report_rows(report)
    if reports:
        rows = [[_source(r.report_id, r.url), *cells[1:]] for r, cells in reports]
        out += [_md_table(REVISED_REPORT_HEAD, rows, right=set()), ""]
    return out


def write_markdown(report: QuarterlyReport, out: Path) -> tuple[Path, Path]:
    """Write `out` and its charts into `<stem>_files/` beside it; return both paths."""
    made = charts(report)
    files = out.parent / f"{out.stem}_files"
    files.mkdir(parents=True, exist_ok=True)
    for c in made:
        (files / f"{c.name}.svg").write_text(c.svg, encoding="utf-8")
    out.write_text(render_markdown(report, files.name, made), encoding="utf-8")
    return out, files
