"""Two deadly weeks on realistic series, for the fatality rule's tests and bench.alert_noise:
a district and a province of Khyber Pakhtunkhwa with ordinary tolls, then a deadly week
(the two surges docs/alerting.md describes: 52 killed where about 1.5 were expected, 63
where about 8 were).

Ordinary tolls follow the Q1 2024 sample (producers/samples/q1_2024): 44% of its incidents
killed no one, most of the others 1-5; ``ORDINARY`` is a 25-incident cycle of that shape.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from incidents_alerting.evaluate import Area, Day

START = date(2024, 1, 1)
WINDOW_END = date(2024, 10, 31)  # the deadly week is the 7 days ending here
PROVINCE = "Khyber Pakhtunkhwa"
DISTRICT = Area(PROVINCE, "Lakki Marwat")
ORDINARY = [0, 1, 0, 2, 0, 3, 0, 1, 4, 0, 2, 0, 3, 1, 0, 5, 0, 2, 0, 3, 1, 0, 4, 0, 6]
# 52 killed in 11 incidents, none of them a mass-casualty attack (each under 10)
DEADLY_WEEK = [3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 1]
# 63 killed in 14 incidents over a province
DEADLY_PROVINCE_WEEK = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5, 3, 2]

Series = dict[date, Day]


def series_of(incidents: Iterable[tuple[date, int]]) -> Series:
    """Days from (day, killed) pairs, one pair an incident."""
    tolls: dict[date, list[int]] = defaultdict(list)
    for day, killed in incidents:
        tolls[day].append(killed)
    return {day: Day.of(t) for day, t in tolls.items()}


def combined(*parts: Mapping[date, Day]) -> Series:
    return series_of((day, t) for part in parts for day, v in part.items() for t in v.tolls)


def ordinary(every: int, offset: int = 0, shift: int = 0, until: date = WINDOW_END) -> Series:
    """An incident every `every` days from START + offset until the window's first day
    (excluded), with ORDINARY tolls from position `shift`."""
    first_window_day = until - timedelta(days=6)
    days = range(offset, (first_window_day - START).days, every)
    return series_of(
        (START + timedelta(days=d), ORDINARY[(shift + i) % len(ORDINARY)])
        for i, d in enumerate(days)
    )


def week(tolls: list[int], end: date = WINDOW_END) -> Series:
    """`tolls` spread over the 7 days ending on `end`."""
    return series_of((end - timedelta(days=i % 7), t) for i, t in enumerate(tolls))


def district_history() -> Series:
    """Lakki Marwat: an incident a week, ordinary tolls (about 1.5 killed a week)."""
    return ordinary(every=7)


def province_history() -> Series:
    """The rest of the province: 14 districts, one incident every 21 days each (0.67 a day
    in all), ordinary tolls, and a mass-casualty attack (12 killed) every 60 days."""
    parts = [ordinary(every=21, offset=2 * i + 1, shift=3 * i) for i in range(14)]
    attacks = series_of(
        (START + timedelta(days=d), 12) for d in range(30, (WINDOW_END - START).days - 7, 60)
    )
    return combined(*parts, attacks)


def nation_history(province: Series) -> Series:
    """The province and three provinces like it."""
    others = [ordinary(every=25, offset=2 * i, shift=5 * i + 1) for i in range(3 * 14)]
    return combined(province, *others)


def district_case() -> tuple[Area, Series, list[Series]]:
    """Lakki Marwat's ordinary history, then 52 killed in a week: the area, its series and
    its parents (its province, the nation)."""
    district = combined(district_history(), week(DEADLY_WEEK))
    province = combined(district, province_history())
    return DISTRICT, district, [province, nation_history(province)]


def province_case() -> tuple[Area, Series, list[Series]]:
    """Khyber Pakhtunkhwa's ordinary history, then 63 killed in a week over the province."""
    province = combined(district_history(), province_history(), week(DEADLY_PROVINCE_WEEK))
    return Area(PROVINCE), province, [nation_history(province)]
