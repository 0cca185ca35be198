"""The project's Kafka topics: explicit creation and offset/lag inspection.

Topics are always created here, with their partitions, replication and retention from
:class:`~incidents_config.settings.KafkaSettings`; nothing relies on broker auto-creation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from incidents_config.names import Topics
from incidents_config.settings import KafkaSettings
from incidents_ops.exceptions import TopicAdminError

logger = logging.getLogger(__name__)

READ_ATTEMPTS = 5
ADMIN_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class TopicSpec:
    """How one topic should look."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionOffsets:
    """Where one partition ends, and how far each consumer group has read it."""

    topic: str
    partition: int
    end_offset: int
    start_offset: int
    committed: dict[str, int | None]
    lag: dict[str, int]


def topic_specs(kafka: KafkaSettings, generation: int = 0) -> list[TopicSpec]:
    """Return the specs of the project's topics (report topics keep ``retention_ms``).

    The stream's internal topics are those of pipeline `generation` (`incidents replay`).
    Every topic takes messages up to ``max_message_bytes``; the producers refuse larger
    ones before sending, with a per-report reason.
    """
    names = Topics(kafka.topic_prefix, generation)
    size = {"max.message.bytes": str(kafka.max_message_bytes)}
    report_configs = {"retention.ms": str(kafka.retention_ms), **size}
    dead_letter_configs = {"retention.ms": str(kafka.dead_letter_retention_ms), **size}
    names_and_configs = [
        (names.raw, report_configs),
        (names.rekeyed, report_configs),
        (names.valid, report_configs),
        (names.dead_letter, dead_letter_configs),
        (names.updates, report_configs),
        (names.snapshots, report_configs),
        (names.alerts, report_configs),
        (names.silences, {"cleanup.policy": "compact", **size}),
        (names.dq_results, report_configs),
    ]
    return [
        TopicSpec(name, kafka.partitions, kafka.replication_factor, dict(configs))
        for name, configs in names_and_configs
    ]


