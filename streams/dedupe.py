"""dedupe: keep the latest version of every report; announce where it belongs.

Input ``reports.valid`` is keyed by report id, so the ``reports`` table (report id ->
:class:`streams.semantics.ReportState`) is co-partitioned with it. Output
``incidents.updates`` is keyed by district-day: the repartitioning that brings every
report of one incident into one partition.
"""

from __future__ import annotations

import logging

import faust

from incidents.settings import Settings
from schemas.report import Report
from streams.app import Send, Topics, batches, current, deliver
from streams.semantics import ReportState, dedupe
from streams.validate import internal_error

logger = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
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

    @app.agent(topics.valid, name="dedupe")
    async def run(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            sends: list[Send] = []
            for event in events:
                try:
                    report = Report.model_validate_json(event.value)
                    key = report.report_id.encode()
                    with current(stream, event):
                        known = table.get(key)
                        state = ReportState.model_validate_json(known) if known else None
                        new_state, memberships = dedupe(state, report)
                        if new_state is not None and new_state is not state:
                            table[key] = new_state.model_dump_json().encode()
                except Exception as e:  # a bug must not stop the stream or lose the report
                    sends.append((topics.dead_letter, *internal_error("dedupe", event, e)))
                    continue
                for m in memberships:
                    key = m.incident.district_day.key.encode()
                    sends.append((topics.updates, key, m.model_dump_json().encode()))
            await deliver(sends)
