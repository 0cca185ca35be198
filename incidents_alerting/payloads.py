"""What receivers get: Alertmanager's webhook format (version 4) and Slack's incoming webhook.

Pure functions from recorded changes to JSON-ready dicts, so the formats are tested without
a network. Alertmanager's format lets existing receivers and bridges (PagerDuty, Teams,
Matrix, ...) take our alerts unchanged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from incidents_alerting.lifecycle import FIRING, Change

RECEIVER = "incidents-platform"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"
RULE_TITLES = {
    "count_spike": "Incident surge",
    "fatality_spike": "Fatality surge",
    "mass_casualty": "Mass-casualty attack",
    "quiet_district": "Violence in a quiet district",
    "test": "Test notification",
}


def _rfc3339(d: date | datetime) -> str:
    moment = d if isinstance(d, datetime) else datetime.combine(d, time(), tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def labels(change: Change) -> dict[str, str]:
    e = change.episode
    out = {
        "alertname": e.rule,
        "province": e.area.province,
        "area_kind": e.area.kind,
        "severity": "critical" if e.rule in ("mass_casualty", "fatality_spike") else "warning",
    }
    if e.area.district:
        out["district"] = e.area.district
    if e.incident_id:
        out["incident_id"] = e.incident_id
    return out


def alert_annotations(change: Change, incident_ids: list[str]) -> dict[str, str]:
    e = change.episode
    out = {
        "summary": e.summary,
        "description": (
            f"{RULE_TITLES.get(e.rule, e.rule)} in {e.area.name}"
            f"{', ' + e.area.province if e.area.district else ''}: window {e.peak_start} to"
            f" {e.peak_end}, observed {e.observed}, expected {e.expected:.2f},"
            f" p={e.p_value:.2g} ({change.event})"
        ),
        "window_start": e.peak_start.isoformat(),
        "window_end": e.peak_end.isoformat(),
        "observed": str(e.observed),
        "expected": f"{e.expected:.3f}",
        "p_value": f"{e.p_value:.3g}",
        "incident_ids": ",".join(incident_ids),
        "event": change.event,
    }
    return out


def alertmanager(change: Change, incident_ids: list[str], external_url: str = "") -> dict[str, Any]:
    """One change as an Alertmanager webhook body (version 4)."""
    e = change.episode
    status = "firing" if change.state == FIRING else "resolved"
    alert_labels = labels(change)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{e.rule}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": {"alertname": e.rule},
        "commonLabels": alert_labels,
        "commonAnnotations": {"summary": e.summary},
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": alert_annotations(change, incident_ids),
                "startsAt": _rfc3339(e.start),
                "endsAt": ZERO_TIME if status == "firing" else _rfc3339(e.end),
                "generatorURL": external_url,
                "fingerprint": e.alert_id,
            }
        ],
    }


def slack(change: Change, incident_ids: list[str]) -> dict[str, Any]:
    """One change as a Slack incoming-webhook message (text plus blocks)."""
    e = change.episode
    icon = {"fired": ":rotating_light:", "escalated": ":arrow_double_up:"}.get(
        change.event, ":white_check_mark:"
    )
    title = f"{RULE_TITLES.get(e.rule, e.rule)} — {change.event}"
    text = f"{icon} {title}: {e.summary}"
    shown = ", ".join(incident_ids[:10]) + (" …" if len(incident_ids) > 10 else "")
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{e.summary}*"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (
                            f"window {e.peak_start} – {e.peak_end} · observed {e.observed}"
                            f" · expected {e.expected:.1f} · p={e.p_value:.2g}"
                            f" · incidents: {shown or 'none'} · alert {e.alert_id}"
                        ),
                    }
                ],
            },
        ],
    }
