"""A second process opening the embedded warehouse gets a WarehouseLocked error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from clickhouse_connect.driver.client import Client

from incidents_config.settings import Settings

pytestmark = pytest.mark.integration

CHILD = textwrap.dedent(
    """
    import sys
    from incidents_config.settings import load_settings
    from sinks.clickhouse import connect
    from sinks.exceptions import WarehouseLocked
    try:
        connect(load_settings(env_file="/nonexistent", paths={"var_dir": sys.argv[1]}))
    except WarehouseLocked as e:
        print("LOCKED", e.owner_pid)
        print(e)
    else:
        print("OPENED")
    """
)


def test_second_process_gets_warehouse_locked(writer: Client, warehouse_settings: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(warehouse_settings.paths.var_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    first, _, message = done.stdout.partition("\n")
    assert first == f"LOCKED {os.getpid()}", done.stdout + done.stderr
    assert "incidents sql" in message
    # The test holds the folder without a sink: no endpoint was recorded, and none is named
    # (the configured port may be another stack's).
    assert "endpoint, which this folder's sink has not recorded" in message
    assert "8123" not in message
