"""Sink outage: ClickHouse writes fail for a while; the sink backs off, commits nothing it
has not written, and the warehouse is exact once writes work again."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from incidents_config.names import Topics
from incidents_config.settings import child_env
from incidents_ops import health, processes
from incidents_ops.stack import SINK
from tests import reference
from tests.integration.streams.conftest import Pipeline, deliveries, random_reports
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FLAKY_SINK = Path(__file__).with_name("flaky_sink.py")


def test_a_clickhouse_outage_delays_the_sink_and_loses_nothing(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    reports = random_reports(seed=23, n_events=300)
    p = pipeline_factory()
    p.up()
    outage = tmp_path / "outage"
    outage.touch()
    processes.stop(p.settings.paths, SINK)
    env = {**child_env(p.settings), "FAULT_SINK_OUTAGE_FILE": str(outage)}
    processes.start(p.settings.paths, SINK, [sys.executable, str(FLAKY_SINK)], env=env)

    p.publish(list(deliveries(reports, seed=4)))
    sink_group, snapshots = (
        p.settings.sink.group_id,
        Topics(p.settings.kafka.topic_prefix).snapshots,
    )

    def failing() -> bool:
        samples = health.scrape(p.settings, SINK)
        return samples is not None and health.sink_health(samples).failures >= 3

    wait_for("the sink to fail its writes a few times", failing)
    wait_for("snapshots to be published", lambda: p.read_progress(sink_group, snapshots)[1] > 0)
    samples = health.scrape(p.settings, SINK)
    assert samples is not None and health.sink_health(samples).retrying
    committed, published = p.read_progress(sink_group, snapshots)
    assert committed == 0 < published  # nothing it has not written is committed
    assert p.query("SELECT count() FROM agg_district_day") == [(0,)]

    outage.unlink()
    p.wait()
    assert p.district_days() == reference.district_day_totals(reports)
    samples = health.scrape(p.settings, SINK)
    assert samples is not None and not health.sink_health(samples).retrying
    assert processes.info(p.settings.paths, SINK).running
