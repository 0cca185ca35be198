"""The project's topic specs, without Kafka."""

from __future__ import annotations

from collections.abc import Callable

from incidents_config.settings import Settings
from incidents_ops.topics import topic_specs


def test_topic_specs_follow_settings(settings_factory: Callable[..., Settings]) -> None:
    kafka = settings_factory(
        kafka={
            "topic_prefix": "x",
            "partitions": 6,
            "replication_factor": 3,
            "retention_ms": 1000,
            "dead_letter_retention_ms": 500,
            "max_message_bytes": 2_000_000,
        }
    ).kafka
    specs = {spec.name: spec for spec in topic_specs(kafka)}

    assert sorted(specs) == sorted(
        [
            "x.reports.raw",
            "x.reports.rekeyed",
            "x.reports.valid",
            "x.reports.deadletter",
            "x.incidents.updates",
            "x.warehouse.snapshots",
            "x.alerts",
            "x.alerts.silences",
            "x.dq.results",
        ]
    )
    assert {(s.partitions, s.replication_factor) for s in specs.values()} == {(6, 3)}
    size = {"max.message.bytes": "2000000"}
    assert specs["x.reports.deadletter"].configs == {"retention.ms": "500", **size}
    assert specs["x.reports.raw"].configs == {"retention.ms": "1000", **size}


def test_reports_are_kept_forever_by_default(settings_factory: Callable[..., Settings]) -> None:
    specs = topic_specs(settings_factory().kafka)
    kept = [
        s.configs["retention.ms"]
        for s in specs
        if s.name.endswith(("raw", "valid", "updates", "snapshots"))
    ]
    assert kept == ["-1"] * 4
