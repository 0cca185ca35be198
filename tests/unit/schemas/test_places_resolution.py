"""The packaged places gazetteer under the resolver: every spelling it lists, a labelled
set of spellings as feeds write them (precision and recall), and near-homonyms that must
stay distinct."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from schemas.places import load_places

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_every_name_and_alias_resolves_to_its_place() -> None:
    places = load_places()
    wrong = [
        (p.id, spelling)
        for p in places.places
        for spelling in p.spellings
        if places.resolve(spelling, p.province, p.district).place_id != p.id
    ]
    assert wrong == []


def test_labelled_spellings_precision_and_recall() -> None:
    """Precision: of the spellings that resolved, the share that resolved to the right
    place. Recall: of the spellings that name a place, the share that resolved to it."""
    places = load_places()
    rows = list(csv.DictReader((FIXTURES / "places_labelled.csv").open(encoding="utf-8")))
    resolved = right = should = found = 0
    wrong: list[tuple[str, str, str]] = []
    for row in rows:
        got = places.resolve(row["text"], row["province"], row["district"]).place_id
        expected = row["expected_id"]
        should += bool(expected)
        if got:
            resolved += 1
            right += got == expected
            if got != expected:
                wrong.append((row["text"], expected, got))
        found += bool(expected) and got == expected
    precision, recall = right / resolved, found / should
    print(f"labelled spellings: {len(rows)}; precision {precision:.3f}, recall {recall:.3f}")
    assert wrong == []  # no false merge, no wrong place
    assert precision == 1.0
    assert recall >= 0.95


@pytest.mark.parametrize(
    "row",
    list(csv.DictReader((FIXTURES / "places_distinct_pairs.csv").open(encoding="utf-8"))),
    ids=lambda r: f"{r['a']}|{r['b']}",
)
def test_near_homonyms_stay_distinct(row: dict[str, str]) -> None:
    places = load_places()
    a = places.resolve(row["a"], row["province"], row["district"]).place_id
    b = places.resolve(row["b"], row["province"], row["district"]).place_id
    assert a and b and a != b
