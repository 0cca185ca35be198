"""A district-day that would outgrow its size limit: the excess is dead-lettered, never lost.

Faust sends a table value as one Kafka message; past about 2,000 incidents in one
district-day it would exceed Faust's 1,000,000-byte request limit. Here the limit is
lowered so that a few hundred incidents reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from incidents_ops import processes
from schemas.report import Casualties, Report
from tests.integration.streams.conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LIMIT = 40_000
N = 300


def test_a_full_district_day_dead_letters_the_excess_and_stays_consistent(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory(streams={"max_state_bytes": LIMIT})
    p.up()
    reports = [
        Report(
            source="flood",
            source_event_id=str(i),
            version=1,
            reported_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
            occurred_on=date(2024, 5, 1),
            province="Balochistan",
            district="Kech",
            location=f"village {i}",
            category="terror_attack",
            killed=Casualties(civilians=1),
        )
        for i in range(N)
    ]
    p.publish(list(reports))
    p.wait()

    stored = p.query("SELECT count(), sum(killed_total) FROM v_incidents")
    refused = p.query(
        "SELECT count(), any(reasons) FROM rejected_reports FINAL WHERE reason = 'state_limit'"
    )
    (incidents, killed), (letters, reason) = stored[0], refused[0]
    assert 0 < incidents < N and letters > 0
    assert incidents + letters == N  # every report is either counted or dead-lettered
    assert "STREAMS_MAX_STATE_BYTES=40000" in reason and "2024-05-01|Balochistan|Kech" in reason
    # The aggregate agrees with the incidents it holds.
    assert p.query("SELECT incidents, killed_total FROM v_district_day") == [(incidents, killed)]
    assert processes.info(p.settings.paths, "worker-1").running
    assert not (p.settings.paths.run_dir / "worker-1.crash").exists()
