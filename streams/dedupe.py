"""dedupe: keep the latest version of every report; announce where it belongs.

Input ``reports.valid`` is keyed by report id, so the ``reports`` table (report id ->
:class:`streams.semantics.ReportState`) is co-partitioned with it. Output
``incidents.updates`` is keyed by district-day: the repartitioning that brings every
report of one incident into one partition.
"""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from incidents.settings import Settings
from schemas.report import Report
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
from streams.semantics import ReportState, dedupe

logger = logging.getLogger(__name__)

AGENT = "dedupe"


def _partition_key(m: Membership) -> bytes:
    """rollup's partition key: the district-day, a prefix of the incident key."""
    return m.incident.district_day.key.encode()


def register(app: faust.App, topics: Topics, settings: Settings, crash_file: Path) -> None:
    """Register the dedupe agent and its table on `app`."""
    table = app.Table(
        "reports",
        key_type=bytes,  # bytes keys and values are stored raw (no JSON wrapping)
        value_type=bytes,
        partitions=settings.kafka.partitions,
        # The changelog partition of a key must be the partition its messages arrive on;
        # the source topic is partitioned by the same murmur2 of the same key bytes.
        use_partitioner=True,
    )
    limit = settings.streams.max_state_bytes

    def apply(stream: faust.StreamT[bytes], event: faust.EventT) -> list[Send]:
        report = Report.model_validate_json(event.value)
        key = report.report_id.encode()
        with current(stream, event):
            known = table_read(table, key)
            state = ReportState.model_validate_json(known) if known else None
            new_state, memberships = dedupe(state, report)
            if new_state is not None and new_state is not state:
                value = new_state.model_dump_json().encode()
                if len(value) > limit:
                    message = (
                        f"report {report.report_id} has moved between {len(new_state.keys)}"
                        f" incidents; its state ({len(value)} bytes) would exceed"
                        f" STREAMS_MAX_STATE_BYTES={limit}"
                    )
                    letter = dead_letter(
                        raw_bytes(event),
                        [{"field": "$", "message": message}],
                        event,
                        stage=AGENT,
                        reason=Reason.STATE_LIMIT,
                    )
                    return [dead_letter_send(letter, event, topics.dead_letter)]
                table_write(table, key, value)
        return [
            Send(
                topics.updates,
                m.incident.district_day.key.encode(),
                m.model_dump_json().encode(),
                event,
            )
            for m in memberships
        ]

    @app.agent(topics.valid, name=AGENT)
    @guarded(AGENT, crash_file)
    async def run(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            await changelog_ready(app, table)
            sends: list[Send] = []
            for event in events:
                try:
                    sends.extend(apply(stream, event))
                except FatalAgentError:
                    raise
                except Exception as e:  # a bug must not stop the stream or lose the report
                    letter = internal_error_letter(AGENT, event, e)
                    sends.append(dead_letter_send(letter, event, topics.dead_letter))
            await deliver(sends, AGENT, topics.dead_letter)
