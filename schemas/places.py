"""The places gazetteer (`schemas/data/places.json`) and place resolution.

Resolution is a pure function of one report's location text, district, province and
coordinates: it never looks at other reports, so every stage (and any order of arrival)
resolves alike. In order:

1. **alias lookup**: the normalized text (:func:`schemas.report.normalize_location`) is a
   place's name or alias in the report's district (or, for a report without a district,
   in exactly one place of its province);
2. **transliteration folding** (:func:`fold`): the folded text equals exactly one place's
   folded name or alias there. Folding is applied only to match against the gazetteer: a
   folded key that two places of one district share matches neither (only their exact
   spellings do), and two unknown strings are never merged because they fold alike;
   Generic words at the end ("town", "city", "area", "tehsil", "village", "valley", ...,
   :data:`GENERIC_WORDS`) are dropped when the whole text does not resolve;
3. **coordinates**: a report whose text does not resolve but that gives latitude and
   longitude is snapped to the nearest place of its district within
   :data:`SNAP_KM` kilometres;
4. otherwise the place is unresolved, and the incident key uses the normalized text as
   before.

docs/semantics.md ("Places") describes the rules; docs/contract.md how to extend the file.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from schemas.report import normalize_location

# Words that name what kind of place a place is; "Miranshah town" is Miranshah. Dropped from
# the end of a text that did not resolve as written (never from a gazetteer spelling).
GENERIC_WORDS = frozenset(
    {"town", "city", "area", "tehsil", "village", "valley", "crossing", "headquarters", "hq"}
)
SNAP_KM = 3.0  # a report's coordinates this close to a place of its district resolve to it
KINDS = ("town", "city", "tehsil", "village", "bazaar", "landmark", "area", "checkpost")

# Transliteration folding, applied in this order to normalized text (docs/semantics.md).
# Each is a regular expression and its replacement; the tests pin every rule.
FOLDING_RULES: tuple[tuple[str, str, str], ...] = (
    (r"\s+", "", "spaces and hyphens inside names: Mir Ali = Mirali, Spin Wam = Spinwam"),
    (r"q", "k", "q/k: Qila = Kila"),
    (r"v", "w", "v/w"),
    (r"ph", "f", "ph/f"),
    (r"([bdgkt])h+", r"\1", "aspirates: Ghulam = Gulam, Bhakkar = Bakkar, Khel = Kel"),
    (r"y", "i", "y/i: Saryab = Sariab"),
    (
        r"[eiou]",
        "a",
        "vowel quality: Serai = Sarai, Kech = Kich, Mehsud = Mahsud, Lora = Lura",
    ),
    (r"(.)\1+", r"\1", "doubled letters and long vowels: Wanna = Wana, Datta = Data"),
    (r"m(?=[^aw])", "n", "m/n before a consonant: Miramshah = Miranshah"),
    (r"(.)\1+", r"\1", "doubled letters the m/n rule made: Tamnam = Tanam"),
)
_COMPILED = tuple((re.compile(p), r) for p, r, _ in FOLDING_RULES)


def fold(text: str) -> str:
    """Fold a place name's spelling for matching against the gazetteer (see the module)."""
    folded = normalize_location(text)
    for pattern, replacement in _COMPILED:
        folded = pattern.sub(replacement, folded)
    # Dropping letters can leave a combining mark next to a new base letter: compose.
    return unicodedata.normalize("NFKC", folded)


@dataclass(frozen=True)
class Place:
    """One place: canonical name, district, province, position and alias spellings."""

    id: str
    name: str
    province: str
    district: str
    kind: str
    lat: float
    lon: float
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Resolution:
    """How a location resolved: the place (or None), and why."""

    place: Place | None
    how: str  # alias, folded, coordinates, unresolved, empty
    detail: str = ""
    candidates: tuple[Place, ...] = field(default=())

    @property
    def place_id(self) -> str:
        return self.place.id if self.place else ""


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


Area = tuple[str, str]  # (province, district); district "" = the whole province


