"""What the alerting tests share: a local HTTP receiver, reports, and alerting settings."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from schemas.report import Casualties, Report

TODAY = date(2025, 6, 30)  # ALERTS_TODAY: evaluation as of this day
FAST_RULES = Path(__file__).with_name("alert_rules_fast.toml")


class Receiver:
    """A local HTTP server that records what notifiers POST; it can answer 500."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                outer.requests += 1
                if outer.status == 200:
                    outer.bodies.append(body)
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Received alerts whose labels include `labels`."""
        return [
            a
            for body in self.bodies
            for a in body["alerts"]
            if labels.items() <= a["labels"].items()
        ]


def alerting(receiver: Receiver, **alerts: Any) -> dict[str, Any]:
    return {
        "webhook_url": receiver.url,
        "today": TODAY,
        "retries": 3,
        "retry_base_s": 0.1,
        "tick_s": 1.0,
        "rules_file": FAST_RULES,
        **alerts,
    }


def report(
    event: str,
    day: date,
    district: str = "Lakki Marwat",
    killed: int = 0,
    version: int = 1,
    location: str | None = None,
) -> Report:
    return Report(
        source="news",
        source_event_id=event,
        version=version,
        reported_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        + timedelta(hours=version),
        occurred_on=day,
        province="Khyber Pakhtunkhwa",
        district=district,
        location=location or f"village {event}",
        category="terror_attack",
        killed=Casualties(civilians=killed),
    )


def quiet_history(district: str = "Lakki Marwat", every: int = 12) -> list[Report]:
    """An incident every `every` days for 200 days before the surge."""
    return [
        report(f"q-{district}-{i}", TODAY - timedelta(days=d), district)
        for i, d in enumerate(range(200, 8, -every))
    ]


def surge(days: int = 3, per_day: int = 3) -> list[Report]:
    return [
        report(f"s-{d}-{n}", TODAY - timedelta(days=d))
        for d in range(1, days + 1)
        for n in range(per_day)
    ]
