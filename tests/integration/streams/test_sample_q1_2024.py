"""The bundled Q1 2024 feeds, through the whole pipeline, give CRSS's published figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import pytest

from producers.acled import publish_acled
from producers.jsonl import publish_jsonl
from producers.samples.q1_2024 import ACLED_FILE, EXPECTED_FILE, NEWS_FILE
from tests.integration.streams.conftest import Pipeline

pytestmark = pytest.mark.integration

Q1 = {"q": date(2024, 1, 1)}


def test_sample_reproduces_the_published_quarter(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    p = pipeline_factory()
    p.up()
    news = publish_jsonl(NEWS_FILE, p.settings, validate=False)  # malformed lines -> dead letters
    acled = publish_acled(ACLED_FILE, p.settings)
    assert news.failed == acled.failed == 0
    p.wait()

    national = p.query(
        "SELECT incidents, killed_total, injured_total, killed_civilians + killed_security "
        "FROM v_national_quarter WHERE quarter = {q:Date}",
        Q1,
    )
    assert national == [(245, 432, 370, 281)]

    shares = dict(
        p.query(
            "SELECT province, round(fatality_share_pct) FROM v_province_quarter "
            "WHERE quarter = {q:Date}",
            Q1,
        )
    )
    assert shares["Khyber Pakhtunkhwa"] == 51
    assert shares["Balochistan"] == 41

    expected = json.loads(EXPECTED_FILE.read_text())["by_province"]
    rows = p.query(
        "SELECT province, incidents, terror_attacks, security_operations, "
        "killed_civilians, killed_security, killed_militants, killed_unknown, injured_total "
        "FROM v_province_quarter WHERE quarter = {q:Date}",
        Q1,
    )
    assert {r[0]: r[1:] for r in rows} == {
        name: (
            e["incidents"],
            e["terror_attack"],
            e["security_operation"],
            e["killed"]["civilians"],
            e["killed"]["security"],
            e["killed"]["militants"],
            e["killed"]["unknown"],
            e["injured"]["total"],
        )
        for name, e in expected.items()
        if e["incidents"]
    }

    # Every incident is explained by report versions in the warehouse (lineage).
    orphans = p.query(
        "SELECT count() FROM incidents FINAL ARRAY JOIN report_ids AS rid "
        "WHERE NOT is_deleted AND rid NOT IN (SELECT report_id FROM report_versions)"
    )
    assert orphans == [(0,)]
    # The malformed news lines are kept with their reasons.
    dead = p.query("SELECT count() FROM rejected_reports FINAL WHERE rejected_by = 'pipeline'")
    assert dead == [(4,)]
