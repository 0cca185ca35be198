"""Messages between the stream stages and the rows the sink writes to ClickHouse.

The path of a report:

``reports.raw`` (bytes from feeds)
  -> validate -> ``reports.valid`` (:class:`schemas.report.Report` JSON, keyed by report id)
              -> ``reports.deadletter`` (:class:`DeadLetter`)
  -> dedupe   -> ``incidents.updates`` (:class:`Membership`, keyed by district-day)
  -> rollup   -> ``warehouse.snapshots`` (:class:`SnapshotBundle`, :class:`DistrictDaySnapshot`)
  -> sink     -> ClickHouse

The messages and table values the pipeline writes and reads itself (everything from
:class:`Counts` to :class:`DistrictDaySnapshot`, and :class:`ValidReport`) are frozen
``msgspec`` structs, built by keyword, refusing unknown fields as the contract does.
Decoding them checks their types, in C; nothing re-runs the contract's validators on
bytes the pipeline wrote after validating them once at the edge
(:func:`schemas.report.parse_report`). :func:`encode` and :func:`decode` are their JSON.
The messages from outside or from the CLI (dead letters, silences, data-quality runs)
stay pydantic models.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import FieldError
from schemas.places import place_key
from schemas.report import Category, DatePrecision, Report, Subtype

_FROZEN = ConfigDict(frozen=True, extra="forbid")

GROUPS = ("civilians", "security", "militants", "unknown")

_S = TypeVar("_S", bound=msgspec.Struct)
_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}

# What a message or table value that does not decode raises (a subclass of ValueError;
# msgspec.ValidationError, for the wrong shape, is one).
DecodeError = msgspec.DecodeError


def encode(value: msgspec.Struct) -> bytes:
    """The JSON of one of the pipeline's own structs."""
    return _ENCODER.encode(value)


def decode(data: bytes | str, kind: type[_S]) -> _S:
    """Decode JSON into `kind`, checking types only; raises :data:`DecodeError` with the
    path of what is wrong."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    try:
        result: _S = decoder.decode(data)
    except RecursionError:  # msgspec skips a msgspec.Raw value recursively
        raise DecodeError("JSON is nested too deeply") from None
    return result


class Counts(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """People killed or injured, split by victim group (the contract's
    :class:`schemas.report.Casualties`, as the pipeline carries it)."""

    civilians: int = 0
    security: int = 0
    militants: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return self.civilians + self.security + self.militants + self.unknown

    @classmethod
    def of(cls, casualties: Any) -> Counts:
        """The counts of a contract Casualties (or anything with the four groups)."""
        return cls(
            civilians=casualties.civilians,
            security=casualties.security,
            militants=casualties.militants,
            unknown=casualties.unknown,
        )


class DistrictDay(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The partition key of everything after dedupe: one district on one local day."""

    occurred_on: date
    province: str
    district: str = ""  # "" when the reports name no district

    @property
    def key(self) -> str:
        return f"{self.occurred_on.isoformat()}|{self.province}|{self.district}"


class IncidentKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Reports with the same incident key describe the same incident."""

    occurred_on: date
    province: str
    district: str = ""
    category: Category
    # "@<place id>" when the location resolves to a place of the gazetteer (schemas.places),
    # else the normalized text; "" matches only another missing location.
    location: str = ""

    @classmethod
    def of(cls, report: Report | ValidReport) -> IncidentKey:
        """Return the key that decides which incident a report describes."""
        return cls(
            occurred_on=report.occurred_on,
            province=report.province,
            district=report.district or "",
            category=report.category,
            location=place_key(
                report.location,
                report.province,
                report.district,
                report.latitude,
                report.longitude,
            ),
        )

    @property
    def incident_id(self) -> str:
        """A stable id for the incident (also the warehouse's ``incident_id``)."""
        return hashlib.sha1(self.key.encode()).hexdigest()[:16]

    @property
    def district_day(self) -> DistrictDay:
        return DistrictDay(
            occurred_on=self.occurred_on, province=self.province, district=self.district
        )

    @property
    def key(self) -> str:
        return (
            f"{self.occurred_on.isoformat()}|{self.province}|{self.district}"
            f"|{self.category}|{self.location}"
        )


class ReportEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What an incident needs to know about one version of one report."""

    source: str
    source_event_id: str
    version: int
    present: bool  # False: retracted, or moved to another incident by a revision
    reported_at: datetime
    fingerprint: str  # content hash, breaks ties between two different bodies of one version
    subtype: str = ""
    location: str = ""  # as written (display), the key holds the normalized form
    killed: Counts = Counts()
    injured: Counts = Counts()

    @property
    def report_id(self) -> str:
        return f"{self.source}:{self.source_event_id}"


class Membership(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """dedupe -> rollup: the state of one report in one incident."""

    incident: IncidentKey
    entry: ReportEntry


class MembershipBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """ingest -> rollup: the memberships of one batch bound for one partition.

    ``origins[i]`` is the Kafka message (topic, partition, offset) membership ``i`` came
    from: a dead letter for it points there, so two refused reports of one bundle stay two
    rows of ``rejected_reports``.
    """

    memberships: list[Membership]
    origins: list[tuple[str, int, int]]

    def __post_init__(self) -> None:
        if len(self.origins) != len(self.memberships):
            raise ValueError("a bundle needs one origin per membership")


_Count = Annotated[int, msgspec.Meta(ge=0)]
_Millis = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]  # up to 9999-12-31


class ValidBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """ingest -> sink (``reports.valid``): the valid reports of one batch and partition.

    ``reports[i]`` is the JSON a worker wrote for one accepted report version (a
    :class:`ValidReport`), kept as its bytes: their SHA-256 is the version's fingerprint.
    ``origins[i]`` is where it came from: the raw (or rekeyed) message's topic, partition
    and offset, and when the report was published, in Unix ms.
    """

    reports: list[msgspec.Raw]
    origins: list[tuple[str, _Count, _Count, _Millis]]

    def __post_init__(self) -> None:
        if len(self.origins) != len(self.reports):
            raise ValueError("a bundle needs one origin per report")


VALID_BUNDLE_PREFIX = b'{"reports":'  # how every ValidBundle a worker writes begins


class IncidentRow(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One incident as the warehouse stores it (``incidents`` table)."""

    incident_id: str  # stable: derived from the incident key
    occurred_on: date
    province: str
    district: str
    category: Category
    location: str  # normalized
    location_display: str
    subtype: str
    killed: Counts
    injured: Counts
    killed_from: str  # report id the killed split was taken from
    injured_from: str
    report_ids: list[str]  # current (present) reports, sorted
    deleted: bool  # all its reports retracted or moved


class Aggregate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Counts of incidents and casualties; one per district-day in the warehouse."""

    incidents: int = 0
    terror_attacks: int = 0
    security_operations: int = 0
    killed: Counts = Counts()
    injured: Counts = Counts()


class DistrictDaySnapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """rollup -> sink: one district-day after a change: its aggregate over all its
    incidents, and the rows of the incidents the change touched (a deleted row for one
    whose reports all left). The rows of its other incidents are in the warehouse already.

    ``revision`` grows by one with every change of the district-day, so the warehouse's
    ReplacingMergeTree keeps the newest aggregate, and each incident's newest row, whatever
    order or number of times the sink receives them.
    """

    district_day: DistrictDay
    revision: int
    aggregate: Aggregate
    incidents: list[IncidentRow]
    # The gazetteer version (schemas.places.Places.version) the incident keys were built
    # with; "" in snapshots older than the field.
    gazetteer: str = ""


class SnapshotBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """rollup -> sink (``warehouse.snapshots``): the snapshots of one batch bound for one
    partition, at most :data:`SNAPSHOT_BUNDLE_BYTES` in all. ``published[i]`` is when the
    oldest report snapshot ``i`` counts for the first time was published, in Unix ms.

    A snapshot larger than that travels alone, as a plain :class:`DistrictDaySnapshot`
    message, as every snapshot did before bundles; the sink reads both.
    """

    snapshots: list[DistrictDaySnapshot]
    published: list[_Millis]

    def __post_init__(self) -> None:
        if len(self.published) != len(self.snapshots):
            raise ValueError("a bundle needs one publication time per snapshot")


SNAPSHOT_BUNDLE_PREFIX = b'{"snapshots":'  # how every SnapshotBundle a worker writes begins
# A bundle of snapshots is cut before it grows past this: the bytes a rejected row keeps
# of a message (sinks.rows.MAX_RAW_BYTES), so a bundle the sink must quarantine is kept
# whole.
SNAPSHOT_BUNDLE_BYTES = 64 * 1024


class ValidReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A report on ``reports.valid``: the contract's :class:`schemas.report.Report` as a
    worker wrote it after validating it, read back by the sink without running the
    contract's validators again (types are still checked). Its fields are the contract's
    (a unit test holds them equal)."""

    schema_version: int = 1
    source: str
    source_event_id: str
    version: int
    reported_at: datetime
    retracted: bool = False
    occurred_on: date
    date_precision: DatePrecision = DatePrecision.DAY
    province: str
    district: str | None = None
    location: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    category: Category
    subtype: Subtype = Subtype.OTHER
    killed: Counts = Counts()
    injured: Counts = Counts()
    perpetrator: str | None = None
    target: str | None = None
    notes: str | None = None
    url: str | None = None

    @property
    def report_id(self) -> str:
        return f"{self.source}:{self.source_event_id}"


class DeadLetter(BaseModel):
    """A message the platform could not use, with why and where it came from.

    A dead letter is always small enough to send: ``raw_b64`` holds at most the first
    64 KiB of the original bytes (``raw_truncated``), ``raw_size`` and ``raw_sha256``
    describe the whole original, and the error list is capped.
    """

    model_config = _FROZEN

    errors: list[FieldError]  # on the wire: [{"field": ..., "message": ...}]
    raw_b64: str  # the original bytes (or their first 64 KiB), base64
    topic: str
    partition: int
    offset: int
    received_at: datetime
    source: str = ""  # best effort: from the message key or the JSON
    source_event_id: str = ""
    stage: str = ""  # validate, dedupe, rollup, producer, ...
    reason: str = ""  # a small closed set: invalid_json, contract, too_large, ...
    raw_size: int = -1  # length of the original bytes; -1 in letters older than the field
    raw_sha256: str = ""
    raw_truncated: bool = False


class SilenceMessage(BaseModel):
    """`incidents alerts silence` -> sink: hold notifications of matching alerts until `ends_at`.

    Keyed by silence id on the silences topic; a later message for the same id (an
    `unsilence` sets ``deleted``) replaces it.
    """

    model_config = _FROZEN

    silence_id: str = Field(min_length=1, max_length=64)
    rule: str = Field(default="*", max_length=64)  # "*" for any rule
    province: str = Field(default="*", max_length=128)  # "*" for any
    district: str = Field(default="*", max_length=128)  # "*" for any, "" for the province
    starts_at: datetime
    ends_at: datetime
    comment: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=128)
    deleted: bool = False


