"""The Pakistan gazetteer: provinces, districts, their aliases and rough geometry.

The data lives in ``schemas/data/gazetteer.json`` (sources, licence and the mapping rules
are recorded in that file). Load it once with :func:`load_gazetteer` and look names up:

>>> g = load_gazetteer()
>>> g.province("kpk").name
'Khyber Pakhtunkhwa'
>>> g.district("d.i. khan").province
'Khyber Pakhtunkhwa'

Names match after :func:`place_key` (case, accents, spaces and punctuation ignored, '&'
read as 'and'); a leading or trailing "district", "tribal district" or "agency" is ignored
when the full name is unknown. Failed lookups raise :class:`~schemas.exceptions.PlaceError`
subclasses that carry a suggestion or the candidates.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.exceptions import (
    AmbiguousPlace,
    DistrictNotInProvince,
    GazetteerDataError,
    UnknownPlace,
)

_AFFIXES = ("tribaldistrict", "district", "agency")


def place_key(name: str) -> str:
    """Reduce a place name to its matching key: casefolded letters and digits only."""
    text = unicodedata.normalize("NFKD", name.casefold().replace("&", " and "))
    return "".join(ch for ch in text if ch.isalnum())


@lru_cache(maxsize=4096)  # feeds repeat the same few hundred names; this runs per report
def _key_variants(name: str) -> tuple[str, ...]:
    """Return the key of ``name`` and the keys with one administrative affix removed."""
    key = place_key(name)
    variants = [key]
    for affix in _AFFIXES:
        if key.endswith(affix) and len(key) > len(affix):
            variants.append(key[: -len(affix)])
        if key.startswith(affix) and len(key) > len(affix):
            variants.append(key[len(affix) :])
    return tuple(variants)


@dataclass(frozen=True)
class BBox:
    """A latitude/longitude rectangle (degrees, WGS 84), bounds included."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains_lat(self, lat: float) -> bool:
        """Tell whether the latitude lies within the box (NaN never does)."""
        return self.min_lat <= lat <= self.max_lat

    def contains_lon(self, lon: float) -> bool:
        """Tell whether the longitude lies within the box (NaN never does)."""
        return self.min_lon <= lon <= self.max_lon

    def contains(self, lat: float, lon: float) -> bool:
        """Tell whether the point lies within the box."""
        return self.contains_lat(lat) and self.contains_lon(lon)

    def within(self, other: BBox) -> bool:
        """Tell whether this box lies entirely inside ``other``."""
        return other.contains(self.min_lat, self.min_lon) and other.contains(
            self.max_lat, self.max_lon
        )


# Pakistan including Gilgit-Baltistan and Azad Jammu and Kashmir, rounded outwards.
PAKISTAN_BBOX = BBox(min_lat=23.5, max_lat=37.2, min_lon=60.8, max_lon=77.9)


@dataclass(frozen=True)
class District:
    """One district: canonical ``name``, canonical ``province`` name, aliases, centroid."""

    name: str
    province: str
    aliases: tuple[str, ...] = ()
    centroid: tuple[float, float] | None = None  # (lat, lon), rough


@dataclass(frozen=True)
class Province:
    """One province or territory with its ISO 3166-2 code, bounding box and districts."""

    name: str
    iso_code: str
    aliases: tuple[str, ...]
    bbox: BBox
    districts: tuple[District, ...]


class _BBoxData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


class _DistrictData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    aliases: list[str] = []
    centroid: tuple[float, float] | None = None


class _ProvinceData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    iso_code: str = Field(pattern=r"^PK-[A-Z]{2}$")
    aliases: list[str] = []
    bbox: _BBoxData
    districts: list[_DistrictData] = Field(min_length=1)


class _UmbrellaData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    province: str
    districts: list[str] = Field(min_length=2)


class _GazetteerData(BaseModel):
    model_config = ConfigDict(extra="allow")  # provenance and rules are free-form text
    format: int
    provinces: list[_ProvinceData] = Field(min_length=1)
    umbrella_names: list[_UmbrellaData] = []


