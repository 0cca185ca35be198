"""The quarterly report on the terminal, as HTML, Markdown and PDF, with its charts.

Input is the model of incidents/report.py; nothing here reads the warehouse or adds up
numbers (the stacked trend bars are drawn by matplotlib, their totals come from SQL).
Charts are matplotlib figures (Agg, no pyplot state) saved as SVG; the HTML inlines them
and loads nothing from outside; Markdown writes them beside itself; PDF is the HTML
printed by headless Chromium.
"""

from __future__ import annotations

import io
import logging
import math
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from incidents.exceptions import IncidentsError
from incidents.report import TREND_QUARTERS, Report, percent, province_order

# Stable colours per province and victim group, the same in every chart.
PROVINCE_COLORS = {
    "Khyber Pakhtunkhwa": "#b2182b",
    "Balochistan": "#e08214",
    "Punjab": "#2166ac",
    "Sindh": "#4eb3d3",
    "Islamabad Capital Territory": "#762a83",
    "Gilgit-Baltistan": "#1b7837",
    "Azad Jammu and Kashmir": "#8c6d31",
}
OTHER_COLOR = "#8c8c8c"
GROUP_COLORS = {
    "Civilians": "#d95f02",
    "Security forces": "#1b6e9e",
    "Militants": "#5e5e5e",
    "Unknown": "#b8b8b8",
}
INK = "#222222"
MUTED = "#6b6b6b"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class RenderError(IncidentsError):
    """The report could not be written (e.g. PDF without Chromium)."""


# --- words and numbers -----------------------------------------------------------------


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


def period(report: Report) -> str:
    start, end = report.quarter.start, report.quarter.end
    return f"{start.day} {start:%B} – {long_date(end)}"


def generated(report: Report) -> str:
    return f"{report.generated_at:%Y-%m-%d %H:%M} UTC"


def title(report: Report) -> str:
    return f"Security situation in Pakistan, {report.quarter.title}"


def comparison_note(report: Report) -> str:
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


def dq_note(report: Report) -> str:
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


def dead_letter_note(report: Report) -> str:
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


def trend_note(report: Report) -> str:
    if len(report.trend_quarters) >= TREND_QUARTERS:
        return ""
    return (
        f"The warehouse records incidents from {report.first_quarter} on; earlier quarters are"
        " marked 'not recorded'."
    )


# --- charts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    name: str  # file stem, and the prefix of the SVG's ids
    title: str
    caption: str
    svg: str  # a standalone SVG document

    def inline(self) -> str:
        """The SVG for inlining in HTML: no XML prolog, no namespace URLs, ids prefixed so
        several charts share one page, and sized by the page."""
        return inline_svg(self.svg, self.name, self.title)


def inline_svg(svg: str, prefix: str, label: str) -> str:
    text = svg[svg.index("<svg") :]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text, count=0)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    if ids:
        pattern = re.compile(
            r'(\bid="|href="#|url\(#)(' + "|".join(map(re.escape, ids)) + r')(["\)])'
        )
        text = pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", text)
    label_attr = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    text = re.sub(
        r'<svg\s+([^>]*?)width="([\d.]+)pt"\s+height="([\d.]+)pt"',
        lambda m: (
            f'<svg {m.group(1)}role="img" aria-label="{label_attr}" class="chart" '
            f'width="{m.group(2)}pt" height="{m.group(3)}pt"'
        ),
        text,
        count=1,
    )
    return text


def charts(report: Report) -> list[Chart]:
    """The report's charts, as SVG, in the order they appear."""
    # A first run builds matplotlib's font cache (and, without a writable home, picks a
    # temporary config dir) and says so as a warning; not the report's news.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = [
            _chart(report, "fatalities-by-province", _province_chart),
            _chart(report, "victims-by-group", _victims_chart),
            _chart(report, "trend-by-province", _trend_chart),
            _chart(report, "district-map", _map_chart),
        ]
    return [c for c in made if c is not None]


_Draw = Callable[[Any, Report], tuple[str, str] | None]


