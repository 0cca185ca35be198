"""Embedded warehouses in temporary folders, without the Kafka broker.

chdb allows one engine folder per process: every fixture here closes its clients, so the
next test (or another package's tests) can open a different folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from incidents.settings import Settings, load_settings
from sinks.clickhouse import connect
from sinks.migrate import migrate
from tests.integration.conftest import free_port


@pytest.fixture
def warehouse_settings(tmp_path: Path) -> Settings:
    """Settings of an embedded warehouse in tmp_path, with a free port for its endpoint."""
    return load_settings(
        env_file=tmp_path / "no-incidents.env",
        paths={"var_dir": tmp_path / "var"},
        clickhouse={"sql_port": free_port()},
    )


@pytest.fixture
def writer(warehouse_settings: Settings) -> Iterator[Client]:
    """A read-write client on a migrated embedded warehouse."""
    client = connect(warehouse_settings)
    try:
        migrate(client, warehouse_settings)
        yield client
    finally:
        client.close()
