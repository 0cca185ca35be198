"""A real Prometheus-family server (Prometheus, Alertmanager) run by a test: found on the
PATH or the test is skipped saying what to install, started on loopback with its log in
the test's folder, polled on ``/-/ready``, stopped afterwards."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from incidents_ops import processes
from tests.ports import free_ports
from tests.waiting import wait_for


def binary(*names: str, install: str) -> str:
    """The first of `names` on the PATH; otherwise the test is skipped, naming `install`."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip(f"{names[0]} is not installed: {install} (make test installs it as root)")


class Server:
    """One server process listening on a free loopback port: ``args`` get
    ``--web.listen-address`` added."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        (port,) = free_ports(1)
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*args, f"--web.listen-address=127.0.0.1:{port}"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(f"{name} at {self.url} (log {log})", self.ready)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.process.returncode}): {self.tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:  # not listening yet (URLError is an OSError)
            return False

    def tail(self) -> str:
        return processes.tail(self.log, 30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
