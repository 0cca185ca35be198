"""ACLED standard export (CSV) -> the report contract -> Kafka.

Field mapping (one ACLED row = one report version):

============================  ===========================================================
contract                      ACLED
============================  ===========================================================
source                        ``"acled"``
source_event_id               ``event_id_cnty``
version                       ``timestamp`` (unix seconds; ACLED bumps it on every edit)
reported_at                   ``timestamp`` as a UTC datetime
occurred_on                   ``event_date``, ``2024-03-26`` or ``26 March 2024``
date_precision                ``time_precision``: 1 -> day, 2 -> week, 3 -> month
province / district           ``admin1`` / ``admin2`` (empty -> None); the contract
                              normalizes both against the gazetteer
location, latitude, longitude ``location``, ``latitude``, ``longitude``
killed.unknown                ``fatalities`` (ACLED does not split by group; no injuries)
perpetrator                   ``actor1``, for terror attacks only
target                        ``actor2``
notes                         ``notes``, truncated to the contract's maximum length
============================  ===========================================================

Category and subtype (``event_type`` / ``sub_event_type``; "state" = ``actor1`` matches one
of :data:`STATE_FORCE_PATTERNS`, e.g. "Military Forces of Pakistan", "Frontier Corps"):

==========================  ==================================  ===================================
event_type (actor1)         sub_event_type                      category / subtype
==========================  ==================================  ===================================
Battles (state)             Armed clash                         security_operation / clash
Battles (state)             Government regains territory        security_operation /
                                                                intelligence_based_operation
Battles (state)             any other                           security_operation / clash
Battles (non-state)         any                                 terror_attack / armed_assault
Explosions/Remote violence  Suicide bomb                        terror_attack / suicide_attack
Explosions/Remote violence  Remote explosive/landmine/IED       terror_attack / ied
Explosions/Remote violence  Shelling/artillery/missile attack   terror_attack / rocket_attack
Explosions/Remote violence  Grenade                             terror_attack / grenade
Explosions/Remote violence  Air/drone strike (state)            security_operation / drone_strike
Explosions/Remote violence  Air/drone strike (non-state)        terror_attack / drone_strike
Explosions/Remote violence  any other                           terror_attack / other
Violence against civilians  Attack                              terror_attack / targeted_killing
Violence against civilians  Abduction/forced disappearance      terror_attack / kidnapping
Violence against civilians  Sexual violence, any other          terror_attack / other
Protests, Riots,            any                                 skipped: "not political violence"
Strategic developments
==========================  ==================================  ===================================

Rows whose ``country`` is not Pakistan (``iso`` 586) are skipped as "outside Pakistan".
A row that cannot be mapped (bad date, non-numeric fatalities, unknown event type ...)
is rejected with one error per bad field, like a contract violation. So is a row that is
not CSV the reader can take (a stray carriage return, a row larger than
``KAFKA_MAX_MESSAGE_BYTES``, a row with more or fewer fields than the header): the reader
skips to the row's end, where its quotes balance, and goes on. Only a row whose quotes
never close ends the run early, as one rejection that says which lines it skipped.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from annotated_types import MaxLen

from incidents_config.settings import Settings
from producers.exceptions import AcledRowError, InputFormatError, ProducerError
from producers.pipeline import (
    DEFAULT_MAX_MESSAGE_BYTES,
    PREVIEW_BYTES,
    BoundedLines,
    Candidate,
    Item,
    LongLine,
    Rejected,
    Skip,
    preview,
    run_file_source,
)
from producers.progress import ProgressArg
from producers.publisher import RecordSink
from producers.summary import PublishSummary
from schemas.errors import FieldError
from schemas.report import Category, DatePrecision, Report, Subtype

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "STATE_FORCE_PATTERNS",
    "Skip",
    "classify",
    "is_state_force",
    "map_row",
    "parse_event_date",
    "publish_acled",
]

SOURCE = "acled"
PAKISTAN_ISO = "586"
OUTSIDE_PAKISTAN = "outside Pakistan"
NOT_POLITICAL_VIOLENCE = "not political violence"

COLUMNS = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "actor2",
    "iso",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "notes",
    "fatalities",
    "timestamp",
)
# What map_row reads; other columns may be missing from a trimmed export.
REQUIRED_COLUMNS = (
    "event_id_cnty",
    "event_date",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "actor2",
    "iso",
    "country",
    "admin1",
    "admin2",
    "location",
    "latitude",
    "longitude",
    "notes",
    "fatalities",
    "timestamp",
)

STATE_FORCE_PATTERNS = (
    "Military Forces of Pakistan",
    "Police Forces of Pakistan",
    "Frontier Corps",
    "Counter Terrorism Department",
    "Rangers",
    "Levies",
)
_STATE_FORCE = re.compile(
    "|".join(rf"\b{re.escape(p)}\b" for p in STATE_FORCE_PATTERNS), re.IGNORECASE
)

BATTLES = "Battles"
EXPLOSIONS = "Explosions/Remote violence"
VIOLENCE_AGAINST_CIVILIANS = "Violence against civilians"
NOT_VIOLENCE_TYPES = frozenset({"Protests", "Riots", "Strategic developments"})

_STATE_BATTLE_SUBTYPES = {
    "armed clash": Subtype.CLASH,
    "government regains territory": Subtype.INTELLIGENCE_BASED_OPERATION,
}
_EXPLOSION_SUBTYPES = {
    "suicide bomb": Subtype.SUICIDE_ATTACK,
    "remote explosive/landmine/ied": Subtype.IED,
    "shelling/artillery/missile attack": Subtype.ROCKET_ATTACK,
    "grenade": Subtype.GRENADE,
    "air/drone strike": Subtype.DRONE_STRIKE,
}
_CIVILIAN_SUBTYPES = {
    "attack": Subtype.TARGETED_KILLING,
    "abduction/forced disappearance": Subtype.KIDNAPPING,
    "sexual violence": Subtype.OTHER,
}

_PRECISION = {"1": DatePrecision.DAY, "2": DatePrecision.WEEK, "3": DatePrecision.MONTH}
_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y")
DEFAULT_NOTES_MAX = 4000


def _notes_max_length() -> int:
    """The contract's max length of ``notes`` (read from the model, so the two never drift)."""
    for constraint in Report.model_fields["notes"].metadata:
        if isinstance(constraint, MaxLen):
            return int(constraint.max_length)
    return DEFAULT_NOTES_MAX


