"""Spelling variants of one place, from two feeds on the same day, are one incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from schemas.places import load_places
from schemas.report import Casualties, Report
from tests import reference
from tests.integration.streams.conftest import Pipeline

pytestmark = pytest.mark.integration

KP, BL = "Khyber Pakhtunkhwa", "Balochistan"
# (province, district, one feed's spelling, the other feed's spelling)
VARIANTS = [
    (KP, "North Waziristan", "Miranshah", "Miramshah"),
    (KP, "North Waziristan", "Mir Ali", "Mirali"),
    (KP, "Khyber", "Landi Kotal", "Landikotal"),
    (KP, "Kurram", "Parachinar", "Para Chinar"),
    (KP, "Lakki Marwat", "Serai Naurang", "Sarai Naurang"),
    (KP, "Lower South Waziristan", "Wana", "Wanna"),
    (BL, "Quetta", "Sariab", "Saryab"),
    (KP, "Bannu", "Jani Khel", "Janikhel"),
    (KP, "North Waziristan", "Spinwam", "Spin Wam"),
    (KP, "Dera Ismail Khan", "Dera Ismail Khan", "D.I.Khan"),
]
DAY = date(2024, 2, 12)


def _report(source: str, i: int, province: str, district: str, location: str, k: int) -> Report:
    return Report(
        source=source,
        source_event_id=f"{source}-{i}",
        version=1,
        reported_at=datetime(2024, 2, 13, 8, tzinfo=UTC),
        occurred_on=DAY,
        province=province,
        district=district,
        location=location,
        category="terror_attack",
        subtype="ied",
        killed=Casualties(civilians=k, security=1),
        injured=Casualties(civilians=2 * k),
    )


def test_variant_spellings_from_two_feeds_are_one_incident(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    places = load_places()
    expected = {}
    for province, district, a, b in VARIANTS:
        ra, rb = (places.resolve(t, province, district) for t in (a, b))
        assert ra.place is not None and ra.place_id == rb.place_id, (a, b, ra.detail, rb.detail)
        expected[(district, ra.place_id)] = ra.place

    reports = []
    for i, (province, district, a, b) in enumerate(VARIANTS):
        reports.append(_report("dawn", i, province, district, a, k=3 + i))
        reports.append(_report("acled", i, province, district, b, k=5))
    p = pipeline_factory()
    p.up()
    p.publish(list(reports))
    p.wait()

    rows = p.query(
        "SELECT district, place_id, place, place_latitude, place_longitude, killed_total,"
        " injured_total, length(report_ids) FROM v_incidents"
    )
    assert len(rows) == len(VARIANTS)  # not twice as many
    by_place = {(r[0], r[1]): r for r in rows}
    assert set(by_place) == set(expected)
    for key, place in expected.items():
        _, _, name, lat, lon, _, _, n_reports = by_place[key]
        assert (name, lat, lon, n_reports) == (place.name, place.lat, place.lon, 2)
    # The casualties are those of the report with the higher death toll (max_total),
    # exactly as the independent recomputation says.
    ref = reference.district_day_totals(reports)
    assert p.district_days() == ref
    # Each source's own spelling stays in the lineage.
    spellings = dict(p.query("SELECT report_id, location FROM report_versions FINAL"))
    assert spellings["dawn:dawn-0"] == "Miranshah" and spellings["acled:acled-0"] == "Miramshah"
