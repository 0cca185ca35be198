"""Generate the synthetic Q1 2024 sample feeds: ``news.jsonl``, ``acled.csv``, ``expected.json``.

Run ``python -m producers.samples.q1_2024.generate [OUT_DIR]``; with the fixed seed the files
come out byte-identical every time. The data is SYNTHETIC: only its unique incidents, after the
deduplication of docs/semantics.md, are calibrated to CRSS's published national Q1 2024 totals.

How it is built: first the *truth* (one record per unique incident, with the casualty split the
``max_total`` rule will pick), sized so that provinces and the nation add up exactly; then the two
feeds that deliver it, with revisions, retractions, re-sends, overlaps and malformed records;
finally ``expected.json``, computed from the truth alone. ``check.py`` recomputes everything from
the feed files.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from producers.samples.q1_2024 import SAMPLE_DIR
from producers.samples.q1_2024.places import (
    AJK,
    BALOCHISTAN,
    DISTRICTS,
    GB,
    ICT,
    KP,
    PUNJAB,
    SINDH,
    District,
    district,
)

SEED = 20240331
NEWS_SOURCE = "newsmonitor"
PKT = timezone(timedelta(hours=5), "PKT")
Q1_START = date(2024, 1, 1)
Q1_DAYS = 91
GROUPS = ("civilians", "security", "militants", "unknown")
PROVINCES = (KP, BALOCHISTAN, PUNJAB, SINDH, ICT, GB, AJK)
MONTHS = ("2024-01", "2024-02", "2024-03")
CATEGORIES = ("terror_attack", "security_operation")

# CRSS, Q1 2024 (national): incidents, killed, injured, killed civilians + security.
CRSS_Q1_2024 = {"incidents": 245, "killed": 432, "injured": 370, "killed_civilians_security": 281}


@dataclass(frozen=True)
class ProvincePlan:
    incidents: int
    killed_civsec: int  # civilians + security killed
    killed_militants: int
    killed_unknown: int  # only ACLED-decided incidents carry unknown
    injured: int


PLAN = {
    KP: ProvincePlan(140, 135, 75, 10, 190),  # 220 killed = 50.9 %
    BALOCHISTAN: ProvincePlan(82, 115, 50, 12, 140),  # 177 killed = 41.0 %
    PUNJAB: ProvincePlan(10, 12, 2, 0, 14),
    SINDH: ProvincePlan(9, 13, 2, 0, 20),
    ICT: ProvincePlan(1, 2, 0, 0, 2),
    GB: ProvincePlan(2, 4, 0, 0, 3),
    AJK: ProvincePlan(1, 0, 0, 0, 1),
}

# How the non-anchor incidents of a province are delivered (the rest: news only).
#   both          news and ACLED agree on the killed total (the news split wins the tie)
#   acled_higher  ACLED's fatalities exceed the news total (the merged split is all unknown)
#   acled         ACLED only
#   acled_after_retraction  news reported it, then retracted; ACLED still has it
MODES = {
    KP: {"both": 17, "acled_higher": 2, "acled": 6, "acled_after_retraction": 1},
    BALOCHISTAN: {"both": 11, "acled_higher": 2, "acled": 4},
    PUNJAB: {"both": 1},
    SINDH: {"both": 1},
}
ACLED_MODES = ("acled", "acled_after_retraction")
NEWS_MODES = ("news", "both", "acled_higher")

TERROR_SUBTYPES = {
    "ied": 25,
    "armed_assault": 25,
    "targeted_killing": 20,
    "grenade": 7,
    "kidnapping": 7,
    "sabotage": 6,
    "rocket_attack": 5,
    "suicide_attack": 3,
}
OPERATION_SUBTYPES = {"intelligence_based_operation": 60, "clash": 40}
# (probability of deaths, weight for civilians+security killed, weight for militants killed,
#  weight for injured)
SUBTYPE_PROFILE = {
    "suicide_attack": (1.0, 4.0, 0.5, 4.0),
    "armed_assault": (0.75, 2.0, 1.0, 1.5),
    "targeted_killing": (0.9, 1.5, 0.0, 0.5),
    "ied": (0.5, 1.5, 0.0, 3.0),
    "grenade": (0.35, 0.8, 0.0, 3.0),
    "rocket_attack": (0.4, 0.8, 0.0, 2.0),
    "kidnapping": (0.1, 0.5, 0.0, 0.0),
    "sabotage": (0.0, 0.0, 0.0, 0.2),
    "intelligence_based_operation": (0.65, 0.4, 3.0, 0.3),
    "clash": (0.85, 0.8, 3.0, 0.6),
}
TERROR_SHARE = {KP: 0.6, BALOCHISTAN: 0.66}
GROUPS_BY_PROVINCE = {
    KP: {"TTP": 50, "Hafiz Gul Bahadur group": 15, "ISKP": 8, "Lashkar-e-Islam": 5, "": 22},
    BALOCHISTAN: {"BLA": 40, "BLF": 30, "TTP": 10, "": 20},
    SINDH: {"SRA": 30, "TTP": 30, "": 40},
}
TARGETS = {
    "civilians": 40,
    "police": 25,
    "military": 15,
    "Frontier Corps": 10,
    "Levies": 5,
    "polio team": 5,
}
FORCES = {"military": 50, "Frontier Corps": 15, "police": 15, "CTD": 20}
ACLED_ACTORS = {
    "TTP": "TTP: Tehreek-i-Taliban Pakistan",
    "Hafiz Gul Bahadur group": "Hafiz Gul Bahadur Group",
    "ISKP": "IS: Islamic State (Pakistan)",
    "Lashkar-e-Islam": "Lashkar-e-Islam",
    "BLA": "BLA: Baloch Liberation Army",
    "BLF": "BLF: Baloch Liberation Front",
    "SRA": "SRA: Sindhudesh Revolutionary Army",
    "": "Unidentified Armed Group (Pakistan)",
    "military": "Military Forces of Pakistan (2018-)",
    "police": "Police Forces of Pakistan (2018-)",
    "Frontier Corps": "Frontier Corps",
    "CTD": "Counter Terrorism Department",
    "Levies": "Levies Force",
    "civilians": "Civilians (Pakistan)",
    "polio team": "Health Workers (Pakistan)",
    "Chinese engineers": "Civilians (China)",
    "Gwadar Port Authority complex": "Military Forces of Pakistan (2018-)",
    "naval air station": "Military Forces of Pakistan (2018-)",
}
ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "actor2", "iso", "country", "admin1", "admin2", "admin3",
    "location", "latitude", "longitude", "geo_precision", "source", "notes", "fatalities",
    "timestamp",
)  # fmt: skip
ACLED_SOURCES = ("Dawn", "The Express Tribune", "The News (Pakistan)", "Pakistan Today",
                 "Balochistan Post", "Khorasan Diary")  # fmt: skip


@dataclass
class Incident:
    """One unique incident as the merge will see it (its killed split is the merged one)."""

    day: date
    province: str
    district: str
    location: str
    category: str
    subtype: str
    mode: str = "news"
    lethal: bool = False
    killed: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    injured: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    actor: str = ""  # perpetrator group (terror) or force (operation)
    target: str = ""
    headline: str = ""
    anchor: bool = False
    news_revisions: list[list[int]] = field(default_factory=list)  # killed of earlier versions
    news_extra: dict[str, Any] = field(default_factory=dict)  # alias spellings in the news
    acled_extra: dict[str, str] = field(default_factory=dict)  # alias spellings in ACLED
    acled_fatalities: int = 0
    acled_earlier: int | None = None  # fatalities of an earlier ACLED export
    news_killed: list[int] | None = None  # when ACLED's total is higher
    hour: int = 12
    midnight_utc: bool = False

    def key(self) -> tuple[date, str, str, str, str]:
        return (self.day, self.province, self.district, self.category, self.location.casefold())


def _pick(rng: random.Random, weights: dict[str, float] | dict[str, int]) -> str:
    names = list(weights)
    return rng.choices(names, [float(weights[n]) for n in names])[0]


def _anchors() -> list[Incident]:
    """Real Q1 2024 events, modelled approximately (all figures synthetic)."""

    def inc(day: str, prov: str, dist: str, loc: str, cat: str, sub: str, killed: list[int],
            injured: list[int], actor: str, target: str, headline: str,
            **kw: Any) -> Incident:  # fmt: skip
        return Incident(date.fromisoformat(day), prov, dist, loc, cat, sub, mode="both",
                        lethal=True, killed=killed, injured=injured, actor=actor, target=target,
                        headline=headline, anchor=True, **kw)  # fmt: skip

    t, op = "terror_attack", "security_operation"
    return [
        inc("2024-03-26", KP, "Shangla", "Besham", t, "suicide_attack", [6, 0, 0, 0],
            [0, 0, 0, 0], "", "Chinese engineers",
            "Suicide bomber rams convoy of Chinese engineers near Besham; five Chinese "
            "nationals and their Pakistani driver killed",
            news_revisions=[[5, 0, 0, 0]], hour=13, acled_extra={"date_form": "long"}),
        inc("2024-03-20", BALOCHISTAN, "Gwadar", "Gwadar", t, "armed_assault", [0, 2, 8, 0],
            [0, 1, 0, 0], "BLA", "Gwadar Port Authority complex",
            "Militants storm Gwadar Port Authority complex; two soldiers and eight attackers "
            "killed", hour=15),
        inc("2024-01-29", BALOCHISTAN, "Kachhi", "Mach", t, "armed_assault", [2, 4, 6, 0],
            [3, 5, 0, 0], "BLA", "military",
            "Militants attack security installations in Mach with rockets and small arms",
            news_revisions=[[0, 3, 0, 0]], hour=22, news_extra={"district": "Bolan"}),
        inc("2024-01-30", BALOCHISTAN, "Kachhi", "Mach", op, "clash", [0, 0, 12, 0],
            [0, 2, 0, 0], "military", "BLA",
            "Clearance operation in Mach ends after militants holed up in the town are killed",
            hour=16, news_extra={"district": "Bolan"}, acled_extra={"admin1": "Baluchistan"}),
        inc("2024-03-16", KP, "North Waziristan", "Mir Ali", t, "suicide_attack", [0, 7, 6, 0],
            [2, 3, 0, 0], "Hafiz Gul Bahadur group", "military",
            "Suicide car bomb and gunmen attack a security post in Mir Ali", hour=4),
        inc("2024-03-25", BALOCHISTAN, "Kech", "Turbat", t, "armed_assault", [0, 1, 4, 0],
            [0, 2, 0, 0], "BLA", "naval air station",
            "Attack on a naval air station near Turbat repulsed", hour=22),
        inc("2024-02-05", KP, "Dera Ismail Khan", "Chodhwan", t, "armed_assault",
            [0, 10, 0, 0], [0, 6, 0, 0], "TTP", "police",
            "Militants storm Chodhwan police station before dawn", hour=3,
            news_extra={"district": "D.I. Khan", "province": "KP"}),
        inc("2024-02-07", BALOCHISTAN, "Pishin", "Khanozai", t, "ied", [18, 0, 0, 0],
            [25, 0, 0, 0], "ISKP", "civilians",
            "Bomb outside a candidate's election office in Khanozai on the eve of the vote",
            news_revisions=[[12, 0, 0, 0]], hour=11),
        inc("2024-02-07", BALOCHISTAN, "Killa Saifullah", "Killa Saifullah", t, "ied",
            [12, 0, 0, 0], [15, 0, 0, 0], "ISKP", "civilians",
            "Bomb outside a party election office in Killa Saifullah", hour=12,
            news_extra={"district": "Qila Saifullah"}, acled_extra={"date_form": "long"}),
    ]  # fmt: skip


def _draw_incident(rng: random.Random, province: str) -> Incident:
    districts = DISTRICTS[province]
    d: District = rng.choices(districts, [x.weight for x in districts])[0]
    share = TERROR_SHARE.get(province, 0.8)
    category = "terror_attack" if rng.random() < share else "security_operation"
    sub = _pick(rng, TERROR_SUBTYPES if category == "terror_attack" else OPERATION_SUBTYPES)
    lethal = rng.random() < SUBTYPE_PROFILE[sub][0]
    if category == "terror_attack":
        actor = _pick(rng, GROUPS_BY_PROVINCE.get(province, {"TTP": 40, "": 60}))
        target = _pick(rng, TARGETS)
        if sub == "kidnapping":
            target = "civilians"
    else:
        actor = _pick(rng, FORCES)
        target = _pick(rng, GROUPS_BY_PROVINCE.get(province, {"TTP": 1}))
    return Incident(
        day=Q1_START + timedelta(days=rng.randrange(Q1_DAYS)),
        province=province,
        district=d.name,
        location=rng.choice(d.towns),
        category=category,
        subtype=sub,
        lethal=lethal,
        actor=actor,
        target=target,
        hour=rng.randrange(5, 23),
    )


def _allocate(rng: random.Random, budget: int, weights: list[float]) -> list[int]:
    """Spread ``budget`` units over the slots, each unit drawn by weight."""
    out = [0] * len(weights)
    if budget == 0:
        return out
    if not any(weights):
        raise ValueError("a budget has nowhere to go; adjust PLAN or MODES")
    slots = range(len(weights))
    for _ in range(budget):
        out[rng.choices(slots, weights)[0]] += 1
    return out


def _civilian_share(inc: Incident) -> float:
    if inc.category == "security_operation":
        return 0.05
    return 0.9 if inc.target in ("civilians", "polio team") else 0.1


def _size_province(rng: random.Random, province: str, anchors: list[Incident]) -> list[Incident]:
    plan = PLAN[province]
    fixed = [a for a in anchors if a.province == province]
    drawn = [_draw_incident(rng, province) for _ in range(plan.incidents - len(fixed))]
    # Small provinces: make sure their budgets have somewhere to land.
    if plan.killed_civsec and drawn and not any(i.lethal for i in drawn):
        drawn[0].lethal = True
    if plan.killed_militants:
        drawn[0].category, drawn[0].subtype, drawn[0].lethal = "security_operation", "clash", True
        drawn[0].actor, drawn[0].target = "CTD", "TTP"
    order = list(range(1, len(drawn))) if plan.killed_militants else list(range(len(drawn)))
    rng.shuffle(order)
    for mode, count in MODES.get(province, {}).items():
        for _ in range(count):
            drawn[order.pop()].mode = mode
    for inc in drawn:
        if inc.mode in ACLED_MODES:  # what ACLED's coding maps back to
            inc.subtype = {"sabotage": "ied", "intelligence_based_operation": "clash"}.get(
                inc.subtype, inc.subtype
            )

    civsec = plan.killed_civsec - sum(a.killed[0] + a.killed[1] for a in fixed)
    militants = plan.killed_militants - sum(a.killed[2] for a in fixed)
    injured = plan.injured - sum(sum(a.injured) for a in fixed)

    def weights(index: int, news_only: bool = True) -> list[float]:
        return [
            SUBTYPE_PROFILE[i.subtype][index] * (i.lethal or index == 3)
            if (i.mode in ("news", "both") or (not news_only and i.mode == "acled_higher"))
            else 0.0
            for i in drawn
        ]

    for inc, n in zip(drawn, _allocate(rng, civsec, weights(1)), strict=True):
        for _ in range(n):
            inc.killed[0 if rng.random() < _civilian_share(inc) else 1] += 1
    for inc, n in zip(drawn, _allocate(rng, militants, weights(2)), strict=True):
        inc.killed[2] += n
    for inc, n in zip(drawn, _allocate(rng, injured, weights(3, news_only=False)), strict=True):
        for _ in range(n):
            if inc.category == "security_operation":
                inc.injured[1] += 1
            else:
                inc.injured[0 if rng.random() < _civilian_share(inc) else 1] += 1
    # Unknown killed: only where ACLED decides. acled_higher needs >= 2 (news says fewer).
    higher = [i for i in drawn if i.mode == "acled_higher"]
    unknown = plan.killed_unknown - 2 * len(higher)
    for inc in higher:
        inc.killed[3] = 2
    acled_side = [i for i in drawn if i.mode in (*ACLED_MODES, "acled_higher")]
    for inc, n in zip(acled_side, _allocate(rng, unknown, [1.0] * len(acled_side)), strict=True):
        inc.killed[3] += n
    if min(civsec, militants, injured, unknown) < 0:
        raise ValueError(f"anchors exceed the plan of {province}")
    return fixed + drawn


def build_truth(rng: random.Random) -> list[Incident]:
    """Draw every unique incident, sized so that the CRSS totals come out exactly."""
    anchors = _anchors()
    truth: list[Incident] = []
    for province in PROVINCES:
        truth += _size_province(rng, province, anchors)
    keys: set[tuple[date, str, str, str, str]] = set()
    for inc in truth:  # one incident per key, or the merge would fold two into one
        while inc.key() in keys:
            inc.day = Q1_START + timedelta(days=rng.randrange(Q1_DAYS))
        keys.add(inc.key())
    truth.sort(key=lambda i: (i.day, i.hour, i.province, i.district, i.location, i.category))
    return truth


def _plan_deliveries(rng: random.Random, truth: list[Incident]) -> None:
    """Decide revisions, aliases and the ACLED figures of each incident."""
    news_lethal = [i for i in truth if i.mode in ("news", "both") and not i.anchor
                   and sum(i.killed) >= 2]  # fmt: skip
    for inc in rng.sample(news_lethal, 14):  # upward revisions of the death toll
        earlier = list(inc.killed)
        for _ in range(rng.randint(1, min(3, sum(inc.killed) - 1))):
            group = rng.choice([g for g in range(3) if earlier[g]])
            earlier[group] -= 1
        inc.news_revisions = [earlier]
        if rng.random() < 0.3 and sum(earlier) >= 2:  # a third version
            first = list(earlier)
            first[rng.choice([g for g in range(3) if first[g]])] -= 1
            inc.news_revisions = [first, earlier]
    for inc in truth:
        inc.acled_fatalities = sum(inc.killed)
        if inc.mode == "acled_higher":
            news_total = inc.killed[3] - rng.randint(1, 2)
            sec = rng.randint(0, news_total)
            inc.news_killed = [news_total - sec, sec, 0, 0]
        elif inc.mode == "acled_after_retraction":  # the withdrawn story's own split
            inc.news_killed = [0, sum(inc.killed), 0, 0]
    with_acled = [i for i in truth if i.mode != "news" and not i.anchor]
    for inc in rng.sample([i for i in with_acled if i.acled_fatalities >= 2], 3):
        inc.acled_earlier = inc.acled_fatalities - rng.randint(1, inc.acled_fatalities - 1)
    # Spelling variants that the gazetteer / location normalization must reconcile.
    news_aliases = {"Dera Ismail Khan": "D.I. Khan", "North Waziristan": "N. Waziristan",
                    "Lakki Marwat": "Laki Marwat", "Dera Ghazi Khan": "DG Khan",
                    "Keamari": "Kemari", "Kech": "Kech (Turbat)"}  # fmt: skip
    acled_aliases = {"Lower South Waziristan": "South Waziristan", "Nushki": "Noshki",
                     "Kachhi": "Kachhi (Bolan)"}  # fmt: skip
    for inc in truth:
        if inc.anchor:
            continue
        if inc.district in news_aliases and rng.random() < 0.5:
            inc.news_extra["district"] = news_aliases[inc.district]
        if inc.province == KP and rng.random() < 0.15:
            inc.news_extra["province"] = rng.choice(["KP", "KPK"])
        if inc.district in acled_aliases:
            inc.acled_extra["admin2"] = acled_aliases[inc.district]
        if inc.province == BALOCHISTAN and rng.random() < 0.2:
            inc.acled_extra["admin1"] = "Baluchistan"
        if inc.mode != "news" and rng.random() < 0.1:
            inc.acled_extra["location"] = inc.location.upper()
        inc.acled_extra.setdefault("date_form", "long" if rng.random() < 0.35 else "iso")
    # Two news reports give the time in UTC, late in the evening of the day before.
    for mode in ("news", "both"):
        inc = rng.choice([i for i in truth if i.mode == mode and not i.anchor])
        inc.hour, inc.midnight_utc = rng.randrange(0, 4), True


def _casualties(split: list[int]) -> dict[str, int]:
    return dict(zip(GROUPS, split, strict=True))


def _news_body(inc: Incident, sid: str, version: int, reported: datetime,
               killed: list[int], injured: list[int]) -> dict[str, Any]:  # fmt: skip
    d = district(inc.province, inc.district)
    occurred: str = inc.day.isoformat()
    if inc.midnight_utc:
        local = datetime.combine(inc.day, time(inc.hour, 30), PKT)
        occurred = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    perpetrator = inc.actor or None
    body: dict[str, Any] = {
        "source": NEWS_SOURCE,
        "source_event_id": sid,
        "version": version,
        "reported_at": reported.isoformat(),
        "occurred_on": occurred,
        "province": inc.news_extra.get("province", inc.province),
        "district": inc.news_extra.get("district", inc.district),
        "location": inc.location,
        "latitude": d.lat,
        "longitude": d.lon,
        "category": inc.category,
        "subtype": inc.subtype,
        "killed": _casualties(killed),
        "injured": _casualties(injured),
        "perpetrator": perpetrator,
        "target": inc.target or None,
        "notes": f"SYNTHETIC sample report. {inc.headline or _headline(inc)}",
        "url": f"https://news.example.org/{sid.lower()}",
    }
    return body


SUBTYPE_WORDS = {"ied": "IED blast", "intelligence_based_operation": "intelligence-based operation",
                 "sabotage": "sabotage attack", "kidnapping": "kidnapping"}  # fmt: skip


def _headline(inc: Incident) -> str:
    what = SUBTYPE_WORDS.get(inc.subtype, inc.subtype.replace("_", " "))
    if inc.category == "security_operation":
        return f"{what.capitalize()} by {inc.actor} against {inc.target or 'militants'} near " \
               f"{inc.location}"  # fmt: skip
    return f"{what.capitalize()} targeting {inc.target} in {inc.location}"


def _reported(rng: random.Random, inc: Incident, after_hours: tuple[int, int]) -> datetime:
    start = datetime.combine(inc.day, time(inc.hour, 30), PKT)
    return start + timedelta(minutes=rng.randint(after_hours[0] * 60, after_hours[1] * 60))


def render_news(rng: random.Random, truth: list[Incident]) -> tuple[list[str], dict[str, int]]:
    """Return the news feed's lines and its delivery counts."""
    records: list[tuple[datetime, str]] = []
    counts = {"retractions": 0, "restored": 0}

    def emit(body: dict[str, Any]) -> None:
        records.append((datetime.fromisoformat(body["reported_at"]), json.dumps(body)))

    serial = 0
    restored_done = key_fix_done = False
    for inc in truth:
        if inc.mode not in (*NEWS_MODES, "acled_after_retraction"):
            continue
        serial += 1
        sid = f"NM-24-{serial:04d}"
        final_killed = inc.news_killed or inc.killed
        when = _reported(rng, inc, (1, 8))
        versions = [*inc.news_revisions, final_killed]
        for n, killed in enumerate(versions, start=1):
            injured = inc.injured if n == len(versions) else [max(0, x - 1) for x in inc.injured]
            emit(_news_body(inc, sid, n, when, killed, injured))
            when += timedelta(hours=rng.randint(3, 40))
        if inc.mode == "acled_after_retraction":
            body = _news_body(inc, sid, len(versions) + 1, when, final_killed, inc.injured)
            body["retracted"] = True
            body["notes"] = "SYNTHETIC sample report. Retracted: the newspaper withdrew the story."
            emit(body)
            counts["retractions"] += 1
        elif not restored_done and inc.mode == "news" and len(versions) == 1 and any(inc.killed):
            restored_done = True  # retracted by mistake, then restored
            body = _news_body(inc, sid, 2, when, final_killed, inc.injured)
            body["retracted"] = True
            emit(body)
            emit(_news_body(inc, sid, 3, when + timedelta(hours=5), final_killed, inc.injured))
            counts["retractions"] += 1
            counts["restored"] += 1
        elif (
            not key_fix_done
            and inc.mode == "news"
            and len(versions) == 1
            and len(district(inc.province, inc.district).towns) > 1
        ):
            key_fix_done = True  # v1 named the wrong town; v2 moves the report
            wrong = [t for t in district(inc.province, inc.district).towns if t != inc.location]
            body = _news_body(inc, sid, 1, when - timedelta(hours=6), final_killed, inc.injured)
            body["location"] = wrong[0]
            records.pop()
            emit(body)
            emit(_news_body(inc, sid, 2, when, final_killed, inc.injured))

    # Retracted stories that no other source confirms: they must not count.
    for n, (day, prov, dist, loc, sub, last) in enumerate([
        ("2024-01-18", KP, "Peshawar", "Hayatabad", "ied", 2),
        ("2024-03-09", BALOCHISTAN, "Quetta", "Sariab", "grenade", 3),
    ]):  # fmt: skip
        ghost = Incident(date.fromisoformat(day), prov, dist, loc, "terror_attack", sub,
                         target="civilians", hour=19)  # fmt: skip
        sid = f"NM-24-{8001 + n:04d}"
        when = _reported(rng, ghost, (1, 3))
        for v in range(1, last):
            emit(_news_body(ghost, sid, v, when, [v, 0, 0, 0], [2 * v, 0, 0, 0]))
            when += timedelta(hours=6)
        body = _news_body(ghost, sid, last, when, [0, 0, 0, 0], [0, 0, 0, 0])
        body["retracted"] = True
        body["notes"] = "SYNTHETIC sample report. Retracted: a gas cylinder exploded; no attack."
        emit(body)
        counts["retractions"] += 1

    records.sort(key=lambda r: r[0])
    lines = [line for _, line in records]
    counts.update(_version_counts([json.loads(line) for line in lines]))
    counts["valid_lines"] = len(lines)
    # Exact re-sends: a few lines delivered again later.
    for src in (10, 60, 150):
        lines.insert(src + 25, lines[src])
    counts["resends"] = 3
    lines[40:40] = _malformed_news()
    counts["malformed"] = 4
    return lines, counts


