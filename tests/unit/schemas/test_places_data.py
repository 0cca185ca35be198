"""The places gazetteer data (schemas/data/places.json) and its labelled fixtures.

Pure data checks: every place names a canonical province and district of gazetteer.json, has a
stable slug id, lies inside its district's box (which lies inside its province's box), and no
spelling is claimed by two places of one district. The fixtures used to measure a place
resolver (tests/fixtures/places_labelled.csv, places_distinct_pairs.csv) must point at places
that exist.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from schemas.exceptions import SchemaError
from schemas.gazetteer import BBox, load_gazetteer, place_key

G = load_gazetteer()
REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
SAMPLES = REPO / "producers" / "samples" / "q1_2024"

KINDS = {"town", "city", "tehsil", "village", "bazaar", "landmark", "area", "checkpost"}
ID_RE = re.compile(r"^[a-z]{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")

KP = "Khyber Pakhtunkhwa"
BA = "Balochistan"
# Where violence concentrates: these districts must be covered in depth.
PRIORITY_5 = [
    (KP, d)
    for d in (
        "North Waziristan",
        "Upper South Waziristan",
        "Lower South Waziristan",
        "Khyber",
        "Kurram",
        "Orakzai",
        "Bajaur",
        "Mohmand",
        "Bannu",
        "Lakki Marwat",
        "Dera Ismail Khan",
        "Tank",
        "Peshawar",
    )
] + [(BA, "Quetta"), (BA, "Kech")]
PRIORITY_3 = [
    (KP, d)
    for d in (
        "Swat",
        "Upper Dir",
        "Lower Dir",
        "Lower Chitral",
        "Upper Chitral",
        "Kohat",
        "Hangu",
        "Karak",
        "Mardan",
        "Charsadda",
    )
] + [
    (BA, d)
    for d in (
        "Gwadar",
        "Panjgur",
        "Mastung",
        "Kalat",
        "Zhob",
        "Kachhi",
        "Dera Bugti",
        "Nushki",
        "Kohlu",
        "Sibi",
        "Khuzdar",
        "Awaran",
        "Chagai",
        "Kharan",
        "Washuk",
        "Harnai",
        "Ziarat",
        "Loralai",
        "Pishin",
        "Killa Abdullah",
        "Chaman",
        "Killa Saifullah",
        "Jafarabad",
        "Nasirabad",
    )
]


def norm(text: str) -> str:
    """Compare spellings case-insensitively with runs of whitespace collapsed."""
    return " ".join(text.split()).casefold()


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower().replace("'", "")).strip("-")


@cache
def data() -> dict[str, Any]:
    text = resources.files("schemas").joinpath("data/places.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def places() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data()["places"]
    return found


def spellings(place: dict[str, Any]) -> list[str]:
    return [place["name"], *place["aliases"]]


def by_district() -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for place in places():
        grouped[(place["province"], place["district"])].append(place)
    return grouped


def bbox(box: dict[str, float]) -> BBox:
    return BBox(box["min_lat"], box["max_lat"], box["min_lon"], box["max_lon"])


def read_csv(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


# -- the document -----------------------------------------------------------------


def test_document_shape() -> None:
    doc = data()
    assert doc["format"] == 1
    assert set(doc) == {"format", "provenance", "district_bboxes", "places"}
    prov = doc["provenance"]
    assert {"compiled_by", "as_of", "sources", "licence", "notes"} <= set(prov)
    assert "CC BY 4.0" in prov["licence"]
    assert prov["sources"] and prov["notes"]
    for place in places():
        assert set(place) == {
            "id",
            "name",
            "province",
            "district",
            "kind",
            "lat",
            "lon",
            "aliases",
        }, place
        assert isinstance(place["name"], str) and place["name"].strip() == place["name"] != ""
        assert place["kind"] in KINDS, place["id"]
        assert isinstance(place["lat"], float) and isinstance(place["lon"], float), place["id"]
        assert isinstance(place["aliases"], list), place["id"]
        for alias in place["aliases"]:
            assert isinstance(alias, str) and alias.strip() == alias != "", place["id"]
            assert place_key(alias), (place["id"], alias)


def test_at_least_400_places() -> None:
    assert len(places()) >= 400


def test_provinces_and_districts_are_canonical() -> None:
    for place in places():
        assert G.province(place["province"]).name == place["province"], place["id"]
        district = G.district(place["district"], place["province"])
        assert district.name == place["district"], place["id"]


def test_ids_are_unique_slugs_built_from_province_and_district() -> None:
    ids = Counter(place["id"] for place in places())
    assert [i for i, n in ids.items() if n > 1] == []
    for place in places():
        pid = place["id"]
        assert ID_RE.match(pid), pid
        code = G.province(place["province"]).iso_code.split("-")[1].lower()
        prefix = f"{code}-{slug(place['district'])}-"
        assert pid.startswith(prefix) and len(pid) > len(prefix), pid


# -- geometry -----------------------------------------------------------------------


def test_every_district_with_places_has_a_bbox_and_no_bbox_is_orphaned() -> None:
    boxes = data()["district_bboxes"]
    used = {f"{p}/{d}" for p, d in by_district()}
    assert used == set(boxes)


def test_district_bboxes_are_canonical_and_inside_their_province() -> None:
    for key, raw in data()["district_bboxes"].items():
        province, district = key.split("/")
        assert G.province(province).name == province, key
        assert G.district(district, province).name == district, key
        assert set(raw) == {"min_lat", "max_lat", "min_lon", "max_lon"}, key
        box = bbox(raw)
        assert box.min_lat < box.max_lat and box.min_lon < box.max_lon, key
        assert box.within(G.bbox(province)), key


def test_every_place_lies_inside_its_district_bbox() -> None:
    boxes = data()["district_bboxes"]
    outside = [
        (p["id"], p["lat"], p["lon"])
        for p in places()
        if not bbox(boxes[f"{p['province']}/{p['district']}"]).contains(p["lat"], p["lon"])
    ]
    assert outside == []


# -- spellings ----------------------------------------------------------------------


def test_names_are_unique_within_a_district() -> None:
    for (province, district), group in by_district().items():
        names = Counter(norm(p["name"]) for p in group)
        assert [n for n, c in names.items() if c > 1] == [], (province, district)


def test_no_alias_repeated_within_a_place() -> None:
    for place in places():
        seen = Counter(norm(a) for a in place["aliases"])
        assert [a for a, n in seen.items() if n > 1] == [], place["id"]


def _claims(key: Any) -> Iterator[tuple[tuple[str, str], str, set[str]]]:
    """Yield (district, spelling, ids of places claiming it) under the given comparison."""
    for where, group in by_district().items():
        owners: dict[str, set[str]] = defaultdict(set)
        for place in group:
            for spelling in spellings(place):
                owners[key(spelling)].add(place["id"])
        for spelling, ids in owners.items():
            yield where, spelling, ids


def test_no_spelling_claimed_by_two_places_in_one_district() -> None:
    # covers alias vs alias and alias vs another place's name
    clashes = [(w, s, sorted(ids)) for w, s, ids in _claims(norm) if len(ids) > 1]
    assert clashes == []


def test_no_spelling_clash_even_ignoring_punctuation() -> None:
    # resolvers match on gazetteer.place_key ('D.I. Khan' == 'DI Khan'); stay unambiguous there
    clashes = [(w, s, sorted(ids)) for w, s, ids in _claims(place_key) if len(ids) > 1]
    assert clashes == []


@pytest.mark.parametrize(
    ("province", "district", "at_least"),
    [(p, d, 5) for p, d in PRIORITY_5] + [(p, d, 3) for p, d in PRIORITY_3],
)
def test_priority_district_coverage(province: str, district: str, at_least: int) -> None:
    assert len(by_district().get((province, district), [])) >= at_least


# -- the sample data set ------------------------------------------------------------


def _sample_locations() -> Iterator[tuple[str, str, str]]:
    """(province, district, location) of every sample report whose names resolve."""
    rows: list[tuple[str, str, str]] = []
    for line in (SAMPLES / "news.jsonl").read_text("utf-8").splitlines():
        try:
            body = json.loads(line, strict=False)
        except ValueError:
            continue  # the sample carries malformed lines on purpose
        rows.append((body.get("province", ""), body.get("district", ""), body.get("location", "")))
    with (SAMPLES / "acled.csv").open(encoding="utf-8", newline="") as f:
        rows += [(r["admin1"], r["admin2"], r["location"]) for r in csv.DictReader(f)]
    for province, district, location in rows:
        try:
            found = G.district(district, province)
        except SchemaError:
            continue  # a deliberately wrong province or district
        yield found.province, found.name, location


def test_every_sample_location_is_a_place() -> None:
    known = {(p["province"], p["district"], place_key(s)) for p in places() for s in spellings(p)}
    missing = sorted(
        {(p, d, loc) for p, d, loc in _sample_locations() if (p, d, place_key(loc)) not in known}
    )
    assert missing == []


# -- fixtures for resolvers ---------------------------------------------------------


def _canonical_row(row: dict[str, str]) -> None:
    assert G.province(row["province"]).name == row["province"], row
    assert G.district(row["district"], row["province"]).name == row["district"], row


def test_labelled_fixture_references_existing_places() -> None:
    fields, rows = read_csv("places_labelled.csv")
    assert fields == ["text", "district", "province", "expected_id"]
    assert len(rows) >= 150
    index = {p["id"]: p for p in places()}
    for row in rows:
        assert row["text"].strip(), row
        _canonical_row(row)
        if row["expected_id"]:
            place = index[row["expected_id"]]
            assert (place["province"], place["district"]) == (row["province"], row["district"])
    negatives = [r for r in rows if not r["expected_id"]]
    assert len(negatives) >= 30
    positives = [r for r in rows if r["expected_id"]]
    literal = {(p["id"], norm(s)) for p in places() for s in spellings(p)}
    unlisted = [r for r in positives if (r["expected_id"], norm(r["text"])) not in literal]
    assert len(unlisted) >= 50  # recall is measured on spellings the data does not list


def test_labelled_negatives_are_not_listed_spellings() -> None:
    _, rows = read_csv("places_labelled.csv")
    listed = {
        (p["province"], p["district"], place_key(s)): p["id"]
        for p in places()
        for s in spellings(p)
    }
    wrong = [
        (r["text"], listed[key])
        for r in rows
        if not r["expected_id"]
        and (key := (r["province"], r["district"], place_key(r["text"]))) in listed
    ]
    assert wrong == []


def test_distinct_pairs_fixture_names_two_existing_places() -> None:
    fields, rows = read_csv("places_distinct_pairs.csv")
    assert fields == ["district", "province", "a", "b"]
    assert len(rows) >= 30
    groups = by_district()
    for row in rows:
        _canonical_row(row)
        names = {norm(p["name"]): p["id"] for p in groups[(row["province"], row["district"])]}
        assert norm(row["a"]) in names and norm(row["b"]) in names, row
        assert names[norm(row["a"])] != names[norm(row["b"])], row
    assert len({(r["district"], norm(r["a"]), norm(r["b"])) for r in rows}) == len(rows)