@contextmanager
def admin_client(kafka: KafkaSettings, timeout_ms: int = ADMIN_TIMEOUT_MS) -> Iterator[Any]:
    """Open a kafka-python admin client for ``kafka``; wrap connection errors."""
    try:
        admin = KafkaAdminClient(
            **kafka.client_kwargs(),
            client_id="incidents-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
    except KafkaError as e:
        raise TopicAdminError(f"cannot reach Kafka at {kafka.bootstrap_servers}: {e}") from e
    try:
        yield admin
    finally:
        admin.close()


def create_topics(
    kafka: KafkaSettings, specs: Sequence[TopicSpec], timeout_ms: int = ADMIN_TIMEOUT_MS
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now."""
    with admin_client(kafka, timeout_ms) as admin:
        try:
            existing = set(admin.list_topics())
        except KafkaError as e:
            raise TopicAdminError(f"cannot list topics: {e}") from e
        for spec in specs:
            if spec.name in existing:
                _warn_if_different(admin, spec)
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            logger.info("All %d topics already exist", len(specs))
            return []
        request = {
            spec.name: {
                "num_partitions": spec.partitions,
                "replication_factor": spec.replication_factor,
                "configs": spec.configs,
            }
            for spec in missing
        }
        created: list[str] = []
        try:
            response = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
        except KafkaError as e:
            raise TopicAdminError(f"cannot create topics {sorted(request)}: {e}") from e
        for name, error in _topic_errors(response):
            if error is None:
                created.append(name)
            elif isinstance(error, TopicAlreadyExistsError):
                logger.debug("Topic %s was created concurrently", name)
            else:
                raise TopicAdminError(f"cannot create topic {name}: {error}")
        try:
            admin.wait_for_topics(created, timeout_ms=timeout_ms)
        except KafkaError as e:
            raise TopicAdminError(f"created topics are not ready: {e}") from e
    for name in created:
        logger.info("Created topic %s", name)
    return created


def ensure_topics(
    kafka: KafkaSettings, timeout_ms: int = ADMIN_TIMEOUT_MS, *, generation: int = 0
) -> list[str]:
    """Create the project's topics that are missing; return the names created now."""
    return create_topics(kafka, topic_specs(kafka, generation), timeout_ms)


def describe_offsets(
    kafka: KafkaSettings,
    group_ids: Sequence[str],
    topics: Sequence[str] | None = None,
    timeout_ms: int = ADMIN_TIMEOUT_MS,
) -> list[PartitionOffsets]:
    """Return each partition's end offset and each group's committed offset and lag.

    ``topics`` defaults to the project's topics that exist. A group that has committed
    nothing on a partition has ``committed`` None and lags by everything still retained.
    """
    names = list(topics) if topics is not None else [s.name for s in topic_specs(kafka)]
    for attempt in range(READ_ATTEMPTS):
        try:
            with admin_client(kafka, timeout_ms) as admin:
                read = read_offsets(admin, names, group_ids, timeout_ms)
            break
        except KafkaError as e:
            # A group's coordinator may move or still be loading (NotCoordinator,
            # CoordinatorLoadInProgress): those errors are retriable, the rest are not.
            if not getattr(e, "retriable", False) or attempt == READ_ATTEMPTS - 1:
                raise TopicAdminError(f"cannot describe offsets of {names}: {e}") from e
            time.sleep(0.2 * 2**attempt)
    partitions, ends, starts, committed_by_group = read
    result = []
    for tp in sorted(partitions):
        end = ends[tp].offset
        start = starts[tp].offset
        committed: dict[str, int | None] = {}
        lag: dict[str, int] = {}
        for group in group_ids:
            meta = committed_by_group.get(group, {}).get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            committed[group] = offset
            lag[group] = max(end - (offset if offset is not None else start), 0)
        result.append(PartitionOffsets(tp.topic, tp.partition, end, start, committed, lag))
    return result


def group_state(kafka: KafkaSettings, group: str) -> tuple[str, int]:
    """A consumer group's state ("Stable", "PreparingRebalance", "Empty", "Dead", ...)
    and how many members it has; ("", 0) while its coordinator is not available yet (a
    new cluster still creating its offsets topic), or on another retriable error."""
    try:
        with admin_client(kafka) as admin:
            described = admin.describe_groups([group])[group]
    except KafkaError as e:
        if getattr(e, "retriable", False):
            return "", 0
        raise TopicAdminError(f"cannot describe the consumer group {group}: {e}") from e
    return str(described.get("group_state", "")), len(described.get("members") or [])


def read_offsets(
    admin: KafkaAdminClient, names: Sequence[str], group_ids: Sequence[str], timeout_ms: int
) -> tuple[list[TopicPartition], Any, Any, Any]:
    """(partitions, end offsets, start offsets, committed offsets by group) of `names`, with
    an open admin client (a long-running process keeps one)."""
    described = admin.describe_topics(list(names))
    partitions = [
        TopicPartition(t["name"], p["partition_index"])
        for t in described
        if t.get("error_code", 0) == 0
        for p in t["partitions"]
    ]
    if not partitions:
        return [], {}, {}, {}
    ends = admin.list_partition_offsets(
        {tp: OffsetSpec.LATEST for tp in partitions}, timeout_ms=timeout_ms
    )
    starts = admin.list_partition_offsets(
        {tp: OffsetSpec.EARLIEST for tp in partitions}, timeout_ms=timeout_ms
    )
    committed = (
        admin.list_group_offsets({g: list(partitions) for g in group_ids}) if group_ids else {}
    )
    return partitions, ends, starts, committed


def _topic_errors(response: Any) -> list[tuple[str, KafkaError | None]]:
    """Return (topic, error or None) for each topic of a CreateTopics response dict."""
    results: list[tuple[str, KafkaError | None]] = []
    for topic in response["topics"]:
        code = topic["error_code"]
        error = None if code == 0 else _error_for(code, topic.get("error_message"))
        results.append((topic["name"], error))
    return results


def _error_for(code: int, message: str | None) -> KafkaError:
    error: KafkaError = for_code(code)(message or "")
    return error


def _warn_if_different(admin: Any, spec: TopicSpec) -> None:
    """Log a warning when an existing topic's partition count differs from the spec."""
    try:
        (topic,) = admin.describe_topics([spec.name])
    except (KafkaError, ValueError):
        return
    count = len(topic.get("partitions", []))
    if count != spec.partitions:
        logger.warning(
            "Topic %s exists with %d partitions, settings say %d; leaving it as it is",
            spec.name,
            count,
            spec.partitions,
        )


def send_one(
    kafka: KafkaSettings, topic: str, key: str, value: bytes, timeout_s: float = 30
) -> None:
    """Send one message and wait until the broker has it (the CLI's small control messages:
    silences, data-quality results)."""
    producer = KafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    try:
        producer.send(topic, key=key.encode(), value=value).get(timeout=timeout_s)
    finally:
        producer.close(timeout=10)
