"""Poison on the stream's own topics: `reports.rekeyed` and the bundles of `incidents.updates`.

Only our agents write there, but a broken producer or a hand-typed message can too. Each
bad message must become one dead letter with its stage, the good reports around it must
be counted exactly, and the worker must keep going.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka import KafkaProducer

from incidents_config.names import Topics
from incidents_ops import processes
from tests import reference
from tests.integration.streams.conftest import Pipeline, random_reports

pytestmark = [pytest.mark.integration, pytest.mark.faults]

GOOD = random_reports(seed=21, n_events=60)
DEEP = b"[" * 100_000 + b"]" * 100_000
POISON = [
    DEEP,
    b"\x00\xff\xfe binary \x81",
    b'{"memberships": [], "origins": [["t", 0, 1]]}',  # an origin without its membership
    b'{"memberships": "no"}',
]


def test_poison_on_internal_topics_is_dead_lettered_and_the_neighbours_counted(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    p = pipeline_factory(partitions=2)
    p.up()
    names = Topics.of(p.settings)
    half = len(GOOD) // 2
    p.publish(list(GOOD[:half]))
    producer = KafkaProducer(**p.settings.kafka.client_kwargs(), acks="all")
    try:
        for value in POISON:
            for partition in (0, 1):  # every partition of each topic gets every kind
                producer.send(names.updates, value=value, partition=partition)
                producer.send(names.rekeyed, key=b"x:1", value=value, partition=partition)
        producer.flush(timeout=60)
    finally:
        producer.close()
    p.publish(list(GOOD[half:]))
    p.wait()

    assert p.district_days() == reference.district_day_totals(GOOD)
    letters = p.query(
        "SELECT stage, reason, count() FROM rejected_reports FINAL"
        " WHERE topic IN {t:Array(String)} GROUP BY stage, reason ORDER BY stage, reason",
        {"t": [names.updates, names.rekeyed]},
    )
    n = len(POISON) * 2
    assert sum(c for _, _, c in letters) == 2 * n, letters  # one per message, none lost
    assert {(s, r) for s, r, _ in letters} == {
        ("rollup", "internal"),
        ("validate", "invalid_json"),
        ("validate", "contract"),
    }
    assert processes.info(p.settings.paths, "worker-1").running
    assert not (p.settings.paths.run_dir / "worker-1.crash").exists()
