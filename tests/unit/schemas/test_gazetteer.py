"""The gazetteer data and its loader."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.exceptions import (
    AmbiguousPlace,
    DistrictNotInProvince,
    GazetteerDataError,
    SchemaError,
    UnknownPlace,
)
from schemas.gazetteer import PAKISTAN_BBOX, Gazetteer, load_gazetteer, place_key
from tests.strategies import spellings

G = load_gazetteer()

PROVINCES = {
    "Khyber Pakhtunkhwa": "PK-KP",
    "Balochistan": "PK-BA",
    "Punjab": "PK-PB",
    "Sindh": "PK-SD",
    "Islamabad Capital Territory": "PK-IS",
    "Gilgit-Baltistan": "PK-GB",
    "Azad Jammu and Kashmir": "PK-JK",
}

PROVINCE_ALIASES = [(alias, p.name) for p in G.provinces for alias in (p.name, *p.aliases)]
DISTRICT_ALIASES = [(alias, d) for d in G.districts for alias in (d.name, *d.aliases)]


def raw_data() -> dict[str, Any]:
    text = resources.files("schemas").joinpath("data/gazetteer.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_provinces_and_iso_codes() -> None:
    assert {p.name: p.iso_code for p in G.provinces} == PROVINCES
    assert G.iso_code("kpk") == "PK-KP"


@pytest.mark.parametrize(
    ("province", "at_least"),
    [
        ("Khyber Pakhtunkhwa", 37),
        ("Balochistan", 36),
        ("Punjab", 41),
        ("Sindh", 30),
        ("Islamabad Capital Territory", 1),
        ("Gilgit-Baltistan", 14),
        ("Azad Jammu and Kashmir", 10),
    ],
)
def test_district_counts(province: str, at_least: int) -> None:
    assert len(G.province(province).districts) >= at_least


def test_former_fata_districts_are_in_kp() -> None:
    for name in [
        "Bajaur",
        "Mohmand",
        "Khyber",
        "Kurram",
        "Orakzai",
        "North Waziristan",
        "Upper South Waziristan",
        "Lower South Waziristan",
    ]:
        assert G.district(name).province == "Khyber Pakhtunkhwa"


def test_kp_and_balochistan_districts_have_centroids_inside_their_bbox() -> None:
    for name in ("Khyber Pakhtunkhwa", "Balochistan"):
        province = G.province(name)
        for d in province.districts:
            assert d.centroid is not None, d.name
            assert province.bbox.contains(*d.centroid)


def test_province_boxes_lie_inside_pakistan() -> None:
    for p in G.provinces:
        assert p.bbox.within(PAKISTAN_BBOX)


@pytest.mark.parametrize(("alias", "canonical"), PROVINCE_ALIASES)
def test_every_province_alias_maps_to_its_province(alias: str, canonical: str) -> None:
    assert G.province(alias).name == canonical


@given(
    st.sampled_from(PROVINCE_ALIASES).flatmap(lambda a: st.tuples(spellings(a[0]), st.just(a[1])))
)
def test_province_aliases_ignore_case_and_punctuation(pair: tuple[str, str]) -> None:
    spelled, canonical = pair
    assert G.province(spelled).name == canonical


@given(
    st.sampled_from(DISTRICT_ALIASES).flatmap(lambda a: st.tuples(spellings(a[0]), st.just(a[1])))
)
def test_every_district_alias_maps_to_its_canonical_name(pair: tuple[str, Any]) -> None:
    spelled, district = pair
    assert G.district(spelled, district.province) == district
    assert G.district(spelled) == district  # no district alias is shared across provinces


def test_every_canonical_district_maps_back_to_its_province() -> None:
    for p in G.provinces:
        for d in p.districts:
            assert d.province == p.name
            assert G.district(d.name).province == p.name
            assert G.district(d.name, p.name) == d
            for alias in p.aliases:
                assert G.district(d.name, alias) == d


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("d.i. khan", "Dera Ismail Khan"),
        ("DI Khan", "Dera Ismail Khan"),
        ("D I Khan", "Dera Ismail Khan"),
        ("Laki Marwat", "Lakki Marwat"),
        ("Bajour", "Bajaur"),
        ("Kurrum", "Kurram"),
        ("Khyber Agency", "Khyber"),
        ("Bajaur Agency", "Bajaur"),
        ("Kurram Agency", "Kurram"),
        ("North Waziristan Agency", "North Waziristan"),
        ("NWA", "North Waziristan"),
        ("South Waziristan", "Lower South Waziristan"),
        ("South Waziristan Agency", "Lower South Waziristan"),
        ("SWA", "Lower South Waziristan"),
        ("Turbat", "Kech"),
        ("Peshawar District", "Peshawar"),
        ("District Quetta", "Quetta"),
        ("Nawabshah", "Shaheed Benazirabad"),
    ],
)
def test_common_district_spellings(written: str, canonical: str) -> None:
    assert G.district(written).name == canonical


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("KPK", "Khyber Pakhtunkhwa"),
        ("NWFP", "Khyber Pakhtunkhwa"),
        ("K-P", "Khyber Pakhtunkhwa"),
        ("Khyber Pakhtoonkhwa", "Khyber Pakhtunkhwa"),
        ("Baluchistan", "Balochistan"),
        ("ICT", "Islamabad Capital Territory"),
        ("Federal Capital", "Islamabad Capital Territory"),
        ("AJK", "Azad Jammu and Kashmir"),
        ("Azad Jammu & Kashmir", "Azad Jammu and Kashmir"),
        ("Northern Areas", "Gilgit-Baltistan"),
        ("GB", "Gilgit-Baltistan"),
    ],
)
def test_common_province_spellings(written: str, canonical: str) -> None:
    assert G.province(written).name == canonical


def test_place_key_ignores_case_spaces_and_punctuation() -> None:
    assert place_key("d.i. khan") == place_key("DI Khan") == place_key("D I  Khan")
    assert place_key("AJ&K") == place_key("AJ and K")


def test_unknown_province_suggests_the_closest() -> None:
    with pytest.raises(UnknownPlace) as info:
        G.province("Balochstan")
    assert info.value.suggestion == "Balochistan"
    assert "did you mean 'Balochistan'" in str(info.value)


def test_unknown_district_suggests_the_closest_in_its_province() -> None:
    with pytest.raises(UnknownPlace) as info:
        G.district("Peshwar", "KP")
    assert info.value.suggestion == "Peshawar"


def test_district_in_the_wrong_province() -> None:
    with pytest.raises(DistrictNotInProvince) as info:
        G.district("Quetta", "Sindh")
    assert info.value.actual_province == "Balochistan"


def test_umbrella_name_lists_the_districts() -> None:
    with pytest.raises(AmbiguousPlace) as info:
        G.district("Karachi")
    assert ("Sindh", "Karachi East") in info.value.candidates


def test_errors_share_one_base() -> None:
    for error in (UnknownPlace, AmbiguousPlace, DistrictNotInProvince, GazetteerDataError):
        assert issubclass(error, SchemaError)


def test_load_is_cached() -> None:
    assert load_gazetteer() is load_gazetteer()


# -- load-time rules on synthetic data ----------------------------------------------


def test_a_name_shared_by_districts_of_two_provinces_needs_the_province() -> None:
    data = raw_data()
    sindh = next(p for p in data["provinces"] if p["name"] == "Sindh")
    sindh["districts"].append({"name": "Khyber", "aliases": []})
    g = Gazetteer(data)
    assert g.district("Khyber", "KP").province == "Khyber Pakhtunkhwa"
    assert g.district("Khyber", "Sindh").province == "Sindh"
    with pytest.raises(AmbiguousPlace) as info:
        g.district("Khyber")
    assert sorted(info.value.candidates) == [("Khyber Pakhtunkhwa", "Khyber"), ("Sindh", "Khyber")]


def test_alias_of_two_districts_in_one_province_is_refused() -> None:
    data = raw_data()
    kp = data["provinces"][0]
    kp["districts"][0]["aliases"].append("Upper Dir")
    with pytest.raises(GazetteerDataError, match="names both"):
        Gazetteer(data)


def test_district_alias_equal_to_another_provinces_alias_is_refused() -> None:
    data = raw_data()
    data["provinces"][0]["districts"][0]["aliases"].append("Baluchistan")
    with pytest.raises(GazetteerDataError, match="alias of the province"):
        Gazetteer(data)


def test_province_alias_shared_by_two_provinces_is_refused() -> None:
    data = raw_data()
    data["provinces"][1]["aliases"].append("KPK")
    with pytest.raises(GazetteerDataError):
        Gazetteer(data)


def test_centroid_outside_its_province_is_refused() -> None:
    data = copy.deepcopy(raw_data())
    data["provinces"][0]["districts"][0]["centroid"] = [25.0, 67.0]
    with pytest.raises(GazetteerDataError, match="centroid"):
        Gazetteer(data)


def test_malformed_data_is_refused() -> None:
    with pytest.raises(GazetteerDataError):
        Gazetteer({"format": 1, "provinces": [{"name": "X"}]})
