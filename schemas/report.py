"""The incident report contract (version 1).

A feed sends one JSON object per report version; :func:`parse_report` validates it into a
frozen :class:`Report` or raises :class:`ReportValidationError` listing every problem as a
:class:`~schemas.errors.FieldError` (``{"field": "killed.civilians", "message": "..."}`` on
the wire). ``docs/contract.md`` documents each field and rule;
``schemas/report.schema.json`` is the exported JSON Schema (regenerate it with
``python -m schemas.report``; a unit test fails when it is stale).

Decisions:

- **Unknown fields are rejected** (``extra="forbid"``), at the top level and inside
  ``killed``/``injured``: a typo such as ``kiled`` must fail loudly instead of silently
  dropping casualties. The error names the field and suggests the closest known one.
- **Normalization is idempotent**, so ``Report.model_validate_json(r.model_dump_json()) == r``:
  province and district become gazetteer canonical names (a district alone fills in its
  province), ``reported_at`` is converted to UTC, optional text is stripped and blank text
  becomes null.
- ``occurred_on`` is the local calendar date in Asia/Karachi: a timestamp with a time zone is
  converted to that date ("2024-03-31T22:00Z" -> 2024-04-01); a plain date is kept. It may be
  at most one day after ``reported_at``'s local date (time-zone slop) and not before
  1947-08-14.
- Coordinates are checked against rectangles (Pakistan's, then the province's from the
  gazetteer), not polygons: a coarse plausibility check.
- Counts, versions and booleans are strict (JSON numbers / ``true``/``false`` only), and dates
  and timestamps must be ISO 8601 strings, so the JSON Schema and this module agree.
- Location normalization for incident matching belongs to the stream; this module only
  offers the pure :func:`normalize_location` so every stage normalizes alike.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
import unicodedata
from contextlib import suppress
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from annotated_types import Le
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas import safe_json
from schemas.errors import WHOLE_DOCUMENT, FieldError
from schemas.exceptions import PlaceError, ReportValidationError, UnknownPlace
from schemas.gazetteer import PAKISTAN_BBOX, BBox, load_gazetteer

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_PER_GROUP",
    "SCHEMA_FILE",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "Casualties",
    "Category",
    "DatePrecision",
    "Report",
    "ReportValidationError",
    "Subtype",
    "export_json_schema",
    "json_schema",
    "json_schema_text",
    "normalize_location",
    "parse_report",
]

SCHEMA_VERSION = 1
SCHEMA_ID = "urn:incidents-platform:schema:report:v1"
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")

LOCAL_TZ = ZoneInfo("Asia/Karachi")
EARLIEST_DATE = date(1947, 8, 14)  # independence; nothing earlier belongs here
# The warehouse stores dates as Date32 and times as DateTime64, which end on 2299-12-31: with
# reported_at at most in 2298, occurred_on (at most one day later) always fits.
LATEST_REPORTED_YEAR = 2298
FUTURE_TOLERANCE_DAYS = 1  # occurred_on may run this far past reported_at's local date
MAX_PER_GROUP = 5000
MAX_ID = 128
MAX_NAME = 128
MAX_NOTES = 4000
MAX_URL = 2048

_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")
_SOURCE_PATTERN = r"^[^\s:]([^:]*[^\s:])?$"
_EVENT_ID_PATTERN = r"^\S([\s\S]*\S)?$"
_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$"
_WHITESPACE = re.compile(r"\s")  # str.isspace's characters (Unicode), found in C
# The common URL shape, which urlsplit is known to accept: http(s)://, a non-empty ASCII
# host part without brackets, then printable ASCII only (no whitespace, no control
# characters). Anything else takes the full check (_check_url_slowly).
_SIMPLE_URL = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9\-._~%!$&'()*+,;=:@]+(?:[/?#][!-~]*)?")
# Place look-ups are pure: their outcomes are cached (bounded; feeds repeat a few hundred).
PLACE_CACHE_SIZE = 4096

Count = Annotated[int, Field(ge=0, le=MAX_PER_GROUP, strict=True)]


def _fail(message: str, field: str | None = None) -> PydanticCustomError:
    """Build a contract error; ``field`` overrides the location pydantic would report."""
    return PydanticCustomError("report_contract", message, {"field": field} if field else None)


def _iso_string_only(value: Any) -> Any:
    """Refuse numbers and non-ISO strings, which pydantic would read as Unix times."""
    if type(value) is str and _ISO_DATE_START.match(value):
        return value  # the common case, first
    if isinstance(value, bool | int | float):
        raise _fail("expected an ISO 8601 string, not a number")
    if isinstance(value, str) and not _ISO_DATE_START.match(value):
        raise _fail(f"expected an ISO 8601 date or timestamp (YYYY-MM-DD...), got {value!r:.60}")
    return value


def _local_date_input(value: Any) -> Any:
    """Turn a timestamp with a time zone into its Asia/Karachi date; keep plain dates."""
    value = _iso_string_only(value)
    if isinstance(value, str) and len(value) > 10:
        try:
            value = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError as e:
            raise _fail(f"not a valid ISO 8601 date or timestamp: {value!r:.60}") from e
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _fail(
                "a timestamp needs a time zone (e.g. 2024-03-31T22:00Z); or send the local date"
            )
        try:
            return value.astimezone(LOCAL_TZ).date()
        except OverflowError as e:
            raise _fail("timestamp out of range") from e
    return value


LocalDate = Annotated[
    date,
    BeforeValidator(_local_date_input),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        }
    ),
]
Timestamp = Annotated[datetime, BeforeValidator(_iso_string_only)]


class Category(StrEnum):
    TERROR_ATTACK = "terror_attack"
    SECURITY_OPERATION = "security_operation"


class Subtype(StrEnum):
    SUICIDE_ATTACK = "suicide_attack"
    IED = "ied"
    ARMED_ASSAULT = "armed_assault"
    TARGETED_KILLING = "targeted_killing"
    GRENADE = "grenade"
    ROCKET_ATTACK = "rocket_attack"
    KIDNAPPING = "kidnapping"
    SABOTAGE = "sabotage"
    INTELLIGENCE_BASED_OPERATION = "intelligence_based_operation"
    CLASH = "clash"
    DRONE_STRIKE = "drone_strike"
    OTHER = "other"


class DatePrecision(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Casualties(BaseModel):
    """People killed or injured, split by victim group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    civilians: Count = 0
    security: Count = 0
    militants: Count = 0
    unknown: Count = 0

    @property
    def total(self) -> int:
        return self.civilians + self.security + self.militants + self.unknown


