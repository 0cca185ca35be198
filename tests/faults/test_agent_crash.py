"""An agent that cannot go on stops its worker uncommitted, says why, and loses nothing.

The real trigger, an operator's mistake: the dead-letter topic's size limit is lowered
below the size of one dead letter, so Kafka refuses it for good. The worker must not ack
(and so skip) that message or its neighbours: it exits, `incidents status` shows the
crash, the raw topic's offsets stay behind the message, and once the limit is fixed a new
worker handles everything.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from incidents_config.names import Generation, Topics
from incidents_config.settings import Settings
from incidents_ops import health, processes
from streams.runtime import CRASH_EXIT_CODE
from tests import reference
from tests.cli import run_incidents
from tests.integration.streams.conftest import Pipeline, random_reports
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SMALL = 65_536  # one dead letter keeping 64 KiB of the original is larger than this


def set_max_message_bytes(settings: Settings, topic: str, size: int) -> None:
    admin = KafkaAdminClient(**settings.kafka.client_kwargs())
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(size)})
        admin.alter_configs([resource])
    finally:
        admin.close()


def status_output(settings: Settings) -> str:
    done = run_incidents(settings, "status")
    return done.stdout + done.stderr


def test_a_dead_letter_kafka_refuses_stops_the_worker_without_committing(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory(partitions=1)
    kafka = p.settings.kafka
    p.up()
    set_max_message_bytes(p.settings, Topics(kafka.topic_prefix).dead_letter, SMALL)
    worker = processes.info(p.settings.paths, "worker-1")
    before, after = random_reports(seed=3, n_events=20), random_reports(seed=4, n_events=20)
    after = [r.model_copy(update={"source_event_id": f"after-{r.source_event_id}"}) for r in after]
    poison = b'{"notes": "' + b"x" * 70_000  # bad JSON whose dead letter is over 64 KiB
    p.publish(list(before))
    p.wait()
    p.publish_raw([(None, poison)])
    p.publish(list(after))

    wait_for(
        "the worker to stop itself",
        lambda: not processes.info(p.settings.paths, "worker-1").running,
    )
    crash = health.crash(p.settings, "worker-1")
    assert crash is not None and crash.agent == "ingest", crash
    assert "dead letter" in crash.error
    # Nothing from the poison message on was committed: it and its neighbours wait.
    done, total = p.read_progress(Generation.of(p.settings).app, Topics(kafka.topic_prefix).raw)
    assert done <= total - 1 - len(after), (done, total)
    assert "crashed" in status_output(p.settings)
    log = processes.log_file(p.settings.paths, "worker-1").read_text(errors="replace")
    assert f"exit code {CRASH_EXIT_CODE}" in log or "stopping the worker uncommitted" in log

    # Fix the limit and start a new worker: every report and the dead letter arrive.
    set_max_message_bytes(p.settings, Topics(kafka.topic_prefix).dead_letter, 1_048_576)
    p.up()
    assert processes.info(p.settings.paths, "worker-1").pid != worker.pid
    p.wait()
    assert p.district_days() == reference.district_day_totals(before + after)
    rejected = p.query("SELECT raw_size, reason FROM rejected_reports FINAL")
    assert rejected == [(len(poison), "invalid_json")]
    assert health.crash(p.settings, "worker-1") is None  # a new worker: the crash is history
