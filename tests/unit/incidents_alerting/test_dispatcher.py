"""The dispatcher: what it finds queued together for the alerts topic goes as one batch;
pages keep their grouping; every change's delivery attempt is recorded."""

from __future__ import annotations

from incidents_alerting.notify import Delivery, Dispatcher, Outcome
from incidents_alerting.routing import Notification
from tests.unit.incidents_alerting.test_notifications import mass_casualty


class Receiver:
    def __init__(self, name: str, kinds: set[str], fail_first: int = 0) -> None:
        self.name = name
        self.kinds = frozenset(kinds)
        self.got: list[Notification] = []
        self._fail = fail_first

    def send(self, notification: Notification) -> Outcome:
        self.got.append(notification)
        if self._fail:
            self._fail -= 1
            return Outcome(False, 0, "down")
        return Outcome(True)


class Recorder:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def record_deliveries(self, deliveries: list[Delivery]) -> None:
        self.deliveries += deliveries


def queued_then_started(
    receivers: list[Receiver], messages: list[tuple[str, Notification]], retries: int = 3
) -> Recorder:
    """Queue `messages` before the thread starts (so it drains them together), then run."""
    recorder = Recorder()
    dispatcher = Dispatcher(receivers, recorder, retries, 0.001)  # type: ignore[arg-type]
    for kind, n in messages:
        getattr(dispatcher, kind)(n)
    dispatcher.start()
    try:
        assert dispatcher.wait_idle(10.0)
    finally:
        dispatcher.stop()
    return recorder


def test_changes_queued_together_reach_the_feed_as_one_notification_in_order() -> None:
    changes = [mass_casualty(f"place-{i}") for i in range(7)]
    feed, pager = Receiver("kafka", {"feed"}), Receiver("webhook", {"page"})
    page = Notification((("alertname", "mass_casualty"),), ())
    messages = [("feed", Notification.single(c, [c.episode.incident_id])) for c in changes[:4]]
    messages += [("page", page)]
    messages += [("feed", Notification.single(c, [c.episode.incident_id])) for c in changes[4:]]
    recorder = queued_then_started([feed, pager], messages)
    assert len(feed.got) == 1
    assert [i.change for i in feed.got[0].items] == changes
    ids = [(c.episode.incident_id,) for c in changes]
    assert [i.incident_ids for i in feed.got[0].items] == ids
    assert pager.got == [page]  # a page is never merged
    recorded = [(a, n, ok) for a, _, n, _, ok, _, _ in recorder.deliveries]
    assert recorded == [(c.alert_id, "kafka", True) for c in changes]


def test_a_failed_feed_batch_is_retried_whole_and_every_attempt_is_recorded() -> None:
    changes = [mass_casualty(f"place-{i}") for i in range(3)]
    feed = Receiver("kafka", {"feed"}, fail_first=1)
    recorder = queued_then_started([feed], [("feed", Notification.single(c)) for c in changes])
    assert len(feed.got) == 2
    assert feed.got[0] == feed.got[1]
    attempts = [(a, n, ok) for a, _, _, n, ok, _, _ in recorder.deliveries]
    assert attempts == [(c.alert_id, 1, False) for c in changes] + [
        (c.alert_id, 2, True) for c in changes
    ]


def test_feed_changes_queued_apart_are_sent_apart() -> None:
    feed = Receiver("kafka", {"feed"})
    recorder = Recorder()
    dispatcher = Dispatcher([feed], recorder, 1, 0.001)  # type: ignore[list-item]
    dispatcher.start()
    try:
        for i in range(2):
            dispatcher.feed(Notification.single(mass_casualty(f"apart-{i}")))
            assert dispatcher.wait_idle(10.0)
    finally:
        dispatcher.stop()
    assert [len(n.items) for n in feed.got] == [1, 1]
