"""The local single-node KRaft broker (broker + controller in one JVM), run from Maven jars.

The jars come from ``infra/kafka/pom.xml`` into ``<cache_dir>/kafka/<version>``; the broker's
config, data, log and pid file live under ``<var_dir>``. See ``infra/kafka/README.md``.
Everything here takes a :class:`BrokerConfig`, so tests can run a broker on free ports in a
temporary folder; :meth:`BrokerConfig.from_settings` builds the one ``incidents up`` uses.
:func:`cluster_configs` and :class:`LocalCluster` run several such nodes as one KRaft
cluster (the fault suite's broker failover test).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from incidents_config.settings import Settings
from incidents_ops.exceptions import (
    BrokerStartError,
    BrokerStopError,
    JarsDownloadError,
    ToolMissing,
)
from incidents_ops.processes import pid_alive, tail

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = REPO_ROOT / "infra" / "kafka"
POM_FILE = INFRA_DIR / "pom.xml"
LOG4J2_CONFIG = INFRA_DIR / "log4j2.properties"

INSTALL_HINT = "apt-get install openjdk-17-jre-headless maven"
# The flags of Kafka's own kafka-run-class.sh / kafka-server-start.sh.
JVM_FLAGS: tuple[str, ...] = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
BROKER_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
STOP_TIMEOUT_S = 30.0
MVN_TIMEOUT_S = 900.0
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class BrokerConfig:
    """Everything needed to format, start and stop one local broker."""

    version: str
    jars_dir: Path
    data_dir: Path
    config_file: Path
    log_file: Path
    pid_file: Path
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    heap: str = "512m"
    start_timeout_s: float = 90.0
    node_id: int = 1
    # The KRaft controller quorum, "<node id>@<host>:<controller port>" per voter; empty
    # means this node alone.
    cluster_voters: tuple[str, ...] = ()
    # Replicas of Kafka's internal topics (group offsets, transaction and share-group
    # state) and of topics created without a factor.
    replication_factor: int = 1
    min_insync_replicas: int = 1
    # Every node of a cluster is formatted with the same id; None: a new one per format.
    cluster_id: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) must be between 1 and "
                f"replication_factor ({self.replication_factor})"
            )
        if self.cluster_voters and self.replication_factor > len(self.cluster_voters):
            raise ValueError(
                f"replication_factor {self.replication_factor} needs as many nodes, "
                f"the cluster has {len(self.cluster_voters)}"
            )
        if self.cluster_voters and self.own_voter not in self.cluster_voters:
            raise ValueError(f"node {self.own_voter} is not among {self.cluster_voters}")

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerConfig:
        """Build the config of the broker that ``incidents up`` runs."""
        local = settings.local_kafka
        paths = settings.paths
        kafka_dir = paths.var_dir / "kafka"
        return cls(
            version=local.version,
            jars_dir=jars_dir_for(paths.cache_dir, local.version),
            data_dir=kafka_dir / "data",
            config_file=kafka_dir / "server.properties",
            log_file=paths.log_dir / "kafka.log",
            pid_file=paths.run_dir / "kafka.pid",
            port=local.port,
            controller_port=local.controller_port,
            heap=local.heap,
            start_timeout_s=local.start_timeout_s,
        )

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the PLAINTEXT listener."""
        return f"{self.host}:{self.port}"

    @property
    def own_voter(self) -> str:
        """This node as a quorum voter: ``<node id>@<host>:<controller port>``."""
        return f"{self.node_id}@{self.host}:{self.controller_port}"

    @property
    def quorum_voters(self) -> str:
        """The ``controller.quorum.voters`` value."""
        return ",".join(self.cluster_voters) or self.own_voter


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the local broker runs, and where."""

    running: bool
    pid: int | None
    port: int
    bootstrap_servers: str


def jars_dir_for(cache_dir: Path, version: str) -> Path:
    """Return the folder that holds the jars of one Kafka version."""
    return cache_dir / "kafka" / version


def kafka_major(version: str) -> int:
    """Return the major number of a Kafka version string ("4.1.1" -> 4)."""
    return int(version.split(".", 1)[0])


def missing_tools_message(missing: Sequence[str]) -> str:
    """Explain which programs are missing and how to install them."""
    names = " and ".join(f"`{name}`" for name in missing)
    return (
        f"{names} not found on PATH: the local Kafka broker needs a Java 17+ runtime (java) "
        f"and Maven (mvn) to fetch its jars. On Debian/Ubuntu: {INSTALL_HINT}"
    )


def require_tools(*tools: str, which: Callable[[str], str | None] | None = None) -> dict[str, str]:
    """Return the path of each tool; raise :class:`ToolMissing` naming the missing ones."""
    lookup = which or shutil.which
    found = {tool: lookup(tool) for tool in tools}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        raise ToolMissing(missing_tools_message(missing))
    return {tool: path for tool, path in found.items() if path is not None}


def generate_cluster_id() -> str:
    """Return a random KRaft cluster id (a URL-safe base64 UUID, as StorageTool makes)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # An id starting with "-" would be read as an option by StorageTool.
        if not cluster_id.startswith("-"):
            return cluster_id


