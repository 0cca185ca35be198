"""Integration fixtures: isolated names and settings per test (the session broker is in
tests/conftest.py, shared with the fault suite)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from incidents_config.settings import Settings, load_settings
from sinks.clickhouse import connect
from sinks.migrate import migrate


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


def stack_settings(kafka_broker: str, root: Path, name: str) -> Settings:
    """Settings of a whole stack of its own in `root` on the session's broker: own topics,
    any free ports, no scheduled data-quality run."""
    prefix = f"test-{uuid.uuid4().hex[:10]}-{name}"
    return load_settings(
        env_file=root / "no-incidents.env",
        paths={"var_dir": root / "var"},
        kafka={"bootstrap_servers": kafka_broker, "topic_prefix": prefix, "partitions": 4},
        local_kafka={"enabled": False},
        clickhouse={"sql_port": 0},  # any free port; the sink records it
        sink={"group_id": f"{prefix}-sink", "flush_interval_s": 0.3},
        streams={"batch_timeout_s": 0.2},
        metrics={"sink_port": 0, "push_port": 0, "worker_port": 0},
        push={"port": 0},
        dq={"interval_s": 0},
    )


@pytest.fixture
def own_stack(kafka_broker: str, tmp_path: Path) -> Settings:
    """The settings of a stack of the test's own (not started)."""
    return stack_settings(kafka_broker, tmp_path, "stack")


@pytest.fixture(scope="session")
def sample_warehouse(
    kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The bundled Q1 2024 sample, loaded once through the real pipeline (broker, Faust
    worker, sink), with the stack then stopped: the settings of its embedded warehouse.

    Tests read it (the folder opens read-only when no sink owns it); a test that corrupts
    data works on `copy_warehouse(...)` instead.
    """
    from incidents_ops import stack
    from producers.acled import publish_acled
    from producers.jsonl import publish_jsonl
    from producers.samples.q1_2024 import ACLED_FILE, NEWS_FILE

    settings = stack_settings(kafka_broker, tmp_path_factory.mktemp("sample-warehouse"), "sample")
    stack.up(settings, workers=1, push=False, say=lambda _m: None)
    try:
        publish_jsonl(NEWS_FILE, settings, validate=False)  # its malformed lines: dead letters
        publish_acled(ACLED_FILE, settings)
        if not stack.wait_caught_up(settings, 120.0):
            pytest.fail("the sample did not reach the warehouse (no progress for 120 s)")
    finally:
        stack.down(settings)
    yield settings


def copy_warehouse(settings: Settings, dest: Path) -> Settings:
    """A copy of a stopped embedded warehouse in `dest`, with settings that point at it."""
    # chdb links metadata/<db> to store/... relatively: copy the links, not their targets.
    shutil.copytree(settings.paths.var_dir / "warehouse", dest / "var" / "warehouse", symlinks=True)
    paths = settings.paths.model_copy(update={"var_dir": dest / "var"})
    return settings.model_copy(update={"paths": paths})


@pytest.fixture(scope="session")
def migrated_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded warehouse folder with every migration applied, made once a session.

    Migrating a fresh folder takes seconds (dozens of DDL statements through the engine);
    each test copies this one instead, and still gets a warehouse of its own.
    """
    root = tmp_path_factory.mktemp("migrated-warehouse")
    settings = load_settings(env_file=root / "no-incidents.env", paths={"var_dir": root / "var"})
    client = connect(settings)
    try:
        migrate(client, settings)
    finally:
        client.close()
    return root / "var" / "warehouse"


@pytest.fixture
def empty_warehouse_settings(tmp_path: Path) -> Settings:
    """Settings of an embedded warehouse folder of this test's own that does not exist yet
    (nothing migrated)."""
    return load_settings(
        env_file=tmp_path / "no-incidents.env",
        paths={"var_dir": tmp_path / "var"},
        clickhouse={"sql_port": 0},
    )


@pytest.fixture
def warehouse_settings(tmp_path: Path, migrated_warehouse: Path) -> Settings:
    """Settings of an embedded warehouse of this test's own in tmp_path (no broker), already
    migrated; its SQL endpoint, when one is started, takes any free port."""
    # chdb links metadata/<db> to store/... relatively: copy the links, not their targets.
    shutil.copytree(migrated_warehouse, tmp_path / "var" / "warehouse", symlinks=True)
    return load_settings(
        env_file=tmp_path / "no-incidents.env",
        paths={"var_dir": tmp_path / "var"},
        clickhouse={"sql_port": 0},
    )


@pytest.fixture
def writer(warehouse_settings: Settings) -> Iterator[Client]:
    """A read-write client on the test's migrated embedded warehouse.

    chdb allows one engine folder per process: the fixture closes its client, so the next
    test can open a different folder.
    """
    client = connect(warehouse_settings)
    try:
        migrate(client, warehouse_settings)  # nothing is pending: it only checks
        yield client
    finally:
        client.close()
