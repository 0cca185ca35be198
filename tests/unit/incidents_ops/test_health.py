"""incidents_ops.health: what `incidents status` makes of the sink's metrics."""

from __future__ import annotations

import time

from incidents_config.metrics import Sample
from incidents_ops.health import sink_health


def sink_samples(last_flush: float, heartbeat: float, retrying: float = 0.0) -> list[Sample]:
    return [
        ("incidents_sink_last_flush_timestamp_seconds", (), last_flush),
        ("incidents_sink_heartbeat_timestamp_seconds", (), heartbeat),
        ("incidents_sink_retrying", (), retrying),
        ("incidents_sink_batches_total", (), 3.0),
    ]


def test_an_idle_sink_with_a_fresh_heartbeat_is_not_stuck() -> None:
    now = time.time()
    health = sink_health(sink_samples(last_flush=now - 3600, heartbeat=now - 1))
    assert not health.stuck and not health.trouble
    assert "STUCK" not in health.describe()
    assert "last write 360" in health.describe()  # 3600 s (and the time to get here)


def test_a_sink_whose_heartbeat_stopped_is_stuck() -> None:
    now = time.time()
    health = sink_health(sink_samples(last_flush=now - 400, heartbeat=now - 300))
    assert health.stuck and health.trouble
    assert health.describe().startswith("STUCK: no poll cycle for 30")  # 300 s


def test_retrying_is_trouble_and_a_sink_without_a_heartbeat_is_not_judged() -> None:
    now = time.time()
    assert sink_health(sink_samples(now, now, retrying=1.0)).trouble
    older = [s for s in sink_samples(now, now) if "heartbeat" not in s[0]]  # an old sink
    assert not sink_health(older).stuck
