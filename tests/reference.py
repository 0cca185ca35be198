"""An independent, deliberately plain recomputation of docs/semantics.md.

It shares no code with ``streams/``: the pipeline's output is compared with it. Input is
every report delivery in any order, with duplicates; output is what the warehouse must
show.
"""

from __future__ import annotations

import hashlib
import string
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from schemas.places import load_places
from schemas.report import Report

GROUPS = ("civilians", "security", "militants", "unknown")


def _norm_location(text: str | None) -> str:
    if not text:
        return ""
    spaced = "".join(" " if ch in "-_()[]{},;:/\\|&+" else ch for ch in text.casefold())
    kept = "".join(ch for ch in spaced if ch not in string.punctuation)
    return " ".join(kept.split())


def _location_key(r: Report) -> str:
    """The place when the gazetteer resolves the location, else the normalized text.

    Resolution itself is the contract's pure function (schemas.places), not re-implemented
    here: what this module checks independently is how reports become incidents and sums.
    """
    place = load_places().resolve(r.location, r.province, r.district, r.latitude, r.longitude)
    return f"@{place.place_id}" if place.place is not None else _norm_location(r.location)


def latest_versions(deliveries: list[Report]) -> dict[str, Report]:
    """The winning version of every report id."""
    best: dict[str, Report] = {}
    for r in deliveries:
        rid = f"{r.source}:{r.source_event_id}"
        fp = hashlib.sha256(r.model_dump_json().encode()).hexdigest()
        rank = (r.version, r.reported_at.timestamp(), fp)
        if rid not in best:
            best[rid] = r
            continue
        old = best[rid]
        old_fp = hashlib.sha256(old.model_dump_json().encode()).hexdigest()
        if rank > (old.version, old.reported_at.timestamp(), old_fp):
            best[rid] = r
    return best


@dataclass
class Incident:
    occurred_on: date
    province: str
    district: str
    category: str
    killed: dict[str, int]
    injured: dict[str, int]
    reports: list[str]


def _choose(reports: list[Report], what: str, rule: str = "max_total") -> Report:
    # Sort from the last tie-break to the first; Python's sort is stable.
    ordered = sorted(reports, key=lambda r: (r.source, r.source_event_id))
    ordered.sort(key=lambda r: r.reported_at, reverse=True)
    if rule == "latest":
        return ordered[0]
    assert rule == "max_total", rule
    ordered.sort(key=lambda r: getattr(r, what).unknown)
    ordered.sort(key=lambda r: sum(getattr(getattr(r, what), g) for g in GROUPS), reverse=True)
    return ordered[0]


def incidents(deliveries: list[Report], rule: str = "max_total") -> list[Incident]:
    """The incidents the set of latest report versions describes (casualties by `rule`)."""
    groups: dict[tuple[Any, ...], list[Report]] = defaultdict(list)
    for r in latest_versions(deliveries).values():
        if r.retracted:
            continue
        key = (
            r.occurred_on,
            r.province,
            r.district or "",
            str(r.category),
            _location_key(r),
        )
        groups[key].append(r)
    result = []
    for (day, province, district, category, _), reports in sorted(groups.items()):
        k = _choose(reports, "killed", rule).killed
        i = _choose(reports, "injured", rule).injured
        result.append(
            Incident(
                occurred_on=day,
                province=province,
                district=district,
                category=category,
                killed={g: getattr(k, g) for g in GROUPS},
                injured={g: getattr(i, g) for g in GROUPS},
                reports=sorted(f"{r.source}:{r.source_event_id}" for r in reports),
            )
        )
    return result


def district_day_totals(
    deliveries: list[Report], rule: str = "max_total"
) -> dict[tuple[str, str, str], dict[str, int]]:
    """(day, province, district) -> the aggregate columns the warehouse stores."""
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for inc in incidents(deliveries, rule):
        key = (inc.occurred_on.isoformat(), inc.province, inc.district)
        row = out.setdefault(
            key,
            {
                "incidents": 0,
                "terror_attacks": 0,
                "security_operations": 0,
                **{f"killed_{g}": 0 for g in GROUPS},
                **{f"injured_{g}": 0 for g in GROUPS},
            },
        )
        row["incidents"] += 1
        row["terror_attacks"] += inc.category == "terror_attack"
        row["security_operations"] += inc.category == "security_operation"
        for g in GROUPS:
            row[f"killed_{g}"] += inc.killed[g]
            row[f"injured_{g}"] += inc.injured[g]
    for row in out.values():
        row["killed_total"] = sum(row[f"killed_{g}"] for g in GROUPS)
        row["injured_total"] = sum(row[f"injured_{g}"] for g in GROUPS)
    return out