def is_state_force(actor: str) -> bool:
    """True when an ACLED actor name is one of Pakistan's state forces."""
    return bool(_STATE_FORCE.search(actor))


def classify(event_type: str, sub_event_type: str, actor1: str) -> tuple[Category, Subtype] | Skip:
    """Map ACLED's event type to the contract's category and subtype (the module's table)."""
    event, sub = event_type.strip(), sub_event_type.strip().lower()
    state = is_state_force(actor1)
    if event == BATTLES:
        if state:
            return Category.SECURITY_OPERATION, _STATE_BATTLE_SUBTYPES.get(sub, Subtype.CLASH)
        return Category.TERROR_ATTACK, Subtype.ARMED_ASSAULT
    if event == EXPLOSIONS:
        subtype = _EXPLOSION_SUBTYPES.get(sub, Subtype.OTHER)
        if subtype is Subtype.DRONE_STRIKE and state:
            return Category.SECURITY_OPERATION, subtype
        return Category.TERROR_ATTACK, subtype
    if event == VIOLENCE_AGAINST_CIVILIANS:
        return Category.TERROR_ATTACK, _CIVILIAN_SUBTYPES.get(sub, Subtype.OTHER)
    if event in NOT_VIOLENCE_TYPES:
        return Skip(NOT_POLITICAL_VIOLENCE)
    raise AcledRowError(
        [FieldError(field="event_type", message=f"unknown event type {event_type!r}")]
    )


