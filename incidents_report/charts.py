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
from incidents_report.geo import PAKISTAN, credit, outlines
from incidents_report.words import perpetrator_name, trend_note
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
ACCENT = "#8c1c13"
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
            _chart(report, "months", _months_chart),
            _chart(report, "fatalities-by-province", _province_chart),
            _chart(report, "victims-by-group", _victims_chart),
            _chart(report, "perpetrators", _perpetrator_chart),
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
    return Chart(name=name, title=chart_title, caption=caption, svg=_compact(buf.getvalue()))


def _compact(svg: str) -> str:
    """Cut the coordinates of path data to two decimals (1/100 pt): the same look in fewer
    bytes. Only `d` attributes: a glyph's scale() needs all its digits."""
    return re.sub(r'( d="[^"]*")', lambda m: re.sub(r"(\d\.\d\d)\d+", r"\1", m.group(1)), svg)


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
        f"{report.national.killed.total:,})."
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
    caption = "Solid bars: killed; hatched bars: injured. 'Unknown': not split by the sources."
    return f"Killed and injured by victim group, {report.quarter.title}", caption


def _months_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str] | None:
    months = list(report.months)
    if not months:
        return None
    fig.set_size_inches(7.6, 3.0)
    ax = fig.add_subplot()
    xs = list(range(len(months)))
    w = 0.36
    killed = ax.bar([x - w / 2 for x in xs], [m.killed for m in months], w, color=ACCENT)
    injured = ax.bar([x + w / 2 for x in xs], [m.injured for m in months], w, color="#e0a497")
    top = max([m.killed for m in months] + [m.injured for m in months] + [1])
    for bars in (killed, injured):
        for bar in bars:
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height() + top * 0.015,
                f"{int(bar.get_height()):,}",
                ha="center",
                va="bottom",
                fontsize=8,
                color=INK,
            )
    ax.set_xticks(xs, [f"{m.month:%B}\n{m.incidents:,} incidents" for m in months])
    ax.set_ylim(0, top * 1.18)
    ax.legend(
        [killed, injured], ["killed", "injured"], frameon=False, fontsize=8, loc="upper right"
    )
    ax.set_title(f"Killed and injured per month, {report.quarter.title}")
    _plain(ax, grid_axis="y")
    caption = "Per calendar month of the quarter (Pakistan time); incidents under each month."
    return f"Killed and injured per month, {report.quarter.title}", caption


def _perpetrator_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str] | None:
    rows = [p for p in report.perpetrators if p.category == "terror_attack"]
    if not rows:
        return None
    fig.set_size_inches(7.6, 0.36 * len(rows) + 1.0)
    ax = fig.add_subplot()
    names = [perpetrator_name(p) for p in rows]
    ax.barh(names, [p.killed for p in rows], color=[ACCENT if p.named else "#b8b8b8" for p in rows])
    ax.invert_yaxis()
    top = max([p.killed for p in rows] + [1])
    for i, p in enumerate(rows):
        ax.text(
            p.killed + top * 0.01,
            i,
            f"{p.killed:,} killed in {p.incidents:,} attack{'s' if p.incidents != 1 else ''}",
            va="center",
            fontsize=8,
            color=INK,
        )
    ax.set_xlim(0, top * 1.45)
    ax.set_title(f"Deaths in terror attacks by group, {report.quarter.title}")
    _plain(ax)
    caption = (
        "Attacks attributed to each group by the rule in 'How the figures are made';"
        " grey: no report named a group."
    )
    return f"Deaths in terror attacks by group, {report.quarter.title}", caption


def _trend_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str] | None:
    if not report.has_trend:
        return None  # one quarter: the report says so in one line instead
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
    caption = "Stacked by province; the number on top is the national total."
    note = trend_note(report)
    if note:
        caption += " " + note
    return "Fatalities per quarter by province, last eight quarters", caption


MAP_LABELS = 10  # the districts with most fatalities are named, where a label fits


