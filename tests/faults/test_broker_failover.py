"""Broker failover: a three-node KRaft cluster loses a partition leader in mid-stream.

Three combined broker+controller nodes run from the session broker's Maven jars on free
loopback ports; every topic, Faust's changelogs included, has three replicas and
``min.insync.replicas=2``. A whole pipeline (one producer, a Faust worker, the sink, the
embedded warehouse) runs against the cluster. Half-way through the stream the node that
coordinates the workers' consumer group, and leads report partitions, is SIGKILLed; the
producer keeps publishing, the pipeline must catch up on the two nodes left, and the node
is restarted and must rejoin every ISR. Nothing may be lost or counted twice: the
warehouse must equal the independent recomputation in tests/reference.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from incidents_config.names import Generation, Topics
from incidents_config.settings import KafkaSettings, Settings, load_settings
from incidents_ops import processes, stack
from incidents_ops.exceptions import OpsError
from incidents_ops.kafka_local import LocalCluster, cluster_configs, jars_dir_for
from incidents_ops.topics import describe_offsets
from schemas.report import Report
from tests import reference
from tests.integration.streams.conftest import Pipeline, deliveries, random_reports
from tests.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.faults]

logger = logging.getLogger(__name__)

NODES = 3
MIN_INSYNC = 2
NODE_HEAP = "256m"  # x3 beside the worker, the sink and chdb on a 2-core CI machine
PARTITIONS = 4
# Each failover step takes ~10 s here (the controller fences a dead broker after
# broker.session.timeout.ms = 9 s); the margin is for a loaded machine.
STEP_TIMEOUT_S = 90.0
POLL_S = 0.25
CALM_CHECKS = 3  # lag must read zero this many times in a row (a stage may still be sending)
LOG_LINES = 25


@dataclass(frozen=True)
class Replicas:
    """One partition's leader, replicas and in-sync replicas."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


Layout = dict[tuple[str, int], Replicas]


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Start a three-node KRaft cluster on free ports; stop every node afterwards."""
    defaults = load_settings()
    version = defaults.local_kafka.version
    ports = free_ports(2 * NODES)
    configs = cluster_configs(
        tmp_path_factory.mktemp("kafka-cluster"),
        version=version,
        jars_dir=jars_dir_for(defaults.paths.cache_dir, version),
        ports=list(zip(ports[::2], ports[1::2], strict=True)),
        heap=NODE_HEAP,
        start_timeout_s=defaults.local_kafka.start_timeout_s,
        min_insync_replicas=MIN_INSYNC,
    )
    started = LocalCluster(configs)
    error: OpsError | None = None
    try:
        started.start()  # stops whatever it started if a node fails
    except OpsError as e:
        error = e
    if error is not None:
        pytest.fail(f"the {NODES}-node Kafka {version} cluster could not start: {error}")
    logger.info("Kafka %s cluster at %s", version, started.bootstrap_servers)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def pipeline(
    kafka_cluster: LocalCluster, tmp_path: Path, unique_topic_prefix: str
) -> Iterator[Pipeline]:
    """An isolated pipeline whose topics and changelogs have three replicas on the cluster."""
    settings = load_settings(
        env_file=tmp_path / "no-incidents.env",
        paths={"var_dir": tmp_path / "var"},
        metrics={"sink_port": 0, "push_port": 0, "worker_port": 0},
        push={"port": 0},
        local_kafka={"enabled": False},
        kafka={
            "bootstrap_servers": kafka_cluster.bootstrap_servers,
            "topic_prefix": unique_topic_prefix,
            "partitions": PARTITIONS,
            "replication_factor": NODES,
        },
        clickhouse={"sql_port": 0},
        sink={"group_id": f"{unique_topic_prefix}-sink", "flush_interval_s": 0.3},
        streams={"batch_timeout_s": 0.2},
    )
    p = Pipeline(settings)
    try:
        yield p
    finally:
        p.down()


class Publisher:
    """One idempotent ``acks=all`` producer for the whole stream, as a feed keeps one."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._topic = Topics(kafka.topic_prefix).raw
        self._producer = KafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)

    def publish(self, reports: list[Report]) -> float:
        """Send and wait until every report is acknowledged; return how long that took."""
        started = time.monotonic()
        futures = [
            self._producer.send(
                self._topic, key=r.report_id.encode(), value=r.model_dump_json().encode()
            )
            for r in reports
        ]
        self._producer.flush(timeout=STEP_TIMEOUT_S)
        failed = [f.exception for f in futures if not f.succeeded()]
        assert not failed, f"{len(failed)} of {len(futures)} sends failed, first: {failed[0]!r}"
        return time.monotonic() - started

    def close(self) -> None:
        self._producer.close(timeout=10)


def admin(kafka: KafkaSettings) -> KafkaAdminClient:
    """A fresh admin client: one that outlives a broker may hold its stale connections."""
    return KafkaAdminClient(
        **kafka.client_kwargs(), request_timeout_ms=10_000, bootstrap_timeout_ms=10_000
    )