def jars_present(jars_dir: Path, version: str) -> bool:
    """Tell whether a complete download of ``version`` is in ``jars_dir``."""
    return (jars_dir / f"kafka_2.13-{version}.jar").is_file()


def ensure_jars(version: str, jars_dir: Path, *, pom: Path = POM_FILE) -> Path:
    """Fetch the broker's runtime jars with Maven unless ``jars_dir`` already has them.

    Maven writes into a temporary sibling folder that is renamed into place only when
    complete, so an interrupted download is never used.
    """
    if jars_present(jars_dir, version):
        logger.debug("Kafka %s jars already in %s", version, jars_dir)
        return jars_dir
    tools = require_tools("java", "mvn")
    jars_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{jars_dir.name}-partial-", dir=jars_dir.parent))
    cmd = [
        tools["mvn"],
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={tmp_dir}",
        f"-Dkafka.version={version}",
    ]
    logger.info("Fetching Kafka %s jars with Maven into %s", version, jars_dir)
    started = time.monotonic()
    try:
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=MVN_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise JarsDownloadError(
                f"mvn did not finish fetching Kafka {version} in {MVN_TIMEOUT_S:.0f}s"
            ) from e
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()[-4000:]
            raise JarsDownloadError(
                f"mvn failed ({proc.returncode}) fetching Kafka {version}: "
                f"{' '.join(cmd)}\n{output}"
            )
        if not jars_present(tmp_dir, version):
            raise JarsDownloadError(f"mvn succeeded but kafka_2.13-{version}.jar is missing")
        try:
            tmp_dir.rename(jars_dir)
        except OSError:
            # Another process finished the same download first; theirs is as good.
            if not jars_present(jars_dir, version):
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    logger.info("Fetched Kafka %s jars in %.1fs", version, time.monotonic() - started)
    return jars_dir


def cluster_configs(
    root: Path,
    *,
    version: str,
    jars_dir: Path,
    ports: Sequence[tuple[int, int]],
    heap: str = "512m",
    start_timeout_s: float = 90.0,
    min_insync_replicas: int = 2,
    host: str = "127.0.0.1",
) -> list[BrokerConfig]:
    """Return the configs of a local KRaft cluster, one node per (client, controller) port pair.

    Every node is broker and controller, node ids count from 1, all nodes are voters and
    share one cluster id; internal topics get ``min(3, nodes)`` replicas. Each node keeps
    its config, data, log and pid file in ``root/node-<id>``.
    """
    voters = tuple(f"{i}@{host}:{controller}" for i, (_, controller) in enumerate(ports, 1))
    cluster_id = generate_cluster_id()
    configs = []
    for node_id, (port, controller_port) in enumerate(ports, 1):
        node_dir = root / f"node-{node_id}"
        configs.append(
            BrokerConfig(
                version=version,
                jars_dir=jars_dir,
                data_dir=node_dir / "data",
                config_file=node_dir / "server.properties",
                log_file=node_dir / "kafka.log",
                pid_file=node_dir / "kafka.pid",
                port=port,
                controller_port=controller_port,
                host=host,
                heap=heap,
                start_timeout_s=start_timeout_s,
                node_id=node_id,
                cluster_voters=voters,
                replication_factor=min(3, len(ports)),
                min_insync_replicas=min_insync_replicas,
                cluster_id=cluster_id,
            )
        )
    return configs


