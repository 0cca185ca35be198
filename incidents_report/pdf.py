"""The report as PDF: the HTML page printed by headless Chromium, which touches neither
the network nor the user's profile."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from incidents_report.data import QuarterlyReport
from incidents_report.exceptions import RenderError
from incidents_report.html import render_html

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


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


def write_pdf(report: QuarterlyReport, out: Path, timeout_s: float = 120.0) -> Path:
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
