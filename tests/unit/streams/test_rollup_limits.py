"""rollup's size limit (streams.semantics.fold), without Faust or Kafka."""

from __future__ import annotations

from schemas.warehouse import Membership
from streams.semantics import dedupe, fold, pick_max_total
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
