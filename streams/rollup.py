"""rollup: merge reports into incidents and incidents into district-day aggregates.

Input ``incidents.updates`` is keyed by district-day, a prefix of the incident key, so
every report of an incident and every incident of a district-day meet in one partition
and one table value (:class:`streams.semantics.DistrictDayState`): one changelog write
per change keeps incidents and their aggregate consistent after a crash.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import faust

from incidents.settings import Settings
from schemas.warehouse import Membership
from streams.app import Send, Topics, batches, current, deliver
from streams.semantics import DistrictDayState, apply_membership, casualty_rule, snapshot
from streams.validate import internal_error

logger = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Register the rollup agent and its table on `app`."""
    table = app.Table(
        "district_days",
        key_type=bytes,  # see streams/dedupe.py
        value_type=bytes,
        partitions=settings.kafka.partitions,
        use_partitioner=True,
    )
    pick = casualty_rule(settings.streams.casualty_rule)

    @app.agent(topics.updates, name="rollup")
    async def run(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            # Apply the whole batch per district-day, then publish once per district-day.
            by_key: dict[bytes, list[tuple[faust.EventT, Membership]]] = defaultdict(list)
            sends: list[Send] = []
            for event in events:
                try:
                    m = Membership.model_validate_json(event.value)
                except Exception as e:
                    sends.append((topics.dead_letter, *internal_error("rollup", event, e)))
                    continue
                by_key[m.incident.district_day.key.encode()].append((event, m))
            for key, items in by_key.items():
                try:
                    with current(stream, items[-1][0]):  # one key, so one partition
                        known = table.get(key)
                        state = DistrictDayState.model_validate_json(known) if known else None
                        publish = False
                        for _, m in items:
                            state, changed = apply_membership(state, m)
                            publish = publish or changed
                        if state is None or not publish:
                            continue
                        state = state.model_copy(update={"revision": state.revision + 1})
                        table[key] = state.model_dump_json().encode()
                    value = snapshot(state, pick).model_dump_json().encode()
                except Exception as e:  # a bug must not stop the stream or lose the update
                    for event, _ in items:
                        sends.append((topics.dead_letter, *internal_error("rollup", event, e)))
                    continue
                sends.append((topics.snapshots, key, value))
            await deliver(sends)
