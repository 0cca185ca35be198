"""Synthetic but valid report feeds for the benchmarks.

Reports follow the contract and the sample data's places (``producers.samples.q1_2024``):
incidents spread over many districts and days, seen by one to three sources, with
revisions (casualties revised upward), retractions, revisions that move a report to
another day, and location spellings that normalize alike. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from producers.samples.q1_2024.places import DISTRICTS

SOURCES = ("newsmonitor", "dawnwire", "acled")
TERROR = ("ied", "suicide_attack", "armed_assault", "targeted_killing", "grenade")
OPERATION = ("intelligence_based_operation", "clash", "drone_strike")
START = date(2023, 1, 1)


def _spell(town: str, rnd: random.Random) -> str:
    """The same town as different feeds write it (all normalize to one key)."""
    r = rnd.random()
    if r < 0.1:
        return town.upper()
    if r < 0.2:
        return town.replace(" ", "-")
    return town


def synthetic_reports(
    n: int, *, seed: int = 1, days: int = 730, id_prefix: str = ""
) -> list[dict[str, Any]]:
    """Return exactly ``n`` report versions (feed dicts) in publication order.

    Feeds with different ``id_prefix`` never share a report id.
    """
    rnd = random.Random(seed)
    places = [(p, d) for p, ds in DISTRICTS.items() for d in ds]
    weights = [d.weight for _, d in places]
    out: list[dict[str, Any]] = []
    incident = 0
    while len(out) < n:
        incident += 1
        province, district = rnd.choices(places, weights)[0]
        day = START + timedelta(days=rnd.randrange(days))
        category = rnd.choice(["terror_attack", "security_operation"])
        subtype = rnd.choice(TERROR if category == "terror_attack" else OPERATION)
        town = rnd.choice(district.towns)
        base_killed = [rnd.randrange(0, 4) for _ in range(3)]
        n_sources = rnd.choices([1, 2, 3], [60, 30, 10])[0]
        for source in rnd.sample(SOURCES, n_sources):
            event_id = f"{id_prefix}{source[:2].upper()}-{incident:07d}"
            location = _spell(town, rnd)
            n_versions = rnd.choices([1, 2, 3], [70, 22, 8])[0]
            for v in range(1, n_versions + 1):
                if len(out) >= n:
                    break
                occurred = day
                if v > 1 and rnd.random() < 0.03:
                    occurred = day + timedelta(days=1)  # a revision that moves the report
                killed = [k + (v - 1) * rnd.randrange(0, 3) for k in base_killed]
                if source == "acled":  # ACLED gives only a total
                    killed_split = {"unknown": sum(killed)}
                else:
                    groups = ("civilians", "security", "militants")
                    killed_split = dict(zip(groups, killed, strict=True))
                hour = min(23, 1 + 4 * v + rnd.randrange(3))
                out.append(
                    {
                        "source": source,
                        "source_event_id": event_id,
                        "version": v,
                        "reported_at": f"{day + timedelta(days=1)}T{hour:02d}:15:00+05:00",
                        "retracted": v > 1 and rnd.random() < 0.03,
                        "occurred_on": occurred.isoformat(),
                        "province": province,
                        "district": district.name,
                        "location": location,
                        "latitude": district.lat,
                        "longitude": district.lon,
                        "category": category,
                        "subtype": subtype,
                        "killed": killed_split,
                        "injured": {"civilians": rnd.randrange(0, 6), "security": rnd.randrange(3)},
                        "perpetrator": "TTP" if category == "terror_attack" else "security forces",
                        "target": "police" if category == "terror_attack" else "militants",
                        "notes": f"SYNTHETIC benchmark report {event_id} v{v} near {town}.",
                        "url": f"https://{source}.example.org/{event_id.lower()}/{v}",
                    }
                )
    return out


def jsonl_bytes(reports: list[dict[str, Any]]) -> list[bytes]:
    """Each report as one compact JSON line (without the newline)."""
    return [json.dumps(r, separators=(",", ":")).encode() for r in reports]


def write_jsonl(reports: list[dict[str, Any]], path: Path) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in jsonl_bytes(reports)))
    return path
