"""The invariant, end to end: broker -> Faust workers -> sink -> ClickHouse.

Each test compares what an analyst reads in the warehouse with the independent
recomputation in tests/reference.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from incidents_config.names import Generation, Topics
from incidents_ops import processes
from schemas.report import Casualties, Report
from tests import reference
from tests.integration.streams.conftest import Pipeline, deliveries, random_reports

pytestmark = pytest.mark.integration

REPORTS = random_reports(seed=7)
EXPECTED = reference.district_day_totals(REPORTS)


def test_reference_data_exercises_the_semantics() -> None:
    latest = reference.latest_versions(REPORTS)
    assert len(REPORTS) > len(latest) > 0  # revisions exist
    assert any(r.retracted for r in latest.values())
    assert any(len(i.reports) > 1 for i in reference.incidents(REPORTS))  # merges exist
    assert len(EXPECTED) > 20


@pytest.mark.parametrize(("workers", "partitions", "seed"), [(1, 4, 1), (2, 4, 2), (1, 1, 3)])
def test_any_order_any_duplicates_any_worker_count_gives_the_reference(
    pipeline_factory: Callable[..., Pipeline],
    kafka_broker: str,
    workers: int,
    partitions: int,
    seed: int,
) -> None:
    p = pipeline_factory(partitions=partitions)
    p.up(workers=workers)
    p.publish(list(deliveries(REPORTS, seed)))
    p.wait()
    assert p.group_members(Generation.of(p.settings).app) == workers  # the work really was shared
    assert p.district_days() == EXPECTED
    incidents = p.query("SELECT count(), sum(killed_total) FROM incidents FINAL")
    ref = reference.incidents(REPORTS)
    assert incidents == [(len(ref), sum(sum(i.killed.values()) for i in ref))]


def test_dead_letters_keep_reason_and_bytes_and_the_worker_goes_on(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    p = pipeline_factory()
    p.up()
    good = REPORTS[0]
    p.publish([b"not json at all", b'{"source": "x"}'], key=b"bad")
    p.publish([good])
    p.wait()
    rows = sorted(p.query("SELECT raw, reasons, topic FROM rejected_reports FINAL"))
    assert [r[0] for r in rows] == ["not json at all", '{"source": "x"}']
    assert "not valid JSON" in rows[0][1]
    assert "source_event_id" in rows[1][1]  # names the missing field
    assert all(r[2] == Topics(p.settings.kafka.topic_prefix).raw for r in rows)
    assert p.query("SELECT count() FROM report_versions FINAL") == [(1,)]


def test_late_report_and_revision_update_a_past_quarter(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    p = pipeline_factory()
    p.up()
    q1 = Report.model_validate(
        {
            "source": "news",
            "source_event_id": "late-1",
            "version": 1,
            "reported_at": "2024-02-10T09:00:00+05:00",
            "occurred_on": "2024-02-10",
            "province": "Balochistan",
            "district": "Quetta",
            "category": "terror_attack",
            "subtype": "ied",
            "killed": {"civilians": 2},
        }
    )
    p.publish([q1])
    p.wait()
    quarter = (
        "SELECT killed_total FROM v_province_quarter "
        "WHERE quarter = {q:Date} AND province = {p:String}"
    )
    args = {"q": date(2024, 1, 1), "p": "Balochistan"}
    assert p.query(quarter, args) == [(2,)]
    # A revision sent in Q3 raises the toll, and a Q1 incident first reported in Q3 arrives.
    revised = q1.model_copy(update={"version": 2, "killed": Casualties(civilians=5)})
    late = q1.model_copy(
        update={"source_event_id": "late-2", "location": "Sariab", "killed": Casualties(security=3)}
    )
    p.publish(
        [
            revised.model_copy(update={"reported_at": q1.reported_at.replace(month=8)}),
            late.model_copy(update={"reported_at": q1.reported_at.replace(month=9)}),
        ]
    )
    p.wait()
    assert p.query(quarter, args) == [(8,)]


def test_sigkill_of_worker_and_sink_mid_stream_loses_nothing_and_counts_nothing_twice(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    reports = random_reports(seed=5, n_events=2500)
    expected = reference.district_day_totals(reports)
    p = pipeline_factory(sink_flush_s=1.0)  # the sink lags behind long enough to be caught
    kafka = p.settings.kafka
    p.up()
    p.publish(list(deliveries(reports, seed=11)))

    done, total = p.wait_mid_stream(Generation.of(p.settings).app, Topics(kafka.topic_prefix).raw)
    processes.kill(p.settings.paths, "worker-1")
    assert 0 < done < total  # the worker died with work committed and work left
    p.up()  # a new worker recovers its tables from the changelog topics

    done, total = p.wait_mid_stream(p.settings.sink.group_id, Topics(kafka.topic_prefix).snapshots)
    processes.kill(p.settings.paths, "sink")
    assert 0 < done < total
    p.up()

    p.wait()
    assert p.district_days() == expected


def test_reports_keyed_otherwise_or_not_at_all_are_rekeyed_and_counted_once(
    pipeline_factory: Callable[..., Pipeline], kafka_broker: str
) -> None:
    """A producer that does not key by report id must not split a report's state."""
    p = pipeline_factory(partitions=4)
    p.up()
    shuffled = deliveries(REPORTS, seed=5)
    keys = [None, b"whatever", b"x:y"]  # none of them a report id
    messages = [(keys[i % 3], r.model_dump_json().encode()) for i, r in enumerate(shuffled)]
    p.publish_raw(messages)
    p.wait()
    assert p.district_days() == EXPECTED
    rekeyed = p.read_progress(
        Generation.of(p.settings).app, Topics(p.settings.kafka.topic_prefix).rekeyed
    )
    assert rekeyed == (len(messages), len(messages))  # every one went round once, and was read
