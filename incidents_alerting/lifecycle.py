"""Alert lifecycle, like Alertmanager's: what changed since the stored state, and who hears.

A pure function compares the episodes the rules see now with the alerts stored for the
same scope and returns the state changes to record. An alert notifies once when it starts
firing, again on escalation (its observed value grew by the escalation factor since the
last notification), and once when it resolves (always, if its firing was sent); other
changes (a new expected value, a longer episode) are recorded without notifying. Only
recent alerts notify (``recency_days`` before the wall clock), so replaying old data never
pages; silenced ones are recorded with the silence that held them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from incidents_alerting.evaluate import Episode
from incidents_alerting.rules import Lifecycle

FIRING, RESOLVED, WITHDRAWN = "firing", "resolved", "withdrawn"


@dataclass(frozen=True)
class Stored:
    """The current state of one alert, as the warehouse holds it."""

    alert_id: str
    seq: int
    state: str
    observed: int
    expected: float
    p_value: float
    end: date
    notified_state: str  # the state last sent to receivers ("" if never)
    notified_observed: int  # observed value at the last firing notification


@dataclass(frozen=True)
class Silence:
    """Notifications of matching alerts are held until `ends_at`."""

    silence_id: str
    rule: str  # "*" for any
    province: str  # "*" for any
    district: str  # "*" for any, "" for the province itself
    starts_at: datetime
    ends_at: datetime

    def matches(self, episode: Episode, now: datetime) -> bool:
        return (
            self.starts_at <= now < self.ends_at
            and self.rule in ("*", episode.rule)
            and self.province in ("*", episode.area.province)
            and self.district in ("*", episode.area.district)
        )


@dataclass(frozen=True)
class Change:
    """One state change of one alert: recorded always, sent to receivers if `notify`."""

    episode: Episode
    seq: int
    event: str  # fired, escalated, updated, resolved, withdrawn
    state: str
    notify: bool
    silenced_by: str = ""
    notified_state: str = ""
    notified_observed: int = 0

    @property
    def alert_id(self) -> str:
        return self.episode.alert_id


def changes(
    episodes: list[Episode],
    stored: dict[str, Stored],
    withdrawn_episodes: dict[str, Episode],
    today: date,
    now: datetime,
    lifecycle: Lifecycle,
    silences: list[Silence],
) -> list[Change]:
    """The changes that take the stored alerts of one scope to what the rules see now.

    ``stored`` holds every alert of the scope (one rule and area, or one incident);
    ``withdrawn_episodes`` gives, for stored alerts the rules no longer see, the episode
    to record their withdrawal with (as last stored).
    """
    out: list[Change] = []
    seen: set[str] = set()
    for episode in episodes:
        seen.add(episode.alert_id)
        change = _change(episode, stored.get(episode.alert_id), today, now, lifecycle, silences)
        if change is not None:
            out.append(change)
    for alert_id, old in sorted(stored.items()):
        if alert_id in seen or old.state == WITHDRAWN:
            continue
        episode = withdrawn_episodes[alert_id]
        notify = old.notified_state == FIRING  # receivers were told it fires: close it
        out.append(
            Change(
                episode,
                old.seq + 1,
                "withdrawn",
                WITHDRAWN,
                notify,
                notified_state=RESOLVED if notify else old.notified_state,
                notified_observed=old.notified_observed,
            )
        )
    return out


def _recent(episode: Episode, today: date, lifecycle: Lifecycle) -> bool:
    return (today - episode.end).days <= lifecycle.recency_days


def _change(
    episode: Episode,
    old: Stored | None,
    today: date,
    now: datetime,
    lifecycle: Lifecycle,
    silences: list[Silence],
) -> Change | None:
    state = FIRING if episode.firing(today, lifecycle.cooldown_days) else RESOLVED
    silence = next((s.silence_id for s in silences if s.matches(episode, now)), "")
    may_notify = _recent(episode, today, lifecycle) and not silence
    if old is None or old.state == WITHDRAWN:
        seq = old.seq + 1 if old else 1
        if state == FIRING:
            return Change(
                episode,
                seq,
                "fired",
                FIRING,
                may_notify,
                silence,
                FIRING if may_notify else "",
                episode.observed if may_notify else 0,
            )
        return Change(episode, seq, "resolved", RESOLVED, False, silence)  # history only
    base = Change(
        episode,
        old.seq + 1,
        "updated",
        state,
        False,
        silence,
        old.notified_state,
        old.notified_observed,
    )
    if old.state == FIRING and state == RESOLVED:
        # Receivers that were told it fires hear that it resolved, however late or silenced.
        notify = old.notified_state == FIRING
        return replace(
            base,
            event="resolved",
            notify=notify,
            notified_state=RESOLVED if notify else old.notified_state,
        )
    if old.state == RESOLVED and state == FIRING:
        return replace(
            base,
            event="fired",
            notify=may_notify,
            notified_state=FIRING if may_notify else old.notified_state,
            notified_observed=episode.observed if may_notify else old.notified_observed,
        )
    if state == FIRING and may_notify and old.notified_state != FIRING:
        # Firing all along but never sent (silenced, or not recent): a silence expired.
        return replace(
            base,
            event="fired",
            notify=True,
            notified_state=FIRING,
            notified_observed=episode.observed,
        )
    grown = episode.observed >= old.notified_observed * lifecycle.escalation_factor
    if state == FIRING and may_notify and grown:
        return replace(base, event="escalated", notify=True, notified_observed=episode.observed)
    if (episode.observed, round(episode.expected, 6), episode.p_value, episode.end) == (
        old.observed,
        round(old.expected, 6),
        old.p_value,
        old.end,
    ):
        return None  # nothing a reader would see has changed
    return base