def _version_counts(bodies: list[dict[str, Any]]) -> dict[str, int]:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        by_id.setdefault(body["source_event_id"], []).append(body)
    upward = 0
    for versions in by_id.values():
        versions.sort(key=lambda b: b["version"])
        last = versions[-1]
        if not last.get("retracted") and any(
            sum(b["killed"].values()) < sum(last["killed"].values()) for b in versions
        ):
            upward += 1
    return {
        "reports": len(by_id),
        "versions": len(bodies),
        "reports_with_several_versions": sum(len(v) > 1 for v in by_id.values()),
        "upward_killed_revisions": upward,
    }


def _malformed_news() -> list[str]:
    base: dict[str, Any] = {
        "source": NEWS_SOURCE, "version": 1, "reported_at": "2024-02-20T10:00:00+05:00",
        "occurred_on": "2024-02-19", "province": KP, "district": "Bannu", "location": "Bannu",
        "category": "terror_attack", "subtype": "ied",
        "killed": _casualties([1, 0, 0, 0]), "injured": _casualties([2, 0, 0, 0]),
        "notes": "SYNTHETIC sample report. Malformed on purpose.",
    }  # fmt: skip
    typo = {**base, "source_event_id": "NM-24-9002", "province": "Khyber Pakhtun"}
    negative = {**base, "source_event_id": "NM-24-9003", "killed": _casualties([-2, 0, 0, 0])}
    no_category = {**base, "source_event_id": "NM-24-9004"}
    del no_category["category"]
    broken = json.dumps({**base, "source_event_id": "NM-24-9001"})[:120]  # cut mid-line
    return [broken, json.dumps(typo), json.dumps(negative), json.dumps(no_category)]


