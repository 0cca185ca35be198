"""Place resolution (schemas.places): aliases, the transliteration folding, coordinates.

These tests build a small gazetteer of their own, so each rule is seen in isolation; the
packaged file has its own contract and coverage tests (test_places_data.py,
test_places_resolution.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.places import FOLDING_RULES, SNAP_KM, Places, fold

KP, NW, SW = "Khyber Pakhtunkhwa", "North Waziristan", "Lower South Waziristan"


def _place(pid: str, name: str, district: str, lat: float, lon: float, *aliases: str) -> Any:
    return {
        "id": pid,
        "name": name,
        "province": KP,
        "district": district,
        "kind": "town",
        "lat": lat,
        "lon": lon,
        "aliases": list(aliases),
    }


PLACES = Places(
    {
        "places": [
            _place("miranshah", "Miranshah", NW, 33.000, 70.070, "Miram Shah"),
            _place("mir-ali", "Mir Ali", NW, 32.970, 70.270),
            _place("spinwam", "Spinwam", NW, 33.180, 70.380),
            _place("datta-khel", "Datta Khel", NW, 32.980, 69.870),
            # Two places whose spellings fold alike: only exact spellings reach them.
            _place("shewa", "Shewa", NW, 33.050, 70.500),
            _place("shawa", "Shawa", NW, 33.150, 70.150),
            _place("wana", "Wana", SW, 32.300, 69.580),
            _place("sarai", "Serai Naurang", "Lakki Marwat", 32.800, 70.780),
        ]
    }
)


@pytest.mark.parametrize(
    ("text", "district", "expected", "how"),
    [
        ("Miranshah", NW, "miranshah", "alias"),
        ("Miram Shah", NW, "miranshah", "alias"),
        ("MIRAN-SHAH", NW, "miranshah", "folded"),
        ("Miramshah", NW, "miranshah", "folded"),
        ("Mirali", NW, "mir-ali", "folded"),
        ("Mir-Ali", NW, "mir-ali", "alias"),  # normalization: hyphens are spaces
        ("Spin Wam", NW, "spinwam", "folded"),
        ("Data Khel", NW, "datta-khel", "folded"),
        ("Wanna", SW, "wana", "folded"),
        ("Sarai Naurang", "Lakki Marwat", "sarai", "folded"),
        ("Shewa", NW, "shewa", "alias"),  # exact spellings still resolve
        ("Shawa", NW, "shawa", "alias"),
    ],
)
def test_spellings_resolve(text: str, district: str, expected: str, how: str) -> None:
    r = PLACES.resolve(text, KP, district)
    assert (r.place_id, r.how) == (expected, how), r.detail


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("Shyewa", NW),  # folds to what Shewa and Shiwa share: neither
        ("Miranshah", SW),  # a place of another district
        ("Razmak", NW),  # not in the gazetteer
        ("checkpost", NW),
        ("Mir", NW),
        ("", NW),
    ],
)
def test_no_resolution_without_one_match_in_the_district(text: str, district: str) -> None:
    assert PLACES.resolve(text, KP, district).place is None


def test_a_shared_folded_key_names_its_candidates() -> None:
    r = PLACES.resolve("Shyewa", KP, NW)
    assert [p.id for p in r.candidates] == ["shawa", "shewa"]
    assert "several places" in r.detail


def test_without_a_district_only_a_unique_place_of_the_province_resolves() -> None:
    assert PLACES.resolve("Wanna", KP, None).place_id == "wana"
    assert PLACES.resolve("Shewa", KP, None).place_id == "shewa"
    assert PLACES.resolve("Shyewa", KP, None).place is None
    assert PLACES.resolve("Wana", "Balochistan", None).place is None


def test_coordinates_snap_to_the_nearest_place_of_the_district_within_the_limit() -> None:
    # 0.01 degree of latitude is about 1.1 km.
    near = PLACES.resolve("Haider Khel", KP, NW, 33.01, 70.07)
    assert (near.place_id, near.how) == ("miranshah", "coordinates")
    far = PLACES.resolve("Haider Khel", KP, NW, 33.0 + (SNAP_KM + 1) / 111.2, 70.07)
    assert far.place is None
    # Text that resolves wins over coordinates; coordinates need a district.
    assert PLACES.resolve("Mir Ali", KP, NW, 33.01, 70.07).place_id == "mir-ali"
    assert PLACES.resolve(None, KP, None, 33.01, 70.07).place is None
    assert PLACES.resolve(None, KP, NW, 33.01, 70.07).place_id == "miranshah"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Mir Ali", "Mirali"),
        ("Qila Saifullah", "Killa Saifullah"),
        ("Ghulam Khan", "Gulam Khan"),
        ("Serai", "Sarai"),
        ("Mehsud", "Mahsud"),
        ("Shewa", "Shiwa"),
        ("Saryab", "Sariab"),
        ("Kech", "Kich"),
        ("Lora", "Lura"),
        ("Miramshah", "Miranshah"),
        ("Wanna", "Wana"),
        ("Parachinar", "Para-Chinar"),
        ("D.I.Khan", "DI Khan"),
        ("Miransha", "Miranshah"),  # a trailing silent h
        ("Darrah", "Darra"),
        ("Kalame", "Kalam"),  # an e added after a final consonant
        ("Kote", "Kot"),
    ],
)
def test_folding_rules_join_known_alternations(a: str, b: str) -> None:
    assert fold(a) == fold(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Bannu", "Banda"),
        ("Mir Ali", "Miran"),
        ("Kalat", "Khar"),
        ("Tank", "Tang"),
        ("Datta Khel", "Data"),
        ("Wana", "Wanda"),
        ("Shewa", "Sheikhan"),
        ("Shah", "Sha Khel"),  # the h rules act on the end of the whole name only
        ("Kotli", "Kot"),  # the e rule: only a final e, only after a consonant
        ("Bajaur", "Bajaure Khel"),
    ],
)
def test_folding_keeps_different_names_apart(a: str, b: str) -> None:
    assert fold(a) != fold(b)


def test_every_folding_rule_is_documented() -> None:
    assert all(why for _, _, why in FOLDING_RULES)


@given(st.text(max_size=60))
def test_folding_is_idempotent_and_total(text: str) -> None:
    once = fold(text)
    assert fold(once) == once
    assert " " not in once
