"""`incidents alerts list` as a table: p-values to read at a glance, and rows that fit a
120-column terminal without cutting an alert id."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from incidents.commands.alerts import (
    SUMMARY_COLUMNS,
    alerts_table,
    compact_window,
    format_p_value,
)


@pytest.mark.parametrize(
    ("p", "shown"),
    [
        (5.684024075810001e-05, "5.7e-05"),
        (7.0e-05, "7e-05"),
        (7.04e-05, "7e-05"),
        (1.2345e-12, "1.2e-12"),
        (1e-300, "1e-300"),
        (0.000999, "1e-03"),  # below 0.001: scientific, even when it rounds up to it
        (0.001, "0.001"),
        (0.0123456, "0.012"),
        (0.05, "0.05"),
        (0.5, "0.5"),
        (1.0, "1"),
        (0.0, "0"),
    ],
)
def test_a_p_value_has_two_significant_digits(p: float, shown: str) -> None:
    assert format_p_value(p) == shown


@given(st.floats(min_value=1e-300, max_value=1.0))
def test_a_formatted_p_value_is_short_and_close(p: float) -> None:
    shown = format_p_value(p)
    assert len(shown) <= 8, shown
    assert abs(float(shown) - p) <= 0.05 * p, shown  # two significant digits: within 5%
    assert ("e" in shown) == (float(shown) < 0.001 or p < 0.001), shown


@pytest.mark.parametrize(
    ("window", "shown"),
    [
        ("2024-02-26 .. 2024-03-03", "2024-02-26..03-03"),
        ("2024-01-30 .. 2024-01-30", "2024-01-30"),
        ("2024-12-30 .. 2025-01-05", "2024-12-30..2025-01-05"),
        ("not a window", "not a window"),
    ],
)
def test_a_window_drops_the_year_it_repeats(window: str, shown: str) -> None:
    assert compact_window(window) == shown


COLUMNS = [
    "state",
    "rule",
    "area",
    "window",
    "observed",
    "expected",
    "p_value",
    "event",
    "notification",
    "summary",
    "alert_id",
]
# What the sample's alerts look like, with the longest area, rule and window there are.
ROWS: list[tuple[Any, ...]] = [
    (
        "firing",
        "fatality_spike",
        "Dera Ismail Khan, Khyber Pakhtunkhwa",
        "2024-02-26 .. 2024-03-03",
        37,
        4.21,
        5.684024075810001e-05,
        "escalated",
        "not sent",
        "Dera Ismail Khan: 37 killed in 7 days vs 4.2 expected (p=6e-05; 2 incidents with"
        " their own mass_casualty alert not counted)",
        "3f9a1c2b4d5e6f70",
    ),
    (
        "resolved",
        "mass_casualty",
        "Mohmand, Khyber Pakhtunkhwa",
        "2024-01-30 .. 2024-01-30",
        25,
        10.0,
        0.0,
        "resolved",
        "sent",
        "Ghallanai, Mohmand: 25 killed in one incident (suicide bombing)",
        "a1b2c3d4e5f60718",
    ),
    (
        "withdrawn",
        "count_spike",
        "South Waziristan Lower, Khyber Pakhtunkhwa",
        "2024-12-30 .. 2025-01-05",
        12345,
        123.45,
        0.0123456789,
        "withdrawn",
        "silenced",
        "South Waziristan Lower: 12345 incidents in 7 days vs 123.5 expected (p=0.01)",
        "0123456789abcdef",
    ),
    (
        "firing",
        "data_quality",
        "",
        "2024-03-01 .. 2024-03-07",
        3,
        0.0,
        0.0,
        "fired",
        "failed",
        "data quality: suite reconciliation failed 3 of 41 expectations (run"
        " 20240307T101010Z-abcdef; `incidents dq` shows them)",
        "fedcba9876543210",
    ),
]


def render(width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(alerts_table(COLUMNS, ROWS, summaries=width >= SUMMARY_COLUMNS))
    return console.export_text().splitlines()


def test_the_table_fits_120_columns_and_keeps_what_matters_whole() -> None:
    lines = render(120)
    assert max(len(line) for line in lines) <= 120
    text = "\n".join(lines)
    for state, rule, _, _, observed, _, _, _, notification, _, alert_id in ROWS:
        assert alert_id in text  # never cut: it is copied into SQL
        for value in (state, rule, str(observed), notification):
            assert value in text
    words = " ".join(text.split())
    assert "5.7e-05" in text and "0.012" in text and "5.684" not in text
    assert "2024-02-26..03-03" in text and "2024-12-30..2025-01-05" in text
    assert "123.45" in text
    for area in ("Dera Ismail Khan, Khyber Pakhtunkhwa", "Mohmand, Khyber Pakhtunkhwa"):
        assert all(word in words for word in area.split()), area  # wrapped, never cut
    assert "…" not in text
    assert "suicide bombing" not in text  # summaries only on wide terminals


def test_a_wide_terminal_also_shows_the_summaries() -> None:
    lines = render(200)
    assert max(len(line) for line in lines) <= 200
    words = " ".join(" ".join(lines).split())
    assert "(suicide bombing)" in words and "3f9a1c2b4d5e6f70" in words


def test_rules_without_a_test_show_no_p_value() -> None:
    rows = {line.split()[0]: line.split() for line in render(120) if "  " in line.strip()}
    assert rows["a1b2c3d4e5f60718"][-4:] == ["25", "10", "-", "sent"]  # mass casualty
    assert rows["fedcba9876543210"][-4:] == ["3", "0", "-", "failed"]  # data quality
    assert rows["3f9a1c2b4d5e6f70"][-5:] == ["37", "4.21", "5.7e-05", "not", "sent"]
