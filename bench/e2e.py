"""End to end on the real stack: Kafka broker, Faust workers, sink, embedded ClickHouse.

Starts its own broker (free loopback ports, a temporary folder), then:

1. for each worker count: an isolated stack (``incidents_ops.stack.up``, own topic prefix,
   var dir, SQL port and sink group), a warm-up until every worker is assigned, then
   --reports synthetic reports (bench.synth) published with kafka-python, timed until
   ``incidents_ops.stack.wait_caught_up`` (minus its quiet checks). Reports the end-to-end
   rate, peak RSS (VmHWM) and CPU seconds of each process, checks the warehouse against
   the pure semantics, and times analyst queries through the read-only SQL endpoint
   with clickhouse-connect (median / p95 over --queries runs).

2. side by side, on the same broker and the raw topic the first stack read (its
   --reports plus the warm-up, already published; each alone on the machine, after that
   stack is down), each in its own process that exits after the topic's N messages:

   - the Faust ceiling (``bench.faust_noop``): a no-op agent with our workers' app
     options, event loop and ``take_events`` batches, its own consumer group;
   - the raw ceiling (``bench.raw_consume``): aiokafka's consumer, no group, no work;
   - a peer (``bench.peer_quix``): Quix Streams validating with the same contract,
     dropping stale versions and rolling up per province and quarter (skipped, with the
     reason printed, when quixstreams is not installed: ``make bench-peer``);

3. without a stack, on the broker as warm for each: the publish rate of
   ``producers.jsonl.publish_jsonl`` on a generated file, with and without validation,
   into topics nobody consumes; kafka-python producing the same records into a topic nobody
   reads with ``PRODUCER_DEFAULTS`` and with a tuned configuration (lz4, 1 MiB batches,
   linger 50 ms), and ClickHouse's own insert rate for the rows the sink would write
   (``bench.ch_insert``, embedded chdb in a temporary folder of its own). Our end-to-end
   rate is printed as a ratio of each.

Everything started here is stopped in ``finally`` (stack.down, broker.stop).

    .venv/bin/python -m bench.e2e --reports 20000 --workers 1,2 --queries 30
    .venv/bin/python -m bench.e2e --reports 2000 --no-ceilings --no-peer   # as before
"""

from __future__ import annotations

import argparse
import gc
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
from typing import Any

from kafka import KafkaProducer

from incidents_config.names import SINK, Generation, Topics, worker_name

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    load_avg,
    machine,
    mib,
    percentile,
    proc_status_kb,
    run_child,
)
from bench.synth import jsonl_bytes, synthetic_reports, write_jsonl
from incidents_config.settings import Settings, child_env, load_settings
from incidents_ops import processes, stack
from incidents_ops.kafka_local import BrokerConfig, LocalBroker, free_ports, jars_dir_for
from incidents_ops.topics import describe_offsets, ensure_topics
from producers.jsonl import publish_jsonl
from producers.publisher import PRODUCER_DEFAULTS
from schemas.report import Report, parse_report
from sinks.clickhouse import open_read_client
from streams import semantics

QUERIES = {
    "SELECT 1 (floor)": "SELECT 1",
    "v_province_quarter": "SELECT * FROM v_province_quarter",
    "v_national_quarter": "SELECT * FROM v_national_quarter",
    "v_district_month": "SELECT * FROM v_district_month",
}
REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # a child's terminal control codes
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
    settings: Settings | None = None

    @property
    def rate(self) -> float:
        return self.reports / self.e2e_s


