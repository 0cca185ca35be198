"""A tiny Faust app with a table, run as a subprocess by test_kafka_local.py.

Usage: python faust_table_app.py BOOTSTRAP APP_ID SOURCE_TOPIC PARTITIONS EXPECTED OUT_FILE DATADIR

It counts the values of SOURCE_TOPIC in a table (changelog-backed, memory store) and, once it
has counted EXPECTED events, writes the table as JSON to OUT_FILE. The test then stops it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import faust


def main() -> None:
    bootstrap, app_id, source_name, partitions, expected, out_file, datadir = sys.argv[1:8]
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        topic_partitions=int(partitions),
        topic_replication_factor=1,
    )
    source = app.topic(source_name, key_type=bytes, value_type=bytes, value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=int(partitions))
    seen = {"n": 0}

    @app.agent(source)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            counts[value.decode()] += 1
            seen["n"] += 1
            if seen["n"] == int(expected):
                tmp = Path(out_file + ".tmp")
                tmp.write_text(json.dumps({k: v for k, v in counts.items()}))
                os.replace(tmp, out_file)

    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main()
