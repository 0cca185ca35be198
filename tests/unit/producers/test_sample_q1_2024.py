"""The bundled synthetic Q1 2024 sample: reproducible, exact totals, the promised edge cases."""

from __future__ import annotations

import csv
import json
from datetime import date
from typing import Any

import pytest

from producers.acled import map_row
from producers.pipeline import Skip
from producers.samples.q1_2024 import ACLED_FILE, EXPECTED_FILE, NEWS_FILE, SAMPLE_DIR, check
from producers.samples.q1_2024.generate import generate
from schemas import report as contract

FILES = ("news.jsonl", "acled.csv", "expected.json")


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))


def test_files_are_reproducible_from_the_seed(tmp_path: Any) -> None:
    generate(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), name


def test_unique_incidents_add_up_to_crss_q1_2024(expected: dict[str, Any]) -> None:
    got = check.check()
    national = got["national"]
    assert national["incidents"] == 245
    assert national["killed"]["total"] == 432
    assert national["injured"]["total"] == 370
    assert national["killed"]["civilians"] + national["killed"]["security"] == 281
    assert got["by_province"]["Khyber Pakhtunkhwa"]["killed"]["total"] == 220
    assert got["by_province"]["Balochistan"]["killed"]["total"] == 177
    assert sum(p["killed"]["total"] for p in got["by_province"].values()) == 432
    assert sum(m["incidents"] for m in got["by_month"].values()) == 245
    assert got == {section: expected[section] for section in got}


def test_totals_hold_with_the_acled_producer_mapping() -> None:
    def producer_mapping(row: dict[str, str]) -> Any:
        mapped = map_row(row)
        assert not isinstance(mapped, Skip)
        return mapped

    check.check(acled_mapper=producer_mapping)


def test_totals_hold_with_the_contract_location_normalization(
    monkeypatch: pytest.MonkeyPatch, expected: dict[str, Any]
) -> None:
    monkeypatch.setattr(check, "normalize_location", contract.normalize_location)
    assert check.recompute()["national"] == expected["national"]


def test_besham_is_in_both_feeds_and_revised_in_the_news() -> None:
    news = [
        r
        for r in check.read_news(NEWS_FILE).reports
        if r.location == "Besham" and r.occurred_on == date(2024, 3, 26)
    ]
    acled = [
        r
        for r in check.read_acled(ACLED_FILE).reports
        if r.location == "Besham" and r.occurred_on == date(2024, 3, 26)
    ]
    assert {(r.version, r.killed.civilians, r.killed.total) for r in news} == {(1, 5, 5), (2, 6, 6)}
    assert [r.killed.unknown for r in acled] == [6]
    incidents = check.merge(
        [r for r in check.latest_versions(news + acled).values() if not r.retracted]
    )
    (besham,) = incidents.values()
    assert besham.key == (
        date(2024, 3, 26), "Khyber Pakhtunkhwa", "Shangla", "terror_attack", "besham"
    )  # fmt: skip
    assert besham.killed == (6, 0, 0, 0)
    assert {r.source for r in besham.reports} == {"newsmonitor", "acled"}


def test_feeds_carry_the_promised_edge_cases(expected: dict[str, Any]) -> None:
    got = check.recompute()
    news, acled, incidents = got["feeds"]["news"], got["feeds"]["acled"], got["incidents"]
    assert news["upward_killed_revisions"] >= 1 and acled["revised_events"] >= 1
    assert news["retractions"] >= 2
    assert incidents["retracted_in_news_kept_by_acled"] == 1
    assert incidents["retracted_and_absent"] >= 1
    assert news["restored_after_retraction"] >= 1
    assert news["resends"] + acled["resends"] >= 2
    assert incidents["both_feeds"] >= 20
    assert incidents["both_feeds_acled_killed_higher"] >= 1
    assert news["malformed"] + acled["malformed"] >= 4
    assert got["feeds"] == expected["feeds"] and incidents == expected["incidents"]


def test_feeds_use_both_acled_date_forms_and_utc_timestamps() -> None:
    with ACLED_FILE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == (
        "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
        "sub_event_type", "actor1", "actor2", "iso", "country", "admin1", "admin2", "admin3",
        "location", "latitude", "longitude", "geo_precision", "source", "notes", "fatalities",
        "timestamp",
    )  # fmt: skip
    dates = [r["event_date"] for r in rows]
    assert any(d[4] == "-" for d in dates) and any(" March 2024" in d for d in dates)
    assert {r["iso"] for r in rows} == {"586"} and {r["country"] for r in rows} == {"Pakistan"}
    utc = [
        json.loads(line)
        for line in NEWS_FILE.read_text(encoding="utf-8").splitlines()
        if '"occurred_on": "2024-' in line and 'Z", "province"' in line
    ]
    assert len(utc) >= 2
    for body in utc:  # the UTC evening becomes the next local day
        parsed = contract.parse_report(body)
        assert parsed.occurred_on.isoformat() > body["occurred_on"][:10]