def render_server_properties(config: BrokerConfig) -> str:
    """Render the ``server.properties`` of a combined broker+controller KRaft node."""
    controller = f"{config.host}:{config.controller_port}"
    plaintext = f"{config.host}:{config.port}"
    replicas = config.replication_factor
    min_isr = config.min_insync_replicas
    props: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": config.node_id,
        "controller.quorum.voters": config.quorum_voters,
        "listeners": f"PLAINTEXT://{plaintext},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{plaintext}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(config.data_dir.resolve()),
        "num.partitions": 1,
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": 0,
        # Topics are created explicitly (incidents_ops.topics); a typo must not create one.
        "auto.create.topics.enable": "false",
    }
    if kafka_major(config.version) >= 4:
        props["share.coordinator.state.topic.replication.factor"] = replicas
        props["share.coordinator.state.topic.min.isr"] = min_isr
    lines = [f"# Written by incidents_ops.kafka_local for Kafka {config.version}; edits are lost."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def java_logging_flags(version: str) -> list[str]:
    """Return the JVM flags that point Kafka's logging at ``infra/kafka``'s config."""
    return [f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}"]


def broker_command(config: BrokerConfig, java: str = "java") -> list[str]:
    """Return the command line that runs the broker in the foreground."""
    return [
        java,
        f"-Xmx{config.heap}",
        f"-Xms{config.heap}",
        *JVM_FLAGS,
        *java_logging_flags(config.version),
        "-cp",
        f"{config.jars_dir}/*",
        BROKER_MAIN_CLASS,
        str(config.config_file.resolve()),
    ]


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out for port 0 and for outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int, host: str = "127.0.0.1", *, slot: int = 0, slots: int = 1) -> list[int]:
    """`count` distinct TCP ports free on `host`, for brokers that are started on them.

    A broker's listeners are named in its configuration, so it cannot be asked for port 0
    and report what it got. The ports are chosen outside the kernel's ephemeral range: one
    from that range, checked free and then released, can meanwhile become the local end
    of any of the client connections a busy machine opens ("address already in use"),
    while nothing hands out a port outside the range by itself. Processes that choose
    ports at the same time (parallel test workers) pass their `slot` of `slots`: each
    chooses from its own slice of that range, so two never pick the same port.
    """
    low, high = ephemeral_range()
    first, last = (20000, low) if low > 21000 else (high + 1, 65536)
    width = (last - first) // slots
    first, last = first + slot * width, first + (slot + 1) * width
    ports: list[int] = []
    for _ in range(200 * count):
        if len(ports) == count:
            return ports
        port = random.randrange(first, last)
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        ports.append(port)
    raise BrokerStartError(f"no {count} free ports between {first} and {last} on {host}")


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def broker_answers(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """Tell whether a Kafka broker at ``bootstrap_servers`` answers a metadata request."""
    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id="incidents-local-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
    except (KafkaError, OSError) as e:
        logger.debug("Broker at %s does not answer yet: %s", bootstrap_servers, e)
        return False
    try:
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError) as e:
        logger.debug("Broker at %s does not describe its cluster yet: %s", bootstrap_servers, e)
        return False
    finally:
        admin.close()


