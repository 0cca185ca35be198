"""`incidents report` on the Q1 2024 sample loaded through the real pipeline: the CRSS
figures, the months and the groups recomputed from the warehouse's rows, the HTML page
rendered by headless Chromium, Markdown with its charts, the PDF rasterised by pdftoppm,
and the documentation's screenshots."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidents_config.settings import Settings
from incidents_report.data import UNNAMED, Quarter, QuarterlyReport, build_report
from sinks.clickhouse import open_read_client
from tests.cli import run_incidents

pytestmark = pytest.mark.integration

CRSS_FIGURES = (
    "245 incidents",
    "432 fatalities",
    "370 injuries",
    "Khyber Pakhtunkhwa 51%",
    "Balochistan 41%",
)
EXTERNAL = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(sample_warehouse: Settings, tmp_path: Path) -> Run:
    """Run `incidents ...` in a subprocess against the stopped sample warehouse."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_incidents(sample_warehouse, *args, cwd=tmp_path, timeout_s=180)

    return run


def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.fail(
            "chromium is not installed; the report's HTML and PDF tests need it:"
            " apt-get install chromium",
            pytrace=False,
        )
    return found


def tool(name: str, package: str) -> str:
    """The path of a Debian tool, installed with apt-get when missing and we are root (as on
    CI); skipped, saying why, only when it cannot be installed."""
    found = shutil.which(name)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
        done = subprocess.run(install, capture_output=True, timeout=600)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
            subprocess.run(install, capture_output=True, timeout=600)
        found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed and could not be: apt-get install {package}")
    return found


def not_blank(png: Path) -> tuple[int, int]:
    """Assert the PNG shows something (pixel variance, ink); return its size."""
    from PIL import Image, ImageStat  # lazy: Pillow (matplotlib's dependency), PNG tests only

    with Image.open(png) as image:
        grey = image.convert("L")
        spread = ImageStat.Stat(grey).stddev[0]
        inked = sum(grey.histogram()[:230]) / (grey.width * grey.height)
        assert spread > 12, f"{png.name} is blank (stddev {spread:.1f})"
        assert inked > 0.02, f"only {inked:.1%} of {png.name} is not white"
        return image.size


@pytest.fixture(scope="module")
def sample_report(sample_warehouse: Settings) -> QuarterlyReport:
    client = open_read_client(sample_warehouse)
    try:
        return build_report(client, Quarter(2024, 1))
    finally:
        client.close()


def _normalized(name: str | None) -> str:
    """The comparison rule of the report, written again: spaces collapsed, ACLED's short
    name before a colon, 'unidentified ...' as no name; lower case."""
    text = " ".join((name or "").split())
    short = re.match(r"^([^:]{1,24}):", text)
    if short:
        text = short.group(1).strip()
    if re.match(r"(unidentified|unknown|unnamed|not known)", text.lower()):
        return ""
    return text.lower()


