"""Alerting end to end: real broker, workers, sink and warehouse, and a real HTTP receiver."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from incidents_config.names import SINK, Topics
from incidents_config.settings import Settings, child_env
from incidents_ops import processes
from schemas.report import Casualties, Report
from schemas.warehouse import SilenceMessage
from sinks.clickhouse import endpoint_answers
from tests.integration.streams.alerting import (
    TODAY,
    Receiver,
    alerting,
    quiet_history,
    report,
    surge,
)
from tests.integration.streams.conftest import Pipeline
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def alerts_of(p: Pipeline, rule: str) -> list[tuple[Any, ...]]:
    return p.query(
        "SELECT alert_id, province, district, state, observed, notify FROM v_alerts"
        " WHERE rule = {r:String} AND state != 'withdrawn' ORDER BY province, district, alert_id",
        {"r": rule},
    )


def restart_sink(p: Pipeline, **alerts: Any) -> Settings:
    """Restart the sink with other alerting settings (e.g. a later ALERTS_TODAY)."""
    settings = p.settings.model_copy(update={"alerts": p.settings.alerts.model_copy(update=alerts)})
    processes.stop(p.settings.paths, SINK)
    processes.start(
        p.settings.paths,
        SINK,
        [sys.executable, "-m", "incidents", "run", "sink"],
        env=child_env(settings),
    )
    # Query nothing until it serves SQL: a query now would open the folder in this process.
    wait_for("the sink to serve SQL", lambda: endpoint_answers(settings))
    return settings


def test_a_surge_fires_one_alert_that_notifies_once_and_resolves(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    p = pipeline_factory(alerts=alerting(receiver))
    p.up()
    p.publish(list(quiet_history()) + quiet_history("Bannu", every=1))
    p.wait()
    assert alerts_of(p, "count_spike") == []
    p.publish(surge())
    p.wait()

    fired = alerts_of(p, "count_spike")
    assert [(a[1], a[2], a[3]) for a in fired] == [
        ("Khyber Pakhtunkhwa", "Lakki Marwat", "firing")
    ], fired  # one alert for nine reports; the busier province does not spike
    wait_for("the webhook", lambda: bool(receiver.alerts(district="Lakki Marwat")))
    (sent,) = receiver.alerts(alertname="count_spike")
    assert sent["status"] == "firing" and sent["fingerprint"] == fired[0][0]
    assert sent["annotations"]["summary"].startswith("Lakki Marwat: 9 incidents in 7 days")
    assert len(sent["annotations"]["incident_ids"].split(",")) == 9
    assert receiver.bodies[0]["version"] == "4"

    # Ten days on, the surge has left the window: the alert resolves, and says so once.
    restart_sink(p, today=TODAY + timedelta(days=10))
    wait_for(
        "the alert to resolve",
        lambda: [a[3] for a in alerts_of(p, "count_spike")] == ["resolved"],
    )
    wait_for(
        "the resolved notification", lambda: len(receiver.alerts(alertname="count_spike")) == 2
    )
    assert receiver.alerts(alertname="count_spike")[1]["status"] == "resolved"


def test_a_mass_casualty_attack_fires_at_once_and_a_lower_toll_resolves_it(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    p = pipeline_factory(alerts=alerting(receiver))
    p.up()
    attack = report(
        "mc-1", TODAY - timedelta(days=1), "Bannu", killed=25, location="Bannu Cantonment"
    )
    p.publish([attack])
    p.wait()
    (alert,) = alerts_of(p, "mass_casualty")
    assert alert[3] == "firing" and alert[4] == 25
    wait_for("the webhook", lambda: bool(receiver.alerts(alertname="mass_casualty")))
    assert "25 killed in one incident" in receiver.alerts()[0]["annotations"]["summary"]

    p.publish([attack.model_copy(update={"version": 2, "killed": Casualties(civilians=4)})])
    p.wait()
    assert [a[3] for a in alerts_of(p, "mass_casualty")] == ["resolved"]
    wait_for(
        "the resolved notification", lambda: len(receiver.alerts(alertname="mass_casualty")) == 2
    )


def test_a_deadly_week_fires_the_fatality_rule_and_its_bombing_only_the_mass_casualty_rule(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    p = pipeline_factory(alerts=alerting(receiver))
    p.up()
    ordinary = [0, 1, 0, 2, 0, 3, 1, 4]  # killed per incident, as in the Q1 2024 sample
    history = [
        report(f"h-{i}", TODAY - timedelta(days=d), killed=ordinary[i % len(ordinary)])
        for i, d in enumerate(range(200, 8, -7))
    ]
    # 52 killed in 11 incidents over the last week, and one attack that killed 30
    deadly = [
        report(f"w-{i}", TODAY - timedelta(days=i % 7), killed=k)
        for i, k in enumerate([3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 1])
    ]
    bombing = report("w-bomb", TODAY - timedelta(days=2), killed=30, location="Bannu Road")
    p.publish(history)
    p.wait()
    assert alerts_of(p, "fatality_spike") == []
    p.publish([*deadly, bombing])
    p.wait()

    fired = {(a[2], a[4]) for a in alerts_of(p, "fatality_spike")}
    assert ("Lakki Marwat", 52) in fired, fired  # the district's 52, not 82
    ((mc_district, killed),) = {(a[2], a[4]) for a in alerts_of(p, "mass_casualty")}
    assert (mc_district, killed) == ("Lakki Marwat", 30)
    wait_for(
        "the webhook",
        lambda: bool(receiver.alerts(alertname="fatality_spike", district="Lakki Marwat")),
    )
    (sent,) = receiver.alerts(alertname="fatality_spike", district="Lakki Marwat")
    summary = sent["annotations"]["summary"]
    assert summary.startswith("Lakki Marwat: 52 killed in 7 days vs ")
    assert summary.endswith("; not counting 1 mass-casualty incident)")


def test_replaying_old_data_stores_history_and_pages_nobody(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    p = pipeline_factory(alerts=alerting(receiver))
    p.up()
    old = TODAY - timedelta(days=400)
    p.publish(
        [report("old-mc", old, "Bannu", killed=30)]
        + [
            r.model_copy(
                update={
                    "occurred_on": r.occurred_on - timedelta(days=400),
                    "reported_at": r.reported_at - timedelta(days=400),
                }
            )
            for r in quiet_history() + surge()
        ]
    )
    p.wait()
    stored = p.query("SELECT rule, state, notify FROM v_alerts ORDER BY rule")
    assert ("mass_casualty", "resolved", 0) in stored and ("count_spike", "resolved", 0) in stored
    assert all(notify == 0 for _, _, notify in stored)
    assert receiver.requests == 0


def test_a_receiver_that_fails_is_retried_then_given_up_while_the_stream_goes_on(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    receiver.status = 500
    p = pipeline_factory(alerts=alerting(receiver, retries=3))
    p.up()
    p.publish([report("mc-2", TODAY, "Bannu", killed=12)])
    p.wait()
    (alert,) = alerts_of(p, "mass_casualty")

    def attempts() -> list[tuple[Any, ...]]:
        return p.query(
            "SELECT attempt, ok, status FROM alert_deliveries FINAL"
            " WHERE alert_id = {a:String} AND notifier = 'webhook' ORDER BY attempt",
            {"a": alert[0]},
        )

    wait_for("three failed attempts", lambda: len(attempts()) == 3)
    assert attempts() == [(1, 0, 500), (2, 0, 500), (3, 0, 500)]
    listed = p.query("SELECT last_delivery_ok, last_delivery_error FROM v_alerts")
    assert listed == [(0, "HTTP 500")]
    # The stream went on: a later report is in the warehouse.
    p.publish([report("after", TODAY, "Bannu")])
    p.wait()
    assert p.query("SELECT count() FROM report_versions FINAL") == [(2,)]


def test_a_silence_holds_notifications_until_it_expires(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    p = pipeline_factory(alerts=alerting(receiver))
    p.up()
    now = datetime.now(UTC)
    silence = SilenceMessage(
        silence_id="s1",
        rule="mass_casualty",
        province="Khyber Pakhtunkhwa",
        district="Bannu",
        starts_at=now,
        # Long enough to hold whatever the machine's load: the test ends it below, rather
        # than betting that the report is processed within a few seconds of wall time.
        ends_at=now + timedelta(hours=1),
        comment="known, handled",
    )

    def send(message: SilenceMessage) -> None:
        producer = KafkaProducer(**p.settings.kafka.client_kwargs())
        producer.send(
            Topics(p.settings.kafka.topic_prefix).silences,
            key=message.silence_id.encode(),
            value=message.model_dump_json().encode(),
        )
        producer.flush()
        producer.close()

    send(silence)
    wait_for("the silence", lambda: p.query("SELECT count() FROM alert_silences FINAL") == [(1,)])
    p.publish([report("mc-3", TODAY, "Bannu", killed=15)])
    p.wait()
    held = p.query("SELECT state, notify, silenced_by FROM v_alerts")
    assert held == [("firing", 0, "s1")]
    assert receiver.requests == 0

    # The silence now ends a second from now; when it has expired, the tick sends the alert
    # that is still firing.
    send(silence.model_copy(update={"ends_at": datetime.now(UTC) + timedelta(seconds=1)}))
    wait_for("the notification after the silence", lambda: bool(receiver.alerts()))
    assert receiver.alerts()[0]["labels"]["district"] == "Bannu"


def history(district: str, every: int, days: int = 300) -> list[Report]:
    """An incident every `every` days in `district` over `days` days, up to yesterday."""
    return [
        report(f"h-{district}-{d}", TODAY - timedelta(days=d), district)
        for d in range(days, 0, -every)
    ]


def notifications(receiver: Receiver) -> list[tuple[str, str, str, str, str]]:
    """What receivers were told, alert by alert: rule, area, status, event, observed."""
    return sorted(
        (
            a["labels"]["alertname"],
            a["labels"].get("district", a["labels"]["province"]),
            a["status"],
            a["annotations"]["event"],
            a["annotations"]["observed"],
        )
        for a in receiver.alerts()
    )


def should_page(p: Pipeline) -> set[str]:
    """The alerts the final data fires and that are recent enough to page (recency 3 days)."""
    rows = p.query(
        "SELECT alert_id FROM v_alerts WHERE state = 'firing' AND silenced_by = ''"
        " AND last_day >= {d:Date32}",
        {"d": TODAY - timedelta(days=3)},
    )
    return {r[0] for r in rows}


def test_any_arrival_order_sends_the_same_notifications(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path, unique_topic_prefix: str
) -> None:
    """Sorted, newest first, shuffled with duplicates on two workers, or in ten chunks with
    pauses across a sink restart: the same alerts page, once each, with the same numbers.

    Newest first is the feed that paged falsely: a district's newest report arrives with
    only the oldest of its history, and looks quiet for a year until the rest comes.
    """
    rules = tmp_path / "rules.toml"
    rules.write_text("[notifications]\ngroup_wait_s = 10\ngroup_interval_s = 0\n", encoding="utf-8")
    feed = (
        quiet_history()
        + quiet_history("Bannu", every=3)
        + history("Karak", every=20)  # busy enough never to be "quiet"
        + [report("first-in-a-year", TODAY - timedelta(days=1), "Tank")]
        + [report("old-tank", TODAY - timedelta(days=300), "Tank")]
        + surge()
        + [report("mc-4", TODAY - timedelta(days=2), "Bannu", killed=11)]
    )
    by_day = sorted(feed, key=lambda r: (r.occurred_on, r.report_id))
    rnd = random.Random(7)
    shuffled = feed + rnd.sample(feed, k=len(feed) // 3)
    rnd.shuffle(shuffled)
    variants = {
        "sorted": (1, [by_day]),
        "newest first": (1, [by_day[::-1]]),
        "shuffled, duplicates, 2 workers": (2, [shuffled]),
        "ten chunks, sink restart": (1, [shuffled[i::10] for i in range(10)]),
    }
    told: dict[str, list[tuple[str, str, str, str, str]]] = {}
    tables = {}
    for i, (name, (workers, chunks)) in enumerate(variants.items()):
        receiver = Receiver()
        try:
            # A pipeline of its own: topics, consumer groups and warehouse.
            p = pipeline_factory(
                alerts=alerting(receiver, rules_file=rules),
                kafka={"topic_prefix": f"{unique_topic_prefix}-{i}"},
                sink={"group_id": f"{unique_topic_prefix}-{i}-sink"},
                paths={"var_dir": tmp_path / f"variant-{i}"},
            )
            p.up(workers=workers)
            for n, chunk in enumerate(chunks):
                p.publish(list(chunk))
                if len(chunks) > 1:
                    time.sleep(0.3)  # a pause between chunks (the settle period is 10 s)
                if n == len(chunks) // 2 and len(chunks) > 1:
                    restart_sink(p)
            p.wait()
            expected = should_page(p)
            assert expected, "the feed fires nothing: the test would prove nothing"
            wait_for(
                f"{name}: a notification for each alert the data fires",
                lambda: {a["fingerprint"] for a in receiver.alerts()} >= expected,  # noqa: B023
            )
            told[name] = notifications(receiver)
            tables[name] = p.query(
                "SELECT alert_id, rule, province, district, state, first_day, last_day,"
                " observed FROM v_alerts WHERE state != 'withdrawn' ORDER BY alert_id"
            )
            p.down()
        finally:
            receiver.server.shutdown()
    reference = told["sorted"]
    assert {rule for rule, *_ in reference} >= {"count_spike", "mass_casualty", "quiet_district"}
    assert all(status == "firing" for _, _, status, _, _ in reference)
    assert ("quiet_district", "Karak") not in {(r, a) for r, a, *_ in reference}
    for name, got in told.items():
        assert got == reference, name
        assert tables[name] == tables["sorted"], name


def test_every_change_is_on_the_alerts_topic_and_the_cli_sends_a_test_notification(
    pipeline_factory: Callable[..., Pipeline], receiver: Receiver
) -> None:
    p = pipeline_factory(alerts=alerting(receiver))
    p.up()
    p.publish([report("mc-5", TODAY, "Bannu", killed=20)])
    p.wait()
    (alert,) = alerts_of(p, "mass_casualty")
    consumer = KafkaConsumer(
        Topics(p.settings.kafka.topic_prefix).alerts,
        **p.settings.kafka.client_kwargs(),
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    messages: list[dict[str, Any]] = []
    wait_for(
        "the change on the alerts topic",
        lambda: bool(messages.extend(json.loads(m.value) for m in consumer) or messages),
    )
    consumer.close()
    assert messages[0]["fingerprint"] == alert[0] and messages[0]["event"] == "fired"

    env = {**os.environ, **child_env(p.settings), "INCIDENTS_ENV_FILE": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-m", "incidents", "alerts", "test", "--notifier", "webhook"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert receiver.alerts(alertname="test"), receiver.bodies