def _chart(report: Report, name: str, draw: _Draw) -> Chart | None:
    import matplotlib
    from matplotlib.figure import Figure

    rc: Any = {
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.edgecolor": "#999999",
        "axes.labelcolor": INK,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.titlecolor": INK,
        "xtick.color": MUTED,
        "ytick.color": INK,
        "svg.fonttype": "path",  # text as shapes: the same look without any font installed
        "svg.hashsalt": name,  # deterministic ids, different per chart
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(7.6, 3.6), dpi=100, layout="constrained")
        drawn = draw(fig, report)
        if drawn is None:
            return None
        chart_title, caption = drawn
        buf = io.StringIO()
        fig.savefig(
            buf,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    return Chart(name=name, title=chart_title, caption=caption, svg=buf.getvalue())


def _plain(ax: Any, grid_axis: str = "x") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis=grid_axis, color="#e3e3e3", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(length=0)


def _province_chart(fig: Any, report: Report) -> tuple[str, str]:
    rows = list(report.provinces)
    fig.set_size_inches(7.6, 0.42 * len(rows) + 1.1)
    ax = fig.add_subplot()
    names = [p.province for p in rows]
    values = [p.killed for p in rows]
    ax.barh(names, values, color=[PROVINCE_COLORS.get(n, OTHER_COLOR) for n in names], height=0.62)
    ax.invert_yaxis()
    top = max([*values, 1])
    for i, p in enumerate(rows):
        ax.text(
            p.killed + top * 0.01,
            i,
            f"{p.killed:,}  ({p.fatality_share_pct:.1f}%)",
            va="center",
            color=INK,
            fontsize=8.5,
        )
    ax.set_xlim(0, top * 1.22)
    ax.set_title(f"Fatalities by province, {report.quarter.title}")
    _plain(ax)
    caption = (
        f"People killed per province or territory (share of the national "
        f"{report.national.killed.total:,}). Source: v_province_quarter."
    )
    return f"Fatalities by province, {report.quarter.title}", caption


def _victims_chart(fig: Any, report: Report) -> tuple[str, str]:
    fig.set_size_inches(7.6, 2.9)
    ax = fig.add_subplot()
    killed = report.national.killed.groups()
    injured = report.national.injured.groups()
    names = [g for g, _ in killed]
    ys = range(len(names))
    h = 0.38
    colors = [GROUP_COLORS[g] for g in names]
    kb = ax.barh([y - h / 2 for y in ys], [v for _, v in killed], height=h, color=colors)
    ib = ax.barh(
        [y + h / 2 for y in ys],
        [v for _, v in injured],
        height=h,
        color=colors,
        alpha=0.38,
        hatch="////",
        edgecolor="white",
        linewidth=0,
    )
    top = max([v for _, v in killed + injured] + [1])
    for bars, prefix in ((kb, "killed"), (ib, "injured")):
        for bar in bars:
            width = bar.get_width()
            ax.text(
                width + top * 0.01,
                bar.get_y() + bar.get_height() / 2,
                f"{int(width):,} {prefix}",
                va="center",
                fontsize=8,
                color=INK,
            )
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.25)
    ax.set_title(f"Killed and injured by victim group, {report.quarter.title}")
    _plain(ax)
    caption = (
        "Solid bars: killed; hatched bars: injured. 'Unknown': not split by the sources."
        " Source: v_national_quarter."
    )
    return f"Killed and injured by victim group, {report.quarter.title}", caption


