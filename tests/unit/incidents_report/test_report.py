"""`incidents report`, the pure parts: the quarter, the model from query rows, and the
rendering of a hand-built report (HTML, Markdown, terminal) without a warehouse."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from incidents_report import data as rep
from incidents_report import pdf
from incidents_report.charts import charts
from incidents_report.data import (
    Comparison,
    DataQuality,
    DeadLetters,
    DistrictRow,
    IncidentRow,
    MonthRow,
    National,
    NoData,
    PerpetratorRow,
    ProvinceRow,
    Quarter,
    QuarterError,
    QuarterlyReport,
    Source,
    TrendPoint,
    Victims,
    percent,
)
from incidents_report.exceptions import RenderError
from incidents_report.html import render_html
from incidents_report.markdown import write_markdown
from incidents_report.terminal import print_terminal
from incidents_report.words import (
    link,
    perpetrator_blocks,
    perpetrator_name,
    single_quarter_note,
    trend_note,
)

EXTERNAL = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


# --- the quarter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2024Q1", "2024q1", "2024-Q1", " 2024-q1 ", "Q1 2024", "q1-2024", "Q12024"]
)
def test_quarter_parses_the_usual_spellings(text: str) -> None:
    assert Quarter.parse(text) == Quarter(2024, 1)


@pytest.mark.parametrize(
    "text", ["2024Q5", "2024Q0", "foo", "", "2024", "24Q1", "2024Q1x", "Q5 2024", "1900Q1"]
)
def test_quarter_refuses_what_is_not_a_quarter(text: str) -> None:
    with pytest.raises(QuarterError):
        Quarter.parse(text)


def test_quarter_days_labels_and_shifts() -> None:
    q = Quarter(2024, 1)
    assert (q.start, q.end) == (date(2024, 1, 1), date(2024, 3, 31))
    assert (q.code, q.label, q.title) == ("2024Q1", "2024-Q1", "Q1 2024")
    assert q.shifted(-1) == Quarter(2023, 4)
    assert q.shifted(-4) == Quarter(2023, 1)
    assert q.shifted(3) == Quarter(2024, 4)
    assert [Quarter(2023, n).end for n in (1, 2, 3, 4)] == [
        date(2023, 3, 31),
        date(2023, 6, 30),
        date(2023, 9, 30),
        date(2023, 12, 31),
    ]
    assert Quarter.of(date(2024, 8, 14)) == Quarter(2024, 3)


def test_percent_rounds_halves_up_like_a_report() -> None:
    assert percent(50.9) == "51%"
    assert percent(41.0) == "41%"
    assert percent(40.5) == "41%"
    assert percent(0.4) == "0%"


# --- a hand-built report -------------------------------------------------------------


def make_report(**changes: Any) -> QuarterlyReport:
    national = National(
        incidents=245,
        terror_attacks=160,
        security_operations=85,
        killed=Victims(118, 163, 129, 22, 432),
        injured=Victims(165, 205, 0, 0, 370),
        previous=Comparison("Q4 2023", 250, 480, 300, -2.0, -10.0, 23.3),
        year_before=Comparison("Q1 2023", None, None, None, None, None, None),
    )
    provinces = (
        ProvinceRow(
            "Khyber Pakhtunkhwa", 140, 87, 53, 220, 190, 38, 97, 75, 10, 50.9, 57.1, 12.5, None
        ),
        ProvinceRow("Balochistan", 82, 56, 26, 177, 140, 74, 41, 50, 12, 41.0, 33.5, -3.0, 4.0),
        ProvinceRow("Sindh", 23, 17, 6, 35, 40, 6, 25, 4, 0, 8.1, 9.4, None, None),
    )
    districts = (
        *(
            DistrictRow("Khyber Pakhtunkhwa", name, 10 + i, 6, 4 + i, 40 - i, 20)
            for i, name in enumerate(
                [
                    "North Waziristan",
                    "Lakki Marwat",
                    "Bannu",
                    "Peshawar",
                    "Khyber",
                    "Bajaur",
                    "Tank",
                    "Kurram",
                    "Orakzai",
                    "Mohmand",
                    "Swat",
                    "",
                ]
            )
        ),
        DistrictRow("Balochistan", "Kachhi", 7, 4, 3, 31, 17),
    )
    deadliest = (
        IncidentRow(
            "5e7483b591df4ce6",
            date(2024, 2, 7),
            "Balochistan",
            "Pishin",
            "Khanozai",
            "terror_attack",
            "ied",
            18,
            25,
            (
                Source("acled:PAK35000", "acled", None),
                Source(
                    "newsmonitor:NM-24-0103", "newsmonitor", "https://news.example.org/nm-24-0103"
                ),
            ),
        ),
        IncidentRow(
            "e8b5069e5954135a",
            date(2024, 3, 16),
            "Khyber Pakhtunkhwa",
            "North Waziristan",
            "Mir Ali",
            "security_operation",
            "intelligence_based_operation",
            13,
            5,
            (Source("newsmonitor:NM-24-0185", "newsmonitor", "http://news.example.org/a?b=<c>"),),
        ),
    )
    quarters = ("2023-Q3", "2023-Q4", "2024-Q1")
    trend = tuple(
        TrendPoint(q, p, 10 * i, killed)
        for i, q in enumerate(quarters, 1)
        for p, killed in (("Balochistan", 50 * i), ("Khyber Pakhtunkhwa", 80 * i))
    )
    national_trend = tuple(
        TrendPoint(q, "Pakistan", 20 * i, 130 * i) for i, q in enumerate(quarters, 1)
    )
    months = (
        MonthRow(date(2024, 1, 1), 86, 49, 37, 136, 103),
        MonthRow(date(2024, 2, 1), 85, 66, 19, 151, 172),
        MonthRow(date(2024, 3, 1), 74, 45, 29, 145, 95),
    )
    perpetrators = (
        PerpetratorRow("terror_attack", "TTP", 90, 200, 200, 3),
        PerpetratorRow("terror_attack", "BLA", 40, 60, 80, 0),
        PerpetratorRow("terror_attack", "", 30, 27, 52, 0),
        PerpetratorRow("security_operation", "military", 60, 100, 30, 0),
        PerpetratorRow("security_operation", "", 25, 45, 8, 0),
    )
    report = QuarterlyReport(
        quarter=Quarter(2024, 1),
        generated_at=datetime(2024, 4, 2, 9, 30, tzinfo=UTC),
        newest_report_at=datetime(2024, 4, 1, 23, 5, tzinfo=UTC),
        national=national,
        months=months,
        perpetrators=perpetrators,
        provinces=provinces,
        districts=districts,
        deadliest=deadliest,
        trend_quarters=quarters,
        trend=trend,
        trend_national=national_trend,
        first_quarter="2023-Q3",
        data_quality=DataQuality(
            run_id="dq-20240402",
            started_at=datetime(2024, 4, 2, 9, 0, tzinfo=UTC),
            finished_at=datetime(2024, 4, 2, 9, 1, tzinfo=UTC),
            success=False,
            expectations=40,
            failed=2,
            suites=("incidents", "reports"),
            trigger="schedule",
        ),
        dead_letters=DeadLetters(7, 5, 3, (("contract", 6), ("invalid_json", 1))),
    )
    return replace(report, **changes)


def test_headline_names_totals_and_the_two_largest_shares() -> None:
    assert make_report().headline() == (
        "Q1 2024: 432 fatalities, 370 injuries, 245 incidents; "
        "Khyber Pakhtunkhwa 51% and Balochistan 41% of all fatalities."
    )


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(make_report())


def test_html_is_a_publication_page(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>Security situation in Pakistan, Q1 2024</title>" in html
    assert "Khyber Pakhtunkhwa 51% and Balochistan 41% of all fatalities" in html
    assert "Generated 2024-04-02 09:30 UTC" in html
    assert "1 January – 31 March 2024" in html
    for heading in (
        "National totals",
        "Month by month",
        "Who was behind the violence",
        "Provinces and territories",
        "worst-hit districts",
        "deadliest incidents",
        "How the figures are made",
        "Appendix: technical notes",
    ):
        assert heading in html
    assert "Figures as of the newest report the platform had received, 2024-04-01 23:05 UTC" in html
    # Numbers right-aligned, changes signed, missing comparisons a dash.
    assert '<td class="n">432</td>' in html
    assert "−10.0%" in html and "+12.5%" in html and "—" in html
    # The ten worst districts only, with the unnamed district spelled out if ranked.
    assert html.count("North Waziristan") >= 2
    assert "Kachhi" not in html.split('id="districts"')[1].split("</table>")[0]


def without_links(html: str) -> str:
    """The page without its <a href="..."> links (which load nothing), checking each is one."""
    links = re.findall(r"""<a href="([^"]*)" rel="noopener noreferrer">""", html)
    assert all(re.match(r"https?://", target) for target in links), links
    return re.sub(r"""<a href="[^"]*" rel="noopener noreferrer">""", "<a>", html)