def read_layout(kafka: KafkaSettings, topics: list[str] | None = None) -> Layout:
    """Leader, replicas and ISR of every partition of `topics` (all topics if None)."""
    client = admin(kafka)
    try:
        described = client.describe_topics(topics)
    finally:
        client.close()
    layout: Layout = {}
    for topic in described:
        if topic["error_code"]:
            raise KafkaError(f"describing {topic['name']}: error code {topic['error_code']}")
        for p in topic["partitions"]:
            layout[(topic["name"], p["partition_index"])] = Replicas(
                p["leader_id"], tuple(p["replica_nodes"]), tuple(p["isr_nodes"])
            )
    return layout


def min_insync_replicas(kafka: KafkaSettings, topics: list[str]) -> dict[str, str]:
    """Each topic's effective min.insync.replicas (the broker default unless set per topic)."""
    client = admin(kafka)
    try:
        result = client.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, t, {"min.insync.replicas": None})
                for t in topics
            ],
            config_filter="all",
        )
    finally:
        client.close()
    return {t: str(result["topic"][t]["min.insync.replicas"]["value"]) for t in topics}


def quorum_leader(kafka: KafkaSettings) -> int:
    """The active KRaft controller."""
    client = admin(kafka)
    try:
        quorum = client.describe_metadata_quorum()
    finally:
        client.close()
    return int(quorum["topics"][0]["partitions"][0]["leader_id"])


def message_count(kafka: KafkaSettings, topic: str) -> int:
    """Messages in `topic` (its partitions' end offsets; nothing is deleted here)."""
    return sum(p.end_offset for p in describe_offsets(kafka, [], [topic]))


def coordinator_of(kafka: KafkaSettings, group: str, node_ids: list[int]) -> int:
    """The node that coordinates `group` (ListGroups names only the groups a node coordinates)."""
    client = admin(kafka)
    try:
        for node_id in node_ids:
            if any(g["group_id"] == group for g in client.list_groups(broker_ids=[node_id])):
                return node_id
    finally:
        client.close()
    raise AssertionError(f"no node of {node_ids} coordinates group {group}")


def wait_for(
    what: str,
    probe: Callable[[], tuple[bool, Any]],
    diagnostics: Callable[[], str],
    timeout_s: float = STEP_TIMEOUT_S,
) -> Any:
    """Poll `probe` until it reports done; return its last state.

    A Kafka or admin error counts as "not yet" (a failover answers with retriable errors
    for a while); the failure message shows the last state or error and the logs.
    """
    started = time.monotonic()
    last: Any = None
    while True:
        try:
            done, last = probe()
            if done:
                return last
        except (KafkaError, OpsError, OSError) as e:
            last = e
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s; last: {last!r}\n{diagnostics()}")
        time.sleep(POLL_S)


def pids(settings: Settings) -> dict[str, int | None]:
    """Pids of the pipeline's worker and sink (None for one that is not running)."""
    infos = {n: processes.info(settings.paths, n) for n in ("worker-1", "sink")}
    return {n: i.pid if i.running else None for n, i in infos.items()}


def failed_over(kafka: KafkaSettings, victim: int) -> tuple[bool, dict[str, Replicas]]:
    """Whether every partition has a leader other than `victim` and an ISR without it."""
    stuck = {
        f"{t}[{i}]": r
        for (t, i), r in read_layout(kafka).items()
        if r.leader in (victim, -1) or victim in r.isr or len(r.isr) < MIN_INSYNC
    }
    return not stuck, stuck


def rejoined(kafka: KafkaSettings, node: int) -> tuple[bool, list[str]]:
    """Whether `node` is back in the ISR of every partition."""
    missing = [f"{t}[{i}]" for (t, i), r in read_layout(kafka).items() if node not in r.isr]
    return not missing, missing


def caught_up(settings: Settings) -> Callable[[], tuple[bool, int]]:
    """A probe: lag has read zero CALM_CHECKS times in a row (a stage may still be sending)."""
    calm = 0

    def probe() -> tuple[bool, int]:
        nonlocal calm
        lag = stack.consumer_lag(settings)
        calm = calm + 1 if lag == 0 else 0
        return calm >= CALM_CHECKS, lag

    return probe


def dead_letters(p: Pipeline) -> str:
    """What the warehouse dead-lettered and why: the likeliest reason for a wrong total."""
    rows = p.query("SELECT reasons, count() FROM rejected_reports FINAL GROUP BY reasons")
    return f"dead letters by reason: {rows}"


