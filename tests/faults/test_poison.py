"""Poison input: every bad message is dead-lettered with its reason, every good one counted.

10,000 bad messages of every kind a careless or hostile feed sends go straight to the raw
topic, interleaved with 10,000 valid reports (some dated at the contract's edges), on a
real broker, real Faust worker, real sink and embedded ClickHouse.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from incidents_config import metrics
from incidents_config.names import Topics
from incidents_ops import processes
from schemas.report import Casualties, Report
from tests import reference
from tests.integration.streams.conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.faults]

N_GOOD = 10_000
N_BAD = 10_000
MAX_MESSAGE = 12 * 1024 * 1024  # so that 10 MB payloads reach the stream
PLACES = [
    ("Khyber Pakhtunkhwa", "Bannu"),
    ("Khyber Pakhtunkhwa", "Lakki Marwat"),
    ("Khyber Pakhtunkhwa", None),
    ("Balochistan", "Quetta"),
    ("Balochistan", "Kech"),
    ("Sindh", "Karachi South"),
]
T0 = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)


def good_reports(n: int) -> list[Report]:
    rnd = random.Random(41)
    out = []
    for i in range(n):
        day = date(2024, 1, 1) + timedelta(days=rnd.randrange(0, 60))
        province, district = rnd.choice(PLACES)
        out.append(
            Report(
                source=rnd.choice(["news", "acled"]),
                source_event_id=f"g{i}",
                version=1,
                reported_at=T0 + timedelta(days=(day - date(2024, 1, 1)).days, hours=12),
                occurred_on=day,
                province=province,
                district=district,
                location=f"place {rnd.randrange(40)}",
                category=rnd.choice(["terror_attack", "security_operation"]),
                killed=Casualties(civilians=rnd.randrange(3), militants=rnd.randrange(3)),
                injured=Casualties(civilians=rnd.randrange(4)),
            )
        )
    # The contract's date edges: the warehouse must hold every date the contract accepts.
    for i, (day, at) in enumerate(
        [
            (date(1947, 8, 14), datetime(1947, 8, 14, 6, 0, tzinfo=UTC)),
            (date(1965, 9, 6), datetime(1965, 9, 7, 6, 0, tzinfo=UTC)),
            (date(2148, 3, 1), datetime(2148, 3, 1, 6, 0, tzinfo=UTC)),
            (date(2299, 1, 1), datetime(2298, 12, 31, 20, 0, tzinfo=UTC)),
        ]
    ):
        out[i] = out[i].model_copy(update={"occurred_on": day, "reported_at": at})
    return out


def good_json(r: Report) -> dict[str, object]:
    return json.loads(r.model_dump_json())


def bad_messages(n: int, template: dict[str, object]) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of n bad messages, cycling through every kind of poison."""

    def with_(**changes: object) -> bytes:
        return json.dumps({**template, **changes}).encode()

    kinds: list[Callable[[int], bytes]] = [
        lambda i: b"not json {" + str(i).encode(),
        lambda i: b'{"source": "\xff\xfe\xfd", "n": ' + str(i).encode() + b"}",
        lambda i: with_(source_event_id=f"b{i}", version="1"),  # wrong type
        lambda i: with_(source_event_id=f"b{i}", province="Atlantis", district=None),
        lambda i: with_(source_event_id=f"b{i}", killed={"civilians": -3}),
        lambda i: with_(source_event_id=f"b{i}", occurred_on="2031-01-01"),  # future
        lambda i: with_(source_event_id=f"b{i}", occurred_on="1947-08-13"),  # before Pakistan
        lambda i: b'{"source": "nul\x00l", "source_event_id": "' + str(i).encode() + b'"}',
        lambda i: with_(source_event_id=""),
        lambda i: with_(source_event_id=f"b{i}", killed="BIG").replace(
            b'"BIG"', b'{"civilians": ' + b"9" * 5000 + b"}"
        ),
        lambda i: b"\x00" * 64,
        lambda i: b"",
    ]
    out: list[tuple[bytes | None, bytes]] = []
    for i in range(n - 32):
        value = kinds[i % len(kinds)](i)
        out.append((f"bad:{i}".encode() if i % 2 else None, value))
    out += [(None, b"[" * 100_000)] * 10
    out += [(b"deep:obj", b'{"a":' * 100_000 + b"1" + b"}" * 100_000)] * 10
    out += [(b"big:1mb", with_(notes="x" * 1_048_576))] * 10  # over the notes limit
    out += [(None, b"z" * (10 * 1024 * 1024))] * 2
    assert len(out) == n
    return out


def test_a_poison_flood_loses_nothing_and_stops_nothing(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory(kafka={"max_message_bytes": MAX_MESSAGE})
    p.up()
    worker = processes.info(p.settings.paths, "worker-1")
    good = good_reports(N_GOOD)
    bad = bad_messages(N_BAD, good_json(good[-1]))
    rnd = random.Random(5)
    stream: list[tuple[bytes | None, bytes]] = [
        (r.report_id.encode(), r.model_dump_json().encode()) for r in good
    ] + bad
    rnd.shuffle(stream)
    p.publish_raw(stream)
    p.wait()

    # Every bad message is a dead letter with a reason; nothing else is.
    raw_topic = Topics(p.settings.kafka.topic_prefix).raw
    rejected = p.query(
        "SELECT count(), countIf(reasons = ''), max(raw_size), countIf(raw LIKE '%[truncated:%')"
        " FROM rejected_reports FINAL WHERE topic = {t:String}",
        {"t": raw_topic},
    )
    assert rejected == [(N_BAD, 0, 10 * 1024 * 1024, 2 + 10 + 20)]
    kinds = dict(
        p.query(
            "SELECT reason, count() FROM rejected_reports FINAL WHERE topic = {t:String}"
            " GROUP BY reason",
            {"t": raw_topic},
        )
    )
    assert set(kinds) == {"invalid_json", "contract"}, kinds
    nested = p.query("SELECT DISTINCT reasons FROM rejected_reports FINAL WHERE raw_size = 100000")
    assert nested and all("JSON" in r[0] for r in nested), nested

    # Every valid report is in the warehouse, and the aggregates are exact.
    assert p.query("SELECT count() FROM report_versions FINAL") == [(N_GOOD,)]
    assert p.district_days() == reference.district_day_totals(good)
    edges = p.query("SELECT min(day), max(day) FROM v_district_day")
    assert edges == [(date(1947, 8, 14), date(2299, 1, 1))]

    # No agent crashed or restarted: same worker process, no internal errors.
    assert processes.info(p.settings.paths, "worker-1").pid == worker.pid
    assert processes.info(p.settings.paths, "worker-1").running
    assert not (p.settings.paths.run_dir / "worker-1.crash").exists()
    samples = p.metrics("worker-1")
    assert metrics.total(samples, "incidents_agent_errors_total") == 0
    assert metrics.total(samples, "incidents_dead_letters_total", stage="validate") == N_BAD
    assert metrics.total(samples, "incidents_reports_accepted_total") == N_GOOD
