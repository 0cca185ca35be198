"""Evidence that an unresolved location text names a known place, and the suggestions.

Two reports of **different sources** on the same day, in the same district and of the same
category, one resolving to a place and the other's location not resolving at all, are one
*pair* of evidence that the unresolved text names that place. The evidence is computed on
demand from the warehouse's latest report versions (:data:`CANDIDATES_QUERY`), not kept in
a table: the warehouse already holds every version, and a table fed by the stream would
need a second resolution path and retractions of its own.

A candidate (text, place) is scored (:func:`score`) from three things, each in [0, 1]:

- **similarity** of the folded spellings (rapidfuzz's normalized Indel similarity of
  :func:`schemas.places.fold`, the best over the place's spellings);
- **support**: the share of the text's evidence days that point at this place (a text seen
  beside several places on busy days is less certain);
- **coordinates**: the share of pairs carrying coordinates on both sides that lie within
  :data:`schemas.places.SNAP_KM` of each other (0.5 when no pair carries them). A pair
  whose reports are farther apart than that is no evidence at all (two places).

``score = 0.5 similarity + 0.3 support + 0.2 coordinates``. The evidence count shown and
filtered on (``--min-evidence``) is the number of distinct days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rapidfuzz.distance import Indel

from schemas.places import SNAP_KM, Place, Places, distance_km, fold
from schemas.report import normalize_location

# Latest version of every report received since `since`, not retracted, with a district,
# grouped by day, district and category where at least two sources reported.
CANDIDATES_QUERY = """
SELECT occurred_on, province, district, category,
       groupArray((source, source_event_id, incident_id, location, latitude, longitude))
FROM (
    SELECT source, source_event_id, incident_id, retracted, received_at, occurred_on,
           province, ifNull(district, '') AS district, category,
           ifNull(location, '') AS location, latitude, longitude
    FROM report_versions FINAL
    ORDER BY source, source_event_id, version DESC
    LIMIT 1 BY source, source_event_id
)
WHERE retracted = 0 AND district != '' AND received_at >= {since:DateTime64(3)}
GROUP BY occurred_on, province, district, category
HAVING uniqExact(source) >= 2 AND countIf(location != '') >= 2
ORDER BY occurred_on, province, district, category
"""

WEIGHTS = (0.5, 0.3, 0.2)  # similarity, support, coordinates


@dataclass(frozen=True)
class Seen:
    """One report as the evidence needs it."""

    source: str
    source_event_id: str
    incident_id: str
    location: str
    latitude: float | None
    longitude: float | None

    @property
    def report_id(self) -> str:
        return f"{self.source}:{self.source_event_id}"


@dataclass(frozen=True)
class Group:
    """The reports of one day, district and category."""

    occurred_on: date
    province: str
    district: str
    category: str
    reports: tuple[Seen, ...]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Group:
        day, province, district, category, reports = row
        return cls(day, province, district, category, tuple(Seen(*r) for r in reports))


@dataclass
class Evidence:
    """The pairs that point one unresolved text (of one district) at one place."""

    days: set[date] = field(default_factory=set)
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (unresolved, resolved) ids
    sources: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)
    spellings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    with_coordinates: int = 0
    coordinates_agree: int = 0
    nearest_km: float | None = None


@dataclass(frozen=True)
class Suggestion:
    """The best candidate place for one unresolved text of one district."""

    text: str  # the most frequent spelling as written
    normalized: str
    province: str
    district: str
    place: Place
    score: float
    similarity: float
    support: float
    coordinates: float
    days: int
    pairs: int
    sources: tuple[str, ...]
    incidents: tuple[str, ...]
    example: tuple[str, str]  # (report with the unresolved text, report with the place)
    nearest_km: float | None
    others: int  # other candidate places seen for this text

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "normalized": self.normalized,
            "province": self.province,
            "district": self.district,
            "place": self.place.id,
            "place_name": self.place.name,
            "score": round(self.score, 3),
            "similarity": round(self.similarity, 3),
            "support": round(self.support, 3),
            "coordinates": round(self.coordinates, 3),
            "evidence_days": self.days,
            "report_pairs": self.pairs,
            "sources": list(self.sources),
            "incidents": list(self.incidents),
            "example": {"unresolved": self.example[0], "resolved": self.example[1]},
            "nearest_km": None if self.nearest_km is None else round(self.nearest_km, 2),
            "other_candidates": self.others,
        }


Key = tuple[str, str, str]  # (province, district, normalized text)


def collect(groups: Iterable[Group], places: Places) -> dict[Key, dict[str, Evidence]]:
    """The evidence per unresolved text and candidate place id."""
    found: dict[Key, dict[str, Evidence]] = defaultdict(lambda: defaultdict(Evidence))
    for g in groups:
        resolved: list[tuple[Seen, Place]] = []
        unresolved: list[Seen] = []
        for r in g.reports:
            if not r.location:
                continue
            res = places.resolve(r.location, g.province, g.district, r.latitude, r.longitude)
            if res.place is not None:
                resolved.append((r, res.place))
            elif res.how == "unresolved":
                unresolved.append(r)
        for u in unresolved:
            key = (g.province, g.district, normalize_location(u.location))
            for r, place in resolved:
                if r.source == u.source:
                    continue
                km = _distance(u, r)
                if km is not None and km > SNAP_KM:
                    continue  # two places: reports this far apart are not one incident
                ev = found[key][place.id]
                ev.days.add(g.occurred_on)
                ev.pairs.append((u.report_id, r.report_id))
                ev.sources.update((u.source, r.source))
                ev.incidents.update(i for i in (u.incident_id, r.incident_id) if i)
                ev.spellings[u.location] += 1
                if km is not None:
                    ev.with_coordinates += 1
                    ev.coordinates_agree += 1
                    ev.nearest_km = km if ev.nearest_km is None else min(ev.nearest_km, km)
    return found


def _distance(a: Seen, b: Seen) -> float | None:
    if a.latitude is None or a.longitude is None or b.latitude is None or b.longitude is None:
        return None
    return distance_km(a.latitude, a.longitude, b.latitude, b.longitude)


def similarity(text: str, place: Place) -> float:
    """How alike the folded text and the place's closest folded spelling are, in [0, 1]."""
    folded = fold(text)
    return max(Indel.normalized_similarity(folded, fold(s)) for s in place.spellings)