class Places:
    """The places gazetteer, indexed for resolution."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.provenance: dict[str, Any] = data.get("provenance", {})
        self.places: tuple[Place, ...] = tuple(
            Place(
                id=p["id"],
                name=p["name"],
                province=p["province"],
                district=p["district"],
                kind=p.get("kind", "town"),
                lat=float(p["lat"]),
                lon=float(p["lon"]),
                aliases=tuple(p.get("aliases", ())),
            )
            for p in data["places"]
        )
        self.by_id = {p.id: p for p in self.places}
        self._exact: dict[Area, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._folded: dict[Area, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._in_district: dict[Area, list[Place]] = defaultdict(list)
        for p in self.places:
            self._in_district[(p.province, p.district)].append(p)
            for area in ((p.province, p.district), (p.province, "")):
                for spelling in p.spellings:
                    self._exact[area][normalize_location(spelling)].add(p.id)
                    self._folded[area][fold(spelling)].add(p.id)

    def _area(self, province: str, district: str | None) -> Area:
        return (province, district or "")

    def _unique(self, ids: Iterable[str]) -> tuple[Place | None, tuple[Place, ...]]:
        found = tuple(sorted((self.by_id[i] for i in ids), key=lambda p: p.id))
        return (found[0] if len(found) == 1 else None), found

    def _by_text(self, area: Area, text: str) -> Resolution | None:
        """Alias, then folded lookup of normalized text; None when neither finds a place
        (a Resolution without a place when several share the spelling)."""
        for how, index, key in (
            ("alias", self._exact, text),
            ("folded", self._folded, fold(text)),
        ):
            place, found = self._unique(index.get(area, {}).get(key, ()))
            spelled = f"{text!r}" if how == "alias" else f"{text!r} folds to {key!r}, which"
            if place is not None:
                return Resolution(place, how, f"{spelled} is a spelling of {place.name}")
            if found:
                names = ", ".join(p.id for p in found)
                return Resolution(
                    None, "unresolved", f"{spelled} names several places: {names}", found
                )
        return None

    def resolve(
        self,
        location: str | None,
        province: str,
        district: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> Resolution:
        """Resolve a report's location (see the module for the rules)."""
        area = self._area(province, district)
        text = normalize_location(location)
        found = self._by_text(area, text) if text else None
        if found is None and text:
            words = text.split()
            while len(words) > 1 and words[-1] in GENERIC_WORDS:
                words.pop()
            if len(words) < len(text.split()):
                shorter = self._by_text(area, " ".join(words))
                if shorter is not None and shorter.place is not None:
                    dropped = text[len(" ".join(words)) :].strip()
                    detail = f"{shorter.detail} (after dropping {dropped!r})"
                    return Resolution(shorter.place, shorter.how, detail)
        if found is not None and found.place is not None:
            return found
        if latitude is not None and longitude is not None and district:
            near = [
                (_km(latitude, longitude, p.lat, p.lon), p.id, p)
                for p in self._in_district.get(area, ())
            ]
            near = [n for n in near if n[0] <= SNAP_KM]
            if near:
                km, _, place = min(near)
                return Resolution(
                    place,
                    "coordinates",
                    f"({latitude}, {longitude}) is {km:.1f} km from {place.name}"
                    f" (within {SNAP_KM:g} km)",
                )
        if found is not None:
            return found  # several places share the spelling, and no coordinates decide
        if not text:
            return Resolution(None, "empty", "no location given")
        return Resolution(None, "unresolved", f"{text!r} is not a place of {district or province}")


@cache
def load_places() -> Places:
    """Load the packaged places gazetteer once and return the shared instance."""
    text = resources.files("schemas").joinpath("data/places.json").read_text(encoding="utf-8")
    return Places(json.loads(text))


def place_key(
    location: str | None,
    province: str,
    district: str | None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> str:
    """The location part of the incident key: ``@<place id>`` when the location resolves,
    else the normalized text (which never starts with ``@``: normalization drops it)."""
    place = load_places().resolve(location, province, district, latitude, longitude).place
    return f"@{place.id}" if place is not None else normalize_location(location)
