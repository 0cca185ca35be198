"""The real sink process, with ClickHouse writes failing while a marker file exists.

Fault injection for tests/faults/test_sink_outage.py: run as ``python flaky_sink.py`` with
``FAULT_SINK_OUTAGE_FILE`` naming the marker. Everything else is `incidents run sink`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import OperationalError

from incidents_config.settings import load_settings
from incidents_ops import sink_process
from sinks.sink import ClickHouseSink

MARKER = Path(os.environ["FAULT_SINK_OUTAGE_FILE"])
_real_insert = ClickHouseSink._insert


def _insert(self: ClickHouseSink, name: str, rows: list[list[Any]]) -> None:
    if MARKER.exists():
        raise OperationalError(f"injected outage: ClickHouse unreachable while {MARKER} exists")
    _real_insert(self, name, rows)


ClickHouseSink._insert = _insert  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(sink_process.main(load_settings()))