def start_broker(root: Path) -> LocalBroker:
    defaults = load_settings(env_file=root / "no-incidents.env")
    version = defaults.local_kafka.version
    port, controller_port = free_ports(2)
    config = BrokerConfig(
        version=version,
        jars_dir=jars_dir_for(defaults.paths.cache_dir, version),
        data_dir=root / "kafka" / "data",
        config_file=root / "kafka" / "server.properties",
        log_file=root / "kafka" / "kafka.log",
        pid_file=root / "kafka" / "kafka.pid",
        port=port,
        controller_port=controller_port,
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
        clickhouse={"sql_port": 0},  # any free port; the sink records it
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


def expected_totals(reports: list[Report], rule: str = "max_total") -> tuple[int, int, int]:
    """(incidents, killed, district-days with incidents) by the pure semantics under `rule`."""
    aggs = [s.aggregate for s in semantics.run(reports, rule).snapshots().values()]
    return (
        sum(a.incidents for a in aggs),
        sum(a.killed.total for a in aggs),
        sum(a.incidents > 0 for a in aggs),
    )


def publish(settings: Settings, lines: list[tuple[bytes, bytes]], **tuning: object) -> float:
    """Send (key, value) records like the producers do; return seconds until all acked.

    `tuning` overrides ``PRODUCER_DEFAULTS`` (batch_size, linger_ms, compression_type ...).
    """
    options = {**PRODUCER_DEFAULTS, **tuning}
    producer = KafkaProducer(
        **settings.kafka.client_kwargs(), **options, acks="all", enable_idempotence=True
    )
    try:
        t0 = time.monotonic()
        for key, value in lines:
            producer.send(Topics(settings.kafka.topic_prefix).raw, key=key, value=value)
        producer.flush(timeout=120)
        return time.monotonic() - t0
    finally:
        producer.close()


def wait_workers_assigned(settings: Settings, workers: int, timeout_s: float = 120.0) -> None:
    """Wait until each worker logged Ready and no rebalance happened for 3 s."""
    logs = [processes.log_file(settings.paths, worker_name(i)) for i in range(1, workers + 1)]
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
    generation = Generation.of(settings)
    app, names = generation.app, generation.topics
    topics = {
        "raw": names.raw,
        "rekeyed": names.rekeyed,
        "valid": names.valid,
        "updates": names.updates,
        "snapshots": names.snapshots,
        "reports-changelog": f"{app}-reports-changelog",
        "district_days-changelog": f"{app}-district_days-changelog",
        "alerts": names.alerts,  # the sink's alert notifications (KafkaNotifier)
    }
    parts = describe_offsets(kafka, [], list(topics.values()))
    by_topic: dict[str, int] = {}
    for p in parts:
        by_topic[p.topic] = by_topic.get(p.topic, 0) + p.end_offset
    return {short: by_topic.get(full, 0) for short, full in topics.items()}


def time_queries(settings: Settings, runs: int) -> dict[str, tuple[float, float, int]]:
    client = open_read_client(settings)  # through the sink's SQL endpoint
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
    client = open_read_client(settings)  # through the sink's SQL endpoint
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
    names = [worker_name(i) for i in range(1, workers + 1)] + [SINK]
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

        result = StackResult(workers, len(records), publish_s, e2e_s, caught_up, settings=settings)
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


def publish_file_bench(root: Path, bootstrap: str, n: int) -> tuple[list[str], float]:
    """publish_jsonl on a generated file into topics nobody reads: the lines to print, and
    the validated rate (reports/s, wall time)."""
    settings = make_settings(root, bootstrap, "publish")
    ensure_topics(settings.kafka)
    path = write_jsonl(synthetic_reports(n, seed=7, id_prefix="P"), root / "publish.jsonl")
    lines = []
    validated = 0.0
    for validate in (True, False):
        t0 = time.monotonic()
        summary = publish_jsonl(path, settings, validate=validate)
        wall = time.monotonic() - t0
        if validate:
            validated = summary.sent / wall
        lines.append(
            f"publish_jsonl validate={validate}: {summary.sent / wall:,.0f} reports/s"
            f" ({summary.sent} sent, {summary.rejected} rejected, {wall:.2f} s wall incl."
            f" connect; {summary.sent / summary.seconds:,.0f}/s in the send loop)"
        )
    return lines, validated


def tuned_producer() -> dict[str, object]:
    """The tuned producer: lz4 when the lz4 module is there, 1 MiB batches, 50 ms linger."""
    tuning: dict[str, object] = {"batch_size": 1024 * 1024, "linger_ms": 50}
    try:
        import lz4  # noqa: F401  (kafka-python's lz4 codec needs it)

        tuning["compression_type"] = "lz4"
    except ImportError:
        pass
    return tuning


def producer_bench(
    root: Path, bootstrap: str, records: list[tuple[bytes, bytes]]
) -> dict[str, tuple[float, str]]:
    """kafka-python sending `records` into a topic nobody reads: ours and a tuned variant."""
    settings = make_settings(root, bootstrap, "producer")
    ensure_topics(settings.kafka)
    tuning = tuned_producer()
    out = {}
    for name, options in (("producer", {}), ("producer tuned", tuning)):
        seconds = publish(settings, records, **options)
        label = ", ".join(f"{k}={v}" for k, v in {**PRODUCER_DEFAULTS, **options}.items())
        out[name] = (len(records) / seconds, f"{len(records)} records in {seconds:.2f} s; {label}")
    return out


CEILINGS = {  # name -> module and flags; each reads the raw topic and prints RESULT {json}
    "faust no-op": "bench.faust_noop",
    "faust floor": "bench.faust_noop --floor",
    "faust floor, direct": "bench.faust_noop --floor --direct",
    "aiokafka raw": "bench.raw_consume",
}
PEER = {"quix peer": "bench.peer_quix"}
ORDER = (  # how the ratios are printed
    "faust no-op",
    "faust floor",
    "faust floor, direct",
    "aiokafka raw",
    "quix peer",
    "producer",
    "producer tuned",
    "clickhouse insert",
)


def side_by_side(
    settings: Settings, count: int, modules: dict[str, str], timeout_s: float
) -> dict[str, tuple[dict[str, Any] | None, str]]:
    """Run each consumer benchmark in its own process on the stack's raw topic."""
    out = {}
    for name, module in modules.items():
        argv = [sys.executable, "-m", *module.split(), "--count", str(count)]
        out[name] = run_child(argv, child_env(settings), timeout_s, cwd=str(REPO))
    return out


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
    ap.add_argument(
        "--no-ceilings",
        action="store_true",
        help="skip the Faust no-op, aiokafka, producer and ClickHouse insert measurements",
    )
    ap.add_argument("--no-peer", action="store_true", help="skip the Quix Streams peer")
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
    validated = 0.0  # publish_jsonl's validated rate
    others: dict[str, tuple[dict[str, Any] | None, str]] = {}
    producers: dict[str, tuple[float, str]] = {}
    load_before = load_avg()
    try:
        broker.start()
        broker_pid = broker.status().pid
        n_publish = args.reports if args.publish_reports is None else args.publish_reports
        for w in (int(x) for x in args.workers.split(",")):
            results.append(
                run_stack(
                    root, broker.bootstrap_servers, broker_pid, w, warm, records, expected, args
                )
            )
            broker_hwm = proc_status_kb(broker_pid, "VmHWM") if broker_pid else None
        modules = ({} if args.no_ceilings else CEILINGS) | ({} if args.no_peer else PEER)
        first = results[0].settings if results else None
        if modules and first is not None:
            total = WARMUP_REPORTS + len(records)
            others = side_by_side(first, total, modules, args.timeout)
        # The publishers last, side by side, on a broker as warm for both. This process
        # holds every report parsed (for the expected totals): frozen, the garbage collector
        # leaves them alone, as it would in a user's `incidents publish` process (unfrozen,
        # publish_jsonl ran at about two thirds of its speed here).
        gc.freeze()
        if n_publish:
            publish_lines, validated = publish_file_bench(root, broker.bootstrap_servers, n_publish)
        if not args.no_ceilings:
            producers = producer_bench(root, broker.bootstrap_servers, records)
    finally:
        broker.stop()
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    if not args.no_ceilings:
        argv = [sys.executable, "-m", "bench.ch_insert", "--reports", str(args.reports)]
        argv += ["--seed", str(args.seed)]
        others["clickhouse insert"] = run_child(argv, {}, args.timeout, cwd=str(REPO))

    # name -> (rate, unit, detail); rates comparable with ours in reports (or records) / s
    rates: dict[str, tuple[float, str]] = {}
    for name, (rate, detail) in producers.items():
        rates[name] = (rate, f"records/s ({detail})")
    for name, (res, _text) in others.items():
        if res is None:
            continue
        if name == "clickhouse insert":
            per_report = args.reports / res["column"]["seconds"]
            rates[name] = (
                per_report,
                f"reports/s equivalent: {res['column']['rows_per_s']:,.0f} rows/s column-oriented"
                f" ({res['rows']} rows for {args.reports} reports)",
            )
        else:
            rates[name] = (res["rate"], "events/s")

    head = ", ".join(
        f"{r.workers} worker{'s' if r.workers > 1 else ''}: {r.rate:,.0f} reports/s"
        for r in results
    )
    tail = "".join(
        f"; {n} {rates[n][0]:,.0f}/s" for n in ("faust no-op", "quix peer") if n in rates
    )
    print(f"e2e: {head} ({args.reports} reports, {n_days} district-days){tail}")
    print(f"  machine: {machine()}")
    print(f"  load avg before: {load_before}; total wall {time.monotonic() - started:.0f} s")
    for line in publish_lines:
        print(f"  {line}")
    if validated and "producer tuned" in producers:
        tuned = producers["producer tuned"][0]
        print(f"  publish_jsonl validated / producer tuned = {validated / tuned:.3f}")
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
        print(
            "    CPU ms per report: "
            + ", ".join(f"{n} {s * 1e3 / r.reports:.2f}" for n, s in r.cpu_s.items())
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
    if others or producers:
        print(
            "  side by side (same broker; consumers read the first stack's raw topic,"
            f" {WARMUP_REPORTS + args.reports} messages, alone after it stopped):"
        )
    for name, (res, text) in others.items():
        said = [x.strip() for x in ANSI.sub("", text).splitlines() if x.strip()]
        if res is None:
            print(f"    {name}: no result. " + "\n      ".join(said))
            continue
        cpu = f" [CPU {res['cpu_s']:.1f} s]" if "cpu_s" in res else ""
        # The child's summary line (after whatever a Faust spinner left on the line).
        own = [x for x in said if f"{name}:" in x]
        if own:
            said.remove(own[0])
            own[0] = own[0][own[0].index(f"{name}:") :]
            extra = ""
            if name == "clickhouse insert":
                extra = f" = {rates[name][0]:,.0f} reports/s equivalent (column-oriented)"
            print(f"    {own[0]}{extra}{cpu}")
        else:
            rate, unit = rates[name]
            print(f"    {name}: {rate:,.0f} {unit}{cpu}")
        for line in said:
            if not line.startswith("["):  # a Faust log line on stdout
                print(f"      {line}")
    for name, (rate, detail) in producers.items():
        print(f"    {name}: {rate:,.0f} records/s ({detail})")
    for r in results:
        if rates:
            print(
                f"  ours ({r.workers} worker{'s' if r.workers > 1 else ''}, {r.rate:,.0f}/s) / "
                + ", ".join(f"{n} = {r.rate / rates[n][0]:.3f}" for n in ORDER if n in rates)
            )


if __name__ == "__main__":
    main()