class LocalBroker:
    """Format, start, stop and inspect one local broker described by a :class:`BrokerConfig`."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBroker:
        """Return the broker that ``incidents up`` runs."""
        return cls(BrokerConfig.from_settings(settings))

    @property
    def bootstrap_servers(self) -> str:
        return self.config.bootstrap_servers

    def ensure_jars(self) -> Path:
        """Fetch the jars of the configured version unless they are cached."""
        return ensure_jars(self.config.version, self.config.jars_dir)

    def write_config(self) -> Path:
        """Write ``server.properties`` (rewritten on every start, so ports may change)."""
        cfg = self.config
        cfg.config_file.parent.mkdir(parents=True, exist_ok=True)
        cfg.config_file.write_text(render_server_properties(cfg), encoding="utf-8")
        return cfg.config_file

    def is_formatted(self) -> bool:
        """Tell whether the data dir already holds a formatted KRaft log."""
        return (self.config.data_dir / "meta.properties").is_file()

    def format_storage(self) -> bool:
        """Write the config; format the data dir unless it is formatted. True if formatted now."""
        cfg = self.config
        self.write_config()
        if self.is_formatted():
            logger.debug("Kafka data dir %s is already formatted", cfg.data_dir)
            return False
        java = require_tools("java")["java"]
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = cfg.cluster_id or generate_cluster_id()
        cmd = [
            java,
            *java_logging_flags(cfg.version),
            "-cp",
            f"{cfg.jars_dir}/*",
            STORAGE_TOOL_CLASS,
            "format",
            "-t",
            cluster_id,
            "-c",
            str(cfg.config_file.resolve()),
            "--ignore-formatted",
        ]
        logger.info("Formatting Kafka data dir %s (cluster id %s)", cfg.data_dir, cluster_id)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as e:
            raise BrokerStartError(f"StorageTool format did not finish: {' '.join(cmd)}") from e
        if proc.returncode != 0 or not self.is_formatted():
            output = (proc.stdout + proc.stderr).strip()[-4000:]
            raise BrokerStartError(
                f"StorageTool format failed ({proc.returncode}): {' '.join(cmd)}\n{output}"
            )
        return True

    def status(self) -> BrokerStatus:
        """Return whether the broker named by the pid file runs."""
        pid = self._read_pid()
        running = pid is not None and self._alive(pid) and self._is_ours(pid)
        return BrokerStatus(
            running=running,
            pid=pid if running else None,
            port=self.config.port,
            bootstrap_servers=self.bootstrap_servers,
        )

    def start(self, *, wait: bool = True) -> BrokerStatus:
        """Start the broker detached and wait until it answers; do nothing if it already runs.

        ``wait=False`` returns once the JVM runs: a cluster node cannot answer before a
        majority of the quorum is up, so :class:`LocalCluster` starts every node first and
        then calls :meth:`wait_until_answering` on each.
        """
        cfg = self.config
        current = self.status()
        if current.running and current.pid is not None:
            if port_open(cfg.host, cfg.port):
                logger.info(
                    "Kafka broker already running (pid %s) on %s",
                    current.pid,
                    cfg.bootstrap_servers,
                )
            else:
                logger.info("Kafka broker (pid %s) is starting; waiting for it", current.pid)
            if wait:
                self._wait_until_answering(current.pid)
            return current
        if current.pid is None and cfg.pid_file.exists():
            logger.info("Removing stale pid file %s", cfg.pid_file)
            cfg.pid_file.unlink(missing_ok=True)
        for port in (cfg.port, cfg.controller_port):
            if port_open(cfg.host, port):
                raise BrokerStartError(
                    f"port {cfg.host}:{port} is already in use by a process that is not this "
                    f"broker (pid file {cfg.pid_file}); stop it or choose other ports"
                )

        self.ensure_jars()
        self.format_storage()
        java = require_tools("java")["java"]
        cmd = broker_command(cfg, java)
        cfg.log_file.parent.mkdir(parents=True, exist_ok=True)
        cfg.pid_file.parent.mkdir(parents=True, exist_ok=True)
        logger.info("Starting Kafka %s broker on %s", cfg.version, cfg.bootstrap_servers)
        logger.debug("Broker command: %s", " ".join(cmd))
        with cfg.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cfg.config_file.parent,
                start_new_session=True,
            )
        pid = self._proc.pid
        cfg.pid_file.write_text(f"{pid}\n", encoding="utf-8")
        if wait:
            self.wait_until_answering()
        return BrokerStatus(True, pid, cfg.port, cfg.bootstrap_servers)

    def wait_until_answering(self) -> None:
        """Wait until the started broker answers; on failure stop it and raise BrokerStartError."""
        cfg = self.config
        pid = self._read_pid()
        if pid is None:
            raise BrokerStartError(f"Kafka broker was not started (no pid file {cfg.pid_file})")
        started = time.monotonic()
        try:
            self._wait_until_answering(pid)
        except BrokerStartError:
            self._terminate(pid)
            cfg.pid_file.unlink(missing_ok=True)
            raise
        logger.info(
            "Kafka broker answers on %s (pid %s, %.1fs)",
            cfg.bootstrap_servers,
            pid,
            time.monotonic() - started,
        )

    def stop(self) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after a timeout); keep its data.

        Return False if it was not running.
        """
        cfg = self.config
        pid = self._read_pid()
        if pid is None or not self._alive(pid) or not self._is_ours(pid):
            logger.info("Kafka broker is not running")
            cfg.pid_file.unlink(missing_ok=True)
            return False
        logger.info("Stopping Kafka broker (pid %s)", pid)
        self._terminate(pid)
        cfg.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL the broker at once, as a crash would; keep its data.

        Return False if it was not running.
        """
        cfg = self.config
        pid = self._read_pid()
        if pid is None or not self._alive(pid) or not self._is_ours(pid):
            cfg.pid_file.unlink(missing_ok=True)
            return False
        logger.info("Killing Kafka broker (pid %s) with SIGKILL", pid)
        with contextlib.suppress(ProcessLookupError):  # it died on its own meanwhile
            os.kill(pid, signal.SIGKILL)
        if not self._wait_dead(pid, 10.0):
            raise BrokerStopError(f"Kafka broker (pid {pid}) survived SIGKILL")
        cfg.pid_file.unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM ``pid``, wait for a clean shutdown, then SIGKILL."""
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self._wait_dead(pid, timeout_s):
            return
        logger.warning(
            "Kafka broker (pid %s) ignored SIGTERM for %.0fs; killing it", pid, timeout_s
        )
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not self._wait_dead(pid, 10.0):
            raise BrokerStopError(f"Kafka broker (pid {pid}) survived SIGKILL")

    def _wait_dead(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._alive(pid):
                return True
            time.sleep(0.1)
        return not self._alive(pid)

    def _wait_until_answering(self, pid: int) -> None:
        """Poll until the broker answers metadata requests; raise on early exit or timeout."""
        cfg = self.config
        deadline = time.monotonic() + cfg.start_timeout_s
        while True:
            if not self._alive(pid):
                code = self._proc.returncode if self._proc and self._proc.pid == pid else None
                raise BrokerStartError(
                    f"Kafka broker (pid {pid}) exited during startup (code {code}); "
                    f"last lines of {cfg.log_file}:\n{tail(cfg.log_file, LOG_TAIL_LINES)}"
                )
            if port_open(cfg.host, cfg.port) and broker_answers(cfg.bootstrap_servers):
                return
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"Kafka broker (pid {pid}) did not answer on {cfg.bootstrap_servers} within "
                    f"{cfg.start_timeout_s:.0f}s; last lines of {cfg.log_file}:\n"
                    f"{tail(cfg.log_file, LOG_TAIL_LINES)}"
                )
            time.sleep(0.25)

    def _read_pid(self) -> int | None:
        try:
            return int(self.config.pid_file.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None

    def _alive(self, pid: int) -> bool:
        """Tell whether ``pid`` runs (reaping it if it is our exited child)."""
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        return pid_alive(pid)

    def _is_ours(self, pid: int) -> bool:
        """Tell whether ``pid`` is a broker started with this config file."""
        cmdline = Path(f"/proc/{pid}/cmdline")
        try:
            args = cmdline.read_bytes().split(b"\0")
        except FileNotFoundError:
            # No /proc (macOS): trust the pid file.
            return not Path("/proc/self").exists()
        except OSError:
            return False
        wanted = str(self.config.config_file.resolve()).encode()
        return BROKER_MAIN_CLASS.encode() in args and wanted in args


class LocalCluster:
    """Start and stop the nodes of a local KRaft cluster (see :func:`cluster_configs`)."""

    def __init__(self, configs: Sequence[BrokerConfig]) -> None:
        self.nodes = [LocalBroker(config) for config in configs]

    @property
    def bootstrap_servers(self) -> str:
        """Every node's ``host:port``, comma-separated."""
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> LocalBroker:
        """Return the node with this KRaft node id."""
        for node in self.nodes:
            if node.config.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id} in this cluster")

    def start(self) -> None:
        """Start every node, then wait until each answers; on failure stop them all."""
        try:
            for node in self.nodes:
                node.start(wait=False)
            for node in self.nodes:
                node.wait_until_answering()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> list[int]:
        """Stop every node at once (a lone node could not finish a controlled shutdown).

        Return the ids of the nodes that were running; raise the first error after all
        nodes were dealt with.
        """
        with ThreadPoolExecutor(max_workers=len(self.nodes) or 1) as pool:
            futures = [(node, pool.submit(node.stop)) for node in self.nodes]
        stopped: list[int] = []
        errors: list[BaseException] = []
        for node, future in futures:
            error = future.exception()
            if error is not None:
                errors.append(error)
            elif future.result():
                stopped.append(node.config.node_id)
        if errors:
            raise errors[0]
        return stopped
