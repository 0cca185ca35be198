"""The report as one self-contained HTML page: the jinja2 template in
incidents_report/templates/ filled with the report's words and its inline SVG charts;
nothing is loaded from outside.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from incidents_report.charts import Chart, charts
from incidents_report.data import QuarterlyReport, percent
from incidents_report.geo import credit
from incidents_report.words import (
    METHOD_NOTES,
    PERPETRATOR_RULE,
    READER_METHOD,
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
    victim_rows,
)


def code_html(text: str) -> Markup:
    """Escape `text` for HTML, showing `backticked` words as code."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def render_html(report: QuarterlyReport, made: Sequence[Chart] | None = None) -> str:
    """One self-contained HTML page: inline CSS and SVG, no external resource (source
    addresses are links, <a href>, which load nothing)."""
    env = Environment(
        loader=PackageLoader("incidents_report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=number,
        change=change,
        percent=percent,
        source_text=source_text,
        code=code_html,
        link=link,
    )

    def share(value: int) -> str:
        return fatality_share(report, value)

    by_name = {
        c.name: {"title": c.title, "caption": c.caption, "svg": Markup(c.inline())}
        for c in (charts(report) if made is None else made)
    }
    template = env.get_template("report.html.j2")
    return template.render(
        r=report,
        n=report.national,
        title=title(report),
        headline=report.headline(),
        period=period(report),
        generated=generated(report),
        charts=by_name,
        comparison_note=comparison_note(report),
        dq_note=dq_note(report),
        dead_letter_note=dead_letter_note(report),
        method_notes=METHOD_NOTES,
        victim_rows=victim_rows(report),
        as_of=as_of(report),
        reader_method=READER_METHOD,
        perpetrator_rule=PERPETRATOR_RULE,
        perpetrator_blocks=perpetrator_blocks(report),
        perpetrator_name=perpetrator_name,
        share=share,
        single_quarter_note=single_quarter_note(report),
        dq_reader_note=dq_reader_note(report),
        dead_letter_reader_note=dead_letter_reader_note(report),
        map_credit=credit(),
        revised_title=revised_title(report),
        revised_note=revised_note(report),
        revised_rows=revised_rows(report),
        revised_reports=revised_report_rows(report),
    )


def write_html(report: QuarterlyReport, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out
