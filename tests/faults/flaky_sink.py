"""The real sink process, with ClickHouse writes failing while a marker file exists.

Fault injection for tests/faults/test_sink_outage.py: run as ``python flaky_sink.py`` with
``FAULT_SINK_OUTAGE_FILE`` naming the marker. Everything else is `python -m sinks`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import OperationalError

from sinks import __main__ as sink_main
from sinks.sink import ClickHouseSink

MARKER = Path(os.environ["FAULT_SINK_OUTAGE_FILE"])
_real_insert = ClickHouseSink._insert


def _insert(self: ClickHouseSink, name: str, rows: list[list[Any]]) -> None:
    if MARKER.exists():
        raise OperationalError(f"injected outage: ClickHouse unreachable while {MARKER} exists")
    _real_insert(self, name, rows)


ClickHouseSink._insert = _insert  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(sink_main.main())