def test_groups_recomputed_from_the_reports_add_up_to_the_quarter(
    sample_warehouse: Settings, sample_report: QuarterlyReport
) -> None:
    client = open_read_client(sample_warehouse)
    try:
        incidents = client.query(
            "SELECT incident_id, category, killed_total, injured_total, killed_from, report_ids"
            " FROM v_incidents WHERE occurred_on >= '2024-01-01' AND occurred_on < '2024-04-01'"
        ).result_rows
        versions = client.query(
            "SELECT report_id, version, perpetrator FROM report_versions FINAL"
        ).result_rows
    finally:
        client.close()
    latest: dict[str, tuple[int, str | None]] = {}
    for report_id, version, perpetrator in versions:
        if report_id not in latest or version > latest[report_id][0]:
            latest[report_id] = (version, perpetrator)
    expected: Counter[tuple[str, str, str]] = Counter()
    disputed = 0
    for _id, category, killed, injured, killed_from, report_ids in incidents:
        named = {rid: _normalized(latest[rid][1]) for rid in report_ids if rid in latest}
        votes = Counter(n for n in named.values() if n)
        disputed += len(votes) > 1
        if named.get(killed_from):
            group = named[killed_from]
        elif votes:
            group = min(votes, key=lambda g: (-votes[g], g))
        else:
            group = ""
        expected[(category, group, "incidents")] += 1
        expected[(category, group, "killed")] += killed
        expected[(category, group, "injured")] += injured

    got: Counter[tuple[str, str, str]] = Counter()
    for row in sample_report.perpetrators:
        key = (row.category, row.group.lower() if row.named else "")
        got[(*key, "incidents")] += row.incidents
        got[(*key, "killed")] += row.killed
        got[(*key, "injured")] += row.injured
    assert got == expected
    # The sample's sources disagree on some incidents' group: the rule is exercised.
    assert disputed >= 1 and sum(p.disputed for p in sample_report.perpetrators) == disputed
    n = sample_report.national
    rows = sample_report.perpetrators
    assert sum(p.incidents for p in rows) == n.incidents == 245
    assert sum(p.killed for p in rows) == n.killed.total == 432
    assert sum(p.injured for p in rows) == n.injured.total == 370
    assert any(p.group == UNNAMED for p in rows)  # attacks nobody named


def test_months_add_up_to_the_quarter(sample_report: QuarterlyReport) -> None:
    months = sample_report.months
    assert [m.month.month for m in months] == [1, 2, 3]
    n = sample_report.national
    assert sum(m.incidents for m in months) == n.incidents
    assert sum(m.killed for m in months) == n.killed.total
    assert sum(m.injured for m in months) == n.injured.total
    assert sum(m.terror_attacks for m in months) == n.terror_attacks
    assert all(m.incidents > 0 for m in months)
    assert not sample_report.has_trend  # the sample is one quarter
    assert sample_report.newest_report_at is not None


def test_terminal_summary_states_the_crss_figures(run: Run) -> None:
    done = run("report", "--quarter", "2024Q1")
    assert done.returncode == 0, done.stderr
    for figure in CRSS_FIGURES:
        assert figure in done.stdout, figure
    assert "North Waziristan" in done.stdout
    # No warnings of GX, matplotlib or anyone else on the terminal.
    assert done.stderr.strip() == "", done.stderr


# Injected into a copy of the page (the report itself has no script): what the browser laid
# out and fetched, as JSON in a <pre>, for --dump-dom to print.
MEASURE = """<script>
window.addEventListener("load", () => {
  const size = (e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const map = document.querySelector("#chart-district-map svg");
  const found = {
    text: document.body.innerText,
    map: map ? size(map) : null,
    groups: document.querySelectorAll("#perpetrator-table tbody tr").length,
    resources: performance.getEntriesByType("resource").map((e) => e.name),
    links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
  };
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(found);
  document.body.appendChild(pre);
});
</script>"""


