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

Then, for spellings nobody listed (issue 18): two feeds whose wire source spells places
in ways the gazetteer lacks (tests/unseen_spellings.py: eight hand-made spellings, and the
labelled set tests/fixtures/places_unseen_labelled.csv), incidents and killed with the
shipped gazetteer, after accepting every suggestion of `incidents places suggest` with
evidence >= 2 days (wrong ones too, as a reviewer who accepts all would), and the truth;
and how many suggestions were right, wrong or missing.

    .venv/bin/python -m bench.places [--no-aliases] [--min-evidence 2]
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

import tempfile

from pydantic import ValidationError

from bench._common import machine
from incidents_places import evidence, overlay
from producers.acled import Candidate, acled_items
from producers.samples.q1_2024 import ACLED_FILE, NEWS_FILE
from schemas.exceptions import AliasRefused
from schemas.places import activate, load_places, place_key, shipped_places
from schemas.report import Report, normalize_location
from tests import reference, unseen_spellings


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


def learnt(name: str, published: list[Report], truth: list[Report], min_evidence: int) -> None:
    """Figures before and after accepting every suggestion, against the truth."""
    shipped = shipped_places()
    activate(None)
    found = evidence.suggest(unseen_spellings.groups(published), shipped, min_evidence=min_evidence)
    before, known = _totals(published), _totals(truth)
    refused = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overlay.jsonl"
        for s in found:
            try:
                overlay.decide(path, s.text, s.place.id, "accept")
            except AliasRefused:
                refused += 1  # e.g. two texts of one district that fold alike
        activate(path)
        after = _totals(published)
        activate(None)
    rows = unseen_spellings.labels() if name == "labelled" else []
    if rows:
        scored = unseen_spellings.score_suggestions(found, rows, shipped)
        right, wrong, missing = scored.right, scored.wrong, scored.missing
    else:
        expected = {(u.district, u.unseen): u.place_id for u in unseen_spellings.UNSEEN}
        right = sum(expected.get((s.district, s.text)) == s.place.id for s in found)
        wrong, missing = len(found) - right, len(expected) - right
    print(
        f"\n{name} feed: {len(published)} deliveries; suggestions with evidence >="
        f" {min_evidence} day(s): {len(found)} ({right} right, {wrong} wrong, {missing}"
        f" missing; {refused} refused on accept)"
    )
    print(f"{'':34}{'incidents':>10}{'killed':>8}")
    for label, (n, k) in (
        ("shipped gazetteer", before),
        ("after accepting the suggestions", after),
        ("truth (every spelling known)", known),
    ):
        dn, dk = (n - known[0]) / known[0] * 100, (k - known[1]) / known[1] * 100
        print(f"{label:34}{n:>10}{k:>8}   ({dn:+.1f}% incidents, {dk:+.1f}% killed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-aliases",
        action="store_true",
        help="Respell every location with a variant only the folding matches.",
    )
    parser.add_argument(
        "--min-evidence", type=int, default=2, help="Suggestions' fewest days of evidence."
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
    learnt("hand-made", *unseen_spellings.feed(), args.min_evidence)
    rows = unseen_spellings.labels()
    learnt("labelled", *unseen_spellings.labelled_feed(rows, shipped_places()), args.min_evidence)


if __name__ == "__main__":
    main()
