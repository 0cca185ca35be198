"""Pure parts of incidents_ops.kafka_local: config rendering, tool checks, pid handling."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from incidents_config.settings import Settings
from incidents_ops.exceptions import BrokerStartError, OpsError, ToolMissing
from incidents_ops.kafka_local import (
    INSTALL_HINT,
    BrokerConfig,
    LocalBroker,
    LocalCluster,
    broker_command,
    cluster_configs,
    ensure_jars,
    generate_cluster_id,
    jars_dir_for,
    missing_tools_message,
    render_server_properties,
    require_tools,
)


def make_config(tmp_path: Path, version: str = "4.4.0", **kwargs: object) -> BrokerConfig:
    return BrokerConfig(
        version=version,
        jars_dir=tmp_path / "jars",
        data_dir=tmp_path / "data",
        config_file=tmp_path / "server.properties",
        log_file=tmp_path / "kafka.log",
        pid_file=tmp_path / "kafka.pid",
        **kwargs,  # type: ignore[arg-type]
    )


def parse_properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_server_properties_describe_a_combined_kraft_node(tmp_path: Path) -> None:
    config = make_config(tmp_path, port=19092, controller_port=19093)
    props = parse_properties(render_server_properties(config))

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str((tmp_path / "data").resolve())
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key


def test_share_coordinator_settings_only_for_kafka_4(tmp_path: Path) -> None:
    props = parse_properties(render_server_properties(make_config(tmp_path, version="3.9.1")))
    assert not any(key.startswith("share.") for key in props)
    assert props["offsets.topic.replication.factor"] == "1"


def test_broker_command_uses_heap_official_flags_and_classpath(tmp_path: Path) -> None:
    cmd = broker_command(make_config(tmp_path, heap="512m"), java="/usr/bin/java")
    assert cmd[:3] == ["/usr/bin/java", "-Xmx512m", "-Xms512m"]
    assert "-XX:+UseG1GC" in cmd and "-Djava.awt.headless=true" in cmd
    assert cmd[cmd.index("-cp") + 1] == f"{tmp_path / 'jars'}/*"
    assert cmd[-2:] == ["kafka.Kafka", str((tmp_path / "server.properties").resolve())]
    assert any(arg.startswith("-Dlog4j2.configurationFile=") for arg in cmd)


def test_missing_tools_message_names_tools_and_debian_install() -> None:
    message = missing_tools_message(["java", "mvn"])
    assert "`java`" in message and "`mvn`" in message
    assert "apt-get install openjdk-17-jre-headless maven" in message
    assert INSTALL_HINT in message


def test_require_tools_raises_typed_error_for_missing_only() -> None:
    def fake(tool: str) -> str | None:
        return "/usr/bin/java" if tool == "java" else None

    with pytest.raises(ToolMissing, match="`mvn`") as info:
        require_tools("java", "mvn", which=fake)
    assert "`java`" not in str(info.value)
    assert isinstance(info.value, OpsError)
    assert require_tools("java", which=fake) == {"java": "/usr/bin/java"}


def test_ensure_jars_checks_tools_before_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None)
    jars = tmp_path / "cache" / "kafka" / "4.4.0"
    with pytest.raises(ToolMissing, match="apt-get install"):
        ensure_jars("4.4.0", jars)
    assert not jars.exists()


def test_ensure_jars_uses_cached_jars_without_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None)
    jars = tmp_path / "kafka" / "4.4.0"
    jars.mkdir(parents=True)
    (jars / "kafka_2.13-4.4.0.jar").write_bytes(b"")
    assert ensure_jars("4.4.0", jars) == jars


def test_cluster_ids_look_like_kafka_uuids() -> None:
    ids = {generate_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)


def test_config_from_settings_uses_var_and_cache_dirs(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(
        paths={"var_dir": tmp_path / "var", "cache_dir": tmp_path / "cache"},
        local_kafka={"version": "4.4.0", "port": 19092, "controller_port": 19093},
    )
    config = BrokerConfig.from_settings(settings)
    assert config.jars_dir == jars_dir_for(tmp_path / "cache", "4.4.0")
    assert config.jars_dir == tmp_path / "cache" / "kafka" / "4.4.0"
    assert config.log_file == tmp_path / "var" / "log" / "kafka.log"
    assert config.pid_file == tmp_path / "var" / "run" / "kafka.pid"
    assert config.bootstrap_servers == "127.0.0.1:19092"
    assert config.heap == "512m"


def test_stale_pid_file_is_not_running(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.pid_file.write_text("999999999\n")
    broker = LocalBroker(config)
    assert broker.status().running is False
    assert broker.stop() is False
    assert not config.pid_file.exists()


def test_start_refuses_a_port_taken_by_someone_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(make_config(tmp_path, port=port, controller_port=port))
        with pytest.raises(BrokerStartError, match="already in use"):
            broker.start()


def make_cluster(tmp_path: Path, nodes: int = 3, **kwargs: object) -> list[BrokerConfig]:
    ports = [(19092 + 10 * i, 19093 + 10 * i) for i in range(nodes)]
    return cluster_configs(
        tmp_path,
        version="4.4.0",
        jars_dir=tmp_path / "jars",
        ports=ports,
        **kwargs,  # type: ignore[arg-type]
    )


def test_single_node_keeps_one_replica_and_one_in_sync(tmp_path: Path) -> None:
    props = parse_properties(render_server_properties(make_config(tmp_path)))
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"


def test_cluster_nodes_share_voters_and_cluster_id_but_not_files(tmp_path: Path) -> None:
    configs = make_cluster(tmp_path, heap="256m")
    voters = ("1@127.0.0.1:19093", "2@127.0.0.1:19103", "3@127.0.0.1:19113")

    assert [c.node_id for c in configs] == [1, 2, 3]
    assert {c.cluster_voters for c in configs} == {voters}
    assert len({c.cluster_id for c in configs}) == 1 and configs[0].cluster_id
    for field in ("data_dir", "config_file", "log_file", "pid_file"):
        assert len({getattr(c, field) for c in configs}) == 3, field
    assert configs[1].data_dir == tmp_path / "node-2" / "data"
    assert all(c.heap == "256m" and c.replication_factor == 3 for c in configs)
    assert all(c.min_insync_replicas == 2 for c in configs)
    assert LocalCluster(configs).bootstrap_servers == (
        "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"
    )


def test_cluster_node_properties_name_every_voter_and_replicate_internal_topics(
    tmp_path: Path,
) -> None:
    props = parse_properties(render_server_properties(make_cluster(tmp_path)[1]))

    assert props["node.id"] == "2"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19093,2@127.0.0.1:19103,3@127.0.0.1:19113"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19102,CONTROLLER://127.0.0.1:19103"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19102"
    assert props["log.dirs"] == str((tmp_path / "node-2" / "data").resolve())
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "3", key
    for key in (
        "min.insync.replicas",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "2", key


def test_two_nodes_replicate_internal_topics_twice(tmp_path: Path) -> None:
    configs = make_cluster(tmp_path, nodes=2, min_insync_replicas=1)
    props = parse_properties(render_server_properties(configs[0]))
    assert props["offsets.topic.replication.factor"] == "2"
    assert props["min.insync.replicas"] == "1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replication_factor": 1, "min_insync_replicas": 2}, "min_insync_replicas"),
        ({"min_insync_replicas": 0}, "min_insync_replicas"),
        (
            {"cluster_voters": ("1@127.0.0.1:9093",), "replication_factor": 3},
            "needs as many nodes",
        ),
        ({"node_id": 4, "cluster_voters": ("1@127.0.0.1:9093",)}, "not among"),
    ],
)
def test_inconsistent_cluster_settings_are_refused(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_config(tmp_path, **kwargs)


def test_format_uses_the_clusters_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_cluster(tmp_path)[0]
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        (config.data_dir / "meta.properties").write_text("formatted\n")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr("shutil.which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr("subprocess.run", fake_run)
    assert LocalBroker(config).format_storage() is True
    (cmd,) = seen
    assert cmd[cmd.index("-t") + 1] == config.cluster_id
    assert "--standalone" not in cmd  # the voters are static, in server.properties


def test_cluster_of_stopped_nodes_stops_nothing_and_finds_nodes(tmp_path: Path) -> None:
    cluster = LocalCluster(make_cluster(tmp_path))
    assert cluster.stop() == []
    assert cluster.node(3).config.port == 19112
    assert cluster.node(2).kill() is False
    with pytest.raises(KeyError):
        cluster.node(4)