class DqSuiteResult(BaseModel):
    """One suite of one `incidents dq` run."""

    model_config = _FROZEN

    suite: str = Field(min_length=1, max_length=128)
    success: bool
    expectations: int = Field(ge=0)
    failed: int = Field(ge=0)
    data_docs: str = Field(default="", max_length=4096)  # this suite's page of the run


class DqExpectationResult(BaseModel):
    """One expectation of one suite of one run."""

    model_config = _FROZEN

    suite: str = Field(min_length=1, max_length=128)
    position: int = Field(ge=0, le=65535)
    expectation: str = Field(max_length=128)
    column: str = Field(default="", max_length=256)
    description: str = Field(default="", max_length=2000)
    success: bool
    observed: str = Field(default="", max_length=10_000)  # JSON
    unexpected_count: int = Field(default=0, ge=0)
    unexpected_examples: str = Field(default="", max_length=20_000)  # JSON


class DqRunMessage(BaseModel):
    """`incidents dq` -> sink: what one data-quality run found (keyed by run id)."""

    model_config = _FROZEN

    run_id: str = Field(min_length=1, max_length=64)
    started_at: datetime
    finished_at: datetime
    trigger: str = Field(default="cli", max_length=32)
    data_docs: str = Field(default="", max_length=4096)
    suites: list[DqSuiteResult] = Field(max_length=64)
    results: list[DqExpectationResult] = Field(max_length=2000)

    @property
    def success(self) -> bool:
        return all(s.success for s in self.suites)
