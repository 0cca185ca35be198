"""A stack `incidents up` started in one folder is found, and stopped, from any other, with
INCIDENTS_VAR_DIR left at its default; every command says which var dir it looked in."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from incidents_config.settings import Settings
from incidents_ops import stack
from tests.cli import run_incidents

pytestmark = pytest.mark.integration


def test_a_stack_started_in_one_folder_is_found_from_another(
    settings_factory: Callable[..., Settings], unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    settings = settings_factory(
        local_kafka={"enabled": False},
        sink={"group_id": unique_name("sink")},
        paths={"cache_dir": tmp_path / "cache"},  # where `up` records the var dir: the test's
    )
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    var = project / "var"

    def incidents(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`incidents ARGS` run in `cwd`, the var dir at its default unless `env` sets it."""
        return run_incidents(
            settings, *args, cwd=cwd, env=env, unset=() if env else ("INCIDENTS_VAR_DIR",)
        )

    started = incidents(project, "up", "--no-push")
    try:
        assert started.returncode == 0, started.stderr
        assert f"var dir: {var} (found from any folder)" in started.stdout

        found = incidents(elsewhere, "status")
        assert found.returncode == 0, found.stderr
        assert f"stack: running (var dir {var}, recorded by `incidents up`)" in found.stdout
        sink_pid = (var / "run" / "sink.pid").read_text().strip()
        sink_row = next(line for line in found.stdout.splitlines() if "│ sink " in line)
        assert "running" in sink_row and sink_pid in sink_row, found.stdout
        assert not (elsewhere / "var").exists()

        mine = elsewhere / "mine"
        explicit = incidents(elsewhere, "status", INCIDENTS_VAR_DIR="mine")
        assert f"stack: stopped (looked in {mine}, from INCIDENTS_VAR_DIR)" in explicit.stdout
    finally:
        stopped = incidents(elsewhere, "down")
        missed = stack.down(settings.in_var_dir(var))  # what the CLI did not find, if anything
    assert stopped.returncode == 0, stopped.stderr
    assert "sink: stopped" in stopped.stdout and "worker-1: stopped" in stopped.stdout
    assert f"stack: stopped (var dir {var}, recorded by `incidents up`)" in stopped.stdout
    assert not any(missed.values()), missed

    after = incidents(elsewhere, "status")
    assert f"stack: stopped (looked in {var}, recorded by `incidents up`)" in after.stdout
    again = incidents(project, "down")
    assert f"stack: nothing was running (looked in {var}, ./var here)" in again.stdout
