"""The incident report contract (version 1).

STUB written by the lead to fix names; the schemas helper owns this file and
completes the validation rules and the gazetteer normalization.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
MAX_PER_GROUP = 5000

Count = Annotated[int, Field(ge=0, le=MAX_PER_GROUP)]


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


class Report(BaseModel):
    """One version of one incident report from one source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    source_event_id: str
    version: int = Field(ge=1)
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
    killed: Casualties = Field(default_factory=Casualties)
    injured: Casualties = Field(default_factory=Casualties)
    perpetrator: str | None = None
    target: str | None = None
    notes: str | None = None
    url: str | None = None

    @property
    def report_id(self) -> str:
        return f"{self.source}:{self.source_event_id}"


class ReportValidationError(ValueError):
    """A report broke the contract; ``errors`` lists each problem with its field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def parse_report(raw: bytes | str | dict[str, Any]) -> Report:
    """Validate one report from JSON bytes/text or a dict; raise ReportValidationError."""
    raise NotImplementedError
