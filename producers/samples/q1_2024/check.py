"""Recompute the sample's totals from the feed files alone and compare them with expected.json.

This is an independent reading of docs/semantics.md: it imports nothing from ``streams/`` and
nothing from the generator, only the contract (``schemas.report.parse_report``) and the
gazetteer. ACLED rows are mapped by a minimal table of its own (the one in the producers' brief).

Run ``python -m producers.samples.q1_2024.check``; it exits non-zero on a mismatch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from producers.samples.q1_2024 import SAMPLE_DIR
from schemas.gazetteer import load_gazetteer
from schemas.report import Report, parse_report

GROUPS = ("civilians", "security", "militants", "unknown")
STATE_FORCES = (
    "Military Forces of Pakistan",
    "Police Forces of Pakistan",
    "Frontier Corps",
    "Counter Terrorism Department",
)
ACLED_SUBTYPES = {
    "Suicide bomb": "suicide_attack",
    "Remote explosive/landmine/IED": "ied",
    "Grenade": "grenade",
    "Shelling/artillery/missile attack": "rocket_attack",
    "Air/drone strike": "drone_strike",
    "Attack": "targeted_killing",
    "Abduction/forced disappearance": "kidnapping",
}

IncidentKey = tuple[date, str, str | None, str, str | None]
AcledMapper = Callable[[dict[str, str]], Any]


@dataclass
class FeedStats:
    """What one feed file contains."""

    lines: int = 0
    valid: int = 0
    resends: int = 0
    malformed: int = 0
    reports: list[Report] = field(default_factory=list)


def acled_to_contract(row: dict[str, str]) -> dict[str, Any]:
    """Map one ACLED row to a contract dict (minimal; raise ValueError on a bad row)."""
    text = row["event_date"].strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y"):
        try:
            occurred = datetime.strptime(text, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"bad event_date {text!r}")
    state = any(force in row["actor1"] for force in STATE_FORCES)
    if row["event_type"] == "Battles":
        category = "security_operation" if state else "terror_attack"
        subtype = "clash" if state else "armed_assault"
    else:
        category, subtype = "terror_attack", ACLED_SUBTYPES.get(row["sub_event_type"], "other")
    stamp = int(row["timestamp"])
    return {
        "source": "acled",
        "source_event_id": row["event_id_cnty"],
        "version": stamp,
        "reported_at": datetime.fromtimestamp(stamp, UTC).isoformat(),
        "occurred_on": occurred.isoformat(),
        "province": row["admin1"],
        "district": row["admin2"] or None,
        "location": row["location"] or None,
        "category": category,
        "subtype": subtype,
        "killed": {"unknown": int(row["fatalities"])},
    }


def _read(lines: list[str], parse: Any) -> FeedStats:
    stats = FeedStats()
    seen: set[str] = set()
    for line in lines:
        stats.lines += 1
        stats.resends += line in seen
        seen.add(line)
        try:
            report = parse(line)
        except ValueError:  # ReportValidationError and JSON/mapping errors are ValueErrors
            stats.malformed += 1
            continue
        stats.valid += 1
        stats.reports.append(report)
    return stats


def read_news(path: Path) -> FeedStats:
    """Parse every line of the news feed with the contract."""
    return _read(path.read_text(encoding="utf-8").splitlines(), parse_report)


def read_acled(path: Path, mapper: AcledMapper = acled_to_contract) -> FeedStats:
    """Map (with ``mapper``) and parse every row of the ACLED export."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [json.dumps(row) for row in reader]
    return _read(rows, lambda text: parse_report(mapper(json.loads(text))))


