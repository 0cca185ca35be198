"""Has the pipeline processed everything that was in Kafka at some moment? (settled input)

Alerting pages only for alerts computed from settled input (docs/alerting.md). A report
travels raw -> (rekeyed ->) updates -> snapshots -> the sink, and each stage commits its
offsets only after its outputs are acknowledged. So a moment's data has reached the
warehouse (and been evaluated: the sink evaluates before it commits) when, stage by stage,
the stage's consumer group has committed past the end its input topic had when the stage
before was done. A :class:`Mark` walks those stages; :class:`PipelineProbe` checks every
open mark with one read of the offsets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from incidents_config.names import Generation
from incidents_config.settings import Settings
from incidents_ops.topics import read_offsets

logger = logging.getLogger(__name__)

TIMEOUT_MS = 5_000


@dataclass(eq=False)  # a mark is itself: compared and hashed by identity
class Mark:
    """One moment's data on its way through the stages."""

    stage: int = 0  # index into the probe's stages; len(stages): the warehouse has it all
    target: dict[TopicPartition, int] = field(default_factory=dict)  # ends to pass


class PipelineProbe:
    """The settled-input probe of the live generation, with one long-lived admin client."""

    def __init__(self, settings: Settings) -> None:
        generation = Generation.of(settings)
        t = generation.topics
        # (topic, the group that consumes it): the stages in the order data moves.
        self._stages = [
            (t.raw, generation.app),
            (t.rekeyed, generation.app),
            (t.updates, generation.app),
            (t.snapshots, generation.sink_group),
        ]
        self._groups = sorted({group for _, group in self._stages})
        self._kafka = settings.kafka
        self._admin: KafkaAdminClient | None = None
        self._warned = False

    def mark(self) -> Mark:
        """A mark for "what is in Kafka now" (the raw topic's ends, read when first checked:
        no round trip on the write path)."""
        return Mark()

    def reached(self, marks: set[Mark]) -> set[Mark]:
        """Advance each mark as far as the committed offsets allow; return the finished."""
        if not marks:
            return set()
        try:
            ends, committed = self._read()
        except (KafkaError, OSError) as e:
            self._drop_admin()
            if not self._warned:
                logger.warning("cannot read the pipeline's offsets (%s); alerts wait", e)
                self._warned = True
            return set()
        self._warned = False
        done = set()
        for mark in marks:
            while mark.stage < len(self._stages):
                topic, group = self._stages[mark.stage]
                if not mark.target:  # the stage starts now: its input's ends at this moment
                    mark.target = {tp: end for tp, end in ends.items() if tp.topic == topic}
                behind = [
                    tp for tp, end in mark.target.items() if committed[group].get(tp, 0) < end
                ]
                if behind:
                    break
                mark.stage, mark.target = mark.stage + 1, {}
            if mark.stage == len(self._stages):
                done.add(mark)
        return done

    def close(self) -> None:
        self._drop_admin()

    def _read(self) -> tuple[dict[TopicPartition, int], dict[str, dict[TopicPartition, int]]]:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                **self._kafka.client_kwargs(),
                client_id="incidents-sink-progress",
                request_timeout_ms=TIMEOUT_MS,
            )
        names = [topic for topic, _ in self._stages]
        _, ends, _, by_group = read_offsets(self._admin, names, self._groups, TIMEOUT_MS)
        committed = {
            group: {
                tp: meta.offset
                for tp, meta in by_group.get(group, {}).items()
                if meta is not None and meta.offset >= 0
            }
            for group in self._groups
        }
        return {tp: spec.offset for tp, spec in ends.items()}, committed

    def _drop_admin(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # closing a broken client: nothing more to do
                logger.debug("closing the progress admin client failed", exc_info=True)
            self._admin = None