def test_html_inlines_every_chart_and_loads_nothing(html: str) -> None:
    assert html.count("<svg") == 6
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    page = without_links(html)
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)
    assert not re.search(r"<(script|link|iframe|img|object|embed)\b", page)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", page)
    assert not re.search(r"url\((?!#)", html)
    assert "@import" not in html
    # Several SVGs on one page: their ids must not collide.
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for ref in set(re.findall(r'(?:href="#|url\(#)([^")]+)', html)):
        assert ref in ids, ref


def test_html_escapes_data_and_links_sources(html: str) -> None:
    assert (
        '<a href="https://news.example.org/nm-24-0103" rel="noopener noreferrer">'
        "news.example.org/nm-24-0103</a>"
    ) in html
    assert '<a href="http://news.example.org/a?b=&lt;c&gt;"' in html
    assert ">news.example.org/a?b=&lt;c&gt;</a>" in html
    assert "acled:PAK35000" in html
    assert "Terror attack: IED" in html
    assert "Security operation: intelligence-based operation" in html


def test_html_footnotes_data_quality_and_dead_letters(html: str) -> None:
    assert "dq-20240402" in html and "2 of 40 expectations failed" in html
    assert "Dead letters: 7 report(s)" in html
    assert "contract 6, invalid_json 1" in html
    empty = render_html(make_report(data_quality=None, dead_letters=DeadLetters(0, 0, 0, ())))
    assert "no data-quality run recorded yet" in empty
    assert "Dead letters: none for Q1 2024" in empty