def test_sigkill_of_a_leading_broker_mid_stream_loses_nothing_and_counts_nothing_twice(
    kafka_cluster: LocalCluster, pipeline: Pipeline, record_property: Callable[[str, object], None]
) -> None:
    reports = random_reports(seed=31, n_events=1500)
    expected = reference.district_day_totals(reports)
    stream = deliveries(reports, seed=37)
    half, three_quarters = len(stream) // 2, 3 * len(stream) // 4
    p = pipeline
    kafka = p.settings.kafka
    group = Generation.of(p.settings).app

    def diagnostics() -> str:
        logs = {f"kafka node {n.config.node_id}": n.config.log_file for n in kafka_cluster.nodes}
        logs |= {name: processes.log_file(p.settings.paths, name) for name in ("worker-1", "sink")}
        return "\n".join(
            f"--- last lines of {name} ({path}):\n{processes.tail(path, LOG_LINES)}"
            for name, path in logs.items()
        )

    p.up()
    running = pids(p.settings)
    assert all(running.values()), running

    # The worker creates its own topics as it starts; they get three replicas too.
    faust_topics = [f"{group}-{t}" for t in ("reports-changelog", "district_days-changelog")]
    faust_topics.append(f"{group}-__assignor-__leader")
    topics = [
        Topics(kafka.topic_prefix).raw,
        Topics(kafka.topic_prefix).valid,
        Topics(kafka.topic_prefix).dead_letter,
    ]
    topics += [
        Topics(kafka.topic_prefix).updates,
        Topics(kafka.topic_prefix).snapshots,
        *faust_topics,
    ]

    def topics_exist() -> tuple[bool, Layout]:
        layout = read_layout(kafka)
        return all((t, 0) in layout for t in topics), layout

    layout = wait_for("the worker creates its topics", topics_exist, diagnostics)
    replicas = {t: len(r.replicas) for (t, _), r in layout.items() if t in topics}
    assert replicas == dict.fromkeys(topics, NODES)
    assert min_insync_replicas(kafka, topics) == dict.fromkeys(topics, str(MIN_INSYNC))

    timings: dict[str, float] = {}
    publisher = Publisher(kafka)
    try:
        publisher.publish(stream[:half])
        done, total = p.wait_mid_stream(group, Topics(kafka.topic_prefix).raw)

        # The victim coordinates the workers' group and leads report partitions.
        victim_id = coordinator_of(kafka, group, [n.config.node_id for n in kafka_cluster.nodes])
        controller_id = quorum_leader(kafka)
        before = read_layout(kafka)
        led = sorted(tp for tp, r in before.items() if r.leader == victim_id and tp[0] in topics)
        out_of_sync = sorted(tp for tp, r in before.items() if victim_id not in r.isr)
        assert any(t == Topics(kafka.topic_prefix).raw for t, _ in led), (
            f"node {victim_id} leads no partition of {Topics(kafka.topic_prefix).raw}: {led}"
        )
        assert not out_of_sync, f"node {victim_id} is out of sync before the kill: {out_of_sync}"
        victim = kafka_cluster.node(victim_id)
        assert victim.kill()
        killed_at = time.monotonic()
        logger.info(
            "killed node %d (active controller: node %d) at %d/%d consumed; it led %s",
            victim_id,
            controller_id,
            done,
            total,
            led,
        )
        assert 0 < done < total  # the broker died with work consumed and work left

        # The producer's next sends meet the dead leader and must wait for new ones.
        timings["publish_during_outage_s"] = publisher.publish(stream[half:three_quarters])
        wait_for(
            f"every partition has a new leader and node {victim_id} has left every ISR",
            lambda: failed_over(kafka, victim_id),
            diagnostics,
        )
        timings["failover_s"] = time.monotonic() - killed_at
        wait_for(
            f"the pipeline catches up with node {victim_id} down",
            caught_up(p.settings),
            diagnostics,
        )
        timings["caught_up_after_kill_s"] = time.monotonic() - killed_at
        assert pids(p.settings) == running, "a worker or the sink died with the broker"

        restarted_at = time.monotonic()
        victim.start()
        wait_for(
            f"node {victim_id} rejoins the ISR of every partition",
            lambda: rejoined(kafka, victim_id),
            diagnostics,
        )
        timings["rejoin_s"] = time.monotonic() - restarted_at
        publisher.publish(stream[three_quarters:])
    finally:
        publisher.close()
    p.wait()
    for name, seconds in timings.items():
        record_property(name, round(seconds, 1))
    logger.info("failover timings: %s", {k: round(v, 1) for k, v in timings.items()})

    assert pids(p.settings) == running, "a worker or the sink died and nobody restarted it"
    # The idempotent producer's retries across the failover wrote nothing twice.
    assert message_count(kafka, Topics(kafka.topic_prefix).raw) == len(stream)
    assert p.district_days() == expected, dead_letters(p)
    incidents = p.query("SELECT count(), sum(killed_total) FROM incidents FINAL")
    ref = reference.incidents(reports)
    assert incidents == [(len(ref), sum(sum(i.killed.values()) for i in ref))], dead_letters(p)
