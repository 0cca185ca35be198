"""Fixtures and hooks shared by unit and integration tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from incidents.settings import Settings, load_settings

# CI runs the property tests with a fixed seed so a landing never depends on luck; local
# runs keep exploring new examples (and replay failures from .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

BROKER_FIXTURE = "kafka_broker"

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    """Return a factory of isolated settings: ``factory(kafka={...}, paths={...}, ...)``.

    ``paths.var_dir`` defaults to the test's tmp_path, and no ``incidents.env`` is read.
    Each keyword is a settings section; its dict is merged over these defaults.
    """

    def factory(**sections: dict[str, Any]) -> Settings:
        overrides: dict[str, dict[str, Any]] = {"paths": {"var_dir": tmp_path / "var"}}
        for name, values in sections.items():
            overrides[name] = {**overrides.get(name, {}), **values}
        return load_settings(env_file=tmp_path / "no-incidents.env", **overrides)

    return factory


class BrokerTestCounter:
    """Count the tests that used the real broker, and say so at the end of the session."""

    def __init__(self) -> None:
        self.nodeids: set[str] = set()
        self.outcomes: dict[str, str] = {}
        self.broker_version = ""  # set by the integration broker fixture

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.nodeids = {
            item.nodeid for item in items if BROKER_FIXTURE in getattr(item, "fixturenames", ())
        }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.nodeids:
            return
        if report.failed:  # a failed setup (broker did not start) counts as failed
            self.outcomes[report.nodeid] = "failed"
        elif report.when == "call" and report.passed:
            self.outcomes.setdefault(report.nodeid, "passed")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.nodeids:
            return
        outcomes = list(self.outcomes.values())
        broker = f"the real Kafka broker {self.broker_version}".rstrip()
        line = f"integration tests against {broker}: {outcomes.count('passed')} passed"
        if outcomes.count("failed"):
            line += f", {outcomes.count('failed')} failed"
        terminalreporter.write_line(line)


COUNTER_PLUGIN = "incidents-broker-test-counter"


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(BrokerTestCounter(), COUNTER_PLUGIN)
