"""The alert rules file: TOML, validated with pydantic (docs/alerting.md).

``ALERTS_RULES_FILE`` names it; without it the platform uses the defaults shipped in
``incidents_alerting/default_rules.toml``. A bad file is one error naming the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incidents_alerting.exceptions import RulesError

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.toml")

_RULE = ConfigDict(frozen=True, extra="forbid")
AreaKind = Literal["district", "province"]
Areas = list[AreaKind]


def _both() -> list[AreaKind]:
    return ["district", "province"]


class WindowRule(BaseModel):
    """A trailing window tested against the days before it (the two spike rules)."""

    model_config = _RULE

    enabled: bool = True
    areas: Areas = Field(default_factory=_both)
    window_days: int = Field(default=7, ge=1, le=90)
    baseline_days: int = Field(default=90, ge=7, le=730)
    min_baseline_days: int = Field(default=28, ge=1, le=730)
    p_value: float = Field(default=1e-4, gt=0, lt=1)


class CountSpike(WindowRule):
    """Incidents in a trailing window against a Poisson baseline rate."""

    min_count: int = Field(default=4, ge=1)
    floor_rate: float = Field(default=0.02, gt=0, description="incidents per day")


class FatalitySpike(WindowRule):
    """Killed in a trailing window against a compound Poisson baseline (docs/alerting.md).

    Incidents arrive at the baseline's rate and each kills a number drawn from the area's
    toll distribution over the baseline, shrunk toward its province's (a province's: the
    nation's). Incidents with a mass-casualty alert of their own are not counted.
    """

    p_value: float = Field(default=1e-5, gt=0, lt=1)
    min_killed: int = Field(default=10, ge=1)
    floor_rate: float = Field(
        default=0.02, gt=0, description="incidents per day, at least (as the count rule's)"
    )
    shrinkage: float = Field(
        default=20.0,
        ge=0,
        description="the parent's weight in incidents: an area with n baseline incidents"
        " weighs its own tolls n / (n + shrinkage)",
    )


class MassCasualty(BaseModel):
    """One incident with at least `min_killed` killed."""

    model_config = _RULE

    enabled: bool = True
    min_killed: int = Field(default=10, ge=1)


class QuietDistrict(BaseModel):
    """An incident in a district that had none for `quiet_days`."""

    model_config = _RULE

    enabled: bool = True
    quiet_days: int = Field(default=180, ge=7, le=3650)


class Coverage(BaseModel):
    """Which history the rules may judge: days the feeds were reporting on a province."""

    model_config = _RULE

    max_gap_days: int = Field(
        default=45,
        ge=1,
        le=365,
        description="a province is covered while its report days are at most this far apart",
    )


class Lifecycle(BaseModel):
    """How alerts group, resolve and notify."""

    model_config = _RULE

    cooldown_days: int = Field(
        default=3,
        ge=0,
        le=90,
        description="firing windows this close belong to one alert; it resolves after this long",
    )
    recency_days: int = Field(
        default=3, ge=0, le=365, description="only alerts this recent (wall clock) notify"
    )
    escalation_factor: float = Field(
        default=1.5, gt=1, description="notify again when the observed value grows this much"
    )


# The labels every alert carries (incidents_alerting.payloads.labels): what group_by may name.
GroupLabel = Literal["alertname", "province", "district", "area_kind", "severity", "incident_id"]


def _default_group_by() -> list[GroupLabel]:
    return ["alertname", "province"]


class Notifications(BaseModel):
    """When receivers hear of changes, like an Alertmanager route (docs/alerting.md)."""

    model_config = _RULE

    group_wait_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="an alert's state must hold this long, on settled input, to be sent",
    )
    group_by: list[GroupLabel] = Field(
        default_factory=_default_group_by,
        min_length=1,
        description="alerts with the same values of these labels are one notification",
    )
    group_interval_s: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="after a group's notification, its next changes wait this long",
    )
    repeat_interval_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        le=7 * 86400,
        description="a group with firing alerts is sent again when nothing was sent this long",
    )


class Rules(BaseModel):
    """The whole rules file."""

    model_config = _RULE

    count_spike: CountSpike = Field(default_factory=CountSpike)
    fatality_spike: FatalitySpike = Field(default_factory=FatalitySpike)
    mass_casualty: MassCasualty = Field(default_factory=MassCasualty)
    quiet_district: QuietDistrict = Field(default_factory=QuietDistrict)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    coverage: Coverage = Field(default_factory=Coverage)
    notifications: Notifications = Field(default_factory=Notifications)


RULE_NAMES = ("count_spike", "fatality_spike", "mass_casualty", "quiet_district")
# The rules that test a window against a baseline: only their alerts carry a p-value (the
# others record 0 or 1 in its place).
TESTED_RULES = frozenset({"count_spike", "fatality_spike"})
# Raised by failing `incidents dq` runs (docs/quality.md), not configured in the rules file.
DATA_QUALITY = "data_quality"


def load_rules(path: Path | None = None) -> Rules:
    """Read and validate a rules file (the shipped defaults when `path` is None)."""
    source = path or DEFAULT_RULES_FILE
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as e:
        raise RulesError(f"cannot read the alert rules file {source}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise RulesError(f"{source}: not UTF-8 text (byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"{source}: not valid TOML: {e}") from e
    except RecursionError as e:  # tomllib recurses once per nested array or table
        raise RulesError(f"{source}: nested too deeply to be a rules file") from e
    try:
        return Rules.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise RulesError(f"{source}: {field}: {first['msg']}{more}") from e