def score(sim: float, support: float, coordinates: float) -> float:
    """The weighted score of a candidate (see the module)."""
    w_sim, w_support, w_xy = WEIGHTS
    return w_sim * sim + w_support * support + w_xy * coordinates


def suggest(
    groups: Iterable[Group],
    places: Places,
    *,
    rejected: AbstractSet[tuple[str, str]] = frozenset(),
    min_evidence: int = 2,
) -> list[Suggestion]:
    """The best candidate place per unresolved text with at least `min_evidence` days of
    evidence, best score first. `rejected` holds (normalized text, place id) pairs a
    reviewer turned down: they are never proposed again."""
    out: list[Suggestion] = []
    for (province, district, normalized), by_place in collect(groups, places).items():
        all_days = set().union(*(ev.days for ev in by_place.values()))
        ranked = []
        for place_id, ev in by_place.items():
            if (normalized, place_id) in rejected:
                continue
            place = places.by_id[place_id]
            text = max(ev.spellings.items(), key=lambda kv: (kv[1], kv[0]))[0]
            sim = similarity(text, place)
            support = len(ev.days) / len(all_days)
            xy = ev.coordinates_agree / ev.with_coordinates if ev.with_coordinates else 0.5
            ranked.append((score(sim, support, xy), place_id, sim, support, xy, text, ev))
        if not ranked:
            continue
        ranked.sort(key=lambda t: (-t[0], t[1]))
        best, place_id, sim, support, xy, text, ev = ranked[0]
        if len(ev.days) < min_evidence:
            continue
        out.append(
            Suggestion(
                text=text,
                normalized=normalized,
                province=province,
                district=district,
                place=places.by_id[place_id],
                score=best,
                similarity=sim,
                support=support,
                coordinates=xy,
                days=len(ev.days),
                pairs=len(ev.pairs),
                sources=tuple(sorted(ev.sources)),
                incidents=tuple(sorted(ev.incidents)),
                example=min(ev.pairs),
                nearest_km=ev.nearest_km,
                others=len(ranked) - 1,
            )
        )
    out.sort(key=lambda s: (-s.score, -s.days, s.province, s.district, s.normalized))
    return out