def test_charts_are_valid_svg_with_titles() -> None:
    made = charts(make_report())
    assert [c.name for c in made] == [
        "months",
        "fatalities-by-province",
        "victims-by-group",
        "perpetrators",
        "trend-by-province",
        "district-map",
    ]
    for chart in made:
        root = ET.fromstring(chart.svg.encode())
        assert root.tag.endswith("svg")
        assert chart.title and chart.caption
    # Deterministic: the same report gives the same bytes (reproducible publications).
    assert [c.svg for c in charts(make_report())] == [c.svg for c in made]


def test_trend_marks_quarters_before_the_warehouse_begins() -> None:
    made = {c.name: c for c in charts(make_report())}
    assert "earlier quarters are marked 'not recorded'" in made["trend-by-province"].caption
    full = make_report(
        trend_quarters=tuple(f"q{i}" for i in range(8)),
    )
    assert trend_note(full) == ""


def test_markdown_writes_the_charts_beside_it(tmp_path: Path) -> None:
    out = tmp_path / "pub" / "report.md"
    out.parent.mkdir()
    md, files = write_markdown(make_report(), out)
    assert md == out and files == tmp_path / "pub" / "report_files"
    text = out.read_text()
    svgs = sorted(p.name for p in files.iterdir())
    assert svgs == [
        "district-map.svg",
        "fatalities-by-province.svg",
        "months.svg",
        "perpetrators.svg",
        "trend-by-province.svg",
        "victims-by-group.svg",
    ]
    for name in svgs:
        assert f"](report_files/{name})" in text
        ET.parse(files / name)
    assert text.startswith("# Security situation in Pakistan, Q1 2024")
    assert "| Khyber Pakhtunkhwa | 140 | 220 | 190 | 50.9% | 57.1% | +12.5% | — |" in text
    assert "| ---: |" in text
    assert "Khyber Pakhtunkhwa 51% and Balochistan 41% of all fatalities" in text
    assert "| February 2024 | 85 | 66 | 19 | 151 | 172 |" in text
    assert "| TTP | 90 | 200 | 200 | 46.3% |" in text
    assert "[news.example.org/nm-24-0103](https://news.example.org/nm-24-0103)" in text


