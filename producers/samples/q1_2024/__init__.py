"""A synthetic Q1 2024 Pakistan data set calibrated to CRSS's published national totals."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
NEWS_FILE = SAMPLE_DIR / "news.jsonl"
ACLED_FILE = SAMPLE_DIR / "acled.csv"
EXPECTED_FILE = SAMPLE_DIR / "expected.json"
