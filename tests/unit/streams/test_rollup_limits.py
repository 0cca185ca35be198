"""rollup's size limit and the agents' delivery rules, without Faust or Kafka."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiokafka.errors as kafka_errors
import pytest
from faust.exceptions import ProducerSendError

from schemas.warehouse import Membership
from streams import app as stream_app
from streams.app import Send, deliver, is_permanent
from streams.rollup import fold
from streams.semantics import dedupe, pick_max_total
from tests.unit.streams.test_semantics import make_report


def memberships(n: int) -> list[Membership]:
    """n distinct incidents of one district-day (each at its own location)."""
    out: list[Membership] = []
    for i in range(n):
        _, ms = dedupe(
            None, make_report(event=str(i), location=f"village {i}", killed=(1, 0, 0, 0))
        )
        out.extend(ms)
    return out


def test_a_batch_under_the_limit_is_applied_whole() -> None:
    result = fold(None, memberships(10), pick_max_total, limit=1_000_000)
    assert result.changed and not result.refused
    assert result.state is not None and len(result.state.incidents) == 10
    assert result.state.revision == 1


def test_updates_past_the_limit_are_refused_and_the_rest_applied() -> None:
    ms = memberships(40)
    whole = fold(None, ms, pick_max_total, limit=10_000_000)
    per_incident = len(whole.state_json) / 40
    limit = int(per_incident * 25)
    result = fold(None, ms, pick_max_total, limit=limit)
    assert result.refused, "some updates must be refused"
    assert result.state is not None
    kept = len(result.state.incidents)
    assert kept + len(result.refused) == 40
    assert max(len(result.state_json), len(result.snapshot_json)) <= limit
    # Every refused update is one whose incident is not in the state.
    refused_keys = {ms[i].incident.key for i in result.refused}
    assert refused_keys.isdisjoint(result.state.incidents)


def test_a_full_district_day_still_takes_updates_to_its_own_incidents() -> None:
    ms = memberships(30)
    limit = len(fold(None, ms, pick_max_total, limit=10_000_000).state_json) + 10
    full = fold(None, ms, pick_max_total, limit=limit).state
    assert full is not None and len(full.incidents) == 30
    _, retraction = dedupe(None, make_report(event="0", version=2, location="village 0",
                                             retracted=True, hours=1))  # fmt: skip
    result = fold(full, retraction, pick_max_total, limit=limit)
    assert not result.refused and result.changed


@dataclass
class FakeTopic:
    """Stands in for a Faust topic: fails each value's first `failures[value]` sends."""

    name: str
    failures: dict[bytes, list[BaseException]] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, *, key: bytes | None, value: bytes, force: bool) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        errors = self.failures.get(value)
        if errors:
            future.set_exception(errors.pop(0))
        else:
            self.sent.append(value)
            future.set_result(None)
        return future


@dataclass
class FakeMessage:
    topic: str = "t.raw"
    partition: int = 0
    offset: int = 5
    key: bytes | None = b"news:1"


@dataclass
class FakeEvent:
    value: bytes
    message: FakeMessage = field(default_factory=FakeMessage)


def too_large() -> BaseException:
    error = ProducerSendError("Error while sending")
    error.__cause__ = kafka_errors.MessageSizeTooLargeError()
    return error


def test_permanent_and_transient_send_errors_are_told_apart() -> None:
    assert is_permanent(too_large())
    assert not is_permanent(ProducerSendError("x"))
    assert not is_permanent(kafka_errors.NotLeaderForPartitionError())
    assert not is_permanent(kafka_errors.KafkaTimeoutError())


def test_an_output_kafka_refuses_for_good_becomes_a_dead_letter(monkeypatch: Any) -> None:
    monkeypatch.setattr(stream_app, "MAX_RETRY_DELAY_S", 0.0)
    out, dead = FakeTopic("t.valid", {b"huge": [too_large()]}), FakeTopic("t.dead")
    event = FakeEvent(b"huge")
    sends = [Send(out, b"k", b"ok-1", FakeEvent(b"a")), Send(out, b"k", b"huge", event)]
    asyncio.run(deliver(sends, "validate", dead))  # type: ignore[arg-type]
    assert out.sent == [b"ok-1"]
    assert len(dead.sent) == 1 and b"could not send its output" in dead.sent[0]
    assert b'"reason":"too_large"' in dead.sent[0]


def test_a_transient_failure_is_sent_again_until_kafka_takes_it(monkeypatch: Any) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    flaky = [kafka_errors.NotLeaderForPartitionError(), kafka_errors.KafkaTimeoutError()]
    out, dead = FakeTopic("t.valid", {b"v": flaky}), FakeTopic("t.dead")
    asyncio.run(deliver([Send(out, None, b"v", FakeEvent(b"v"))], "dedupe", dead))  # type: ignore[arg-type]
    assert out.sent == [b"v"] and dead.sent == []


def test_a_dead_letter_kafka_refuses_stops_the_agent() -> None:
    dead = FakeTopic("t.dead", {b"letter": [too_large()]})
    with pytest.raises(stream_app.FatalAgentError):
        asyncio.run(deliver([Send(dead, None, b"letter", FakeEvent(b"x"))], "validate", dead))  # type: ignore[arg-type]


_real_sleep = asyncio.sleep


async def _no_sleep(_delay: float) -> None:
    await _real_sleep(0)
