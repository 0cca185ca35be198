"""Run the `incidents` CLI as a user would, in a child process, on a test's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from incidents_config.settings import Settings, child_env


def run_incidents(
    settings: Settings,
    *args: str,
    timeout_s: float = 300.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`incidents ARGS` with exactly these settings (no incidents.env), output captured;
    `env` adds variables, `unset` leaves settings at their defaults (e.g. the var dir)."""
    full = {
        **os.environ,
        **child_env(settings),
        "INCIDENTS_ENV_FILE": "/nonexistent",
        "COLUMNS": "200",  # rich's tables: wide enough not to wrap what tests look for
        **(env or {}),
    }
    for name in unset:
        full.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "incidents", *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
