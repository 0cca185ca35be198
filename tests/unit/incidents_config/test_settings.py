"""Settings fail when they load, naming the variable, not when a worker starts."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from incidents_config.settings import (
    CasualtyRule,
    SettingsError,
    StreamSettings,
    child_env,
    load_settings,
)
from streams.semantics import CASUALTY_RULES


def test_the_casualty_rule_setting_offers_exactly_the_rules_the_stream_knows() -> None:
    assert set(typing.get_args(CasualtyRule)) == set(CASUALTY_RULES)
    field = StreamSettings.model_fields["casualty_rule"]
    assert field.annotation == CasualtyRule


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STREAMS_CASUALTY_RULE", "biggest"),
        ("STREAMS_STORE", "redis://"),
        ("STREAMS_PROCESSING_GUARANTEE", "sometimes"),
        ("KAFKA_PARTITIONS", "many"),
        ("CLICKHOUSE_SQL_PORT", "-1"),
    ],
)
def test_a_wrong_value_fails_at_load_in_one_line_naming_its_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings(env_file=tmp_path / "none.env")
    message = str(error.value)
    assert message.startswith(f"setting {variable}: ")
    assert repr(value) in message and "\n" not in message


def test_a_wrong_value_in_the_settings_file_names_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / "incidents.env"
    env_file.write_text("STREAMS_CASUALTY_RULE=biggest\n", encoding="utf-8")
    where = r"STREAMS_CASUALTY_RULE in the environment or .*incidents\.env"
    with pytest.raises(SettingsError, match=where):
        load_settings(env_file=env_file)


def test_every_rule_and_the_child_environment_round_trip(tmp_path: Path) -> None:
    for rule in typing.get_args(CasualtyRule):
        settings = load_settings(env_file=tmp_path / "none.env", streams={"casualty_rule": rule})
        assert child_env(settings)["STREAMS_CASUALTY_RULE"] == rule
