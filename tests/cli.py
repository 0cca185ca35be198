"""Run the `incidents` CLI as a user would, in a child process, on a test's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from incidents_config.settings import Settings, child_env


def run_incidents(
    settings: Settings, *args: str, timeout_s: float = 300.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`incidents ARGS` with exactly these settings (no incidents.env), output captured."""
    env = {
        **os.environ,
        **child_env(settings),
        "INCIDENTS_ENV_FILE": "/nonexistent",
        "COLUMNS": "200",  # rich's tables: wide enough not to wrap what tests look for
    }
    return subprocess.run(
        [sys.executable, "-m", "incidents", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
