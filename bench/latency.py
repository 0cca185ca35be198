"""Publish-to-queryable latency at a steady rate, on an isolated real stack.

Starts its own broker (free loopback ports, a temporary folder) and one stack like
``bench.e2e`` (``incidents_ops.stack.up``, one worker, no push endpoint, own topic prefix, var
dir, SQL port and sink group), warms it up, then publishes synthetic reports
(``bench.synth``) with kafka-python at a steady --rate for --seconds, recording when each
report id was first sent. Meanwhile it polls the warehouse through the stack's read-only
SQL endpoint (clickhouse-connect) every --poll-ms for the pending ids that are now
*counted in the aggregates*: ids in the ``report_ids`` of a live ``incidents`` row whose
district-day has an ``agg_district_day`` row of that revision or newer, i.e. the
snapshot that counts the report is queryable in both tables the views read. (A snapshot
carries only the incidents its batch changed, so an incident's row keeps the revision it
last changed in while the district-day's moves on, and merges keep only the newest.)

A report's latency is the start of the first poll that found it minus the moment its
first version was handed to the producer. The poll finds an id at most one poll
(interval + query time) after it became visible, so each latency is an upper bound with
that resolution (printed). After publishing it keeps polling until every id is seen or
--drain seconds pass; ids never seen are counted (a report retracted before it was
counted never shows). If the stack cannot keep up with --rate, latency grows over the run;
the percentiles of the first and last thirds of the run are printed to show it.

Everything started here is stopped in ``finally`` (stack.down, broker.stop).

    .venv/bin/python -m bench.latency --rate 500 --seconds 60
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from kafka import KafkaProducer

from incidents_config.names import Topics

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import load_avg, machine, percentile
from bench.e2e import WARMUP_REPORTS, make_settings, publish, start_broker, wait_workers_assigned
from bench.synth import jsonl_bytes, synthetic_reports
from incidents_config.settings import Settings
from incidents_ops import stack
from producers.publisher import PRODUCER_DEFAULTS
from schemas.report import parse_report
from sinks.clickhouse import open_read_client

VISIBLE = """
SELECT DISTINCT id
FROM incidents AS i ARRAY JOIN i.report_ids AS id
INNER JOIN (
    SELECT day, province, district, max(revision) AS newest
    FROM agg_district_day GROUP BY day, province, district
) AS a ON a.day = i.occurred_on AND a.province = i.province AND a.district = i.district
WHERE id IN %(ids)s
  AND i.is_deleted = 0
  AND a.newest >= i.revision
