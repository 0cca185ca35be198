"""Grouping settled changes into notifications, like an Alertmanager route.

The outbox (incidents_alerting.outbox) lets out each alert's settled net change. Here
those changes are grouped by the labels in ``group_by`` (the rule and the province, by
default), so one evaluation that fires nine mass-casualty alerts in one province is one
notification with nine ``alerts[]``, not nine messages. A group that was notified waits
``group_interval_s`` before its next changes go out together, and a group with firing
alerts is sent again after ``repeat_interval_s`` of silence. Pure logic with an injected
clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from incidents_alerting.lifecycle import FIRING, Change
from incidents_alerting.rules import Notifications

Labels = tuple[tuple[str, str], ...]  # (name, value) pairs, in a fixed order


def labels(change: Change) -> dict[str, str]:
    """The labels an alert carries, to receivers and for grouping."""
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


@dataclass(frozen=True)
class Item:
    """One alert's change in a notification, with the incidents behind it."""

    change: Change
    incident_ids: tuple[str, ...] = ()

    @property
    def firing(self) -> bool:
        return self.change.state == FIRING


@dataclass(frozen=True)
class Notification:
    """What one message to a receiver carries: a group's changed (or repeated) alerts."""

    group: Labels
    items: tuple[Item, ...]

    @property
    def status(self) -> str:
        return "firing" if any(i.firing for i in self.items) else "resolved"

    @property
    def key(self) -> str:
        """Alertmanager's groupKey form: ``{}:{label="value",...}``."""
        inner = ",".join(f'{name}="{value}"' for name, value in self.group)
        return f"{{}}:{{{inner}}}"

    @classmethod
    def single(cls, change: Change, incident_ids: list[str] | tuple[str, ...] = ()) -> Notification:
        """A notification of one change, grouped by its rule (the feed, a test message)."""
        return cls((("alertname", change.episode.rule),), (Item(change, tuple(incident_ids)),))


@dataclass
class _Group:
    waiting: dict[str, Item] = field(default_factory=dict)  # settled, not sent yet
    firing: dict[str, Item] = field(default_factory=dict)  # receivers last heard: firing
    last_sent: float | None = None


class Router:
    """Settled net changes in, grouped notifications out when their group is due."""

    def __init__(self, config: Notifications, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        self._groups: dict[Labels, _Group] = {}

    def configure(self, config: Notifications) -> None:
        """Take new settings (a reloaded rules file); groups already formed keep their key."""
        self._config = config

    def group_of(self, change: Change) -> Labels:
        values = labels(change)
        return tuple((name, values.get(name, "")) for name in self._config.group_by)

    def add(self, change: Change, incident_ids: list[str]) -> None:
        """A settled net change (fired, escalated, resolved, withdrawn) to send."""
        group = self._groups.setdefault(self.group_of(change), _Group())
        group.waiting[change.alert_id] = Item(change, tuple(incident_ids))

    def seed_firing(self, change: Change, incident_ids: list[str]) -> None:
        """An alert receivers already know fires (told before a restart): it repeats."""
        group = self._groups.setdefault(self.group_of(change), _Group())
        group.firing[change.alert_id] = Item(change, tuple(incident_ids))
        if group.last_sent is None:
            group.last_sent = self._clock()

    def firing(self) -> list[Item]:
        """Every alert receivers were last told fires."""
        return [item for g in self._groups.values() for item in g.firing.values()]

    def due(self) -> list[Notification]:
        """The notifications to send now."""
        now = self._clock()
        out: list[Notification] = []
        for key in sorted(self._groups):
            group = self._groups[key]
            if group.waiting:
                if group.last_sent is not None and (
                    now - group.last_sent < self._config.group_interval_s
                ):
                    continue
                items = tuple(group.waiting[a] for a in sorted(group.waiting))
                out.append(Notification(key, items))
                for item in items:
                    if item.firing:
                        group.firing[item.change.alert_id] = item
                    else:
                        group.firing.pop(item.change.alert_id, None)
                group.waiting.clear()
                group.last_sent = now
            elif (
                group.firing
                and group.last_sent is not None
                and now - group.last_sent >= self._config.repeat_interval_s
            ):
                repeats = (group.firing[a] for a in sorted(group.firing))
                items = tuple(
                    Item(replace(i.change, event="repeated"), i.incident_ids) for i in repeats
                )
                out.append(Notification(key, items))
                group.last_sent = now
        return out
