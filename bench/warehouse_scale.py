"""Analyst query latency on a large warehouse, bulk-loaded in the pipeline's shape.

Creates a fresh embedded warehouse in a temporary folder (the project's migrations, the
real ClickHouse engine through clickhouse-connect), fills ``agg_district_day`` and
``incidents`` as the sink would after --reports reports, then times the analyst views.

The shape (``--help`` for the knobs): reports -> incidents at 1.4 reports per incident;
incidents spread over --districts districts of 7 provinces and --years years of days;
each district-day's row written --revisions times with rising revisions (the sink inserts
a new snapshot per change; ReplacingMergeTree keeps the newest, read with FINAL). Rows are
generated inside ClickHouse (``INSERT ... SELECT FROM numbers()``), so loading is fast and
the measurement is of the queries, not of Python. Every query is timed twice: just after
the load (overlapping parts, which FINAL merges at read time) and after ``OPTIMIZE ...
FINAL`` (what background merges reach in time).

    python -m bench.warehouse_scale --reports 10000000 --runs 30
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import load_avg, machine, percentile
from incidents_config.settings import load_settings
from sinks.clickhouse import connect
from sinks.migrate import migrate

QUERIES = {
    "SELECT 1 (floor)": "SELECT 1",
    "v_province_quarter": "SELECT * FROM v_province_quarter",
    "v_national_quarter": "SELECT * FROM v_national_quarter",
    "v_province_quarter, one quarter": (
        "SELECT * FROM v_province_quarter WHERE quarter = toDate('2024-01-01')"
    ),
    "v_district_month, one province": (
        "SELECT * FROM v_district_month WHERE province = 'Balochistan'"
    ),
    # What the view's cost is made of: its inner aggregation with 2 of its 13 sums, with
    # and without FINAL.
    "inner aggregation, 2 sums": (
        "SELECT toStartOfQuarter(day) AS q, province, sum(incidents), sum(killed_total)"
        " FROM agg_district_day FINAL GROUP BY q, province"
    ),
    "inner aggregation, 2 sums, no FINAL": (
        "SELECT toStartOfQuarter(day) AS q, province, sum(incidents), sum(killed_total)"
        " FROM agg_district_day GROUP BY q, province"
    ),
}


def time_queries(client: Any, runs: int) -> dict[str, tuple[float, float, int]]:
    """Median, p95 and row count of every query (after two warm-up runs)."""
    results = {}
    for name, sql in QUERIES.items():
        for _ in range(2):
            client.query(sql)
        times, rows = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = len(client.query(sql).result_rows)
            times.append(time.perf_counter() - t0)
        results[name] = (statistics.median(times), percentile(times, 95), rows)
    return results


PROVINCES = [
    "Balochistan",
    "Khyber Pakhtunkhwa",
    "Punjab",
    "Sindh",
    "Islamabad Capital Territory",
    "Gilgit-Baltistan",
    "Azad Kashmir",
]


def load(client: object, reports: int, districts: int, years: int, revisions: int) -> dict:
    """Fill the two tables the views read; return what was loaded."""
    incidents = max(int(reports / 1.4), 1)
    days = 365 * years
    provinces = "[" + ",".join(f"'{p}'" for p in PROVINCES) + "]"  # constants, not input
    # district-day i: district i % districts, day i // districts (from 2005-01-01)
    district_days = min(districts * days, incidents)
    per_dd = incidents / district_days
    spread = max(1, round(2 * per_dd - 1))  # incidents per district-day: 1 .. spread
    t0 = time.monotonic()
    for rev in range(1, revisions + 1):  # one insert per revision: separate parts, as live
        client.command(  # type: ignore[attr-defined]
            f"""
            INSERT INTO agg_district_day
            SELECT
                addDays(toDate32('2005-01-01'), intDiv(dd, {districts})) AS day,
                arrayElement({provinces}, (dd % {districts}) % 7 + 1) AS province,
                concat('District ', toString(dd % {districts})) AS district,
                n AS incidents,
                intDiv(n * 3, 4) AS terror_attacks,
                n - intDiv(n * 3, 4) AS security_operations,
                k % 3, k % 5, k % 7, k % 2, (k % 3) + (k % 5) + (k % 7) + (k % 2),
                k % 4, k % 6, 0, k % 3, (k % 4) + (k % 6) + (k % 3),
                {rev} AS revision,
                0 AS is_deleted
            FROM (
                SELECT
                    number AS dd,
                    toUInt32(1 + (cityHash64(number) % {spread}) + {rev - revisions}) AS n,
                    toUInt32(cityHash64(number, {rev}) % 12) AS k
                FROM numbers({district_days})
            )
            """
        )
    t1 = time.monotonic()
    client.command(  # type: ignore[attr-defined]
        f"""
        INSERT INTO incidents (incident_id, occurred_on, province, district, category,
                               location, killed_total, injured_total, revision, is_deleted)
        SELECT
            hex(cityHash64(number)) AS incident_id,
            addDays(toDate32('2005-01-01'), intDiv(number % {district_days}, {districts})),
            arrayElement({provinces}, ((number % {district_days}) % {districts}) % 7 + 1),
            concat('District ', toString((number % {district_days}) % {districts})),
            if(number % 4 = 0, 'security_operation', 'terror_attack'),
            concat('village ', toString(number % 1000)),
            toUInt32(cityHash64(number, 3) % 6),
            toUInt32(cityHash64(number, 5) % 9),
            1,
            0
        FROM numbers({incidents})
        """
    )
    t2 = time.monotonic()
    return {
        "incidents": incidents,
        "district_days": district_days,
        "agg_rows": district_days * revisions,
        "agg_load_s": t1 - t0,
        "incidents_load_s": t2 - t1,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reports", type=int, default=10_000_000, help="default 10,000,000")
    ap.add_argument("--districts", type=int, default=160, help="default 160 (Pakistan ~160)")
    ap.add_argument("--years", type=int, default=20, help="days span this many years (20)")
    ap.add_argument("--revisions", type=int, default=2, help="rows per district-day (2)")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per query (30)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    load_before = load_avg()
    try:
        settings = load_settings(
            env_file=root / "no.env",
            paths={"var_dir": root},
            clickhouse={"dsn": f"chdb://{root / 'warehouse'}"},
        )
        client = connect(settings)
        migrate(client, settings)
        client.database = settings.clickhouse.database
        loaded = load(client, args.reports, args.districts, args.years, args.revisions)
        parts = client.query(
            "SELECT table, count(), sum(rows) FROM system.parts WHERE active AND database ="
            " {db:String} AND table IN ('agg_district_day', 'incidents') GROUP BY table",
            parameters={"db": settings.clickhouse.database},
        ).result_rows
        results = time_queries(client, args.runs)
        # What background merges reach in time: one part, FINAL has nothing to merge.
        client.command("OPTIMIZE TABLE agg_district_day FINAL")
        merged = time_queries(client, args.runs)
        client.close()
    finally:
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    head = results["v_province_quarter"]
    print(
        f"warehouse_scale: v_province_quarter median {head[0] * 1e3:.1f} ms at"
        f" {args.reports:,} reports ({loaded['agg_rows']:,} agg_district_day rows)"
    )
    print(f"  machine: {machine()}; load avg before: {load_before}")
    print(
        f"  loaded: {loaded['incidents']:,} incidents, {loaded['district_days']:,} district-days"
        f" x {args.revisions} revisions in {loaded['agg_load_s']:.1f} s + "
        f"{loaded['incidents_load_s']:.1f} s; active parts {parts}"
    )
    for name, (median, p95, rows) in results.items():
        m_median, m_p95, _ = merged[name]
        print(
            f"  query {name}: median {median * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms just after"
            f" the load; {m_median * 1e3:.1f} / {m_p95 * 1e3:.1f} ms merged ({rows} rows,"
            f" {args.runs} runs, clickhouse-connect on the embedded engine)"
        )


if __name__ == "__main__":
    main()
