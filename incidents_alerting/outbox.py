"""Which alert changes page, and when: only states that held, computed from settled input.

The engine records every change of every alert (the history analysts read in `v_alerts`,
and the alerts topic). Paging is different: a feed arrives in pieces, and an alert computed
from half of it may fire, grow or vanish a second later. So a notifying change goes into
this outbox, and leaves it only when

1. the alert has not changed for the **settle period** (``ALERTS_SETTLE_S``, like
   Alertmanager's ``group_wait``), and
2. the alert was computed from **settled input**: everything that was in Kafka when it last
   changed has since gone through the workers and the sink (an :class:`InputProbe` says
   so), so no data already published can still change it.

What leaves is the net change since receivers last heard of the alert: it fired, it
resolved, or it grew by the escalation factor. A change that was undone within the
period (fired, then withdrawn) sends nothing; several changes send one message with the
latest state. Pure logic with an injected clock and probe, so it is unit-tested without
Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from incidents_alerting.lifecycle import FIRING, Change

# Where the pipeline stood when an alert changed: a token only the probe reads (hashable).
Mark = Any


class InputProbe(Protocol):
    """Tells whether the pipeline has processed everything it held at some moment."""

    def mark(self) -> Mark:
        """A token for "what is in Kafka now"."""

    def reached(self, marks: set[Mark]) -> set[Mark]:
        """Those of `marks` whose data has all gone through the workers and the sink."""

    def close(self) -> None:
        """Release what the probe holds (a Kafka client)."""


class SettledAlways:
    """A probe for when nothing can be in flight (unit tests, an engine without Kafka)."""

    def mark(self) -> Mark:
        return 0

    def reached(self, marks: set[Mark]) -> set[Mark]:
        return set(marks)

    def close(self) -> None:
        pass


@dataclass
class _Pending:
    change: Change  # the alert's latest change
    incident_ids: list[str]
    heard_firing: bool  # what receivers knew before this run of changes
    escalated: bool  # an escalation happened in this run of changes
    changed_at: float  # clock time of the latest change
    mark: Mark  # the pipeline's position at the latest change


class Outbox:
    """Notifying changes waiting to settle, one entry per alert."""

    def __init__(
        self,
        settle_s: float,
        probe: InputProbe,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settle_s = settle_s
        self._probe = probe
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def configure(self, settle_s: float) -> None:
        """Take a new settle period (a reloaded rules file)."""
        self._settle_s = settle_s

    def mark(self) -> Mark:
        """Where the pipeline stands now: take it once per evaluation, before reading."""
        return self._probe.mark()

    def close(self) -> None:
        self._probe.close()

    def put(self, change: Change, incident_ids: list[str], mark: Mark) -> None:
        """Take one recorded change of an alert (changes that do not notify update the
        content of a pending alert, and are otherwise not for receivers)."""
        pending = self._pending.get(change.alert_id)
        now = self._clock()
        if pending is None:
            if not change.notify:
                return
            self._pending[change.alert_id] = _Pending(
                change,
                incident_ids,
                heard_firing=change.event != "fired",  # escalated, resolved, withdrawn
                escalated=change.event == "escalated",
                changed_at=now,
                mark=mark,
            )
            return
        pending.change, pending.incident_ids = change, incident_ids
        pending.escalated = pending.escalated or change.event == "escalated"
        pending.changed_at, pending.mark = now, mark

    def due(self) -> list[tuple[Change, list[str]]]:
        """The notifications ready now: alerts settled long enough, on settled input."""
        now = self._clock()
        ripe = {
            alert_id: p
            for alert_id, p in self._pending.items()
            if now - p.changed_at >= self._settle_s
        }
        if not ripe:
            return []
        reached = self._probe.reached({p.mark for p in ripe.values()})
        out: list[tuple[Change, list[str]]] = []
        for alert_id, p in sorted(ripe.items()):
            if p.mark not in reached:
                continue
            del self._pending[alert_id]
            sent = net_change(p.change, p.heard_firing, p.escalated)
            if sent is not None:
                out.append((sent, p.incident_ids))
        return out


def net_change(latest: Change, heard_firing: bool, escalated: bool) -> Change | None:
    """What receivers should hear, from the alert's latest change and what they knew."""
    if latest.silenced_by:
        return None  # a silence that began meanwhile holds it
    firing = latest.state == FIRING
    if firing and not heard_firing:
        event = "fired"
    elif heard_firing and not firing:
        event = "resolved" if latest.event != "withdrawn" else "withdrawn"
    elif firing and escalated:
        event = "escalated"
    else:
        return None  # undone within the period, or nothing receivers would notice
    return replace(latest, event=event, notify=True)
