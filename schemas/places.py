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

The shipped file is extended locally by an **alias overlay** (``var/places.overlay.jsonl``,
written by ``incidents places accept|reject``): one JSON decision per line, the later line
for the same text and place winning. Accepted aliases are spellings like the file's own.
:func:`activate` makes shipped file + overlay the gazetteer of this process, and
:attr:`Places.version` names that combination: incident keys built with one version must
never be mixed with keys of another (``incidents replay`` recomputes them).

docs/semantics.md ("Places") describes the rules; docs/contract.md how to extend the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import stat
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.exceptions import PlacesOverlayError
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
    (r"(?<=[aeiou])h$", "", "a silent h at the end: Miranshah = Miransha, Darrah = Darra"),
    (r"(?<=[^aeiouy])e$", "", "an e added after a final consonant: Kalame = Kalam, Kote = Kot"),
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


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


Area = tuple[str, str]  # (province, district); district "" = the whole province


class Places:
    """The places gazetteer, indexed for resolution.

    ``version`` names the gazetteer the keys are built with (see :func:`gazetteer_version`);
    ``learnt`` are the overlay's accepted aliases folded in, as (place id, text) pairs.
    """

    def __init__(
        self,
        data: dict[str, Any],
        *,
        version: str = "",
        learnt: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.provenance: dict[str, Any] = data.get("provenance", {})
        self.version = version
        self.learnt = tuple(learnt)
        extra: dict[str, list[str]] = defaultdict(list)
        for place_id, text in self.learnt:
            extra[place_id].append(text)
        self.places: tuple[Place, ...] = tuple(
            Place(
                id=p["id"],
                name=p["name"],
                province=p["province"],
                district=p["district"],
                kind=p.get("kind", "town"),
                lat=float(p["lat"]),
                lon=float(p["lon"]),
                aliases=(*p.get("aliases", ()), *extra.get(p["id"], ())),
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
                (distance_km(latitude, longitude, p.lat, p.lon), p.id, p)
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


MAX_OVERLAY_BYTES = 16 * 1024**2  # thousands of decisions; a bigger file is not an overlay
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})  # control, format, private, unassigned


def invisible(text: str) -> str | None:
    """The first control, format (zero-width, bidi), private-use or unassigned character
    of `text` as U+XXXX, or None. Such characters would make a spelling that looks like
    another one and does not match it."""
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE:
            return f"U+{ord(ch):04X}"
    return None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be an alias spelling at all, or None."""
    if len(text) > 512:
        return "the text is longer than 512 characters"
    hidden = invisible(text)
    if hidden is not None:
        return f"the text holds an invisible or control character ({hidden})"
    if not any(ch.isalnum() for ch in normalize_location(text)):
        return "the text has no letter or digit once normalized"
    return None


class OverlayEntry(BaseModel):
    """One reviewed decision of the alias overlay (a line of ``places.overlay.jsonl``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=512)
    place: str = Field(min_length=1, max_length=200)
    decision: Literal["accept", "reject"]
    who: str = Field(default="", max_length=128)
    when: AwareDatetime = Field(strict=True)  # an ISO 8601 string with its offset
    comment: str = Field(default="", max_length=1000)

    @field_validator("text")
    @classmethod
    def _spelling(cls, text: str) -> str:
        problem = text_problem(text)
        if problem is not None:
            raise ValueError(problem)
        return text

    @field_validator("place", "who", "comment")
    @classmethod
    def _one_line(cls, value: str) -> str:
        hidden = invisible(value)
        if hidden is not None:
            raise ValueError(f"holds a control or invisible character ({hidden})")
        return value

    @property
    def normalized(self) -> str:
        return normalize_location(self.text)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"the key {twice[0]!r} appears twice")
    return dict(pairs)


