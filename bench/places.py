"""What place resolution changes in the figures: the bundled Q1 2024 feeds with the ACLED
feed's locations respelled the way another transliteration would write them.

The news feed keeps its spellings; each ACLED report's location that resolves to a place
gets a different spelling of the same place: another alias of the gazetteer when there is
one (found by alias lookup), else the name with its spaces removed and its last consonant
doubled, "Landi Kotal" -> "LandiKotall" (found only by the folding). The incidents and
killed are then counted with tests/reference.py (the independent recomputation of
docs/semantics.md) three ways:

- ground truth: the feeds as bundled (both feeds spell alike);
- without places: the key's location is the normalized text (the rule before places);
- with places: the key uses the place when the location resolves (the rule now).

    .venv/bin/python -m bench.places [--no-aliases]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import ValidationError

from bench._common import machine
from producers.acled import Candidate, acled_items
from producers.samples.q1_2024 import ACLED_FILE, NEWS_FILE
from schemas.places import load_places, place_key
from schemas.report import Report, normalize_location
from tests import reference


def _reports() -> Iterator[Report]:
    for line in NEWS_FILE.read_bytes().splitlines():
        try:
            yield Report.model_validate_json(line)
        except ValidationError:
            continue  # the sample's deliberately malformed lines
    with ACLED_FILE.open("rb") as f:
        for item in acled_items(f):
            if isinstance(item, Candidate):
                yield Report.model_validate_json(item.value)


def respell(r: Report, use_aliases: bool = True) -> tuple[Report, str]:
    """Another spelling of the report's place, and how it was made ("" if unchanged)."""
    if r.source != "acled" or not r.location:
        return r, ""
    place = load_places().resolve(r.location, r.province, r.district).place
    if place is None:
        return r, ""
    others = [s for s in place.spellings if normalize_location(s) != normalize_location(r.location)]
    if others and use_aliases:
        return r.model_copy(update={"location": others[0]}), "alias"
    squeezed = r.location.replace(" ", "")
    last = max(i for i, ch in enumerate(squeezed) if ch.lower() not in "aeiou")
    variant = squeezed[: last + 1] + squeezed[last:]
    return r.model_copy(update={"location": variant}), "variant"


def _totals(reports: list[Report]) -> tuple[int, int]:
    incidents = reference.incidents(reports)
    return len(incidents), sum(sum(i.killed.values()) for i in incidents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-aliases",
        action="store_true",
        help="Respell every location with a variant only the folding matches.",
    )
    args = parser.parse_args()
    truth_reports = list(_reports())
    made = [respell(r, use_aliases=not args.no_aliases) for r in truth_reports]
    respelled = [r for r, _ in made]
    aliases = sum(how == "alias" for _, how in made)
    variants = sum(how == "variant" for _, how in made)
    truth = _totals(truth_reports)
    with_places = _totals(respelled)

    def text_only(r: Report) -> str:
        return normalize_location(r.location)

    with mock.patch.object(reference, "_location_key", text_only):
        without = _totals(respelled)
    print(f"machine: {machine()}")
    print(
        f"reports: {len(truth_reports)}; ACLED locations respelled: {aliases + variants}"
        f" ({aliases} to another alias, {variants} to a variant only folding matches)"
    )
    print(f"{'':28}{'incidents':>10}{'killed':>8}")
    for name, (n, k) in (
        ("ground truth", truth),
        ("without places (old key)", without),
        ("with places (new key)", with_places),
    ):
        dn, dk = (n - truth[0]) / truth[0] * 100, (k - truth[1]) / truth[1] * 100
        print(f"{name:28}{n:>10}{k:>8}   ({dn:+.1f}% incidents, {dk:+.1f}% killed)")
    # What resolution costs per report: the key's location part, new and old.
    for name, fn in (
        ("place_key (resolution)", lambda r: place_key(r.location, r.province, r.district)),
        ("normalize_location (old)", lambda r: normalize_location(r.location)),
    ):
        rounds = 50
        t0 = time.perf_counter()
        for _ in range(rounds):
            for r in respelled:
                fn(r)
        per = (time.perf_counter() - t0) / rounds / len(respelled) * 1e6
        print(f"{name:28}{per:>8.1f} us per report")


if __name__ == "__main__":
    main()
