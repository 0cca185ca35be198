"""`incidents demo` (what `make demo` runs) on its own stack: it prints the CRSS figures as
before, runs the data-quality suites, and the report it writes quotes that run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from incidents_config.settings import Settings
from tests.cli import run_incidents

pytestmark = pytest.mark.integration

CRSS_LINE = (
    "Q1 2024: 432 fatalities, 370 injuries, 245 incidents; Khyber Pakhtunkhwa 51% and"
    " Balochistan 41% of all fatalities."
)


def test_demo_checks_data_quality_before_writing_the_report(
    own_stack: Settings, tmp_path: Path
) -> None:
    settings = own_stack
    try:
        done = run_incidents(settings, "demo", timeout_s=420, cwd=tmp_path)
    finally:
        run_incidents(settings, "down", timeout_s=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    stdout = " ".join(done.stdout.split())
    assert CRSS_LINE in stdout, done.stdout[-3000:]
    verdict = re.search(r"data quality: all (\d+) expectations passed", stdout)
    assert verdict, done.stdout[-3000:]
    page = (tmp_path / "var" / "reports" / "2024Q1.html").read_text(encoding="utf-8")
    assert f"Data-quality checks: all {verdict.group(1)} checks passed" in page
    assert re.search(r"latest <code>incidents dq</code> run \([^,]+, demo, finished", page)
    assert "no data-quality run recorded yet" not in page
