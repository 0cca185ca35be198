"""Small message builders shared by the sink tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from schemas.errors import FieldError
from schemas.report import Casualties, Category, Report
from schemas.warehouse import (
    Aggregate,
    Counts,
    DeadLetter,
    DistrictDay,
    DistrictDaySnapshot,
    IncidentRow,
)
from sinks.rows import KafkaCoordinates
from sinks.sink import Origin

AT = KafkaCoordinates("incidents.reports.valid", 2, 41, datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
ORIGIN = Origin(AT, b"{}")  # where a quarantined row says it came from


def report(**changes: object) -> Report:
    values: dict[str, object] = {
        "source": "dawn",
        "source_event_id": "e-1",
        "version": 2,
        "reported_at": datetime(2025, 3, 1, 10, 30, tzinfo=UTC),
        "occurred_on": date(2025, 2, 28),
        "province": "Khyber Pakhtunkhwa",
        "district": "Peshawar",
        "location": "Hayatabad",
        "category": Category.TERROR_ATTACK,
        "killed": Casualties(civilians=3, security=1),
        "injured": Casualties(civilians=5, unknown=2),
        "url": "https://example.org/a",
    }
    values.update(changes)
    return Report.model_validate(values)


def incident(
    incident_id: str = "inc-1",
    killed: Counts | None = None,
    deleted: bool = False,
    day: date = date(2025, 2, 28),
    province: str = "Khyber Pakhtunkhwa",
    district: str = "Peshawar",
    category: Category = Category.TERROR_ATTACK,
) -> IncidentRow:
    return IncidentRow(
        incident_id=incident_id,
        occurred_on=day,
        province=province,
        district=district,
        category=category,
        location="hayatabad",
        location_display="Hayatabad",
        subtype="ied",
        killed=killed or Counts(civilians=3, security=1),
        injured=Counts(civilians=5),
        killed_from="dawn:e-1",
        injured_from="dawn:e-1",
        report_ids=["dawn:e-1"],
        deleted=deleted,
    )


def snapshot(
    revision: int,
    incidents: list[IncidentRow],
    day: date = date(2025, 2, 28),
    province: str = "Khyber Pakhtunkhwa",
    district: str = "Peshawar",
) -> DistrictDaySnapshot:
    """A snapshot whose aggregate is the sum of its live incidents."""
    live = [i for i in incidents if not i.deleted]

    def total(kind: str, group: str) -> int:
        return sum(getattr(getattr(i, kind), group) for i in live)

    groups = ("civilians", "security", "militants", "unknown")
    return DistrictDaySnapshot(
        district_day=DistrictDay(occurred_on=day, province=province, district=district),
        revision=revision,
        aggregate=Aggregate(
            incidents=len(live),
            terror_attacks=sum(i.category == Category.TERROR_ATTACK for i in live),
            security_operations=sum(i.category == Category.SECURITY_OPERATION for i in live),
            killed=Counts(**{g: total("killed", g) for g in groups}),
            injured=Counts(**{g: total("injured", g) for g in groups}),
        ),
        incidents=incidents,
    )


def dead_letter() -> DeadLetter:
    return DeadLetter(
        errors=[
            FieldError(field="province", message="unknown province"),
            FieldError(field="killed.civilians", message="must be >= 0"),
        ],
        raw_b64="eyJwcm92aW5jZSI6ICJYIn0=",  # {"province": "X"}
        topic="incidents.reports.raw",
        partition=1,
        offset=7,
        received_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        source="dawn",
        source_event_id="e-9",
    )
