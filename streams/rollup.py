"""rollup: merge reports into incidents and incidents into district-day aggregates.

Input ``incidents.updates`` carries bundles of memberships (:mod:`streams.ingest`), each
on the partition its district-days' keys hash to, so every report of an incident and
every incident of a district-day meet in one partition and one table value
(:class:`streams.semantics.DistrictDayState`): one changelog write per changed
district-day and batch keeps incidents and their aggregate consistent after a crash.

Output ``warehouse.snapshots`` carries one snapshot per changed district-day and batch,
bundled (:class:`schemas.warehouse.SnapshotBundle`): one message per partition a key of
the district-day would reach, cut at ``SNAPSHOT_BUNDLE_BYTES``; a larger snapshot goes
alone, as a plain :class:`schemas.warehouse.DistrictDaySnapshot`.

A district-day's value and snapshot must each stay under ``STREAMS_MAX_STATE_BYTES``
(Faust sends a table value as one message). An update that would push them past it is
dead-lettered with that reason instead of being applied (docs/streams.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import faust

from incidents_config.names import Topics
from incidents_config.settings import Settings
from schemas.errors import FieldError
from schemas.warehouse import (
    SNAPSHOT_BUNDLE_BYTES,
    SNAPSHOT_BUNDLE_PREFIX,
    Membership,
    MembershipBundle,
    decode,
    encode,
)
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
    key_partition,
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


@dataclass(frozen=True)
class Snapshot:
    """A district-day's snapshot waiting to be sent, and what its message needs."""

    partition: int  # the partition of ``warehouse.snapshots`` its key would reach
    value: bytes  # the DistrictDaySnapshot's JSON
    published: int  # when the oldest report it counts was published (Unix ms)
    event: faust.EventT  # the last event it counts: dead-lettered if Kafka refuses it


def snapshot_sends(topic: str, snapshots: list[Snapshot]) -> list[Send]:
    """The messages for one batch's snapshots: per partition and in the order given,
    bundles of at most ``SNAPSHOT_BUNDLE_BYTES``, and each snapshot larger than that
    alone, as a plain :class:`schemas.warehouse.DistrictDaySnapshot`."""
    out: list[Send] = []
    parts: dict[int, list[Snapshot]] = {}
    for s in snapshots:
        parts.setdefault(s.partition, []).append(s)
    overhead = len(SNAPSHOT_BUNDLE_PREFIX) + len(b'[],"published":[]}')
    for partition, items in sorted(parts.items()):
        chunk: list[Snapshot] = []
        size = overhead
        for s in items:
            grown = len(s.value) + len(str(s.published)) + 2
            alone = overhead + grown > SNAPSHOT_BUNDLE_BYTES  # too large to share a message
            if chunk and (alone or size + grown > SNAPSHOT_BUNDLE_BYTES):
                out.append(_bundle(topic, partition, chunk))
                chunk, size = [], overhead
            if alone:
                out.append(Send(topic, None, s.value, s.event, partition, s.published))
            else:
                chunk.append(s)
                size += grown
        if chunk:
            out.append(_bundle(topic, partition, chunk))
    return out


def _bundle(topic: str, partition: int, chunk: list[Snapshot]) -> Send:
    value = b"".join(
        (
            SNAPSHOT_BUNDLE_PREFIX,
            b"[",
            b",".join(s.value for s in chunk),
            b'],"published":[',
            b",".join(str(s.published).encode() for s in chunk),
            b"]}",
        )
    )
    oldest = min(s.published for s in chunk)
    return Send(topic, None, value, chunk[-1].event, partition, oldest)


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
    partitions: dict[str, int] = {}  # per output topic, as of the batch's start
    stored_in = table.changelog_topic.get_topic_name()  # and the table's changelog

    def apply(
        stream: faust.StreamT[bytes],
        key: bytes,
        items: list[Item],
        changelog: list[Send],
        snapshots: list[Snapshot],
    ) -> list[Send]:
        """The district-day's dead letters. Its table write's changelog record goes to
        `changelog` at once, so that it is sent even if something after the write fails,
        and its snapshot to `snapshots`, to be bundled."""
        last = items[-1][0]
        stored = key_partition(key, partitions[stored_in])  # the table's partition of it
        with current(stream, last):  # one key, so one partition
            known = table_read(table, key, stored)
            state = load_district_day(known) if known else None
            result = fold(state, [m for _, m, _ in items], pick, limit)
            if result.changed:
                changelog.append(table_write(table, key, result.state_json, last, stored))
        sends: list[Send] = []
        if result.changed:
            # The snapshot counts these reports: it says when the oldest of them was published.
            oldest = min(published_at(event) for event, _, _ in items)
            partition = key_partition(key, partitions[names.snapshots])
            snapshots.append(Snapshot(partition, result.snapshot_json, oldest, last))
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
            partitions[stored_in] = await changelog_ready(app, table)
            partitions.update(await outputs_ready(app, [names.snapshots, names.dead_letter]))
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
            snapshots: list[Snapshot] = []
            for key, items in by_key.items():
                try:
                    sends.extend(apply(stream, key, items, changelog, snapshots))
                except FatalAgentError:
                    raise
                except Exception as e:  # a bug must not stop the stream or lose the update
                    for event, m, origin in items:
                        raw = encode(m)
                        letter = internal_error_letter(AGENT, event, e, raw, origin)
                        sends.append(dead_letter_send(letter, event, names.dead_letter))
            outputs = changelog + sends + snapshot_sends(names.snapshots, snapshots)
            await deliver(outputs, AGENT, app.producer, names.dead_letter)
