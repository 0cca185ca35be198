"""Analysts' own ClickHouse tools against the read-only SQL endpoint.

Each test starts an endpoint on a copy of the session's sample warehouse (Q1 2024) and
runs a real client against it: the official JDBC driver (fetched by Maven from Maven
Central into INCIDENTS_CACHE_DIR, like the Kafka jars), the official Go client (a program
in tests/clients/go built into the same cache, its modules in GOMODCACHE) and
clickhouse-connect's SQLAlchemy dialect. A test skips, saying why, only when its toolchain
(java/mvn, go) is missing; fetching and building take a file lock, so parallel workers
(pytest -n) wait for one download instead of racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from incidents_config.settings import Settings, load_settings
from sinks.sql_endpoint import SqlEndpoint, open_sql_endpoint
from tests.integration.conftest import copy_warehouse

ROOT = Path(__file__).resolve().parents[3]
JDBC_POM = ROOT / "infra" / "clients" / "jdbc" / "pom.xml"
JDBC_VERSION = "0.10.0"
JDBC_PROBE = ROOT / "tests" / "clients" / "jdbc" / "Probe.java"
GO_PROBE = ROOT / "tests" / "clients" / "go"
FETCH_TIMEOUT_S = 900


@pytest.fixture
def sample_endpoint(sample_warehouse: Settings, tmp_path: Path) -> Iterator[SqlEndpoint]:
    """The read-only endpoint on a copy of the sample warehouse, on a free port."""
    endpoint = open_sql_endpoint(copy_warehouse(sample_warehouse, tmp_path))
    try:
        yield endpoint
    finally:
        endpoint.stop()


def require(*tools: str) -> dict[str, str]:
    """Return the tools' paths; skip the test, naming the missing ones."""
    found = {tool: shutil.which(tool) for tool in tools}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: this client's toolchain is missing")
    return {tool: path for tool, path in found.items() if path is not None}


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created): one worker fetches, the others wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run(cmd: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a toolchain command; fail the test with its output when it fails."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False, **kwargs
    )
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    return proc


def probe(cmd: list[str]) -> dict[str, Any]:
    """Run a client probe; return the JSON object it prints (fail with its stderr)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """INCIDENTS_CACHE_DIR (the settings' cache folder, shared with the Kafka jars)."""
    return load_settings().paths.cache_dir


@pytest.fixture(scope="session")
def jdbc_classpath(cache_dir: Path) -> str:
    """The JDBC driver's jars (Maven, once per cache), as a `java -cp` wildcard."""
    tools = require("java", "mvn")
    jars = cache_dir / "clickhouse-jdbc" / JDBC_VERSION
    marker = jars / f"clickhouse-jdbc-{JDBC_VERSION}.jar"
    with locked(cache_dir / "clickhouse-jdbc" / ".lock"):
        if not marker.is_file():
            partial = jars.with_name(f".{JDBC_VERSION}-partial")
            shutil.rmtree(partial, ignore_errors=True)
            run(
                [
                    tools["mvn"],
                    "-q",
                    "-B",
                    "-f",
                    str(JDBC_POM),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={partial}",
                    f"-Dclickhouse.jdbc.version={JDBC_VERSION}",
                ],
                "fetching the ClickHouse JDBC driver with Maven",
            )
            partial.rename(jars)
    return f"{jars}/*"


@pytest.fixture(scope="session")
def go_probe(cache_dir: Path) -> Path:
    """The Go client's probe (tests/clients/go), built once per source version."""
    tools = require("go")
    sources = sorted(p for p in GO_PROBE.iterdir() if p.suffix in {".go", ".mod", ".sum"})
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    binary = cache_dir / "clients" / f"go-probe-{digest}"
    with locked(cache_dir / "clients" / ".go-probe.lock"):
        if not binary.is_file():
            partial = binary.with_name(f".{binary.name}-partial")
            env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false"}
            run([tools["go"], "build", "-o", str(partial), "."], "go build", cwd=GO_PROBE, env=env)
            partial.rename(binary)
    return binary