def _acled_kind(inc: Incident) -> tuple[str, str, str, str]:
    """ACLED's event type, sub-event type, actor1 and actor2 for an incident."""
    actor1, actor2 = ACLED_ACTORS[inc.actor], ACLED_ACTORS[inc.target]
    if inc.category == "security_operation":
        return "Battles", "Armed clash", actor1, actor2
    explosions = {"suicide_attack": "Suicide bomb", "ied": "Remote explosive/landmine/IED",
                  "sabotage": "Remote explosive/landmine/IED", "grenade": "Grenade",
                  "rocket_attack": "Shelling/artillery/missile attack"}  # fmt: skip
    if inc.subtype in explosions:
        return "Explosions/Remote violence", explosions[inc.subtype], actor1, actor2
    if inc.subtype == "kidnapping":
        return "Violence against civilians", "Abduction/forced disappearance", actor1, actor2
    if inc.target in ("civilians", "polio team"):
        return "Violence against civilians", "Attack", actor1, actor2
    return "Battles", "Armed clash", actor1, actor2


def render_acled(rng: random.Random, truth: list[Incident]) -> tuple[str, dict[str, int]]:
    """Return the ACLED export (CSV text) and its delivery counts."""
    rows: list[dict[str, str]] = []
    ids = rng.sample(range(30000, 39999), len(truth) + 1)
    for inc, number in zip(truth, ids, strict=False):
        if inc.mode == "news":
            continue
        event_type, sub_event_type, actor1, actor2 = _acled_kind(inc)
        d = district(inc.province, inc.district)
        long_form = inc.acled_extra.get("date_form") == "long"
        stamp = datetime.combine(inc.day, time(rng.randrange(24)), UTC) + timedelta(
            days=rng.randint(4, 12)
        )
        fatalities = sum(inc.killed)
        row = {
            "event_id_cnty": f"PAK{number}",
            "event_date": f"{inc.day.day} {inc.day:%B %Y}" if long_form else inc.day.isoformat(),
            "year": "2024",
            "time_precision": "1",
            "disorder_type": "Political violence",
            "event_type": event_type,
            "sub_event_type": sub_event_type,
            "actor1": actor1,
            "actor2": actor2,
            "iso": "586",
            "country": "Pakistan",
            "admin1": inc.acled_extra.get("admin1", inc.province),
            "admin2": inc.acled_extra.get("admin2", inc.district),
            "admin3": "",
            "location": inc.acled_extra.get("location", inc.location),
            "latitude": f"{d.lat + rng.uniform(-0.05, 0.05):.4f}",
            "longitude": f"{d.lon + rng.uniform(-0.05, 0.05):.4f}",
            "geo_precision": str(rng.choice((1, 1, 2))),
            "source": "; ".join(sorted(rng.sample(ACLED_SOURCES, rng.randint(1, 2)))),
            "notes": _acled_notes(inc, fatalities),
            "fatalities": str(fatalities),
            "timestamp": str(int(stamp.timestamp())),
        }
        if inc.acled_earlier is not None:  # the first export undercounted
            first = {**row, "fatalities": str(inc.acled_earlier)}
            early = datetime.combine(inc.day, time(rng.randrange(24)), UTC)
            first["timestamp"] = str(int((early + timedelta(days=rng.randint(1, 3))).timestamp()))
            first["notes"] = _acled_notes(inc, inc.acled_earlier)
            rows.append(first)
        rows.append(row)
    bad = {**rows[5], "event_id_cnty": f"PAK{ids[-1]}", "event_date": "31st Febuary 2024",
           "notes": "SYNTHETIC. Malformed on purpose: the date cannot be parsed."}  # fmt: skip
    rows.append(bad)
    rows.append(dict(rows[12]))  # an exact re-send
    rows.sort(key=lambda r: (-_row_day(r).toordinal(), r["event_id_cnty"], r["timestamp"]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ACLED_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    counts = {
        "rows": len(rows),
        "events": len({r["event_id_cnty"] for r in rows}) - 1,  # less the malformed row
        "revised_events": sum(i.acled_earlier is not None for i in truth),
        "resends": 1,
        "malformed": 1,
    }
    return out.getvalue(), counts


def _acled_notes(inc: Incident, fatalities: int) -> str:
    what = inc.headline or _headline(inc)
    count = f"{fatalities} fatalit{'y' if fatalities == 1 else 'ies'}"
    return f"SYNTHETIC. On {inc.day.day} {inc.day:%B %Y}, {what[0].lower()}{what[1:]}. {count}."


def _row_day(row: dict[str, str]) -> date:
    for fmt in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(row["event_date"], fmt).date()
        except ValueError:
            continue
    return date(2024, 2, 29)  # the malformed row sorts at the end of February


def _zero() -> dict[str, Any]:
    return {
        "incidents": 0,
        "terror_attack": 0,
        "security_operation": 0,
        "killed": dict.fromkeys((*GROUPS, "total"), 0),
        "injured": dict.fromkeys((*GROUPS, "total"), 0),
    }


def _add(agg: dict[str, Any], inc: Incident) -> None:
    agg["incidents"] += 1
    agg[inc.category] += 1
    for name, split in (("killed", inc.killed), ("injured", inc.injured)):
        for g, n in zip(GROUPS, split, strict=True):
            agg[name][g] += n
        agg[name]["total"] += sum(split)


def expected(truth: list[Incident], news: dict[str, int], acled: dict[str, int],
             news_lines: int) -> dict[str, Any]:  # fmt: skip
    """The totals the truth adds up to, and what the feeds contain."""
    national = _zero()
    by_province = {p: _zero() for p in PROVINCES}
    by_month = {m: _zero() for m in MONTHS}
    by_category = {c: _zero() for c in CATEGORIES}
    for inc in truth:
        for agg in (national, by_province[inc.province], by_month[f"{inc.day:%Y-%m}"],
                    by_category[inc.category]):  # fmt: skip
            _add(agg, inc)
    modes = [i.mode for i in truth]
    return {
        "description": "SYNTHETIC Q1 2024 sample; unique-incident totals calibrated to CRSS.",
        "seed": SEED,
        "crss_q1_2024": CRSS_Q1_2024,
        "national": national,
        "by_province": by_province,
        "by_month": by_month,
        "by_category": by_category,
        "incidents": {
            "total": len(truth),
            "news_only": modes.count("news"),
            "acled_only": modes.count("acled"),
            "both_feeds": modes.count("both") + modes.count("acled_higher"),
            "both_feeds_acled_killed_higher": modes.count("acled_higher"),
            "retracted_in_news_kept_by_acled": modes.count("acled_after_retraction"),
            "retracted_and_absent": 2,
        },
        "feeds": {
            "news": {
                "lines": news_lines,
                "valid_lines": news["valid_lines"] + news["resends"],
                "resends": news["resends"],
                "retractions": news["retractions"],
                "restored_after_retraction": news["restored"],
                "reports": news["reports"],
                "versions": news["versions"],
                "reports_with_several_versions": news["reports_with_several_versions"],
                "upward_killed_revisions": news["upward_killed_revisions"],
                "malformed": news["malformed"],
            },
            "acled": {
                "rows": acled["rows"],
                "valid_rows": acled["rows"] - acled["malformed"],
                "events": acled["events"],
                "resends": acled["resends"],
                "revised_events": acled["revised_events"],
                "malformed": acled["malformed"],
            },
        },
    }


def generate(out_dir: Path = SAMPLE_DIR) -> None:
    """Write news.jsonl, acled.csv and expected.json into ``out_dir``."""
    rng = random.Random(SEED)
    truth = build_truth(rng)
    _plan_deliveries(rng, truth)
    news_lines, news_counts = render_news(rng, truth)
    acled_text, acled_counts = render_acled(rng, truth)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "news.jsonl").write_text("\n".join(news_lines) + "\n", encoding="utf-8")
    (out_dir / "acled.csv").write_text(acled_text, encoding="utf-8")
    exp = expected(truth, news_counts, acled_counts, len(news_lines))
    (out_dir / "expected.json").write_text(json.dumps(exp, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR)
