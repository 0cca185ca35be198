"""A feed whose second source spells places in ways the gazetteer does not list.

Written for issue 18's tests and ``bench.places``: a "police" feed spells each place as the
gazetteer does, a "wire" feed reports the same incidents with a spelling nobody listed
(:data:`UNSEEN`, written by hand for this feed, checked not to resolve by
tests/unit/incidents_places/test_unseen_feed.py). Around them:

- noise: on some days the police report another incident of the same district and
  category at another place, which the wire does not report (a wrong candidate, one day);
- revisions and a retraction, so the feed is not just first versions;
- a decoy: a place the gazetteer lacks, reported by the wire with coordinates, on days the
  police report a known place of the district more than SNAP_KM away. It must never be
  proposed as that place.

``truth`` is the same feed with the wire's spellings replaced by the gazetteer's: what
the figures are once every spelling is known.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from incidents_places.evidence import Group, Seen, Suggestion
from schemas.places import Places
from schemas.report import Casualties, Report, normalize_location
from tests import reference

KP, BL = "Khyber Pakhtunkhwa", "Balochistan"


@dataclass(frozen=True)
class Unseen:
    province: str
    district: str
    place_id: str
    spelled: str  # as the gazetteer spells it
    unseen: str  # as the wire spells it


UNSEEN = (
    Unseen(KP, "North Waziristan", "kp-north-waziristan-miranshah", "Miranshah", "Miranshaw"),
    Unseen(KP, "North Waziristan", "kp-north-waziristan-mir-ali", "Mir Ali", "Mirali Adda"),
    Unseen(KP, "Bannu", "kp-bannu-bannu", "Bannu", "Banoon"),
    Unseen(KP, "Peshawar", "kp-peshawar-peshawar", "Peshawar", "Pekhawar"),
    Unseen(KP, "Lower Chitral", "kp-lower-chitral-chitral", "Chitral", "Chatrar"),
    Unseen(
        KP,
        "Dera Ismail Khan",
        "kp-dera-ismail-khan-dera-ismail-khan",
        "Dera Ismail Khan",
        "Dera Ismael Kahn",
    ),
    Unseen(BL, "Quetta", "ba-quetta-quetta", "Quetta", "Kwetta"),
    Unseen(BL, "Zhob", "ba-zhob-zhob", "Zhob", "Jhob"),
)
# Noise: another place of the district the police report alone, on some of the same days.
NOISE = {
    "North Waziristan": ("Datta Khel", "Spinwam", "Razmak"),
    "Bannu": ("Domel", "Jani Khel"),
    "Peshawar": ("Badaber", "Mathra", "Hayatabad"),
    "Lower Chitral": ("Drosh",),
    "Dera Ismail Khan": ("Kulachi", "Paharpur"),
    "Quetta": ("Sariab", "Kuchlak"),
    "Zhob": ("Sambaza",),
}
# The decoy: a village the gazetteer lacks (wire, with coordinates) beside Bannu city
# (police, with coordinates) on the same days: about 12 km apart.
DECOY_TEXT = "Ghoriwala Kalay"
DECOY_AT = (32.90, 70.72)
BANNU_AT = (32.99, 70.60)
BASE = date(2024, 1, 3)


def _report(
    source: str,
    event: str,
    u: Unseen,
    day: date,
    location: str,
    killed: int,
    *,
    version: int = 1,
    retracted: bool = False,
    at: tuple[float, float] | None = None,
) -> Report:
    return Report(
        source=source,
        source_event_id=event,
        version=version,
        retracted=retracted,
        reported_at=datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        + timedelta(hours=version),
        occurred_on=day,
        province=u.province,
        district=u.district,
        location=location,
        latitude=at[0] if at else None,
        longitude=at[1] if at else None,
        category="terror_attack",
        subtype="ied",
        killed=Casualties(civilians=killed, security=1),
        injured=Casualties(civilians=2 * killed),
    )


def feed(days_per_place: int = 3, seed: int = 18) -> tuple[list[Report], list[Report]]:
    """(what the feeds publish, the same with every spelling known), every delivery."""
    rng = random.Random(seed)
    published: list[Report] = []
    truth: list[Report] = []
    for i, u in enumerate(UNSEEN):
        for d in range(days_per_place):
            day = BASE + timedelta(days=5 * i + 17 * d)
            police = _report("police", f"p-{i}-{d}", u, day, u.spelled, rng.randint(1, 9))
            wire = _report("wire", f"w-{i}-{d}", u, day, u.unseen, rng.randint(1, 9))
            both = [police, wire]
            if d == 1:  # the wire revises its figure
                both.append(
                    wire.model_copy(update={"version": 2, "killed": Casualties(civilians=12)})
                )
            noise = NOISE.get(u.district, ())
            if noise and d < len(noise):
                other = _report("police", f"n-{i}-{d}", u, day, noise[d], rng.randint(1, 5))
                both.append(other)
                if d == 0:  # retracted later
                    both.append(other.model_copy(update={"version": 2, "retracted": True}))
            published += both
            truth += [
                r.model_copy(update={"location": u.spelled}) if r.location == u.unseen else r
                for r in both
            ]
    bannu = UNSEEN[2]
    for d in range(2):
        day = BASE + timedelta(days=40 + 9 * d)
        decoy = [
            _report("police", f"dp-{d}", bannu, day, "Bannu", 2, at=BANNU_AT),
            _report("wire", f"dw-{d}", bannu, day, DECOY_TEXT, 3, at=DECOY_AT),
        ]
        published += decoy
        truth += decoy
    return published, truth


# --- the labelled set: precision and recall of `places suggest` ---------------------------

LABELLED = Path(__file__).resolve().parent / "fixtures" / "places_unseen_labelled.csv"


@dataclass(frozen=True)
class Label:
    text: str
    province: str
    district: str
    expected_id: str  # "" for a real place the gazetteer lacks (kind "absent")
    kind: str
    batch: str


def labels() -> list[Label]:
    """tests/fixtures/places_unseen_labelled.csv (docs/analysts.md says who wrote it)."""
    with LABELLED.open(encoding="utf-8", newline="") as f:
        return [Label(**row) for row in csv.DictReader(f)]


def labelled_feed(
    rows: list[Label], places: Places, seed: int = 18
) -> tuple[list[Report], list[Report]]:
    """Reports around each labelled spelling that does not resolve today, and the truth
    (each variant written as the gazetteer spells its place; absent places unchanged).

    A variant is reported by the wire and corroborated by the police (the place's name) on
    1, 2 or 3 days (in turn); an absent place is reported by the wire on 1 or 2 days on
    which the police report some *other* incident of the district: a coincidence, wrong
    evidence by construction. On every day the police also report, half the time, another
    place of the district alone. Days fall at random in one quarter, so spellings of one
    district meet on the same day now and then.
    """
    rng = random.Random(seed)
    in_district: dict[tuple[str, str], list[str]] = {}
    for p in places.places:
        in_district.setdefault((p.province, p.district), []).append(p.name)
    out: list[Report] = []
    truth: list[Report] = []
    for i, row in enumerate(rows):
        if places.resolve(row.text, row.province, row.district).place is not None:
            continue  # resolves already: nothing to learn
        area = Unseen(row.province, row.district, row.expected_id, "", row.text)
        names = in_district[(row.province, row.district)]
        if row.expected_id:
            days, police_at = 1 + i % 3, places.by_id[row.expected_id].name
        else:
            days, police_at = 1 + i % 2, ""
        for d in range(days):
            day = BASE + timedelta(days=rng.randrange(90))
            at = police_at or rng.choice(names)
            wire = _report("wire", f"lw-{i}-{d}", area, day, row.text, rng.randint(1, 9))
            made = [wire, _report("police", f"lp-{i}-{d}", area, day, at, rng.randint(1, 9))]
            if rng.random() < 0.5:
                made.append(_report("police", f"lo-{i}-{d}", area, day, rng.choice(names), 1))
            out += made
            truth += made
            if police_at:
                truth[-len(made)] = wire.model_copy(update={"location": police_at})
    return out, truth


def groups(deliveries: list[Report]) -> list[Group]:
    """What incidents_places.evidence.CANDIDATES_QUERY returns from a warehouse holding
    `deliveries`, computed in Python from their latest versions."""
    by: dict[tuple[date, str, str, str], list[Seen]] = {}
    sources: dict[tuple[date, str, str, str], set[str]] = {}
    for r in reference.latest_versions(deliveries).values():
        if r.retracted or not r.district:
            continue
        key = (r.occurred_on, r.province, r.district, str(r.category))
        seen = Seen(r.source, r.source_event_id, "", r.location or "", r.latitude, r.longitude)
        by.setdefault(key, []).append(seen)
        sources.setdefault(key, set()).add(r.source)
    return [
        Group(*key, tuple(seen))
        for key, seen in sorted(by.items())
        if len(sources[key]) >= 2 and sum(bool(s.location) for s in seen) >= 2
    ]


@dataclass(frozen=True)
class Scored:
    """How the suggestions fared against the labels."""

    proposed: int
    right: int
    wrong: int
    missing: int  # unseen variants with no right suggestion
    unseen: int  # labelled variants that do not resolve today

    @property
    def precision(self) -> float:
        return self.right / self.proposed if self.proposed else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.unseen if self.unseen else 1.0


def score_suggestions(found: list[Suggestion], rows: list[Label], places: Places) -> Scored:
    """Right: the suggestion names the labelled place; wrong: any other suggestion."""
    truth = {
        (r.province, r.district, normalize_location(r.text)): r.expected_id
        for r in rows
        if r.expected_id and places.resolve(r.text, r.province, r.district).place is None
    }
    right = sum(truth.get((s.province, s.district, s.normalized)) == s.place.id for s in found)
    return Scored(len(found), right, len(found) - right, len(truth) - right, len(truth))
