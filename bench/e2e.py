"""End to end on the real stack: Kafka broker, Faust workers, sink, embedded ClickHouse.

Starts its own broker (free loopback ports, a temporary folder), then:

1. publish rate of ``producers.jsonl.publish_jsonl`` on a generated file, with and without
   validation, into topics nobody consumes (the producer alone);
2. for each worker count: an isolated stack (``incidents.stack.up``, own topic prefix,
   var dir, SQL port and sink group), a warm-up until every worker is assigned, then
   --reports synthetic reports (bench.synth) published with kafka-python, timed until
   ``incidents.stack.wait_caught_up`` (minus its quiet checks). Reports the end-to-end
   rate, peak RSS (VmHWM) and CPU seconds of each process, checks the warehouse against
   the pure semantics, and times analyst queries through the read-only SQL endpoint
   with clickhouse-connect (median / p95 over --queries runs).

Everything started here is stopped in ``finally`` (stack.down, broker.stop).

    .venv/bin/python -m bench.e2e --reports 20000 --workers 1,2 --queries 30
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import clickhouse_connect
from kafka import KafkaProducer

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    free_port,
    load_avg,
    machine,
    mib,
    percentile,
    proc_status_kb,
)
from bench.synth import jsonl_bytes, synthetic_reports, write_jsonl
from incidents import processes, stack
from incidents.kafka_local import BrokerConfig, LocalBroker, jars_dir_for
from incidents.settings import Settings, load_settings
from incidents.topics import describe_offsets, ensure_topics
from producers.jsonl import publish_jsonl
from producers.publisher import PRODUCER_DEFAULTS
from schemas.report import Report, parse_report
from streams.app import app_name
from streams.semantics import DistrictDayState, ReportState, apply_membership, dedupe, snapshot

QUERIES = {
    "SELECT 1 (floor)": "SELECT 1",
    "v_province_quarter": "SELECT * FROM v_province_quarter",
    "v_national_quarter": "SELECT * FROM v_national_quarter",
    "v_district_month": "SELECT * FROM v_district_month",
}
QUIET_CHECKS = 3  # wait_caught_up's default: lag zero three times, one second apart
WARMUP_REPORTS = 300


@dataclass
class StackResult:
    workers: int
    reports: int
    publish_s: float
    e2e_s: float
    caught_up: bool
    hwm_kb: dict[str, int | None] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    check: str = ""
    messages: dict[str, int] = field(default_factory=dict)
    queries: dict[str, tuple[float, float, int]] = field(default_factory=dict)


def start_broker(root: Path) -> LocalBroker:
    defaults = load_settings(env_file=root / "no-incidents.env")
    version = defaults.local_kafka.version
    config = BrokerConfig(
        version=version,
        jars_dir=jars_dir_for(defaults.paths.cache_dir, version),
        data_dir=root / "kafka" / "data",
        config_file=root / "kafka" / "server.properties",
        log_file=root / "kafka" / "kafka.log",
        pid_file=root / "kafka" / "kafka.pid",
        port=free_port(),
        controller_port=free_port(),
        heap="512m",
        start_timeout_s=defaults.local_kafka.start_timeout_s,
    )
    return LocalBroker(config)


def make_settings(root: Path, bootstrap: str, name: str) -> Settings:
    token = uuid.uuid4().hex[:8]
    return load_settings(
        env_file=root / "no-incidents.env",
        paths={"var_dir": root / name},
        kafka={"bootstrap_servers": bootstrap, "topic_prefix": f"bench-{token}-{name}"},
        local_kafka={"enabled": False},
        clickhouse={"sql_port": free_port()},
        sink={"group_id": f"bench-{token}-{name}-sink"},
    )


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def expected_totals(reports: list[Report]) -> tuple[int, int, int]:
    """(incidents, killed, district-days with incidents) by the pure semantics."""
    states: dict[str, ReportState] = {}
    days: dict[str, DistrictDayState] = {}
    for r in reports:
        new, memberships = dedupe(states.get(r.report_id), r)
        if new is not None:
            states[r.report_id] = new
        for m in memberships:
            key = m.incident.district_day.key
            days[key], _ = apply_membership(days.get(key), m)
    aggs = [snapshot(s).aggregate for s in days.values()]
    return (
        sum(a.incidents for a in aggs),
        sum(a.killed.total for a in aggs),
        sum(a.incidents > 0 for a in aggs),
    )


def publish(settings: Settings, lines: list[tuple[bytes, bytes]]) -> float:
    """Send (key, value) records like the producers do; return seconds until all acked."""
    producer = KafkaProducer(
        **settings.kafka.client_kwargs(), **PRODUCER_DEFAULTS, acks="all", enable_idempotence=True
    )
    try:
        t0 = time.monotonic()
        for key, value in lines:
            producer.send(settings.kafka.raw_topic, key=key, value=value)
        producer.flush(timeout=120)
        return time.monotonic() - t0
    finally:
        producer.close()


def wait_workers_assigned(settings: Settings, workers: int, timeout_s: float = 120.0) -> None:
    """Wait until each worker logged Ready and no rebalance happened for 3 s."""
    logs = [processes.log_file(settings.paths, stack.worker_name(i)) for i in range(1, workers + 1)]
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        texts = [p.read_text(errors="replace") if p.exists() else "" for p in logs]
        ready = all("[^Worker]: Ready" in t for t in texts)
        assigned = sum(len(re.findall("Setting newly assigned partitions", t)) for t in texts)
        if assigned != last:
            last, since = assigned, time.monotonic()
        if ready and time.monotonic() - since >= 3.0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"workers not ready within {timeout_s} s; see {logs}")


def topic_messages(settings: Settings) -> dict[str, int]:
    """Messages in each topic the pipeline writes (warm-up included)."""
    kafka = settings.kafka
    app = app_name(settings)
    topics = {
        "raw": kafka.raw_topic,
        "valid": kafka.valid_topic,
        "updates": kafka.incident_updates_topic,
        "snapshots": kafka.snapshots_topic,
        "reports-changelog": f"{app}-reports-changelog",
        "district_days-changelog": f"{app}-district_days-changelog",
    }
    parts = describe_offsets(kafka, [], list(topics.values()))
    by_topic: dict[str, int] = {}
    for p in parts:
        by_topic[p.topic] = by_topic.get(p.topic, 0) + p.end_offset
    return {short: by_topic.get(full, 0) for short, full in topics.items()}


def time_queries(settings: Settings, runs: int) -> dict[str, tuple[float, float, int]]:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=settings.clickhouse.sql_port)
    out = {}
    try:
        for name, sql in QUERIES.items():
            for _ in range(2):  # warm-up
                client.query(sql)
            times = []
            rows = 0
            for _ in range(runs):
                t0 = time.perf_counter()
                rows = len(client.query(sql).result_rows)
                times.append(time.perf_counter() - t0)
            out[name] = (statistics.median(times), percentile(times, 95), rows)
    finally:
        client.close()
    return out


def check_warehouse(settings: Settings, expected: tuple[int, int, int]) -> str:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=settings.clickhouse.sql_port)
    try:
        got = client.query(
            "SELECT sum(incidents), sum(killed_total), countIf(incidents > 0)"
            " FROM agg_district_day FINAL"
        ).result_rows[0]
    finally:
        client.close()
    got = tuple(int(x) for x in got)
    verdict = "OK" if got == expected else "MISMATCH"
    return f"{verdict}: warehouse (incidents, killed, district-days) {got}, expected {expected}"


def run_stack(
    root: Path,
    bootstrap: str,
    broker_pid: int | None,
    workers: int,
    warm: list[tuple[bytes, bytes]],
    records: list[tuple[bytes, bytes]],
    expected: tuple[int, int, int],
    args: argparse.Namespace,
) -> StackResult:
    settings = make_settings(root, bootstrap, f"w{workers}")
    names = [stack.worker_name(i) for i in range(1, workers + 1)] + [stack.SINK]
    try:
        stack.up(settings, workers=workers, push=False, say=lambda _m: None)
        wait_workers_assigned(settings, workers)
        publish(settings, warm)
        if not stack.wait_caught_up(settings, args.timeout):
            raise RuntimeError("warm-up did not catch up")
        pids = {n: processes.info(settings.paths, n).pid for n in names}
        pids["kafka"] = broker_pid
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}

        t0 = time.monotonic()
        publish_s = publish(settings, records)
        caught_up = stack.wait_caught_up(settings, args.timeout, quiet_checks=QUIET_CHECKS)
        t_ret = time.monotonic()
        c0 = time.monotonic()
        stack.consumer_lag(settings)
        lag_call = time.monotonic() - c0
        # The last QUIET_CHECKS-1 checks (1 s sleep + one lag call each) came after the
        # pipeline had caught up; so did the final lag call.
        e2e_s = t_ret - t0 - (QUIET_CHECKS - 1) * (1.0 + lag_call) - lag_call

        result = StackResult(workers, len(records), publish_s, e2e_s, caught_up)
        for n, p in pids.items():
            result.cpu_s[n] = cpu_seconds(p) - cpu0[n]
            if p is not None:
                result.hwm_kb[n] = proc_status_kb(p, "VmHWM")
        result.check = check_warehouse(settings, expected)
        result.messages = topic_messages(settings)
        if args.queries:
            result.queries = time_queries(settings, args.queries)
        return result
    finally:
        stack.down(settings)


def publish_file_bench(root: Path, bootstrap: str, n: int) -> list[str]:
    """publish_jsonl on a generated file into topics nobody reads."""
    settings = make_settings(root, bootstrap, "publish")
    ensure_topics(settings.kafka)
    path = write_jsonl(synthetic_reports(n, seed=7, id_prefix="P"), root / "publish.jsonl")
    lines = []
    for validate in (True, False):
        t0 = time.monotonic()
        summary = publish_jsonl(path, settings, validate=validate)
        wall = time.monotonic() - t0
        lines.append(
            f"publish_jsonl validate={validate}: {summary.sent / wall:,.0f} reports/s"
            f" ({summary.sent} sent, {summary.rejected} rejected, {wall:.2f} s wall incl."
            f" connect; {summary.sent / summary.seconds:,.0f}/s in the send loop)"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reports", type=int, default=20_000, help="reports per run (default 20000)")
    ap.add_argument("--workers", default="1,2", help="worker counts to run (default 1,2)")
    ap.add_argument("--queries", type=int, default=30, help="runs per query (default 30; 0 = none)")
    ap.add_argument(
        "--publish-reports",
        type=int,
        default=None,
        help="lines for the publish_jsonl measurement (default --reports; 0 = skip)",
    )
    ap.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this long without progress, s"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = ap.parse_args(argv)

    feed = synthetic_reports(args.reports, seed=args.seed)
    warm_feed = synthetic_reports(WARMUP_REPORTS, seed=args.seed + 1, id_prefix="W")
    lines = jsonl_bytes(feed)
    warm_lines = jsonl_bytes(warm_feed)
    parsed = [parse_report(x) for x in warm_lines + lines]
    expected = expected_totals(parsed)
    keyed = [(r.report_id.encode(), x) for r, x in zip(parsed, warm_lines + lines, strict=True)]
    warm, records = keyed[:WARMUP_REPORTS], keyed[WARMUP_REPORTS:]
    n_days = len({(r.occurred_on, r.province, r.district) for r in parsed[WARMUP_REPORTS:]})

    root = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    broker = start_broker(root)
    started = time.monotonic()
    results: list[StackResult] = []
    publish_lines: list[str] = []
    load_before = load_avg()
    try:
        broker.start()
        broker_pid = broker.status().pid
        n_publish = args.reports if args.publish_reports is None else args.publish_reports
        if n_publish:
            publish_lines = publish_file_bench(root, broker.bootstrap_servers, n_publish)
        for w in (int(x) for x in args.workers.split(",")):
            results.append(
                run_stack(
                    root, broker.bootstrap_servers, broker_pid, w, warm, records, expected, args
                )
            )
            broker_hwm = proc_status_kb(broker_pid, "VmHWM") if broker_pid else None
    finally:
        broker.stop()
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    head = ", ".join(
        f"{r.workers} worker{'s' if r.workers > 1 else ''}: {r.reports / r.e2e_s:,.0f} reports/s"
        for r in results
    )
    print(f"e2e: {head} ({args.reports} reports, {n_days} district-days)")
    print(f"  machine: {machine()}")
    print(f"  load avg before: {load_before}; total wall {time.monotonic() - started:.0f} s")
    for line in publish_lines:
        print(f"  {line}")
    for r in results:
        print(
            f"  workers={r.workers}: end to end {r.e2e_s:.1f} s ({r.reports / r.e2e_s:,.0f}/s),"
            f" publish {r.publish_s:.1f} s ({r.reports / r.publish_s:,.0f}/s while the stack ran),"
            f" caught up: {r.caught_up}"
        )
        print(
            "    peak RSS (VmHWM): "
            + ", ".join(f"{n} {mib(kb)}" for n, kb in r.hwm_kb.items())
            + "; CPU s in the window: "
            + ", ".join(f"{n} {s:.1f}" for n, s in r.cpu_s.items())
        )
        print(f"    {r.check}")
        total = WARMUP_REPORTS + r.reports
        print(
            "    messages per published report: "
            + ", ".join(f"{n} {c / total:.2f}" for n, c in r.messages.items())
        )
        for name, (median, p95, rows) in r.queries.items():
            print(
                f"    query {name}: median {median * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms"
                f" ({rows} rows, {args.queries} runs)"
            )
    if results and broker_hwm is not None:
        print(f"  broker peak RSS (VmHWM): {mib(broker_hwm)}")


if __name__ == "__main__":
    main()
