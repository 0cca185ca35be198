"""Hypothesis strategies shared by the test suites.

``valid_report_dicts()`` draws raw feed payloads that the contract accepts (aliases in any
case, timestamps in any offset, optional fields left out); ``valid_reports()`` draws the
:class:`~schemas.report.Report` objects they validate into.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.gazetteer import PAKISTAN_BBOX, District, Province, load_gazetteer
from schemas.report import (
    EARLIEST_DATE,
    LOCAL_TZ,
    MAX_NAME,
    MAX_PER_GROUP,
    Casualties,
    Category,
    DatePrecision,
    Report,
    Subtype,
    parse_report,
)

GROUPS = ("civilians", "security", "militants", "unknown")

offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(
    lambda quarters: timezone(timedelta(minutes=15 * quarters))
)
time_zones = st.one_of(st.just(UTC), st.just(LOCAL_TZ), offsets)


def spellings(name: str) -> st.SearchStrategy[str]:
    """Draw ways people write ``name``: any case, dots or extra spaces between words."""
    return st.sampled_from(
        [
            name,
            name.upper(),
            name.lower(),
            name.swapcase(),
            f"  {name} ",
            name.replace(" ", "."),
            name.replace(" ", "  "),
        ]
    )


@st.composite
def places(draw: st.DrawFn) -> tuple[Province, District | None]:
    """Draw a province and, sometimes, one of its districts."""
    province = draw(st.sampled_from(load_gazetteer().provinces))
    district = draw(st.none() | st.sampled_from(province.districts))
    return province, district


@st.composite
def casualties(draw: st.DrawFn) -> dict[str, int]:
    """Draw a casualty split with some groups left out."""
    groups = draw(st.lists(st.sampled_from(GROUPS), unique=True))
    return {g: draw(st.integers(min_value=0, max_value=MAX_PER_GROUP)) for g in groups}


def optional_text(max_size: int) -> st.SearchStrategy[str | None]:
    return st.none() | st.text(max_size=max_size)


urls = st.from_regex(
    r"https?://[a-z]{1,12}\.(pk|com|org)(/[A-Za-z0-9_-]{1,12}){0,3}", fullmatch=True
)


@st.composite
def occurred_on_values(draw: st.DrawFn, reported_at: datetime) -> str:
    """Draw an allowed occurred_on, as a plain date or a timestamp in any offset."""
    # Through UTC: a drawn wall time inside a DST jump in Asia/Karachi itself is not
    # converted by astimezone(LOCAL_TZ), but the contract reads its real instant.
    local = reported_at.astimezone(UTC).astimezone(LOCAL_TZ).date()
    day = max(EARLIEST_DATE, local + timedelta(days=draw(st.integers(-3650, 1))))
    if draw(st.booleans()):
        return day.isoformat()
    moment = datetime.combine(day, draw(st.times()), tzinfo=LOCAL_TZ)
    if moment.astimezone(UTC).astimezone(LOCAL_TZ).date() != day:
        # A wall time inside a DST jump (Pakistan had DST in 2002, 2008 and 2009) names
        # no real instant; it lands on another local date, so send the plain date instead.
        return day.isoformat()
    return moment.astimezone(draw(time_zones)).isoformat()


@st.composite
def valid_report_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a raw report payload (JSON-ready dict) that the contract accepts."""
    reported_at = draw(
        st.datetimes(
            min_value=datetime(1990, 1, 1),
            max_value=datetime(2035, 12, 31),
            timezones=time_zones,
        )
    )
    province, district = draw(places())
    raw: dict[str, Any] = {
        "source": draw(st.from_regex(r"[a-z][a-z0-9_.-]{0,15}", fullmatch=True)),
        "source_event_id": draw(st.text(min_size=1, max_size=40).map(str.strip).filter(bool)),
        "version": draw(st.integers(min_value=1, max_value=2**31 - 1)),
        "reported_at": reported_at.isoformat(),
        "occurred_on": draw(occurred_on_values(reported_at)),
        "category": draw(st.sampled_from(Category)).value,
    }
    names = [province.name, *province.aliases]
    if district is None or draw(st.booleans()):
        raw["province"] = draw(st.sampled_from(names).flatmap(spellings))
    if district is not None:
        raw["district"] = draw(
            st.sampled_from([district.name, *district.aliases]).flatmap(spellings)
        )
    if draw(st.booleans()):
        box = province.bbox
        raw["latitude"] = draw(
            st.floats(
                max(box.min_lat, PAKISTAN_BBOX.min_lat), min(box.max_lat, PAKISTAN_BBOX.max_lat)
            )
        )
        raw["longitude"] = draw(
            st.floats(
                max(box.min_lon, PAKISTAN_BBOX.min_lon), min(box.max_lon, PAKISTAN_BBOX.max_lon)
            )
        )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "schema_version": st.just(1),
        "retracted": st.booleans(),
        "date_precision": st.sampled_from(DatePrecision).map(str),
        "subtype": st.sampled_from(Subtype).map(str),
        "killed": casualties(),
        "injured": casualties(),
        "location": optional_text(MAX_NAME),
        "perpetrator": optional_text(MAX_NAME),
        "target": optional_text(MAX_NAME),
        "notes": optional_text(500),
        "url": st.none() | urls,
    }
    for field in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        raw[field] = draw(optional[field])
    return raw


def valid_reports() -> st.SearchStrategy[Report]:
    """Draw valid :class:`Report` objects (validated from :func:`valid_report_dicts`)."""
    return valid_report_dicts().map(parse_report)


# --- small feeds whose reports compete: few ids, versions, places and days ---------

PLACES = [
    ("Khyber Pakhtunkhwa", "Bannu"),
    ("Khyber Pakhtunkhwa", "North Waziristan"),
    ("Khyber Pakhtunkhwa", None),
    ("Balochistan", "Quetta"),
]
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def make_report(
    source: str = "news",
    event: str = "1",
    version: int = 1,
    *,
    day: int = 1,
    place: int = 0,
    category: str = "terror_attack",
    location: str | None = None,
    killed: tuple[int, int, int, int] = (0, 0, 0, 0),
    injured: tuple[int, int, int, int] = (0, 0, 0, 0),
    retracted: bool = False,
    hours: int = 0,
) -> Report:
    province, district = PLACES[place]
    return Report(
        source=source,
        source_event_id=event,
        version=version,
        reported_at=T0 + timedelta(days=day, hours=hours),
        retracted=retracted,
        occurred_on=date(2024, 3, day),
        province=province,
        district=district,
        location=location,
        category=category,
        subtype="ied" if category == "terror_attack" else "clash",
        killed=Casualties(
            civilians=killed[0], security=killed[1], militants=killed[2], unknown=killed[3]
        ),
        injured=Casualties(
            civilians=injured[0], security=injured[1], militants=injured[2], unknown=injured[3]
        ),
    )


report_specs = st.builds(
    make_report,
    source=st.sampled_from(["news", "acled", "dawn"]),
    event=st.sampled_from(["1", "2", "3", "4"]),
    version=st.integers(1, 3),
    day=st.integers(1, 3),
    place=st.integers(0, len(PLACES) - 1),
    category=st.sampled_from(["terror_attack", "security_operation"]),
    location=st.sampled_from([None, "Mir Ali", "mir-ali", "Bannu"]),
    killed=st.tuples(*[st.integers(0, 4)] * 4),
    injured=st.tuples(*[st.integers(0, 4)] * 4),
    retracted=st.booleans(),
    hours=st.integers(0, 5),
)
