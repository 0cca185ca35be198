"""`incidents report` on the Q1 2024 sample loaded through the real pipeline: the CRSS
figures, the HTML page rendered by headless Chromium, Markdown with its charts, PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from incidents_config.settings import Settings
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


def test_terminal_summary_states_the_crss_figures(run: Run) -> None:
    done = run("report", "--quarter", "2024Q1")
    assert done.returncode == 0, done.stderr
    for figure in CRSS_FIGURES:
        assert figure in done.stdout, figure
    assert "North Waziristan" in done.stdout
    # No warnings of GX, matplotlib or anyone else on the terminal.
    assert done.stderr.strip() == "", done.stderr


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
    # The charts are inline SVG, and nothing is loaded from elsewhere.
    assert html.count("<svg") >= 3
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", html)
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    # Lineage: the deadliest incident (Khanozai, Pishin: 18 killed) and its two sources.
    assert "Khanozai" in html and "acled:PAK35000" in html and "newsmonitor:NM-24-0103" in html
    # The footnotes: the fixture runs no data-quality check; the sample's 4 malformed news
    # lines (producers/samples/q1_2024/README.md) are dead letters naming a day in Q1 2024.
    assert "no data-quality run recorded yet" in html
    assert "Dead letters: 4 report(s)" in html

    browser = chromium()
    shot = tmp_path / "report.png"
    profile = tmp_path / "chromium-profile"
    shown = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # a request for anything would fail
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            out.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), shown.stderr[-2000:]
    console = [
        line for line in shown.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
    ]
    assert console == [], console

    from matplotlib import image  # lazy: matplotlib takes ~1 s to import; one test reads a PNG

    pixels = image.imread(str(shot))
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1000, pixels.shape
    rgb = pixels[..., :3]
    assert float(rgb.std()) > 0.05, "the screenshot is blank"
    inked = float((rgb.mean(axis=2) < 0.9).mean())
    assert inked > 0.02, f"only {inked:.1%} of the screenshot is not white"

    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            out.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Security situation in Pakistan, Q1 2024" in dom.stdout, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") >= 3


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


def test_pdf_report(run: Run, tmp_path: Path) -> None:
    chromium()
    out = tmp_path / "report.pdf"
    done = run("report", "--quarter", "2024Q1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF"), data[:20]
    assert len(data) > 20_000


def test_quarter_without_incidents_is_one_line(run: Run) -> None:
    done = run("report", "--quarter", "2023Q3")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "no incidents recorded in 2023Q3" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