def _map_chart(fig: Any, report: QuarterlyReport) -> tuple[str, str] | None:
    gazetteer = load_gazetteer()
    placed: list[tuple[float, float, int, str, str]] = []  # lon, lat, killed, province, name
    for d in report.districts:
        if not d.district:
            continue
        try:
            centroid = gazetteer.district(d.district, d.province).centroid
        except (SchemaError, LookupError, ValueError):
            continue
        if centroid is not None:
            placed.append((centroid[1], centroid[0], d.killed, d.province, d.district))
    shapes = outlines()
    if not placed or not shapes:
        return None
    from matplotlib.lines import Line2D  # lazy: slow matplotlib import; charts only
    from matplotlib.patches import Polygon  # lazy: slow matplotlib import; charts only
    from matplotlib.patheffects import withStroke  # lazy: slow matplotlib import; charts only

    fig.set_size_inches(7.6, 6.6)
    fig.set_layout_engine("none")
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.90))
    ax.set_title(f"Fatalities by district, {report.quarter.title}", pad=8)
    ax.set_facecolor("#eaf1f6")  # water, and what lies beyond the neighbours
    for shape in shapes:
        home = shape.code == PAKISTAN
        for ring in shape.rings:
            ax.add_patch(
                Polygon(
                    ring,
                    closed=True,
                    facecolor="#f4f1ea" if home else "#fbfbfa",
                    edgecolor="#4d4d4d" if home else "#bdbdbd",
                    linewidth=0.9 if home else 0.5,
                    zorder=2 if home else 1,
                )
            )
    lon0, lat0, lon1, lat1 = 60.6, 23.4, 78.0, 37.3
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect(1 / math.cos(math.radians(30.4)))  # equirectangular at Pakistan's middle
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_edgecolor("#bdbdbd")
    for text, lon, lat in (
        ("AFGHANISTAN", 65.2, 33.6),
        ("IRAN", 61.2, 28.8),
        ("INDIA", 75.6, 27.0),
        ("CHINA", 77.0, 36.6),
        ("Arabian Sea", 63.5, 24.0),
    ):
        ax.text(lon, lat, text, fontsize=7.5, color="#9a9a9a", ha="center", zorder=3)

    top = max([p[2] for p in placed] + [1])

    def area(killed: int) -> float:  # pt^2: the circle's area is proportional to the deaths
        return 1100 * killed / top

    dead = sorted((p for p in placed if p[2] > 0), key=lambda p: -p[2])
    ax.scatter(
        [p[0] for p in dead],
        [p[1] for p in dead],
        s=[area(p[2]) for p in dead],
        c=[PROVINCE_COLORS.get(p[3], OTHER_COLOR) for p in dead],
        alpha=0.6,
        edgecolors="white",
        linewidths=0.7,
        zorder=4,
    )
    spared = [p for p in placed if p[2] == 0]
    ax.scatter(
        [p[0] for p in spared],
        [p[1] for p in spared],
        s=10,
        facecolors="none",
        edgecolors=MUTED,
        linewidths=0.7,
        zorder=4,
    )
    ax.apply_aspect()  # fixes the axes' box, so label boxes can be measured in pixels
    px_per_pt = fig.dpi / 72
    taken: list[tuple[float, float, float, float]] = []
    for lon, lat, killed, _prov, name in dead[:MAP_LABELS]:
        text = f"{name} {killed}"
        x, y = ax.transData.transform((lon, lat))
        r = (math.sqrt(area(killed)) / 2 + 2) * px_per_pt
        w, h = len(text) * 7.5 * 0.58 * px_per_pt, 7.5 * 1.3 * px_per_pt
        for dx, dy, ha, va in (
            (r, 0.0, "left", "center"),
            (-r, 0.0, "right", "center"),
            (0.0, r, "center", "bottom"),
            (0.0, -r, "center", "top"),
        ):
            left = x + dx - {"left": 0, "right": w, "center": w / 2}[ha]
            bottom = y + dy - {"bottom": 0, "top": h, "center": h / 2}[va]
            box = (left, bottom, left + w, bottom + h)
            if not any(_overlap(box, other) for other in taken):
                taken.append(box)
                ax.annotate(
                    text,
                    (lon, lat),
                    xytext=(dx / px_per_pt, dy / px_per_pt),
                    textcoords="offset points",
                    fontsize=7.5,
                    color=INK,
                    ha=ha,
                    va=va,
                    zorder=5,
                    path_effects=[withStroke(linewidth=2.5, foreground="white")],
                )
                break

    shown = [n for n in province_order(report) if any(p[3] == n for p in dead)]
    provinces = ax.legend(
        handles=[
            Line2D([], [], marker="o", linestyle="", markersize=7, alpha=0.7, color=color, label=n)
            for n in shown
            for color in [PROVINCE_COLORS.get(n, OTHER_COLOR)]
        ],
        frameon=False,
        fontsize=7.5,
        loc="lower right",
        title="Province / territory",
        title_fontsize=7.5,
    )
    ax.add_artist(provinces)
    steps = sorted({v for v in (_round_step(top / 4), _round_step(top)) if v > 0})
    ax.legend(
        handles=[
            *(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markersize=math.sqrt(area(v)),
                    markerfacecolor="#cfcfcf",
                    markeredgecolor="#8c8c8c",
                    label=f"{v:,} killed",
                )
                for v in steps
            ),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=3.2,
                markerfacecolor="none",
                markeredgecolor=MUTED,
                label="incidents, nobody killed",
            ),
        ],
        frameon=False,
        fontsize=7.5,
        loc="upper left",
        labelspacing=1.3,
        borderpad=0.9,
    )
    caption = (
        "Each circle's area is proportional to the district's fatalities in the quarter; it sits"
        " on the district's approximate centre (the project's gazetteer, not survey data)."
        f" The {MAP_LABELS} deadliest districts are named where a label fits. " + credit() + "."
    )
    return f"Fatalities by district, {report.quarter.title}", caption


def _round_step(value: float) -> int:
    """A round number near `value` for the size legend (1, 2, 5 x 10^n)."""
    if value < 1:
        return 0
    power = 10 ** math.floor(math.log10(value))
    return int(max(m * power for m in (1, 2, 5) if m * power <= value))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
