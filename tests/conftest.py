"""Fixtures and hooks shared by unit and integration tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from incidents_config.settings import Settings, load_settings
from incidents_ops.exceptions import OpsError
from incidents_ops.kafka_local import BrokerConfig, LocalBroker, jars_dir_for
from tests.ports import free_ports

logger = logging.getLogger(__name__)

# No property test has a wall-clock deadline: hypothesis's default (200 ms per example)
# failed a hostile-input test on a loaded 2-core machine (a 10 kB example took 200.5 ms).
# Speed is measured by the benchmarks, never by a timed test.
# CI runs the property tests with a fixed seed so a landing never depends on luck; local
# runs keep exploring new examples (and replay failures from .hypothesis/).
hypothesis_settings.register_profile("local", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "local")

BROKER_FIXTURES = frozenset({"kafka_broker", "kafka_cluster"})  # real brokers

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    """Return a factory of isolated settings: ``factory(kafka={...}, paths={...}, ...)``.

    ``paths.var_dir`` defaults to the test's tmp_path, and no ``incidents.env`` is read.
    Each keyword is a settings section; its dict is merged over these defaults.
    """

    def factory(**sections: dict[str, Any]) -> Settings:
        overrides: dict[str, dict[str, Any]] = {
            "paths": {"var_dir": tmp_path / "var"},
            # Port 0: the system picks a free one and the process records it (var/run/),
            # so tests run beside each other and beside a demo stack without racing for one.
            "metrics": {"sink_port": 0, "push_port": 0, "worker_port": 0},
            "clickhouse": {"sql_port": 0},
            "push": {"port": 0},
            # No scheduled data-quality process unless a test asks for one.
            "dq": {"interval_s": 0},
        }
        for name, values in sections.items():
            overrides[name] = {**overrides.get(name, {}), **values}
        return load_settings(env_file=tmp_path / "no-incidents.env", **overrides)

    return factory


BROKER_HEAP = "512m"


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
    port, controller_port = free_ports(2)
    config = BrokerConfig(
        version=version,
        jars_dir=jars_dir_for(defaults.paths.cache_dir, version),
        data_dir=root / "data",
        config_file=root / "server.properties",
        log_file=root / "kafka.log",
        pid_file=root / "kafka.pid",
        port=port,
        controller_port=controller_port,
        heap=BROKER_HEAP,
        start_timeout_s=defaults.local_kafka.start_timeout_s,
    )
    broker = LocalBroker(config)
    error: OpsError | None = None
    try:
        broker.start()
    except OpsError as e:
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
def broker_log(local_broker: LocalBroker) -> Path:
    """Return the session broker's log file (handy in assertion messages)."""
    return local_broker.config.log_file


class BrokerTestCounter:
    """Count the tests that used the real broker, and say so at the end of the session.

    Under pytest-xdist the workers collect and the controller reports: a test that uses a
    broker carries a ``real_broker`` user property in its reports, which reach both.
    """

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}
        self.broker_version = ""  # set by the integration broker fixture

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.user_properties.append(("real_broker", True))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not dict(report.user_properties).get("real_broker"):
            return
        if report.failed:  # a failed setup (broker did not start) counts as failed
            self.outcomes[report.nodeid] = "failed"
        elif report.when == "call" and report.passed:
            self.outcomes.setdefault(report.nodeid, "passed")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.outcomes:
            return
        outcomes = list(self.outcomes.values())
        version = self.broker_version or load_settings().local_kafka.version
        line = f"integration tests against the real Kafka broker {version}: "
        line += f"{outcomes.count('passed')} passed"
        if outcomes.count("failed"):
            line += f", {outcomes.count('failed')} failed"
        terminalreporter.write_line(line)


COUNTER_PLUGIN = "incidents-broker-test-counter"


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(BrokerTestCounter(), COUNTER_PLUGIN)
