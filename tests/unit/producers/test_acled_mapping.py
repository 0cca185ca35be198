"""ACLED rows -> contract dicts: the documented field mapping and category table."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from producers.acled import (
    NOT_POLITICAL_VIOLENCE,
    OUTSIDE_PAKISTAN,
    Skip,
    acled_items,
    classify,
    is_state_force,
    map_row,
    parse_event_date,
)
from producers.exceptions import AcledRowError, InputFormatError
from producers.pipeline import Candidate, Rejected
from schemas.report import Category, Subtype

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "acled_sample.csv"


def fixture_rows() -> dict[str, dict[str, str]]:
    with FIXTURE.open(newline="", encoding="utf-8") as f:
        return {row["event_id_cnty"]: row for row in csv.DictReader(f)}


# event id -> (category, subtype) or the skip reason; PAK1012 is the bad row.
EXPECTED: dict[str, tuple[str, str] | str] = {
    "PAK1001": ("security_operation", "clash"),
    "PAK1002": ("security_operation", "intelligence_based_operation"),
    "PAK1003": ("terror_attack", "armed_assault"),
    "PAK1004": ("terror_attack", "suicide_attack"),
    "PAK1005": ("terror_attack", "ied"),
    "PAK1006": ("terror_attack", "rocket_attack"),
    "PAK1007": ("terror_attack", "grenade"),
    "PAK1008": ("security_operation", "drone_strike"),
    "PAK1009": ("terror_attack", "targeted_killing"),
    "PAK1010": ("terror_attack", "kidnapping"),
    "PAK1011": NOT_POLITICAL_VIOLENCE,
    "AFG2001": OUTSIDE_PAKISTAN,
    "PAK1013": ("terror_attack", "other"),
}


@pytest.mark.parametrize("event_id", sorted(EXPECTED))
def test_fixture_rows_follow_the_category_table(event_id: str) -> None:
    mapped = map_row(fixture_rows()[event_id])
    expected = EXPECTED[event_id]
    if isinstance(expected, str):
        assert mapped == Skip(expected)
    else:
        assert not isinstance(mapped, Skip)
        assert (mapped["category"], mapped["subtype"]) == expected


def test_full_mapping_of_one_row() -> None:
    mapped = map_row(fixture_rows()["PAK1003"])
    assert mapped == {
        "source": "acled",
        "source_event_id": "PAK1003",
        "version": 1705708800,
        "reported_at": "2024-01-20T00:00:00+00:00",
        "occurred_on": "2024-01-18",
        "date_precision": "day",
        "province": "Khyber Pakhtunkhwa",
        "district": "Dera Ismail Khan",
        "location": "Kulachi",
        "latitude": 31.93,
        "longitude": 70.46,
        "category": "terror_attack",
        "subtype": "armed_assault",
        "killed": {"unknown": 3},
        "perpetrator": "TTP: Tehrik-i-Taliban Pakistan",
        "target": "Police Forces of Pakistan (2018-)",
        "notes": "On 18 January 2024, TTP militants attacked a police post in Kulachi, "
        "killing 3 policemen.",
    }


def test_security_operations_name_no_perpetrator_but_keep_the_target() -> None:
    mapped = map_row(fixture_rows()["PAK1001"])
    assert not isinstance(mapped, Skip)
    assert mapped["perpetrator"] is None
    assert mapped["target"] == "TTP: Tehrik-i-Taliban Pakistan"


def test_both_date_formats_and_precisions() -> None:
    rows = fixture_rows()
    long_form, week, month = (
        map_row(rows["PAK1009"]),
        map_row(rows["PAK1005"]),
        map_row(rows["PAK1010"]),
    )
    assert not isinstance(long_form, Skip)
    assert not isinstance(week, Skip)
    assert not isinstance(month, Skip)
    assert long_form["occurred_on"] == "2024-03-26"
    assert (week["date_precision"], month["date_precision"]) == ("week", "month")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-26", date(2024, 3, 26)),
        ("26 March 2024", date(2024, 3, 26)),
        (" 5 January 2024 ", date(2024, 1, 5)),
        ("05 Jan 2024", date(2024, 1, 5)),
    ],
)
def test_parse_event_date(text: str, expected: date) -> None:
    assert parse_event_date(text) == expected


@pytest.mark.parametrize("text", ["", "26/03/2024", "31 Febuary 2024", "2024-02-30"])
def test_parse_event_date_refuses_other_formats(text: str) -> None:
    with pytest.raises(ValueError):
        parse_event_date(text)


def test_empty_district_is_none() -> None:
    mapped = map_row(fixture_rows()["PAK1010"])
    assert not isinstance(mapped, Skip)
    assert mapped["district"] is None


def test_bad_row_lists_every_bad_field() -> None:
    with pytest.raises(AcledRowError) as info:
        map_row(fixture_rows()["PAK1012"])
    assert {e.field for e in info.value.errors} == {"occurred_on", "killed"}


def test_unknown_event_type_is_an_error_not_a_skip() -> None:
    row = {**fixture_rows()["PAK1001"], "event_type": "Alien invasion"}
    with pytest.raises(AcledRowError) as info:
        map_row(row)
    assert info.value.errors[0].field == "event_type"


def test_pakistan_is_matched_by_iso_or_country() -> None:
    row = fixture_rows()["PAK1001"]
    assert not isinstance(map_row({**row, "country": ""}), Skip)
    assert not isinstance(map_row({**row, "iso": ""}), Skip)
    assert map_row({**row, "iso": "356", "country": "India"}) == Skip(OUTSIDE_PAKISTAN)


def test_long_notes_are_truncated() -> None:
    row = {**fixture_rows()["PAK1001"], "notes": "x" * 100_000}
    mapped = map_row(row)
    assert not isinstance(mapped, Skip)
    assert 0 < len(mapped["notes"]) < 100_000


@pytest.mark.parametrize(
    ("actor", "state"),
    [
        ("Military Forces of Pakistan (2018-)", True),
        ("Police Forces of Pakistan (2018-) Counter Terrorism Department", True),
        ("Frontier Corps", True),
        ("Rangers", True),
        ("Levies", True),
        ("TTP: Tehrik-i-Taliban Pakistan", False),
        ("Unidentified Armed Group (Pakistan)", False),
        ("Military Forces of Afghanistan (2021-)", False),
    ],
)
def test_state_forces(actor: str, state: bool) -> None:
    assert is_state_force(actor) is state


@pytest.mark.parametrize(
    ("event_type", "sub_event_type", "actor1", "expected"),
    [
        (
            "Battles",
            "Non-state actor overtakes territory",
            "Frontier Corps",
            ("security_operation", "clash"),
        ),
        ("Battles", "Armed clash", "Lashkar-e-Jhangvi", ("terror_attack", "armed_assault")),
        (
            "Explosions/Remote violence",
            "Air/drone strike",
            "Unidentified Armed Group (Pakistan)",
            ("terror_attack", "drone_strike"),
        ),
        ("Explosions/Remote violence", "Chemical weapon", "TTP", ("terror_attack", "other")),
        ("Violence against civilians", "Sexual violence", "Rangers", ("terror_attack", "other")),
    ],
)
def test_classify_edges(
    event_type: str, sub_event_type: str, actor1: str, expected: tuple[str, str]
) -> None:
    result = classify(event_type, sub_event_type, actor1)
    assert not isinstance(result, Skip)
    category, subtype = result
    assert (str(category), str(subtype)) == expected
    assert isinstance(category, Category) and isinstance(subtype, Subtype)


@pytest.mark.parametrize("event_type", ["Protests", "Riots", "Strategic developments"])
def test_non_violence_is_skipped(event_type: str) -> None:
    assert classify(event_type, "anything", "Rangers") == Skip(NOT_POLITICAL_VIOLENCE)


def test_items_of_the_fixture_file_with_line_numbers() -> None:
    with FIXTURE.open("rb") as f:
        items = list(acled_items(f))
    assert len(items) == 14
    candidates = [i for i in items if isinstance(i, Candidate)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(candidates) == 11
    assert sorted(s.reason for s in skips) == [NOT_POLITICAL_VIOLENCE, OUTSIDE_PAKISTAN]
    # PAK1004's notes span two physical lines, so the bad row PAK1012 starts on line 15.
    assert [r.line for r in rejected] == [15]
    assert '"PAK1012"' in rejected[0].raw
    assert candidates[-1].line == 16


def test_a_csv_without_acled_columns_is_refused() -> None:
    with pytest.raises(InputFormatError, match="missing columns"):
        list(acled_items(io.BytesIO(b"a,b,c\n1,2,3\n")))