def _fingerprint(report: Report) -> str:
    canonical = json.dumps(report.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def latest_versions(reports: list[Report]) -> dict[str, Report]:
    """The winning version of each report id (highest version, then later, then larger hash)."""
    latest: dict[str, Report] = {}
    for r in reports:
        held = latest.get(r.report_id)
        rank = (r.version, r.reported_at, _fingerprint(r))
        if held is None or rank > (held.version, held.reported_at, _fingerprint(held)):
            latest[r.report_id] = r
    return latest


def normalize_location(text: str | None) -> str | None:
    """Case-fold, drop punctuation, collapse white space."""
    if text is None:
        return None
    kept = "".join(ch for ch in text.casefold() if not unicodedata.category(ch).startswith("P"))
    return " ".join(kept.split())


def incident_key(r: Report) -> IncidentKey:
    """The incident key of docs/semantics.md, canonicalized with the gazetteer."""
    g = load_gazetteer()
    province = g.province(r.province).name
    district = g.district(r.district, province).name if r.district else None
    return (r.occurred_on, province, district, str(r.category), normalize_location(r.location))


def _pick(reports: list[Report], figure: str) -> Report:
    def rank(r: Report) -> tuple[int, int, float, str, str]:
        c = getattr(r, figure)
        return (-c.total, c.unknown, -r.reported_at.timestamp(), r.source, r.source_event_id)

    return min(reports, key=rank)


@dataclass
class Merged:
    key: IncidentKey
    reports: list[Report]
    killed: tuple[int, ...]
    injured: tuple[int, ...]


def merge(reports: list[Report]) -> dict[IncidentKey, Merged]:
    """Group the current reports by incident key and apply the ``max_total`` rule."""
    groups: dict[IncidentKey, list[Report]] = {}
    for r in reports:
        groups.setdefault(incident_key(r), []).append(r)
    out = {}
    for key, members in groups.items():
        k, i = _pick(members, "killed").killed, _pick(members, "injured").injured
        out[key] = Merged(
            key,
            members,
            tuple(getattr(k, g) for g in GROUPS),
            tuple(getattr(i, g) for g in GROUPS),
        )
    return out


def _zero() -> dict[str, Any]:
    return {
        "incidents": 0,
        "terror_attack": 0,
        "security_operation": 0,
        "killed": dict.fromkeys((*GROUPS, "total"), 0),
        "injured": dict.fromkeys((*GROUPS, "total"), 0),
    }


def _add(agg: dict[str, Any], m: Merged) -> None:
    agg["incidents"] += 1
    agg[m.key[3]] += 1
    for name, split in (("killed", m.killed), ("injured", m.injured)):
        for g, n in zip(GROUPS, split, strict=True):
            agg[name][g] += n
        agg[name]["total"] += sum(split)


def recompute(
    sample_dir: Path = SAMPLE_DIR, acled_mapper: AcledMapper = acled_to_contract
) -> dict[str, Any]:
    """Everything expected.json states, recomputed from news.jsonl and acled.csv."""
    news = read_news(sample_dir / "news.jsonl")
    acled = read_acled(sample_dir / "acled.csv", acled_mapper)
    latest = latest_versions(news.reports + acled.reports)
    current = [r for r in latest.values() if not r.retracted]
    incidents = merge(current)

    expected = json.loads((sample_dir / "expected.json").read_text(encoding="utf-8"))
    national = _zero()
    by_province = {p: _zero() for p in expected["by_province"]}
    by_month = {m: _zero() for m in expected["by_month"]}
    by_category = {c: _zero() for c in expected["by_category"]}
    sources: Counter[str] = Counter()
    for m in incidents.values():
        for agg in (national, by_province[m.key[1]], by_month[f"{m.key[0]:%Y-%m}"],
                    by_category[m.key[3]]):  # fmt: skip
            _add(agg, m)
        sources["+".join(sorted({r.source for r in m.reports}))] += 1

    retracted = [r for r in latest.values() if r.retracted]
    kept = sum(incident_key(r) in incidents for r in retracted)
    higher = sum(
        1
        for m in incidents.values()
        if len({r.source for r in m.reports}) == 2
        and _pick(m.reports, "killed").source == "acled"
        and m.killed[3] > 0
    )
    return {
        "national": national,
        "by_province": by_province,
        "by_month": by_month,
        "by_category": by_category,
        "incidents": {
            "total": len(incidents),
            "news_only": sources["newsmonitor"],
            "acled_only": sources["acled"] - kept,
            "both_feeds": sources["acled+newsmonitor"],
            "both_feeds_acled_killed_higher": higher,
            "retracted_in_news_kept_by_acled": kept,
            "retracted_and_absent": len(retracted) - kept,
        },
        "feeds": {"news": _news_counts(news), "acled": _acled_counts(acled)},
    }


def _by_id(reports: list[Report]) -> dict[str, dict[int, Report]]:
    out: dict[str, dict[int, Report]] = {}
    for r in reports:
        out.setdefault(r.report_id, {})[r.version] = r
    return out


def _news_counts(feed: FeedStats) -> dict[str, int]:
    by_id = _by_id(feed.reports)
    upward = restored = 0
    for versions in by_id.values():
        last = versions[max(versions)]
        if not last.retracted:
            upward += any(v.killed.total < last.killed.total for v in versions.values())
            restored += any(v.retracted for v in versions.values())
    return {
        "lines": feed.lines,
        "valid_lines": feed.valid,
        "resends": feed.resends,
        "retractions": sum(v.retracted for vs in by_id.values() for v in vs.values()),
        "restored_after_retraction": restored,
        "reports": len(by_id),
        "versions": sum(len(v) for v in by_id.values()),
        "reports_with_several_versions": sum(len(v) > 1 for v in by_id.values()),
        "upward_killed_revisions": upward,
        "malformed": feed.malformed,
    }


def _acled_counts(feed: FeedStats) -> dict[str, int]:
    by_id = _by_id(feed.reports)
    return {
        "rows": feed.lines,
        "valid_rows": feed.valid,
        "events": len(by_id),
        "resends": feed.resends,
        "revised_events": sum(len(v) > 1 for v in by_id.values()),
        "malformed": feed.malformed,
    }


def check(
    sample_dir: Path = SAMPLE_DIR, acled_mapper: AcledMapper = acled_to_contract
) -> dict[str, Any]:
    """Assert the files add up to expected.json and to CRSS's Q1 2024 figures; return them."""
    expected = json.loads((sample_dir / "expected.json").read_text(encoding="utf-8"))
    got = recompute(sample_dir, acled_mapper)
    for section, value in got.items():
        if value != expected[section]:
            raise AssertionError(f"{section}: recomputed {value} != expected {expected[section]}")
    crss, national = expected["crss_q1_2024"], got["national"]
    killed = national["killed"]
    assert national["incidents"] == crss["incidents"] == 245
    assert killed["total"] == crss["killed"] == 432
    assert national["injured"]["total"] == crss["injured"] == 370
    assert killed["civilians"] + killed["security"] == crss["killed_civilians_security"] == 281
    shares = {p: round(100 * v["killed"]["total"] / 432) for p, v in got["by_province"].items()}
    assert shares["Khyber Pakhtunkhwa"] == 51 and shares["Balochistan"] == 41, shares
    return got


if __name__ == "__main__":
    check(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR)
    sys.stdout.write("sample totals match expected.json and CRSS Q1 2024\n")
