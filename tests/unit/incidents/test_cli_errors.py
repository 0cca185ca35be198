"""The CLI's promise: bad input and missing services give one clear line, never a traceback.

These run the real `incidents` command in a subprocess, pointed at a folder and ports
where nothing runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from incidents.cli import app
from tests.ports import free_ports


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    (port,) = free_ports(1)  # nothing listens there
    env = {
        **os.environ,
        "INCIDENTS_VAR_DIR": str(tmp_path / "var"),
        "INCIDENTS_ENV_FILE": str(tmp_path / "none.env"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "LOCAL_KAFKA_ENABLED": "false",
        "CLICKHOUSE_SQL_PORT": "0",  # no sink recorded an endpoint: the folder itself
        "PUSH_CONNECT_TIMEOUT_S": "2",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "incidents", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def command_paths() -> list[list[str]]:
    """Every command and command group of the CLI, as the words that name it."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():  # a group's commands
            walk(sub, [*path, name])

    walk(root, [])
    return paths


def test_the_command_tree_is_what_the_readme_documents() -> None:
    names = {" ".join(p) for p in command_paths()}
    assert {"up", "replay", "down", "status", "publish", "sql", "report", "dq", "demo"} <= names
    assert {"alerts silence", "places resolve", "run sink", "run worker", "run push"} <= names


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "incidents")
def test_every_command_answers_help(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
    assert "Usage" in result.output


def test_help_in_a_real_process(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "replay" in result.stdout


def test_publish_a_missing_file(run) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("publish", "no-such-feed.jsonl"))
    assert "no-such-feed.jsonl" in line


def test_publish_while_kafka_is_down(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"source": "x"}\n')
    line = one_line_error(run("publish", str(feed), "--no-validate"))
    assert "Kafka" in line


def test_status_while_nothing_is_up(run) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("status"))
    assert "incidents up" in line


def test_sql_before_any_warehouse_exists(run) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(run("sql", "SELECT 1"))
    assert "no warehouse" in line


def test_sql_with_bad_sql_and_writes_refused(run) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate").returncode == 0
    ok = run("sql", "SELECT count() AS n FROM incidents", "--format", "csv")
    assert ok.returncode == 0 and ok.stdout.splitlines() == ["n", "0"], ok.stderr
    syntax = one_line_error(run("sql", "SELEKT nonsense"))
    assert "Syntax error" in syntax and syntax.endswith("(code 62)"), syntax
    assert "(code " in one_line_error(run("sql", "DROP TABLE incidents"))


def test_usage_errors_exit_2(run) -> None:  # type: ignore[no-untyped-def]
    result = run("publish", "x.jsonl", "--format", "xml")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert run("no-such-command").returncode == 2


def test_a_wrong_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "incidents", "config"],
        env={**os.environ, "STREAMS_CASUALTY_RULE": "biggest"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert one_line_error(result).startswith("error: setting STREAMS_CASUALTY_RULE: ")


def test_a_bad_alert_rules_file_is_one_line_naming_the_field(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.toml"
    rules.write_text("[count_spike]\nmin_count = -1\n")
    result = run("alerts", "rules", "--file", str(rules))
    assert result.returncode == 1
    assert one_line_error(result).endswith(
        "rules.toml: count_spike.min_count: Input should be greater than or equal to 1"
    )