def _text(max_length: int, description: str) -> Any:
    return Field(default=None, max_length=max_length, description=description)


class Report(BaseModel):
    """One version of one incident report from one source."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="Incident report",
        json_schema_extra={"$id": SCHEMA_ID, "version": SCHEMA_VERSION},
    )

    schema_version: Literal[1] = Field(default=1, description="Contract version; only 1.")
    source: str = Field(
        max_length=MAX_ID,
        description="Feed id; no ':' and no surrounding whitespace.",
        json_schema_extra={"minLength": 1, "pattern": _SOURCE_PATTERN},
    )
    source_event_id: str = Field(
        max_length=MAX_ID,
        description="Event id, unique within the source.",
        json_schema_extra={"minLength": 1, "pattern": _EVENT_ID_PATTERN},
    )
    version: int = Field(
        ge=1, le=2**31 - 1, strict=True, description="Higher replaces lower for one report id."
    )
    reported_at: Timestamp = Field(
        description="When the source published this version; needs a time zone (stored as UTC)."
    )
    retracted: bool = Field(default=False, strict=True, description="The source withdrew it.")
    occurred_on: LocalDate = Field(
        description="Local date in Asia/Karachi; a timestamp with a time zone is converted."
    )
    date_precision: DatePrecision = DatePrecision.DAY
    province: str = Field(
        max_length=MAX_NAME,
        description="Province or territory (any gazetteer alias); optional if district is given.",
    )
    district: str | None = _text(MAX_NAME, "District (any gazetteer alias).")
    location: str | None = _text(MAX_NAME, "Town, village or place, as written.")
    latitude: float | None = Field(
        default=None,
        strict=True,
        description="WGS 84; inside Pakistan and the province's bounding box.",
        json_schema_extra={"minimum": PAKISTAN_BBOX.min_lat, "maximum": PAKISTAN_BBOX.max_lat},
    )
    longitude: float | None = Field(
        default=None,
        strict=True,
        validate_default=True,
        description="WGS 84; given together with latitude.",
        json_schema_extra={"minimum": PAKISTAN_BBOX.min_lon, "maximum": PAKISTAN_BBOX.max_lon},
    )
    category: Category
    subtype: Subtype = Subtype.OTHER
    killed: Casualties = Field(default_factory=Casualties)
    injured: Casualties = Field(default_factory=Casualties)
    perpetrator: str | None = _text(MAX_NAME, "Group held responsible, if named.")
    target: str | None = _text(MAX_NAME, "Who or what was attacked.")
    notes: str | None = _text(MAX_NOTES, "Free text.")
    url: str | None = Field(
        default=None,
        max_length=MAX_URL,
        description="http(s) link to the source article.",
        json_schema_extra={"format": "uri", "pattern": _URL_PATTERN},
    )

    @property
    def report_id(self) -> str:
        """Return the id shared by all versions of this report: ``source:source_event_id``."""
        return f"{self.source}:{self.source_event_id}"

    def fingerprint(self, report_json: bytes | None = None) -> str:
        """Return the SHA-256 of the canonical JSON (``report_json``, when known).

        Breaks the tie between two different bodies of one version (docs/semantics.md);
        ``report_json`` must be ``self.model_dump_json().encode()``.
        """
        if report_json is None:
            report_json = self.model_dump_json().encode()
        return hashlib.sha256(report_json).hexdigest()

    @model_validator(mode="before")
    @classmethod
    def _fill_province(cls, data: Any) -> Any:
        """Fill a missing or null province from an unambiguous district."""
        if not isinstance(data, dict) or data.get("province") is not None:
            return data
        data = {k: v for k, v in data.items() if k != "province"}
        district = data.get("district")
        if isinstance(district, str) and len(district) <= MAX_NAME:
            province = (
                _province_of_district(district)
                if type(district) is str
                else _find_province_of_district(district)
            )
            if province is not None:  # else the district validator reports why
                data["province"] = province
        return data

    @field_validator("source", "source_event_id")
    @classmethod
    def _check_id(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise _fail("must not be empty")
        if value != value.strip():
            raise _fail("must not start or end with whitespace")
        if info.field_name == "source" and ":" in value:
            raise _fail("must not contain ':' (the report id is source:source_event_id)")
        return value

    @field_validator("reported_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise _fail(
                "needs a time zone (e.g. 2024-04-01T09:30:00+05:00 or ...Z); naive timestamps"
                " are ambiguous"
            )
        try:
            utc = value.astimezone(UTC)
        except OverflowError as e:
            raise _fail("timestamp out of range") from e
        if not (EARLIEST_DATE.year <= utc.year <= LATEST_REPORTED_YEAR):
            raise _fail(f"must be between {EARLIEST_DATE.year} and {LATEST_REPORTED_YEAR}")
        return utc

    @field_validator("occurred_on")
    @classmethod
    def _check_occurred_on(cls, value: date, info: ValidationInfo) -> date:
        if value < EARLIEST_DATE:
            raise _fail(f"{value} is before {EARLIEST_DATE} (the creation of Pakistan)")
        reported_at = info.data.get("reported_at")
        if reported_at is not None:
            local = reported_at.astimezone(LOCAL_TZ).date()
            if (value - local).days > FUTURE_TOLERANCE_DAYS:
                raise _fail(
                    f"{value} is after the report's local date {local} (reported_at in"
                    f" Asia/Karachi); at most {FUTURE_TOLERANCE_DAYS} day later is allowed"
                )
        return value

    @field_validator("province")
    @classmethod
    def _canonical_province(cls, value: str) -> str:
        name, error = _province_name(value) if type(value) is str else _find_province(value)
        if name is None:
            raise _fail(str(error))
        return name

    @field_validator("district", "location", "perpetrator", "target", "notes", "url")
    @classmethod
    def _strip_text(cls, value: str | None) -> str | None:
        """Strip optional text; blank becomes null."""
        if value is None:
            return None
        return value.strip() or None

    @field_validator("district")
    @classmethod
    def _canonical_district(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        province = info.data.get("province")
        if type(value) is str and (province is None or type(province) is str):
            name, error = _district_name(value, province)
        else:
            name, error = _find_district(value, province)
        if name is None:
            raise _fail(str(error))
        return name

    @field_validator("latitude")
    @classmethod
    def _check_latitude(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None:
            _check_axis("latitude", value, info.data.get("province"))
        return value

    @field_validator("longitude")
    @classmethod
    def _check_longitude(cls, value: float | None, info: ValidationInfo) -> float | None:
        latitude_given = info.data.get("latitude") is not None
        if value is None:
            if latitude_given:
                raise _fail("required when latitude is given")
            return None
        if "latitude" in info.data and not latitude_given:
            raise _fail("required when longitude is given", field="latitude")
        _check_axis("longitude", value, info.data.get("province"))
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check_url_value(value)


def _check_url_value(value: str) -> str:
    """Accept an http(s) URL with a host and no whitespace; the common shape at once."""
    if type(value) is str and _SIMPLE_URL.fullmatch(value):
        return value
    return _check_url_slowly(value)


def _check_url_slowly(value: str) -> str:
    """The full URL check, with urllib's parser: for anything but the common shape."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _fail("must be an http:// or https:// URL with a host")
    if _WHITESPACE.search(value):
        raise _fail("must not contain whitespace")
    return value


