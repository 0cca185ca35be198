"""rollup: merge reports into incidents and incidents into district-day aggregates.

Input ``incidents.updates`` is keyed by district-day, a prefix of the incident key, so
every report of an incident and every incident of a district-day meet in one partition
and one table value (:class:`streams.semantics.DistrictDayState`): one changelog write
per change keeps incidents and their aggregate consistent after a crash.

A district-day's value and snapshot must each stay under ``STREAMS_MAX_STATE_BYTES``
(Faust sends a table value as one message). An update that would push them past it is
dead-lettered with that reason instead of being applied (docs/streams.md).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import faust

from incidents.settings import Settings
from schemas.warehouse import Membership
from streams.app import (
    FatalAgentError,
    Send,
    Topics,
    batches,
    changelog_ready,
    current,
    dead_letter_send,
    deliver,
    guarded,
    table_read,
    table_write,
)
from streams.letters import Reason, dead_letter, internal_error_letter, raw_bytes
from streams.semantics import (
    CasualtyPick,
    DistrictDayState,
    apply_membership,
    casualty_rule,
    snapshot,
)

logger = logging.getLogger(__name__)

AGENT = "rollup"


@dataclass
class Folded:
    """The result of applying a batch of memberships to one district-day."""

    state: DistrictDayState | None
    changed: bool = False
    state_json: bytes = b""
    snapshot_json: bytes = b""
    refused: list[int] = field(default_factory=list)  # indexes over the size limit


def fold(
    state: DistrictDayState | None,
    memberships: list[Membership],
    pick: CasualtyPick,
    limit: int,
) -> Folded:
    """Apply memberships to a district-day, refusing those that would exceed ``limit``.

    The whole batch is tried first; only when its result is too large are the memberships
    applied one at a time, each kept only if the value and snapshot still fit.
    """
    result = _apply(state, list(enumerate(memberships)), pick)
    if result.state is None or max(len(result.state_json), len(result.snapshot_json)) <= limit:
        return result
    current, changed, refused = state, False, []
    for i, m in enumerate(memberships):
        attempt = _apply(current, [(i, m)], pick)
        if max(len(attempt.state_json), len(attempt.snapshot_json)) > limit:
            refused.append(i)
            continue
        current, changed = attempt.state, changed or attempt.changed
    out = _apply(current, [], pick) if changed else Folded(current)
    out.changed, out.refused = changed, refused
    return out


def _apply(
    state: DistrictDayState | None, items: list[tuple[int, Membership]], pick: CasualtyPick
) -> Folded:
    changed = False
    for _, m in items:
        state, published = apply_membership(state, m)
        changed = changed or published
    if state is None:
        return Folded(None)
    if items and not changed:
        return Folded(state)
    if items:
        state = state.model_copy(update={"revision": state.revision + 1})
    return Folded(
        state,
        changed=bool(items),
        state_json=state.model_dump_json().encode(),
        snapshot_json=snapshot(state, pick).model_dump_json().encode(),
    )


def register(app: faust.App, topics: Topics, settings: Settings, crash_file: Path) -> None:
    """Register the rollup agent and its table on `app`."""
    table = app.Table(
        "district_days",
        key_type=bytes,  # see streams/dedupe.py
        value_type=bytes,
        partitions=settings.kafka.partitions,
        use_partitioner=True,
    )
    pick = casualty_rule(settings.streams.casualty_rule)
    limit = settings.streams.max_state_bytes

    def apply(
        stream: faust.StreamT[bytes], key: bytes, items: list[tuple[faust.EventT, Membership]]
    ) -> list[Send]:
        with current(stream, items[-1][0]):  # one key, so one partition
            known = table_read(table, key)
            state = DistrictDayState.model_validate_json(known) if known else None
            result = fold(state, [m for _, m in items], pick, limit)
            if result.changed:
                table_write(table, key, result.state_json)
        sends = [Send(topics.snapshots, key, result.snapshot_json, items[-1][0])]
        if not result.changed:
            sends = []
        for i in result.refused:
            event, m = items[i]
            incidents = len(result.state.incidents) if result.state else 0
            message = (
                f"district-day {m.incident.district_day.key} holds {incidents} incidents; this"
                f" report would make its state exceed STREAMS_MAX_STATE_BYTES={limit}"
            )
            letter = dead_letter(
                raw_bytes(event),
                [{"field": "$", "message": message}],
                event,
                stage=AGENT,
                reason=Reason.STATE_LIMIT,
            )
            sends.append(dead_letter_send(letter, event, topics.dead_letter))
        return sends

    @app.agent(topics.updates, name=AGENT)
    @guarded(AGENT, crash_file)
    async def run(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            await changelog_ready(app, table)
            # Apply the whole batch per district-day, then publish once per district-day.
            by_key: dict[bytes, list[tuple[faust.EventT, Membership]]] = defaultdict(list)
            sends: list[Send] = []
            for event in events:
                try:
                    m = Membership.model_validate_json(event.value)
                except Exception as e:
                    letter = internal_error_letter(AGENT, event, e)
                    sends.append(dead_letter_send(letter, event, topics.dead_letter))
                    continue
                by_key[m.incident.district_day.key.encode()].append((event, m))
            for key, items in by_key.items():
                try:
                    sends.extend(apply(stream, key, items))
                except FatalAgentError:
                    raise
                except Exception as e:  # a bug must not stop the stream or lose the update
                    for event, _ in items:
                        letter = internal_error_letter(AGENT, event, e)
                        sends.append(dead_letter_send(letter, event, topics.dead_letter))
            await deliver(sends, AGENT, topics.dead_letter)
