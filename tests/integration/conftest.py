"""Integration fixtures: one real Kafka broker per test session, isolated names per test."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidents.exceptions import IncidentsError
from incidents.kafka_local import BrokerConfig, LocalBroker, jars_dir_for
from incidents.settings import Settings, load_settings

logger = logging.getLogger(__name__)

BROKER_HEAP = "512m"


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_broker(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[LocalBroker]:
    """Start a real single-node KRaft broker on free ports in a temporary folder.

    Jars come from the shared cache (``INCIDENTS_CACHE_DIR``, fetched by Maven if absent);
    the version is ``LOCAL_KAFKA_VERSION`` or the settings default. Fails, never skips.
    """
    defaults = load_settings()
    version = defaults.local_kafka.version
    counter = pytestconfig.pluginmanager.get_plugin("incidents-broker-test-counter")
    if counter is not None:
        counter.broker_version = version
    root = tmp_path_factory.mktemp("kafka")
    config = BrokerConfig(
        version=version,
        jars_dir=jars_dir_for(defaults.paths.cache_dir, version),
        data_dir=root / "data",
        config_file=root / "server.properties",
        log_file=root / "kafka.log",
        pid_file=root / "kafka.pid",
        port=free_port(),
        controller_port=free_port(),
        heap=BROKER_HEAP,
        start_timeout_s=defaults.local_kafka.start_timeout_s,
    )
    broker = LocalBroker(config)
    error: IncidentsError | None = None
    try:
        broker.start()
    except IncidentsError as e:
        error = e
    if error is not None:
        broker.stop()
        pytest.fail(f"the real Kafka broker {version} could not start: {error}", pytrace=False)
    logger.info(
        "Kafka %s for this session at %s (log %s)",
        version,
        broker.bootstrap_servers,
        config.log_file,
    )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(local_broker: LocalBroker) -> str:
    """Return the bootstrap servers of the session's real broker."""
    return local_broker.bootstrap_servers


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Return a factory of names unique to this test: ``unique_name("group")``."""
    token = uuid.uuid4().hex[:10]
    return lambda kind: f"test-{token}-{kind}"


@pytest.fixture
def unique_topic_prefix(unique_name: Callable[[str], str]) -> str:
    """Return a topic prefix of this test's own."""
    return unique_name("incidents")


@pytest.fixture
def settings_factory(
    settings_factory: Callable[..., Settings], kafka_broker: str, unique_topic_prefix: str
) -> Callable[..., Settings]:
    """Like the shared factory, pointed at the session broker with this test's topic prefix."""

    def factory(**sections: dict[str, Any]) -> Settings:
        kafka = {"bootstrap_servers": kafka_broker, "topic_prefix": unique_topic_prefix}
        sections["kafka"] = {**kafka, **sections.get("kafka", {})}
        return settings_factory(**sections)

    return factory


@pytest.fixture
def broker_log(local_broker: LocalBroker) -> Path:
    """Return the session broker's log file (handy in assertion messages)."""
    return local_broker.config.log_file
