"""Helpers shared by the benchmarks: machine description, timing statistics, ports, RSS,
child benchmark processes."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def machine() -> str:
    """One line describing where the benchmark ran (CPU, cores, RAM, Python, load)."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{model or platform.processor()} x{os.cpu_count()}, {mem_gb:.0f} GiB RAM,"
        f" Python {platform.python_version()} ({sys.implementation.name}),"
        f" load avg {load}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def load_avg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> str:
    """'median X ms, p95 Y ms, min Z ms' of a list of durations in seconds."""
    return (
        f"median {statistics.median(seconds) * 1e3:.1f} ms,"
        f" p95 {percentile(seconds, 95) * 1e3:.1f} ms, min {min(seconds) * 1e3:.1f} ms"
    )


def proc_status_kb(pid: int, field: str) -> int | None:
    """A ``/proc/<pid>/status`` field in kB (``VmHWM`` = peak RSS, ``VmRSS`` = current)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f} MiB"


def run_child(
    argv: list[str], env: dict[str, str], timeout_s: float, cwd: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """Run a benchmark script; return (its ``RESULT {json}`` line, its other output).

    The child gets this process's environment plus `env`. The result is None when the
    script printed no RESULT line (skipped, failed or timed out); the text says why.
    """
    try:
        proc = subprocess.run(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        parts = [
            x.decode(errors="replace") if isinstance(x, bytes) else x or ""
            for x in (e.stdout, e.stderr)
        ]
        text = "".join(parts)
        return None, f"timed out after {timeout_s:.0f} s: {text[-2000:]}"
    result = None
    other = []
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
        else:
            other.append(line)
    text = "\n".join(other)
    if result is None:
        text = f"exit status {proc.returncode}: {text}\n{proc.stderr[-2000:]}".strip()
    return result, text
