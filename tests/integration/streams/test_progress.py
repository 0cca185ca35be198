"""Settled input: a mark is reached only once its data went through the workers and the sink."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from incidents_config.names import Topics, worker_name
from incidents_ops import processes
from incidents_ops.progress import PipelineProbe
from tests.integration.streams.conftest import Pipeline, random_reports
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_mark_waits_for_every_stage_then_is_reached(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory()
    p.up()
    p.wait()  # the topics exist and both groups have joined
    probe = PipelineProbe(p.settings)
    try:
        empty = probe.mark()
        assert probe.reached({empty}) == {empty}  # nothing was in Kafka: settled at once

        processes.stop(p.settings.paths, worker_name(1))
        p.publish(random_reports(seed=3, n_events=40))
        waiting = probe.mark()
        assert probe.reached({waiting}) == set()  # no worker: still in the raw topic
        assert probe.reached({waiting}) == set()

        p.up()  # the worker comes back and the data flows to the warehouse
        wait_for("the mark to be reached", lambda: probe.reached({waiting}) == {waiting})
        left = p.read_progress(p.settings.sink.group_id, Topics.of(p.settings).snapshots)
        assert left[0] == left[1] > 0  # the sink had committed every snapshot by then
    finally:
        probe.close()