class Gazetteer:
    """Canonical provinces and districts, with alias lookup precomputed at load time."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        """Build from the parsed JSON document; raise GazetteerDataError if it breaks a rule."""
        try:
            parsed = _GazetteerData.model_validate(data)
        except ValidationError as e:
            raise GazetteerDataError(f"gazetteer data has the wrong shape: {e}") from e
        self._provinces: tuple[Province, ...] = tuple(_build_province(p) for p in parsed.provinces)
        self._province_by_key: dict[str, Province] = {}
        self._district_by_key: dict[str, dict[str, District]] = {}
        self._umbrella_by_key: dict[str, dict[str, tuple[str, ...]]] = {}
        self._index_provinces()
        self._index_districts()
        self._index_umbrellas(parsed.umbrella_names)
        self._districts = tuple(d for p in self._provinces for d in p.districts)

    @classmethod
    def from_file(cls, path: str | Path) -> Gazetteer:
        """Load a gazetteer JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise GazetteerDataError(f"cannot read gazetteer {path}: {e}") from e
        return cls(data)

    @property
    def provinces(self) -> tuple[Province, ...]:
        """All provinces and territories, in data-file order."""
        return self._provinces

    @property
    def districts(self) -> tuple[District, ...]:
        """All districts of all provinces."""
        return self._districts

    def province(self, name: str) -> Province:
        """Return the province a name or alias denotes; raise UnknownPlace with a suggestion."""
        for key in _key_variants(name):
            found = self._province_by_key.get(key)
            if found is not None:
                return found
        suggestion = self._suggest(name, {k: p.name for k, p in self._province_by_key.items()})
        known = ", ".join(p.name for p in self._provinces)
        hint = f"did you mean '{suggestion}'?" if suggestion else f"known provinces: {known}"
        raise UnknownPlace(f"unknown province '{name}'; {hint}", name, suggestion)

    def district(self, name: str, province: str | None = None) -> District:
        """Return the district a name denotes, within ``province`` when given.

        Raise UnknownPlace (with a suggestion), DistrictNotInProvince, or AmbiguousPlace
        (a district-only name found in several provinces, or an umbrella name like Karachi).
        """
        prov = self.province(province) if province is not None else None
        matches: dict[str, District] = {}
        umbrellas: dict[str, tuple[str, ...]] = {}
        for key in _key_variants(name):
            matches = self._district_by_key.get(key, {})
            umbrellas = self._umbrella_by_key.get(key, {})
            if matches or umbrellas:
                break
        if prov is not None:
            if prov.name in matches:
                return matches[prov.name]
            if prov.name in umbrellas:
                raise self._umbrella_error(name, prov.name, umbrellas[prov.name])
            if matches:
                elsewhere = sorted(matches)
                raise DistrictNotInProvince(
                    f"district '{name}' is in {' / '.join(elsewhere)}, not in {prov.name}",
                    name,
                    prov.name,
                    elsewhere[0],
                )
            choices = {
                place_key(alias): d.name for d in prov.districts for alias in (d.name, *d.aliases)
            }
            suggestion = self._suggest(name, choices)
            hint = f"; did you mean '{suggestion}'?" if suggestion else ""
            raise UnknownPlace(f"unknown district '{name}' in {prov.name}{hint}", name, suggestion)
        if len(matches) == 1:
            return next(iter(matches.values()))
        if len(matches) > 1:
            candidates = sorted((p, d.name) for p, d in matches.items())
            listed = ", ".join(f"{d} ({p})" for p, d in candidates)
            raise AmbiguousPlace(
                f"district '{name}' exists in several provinces: {listed}; give the province",
                name,
                candidates,
            )
        if umbrellas:
            umbrella_province, members = next(iter(umbrellas.items()))
            raise self._umbrella_error(name, umbrella_province, members)
        choices = {
            key: d.name for key, by_prov in self._district_by_key.items() for d in by_prov.values()
        }
        suggestion = self._suggest(name, choices)
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        raise UnknownPlace(f"unknown district '{name}'{hint}", name, suggestion)

    def iso_code(self, province: str) -> str:
        """Return the ISO 3166-2 code of a province given by any of its names."""
        return self.province(province).iso_code

    def bbox(self, province: str) -> BBox:
        """Return the bounding box of a province given by any of its names."""
        return self.province(province).bbox

    # -- building ----------------------------------------------------------------

    def _index_provinces(self) -> None:
        iso_codes: set[str] = set()
        for prov in self._provinces:
            if prov.iso_code in iso_codes:
                raise GazetteerDataError(f"ISO code {prov.iso_code} is used twice")
            iso_codes.add(prov.iso_code)
            if not prov.bbox.within(PAKISTAN_BBOX):
                raise GazetteerDataError(f"bbox of {prov.name} leaves Pakistan's bbox")
            for alias in (prov.name, *prov.aliases):
                key = _checked_key(alias)
                other = self._province_by_key.setdefault(key, prov)
                if other is not prov:
                    raise GazetteerDataError(
                        f"province alias '{alias}' names both {other.name} and {prov.name}"
                    )

    def _index_districts(self) -> None:
        for prov in self._provinces:
            for district in prov.districts:
                if district.centroid is not None and not prov.bbox.contains(*district.centroid):
                    raise GazetteerDataError(
                        f"centroid of {district.name} lies outside the bbox of {prov.name}"
                    )
                for alias in (district.name, *district.aliases):
                    key = _checked_key(alias)
                    by_prov = self._district_by_key.setdefault(key, {})
                    other = by_prov.setdefault(prov.name, district)
                    if other is not district:
                        raise GazetteerDataError(
                            f"alias '{alias}' names both {other.name} and {district.name}"
                            f" in {prov.name}"
                        )
                    owner = self._province_by_key.get(key)
                    if owner is not None and owner is not prov:
                        raise GazetteerDataError(
                            f"district alias '{alias}' of {prov.name} is an alias of the"
                            f" province {owner.name}"
                        )

    def _index_umbrellas(self, umbrellas: Iterable[_UmbrellaData]) -> None:
        for umbrella in umbrellas:
            prov = self._province_by_key.get(place_key(umbrella.province))
            if prov is None or prov.name != umbrella.province:
                raise GazetteerDataError(f"umbrella '{umbrella.name}': unknown province")
            own = {d.name for d in prov.districts}
            missing = [d for d in umbrella.districts if d not in own]
            if missing:
                raise GazetteerDataError(
                    f"umbrella '{umbrella.name}': not in {prov.name}: {missing}"
                )
            key = _checked_key(umbrella.name)
            if prov.name in self._district_by_key.get(key, {}):
                raise GazetteerDataError(f"umbrella '{umbrella.name}' is also a district alias")
            self._umbrella_by_key.setdefault(key, {})[prov.name] = tuple(umbrella.districts)

    # -- errors ------------------------------------------------------------------

    @staticmethod
    def _suggest(name: str, choices: Mapping[str, str]) -> str | None:
        """Return the canonical name whose key is closest to ``name``'s key, if close enough."""
        key = place_key(name)
        if not key:
            return None
        close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
        return choices[close[0]] if close else None

    @staticmethod
    def _umbrella_error(name: str, province: str, members: tuple[str, ...]) -> AmbiguousPlace:
        return AmbiguousPlace(
            f"'{name}' covers several districts of {province} ({', '.join(members)});"
            f" name one, or leave district empty and put '{name}' in location",
            name,
            [(province, d) for d in members],
        )


def _checked_key(alias: str) -> str:
    key = place_key(alias)
    if not key:
        raise GazetteerDataError(f"alias {alias!r} has no letters or digits")
    return key


def _build_province(data: _ProvinceData) -> Province:
    bbox = BBox(**data.bbox.model_dump())
    if not (bbox.min_lat < bbox.max_lat and bbox.min_lon < bbox.max_lon):
        raise GazetteerDataError(f"bbox of {data.name} is empty or inverted")
    districts = tuple(
        District(name=d.name, province=data.name, aliases=tuple(d.aliases), centroid=d.centroid)
        for d in data.districts
    )
    return Province(
        name=data.name,
        iso_code=data.iso_code,
        aliases=tuple(data.aliases),
        bbox=bbox,
        districts=districts,
    )


@lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    """Load the packaged gazetteer once and return the shared instance."""
    text = resources.files("schemas").joinpath("data/gazetteer.json").read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as e:
        raise GazetteerDataError(f"packaged gazetteer is not valid JSON: {e}") from e
    return Gazetteer(data)
