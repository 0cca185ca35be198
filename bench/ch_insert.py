"""ClickHouse's own insert rate for the rows our sink writes, through clickhouse-connect.

For --reports synthetic reports (``bench.synth``, the same feed as ``bench.e2e`` for the
same --seed) it builds the messages the sink reads: each valid report's JSON (as on
``reports.valid``) and the final snapshot of every district-day by the pure semantics
(the pipeline sends more, intermediate, snapshots: ~0.57 per report). Then:

1. the sink's row building, ``sinks.rows.message_rows`` per message (CPU, no I/O);
2. inserts into a fresh embedded warehouse (chdb, a temporary folder, the project's
   migrations via ``sinks.migrate``), --batch rows per insert per table, twice, each
   into its own fresh database: row-oriented through an insert context built from
   ``sinks.tables`` (what ``sinks.sink.ClickHouseSink`` does) and column-oriented
   (``client.insert(..., column_oriented=True)``).

chdb allows one open folder per process, so run this in its own process (``bench.e2e``
does), never in a process that owns another warehouse. The last line printed is
``RESULT {json}``.

    .venv/bin/python -m bench.ch_insert --reports 20000 --batch 5000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synth import jsonl_bytes, synthetic_reports
from incidents_config.settings import load_settings
from schemas.report import parse_report
from schemas.warehouse import encode
from sinks.migrate import migrate
from sinks.rows import KafkaCoordinates, MessageKind, TableRow, message_rows
from sinks.tables import SINK_TABLES
from streams import semantics


def sink_messages(n: int, seed: int) -> list[tuple[MessageKind, bytes]]:
    """The valid reports and final district-day snapshots for the feed, as message bytes."""
    reports = [parse_report(line) for line in jsonl_bytes(synthetic_reports(n, seed=seed))]
    out = [(MessageKind.REPORT, report.model_dump_json().encode()) for report in reports]
    final = semantics.run(reports, "max_total").snapshots()  # every incident's newest row
    out.extend((MessageKind.SNAPSHOT, encode(snap)) for snap in final.values())
    return out


def build_rows(messages: list[tuple[MessageKind, bytes]]) -> list[TableRow]:
    at = KafkaCoordinates("bench.reports.valid", 0, 0, datetime.now(UTC))
    rows: list[TableRow] = []
    for i, (kind, value) in enumerate(messages):
        rows.extend(message_rows(kind, value, at._replace(offset=i)))
    return rows


def insert_all(
    client: Any, database: str, by_table: dict[str, list[list[Any]]], batch: int, columns: bool
) -> dict[str, float]:
    """Insert every table's rows in batches; seconds per table."""
    specs = {s.name: s for s in SINK_TABLES}
    seconds: dict[str, float] = {}
    for name, rows in by_table.items():
        spec = specs[name]
        context = client.create_insert_context(
            table=name,
            database=database,
            column_names=spec.column_names,
            column_type_names=spec.column_types,
        )
        t0 = time.perf_counter()
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            if columns:
                client.insert(
                    name,
                    [list(c) for c in zip(*chunk, strict=True)],
                    column_names=spec.column_names,
                    database=database,
                    column_type_names=spec.column_types,
                    column_oriented=True,
                )
            else:
                context.data = chunk
                client.insert(context=context)
                context.data = None
        seconds[name] = time.perf_counter() - t0
    return seconds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reports", type=int, default=20_000, help="reports in the feed")
    ap.add_argument("--seed", type=int, default=1, help="feed seed (bench.e2e's --seed)")
    ap.add_argument("--batch", type=int, default=5000, help="rows per insert (default 5000)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    messages = sink_messages(args.reports, args.seed)
    t0 = time.perf_counter()
    rows = build_rows(messages)
    build_s = time.perf_counter() - t0
    specs = {s.name: s for s in SINK_TABLES}
    by_table: dict[str, list[list[Any]]] = {}
    for row in rows:
        names = specs[row.table].column_names
        by_table.setdefault(row.table, []).append([row.values[c] for c in names])
    counts = {name: len(v) for name, v in by_table.items()}
    total = sum(counts.values())

    root = Path(tempfile.mkdtemp(prefix="bench-ch-insert-"))
    result: dict[str, Any] = {
        "messages": len(messages),
        "rows": total,
        "rows_per_table": counts,
        "build_s": build_s,
        "build_rows_per_s": total / build_s,
        "batch": args.batch,
    }
    try:
        client = clickhouse_connect.get_client(dsn=f"chdb://{root / 'warehouse'}")
        try:
            for label, columns in (("row", False), ("column", True)):
                db = f"bench_{label}"
                settings = load_settings(
                    env_file=root / "no-incidents.env",
                    paths={"var_dir": root},
                    clickhouse={"database": db, "dsn": f"chdb://{root / 'warehouse'}"},
                )
                migrate(client, settings)
                seconds = insert_all(client, db, by_table, args.batch, columns)
                counted = [client.command(f"SELECT count() FROM {db}.{n}") for n in by_table]
                stored = sum(int(str(c)) for c in counted)
                wall = sum(seconds.values())
                result[label] = {
                    "seconds": wall,
                    "rows_per_s": total / wall,
                    "per_table": {
                        n: {"rows": counts[n], "rows_per_s": counts[n] / s}
                        for n, s in seconds.items()
                    },
                    "stored": stored,
                }
        finally:
            client.close()
    finally:
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print(
        f"clickhouse insert: {result['column']['rows_per_s']:,.0f} rows/s column-oriented,"
        f" {result['row']['rows_per_s']:,.0f} rows/s row-oriented (like the sink);"
        f" {total} rows of {len(messages)} messages, batches of {args.batch}"
    )
    print(
        f"  message_rows (the sink's row building): {total / build_s:,.0f} rows/s"
        f" ({len(messages) / build_s:,.0f} messages/s, {build_s:.2f} s)"
    )
    for label in ("row", "column"):
        per = result[label]["per_table"]
        print(
            f"  {label}-oriented: "
            + ", ".join(f"{n} {v['rows']} rows {v['rows_per_s']:,.0f}/s" for n, v in per.items())
            + f"; stored {result[label]['stored']} rows"
        )
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
