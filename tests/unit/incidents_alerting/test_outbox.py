"""The outbox: a notification only for an alert state that held, on settled input."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from incidents_alerting.evaluate import Area, Episode
from incidents_alerting.lifecycle import FIRING, RESOLVED, WITHDRAWN, Change
from incidents_alerting.outbox import Mark, Outbox, net_change

DAY = date(2025, 6, 29)


def episode(observed: int = 6) -> Episode:
    return Episode(
        rule="count_spike",
        area=Area("Khyber Pakhtunkhwa", "Lakki Marwat"),
        start=DAY,
        end=DAY,
        peak_start=DAY,
        peak_end=DAY,
        observed=observed,
        expected=0.5,
        p_value=1e-6,
        summary=f"Lakki Marwat: {observed} incidents",
    )


def change(event: str, seq: int, observed: int = 6, notify: bool = True, **kw: object) -> Change:
    state = {"fired": FIRING, "escalated": FIRING, "updated": FIRING}.get(event, RESOLVED)
    if event == "withdrawn":
        state = WITHDRAWN
    return replace(Change(episode(observed), seq, event, state, notify), **kw)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Probe:
    """Marks are numbers; everything up to `done` has gone through the pipeline."""

    def __init__(self) -> None:
        self.next = 0
        self.done = 0
        self.asked: list[set[Mark]] = []

    def mark(self) -> Mark:
        self.next += 1
        return self.next

    def reached(self, marks: set[Mark]) -> set[Mark]:
        self.asked.append(set(marks))
        return {m for m in marks if m <= self.done}

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def probe() -> Probe:
    return Probe()


def test_a_fire_then_growth_within_the_period_sends_one_firing_with_the_latest_count(
    clock: Clock, probe: Probe
) -> None:
    box = Outbox(30.0, probe, clock)
    box.put(change("fired", 1, observed=6), ["a"], probe.mark())
    clock.now = 1.0
    box.put(change("escalated", 2, observed=9), ["a", "b"], probe.mark())
    probe.done = 2
    clock.now = 30.5
    assert box.due() == []  # the latest change is 29.5 s old
    clock.now = 31.0
    ((sent, ids),) = box.due()
    assert (sent.event, sent.state, sent.episode.observed, sent.seq) == ("fired", FIRING, 9, 2)
    assert sent.notify and ids == ["a", "b"]
    assert box.due() == [] and len(box) == 0


def test_a_fire_undone_within_the_period_sends_nothing(clock: Clock, probe: Probe) -> None:
    box = Outbox(30.0, probe, clock)
    box.put(change("fired", 1), [], probe.mark())
    box.put(change("withdrawn", 2), [], probe.mark())
    probe.done, clock.now = 2, 100.0
    assert box.due() == [] and len(box) == 0


def test_nothing_leaves_before_the_pipeline_processed_what_it_held(
    clock: Clock, probe: Probe
) -> None:
    box = Outbox(0.0, probe, clock)
    box.put(change("fired", 1), [], probe.mark())
    assert box.due() == [] and probe.asked == [{1}]  # mark 1 not reached yet
    probe.done = 1
    assert [c.event for c, _ in box.due()] == ["fired"]


def test_a_later_change_needs_its_own_later_input_settled(clock: Clock, probe: Probe) -> None:
    box = Outbox(0.0, probe, clock)
    box.put(change("fired", 1), [], probe.mark())
    box.put(change("escalated", 2, observed=9), [], probe.mark())
    probe.done = 1  # the first evaluation's input is through, not the second's
    assert box.due() == []
    probe.done = 2
    ((sent, _),) = box.due()
    assert sent.episode.observed == 9


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["fired"], "fired"),
        (["fired", "updated"], "fired"),
        (["escalated"], "escalated"),
        (["escalated", "updated"], "escalated"),
        (["resolved"], "resolved"),
        (["withdrawn"], "withdrawn"),
        (["resolved", "fired"], None),  # flapped back: receivers still know it fires
        (["fired", "resolved"], None),
        (["escalated", "resolved"], "resolved"),
    ],
)
def test_the_net_change_is_what_receivers_did_not_know(
    events: list[str], expected: str | None, clock: Clock, probe: Probe
) -> None:
    box = Outbox(0.0, probe, clock)
    for seq, event in enumerate(events, 1):
        box.put(change(event, seq, notify=event != "updated"), [], probe.mark())
    probe.done = len(events)
    assert [c.event for c, _ in box.due()] == ([expected] if expected else [])


def test_changes_that_do_not_page_are_not_for_receivers(clock: Clock, probe: Probe) -> None:
    box = Outbox(0.0, probe, clock)
    box.put(change("fired", 1, notify=False), [], probe.mark())  # history, or silenced
    box.put(change("updated", 2, notify=False), [], probe.mark())
    probe.done = 2
    assert len(box) == 0 and box.due() == []


def test_a_silence_that_began_meanwhile_holds_the_notification() -> None:
    latest = change("escalated", 2, observed=9, notify=False, silenced_by="s1")
    assert net_change(latest, heard_firing=False, escalated=True) is None


def test_several_alerts_settle_each_on_its_own(clock: Clock, probe: Probe) -> None:
    box = Outbox(10.0, probe, clock)
    first = change("fired", 1)
    other = replace(first, episode=replace(first.episode, area=Area("Balochistan", "Kech")))
    assert first.alert_id != other.alert_id
    box.put(first, [], probe.mark())
    clock.now = 5.0
    box.put(other, [], probe.mark())
    probe.done = 2
    clock.now = 10.0
    assert [c.alert_id for c, _ in box.due()] == [first.alert_id]
    clock.now = 15.0
    assert [c.alert_id for c, _ in box.due()] == [other.alert_id]