def test_terminal_summary() -> None:
    console = Console(record=True, width=200)
    print_terminal(make_report(), console)
    text = console.export_text()
    assert "Q1 2024: 432 fatalities, 370 injuries, 245 incidents" in text
    for part in (
        "National totals",
        "Provinces and territories",
        "North Waziristan",
        "newsmonitor:NM-24-0103",
        "2 of 40 expectations failed",
        "March 2024",
        "Who was behind the violence",
        "Unclaimed",
    ):
        assert part in text


def test_pdf_without_chromium_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    with pytest.raises(RenderError, match="apt-get install chromium"):
        pdf.write_pdf(make_report(), tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


# --- the model from query rows -------------------------------------------------------


class FakeResult:
    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.column_names = list(rows[0]) if rows else []
        self.result_rows = [tuple(r.values()) for r in rows]


class FakeClient:
    """Answers each of the report's queries with canned rows; records the parameters."""

    def __init__(self, answers: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    def query(self, query: str, parameters: Any = None) -> FakeResult:
        self.calls.append((query, parameters))
        for sql, rows in self.answers.items():
            if query == sql:
                return FakeResult(rows)
        raise AssertionError(f"unexpected query {query[:60]!r}")


def _national_row() -> dict[str, Any]:
    row: dict[str, Any] = {"incidents": 245, "terror_attacks": 160, "security_operations": 85}
    for kind, values in (("killed", (118, 163, 129, 22, 432)), ("injured", (165, 205, 0, 0, 370))):
        for group, v in zip(
            ("civilians", "security", "militants", "unknown", "total"), values, strict=True
        ):
            row[f"{kind}_{group}"] = v
    for prefix in ("prev", "yoy"):
        for col in ("incidents", "killed", "injured"):
            row[f"{prefix}_{col}"] = None
            row[f"{prefix}_{col}_change_pct"] = None
    row["prev_killed"], row["prev_killed_change_pct"] = 480, -10.0
    return row


def test_build_report_maps_rows_and_lineage() -> None:
    client = FakeClient(
        {
            rep.NATIONAL_SQL: [_national_row()],
            rep.PROVINCES_SQL: [],
            rep.DISTRICTS_SQL: [
                {
                    "province": "Sindh",
                    "district": "",
                    "incidents": 1,
                    "terror_attacks": 1,
                    "security_operations": 0,
                    "killed": 2,
                    "injured": 0,
                },
            ],
            rep.DEADLIEST_SQL: [
                {
                    "incident_id": "i1",
                    "occurred_on": date(2024, 2, 7),
                    "province": "Balochistan",
                    "district": "Pishin",
                    "location_display": "Khanozai",
                    "category": "terror_attack",
                    "subtype": "ied",
                    "killed": 18,
                    "injured": 25,
                    "report_ids": ["acled:PAK1", "newsmonitor:NM-1", "gone:X"],
                },
            ],
            rep.SOURCES_SQL: [
                {"report_id": "acled:PAK1", "source": "acled", "url": None},
                {
                    "report_id": "newsmonitor:NM-1",
                    "source": "newsmonitor",
                    "url": "https://news.example.org/1",
                },
            ],
            rep.MONTHS_SQL: [
                {
                    "month": date(2024, m, 1),
                    "incidents": 80 + m,
                    "terror_attacks": 50,
                    "security_operations": 30 + m,
                    "killed": 144,
                    "injured": 100 + m,
                }
                for m in (1, 2, 3)
            ],
            rep.PERPETRATORS_SQL: [
                {
                    "category": "terror_attack",
                    "group_key": "ttp",
                    "perpetrator": "TTP",
                    "incidents": 200,
                    "killed": 400,
                    "injured": 300,
                    "disputed": 2,
                },
                {
                    "category": "terror_attack",
                    "group_key": "",
                    "perpetrator": "",
                    "incidents": 45,
                    "killed": 32,
                    "injured": 70,
                    "disputed": 0,
                },
            ],
            rep.NEWEST_REPORT_SQL: [{"newest": datetime(2024, 4, 1, 10, 0), "versions": 9}],
            rep.FIRST_QUARTER_SQL: [{"first": date(2024, 1, 1)}],
            rep.TREND_SQL: [],
            rep.TREND_NATIONAL_SQL: [{"quarter_label": "2024-Q1", "incidents": 245, "killed": 432}],
            rep.DQ_EXISTS_SQL: [{"result": 0}],
            rep.DEAD_LETTERS_SQL: [{"total": 3, "named_in_quarter": 2, "received_in_quarter": 1}],
            rep.DEAD_LETTER_REASONS_SQL: [{"why": "contract", "letters": 3}],
        }
    )
    report = rep.build_report(client, Quarter(2024, 1))
    assert report.national.killed.total == 432
    assert report.national.previous.killed == 480
    assert report.national.previous.label == "Q4 2023"
    assert report.national.year_before.label == "Q1 2023"
    assert not report.national.year_before.recorded
    assert report.districts[0].name == "(district not named)"
    (incident,) = report.deadliest
    assert [s.source for s in incident.sources] == ["acled", "newsmonitor", "gone"]
    assert incident.sources[1].url == "https://news.example.org/1"
    assert report.data_quality is None  # the warehouse predates the data-quality migration
    assert report.dead_letters == DeadLetters(3, 2, 1, (("contract", 3),))
    assert report.trend_quarters == ("2024-Q1",)
    assert report.first_quarter == "2024-Q1"
    assert not report.has_trend
    assert [m.name for m in report.months] == ["January 2024", "February 2024", "March 2024"]
    assert report.perpetrators[0] == PerpetratorRow("terror_attack", "TTP", 200, 400, 300, 2)
    assert not report.perpetrators[1].named
    assert report.newest_report_at == datetime(2024, 4, 1, 10, 0, tzinfo=UTC)
    # Every query is parameterised; the quarter is passed as a date, never pasted in.
    for sql, params in client.calls:
        assert "2024-01-01" not in sql
        if "{q:Date}" in sql:
            assert params["q"] == date(2024, 1, 1)


def test_build_report_without_incidents_is_no_data() -> None:
    client = FakeClient({rep.NATIONAL_SQL: []})
    with pytest.raises(NoData, match=r"no incidents recorded in 2023Q3"):
        rep.build_report(client, Quarter(2023, 3))


# --- the command ---------------------------------------------------------------------


def report_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`incidents report ARGS` in a subprocess, with an empty var dir."""
    return subprocess.run(
        [sys.executable, "-m", "incidents", "report", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "INCIDENTS_VAR_DIR": str(tmp_path / "var"),
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "120",
        },
        timeout=60,
    )


@pytest.mark.parametrize("quarter", ["2024Q5", "foo"])
def test_malformed_quarter_is_one_line_and_exit_2(tmp_path: Path, quarter: str) -> None:
    done = report_command(tmp_path, "--quarter", quarter)
    assert done.returncode == 2, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert quarter in lines[0] and "2024Q1" in lines[0]
    assert "Traceback" not in done.stderr


def test_help_explains_quarter_and_formats(tmp_path: Path) -> None:
    done = report_command(tmp_path, "--help")
    assert done.returncode == 0, done
    for word in ("--quarter", "2024Q1", "--out", ".html", ".md", ".pdf", "--screenshots"):
        assert word in done.stdout


# --- months, groups, links, the method ------------------------------------------------


def test_one_quarter_has_no_trend_chart_but_says_so_in_one_line() -> None:
    one = make_report(trend_quarters=("2024-Q1",), first_quarter="2024-Q1")
    assert "trend-by-province" not in [c.name for c in charts(one)]
    note = single_quarter_note(one)
    assert note == (
        "No trend across quarters yet: the warehouse records incidents from 2024-Q1 on, so"
        " Q1 2024 is the only quarter to show."
    )
    page = render_html(one)
    assert page.count(note) == 1
    assert single_quarter_note(make_report()) == ""


def test_month_table_lists_the_three_months_and_the_total(html: str) -> None:
    section = html.split('id="months"')[1].split("</section>")[0]
    for month in ("January 2024", "February 2024", "March 2024"):
        assert f"<td>{month}</td>" in section
    assert '<td class="n">151</td><td class="n">172</td>' in section
    assert '<figure id="chart-months">' in section


def test_perpetrator_blocks_add_up_to_the_quarter() -> None:
    report = make_report()
    blocks = perpetrator_blocks(report)
    assert [heading.split(",")[0] for heading, _, _ in blocks] == [
        "Terror attacks",
        "Security operations",
    ]
    assert [totals for _, _, totals in blocks] == [(160, 287, 332), (85, 145, 38)]
    n = report.national
    assert tuple(map(sum, zip(*(t for _, _, t in blocks), strict=True))) == (
        n.incidents,
        n.killed.total,
        n.injured.total,
    )
    names = [perpetrator_name(p) for _, rows, _ in blocks for p in rows]
    assert names == ["TTP", "BLA", "Unclaimed", "Military", "Force not named"]


def test_perpetrator_section_states_the_rule(html: str) -> None:
    section = html.split('id="perpetrators"')[1].split("</section>")[0]
    assert "the group named by the report its death toll was taken from" in section
    assert "(3 with sources naming another group)" in section
    assert "<td>Unclaimed</td>" in section and "<td>Force not named</td>" in section
    assert '<td class="n">46.3%</td>' in section  # TTP: 200 of 432 killed


def test_method_speaks_to_readers_and_the_appendix_to_analysts(html: str) -> None:
    method = html.split('id="method"')[1].split("</section>")[0]
    for technical in ("v_", "rejected_reports", "report_versions", "contract 6", "dq-2024"):
        assert technical not in method, technical
    for reader in (
        "What counts",
        "Several sources, one incident",
        "Revisions and retractions",
        "highest death toll",
        "Figures as of",
        "2 of 40 checks failed",
        "7 report(s) for this quarter could not be read",
    ):
        assert reader in method, reader
    appendix = html.split('id="appendix"')[1].split("</section>")[0]
    for technical in ("v_national_month", "contract 6, invalid_json 1", "dq-20240402"):
        assert technical in appendix, technical
    assert "Natural Earth" in appendix and "public domain" in appendix


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example.org/x", "https://news.example.org/x"),
        ("HTTP://a.example/b", "HTTP://a.example/b"),
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("//evil.example/x", None),
        ("", None),
        (None, None),
    ],
)
def test_only_http_addresses_become_links(url: str | None, expected: str | None) -> None:
    assert link(url) == expected


def test_map_draws_the_country_outline_from_natural_earth() -> None:
    from incidents_report import geo

    shapes = {o.code: o for o in geo.outlines()}
    pakistan = shapes["PAK"]
    points = [pt for ring in pakistan.rings for pt in ring]
    assert len(points) > 500  # an outline, not a box
    lons, lats = [x for x, _ in points], [y for _, y in points]
    # Pakistan spans about 60.9-77.8 E and 23.7-37.1 N.
    assert 60.5 < min(lons) < 61.5 and 76.5 < max(lons) < 78.0
    assert 23.5 < min(lats) < 24.0 and 36.5 < max(lats) < 37.2
    assert {"AFG", "IRN", "IND"} <= set(shapes)
    assert geo.ne_version()[:1].isdigit()
    made = {c.name: c for c in charts(make_report())}
    assert "Natural Earth" in made["district-map"].caption
    # The outline is one long path (the old map was dots on lon/lat axes).
    paths = re.findall(r' d="([^"]*)"', made["district-map"].svg)
    assert max(d.count("L") for d in paths) > 500


def test_screenshots_into_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir.png"
    target.write_bytes(b"")
    done = report_command(tmp_path, "-q", "2024Q1", "--screenshots", str(target))
    assert done.returncode == 2, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is a file; name a directory" in lines[0], done.stderr