# -- place look-ups (pure, so cached): (result, None) or (None, error message) ----------


def _find_province(value: str) -> tuple[str | None, str | None]:
    gazetteer = load_gazetteer()
    try:
        return gazetteer.province(value).name, None
    except UnknownPlace as e:
        try:
            district = gazetteer.district(value)
        except PlaceError:
            return None, e.message
        return None, (
            f"unknown province '{value}' ('{district.name}' is a district of"
            f" {district.province}: send it as district)"
        )


def _find_district(value: str, province: str | None) -> tuple[str | None, str | None]:
    try:
        return load_gazetteer().district(value, province).name, None
    except PlaceError as e:
        return None, e.message


def _find_province_of_district(district: str) -> str | None:
    with suppress(PlaceError):
        return load_gazetteer().district(district).province
    return None


_province_name = lru_cache(maxsize=PLACE_CACHE_SIZE)(_find_province)
_district_name = lru_cache(maxsize=PLACE_CACHE_SIZE)(_find_district)
_province_of_district = lru_cache(maxsize=PLACE_CACHE_SIZE)(_find_province_of_district)


@lru_cache(maxsize=PLACE_CACHE_SIZE)
def _bounds(axis: Literal["latitude", "longitude"], province: str | None) -> tuple[float, float]:
    """Return the axis's range in Pakistan's box (province None) or the province's."""
    box: BBox = PAKISTAN_BBOX if province is None else load_gazetteer().bbox(province)
    if axis == "latitude":
        return box.min_lat, box.max_lat
    return box.min_lon, box.max_lon


