"""Integration fixtures: isolated names and settings per test (the session broker is in
tests/conftest.py, shared with the fault suite)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from incidents.settings import Settings
from tests.conftest import free_port

__all__ = ["free_port"]


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