def read_overlay(path: Path) -> list[tuple[int, OverlayEntry]]:
    """The overlay's decisions with their line numbers; [] when the file does not exist.

    Raises :class:`PlacesOverlayError` ("<file>:<line>: <reason>") for a line that is not
    one JSON object of the entry's shape: a corrupt file is never half-used.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise PlacesOverlayError(f"{path}: the places overlay is not a regular file")
        if info.st_size > MAX_OVERLAY_BYTES:
            raise PlacesOverlayError(
                f"{path}: the places overlay is larger than {MAX_OVERLAY_BYTES // 1024**2} MiB"
            )
        raw = path.read_bytes()[: MAX_OVERLAY_BYTES + 1]
    except FileNotFoundError:
        return []
    except OSError as e:
        raise PlacesOverlayError(f"{path}: cannot read the places overlay: {e}") from e
    entries = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = OverlayEntry.model_validate_json(line)
            json.loads(line, object_pairs_hook=_no_duplicate_keys)  # flat once validated
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(repr(x) if isinstance(x, str) else str(x) for x in first["loc"])
            reason = first["msg"] if not where else f"{where}: {first['msg']}"
            raise PlacesOverlayError(f"{path}:{number}: {_one_line(reason)}") from None
        except ValueError as e:
            raise PlacesOverlayError(f"{path}:{number}: {_one_line(str(e))}") from None
        entries.append((number, entry))
    return entries


def _one_line(text: str) -> str:
    return " ".join(repr(text)[1:-1].split()) if "\n" in text or "\r" in text else text


def effective(
    entries: Iterable[tuple[int, OverlayEntry]],
) -> dict[tuple[str, str], tuple[int, OverlayEntry]]:
    """The decision in force per (normalized text, place): the latest line wins."""
    latest: dict[tuple[str, str], tuple[int, OverlayEntry]] = {}
    for number, entry in entries:
        latest[(entry.normalized, entry.place)] = (number, entry)
    return latest


def alias_conflict(places: Places, text: str, place_id: str) -> str | None:
    """Why `text` may not become an alias of place `place_id` in `places`, or None.

    Refused: an unknown place; an empty text or one over 512 characters; a text that
    already resolves (to this place: nothing to learn; to another: a false merge); a text
    whose folded spelling is another place's of the district (it would make that place's
    folded spellings ambiguous, so reports that resolve today would stop resolving).
    """
    place = places.by_id.get(place_id)
    if place is None:
        return f"unknown place id {place_id!r} (see `incidents places resolve`)"
    if not normalize_location(text):
        return "the text is empty once normalized"
    problem = text_problem(text)
    if problem is not None:
        return problem
    found = places.resolve(text, place.province, place.district)
    if found.place is not None:
        if found.place.id == place_id:
            return f"{text!r} already resolves to {place_id} ({found.detail})"
        return (
            f"{text!r} already resolves to another place, {found.place.id}"
            f" ({found.detail}); accepting it would merge two places"
        )
    folded = fold(text)
    for other in places._in_district.get((place.province, place.district), ()):
        if other.id == place_id:
            continue
        clash = next((s for s in other.spellings if fold(s) == folded), None)
        if clash is not None:
            return (
                f"{text!r} folds like {other.id}'s spelling {clash!r} ({folded!r});"
                " accepting it would merge two places"
            )
    # Reports that name no district resolve against the whole province: a spelling that
    # names exactly one other place there would stop resolving (ambiguous).
    province = (place.province, "")
    for index, key in ((places._exact, normalize_location(text)), (places._folded, folded)):
        owners = index.get(province, {}).get(key, set())
        if len(owners) == 1 and place_id not in owners:
            (owner,) = owners
            return (
                f"in reports that name no district, {text!r} names {owner} of"
                f" {places.by_id[owner].district}; accepting it would merge two places"
            )
    return None


@cache
def _shipped_bytes() -> bytes:
    return resources.files("schemas").joinpath("data/places.json").read_bytes()


def gazetteer_version(learnt: Iterable[tuple[str, str]]) -> str:
    """A short hash of the shipped places.json and the accepted aliases (id, text).

    Rejections and comments do not change it: they change no key.
    """
    h = hashlib.sha256(_shipped_bytes())
    for place_id, text in sorted(set(learnt)):
        h.update(f"\n{place_id}\t{text}".encode())
    return h.hexdigest()[:12]


@cache
def _shipped_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_shipped_bytes())
    return data


@cache
def shipped_places() -> Places:
    """The packaged gazetteer alone (no overlay)."""
    return Places(_shipped_data(), version=gazetteer_version(()))


def places_with_overlay(path: Path | None) -> Places:
    """The shipped gazetteer plus the overlay's accepted aliases at `path` (if any).

    Raises :class:`PlacesOverlayError` naming file, line and reason when an entry is
    malformed or its alias cannot be accepted against the shipped file (unknown place, a
    false merge): never a silent fallback to the shipped file alone.
    """
    if path is None:
        return shipped_places()
    base = shipped_places()
    learnt: list[tuple[str, str]] = []
    lines: dict[tuple[str, str], int] = {}
    for (_, place_id), (number, entry) in sorted(effective(read_overlay(path)).items()):
        if entry.decision != "accept":
            continue
        place = base.by_id.get(place_id)
        if (
            place is not None
            and base.resolve(entry.text, place.province, place.district).place_id == place_id
        ):
            continue  # places.json has learnt it since (an exported patch was merged)
        problem = alias_conflict(base, entry.text, place_id)
        if problem is not None:
            raise PlacesOverlayError(f"{path}:{number}: {problem}")
        learnt.append((place_id, entry.text))
        lines[(place_id, entry.text)] = number
    if not learnt:
        return base
    places = Places(_shipped_data(), version=gazetteer_version(learnt), learnt=learnt)
    _check_learnt(places, path, lines)
    return places


def _check_learnt(places: Places, path: Path, lines: dict[tuple[str, str], int]) -> None:
    """Accepted aliases checked one by one against the shipped file may still clash with
    each other (two hand-edited lines, say): name the later line."""
    for place_id, text in sorted(places.learnt, key=lambda k: lines[k], reverse=True):
        place = places.by_id[place_id]
        got = places.resolve(text, place.province, place.district)
        if got.place_id != place_id:
            raise PlacesOverlayError(
                f"{path}:{lines[(place_id, text)]}: accepted aliases clash: {text!r} no"
                f" longer resolves to {place_id} ({got.detail})"
            )


_active: Places | None = None


def activate(overlay: Path | None) -> Places:
    """Make the shipped gazetteer plus the overlay at `overlay` this process's gazetteer
    (what :func:`load_places` and :func:`place_key` use) and return it."""
    global _active
    _active = places_with_overlay(overlay)
    return _active


def load_places() -> Places:
    """The gazetteer of this process: the one :func:`activate` set, else the shipped one."""
    return _active if _active is not None else shipped_places()


def place_key(
    location: str | None,
    province: str,
    district: str | None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> str:
    """The location part of the incident key: ``@<place id>`` when the location resolves,
    else the normalized text (which never starts with ``@``: normalization drops it).

    Remembered per gazetteer (a pure function of it and the arguments): the worker and the
    sink ask again for every report, and feeds repeat their spellings.
    """
    return _place_key(load_places(), location, province, district, latitude, longitude)


@lru_cache(maxsize=65_536)
def _place_key(
    places: Places,
    location: str | None,
    province: str,
    district: str | None,
    latitude: float | None,
    longitude: float | None,
) -> str:
    place = places.resolve(location, province, district, latitude, longitude).place
    return f"@{place.id}" if place is not None else normalize_location(location)