def _check_axis(axis: Literal["latitude", "longitude"], value: float, province: str | None) -> None:
    """Check one coordinate against Pakistan's box, then the province's box."""
    low, high = _bounds(axis, None)
    if not low <= value <= high:  # also refuses NaN
        raise _fail(f"{value} is outside Pakistan ({axis} {low}..{high})")
    if province is not None:
        low, high = _bounds(axis, province)  # a canonical name: the province validator's
        if not low <= value <= high:
            raise _fail(
                f"{value} is outside the bounding box of {province} ({axis} {low}..{high});"
                " the check is a rough rectangle per province"
            )


# -- parsing -------------------------------------------------------------------------

# Field names and messages echo what a feed sent: keep them short whatever it sent.
MAX_ECHO = 64
MAX_NUMBER_ERRORS = 10


def parse_report(raw: bytes | str | dict[str, Any]) -> Report:
    """Validate one report from JSON bytes/text or a dict; raise ReportValidationError.

    Nothing else escapes, whatever the input: a document nested too deeply or holding a
    number too long to convert is a :class:`ReportValidationError` like any other.
    """
    try:
        if isinstance(raw, dict):
            return Report.model_validate(raw)
        if isinstance(raw, bytes | bytearray | str):
            return Report.model_validate_json(raw)
    except ValidationError as e:
        raise ReportValidationError(_flatten(e, raw)) from e
    except Exception as e:  # a validator bug must not crash the caller's loop
        logger.exception("unexpected error while validating a report")
        raise ReportValidationError(
            [_root(f"could not be validated (internal error: {type(e).__name__})")]
        ) from e
    raise ReportValidationError([_root("expected a JSON object")])


def _flatten(error: ValidationError, raw: Any) -> list[FieldError]:
    """Turn pydantic's errors into ``FieldError(field=dotted.path, message=...)``s."""
    flat: list[FieldError] = []
    for e in error.errors(include_url=False):
        ctx = e.get("ctx") or {}
        if e["type"] == "json_invalid":
            flat += _json_errors(raw, str(ctx.get("error", "")))
            continue
        loc = tuple(str(part) for part in e["loc"])
        field = str(ctx["field"]) if e["type"] == "report_contract" and "field" in ctx else ""
        field = field or _dotted(loc)
        flat.append(FieldError(field=field, message=_message(e["type"], loc, e["msg"])))
    return flat


def _dotted(path: tuple[str | int, ...]) -> str:
    """Return ``killed.civilians`` for a path (``$`` for the root), each part cut short."""
    return ".".join(_short(str(part)) for part in path) or WHOLE_DOCUMENT


def _short(text: str) -> str:
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


