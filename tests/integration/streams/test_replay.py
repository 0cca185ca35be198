"""`incidents replay`: change the casualty rule, rebuild from the raw topic, switch.

While the replay runs the live pipeline keeps taking reports; after the switch the views
equal the independent recomputation under the new rule, for every report ever published.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from incidents_config.names import Ledger
from incidents_ops import processes, replay, stack
from sinks.clickhouse import connect
from tests import reference
from tests.integration.streams.conftest import Pipeline, deliveries, random_reports

pytestmark = pytest.mark.integration

BEFORE = random_reports(seed=11)
DURING = [
    r.model_copy(update={"source_event_id": f"late-{r.source_event_id}"})
    for r in random_reports(seed=12, n_events=40)
]


def test_a_new_casualty_rule_reaches_history_by_replay(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    p = pipeline_factory()
    p.up()
    p.publish(list(deliveries(BEFORE, seed=1)))
    p.wait()
    old = reference.district_day_totals(BEFORE, rule="max_total")
    new = reference.district_day_totals(BEFORE + DURING, rule="latest")
    assert old != reference.district_day_totals(BEFORE, rule="latest")  # the rule matters here
    assert p.district_days() == old
    arrivals = "SELECT report_id, version, fingerprint, published_at FROM report_versions FINAL"
    before_replay = set(p.query(arrivals))
    assert all(row[2] and row[3].year >= 2024 for row in before_replay)

    rule = p.settings.streams.model_copy(update={"casualty_rule": "latest"})
    settings = p.settings.model_copy(update={"streams": rule})
    seen: list[replay.Progress] = []
    publisher = threading.Timer(1.0, lambda: p.publish(list(DURING)))  # live keeps serving
    publisher.start()
    result = replay.replay(settings, stall_s=120, on_progress=seen.append, say=lambda _m: None)
    publisher.join()

    assert result.generation == 1 == Ledger(p.settings.paths).live()
    assert seen and seen[-1].done == seen[-1].total > 0  # progress reached the raw head
    p.wait()
    assert p.district_days() == new
    # The rebuilt report_versions keeps each version's fingerprint and first publication
    # (a worker carries the raw topic's timestamp along), so figures as of any moment
    # before the replay are what they were.
    assert before_replay <= set(p.query(arrivals))
    # The stack runs on the new generation: its workers, not the replay's, are running.
    names = stack.managed_names(p.settings)
    assert [n for n in names if processes.info(p.settings.paths, n).running] == [
        "worker-1",
        "sink",
    ]
    p.down()
    client = connect(p.settings)  # the folder is free once the sink has stopped
    try:
        tables = {r[0] for r in client.query("SHOW TABLES FROM incidents").result_rows}
    finally:
        client.close()
    assert {"agg_district_day", "incidents", "report_versions"} <= tables
    assert not any(t.endswith("_g1") for t in tables)  # the replaced data is gone