def chromium_run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # a request for anything would fail
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_html_report_renders_in_chromium(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "pub" / "report.html"
    done = run("report", "--quarter", "2024Q1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
    assert out.exists()
    html = out.read_text(encoding="utf-8")
    for figure in CRSS_FIGURES:
        assert figure in html, figure
    assert "50.9%" in html and "41.0%" in html
    # The charts are inline SVG, and nothing is loaded from elsewhere: the only addresses
    # are the sources' <a href> links.
    assert html.count("<svg") >= 5
    links = re.findall(r'<a href="([^"]+)" rel="noopener noreferrer">', html)
    assert links and all(re.match(r"https?://", link) for link in links), links
    page = re.sub(r'<a href="[^"]+" rel="noopener noreferrer">', "<a>", html)
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", page)
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    # Lineage: the deadliest incident (Khanozai, Pishin: 18 killed) and its two sources.
    assert "Khanozai" in html and "acled:PAK35000" in html and "newsmonitor:NM-24-0103" in html
    # The footnotes: the fixture runs no data-quality check; the sample's 4 malformed news
    # lines (producers/samples/q1_2024/README.md) are dead letters naming a day in Q1 2024.
    assert "no data-quality run recorded yet" in html
    assert "Dead letters: 4 report(s)" in html
    assert "4 report(s) for this quarter could not be read" in html

    browser = chromium()
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "report.png"
    shown = chromium_run(
        browser,
        profile,
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        "--window-size=1200,3000",
        out.resolve().as_uri(),
    )
    assert shot.exists(), shown.stderr[-2000:]
    console = [
        line for line in shown.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
    ]
    assert console == [], console
    width, height = not_blank(shot)
    assert (width, height) == (1200, 3000)

    measured_page = out.with_name("measured.html")
    measured_page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = chromium_run(
        browser,
        profile,
        "--virtual-time-budget=10000",
        "--dump-dom",
        measured_page.resolve().as_uri(),
    )
    found_text = re.search(r'<pre id="measured">(.*?)</pre>', dom.stdout, re.S)
    assert found_text, dom.stderr[-2000:]
    found: dict[str, Any] = json.loads(html_lib.unescape(found_text.group(1)))
    text = found["text"]
    assert "Security situation in Pakistan, Q1 2024" in text
    for shown_text in (
        "January 2024",
        "February 2024",
        "March 2024",
        "Month by month",
        "No trend across quarters yet",
        "Who was behind the violence",
        "TTP",
        "Unclaimed",
        "How the figures are made",
        "Appendix: technical notes",
        "Natural Earth",
    ):
        assert shown_text in text, shown_text
    assert found["groups"] >= 8  # two headings, groups, two subtotals, the total
    map_width, map_height = found["map"]
    assert map_width > 500 and map_height > 400, found["map"]
    assert found["resources"] == []  # the browser fetched nothing at all
    assert found["links"] and all(link.startswith("http") for link in found["links"])


def test_markdown_report_writes_its_charts(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    done = run("report", "--quarter", "2024Q1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    for figure in CRSS_FIGURES:
        assert figure in text, figure
    charts = sorted((tmp_path / "report_files").glob("*.svg"))
    assert len(charts) >= 3
    for chart in charts:
        assert f"](report_files/{chart.name})" in text
        assert chart.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_pdf_report_rasterised(run: Run, tmp_path: Path) -> None:
    chromium()
    pdftoppm = tool("pdftoppm", "poppler-utils")
    pdfinfo = tool("pdfinfo", "poppler-utils")
    out = tmp_path / "report.pdf"
    done = run("report", "--quarter", "2024Q1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF"), data[:20]
    info = subprocess.run([pdfinfo, str(out)], capture_output=True, text=True, timeout=60)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert 4 <= pages <= 20, pages
    assert b"/URI (https://news.example.org/nm-24-0103)" in data  # sources are links
    subprocess.run(
        [pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", str(out), str(tmp_path / "p")],
        check=True,
        timeout=60,
    )
    (first,) = tmp_path.glob("p-*.png")
    width, height = not_blank(first)
    assert 1.3 < height / width < 1.5  # an A4 page


def test_screenshots_for_the_docs(run: Run, tmp_path: Path) -> None:
    chromium()
    tool("pdftoppm", "poppler-utils")
    shots = tmp_path / "img"
    done = run("report", "--quarter", "2024Q1", "--screenshots", str(shots))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in shots.iterdir())
    assert names == ["report-map.png", "report-page1.png", "report-page2.png"]
    for name in names:
        png = shots / name
        assert png.stat().st_size < 400_000, (name, png.stat().st_size)
        width, height = not_blank(png)
        assert width > 600 and height > 600, (name, width, height)


def test_quarter_without_incidents_is_one_line(run: Run) -> None:
    done = run("report", "--quarter", "2023Q3")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "no incidents recorded in 2023Q3" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
