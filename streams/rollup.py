"""rollup: merge reports into incidents and incidents into district-day aggregates.

Input ``incidents.updates`` carries bundles of memberships (:mod:`streams.ingest`), each
on the partition its district-days' keys hash to, so every report of an incident and
every incident of a district-day meet in one partition and one table value
(:class:`streams.semantics.DistrictDayState`): one changelog write per changed
district-day and batch keeps incidents and their aggregate consistent after a crash.

A district-day's value and snapshot must each stay under ``STREAMS_MAX_STATE_BYTES``
(Faust sends a table value as one message). An update that would push them past it is
dead-lettered with that reason instead of being applied (docs/streams.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from incidents_config.names import Topics
from incidents_config.settings import Settings
from schemas.errors import FieldError
from schemas.warehouse import Membership, MembershipBundle, decode, encode
from streams.letters import Reason, dead_letter, internal_error_letter
from streams.runtime import (
    FatalAgentError,
    Send,
    batches,
    changelog_ready,
    current,
    dead_letter_send,
    deliver,
    guarded,
    outputs_ready,
    published_at,
    table_options,
    table_read,
    table_write,
)
from streams.semantics import casualty_rule, fold, load_district_day

logger = logging.getLogger(__name__)

AGENT = "rollup"

Item = tuple[faust.EventT, Membership, tuple[str, int, int]]  # event, membership, its origin


def register(app: faust.App, names: Topics, settings: Settings, crash_file: Path) -> None:
    """Register the rollup agent and its table on `app`."""
    table = app.Table(
        "district_days",
        options=table_options(settings),
        key_type=bytes,  # see streams/ingest.py
        value_type=bytes,
        partitions=settings.kafka.partitions,
        use_partitioner=True,
    )
    pick = casualty_rule(settings.streams.casualty_rule)
    limit = settings.streams.max_state_bytes
    source = app.topic(names.updates, key_type=bytes, value_type=bytes)

    def apply(
        stream: faust.StreamT[bytes], key: bytes, items: list[Item], changelog: list[Send]
    ) -> list[Send]:
        """The district-day's outputs; its table write's changelog record goes to
        `changelog` at once, so that it is sent even if something after the write fails."""
        last = items[-1][0]
        with current(stream, last):  # one key, so one partition
            known = table_read(table, key)
            state = load_district_day(known) if known else None
            result = fold(state, [m for _, m, _ in items], pick, limit)
            if result.changed:
                changelog.append(table_write(table, key, result.state_json, last))
        sends: list[Send] = []
        if result.changed:
            # The snapshot counts these reports: it says when the oldest of them was published.
            oldest = min(published_at(event) for event, _, _ in items)
            sends.append(Send(names.snapshots, key, result.snapshot_json, last, published=oldest))
        for i in result.refused:
            event, m, origin = items[i]
            incidents = len(result.state.incidents) if result.state else 0
            message = (
                f"district-day {m.incident.district_day.key} holds {incidents} incidents; this"
                f" report would make its state exceed STREAMS_MAX_STATE_BYTES={limit}"
            )
            letter = dead_letter(
                encode(m),
                [FieldError.whole(message)],
                event,
                stage=AGENT,
                reason=Reason.STATE_LIMIT,
                at=origin,
            )
            sends.append(dead_letter_send(letter, event, names.dead_letter))
        return sends

    @app.agent(source, name=AGENT)
    @guarded(AGENT, crash_file)
    async def run(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            await changelog_ready(app, table)
            await outputs_ready(app, [names.snapshots, names.dead_letter])
            # Apply the whole batch per district-day, then publish once per district-day.
            by_key: dict[bytes, list[Item]] = {}
            sends: list[Send] = []
            for event in events:
                try:
                    bundle = decode(event.value, MembershipBundle)
                except Exception as e:
                    letter = internal_error_letter(AGENT, event, e)
                    sends.append(dead_letter_send(letter, event, names.dead_letter))
                    continue
                for m, origin in zip(bundle.memberships, bundle.origins, strict=True):
                    key = m.incident.district_day.key.encode()
                    by_key.setdefault(key, []).append((event, m, origin))
            changelog: list[Send] = []
            for key, items in by_key.items():
                try:
                    sends.extend(apply(stream, key, items, changelog))
                except FatalAgentError:
                    raise
                except Exception as e:  # a bug must not stop the stream or lose the update
                    for event, m, origin in items:
                        raw = encode(m)
                        letter = internal_error_letter(AGENT, event, e, raw, origin)
                        sends.append(dead_letter_send(letter, event, names.dead_letter))
            await deliver(changelog + sends, AGENT, app.producer, names.dead_letter)
