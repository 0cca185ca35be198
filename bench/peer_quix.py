"""A peer: the same job, roughly, as a small Quix Streams application.

Reads the raw topic of reports (keyed by report id, from the earliest offset, its own
consumer group) and, per message:

1. validates it with ``schemas.report.parse_report`` (the same contract; an invalid
   report is dropped and counted);
2. drops stale versions: per report id, Quix state (RocksDB + changelog topic) keeps the
   highest (version, reported_at) seen and what that version contributed; a newer version
   emits a delta that takes the old contribution back and adds the new one;
3. rolls up per province and quarter of ``occurred_on``: the deltas are re-keyed with
   ``group_by`` (a repartition topic) and summed in Quix state: incidents and killed.

What it does NOT do that our pipeline does, so its rate is an upper bound for "the same
work" in Quix:

- no cross-source dedupe: every report id counts as one incident (ours merges the
  reports of one incident from several sources, per district-day, with a casualty rule);
- no retractions: a retracted version counts like any other;
- no snapshots: nothing is sent downstream (ours writes every changed district-day's
  snapshot to ``warehouse.snapshots`` and the valid report to ``reports.valid``);
- no warehouse: nothing reaches ClickHouse; no dead letters, no rekeying of wrongly keyed
  messages, no state size limit.

It exits once it has consumed --count raw messages and every delta they produced has
been rolled up. The clock runs from the first raw message to then. Settings come from
the environment (``bench.e2e`` passes its stack's ``child_env``). The last line printed is
``RESULT {json}``. Needs ``quixstreams`` (``make bench-peer``); without it the
script says so and exits with status 3.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT KAFKA_TOPIC_PREFIX=bench-x-w1 \\
        .venv/bin/python -m bench.peer_quix --count 20000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from incidents_config.names import Topics

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from incidents_config.settings import load_settings
from schemas.report import ReportValidationError, parse_report

MISSING_EXIT = 3  # quixstreams is not installed


def quarter_key(province: str, occurred_on: Any) -> str:
    return f"{province}|{occurred_on.year}-Q{(occurred_on.month - 1) // 3 + 1}"


class Peer:
    """The two stateful steps and the stop condition."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.consumed = 0
        self.invalid = 0
        self.stale = 0
        self.emitted = 0
        self.rolled = 0
        self.t0: float | None = None
        self.t_end: float | None = None
        self.totals: dict[str, list[int]] = {}
        self.stop: Any = None  # set to app.stop

    def validate_dedupe(self, value: bytes, state: Any) -> list[dict[str, Any]]:
        if self.t0 is None:
            self.t0 = time.monotonic()
        self.consumed += 1
        try:
            report = parse_report(value)
        except ReportValidationError:
            self.invalid += 1
            return self._check([])
        order = [report.version, report.reported_at.timestamp()]
        key = quarter_key(report.province, report.occurred_on)
        killed = report.killed.total
        known = state.get("latest")
        if known is not None and known["order"] >= order:
            self.stale += 1
            return self._check([])
        state.set("latest", {"order": order, "key": key, "killed": killed})
        if known is None:
            deltas = [{"key": key, "incidents": 1, "killed": killed}]
        elif known["key"] == key:
            deltas = [{"key": key, "incidents": 0, "killed": killed - known["killed"]}]
        else:
            deltas = [
                {"key": known["key"], "incidents": -1, "killed": -known["killed"]},
                {"key": key, "incidents": 1, "killed": killed},
            ]
        self.emitted += len(deltas)
        return self._check(deltas)

    def rollup(self, delta: dict[str, Any], state: Any) -> dict[str, Any]:
        incidents = int(state.get("incidents", 0)) + delta["incidents"]
        killed = int(state.get("killed", 0)) + delta["killed"]
        state.set("incidents", incidents)
        state.set("killed", killed)
        self.totals[delta["key"]] = [incidents, killed]
        self.rolled += 1
        self._check([])
        return {"key": delta["key"], "incidents": incidents, "killed": killed}

    def _check(self, deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = self.consumed >= self.count and self.rolled >= self.emitted
        if done and self.t_end is None:
            self.t_end = time.monotonic()
            self.stop()
        return deltas


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, required=True, help="raw messages to consume")
    ap.add_argument("--topic", default=None, help="topic to read (default: the raw topic)")
    args = ap.parse_args(argv)
    try:
        from quixstreams import Application
    except ImportError as e:
        print(f"peer skipped: quixstreams is not installed ({e}); run: make bench-peer")
        raise SystemExit(MISSING_EXIT) from e

    settings = load_settings()
    topic_name = args.topic or Topics(settings.kafka.topic_prefix).raw
    state_dir = Path(tempfile.mkdtemp(prefix="bench-quix-"))
    peer = Peer(args.count)
    app = Application(
        broker_address=settings.kafka.bootstrap_servers,
        consumer_group=f"{settings.kafka.topic_prefix}-quix-peer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        state_dir=state_dir,
        commit_interval=1.0,  # like the workers' broker_commit_interval
        loglevel="WARNING",
    )
    peer.stop = app.stop
    raw = app.topic(topic_name, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(raw)
    sdf = sdf.apply(peer.validate_dedupe, stateful=True, expand=True)
    sdf = sdf.group_by(lambda d: d["key"], name="province_quarter")
    sdf = sdf.apply(peer.rollup, stateful=True)
    cpu0 = time.process_time()
    try:
        app.run()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    if peer.t0 is None or peer.t_end is None:
        raise SystemExit(f"peer stopped early: {peer.consumed} of {args.count} consumed")
    seconds = peer.t_end - peer.t0
    result = {
        "events": peer.consumed,
        "seconds": seconds,
        "rate": peer.consumed / seconds if seconds > 0 else float("nan"),
        "invalid": peer.invalid,
        "stale": peer.stale,
        "deltas": peer.emitted,
        "groups": len(peer.totals),
        "incidents": sum(v[0] for v in peer.totals.values()),
        "killed": sum(v[1] for v in peer.totals.values()),
        "cpu_s": time.process_time() - cpu0,
    }
    print(
        f"quix peer: {result['rate']:,.0f} reports/s ({peer.consumed} in {seconds:.2f} s;"
        f" {peer.stale} stale, {peer.invalid} invalid, {peer.emitted} deltas into"
        f" {len(peer.totals)} province-quarters)"
    )
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