def _trend_chart(fig: Any, report: Report) -> tuple[str, str]:
    # Eight slots; a quarter before the warehouse's first recorded incident is unknown, so it
    # is marked as such rather than drawn as zero.
    slots = [report.quarter.shifted(-i).label for i in range(TREND_QUARTERS - 1, -1, -1)]
    recorded = set(report.trend_quarters)
    fig.set_size_inches(7.6, 3.8)
    ax = fig.add_subplot()
    killed = {(p.quarter, p.province): p.killed for p in report.trend}
    order = [n for n in province_order(report) if any(k[1] == n for k in killed)]
    xs = list(range(len(slots)))
    bottoms = [0] * len(slots)
    for name in order:
        values = [killed.get((q, name), 0) for q in slots]
        ax.bar(
            xs,
            values,
            bottom=bottoms,
            width=0.62,
            color=PROVINCE_COLORS.get(name, OTHER_COLOR),
            label=name,
            edgecolor="white",
            linewidth=0.5,
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    totals = {p.quarter: p.killed for p in report.trend_national}
    top = max([*totals.values(), 1])
    for x, q in zip(xs, slots, strict=True):
        if q in recorded:
            ax.text(
                x,
                totals.get(q, 0) + top * 0.015,
                f"{totals.get(q, 0):,}",
                ha="center",
                va="bottom",
                fontsize=8.5,
                color=INK,
                fontweight="bold",
            )
        else:
            ax.text(
                x,
                top * 0.03,
                "not recorded",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=8,
                color=MUTED,
            )
    ax.set_xticks(xs, [q.replace("-", " ") for q in slots])
    ax.set_xlim(-0.6, len(slots) - 0.4)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("killed")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Fatalities per quarter by province, last eight quarters")
    _plain(ax, grid_axis="y")
    caption = (
        "Stacked by province; the number on top is the national total. Sources:"
        " v_province_quarter, v_national_quarter."
    )
    note = trend_note(report)
    if note:
        caption += " " + note
    return "Fatalities per quarter by province, last eight quarters", caption


def _map_chart(fig: Any, report: Report) -> tuple[str, str] | None:
    from schemas.exceptions import SchemaError
    from schemas.gazetteer import load_gazetteer

    gazetteer = load_gazetteer()
    base = [d.centroid for d in gazetteer.districts if d.centroid is not None]
    placed: list[tuple[float, float, int, str, str]] = []
    for d in report.districts:
        if not d.district:
            continue
        try:
            centroid = gazetteer.district(d.district, d.province).centroid
        except (SchemaError, LookupError, ValueError):
            continue
        if centroid is not None:
            placed.append((centroid[1], centroid[0], d.killed, d.province, d.district))
    if not placed or not base:
        return None
    fig.set_size_inches(7.6, 6.4)
    ax = fig.add_subplot()
    ax.scatter([c[1] for c in base], [c[0] for c in base], s=9, color="#c8c8c8", linewidths=0)
    top = max([p[2] for p in placed] + [1])

    def area(killed: int) -> float:
        return 14 + 900 * killed / top

    from matplotlib.patheffects import withStroke

    by_size = sorted(placed, key=lambda p: -p[2])
    ax.scatter(
        [p[0] for p in by_size],
        [p[1] for p in by_size],
        s=[area(p[2]) for p in by_size],
        c=[PROVINCE_COLORS.get(p[3], OTHER_COLOR) for p in by_size],
        alpha=0.62,
        edgecolors="white",
        linewidths=0.6,
    )
    for lon, lat, killed, _prov, name in by_size[:8]:
        if killed <= 0:
            continue
        radius_pt = math.sqrt(area(killed)) / 2
        ax.annotate(
            f"{name} {killed}",
            (lon, lat),
            xytext=(radius_pt + 2, 0),
            textcoords="offset points",
            fontsize=7.5,
            color=INK,
            va="center",
            path_effects=[withStroke(linewidth=2.5, foreground="white")],
        )
    ax.set_xlim(60.6, 78.2)
    ax.set_ylim(23.5, 37.3)
    ax.set_aspect(1 / math.cos(math.radians(30.4)))
    ax.set_xlabel("longitude (°E)", color=MUTED)
    ax.set_ylabel("latitude (°N)", color=MUTED)
    _plain(ax, grid_axis="both")
    from matplotlib.lines import Line2D

    shown = [n for n in province_order(report) if any(p[3] == n for p in placed)]
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=7,
            alpha=0.7,
            color=PROVINCE_COLORS.get(n, OTHER_COLOR),
            label=n,
        )
        for n in shown
    ]
    ax.legend(handles=handles, frameon=False, fontsize=8, loc="lower right")
    ax.set_title(f"Fatalities by district, {report.quarter.title}")
    caption = (
        "Each circle sits on a district's approximate centroid (the project's gazetteer, not"
        " survey data); its area is proportional to the district's fatalities; grey dots are"
        " the other districts. No borders are drawn. Source: v_district_month."
    )
    return f"Fatalities by district, {report.quarter.title}", caption