"""
MAX_IDS_PER_POLL = 10_000  # the oldest pending ids; keeps the request far below 1 MiB


class Publisher(threading.Thread):
    """Sends records at a steady rate; remembers when each report id was first sent."""

    def __init__(self, settings: Settings, records: list[tuple[bytes, bytes]], rate: float):
        super().__init__(daemon=True)
        self.settings, self.records, self.rate = settings, records, rate
        self.sent_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.started = 0.0
        self.finished = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(
                **self.settings.kafka.client_kwargs(),
                **PRODUCER_DEFAULTS,
                acks="all",
                enable_idempotence=True,
            )
            try:
                topic = Topics(self.settings.kafka.topic_prefix).raw
                self.started = time.monotonic()
                for i, (key, value) in enumerate(self.records):
                    due = self.started + i / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    report_id = key.decode()
                    with self.lock:
                        self.sent_at.setdefault(report_id, time.monotonic())
                    producer.send(topic, key=key, value=value)
                producer.flush(timeout=120)
                self.finished = time.monotonic()
            finally:
                producer.close()
        except BaseException as e:  # reported by the main thread
            self.error = e

    def pending(self, seen: dict[str, float]) -> list[str]:
        with self.lock:
            ids = [i for i in self.sent_at if i not in seen]  # in send order
        return ids[:MAX_IDS_PER_POLL]


def measure(
    settings: Settings,
    records: list[tuple[bytes, bytes]],
    must_see: set[str],
    args: argparse.Namespace,
) -> tuple[Publisher, dict[str, float], list[float]]:
    """Publish at the rate while polling; return (publisher, seen, poll durations).

    Polling stops once every id in `must_see` was seen after the last send, or after
    --drain seconds.
    """
    client = open_read_client(settings)  # through the sink's SQL endpoint
    seen: dict[str, float] = {}
    polls: list[float] = []
    interval = args.poll_ms / 1000
    publisher = Publisher(settings, records, args.rate)
    try:
        publisher.start()
        drain_until: float | None = None
        while True:
            t0 = time.monotonic()
            ids = publisher.pending(seen)
            if ids:
                rows = client.query(VISIBLE, parameters={"ids": ids}).result_rows
                for (report_id,) in rows:
                    seen.setdefault(report_id, t0)
                polls.append(time.monotonic() - t0)
            if publisher.error is not None:
                raise RuntimeError(f"publisher failed: {publisher.error!r}")
            if not publisher.is_alive():
                if drain_until is None:
                    drain_until = time.monotonic() + args.drain
                if must_see.issubset(seen) or time.monotonic() > drain_until:
                    break
            time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    finally:
        client.close()
    return publisher, seen, polls


def stats(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s,"
        f" p99 {percentile(values, 99):.2f} s, max {max(values):.2f} s"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0, help="reports/s (default 500)")
    ap.add_argument("--seconds", type=float, default=60.0, help="publishing time (default 60)")
    ap.add_argument("--poll-ms", type=float, default=150.0, help="poll interval (default 150)")
    ap.add_argument(
        "--drain", type=float, default=120.0, help="poll this long after the last send, at most"
    )
    ap.add_argument("--timeout", type=float, default=600.0, help="warm-up stall limit, s")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = ap.parse_args(argv)

    n = max(1, round(args.rate * args.seconds))
    lines = jsonl_bytes(synthetic_reports(n, seed=args.seed, id_prefix="L"))
    warm_lines = jsonl_bytes(synthetic_reports(WARMUP_REPORTS, seed=args.seed + 1, id_prefix="W"))
    parsed = [parse_report(x) for x in warm_lines + lines]
    keyed = [(r.report_id.encode(), x) for r, x in zip(parsed, warm_lines + lines, strict=True)]
    warm, records = keyed[:WARMUP_REPORTS], keyed[WARMUP_REPORTS:]
    # A report whose newest version is a retraction may never be counted (the synthetic
    # feed sends a report's versions back to back: often in the batch of its first one).
    newest: dict[str, tuple[int, bool]] = {}
    for r in parsed[WARMUP_REPORTS:]:
        if r.report_id not in newest or newest[r.report_id][0] < r.version:
            newest[r.report_id] = (r.version, r.retracted)
    must_see = {i for i, (_, retracted) in newest.items() if not retracted}

    root = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    broker = start_broker(root)
    load_before = load_avg()
    started = time.monotonic()
    try:
        broker.start()
        settings = make_settings(root, broker.bootstrap_servers, "lat")
        try:
            stack.up(settings, workers=1, push=False, say=lambda _m: None)
            wait_workers_assigned(settings, 1)
            publish(settings, warm)
            if not stack.wait_caught_up(settings, args.timeout):
                raise RuntimeError("warm-up did not catch up")
            publisher, seen, polls = measure(settings, records, must_see, args)
        finally:
            stack.down(settings)
    finally:
        broker.stop()
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    sent = publisher.sent_at
    latencies = [seen[i] - t for i, t in sent.items() if i in seen]
    order = sorted((t, seen[i] - t) for i, t in sent.items() if i in seen)
    third = len(order) // 3
    publish_s = publisher.finished - publisher.started
    poll_ms = [p * 1e3 for p in polls]
    resolution = args.poll_ms + (statistics.median(poll_ms) if poll_ms else 0.0)
    print(
        f"latency: publish-to-queryable {stats(latencies)} at {args.rate:,.0f} reports/s"
        f" ({len(records)} versions of {len(sent)} reports over {publish_s:.1f} s, 1 worker,"
        f" poll resolution ~{resolution:.0f} ms)"
    )
    print(f"  machine: {machine()}")
    print(f"  load avg before: {load_before}; total wall {time.monotonic() - started:.0f} s")
    unseen = set(sent) - set(seen)
    print(
        f"  published {len(records) / publish_s:,.0f} versions/s (target {args.rate:,.0f});"
        f" seen {len(seen)} of {len(sent)} report ids; {len(unseen)} never seen, of which"
        f" {len(unseen - must_see)} retracted in their newest version (may never be counted)"
        f" and {len(unseen & must_see)} not (waited up to --drain {args.drain:.0f} s)"
    )
    if poll_ms:
        print(
            f"  polls: {len(polls)}, every {args.poll_ms:.0f} ms + query time (median"
            f" {statistics.median(poll_ms):.0f} ms, p95 {percentile(poll_ms, 95):.0f} ms,"
            f" max {max(poll_ms):.0f} ms); a latency is an upper bound within one poll"
        )
    if third:
        print(f"  first third of the run: {stats([x for _, x in order[:third]])}")
        print(f"  last third of the run:  {stats([x for _, x in order[-third:]])}")


if __name__ == "__main__":
    main()
