"""The report's charts: matplotlib figures (Agg, no pyplot state) saved as SVG, the
colours they share, and the inlining of an SVG into the HTML page.

Input is the model of incidents_report/data.py; the stacked trend bars are drawn by
matplotlib, their totals come from SQL. matplotlib is imported lazily, by the functions
that draw, so the outputs without charts (the terminal) never load it.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incidents_report.data import TREND_QUARTERS, QuarterlyReport, province_order
from incidents_report.words import trend_note
from schemas.exceptions import SchemaError
from schemas.gazetteer import load_gazetteer

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


def charts(report: QuarterlyReport) -> list[Chart]:
    """The report's charts, as SVG, in the order they appear."""
    # A first run builds matplotlib's font cache (and, without a writable home, picks a
    # temporary config dir) and says so as a warning; not the report's news.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib  # lazy: matplotlib takes ~1 s to import; only charts need it

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


_Draw = Callable[[Any, QuarterlyReport], tuple[str, str] | None]


def _chart(report: QuarterlyReport, name: str, draw: _Draw) -> Chart | None:
    import matplotlib  # lazy: matplotlib takes ~1 s to import; only charts need it
    from matplotlib.figure import Figure  # lazy: slow matplotlib import; charts only

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


def _province_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str]:
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


def _victims_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str]:
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


def _trend_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str]:
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


def _map_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str] | None:
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

    from matplotlib.patheffects import withStroke  # lazy: slow matplotlib import; charts only

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
    from matplotlib.lines import Line2D  # lazy: slow matplotlib import; charts only

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
