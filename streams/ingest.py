"""ingest: raw feed bytes -> a valid, deduplicated report version, announced to rollup.

One agent validates and deduplicates: the raw topic is keyed by report id, so the
``reports`` table (report id -> :class:`streams.semantics.ReportState`) is co-partitioned
with it, and a report is read from Kafka by the workers once.

Per raw message it sends:

- the valid report to ``reports.valid`` (for the sink's ``report_versions`` table and
  lineage; nothing in the pipeline reads it back), bundled like the memberships below:
  one message per partition and batch (:class:`schemas.warehouse.ValidBundle`), each
  report with the raw message's coordinates and publication time; or a dead letter that
  says why not;
- the report's memberships (:class:`schemas.warehouse.Membership`) to
  ``incidents.updates``, bundled: one message per target partition and batch
  (:class:`schemas.warehouse.MembershipBundle`), sent to the partition a key of its
  district-day would reach. That is the repartitioning that brings every report of one
  incident into one rollup partition, without one Faust event per report downstream.

A raw message whose key is not its report id (a producer that keys otherwise, or not at
all) would be deduplicated in the wrong partition; it is forwarded once, unchanged, to
``reports.rekeyed`` under its report id, which this agent also reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import msgspec

from incidents_config.metrics import REPORTS_ACCEPTED, REPORTS_CONSUMED, source_label
from incidents_config.names import Topics
from incidents_config.settings import Settings
from schemas.errors import FieldError
from schemas.report import Report, ReportValidationError, parse_report
from schemas.warehouse import encode
from streams.letters import Reason, contract_reason, dead_letter, internal_error_letter
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
    raw_bytes,
    table_options,
    table_read,
    table_write,
)
from streams.semantics import dedupe, dump_state, load_report_state

logger = logging.getLogger(__name__)

AGENT = "ingest"
VALIDATE = "validate"  # the stage named in dead letters for a report the contract refuses
DEDUPE = "dedupe"  # ... and for one whose state would outgrow STREAMS_MAX_STATE_BYTES
BUNDLE_BYTES = 256 * 1024  # a bundle is cut before it grows past this


def check(raw: bytes) -> Report | list[FieldError]:
    """Return the valid report in `raw`, or the list of what is wrong with it.

    Never raises: a bug in validation turns into an error entry, not a crashed worker.
    """
    try:
        return parse_report(raw)
    except ReportValidationError as e:
        return e.errors
    except Exception as e:  # never let one message stop the stream
        logger.exception("validation failed unexpectedly")
        return [FieldError.whole(f"internal error while validating: {e!r}")]


@dataclass
class Bundles:
    """Items waiting to be sent, per partition of `topic`: memberships
    (:class:`schemas.warehouse.MembershipBundle`, origins ``[topic, partition, offset]``)
    or, with ``items=b"reports"``, valid reports (:class:`schemas.warehouse.ValidBundle`,
    origins ``[topic, partition, offset, published ms]``)."""

    topic: str
    items: bytes = b"memberships"  # the bundle's field that lists the items
    parts: dict[int, list[tuple[faust.EventT, bytes]]] = field(default_factory=dict)

    def add(self, partition: int, event: faust.EventT, item_json: bytes) -> None:
        self.parts.setdefault(partition, []).append((event, item_json))

    def sends(self) -> list[Send]:
        """One message per partition, cut at BUNDLE_BYTES; each names its last event and
        carries when its oldest report was published.

        A bundle is at most BUNDLE_BYTES plus one item, and an item is bounded by the
        contract's field lengths (a few KiB), so Kafka's 1,000,000-byte limit is never
        reached: no bundle is ever dead-lettered as too large.
        """
        out: list[Send] = []
        with_published = self.items == b"reports"
        for partition, items in sorted(self.parts.items()):
            chunk: list[bytes] = []
            origins: list[bytes] = []
            size = 0
            oldest: int | None = None  # when the chunk's oldest report was published
            for i, (event, item) in enumerate(items):
                msg = event.message
                published = published_at(event)
                where: list[object] = [msg.topic, msg.partition, msg.offset]
                if with_published:
                    where.append(published)
                origin = msgspec.json.encode(where)
                chunk.append(item)
                origins.append(origin)
                size += len(item) + len(origin) + 2
                oldest = published if oldest is None else min(oldest, published)
                if size >= BUNDLE_BYTES or i == len(items) - 1:
                    value = b"".join(
                        (
                            b'{"',
                            self.items,
                            b'":[',
                            b",".join(chunk),
                            b'],"origins":[',
                            b",".join(origins),
                            b"]}",
                        )
                    )
                    out.append(
                        Send(self.topic, None, value, event, partition=partition, published=oldest)
                    )
                    chunk, origins, size, oldest = [], [], 0, None
        return out


def register(app: faust.App, names: Topics, settings: Settings, crash_file: Path) -> None:
    """Register the ingest agent and its table on `app`."""
    table = app.Table(
        "reports",
        options=table_options(settings),
        key_type=bytes,  # bytes keys and values are stored raw (no JSON wrapping)
        value_type=bytes,
        partitions=settings.kafka.partitions,
        # The changelog partition of a key must be the partition its messages arrive on;
        # the source topics are partitioned by the same murmur2 of the same key bytes.
        use_partitioner=True,
    )
    limit = settings.streams.max_state_bytes
    source = app.topic(names.raw, names.rekeyed, key_type=bytes, value_type=bytes)
    partitions: dict[str, int] = {}  # per output topic, as of the batch's start
    stored_in = table.changelog_topic.get_topic_name()  # and the table's changelog
    # Each source's two counters, looked up once: prometheus' labels() takes a lock.
    counters: dict[str, tuple[Any, Any]] = {}  # bounded by source_label's label set

    def handle(
        stream: faust.StreamT[bytes],
        event: faust.EventT,
        bundles: Bundles,
        valid: Bundles,
        changelog: list[Send],
    ) -> list[Send]:
        """The event's outputs; its table write's changelog record goes to `changelog` at
        once, so that it is sent even if something after the write fails."""
        raw = raw_bytes(event)
        result = check(raw)
        if not isinstance(result, Report):
            letter = dead_letter(raw, result, event, stage=VALIDATE, reason=contract_reason(result))
            REPORTS_CONSUMED.labels(source_label(letter.source)).inc()
            return [dead_letter_send(letter, event, names.dead_letter)]
        key = result.report_id.encode()
        if event.message.key != key and event.message.topic != names.rekeyed:
            # Deduplicating here would split the report's state across partitions.
            return [Send(names.rekeyed, key, raw, event)]
        label = source_label(result.source)
        consumed, accepted = counters.get(label) or counters.setdefault(
            label, (REPORTS_CONSUMED.labels(label), REPORTS_ACCEPTED.labels(label))
        )
        consumed.inc()
        accepted.inc()
        report_json = result.model_dump_json().encode()
        valid_partition = key_partition(key, partitions[names.valid])
        stored = key_partition(key, partitions[stored_in])  # the table's partition of it
        with current(stream, event):
            known = table_read(table, key, stored)
            state = load_report_state(known) if known else None
            new_state, memberships = dedupe(state, result, report_json=report_json)
            targets = [
                (key_partition(m.incident.district_day.key.encode(), partitions[names.updates]), m)
                for m in memberships
            ]
            if new_state is not None and new_state is not state:
                value = dump_state(new_state)
                if len(value) > limit:
                    message = (
                        f"report {result.report_id} has moved between {len(new_state.keys)}"
                        f" incidents; its state ({len(value)} bytes) would exceed"
                        f" STREAMS_MAX_STATE_BYTES={limit}"
                    )
                    letter = dead_letter(
                        raw,
                        [FieldError.whole(message)],
                        event,
                        stage=DEDUPE,
                        reason=Reason.STATE_LIMIT,
                    )
                    # The valid report is still stored: it is valid, only not counted.
                    valid.add(valid_partition, event, report_json)
                    return [dead_letter_send(letter, event, names.dead_letter)]
                changelog.append(table_write(table, key, value, event, stored))
        valid.add(valid_partition, event, report_json)
        for partition, m in targets:
            bundles.add(partition, event, encode(m))
        return []

    @app.agent(source, name=AGENT)
    @guarded(AGENT, crash_file)
    async def run(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            partitions[stored_in] = await changelog_ready(app, table)
            # Every topic this agent writes to, and their partitions.
            partitions.update(
                await outputs_ready(
                    app, [names.updates, names.valid, names.rekeyed, names.dead_letter]
                )
            )
            bundles = Bundles(names.updates)
            valid = Bundles(names.valid, items=b"reports")
            sends: list[Send] = []
            changelog: list[Send] = []
            for event in events:
                try:
                    sends.extend(handle(stream, event, bundles, valid, changelog))
                except FatalAgentError:
                    raise
                except Exception as e:  # a bug must not stop the stream or lose the report
                    letter = internal_error_letter(AGENT, event, e)
                    sends.append(dead_letter_send(letter, event, names.dead_letter))
            outputs = changelog + sends + valid.sends() + bundles.sends()
            await deliver(outputs, AGENT, app.producer, names.dead_letter)