def parse_event_date(text: str) -> date:
    """Parse ``2024-03-26`` or ``26 March 2024`` (ACLED exports use both)."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date (expected 2024-03-26 or 26 March 2024): {text!r}")


def _is_pakistan(row: dict[str, str]) -> bool:
    iso = (row.get("iso") or "").strip()
    country = (row.get("country") or "").strip()
    return iso == PAKISTAN_ISO or country.casefold() == "pakistan"


def _text(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def map_row(row: dict[str, str]) -> dict[str, Any] | Skip:
    """Map one ACLED row to a contract report dict (JSON-ready), or say why it is skipped.

    Raise :class:`AcledRowError` listing every field that cannot be converted.
    """
    if not _is_pakistan(row):
        return Skip(OUTSIDE_PAKISTAN)
    errors: list[FieldError] = []

    def convert(field: str, column: str, parse: Any) -> Any:
        raw = (row.get(column) or "").strip()
        try:
            return parse(raw)
        except (ValueError, KeyError):
            errors.append(FieldError(field=field, message=f"bad {column} {raw!r}"))
            return None

    try:
        kind = classify(
            row.get("event_type") or "", row.get("sub_event_type") or "", row.get("actor1") or ""
        )
    except AcledRowError as e:
        errors += e.errors
        kind = None
    if isinstance(kind, Skip):
        return kind

    event_id = _text(row, "event_id_cnty")
    if event_id is None:
        errors.append(FieldError(field="source_event_id", message="empty event_id_cnty"))
    stamp = convert("version", "timestamp", int)
    occurred_on = convert("occurred_on", "event_date", parse_event_date)
    precision = convert("date_precision", "time_precision", lambda v: _PRECISION[v])
    fatalities = convert("killed", "fatalities", lambda v: int(v or 0))
    latitude = convert("latitude", "latitude", lambda v: float(v) if v else None)
    longitude = convert("longitude", "longitude", lambda v: float(v) if v else None)
    if errors:
        raise AcledRowError(errors)
    assert kind is not None  # for mypy: errors would be non-empty otherwise
    category, subtype = kind

    notes = _text(row, "notes")
    limit = _notes_max_length()
    if notes is not None and len(notes) > limit:
        notes = notes[: limit - 1] + "…"
    return {
        "source": SOURCE,
        "source_event_id": event_id,
        "version": stamp,
        "reported_at": datetime.fromtimestamp(stamp, UTC).isoformat(),
        "occurred_on": occurred_on.isoformat(),
        "date_precision": str(precision),
        "province": _text(row, "admin1"),
        "district": _text(row, "admin2"),
        "location": _text(row, "location"),
        "latitude": latitude,
        "longitude": longitude,
        "category": str(category),
        "subtype": str(subtype),
        "killed": {"unknown": fatalities},
        "perpetrator": _text(row, "actor1") if category is Category.TERROR_ATTACK else None,
        "target": _text(row, "actor2"),
        "notes": notes,
    }


class RowTooLarge(ProducerError):
    """Raised into the CSV reader to stop a row that has grown past the limit (internal)."""


class CsvLines:
    """The decoded lines csv.reader reads, counted per row; a row over the limit is stopped.

    The reader asks for lines until a row is complete; ``row_done`` starts the next row.
    After an error in a row, ``skip_rest_of_row`` drops lines until the row's double
    quotes balance, which is where csv ends a row.
    """

    def __init__(self, lines: Iterable[bytes | LongLine], max_row_bytes: int) -> None:
        self._lines = iter(lines)
        self.max_row_bytes = max_row_bytes
        self.number = 0  # lines handed out (or skipped) so far
        self.row_start = 1  # the line where the current row starts
        self.row_bytes = 0
        self.row_quotes = 0
        self.row_head = b""  # the start of the row, for a rejects file

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._count(line)
        if isinstance(line, LongLine) or self.row_bytes > self.max_row_bytes:
            raise RowTooLarge
        # A stray non-UTF-8 byte must not end the run: it becomes U+FFFD and the row goes on.
        return line.decode("utf-8-sig" if self.number == 1 else "utf-8", errors="replace")

    def _count(self, line: bytes | LongLine) -> None:
        self.number += 1
        if isinstance(line, LongLine):
            size, quotes, head = line.size, line.quotes, line.head
        else:
            size, quotes, head = len(line), line.count(b'"'), line
        self.row_bytes += size
        self.row_quotes += quotes
        if not self.row_head:
            self.row_head = head[:PREVIEW_BYTES]

    def row_done(self) -> None:
        """The reader finished a row: the next line starts a new one."""
        self.row_start = self.number + 1
        self.row_bytes = 0
        self.row_quotes = 0
        self.row_head = b""

    def skip_rest_of_row(self) -> bool:
        """Drop the lines left of a broken row; False if the input ends inside it."""
        while self.row_quotes % 2:
            line = next(self._lines, None)
            if line is None:
                return False
            self._count(line)
        return True


def _allow_fields_up_to(size: int) -> None:
    """Let csv read fields up to ``size`` characters (its default is 131,072).

    The limit is process-wide; it is only ever raised. Rows are capped in bytes by
    :class:`CsvLines` before any field could reach it.
    """
    if csv.field_size_limit() < size:
        csv.field_size_limit(size)


def acled_items(
    lines: BoundedLines | BinaryIO, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> Iterator[Item]:
    """Turn an ACLED CSV export (binary lines) into items, streaming row by row.

    A row larger than ``max_message_bytes`` is rejected without being held whole; its
    notes would be cut to the contract's length anyway.
    """
    if not isinstance(lines, BoundedLines):
        lines = BoundedLines(lines, max_message_bytes)
    _allow_fields_up_to(max_message_bytes)
    text = CsvLines(lines, max_message_bytes)
    reader = csv.reader(text)
    try:
        header = next(reader, [])
    except (RowTooLarge, csv.Error) as e:
        why = str(e) or f"larger than {max_message_bytes:,} bytes"
        raise InputFormatError(f"not an ACLED export: unreadable header ({why})") from e
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputFormatError(f"not an ACLED export: missing columns {', '.join(missing)}")
    text.row_done()
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except (RowTooLarge, csv.Error) as e:
            rejected, ended = _broken_row(text, e, max_message_bytes)
            yield rejected
            if not ended:
                return
            continue
        line, last = text.row_start, text.number
        text.row_done()
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            message = f"row has {len(fields)} fields; the header has {len(header)}"
            if last > line:  # say so when a stray quote made one row of many lines
                message += f" (lines {line:,}-{last:,})"
            raw = json.dumps(fields, ensure_ascii=False)
            yield Rejected(line, [FieldError.whole(message)], raw)
            continue
        row = dict(zip(header, fields, strict=True))
        try:
            mapped = map_row(row)
        except AcledRowError as e:
            yield Rejected(line, e.errors, json.dumps(row, ensure_ascii=False))
            continue
        if isinstance(mapped, Skip):
            yield mapped
        else:
            yield Candidate(line, json.dumps(mapped, ensure_ascii=False).encode())


def _broken_row(text: CsvLines, error: Exception, max_message_bytes: int) -> tuple[Rejected, bool]:
    """Skip the rest of a row the reader gave up on; return its rejection and whether the
    input goes on after it."""
    line = text.row_start
    ended = text.skip_rest_of_row()
    if isinstance(error, RowTooLarge):
        reason = (
            f"row too large: {text.row_bytes:,} bytes, at most {max_message_bytes:,}"
            " (KAFKA_MAX_MESSAGE_BYTES)"
        )
    else:  # csv's own words, without its hint about opening files
        reason = f"not valid CSV: {str(error).split(' - ')[0]}"
    if not ended:
        reason += (
            f"; its quotes never close, so lines {line:,}-{text.number:,} (the rest of the"
            " input) were skipped"
        )
    rejected = Rejected(line, [FieldError.whole(reason)], preview(text.row_head))
    text.row_done()
    return rejected, ended


def publish_acled(
    path: str | Path | BinaryIO,
    settings: Settings,
    *,
    validate: bool = True,
    rejects_path: str | Path | None = None,
    progress: ProgressArg = None,
    publisher: RecordSink | None = None,
    validators: int | None = None,
) -> PublishSummary:
    """Publish an ACLED CSV export (``"-"`` = stdin) to the raw topic and summarize the run.

    Rows are mapped with :func:`map_row` and published as the mapped contract JSON. The
    other arguments are those of :func:`producers.jsonl.publish_jsonl`; a CSV without
    ACLED's columns raises ``InputFormatError``.
    """
    return run_file_source(
        path,
        acled_items,
        settings,
        validate=validate,
        rejects_path=rejects_path,
        progress=progress,
        publisher=publisher,
        description="ACLED rows",
        validators=validators,
    )
