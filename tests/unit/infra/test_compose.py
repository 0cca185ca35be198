"""infra/docker-compose.yml is documentation; keep it valid and consistent with settings."""

from __future__ import annotations

from pathlib import Path

import yaml

from incidents_config.settings import SECTIONS

COMPOSE = Path(__file__).resolve().parents[3] / "infra" / "docker-compose.yml"
OUR_SERVICES = {"sink", "worker", "push"}


def known_variables() -> set[str]:
    names = set()
    for cls in SECTIONS.values():
        prefix = cls.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def test_compose_parses_and_has_the_production_parts() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "clickhouse"} | OUR_SERVICES <= set(services)
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.count("@") == 3


def test_our_services_only_use_real_setting_names() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    known = known_variables()
    for name in OUR_SERVICES:
        env = doc["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name} uses settings that do not exist: {sorted(unknown)}"
        assert env["LOCAL_KAFKA_ENABLED"] == "false"
        assert env["CLICKHOUSE_DSN"].startswith("http://")
