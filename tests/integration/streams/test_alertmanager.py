"""Alerts into a real Alertmanager (Debian's prometheus-alertmanager), routed by it to a
webhook receiver of its own, kept firing by the platform's re-sends, then resolved."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.report import Casualties
from tests.integration.servers import Server, binary
from tests.integration.streams.alerting import FAST_RULES, TODAY, Receiver, report
from tests.integration.streams.conftest import Pipeline
from tests.ports import free_ports
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

CONFIG = """
route:
  receiver: hook
  group_by: [alertname, province]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Alertmanager(Server):
    """A real Alertmanager on loopback, with its data in a temporary folder."""

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (active, not silenced) with these labels."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as r:
            held: list[dict[str, Any]] = json.loads(r.read())
        return [a for a in held if labels.items() <= a["labels"].items()]


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[Alertmanager]:
    program = binary(
        "prometheus-alertmanager", "alertmanager", install="apt-get install prometheus-alertmanager"
    )
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=receiver.url), encoding="utf-8")
    args = [
        program,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'data'}",
        "--cluster.listen-address=",  # one instance, no gossip port
    ]
    am = Alertmanager("Alertmanager", args, tmp_path / "alertmanager.log")
    yield am
    am.stop()


def test_alertmanager_holds_routes_keeps_and_resolves_the_alert(
    pipeline_factory: Callable[..., Pipeline], alertmanager: Alertmanager, receiver: Receiver
) -> None:
    resend_s = 1.0
    p = pipeline_factory(
        alerts={
            "alertmanager_url": alertmanager.url,
            "alertmanager_resend_s": resend_s,
            "today": TODAY,
            "tick_s": 1.0,
            "retry_base_s": 0.1,
            "rules_file": FAST_RULES,
        }
    )
    p.up()
    attack = report("am-1", TODAY - timedelta(days=1), "Bannu", killed=25, location="Bannu")
    p.publish([attack])
    p.wait()

    # The platform posts it; Alertmanager holds it, then routes it to its webhook receiver.
    wait_for("the alert in Alertmanager", lambda: bool(alertmanager.alerts(district="Bannu")))
    (held,) = alertmanager.alerts(alertname="mass_casualty")
    assert held["status"]["state"] == "active"
    assert held["labels"]["province"] == "Khyber Pakhtunkhwa"
    assert "25 killed in one incident" in held["annotations"]["summary"]
    assert held["generatorURL"].startswith("http")
    wait_for("Alertmanager's notification", lambda: bool(receiver.alerts(district="Bannu")))
    assert receiver.bodies[0]["status"] == "firing"
    assert receiver.bodies[0]["receiver"] == "hook"  # Alertmanager's receiver, not ours

    # Each post ends the alert 4 re-send intervals later; the platform's re-sends keep it
    # active well past that.
    first_end = held["endsAt"]
    wait_for(
        "a re-send that moves the alert's end",
        lambda: (
            [a["endsAt"] for a in alertmanager.alerts(alertname="mass_casualty")]
            not in ([], [first_end])
        ),
    )
    assert alertmanager.alerts(alertname="mass_casualty")[0]["status"]["state"] == "active"

    # The toll is revised below the threshold: resolved in Alertmanager, which says so.
    p.publish([attack.model_copy(update={"version": 2, "killed": Casualties(civilians=4)})])
    p.wait()
    wait_for("the alert to leave Alertmanager", lambda: not alertmanager.alerts(district="Bannu"))
    wait_for(
        "Alertmanager's resolved notification",
        lambda: any(b["status"] == "resolved" for b in receiver.bodies),
    )
    delivered = p.query(
        "SELECT count() FROM alert_deliveries FINAL WHERE notifier = 'alertmanager' AND ok = 1"
    )
    assert delivered[0][0] >= 2  # the firing and the resolution, recorded


def test_an_alertmanager_that_is_down_costs_retries_not_the_stream(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    p = pipeline_factory(
        alerts={
            "alertmanager_url": f"http://127.0.0.1:{port}",
            "today": TODAY,
            "retries": 3,
            "retry_base_s": 0.1,
            "rules_file": FAST_RULES,
        }
    )
    p.up()
    p.publish([report("am-2", TODAY, "Bannu", killed=12)])
    p.wait()

    def attempts() -> list[tuple[Any, ...]]:
        return p.query(
            "SELECT attempt, ok FROM alert_deliveries FINAL WHERE notifier = 'alertmanager'"
            " ORDER BY attempt"
        )

    wait_for("three failed attempts", lambda: len(attempts()) == 3)
    assert attempts() == [(1, 0), (2, 0), (3, 0)]
    # The stream goes on meanwhile: a new report still reaches the warehouse.
    p.publish([report("am-3", TODAY, "Lakki Marwat", killed=1)])
    p.wait()
    assert p.query("SELECT count() FROM v_incidents") == [(2,)]
