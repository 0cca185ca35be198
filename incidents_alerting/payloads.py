"""What receivers get: Alertmanager's webhook format (version 4), Alertmanager's own API
(`POST /api/v2/alerts`), and Slack's incoming webhook.

Pure functions from notifications to JSON-ready values, so the formats are tested without a
network. Alertmanager's format lets existing receivers and bridges (PagerDuty, Teams,
Matrix, ...) take our alerts unchanged. Text that comes from the data (a report's free-text
location reaches an alert's summary) is escaped for Slack, and never becomes a link.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from incidents_alerting.lifecycle import FIRING, Change
from incidents_alerting.routing import Item, Notification, labels

RECEIVER = "incidents-platform"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"
DEFAULT_GENERATOR = "http://127.0.0.1/incidents"  # Alertmanager wants a URL there
RULE_TITLES = {
    "count_spike": "Incident surge",
    "fatality_spike": "Fatality surge",
    "mass_casualty": "Mass-casualty attack",
    "quiet_district": "Violence in a quiet district",
    "data_quality": "Data-quality check failed",
    "test": "Test notification",
}


def _rfc3339(d: date | datetime) -> str:
    moment = d if isinstance(d, datetime) else datetime.combine(d, time(), tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_annotations(change: Change, incident_ids: tuple[str, ...] | list[str]) -> dict[str, str]:
    e = change.episode
    return {
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


def generator_url(change: Change, external_url: str = "") -> str:
    """A link back to the alert (Alertmanager's generatorURL)."""
    base = (external_url or DEFAULT_GENERATOR).rstrip("/")
    return f"{base}/alerts?alert_id={quote(change.alert_id)}"


def webhook_alert(item: Item, external_url: str = "") -> dict[str, Any]:
    """One alert of an Alertmanager webhook body."""
    change, e = item.change, item.change.episode
    status = "firing" if change.state == FIRING else "resolved"
    return {
        "status": status,
        "labels": labels(change),
        "annotations": alert_annotations(change, item.incident_ids),
        "startsAt": _rfc3339(e.start),
        "endsAt": ZERO_TIME if status == "firing" else _rfc3339(e.end),
        "generatorURL": generator_url(change, external_url),
        "fingerprint": e.alert_id,
    }


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    """What every dict has with the same value (Alertmanager's common labels)."""
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook(notification: Notification, external_url: str = "") -> dict[str, Any]:
    """A notification as an Alertmanager webhook body (version 4): one group, its alerts."""
    alerts = [webhook_alert(item, external_url) for item in notification.items]
    return {
        "version": "4",
        "groupKey": notification.key,
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": RECEIVER,
        "groupLabels": dict(notification.group),
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([{"summary": a["annotations"]["summary"]} for a in alerts]),
        "externalURL": external_url,
        "alerts": alerts,
    }


def alertmanager_alerts(
    notification: Notification, now: datetime, lifetime: timedelta, external_url: str = ""
) -> list[dict[str, Any]]:
    """The alerts of a notification as Alertmanager's API takes them (`POST /api/v2/alerts`).

    A firing alert ends `lifetime` from now unless it is sent again before (the platform
    re-sends firing alerts well within it, as Prometheus does); a resolved one ends now.
    """
    out = []
    for item in notification.items:
        change, e = item.change, item.change.episode
        ends = now + lifetime if change.state == FIRING else now
        out.append(
            {
                "labels": labels(change),
                "annotations": alert_annotations(change, item.incident_ids),
                "startsAt": _rfc3339(e.start),
                "endsAt": _rfc3339(ends),
                "generatorURL": generator_url(change, external_url),
            }
        )
    return out


def slack_escape(text: str) -> str:
    """Slack's escaping for text from the data: `&`, `<` and `>` are control characters
    (`<!channel>`, `<http://x|y>`), so they become entities and never act."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ICONS = {
    "fired": ":rotating_light:",
    "escalated": ":arrow_double_up:",
    "repeated": ":repeat:",
}


def _slack_line(item: Item) -> str:
    change, e = item.change, item.change.episode
    icon = _ICONS.get(change.event, ":white_check_mark:")
    shown = ", ".join(item.incident_ids[:10]) + (" …" if len(item.incident_ids) > 10 else "")
    return slack_escape(
        f"{icon} {e.summary} ({change.event}; window {e.peak_start} – {e.peak_end},"
        f" observed {e.observed}, expected {e.expected:.1f}, p={e.p_value:.2g};"
        f" incidents: {shown or 'none'}; alert {e.alert_id})"
    )


def slack(notification: Notification) -> dict[str, Any]:
    """A notification as a Slack incoming-webhook message (text plus blocks)."""
    first = notification.items[0].change
    rule = first.episode.rule
    where = dict(notification.group).get("province", "")
    count = len(notification.items)
    title = f"{RULE_TITLES.get(rule, rule)}{' — ' + where if where else ''}"
    title += f" ({count} alerts)" if count > 1 else f" — {first.event}"
    lines = [_slack_line(item) for item in notification.items]
    text = slack_escape(title) + "\n" + "\n".join(lines)
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            *(
                {"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}}
                for line in lines[:45]  # Slack takes 50 blocks a message
            ),
        ],
    }
