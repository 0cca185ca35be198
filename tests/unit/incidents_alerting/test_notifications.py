"""Notifications: grouping and repeats like Alertmanager, and what each receiver gets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from incidents_alerting import payloads
from incidents_alerting.evaluate import Area, Episode
from incidents_alerting.lifecycle import FIRING, RESOLVED, Change
from incidents_alerting.routing import Notification, Router
from incidents_alerting.rules import Notifications

DAY = date(2025, 6, 29)
HOSTILE = "<!channel> <https://evil.example|click> & more"


def mass_casualty(location: str, province: str = "Balochistan", killed: int = 12) -> Change:
    episode = Episode(
        rule="mass_casualty",
        area=Area(province, "Kech"),
        start=DAY,
        end=DAY,
        peak_start=DAY,
        peak_end=DAY,
        observed=killed,
        expected=10.0,
        p_value=0.0,
        summary=f"{location}, Kech: {killed} killed in one incident (ied)",
        incident_id=f"inc-{location}",
    )
    return Change(episode, 1, "fired", FIRING, True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(**kw: object) -> Notifications:
    return Notifications.model_validate({"group_interval_s": 300, "repeat_interval_s": 3600, **kw})


def test_one_evaluation_of_nine_attacks_in_a_province_is_one_notification() -> None:
    router = Router(config(), Clock())
    for i in range(9):
        router.add(mass_casualty(f"place {i}"), [f"inc-{i}"])
    router.add(mass_casualty("elsewhere", province="Sindh"), [])
    sent = router.due()
    assert [len(n.items) for n in sent] == [9, 1]
    assert sent[0].group == (("alertname", "mass_casualty"), ("province", "Balochistan"))
    body = payloads.webhook(sent[0])
    assert len(body["alerts"]) == 9 and body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "mass_casualty", "province": "Balochistan"}
    assert body["commonLabels"]["province"] == "Balochistan"
    assert body["groupKey"] == '{}:{alertname="mass_casualty",province="Balochistan"}'


def test_a_group_waits_its_interval_then_sends_what_changed_meanwhile_together() -> None:
    clock = Clock()
    router = Router(config(group_interval_s=300), clock)
    first = mass_casualty("a")
    router.add(first, [])
    assert len(router.due()) == 1
    clock.now += 10
    router.add(mass_casualty("b"), [])
    router.add(replace(first, event="resolved", state=RESOLVED), [])
    assert router.due() == []  # 10 s after the group's last notification
    clock.now += 290
    (later,) = router.due()
    assert sorted(i.change.event for i in later.items) == ["fired", "resolved"]
    assert [i.change.alert_id for i in router.firing()] == [mass_casualty("b").alert_id]


def test_a_firing_group_repeats_after_the_repeat_interval_and_a_resolved_one_does_not() -> None:
    clock = Clock()
    router = Router(config(repeat_interval_s=3600), clock)
    change = mass_casualty("a")
    router.add(change, ["inc-a"])
    router.due()
    clock.now += 3599
    assert router.due() == []
    clock.now += 1
    (again,) = router.due()
    assert [(i.change.event, i.incident_ids) for i in again.items] == [("repeated", ("inc-a",))]
    router.add(replace(change, event="resolved", state=RESOLVED), [])
    clock.now += 300
    router.due()
    clock.now += 10_000
    assert router.due() == [] and router.firing() == []


def test_after_a_restart_alerts_receivers_know_of_repeat_too() -> None:
    clock = Clock()
    router = Router(config(repeat_interval_s=600), clock)
    router.seed_firing(mass_casualty("a"), ["inc-a"])
    assert router.due() == []
    clock.now += 600
    assert [i.change.event for n in router.due() for i in n.items] == ["repeated"]


def test_group_by_takes_any_alert_label() -> None:
    router = Router(config(group_by=["alertname"]), Clock())
    router.add(mass_casualty("a", province="Balochistan"), [])
    router.add(mass_casualty("b", province="Sindh"), [])
    (both,) = router.due()
    assert len(both.items) == 2 and both.group == (("alertname", "mass_casualty"),)


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (HOSTILE, "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; more"),
        ("Kech & <b>Turbat</b>", "Kech &amp; &lt;b&gt;Turbat&lt;/b&gt;"),
        ("x" * 5000, "x" * 100),
    ],
)
def test_slack_text_from_the_data_is_escaped_and_never_a_link(location: str, shown: str) -> None:
    body = payloads.slack(Notification.single(mass_casualty(location), ["i-1"]))
    texts = [body["text"]] + [
        block["text"]["text"] for block in body["blocks"] if block["type"] == "section"
    ]
    for text in texts:
        assert "<" not in text and ">" not in text  # no mention, no link can form
        assert shown[:2900] in text or len(text) <= 3000
    assert shown in body["text"]
    assert len(body["blocks"]) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in body["blocks"])


def test_slack_escaping_is_slacks_three_entities() -> None:
    assert payloads.slack_escape("a & <b> c") == "a &amp; &lt;b&gt; c"


def test_the_alertmanager_api_body_has_what_alertmanager_validates() -> None:
    now = datetime(2025, 6, 30, 12, tzinfo=UTC)
    firing = mass_casualty("a")
    resolved = replace(mass_casualty("b"), event="resolved", state=RESOLVED)
    n = Notification(
        (("alertname", "mass_casualty"),),
        (
            *Notification.single(firing, ["i-1"]).items,
            *Notification.single(resolved).items,
        ),
    )
    alerts = payloads.alertmanager_alerts(n, now, timedelta(minutes=4), "http://dash/")
    assert [a["endsAt"] for a in alerts] == ["2025-06-30T12:04:00Z", "2025-06-30T12:00:00Z"]
    for alert in alerts:
        assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        assert alert["generatorURL"].startswith("http://dash/alerts?alert_id=")
        assert all(isinstance(v, str) for v in alert["labels"].values())
        assert all(isinstance(v, str) for v in alert["annotations"].values())
    assert alerts[0]["labels"]["alertname"] == "mass_casualty"


def test_the_webhook_body_has_the_version_4_fields() -> None:
    change = mass_casualty("a")
    body = payloads.webhook(Notification.single(change, ["i-9"]), "http://dash")
    assert body["version"] == "4" and body["status"] == "firing"
    (alert,) = body["alerts"]
    assert alert["fingerprint"] == change.alert_id and alert["endsAt"] == payloads.ZERO_TIME
    assert alert["labels"]["district"] == "Kech"
    assert alert["annotations"]["incident_ids"] == "i-9"
    assert alert["startsAt"] == f"{DAY.isoformat()}T00:00:00Z"
