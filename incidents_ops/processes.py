"""Background processes of the local stack: start detached, track by pid file, stop.

Each process writes its log to ``var/log/<name>.log`` and its pid to
``var/run/<name>.pid``. Starting is idempotent: a live process is left alone.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from incidents_config.settings import PathsSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessInfo:
    """What is known about one managed process."""

    name: str
    pid: int | None
    running: bool
    log: Path


def _pid_file(paths: PathsSettings, name: str) -> Path:
    return paths.run_dir / f"{name}.pid"


def log_file(paths: PathsSettings, name: str) -> Path:
    """Return the log file of a managed process."""
    return paths.log_dir / f"{name}.log"


def pid_alive(pid: int) -> bool:
    """Tell whether a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def info(paths: PathsSettings, name: str) -> ProcessInfo:
    """Return the state of a managed process from its pid file."""
    pid_path = _pid_file(paths, name)
    pid: int | None = None
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        pid = None
    running = pid is not None and pid_alive(pid)
    return ProcessInfo(name=name, pid=pid, running=running, log=log_file(paths, name))


def start(
    paths: PathsSettings,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[ProcessInfo, bool]:
    """Start `argv` detached unless `name` already runs; return its info and whether it started."""
    current = info(paths, name)
    if current.running:
        return current, False
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    log = log_file(paths, name)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    _pid_file(paths, name).write_text(f"{proc.pid}\n")
    logger.info("started %s (pid %d), log %s", name, proc.pid, log)
    return ProcessInfo(name=name, pid=proc.pid, running=True, log=log), True


def exited_early(paths: PathsSettings, name: str) -> bool:
    """Tell whether a process we started has already died."""
    return not info(paths, name).running


def stop(paths: PathsSettings, name: str, *, timeout_s: float = 30.0) -> bool:
    """Stop a managed process (SIGTERM, then SIGKILL); return whether one was running."""
    current = info(paths, name)
    pid_path = _pid_file(paths, name)
    if not current.running or current.pid is None:
        pid_path.unlink(missing_ok=True)
        return False
    _signal_group(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(current.pid):
        time.sleep(0.1)
    if pid_alive(current.pid):
        logger.warning("%s did not stop in %.0f s; killing it", name, timeout_s)
        _signal_group(current.pid, signal.SIGKILL)
        while pid_alive(current.pid):
            time.sleep(0.05)
    pid_path.unlink(missing_ok=True)
    return True


def kill(paths: PathsSettings, name: str) -> None:
    """SIGKILL a managed process at once (crash tests use this)."""
    current = info(paths, name)
    if current.running and current.pid is not None:
        _signal_group(current.pid, signal.SIGKILL)
        while pid_alive(current.pid):
            time.sleep(0.05)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def tail(path: Path, lines: int = 15) -> str:
    """Return the last lines of a log file (for error messages); "" if it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
