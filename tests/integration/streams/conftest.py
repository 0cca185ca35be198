"""A whole pipeline per test: real broker, real Faust workers, real sink and warehouse."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer

from incidents_config import metrics
from incidents_config.names import Generation, Topics
from incidents_config.settings import Settings
from incidents_ops import processes, stack
from incidents_ops.topics import describe_offsets, group_state
from schemas.report import Casualties, Report
from sinks.clickhouse import open_read_client
from tests.integration.streams.alerting import Receiver

AGG_COLUMNS = (
    "incidents, terror_attacks, security_operations, "
    "killed_civilians, killed_security, killed_militants, killed_unknown, killed_total, "
    "injured_civilians, injured_security, injured_militants, injured_unknown, injured_total"
)


class Pipeline:
    """Drive one isolated stack: publish reports, wait, read the warehouse, crash parts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def up(self, workers: int = 1) -> None:
        stack.up(self.settings, workers=workers, push=False, say=lambda _m: None)

    def down(self) -> None:
        stack.down(self.settings)

    def publish(self, reports: list[Report | bytes], *, key: bytes | None = None) -> None:
        producer = KafkaProducer(
            **self.settings.kafka.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            max_request_size=self.settings.kafka.max_message_bytes,
        )
        try:
            for r in reports:
                if isinstance(r, Report):
                    producer.send(
                        Topics(self.settings.kafka.topic_prefix).raw,
                        key=r.report_id.encode(),
                        value=r.model_dump_json().encode(),
                    )
                else:
                    producer.send(Topics(self.settings.kafka.topic_prefix).raw, key=key, value=r)
            producer.flush(timeout=60)
        finally:
            producer.close()

    def publish_raw(
        self, messages: list[tuple[bytes | None, bytes]], max_request_size: int | None = None
    ) -> None:
        """Produce (key, value) pairs to the raw topic exactly as given."""
        producer = KafkaProducer(
            **self.settings.kafka.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            max_request_size=max_request_size or self.settings.kafka.max_message_bytes,
        )
        try:
            for key, value in messages:
                producer.send(Topics(self.settings.kafka.topic_prefix).raw, key=key, value=value)
            producer.flush(timeout=120)
        finally:
            producer.close()

    def metrics(self, name: str) -> list[metrics.Sample]:
        """Scrape the /metrics of one of the stack's processes ("sink", "worker-1", ...)."""
        url = metrics.recorded_address(self.settings, name)
        assert url, f"{name} recorded no metrics address"
        return metrics.scrape(url)

    def wait(self, stall_s: float = 120.0) -> None:
        """Wait until everything published is in the warehouse; fail if progress stops."""
        if not stack.wait_caught_up(self.settings, stall_s):
            left = stack.progress(self.settings)
            g = Generation.of(self.settings)
            t = g.topics
            reads = {
                g.app: {t.raw, t.rekeyed, t.updates},
                g.sink_group: {t.valid, t.snapshots, t.dead_letter},
            }
            lagging = [
                f"{p.topic}[{p.partition}] end {p.end_offset} {group} {p.committed.get(group)}"
                for p in describe_offsets(
                    self.settings.kafka, list(reads), sorted(set().union(*reads.values()))
                )
                for group, topics in reads.items()
                if p.topic in topics and p.lag.get(group)
            ]
            names = ["sink"] + [f"worker-{n}" for n in range(1, 9)]
            logs = {
                n: processes.tail(log)
                for n in names
                if (log := processes.log_file(self.settings.paths, n)).exists()
            }
            pytest.fail(
                f"the pipeline made no progress for {stall_s} s with {left.lag} messages"
                f" left: {lagging}; logs: {logs}"
            )

    def group_members(self, group: str) -> int:
        """How many consumers are members of `group` right now."""
        return group_state(self.settings.kafka, group)[1]

    def read_progress(self, group: str, topic: str) -> tuple[int, int]:
        """(offsets committed by `group` on `topic`, messages in `topic`)."""
        parts = [p for p in describe_offsets(self.settings.kafka, [group], [topic])]
        committed = sum(p.committed.get(group) or 0 for p in parts)
        return committed, sum(p.end_offset for p in parts)

    def wait_mid_stream(self, group: str, topic: str, timeout_s: float = 60.0) -> tuple[int, int]:
        """Wait until `group` has committed part, but not all, of `topic`; return progress."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done, total = self.read_progress(group, topic)
            if 0 < done < total:
                return done, total
            time.sleep(0.05)
        pytest.fail(f"{group} never stood mid-way through {topic} (last: {done}/{total})")

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        client = open_read_client(self.settings)
        try:
            return [tuple(r) for r in client.query(sql, parameters=parameters).result_rows]
        finally:
            client.close()

    def district_days(self) -> dict[tuple[str, str, str], dict[str, int]]:
        rows = self.query(
            f"SELECT toString(day), province, district, {AGG_COLUMNS} "
            "FROM agg_district_day FINAL WHERE incidents > 0"
        )
        names = [c.strip() for c in AGG_COLUMNS.split(",")]
        return {(r[0], r[1], r[2]): dict(zip(names, map(int, r[3:]), strict=True)) for r in rows}


@pytest.fixture
def pipeline_factory(
    settings_factory: Callable[..., Settings], unique_topic_prefix: str
) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def factory(
        partitions: int = 4, sink_flush_s: float = 0.3, **sections: dict[str, Any]
    ) -> Pipeline:
        defaults: dict[str, dict[str, Any]] = {
            "local_kafka": {"enabled": False},
            "kafka": {"partitions": partitions},
            "sink": {"group_id": f"{unique_topic_prefix}-sink", "flush_interval_s": sink_flush_s},
            "streams": {"batch_timeout_s": 0.2},
        }
        for name, values in sections.items():
            defaults[name] = {**defaults.get(name, {}), **values}
        settings = settings_factory(**defaults)
        p = Pipeline(settings)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.down()


PLACES = [
    ("Khyber Pakhtunkhwa", "Bannu"),
    ("Khyber Pakhtunkhwa", "North Waziristan"),
    ("Khyber Pakhtunkhwa", None),
    ("Balochistan", "Quetta"),
    ("Balochistan", "Kech"),
    ("Punjab", "Mianwali"),
]
T0 = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)


def random_reports(seed: int, n_events: int = 120) -> list[Report]:
    """Every version of a set of reports that collide in every way the semantics cares about."""
    rnd = random.Random(seed)
    out: list[Report] = []
    for i in range(n_events):
        source = rnd.choice(["news", "acled", "dawn"])
        day = date(2024, 1, 1) + timedelta(days=rnd.randrange(0, 90, 9))  # few days: collisions
        province, district = rnd.choice(PLACES)
        category = rnd.choice(["terror_attack", "security_operation"])
        # Spellings of one place (resolved through schemas/data/places.json where the
        # district has it) and a string no gazetteer knows.
        location = rnd.choice(
            [None, "Mir Ali", "mir ali", "Mirali", "Miranshah", "Miramshah", "Town A"]
        )
        versions = rnd.choice([1, 1, 2, 3])
        for v in range(1, versions + 1):
            moved = v > 1 and rnd.random() < 0.15
            k = [rnd.randrange(0, 6) for _ in range(4)]
            inj = [rnd.randrange(0, 6) for _ in range(4)]
            out.append(
                Report(
                    source=source,
                    source_event_id=f"e{i}",
                    version=v,
                    reported_at=T0 + timedelta(days=(day - date(2024, 1, 1)).days, hours=30 + v),
                    retracted=v > 1 and rnd.random() < 0.2,
                    occurred_on=day + timedelta(days=1) if moved else day,
                    province=province,
                    district=district,
                    location=location,
                    category=category,
                    subtype="ied" if category == "terror_attack" else "clash",
                    killed=Casualties(civilians=k[0], security=k[1], militants=k[2], unknown=k[3]),
                    injured=Casualties(
                        civilians=inj[0], security=inj[1], militants=inj[2], unknown=inj[3]
                    ),
                )
            )
    return out


def deliveries(reports: list[Report], seed: int) -> list[Report]:
    """The same reports shuffled, with a third of them delivered twice."""
    rnd = random.Random(seed)
    out = reports + rnd.sample(reports, k=len(reports) // 3)
    rnd.shuffle(out)
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server that records what is POSTed to it (alert notifications)."""
    r = Receiver()
    yield r
    r.server.shutdown()
