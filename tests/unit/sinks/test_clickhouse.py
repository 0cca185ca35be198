from __future__ import annotations

from pathlib import Path

import pytest

from incidents_config.settings import Settings
from sinks import clickhouse
from sinks.exceptions import InvalidDsn, InvalidIdentifier, WarehouseLocked


def test_chdb_path_is_absolute_and_server_dsn_has_none(tmp_path: Path) -> None:
    assert clickhouse.chdb_path(f"chdb://{tmp_path}/wh") == tmp_path / "wh"
    assert clickhouse.chdb_path("http://u:p@host:8123") is None
    assert clickhouse.chdb_path("https://host:8443/db") is None


@pytest.mark.parametrize("dsn", ["chdb://", "chdb://:memory:", "clickhouse://host", "host:9000"])
def test_bad_dsn(dsn: str) -> None:
    with pytest.raises(InvalidDsn):
        clickhouse.chdb_path(dsn)


def test_default_dsn_is_embedded_under_var_dir(settings_factory: object) -> None:
    settings: Settings = settings_factory()  # type: ignore[operator]
    path = clickhouse.chdb_path(settings.clickhouse_dsn)
    assert path is not None
    assert path == (settings.paths.var_dir / "warehouse").resolve()


def test_database_name_is_validated(settings_factory: object) -> None:
    settings: Settings = settings_factory(clickhouse={"database": "bad-name"})  # type: ignore[operator]
    with pytest.raises(InvalidIdentifier):
        clickhouse.database_name(settings)


def test_redact_hides_password() -> None:
    assert clickhouse._redact("https://analyst:s3cret@ch:8443") == "https://analyst:***@ch:8443"


def test_lock_owner_of_unlocked_or_missing_folder(tmp_path: Path) -> None:
    assert clickhouse.lock_owner(tmp_path / "nothing") is None
    (tmp_path / "status").write_text("PID: 1\n")
    assert clickhouse.lock_owner(tmp_path) is None


def test_endpoint_does_not_answer_on_a_closed_port(settings_factory: object) -> None:
    settings: Settings = settings_factory(clickhouse={"sql_port": 1})  # type: ignore[operator]
    assert clickhouse.endpoint_answers(settings, timeout_s=0.2) is False


def test_locked_message_names_owner_and_endpoint() -> None:
    e = WarehouseLocked("/x/wh", 42, "python -m incidents run sink", "http://127.0.0.1:8123")
    assert "process 42 (python -m incidents run sink)" in str(e)
    assert "`incidents sql`" in str(e)
    assert "http://127.0.0.1:8123" in str(e)