def _message(kind: str, loc: tuple[str, ...], default: str) -> str:
    if kind in ("model_type", "model_attributes_type") and not loc:
        return "expected a JSON object"
    if kind == "missing":
        if loc == ("province",):
            return "required field is missing (give province, or a district that determines it)"
        return "required field is missing"
    if kind == "extra_forbidden":
        model: type[BaseModel] = Casualties if len(loc) > 1 else Report
        known = list(model.model_fields)
        close = difflib.get_close_matches(loc[-1][: MAX_ECHO + 1], known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known fields: {', '.join(known)}"
        return f"unknown field (not in contract version {SCHEMA_VERSION}){hint}"
    return default


def _json_errors(raw: Any, detail: str) -> list[FieldError]:
    """Say why pydantic could not read ``raw`` as JSON: where it breaks, in the standard
    library's words, or which numbers are too long (each at its field)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else str(raw)
    except UnicodeDecodeError as e:
        return [_root(f"not valid JSON: not UTF-8 ({e.reason} at byte {e.start})")]
    try:
        doc = safe_json.loads(text)
    except json.JSONDecodeError as e:
        where = f"at line {e.lineno} column {e.colno}"
        return [_root(f"not valid JSON: {_short(e.msg.removesuffix(' at'))} {where}")]
    numbers = list(islice(safe_json.out_of_range(doc), MAX_NUMBER_ERRORS))
    if numbers:
        return [
            FieldError(field=_dotted(path), message=f"{number.describe()} ({_allowed(path)})")
            for path, number in numbers
        ]
    # The two parsers disagree (e.g. on a lone surrogate): pydantic's words, then.
    return [_root(f"not valid JSON: {detail[:200]}" if detail else "not valid JSON")]


def _root(message: str) -> FieldError:
    return FieldError.whole(message)


def _allowed(path: tuple[str | int, ...]) -> str:
    """Say what a number at ``path`` may be: the field's maximum if it has one."""
    model: type[BaseModel] | None = Report
    info = None
    for part in path:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            info = None
            break
        info = model.model_fields[part]
        annotation = info.annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    for constraint in info.metadata if info is not None else ():
        if isinstance(constraint, Le):
            return f"at most {constraint.le}"
    return f"numbers may have at most {safe_json.MAX_DIGITS} digits"


# -- helpers for other stages ------------------------------------------------------------

_SEPARATOR_CATEGORIES = {"Pd", "Ps", "Pe", "Pc"}
_SEPARATOR_CHARS = set(",;:/\\|&+")


def normalize_location(s: str | None) -> str:
    """Normalize a place name for matching: casefold, punctuation out, whitespace collapsed.

    Dashes, brackets, underscores and ``, ; : / \\ | & +`` become spaces; other punctuation
    (dots, apostrophes, quotes) is dropped, so "D.I. Khan" and "DI Khan" agree. None or
    blank gives "". The result is stable: normalizing it again changes nothing.
    """
    if s is None:
        return ""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _SEPARATOR_CATEGORIES or ch in _SEPARATOR_CHARS:
            chars.append(" ")
        elif not category.startswith("P"):
            chars.append(ch)
    # Dropping punctuation can leave a combining mark next to a new base letter: compose
    # again, so normalizing the result changes nothing.
    return unicodedata.normalize("NFKC", " ".join("".join(chars).split()))


# -- JSON Schema -------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the report as feeds send it."""
    schema = Report.model_json_schema(mode="validation")
    props = schema["properties"]
    # Feeds may leave province out when the district determines it.
    schema["required"] = [name for name in schema["required"] if name != "province"]
    province = props["province"]
    props["province"] = {
        "anyOf": [{"type": "string", "maxLength": MAX_NAME}, {"type": "null"}],
        "default": None,
        "description": province["description"],
        "title": province["title"],
    }
    schema["anyOf"] = [
        {"required": ["province"], "properties": {"province": {"type": "string"}}},
        {"required": ["district"], "properties": {"district": {"type": "string"}}},
    ]
    schema["description"] = (
        "One version of one incident report (contract version"
        f" {SCHEMA_VERSION}). Place names, the province bounding boxes and the occurred_on"
        " vs reported_at rule are checked by schemas.report.parse_report, not by this schema."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def json_schema_text() -> str:
    """Return the JSON Schema as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def export_json_schema(path: str | Path = SCHEMA_FILE) -> None:
    """Write the JSON Schema to ``path`` (default: the committed schemas/report.schema.json)."""
    Path(path).write_text(json_schema_text(), encoding="utf-8")


if __name__ == "__main__":
    export_json_schema()