def victim_rows(report: Report) -> list[tuple[str, int, int]]:
    """(group, killed, injured) per victim group."""
    n = report.national
    return [
        (group, killed, injured)
        for (group, killed), (_, injured) in zip(n.killed.groups(), n.injured.groups(), strict=True)
    ]


# --- HTML ----------------------------------------------------------------------------


def code_html(text: str) -> Any:
    """Escape `text` for HTML, showing `backticked` words as code."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def render_html(report: Report, made: Sequence[Chart] | None = None) -> str:
    """One self-contained HTML page: inline CSS and SVG, no external resource."""
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("incidents", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=number, change=change, percent=percent, source_text=source_text, code=code_html
    )
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
    )


def write_html(report: Report, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out


# --- Markdown ------------------------------------------------------------------------


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Iterable[Sequence[object]], right: set[int]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |"]
    lines.append(
        "| " + " | ".join("---:" if i in right else "---" for i in range(len(head))) + " |"
    )
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: Report, files_dir: str, made: Sequence[Chart]) -> str:
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
        "## Trend",
        "",
        *image("trend-by-province"),
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
                    "; ".join(
                        f"{s.report_id}" + (f" <{s.url}>" if s.url else "") for s in i.sources
                    ),
                ]
                for i in report.deadliest
            ],
            right={3, 4},
        ),
        "",
        "## Sources and method",
        "",
        *[f"- {note}" for note in METHOD_NOTES],
        f"- {dq_note(report)}",
        f"- {dead_letter_note(report)}",
        "",
        f"*Generated by `incidents report --quarter {report.quarter.code}`"
        f" on {generated(report)}.*",
        "",
    ]
    return "\n".join(out)


def write_markdown(report: Report, out: Path) -> tuple[Path, Path]:
    """Write `out` and its charts into `<stem>_files/` beside it; return both paths."""
    made = charts(report)
    files = out.parent / f"{out.stem}_files"
    files.mkdir(parents=True, exist_ok=True)
    for c in made:
        (files / f"{c.name}.svg").write_text(c.svg, encoding="utf-8")
    out.write_text(render_markdown(report, files.name, made), encoding="utf-8")
    return out, files


# --- PDF -----------------------------------------------------------------------------


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(chromium: str, profile: Path) -> list[str]:
    """Headless Chromium that touches neither the network nor the user's profile."""
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
    ]


def write_pdf(report: Report, out: Path, timeout_s: float = 120.0) -> Path:
    """Print the HTML report to PDF with headless Chromium."""
    chromium = find_chromium()
    if chromium is None:
        raise RenderError(
            "PDF output needs Chromium, which is not installed; install it with "
            "`apt-get install chromium` (or write --out report.html)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="incidents-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        target = out.resolve()
        target.unlink(missing_ok=True)
        args = [
            *chromium_args(chromium, Path(tmp) / "profile"),
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise RenderError(f"Chromium did not print the PDF within {timeout_s:.0f} s") from e
    if not target.exists() or target.read_bytes()[:4] != b"%PDF":
        lines = [x for x in (done.stderr or "").splitlines() if x.strip()]
        detail = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise RenderError(f"Chromium did not write the PDF: {detail[:300]}")
    return out


# --- the terminal --------------------------------------------------------------------


def national_rows(report: Report, sub: str) -> list[list[str]]:
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


def print_terminal(report: Report, console: Any) -> None:
    """A readable summary with rich tables."""
    from rich.table import Table

    n = report.national
    prev, year = n.previous, n.year_before
    console.print(
        f"[bold]{title(report)}[/bold]  ({period(report)}; generated {generated(report)})"
    )
    console.print(f"[bold]{report.headline()}[/bold]\n")

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
    console.print(f"[dim]{dq_note(report)}[/dim]")
    console.print(f"[dim]{dead_letter_note(report)}[/dim]")
