"""`incidents replay` on a real stack: how long rebuilding N reports of history takes.

Starts its own broker (free loopback ports, a temporary folder) and one stack like
``bench.e2e`` (``incidents_ops.stack.up``, own topic prefix, var dir, SQL port and sink group),
loads N synthetic reports through it (timed: the same measure as ``bench.e2e``), then runs
``incidents_ops.replay.replay`` with a different casualty rule and times it until the stack
runs on the new generation. Checks the warehouse against the pure semantics after the
load and after the replay, and reports the peak RSS of every process involved.

    .venv/bin/python -m bench.replay --reports 1000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import load_avg, machine, mib, proc_status_kb
from bench.e2e import (
    WARMUP_REPORTS,
    check_warehouse,
    expected_totals,
    make_settings,
    publish,
    start_broker,
    wait_workers_assigned,
)
from bench.synth import jsonl_bytes, synthetic_reports
from incidents_config.names import SINK
from incidents_ops import processes, replay, stack
from schemas.report import parse_report


def peak_rss(settings: object, names: list[str]) -> dict[str, int | None]:
    paths = settings.paths  # type: ignore[attr-defined]
    out: dict[str, int | None] = {}
    for name in names:
        pid = processes.info(paths, name).pid
        out[name] = proc_status_kb(pid, "VmHWM") if pid else None
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reports", type=int, default=100_000, help="reports of history (100000)")
    ap.add_argument("--rule", default="latest", help="casualty rule to replay with (latest)")
    ap.add_argument("--timeout", type=float, default=600.0, help="stall limit per stage, s")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    lines = jsonl_bytes(synthetic_reports(WARMUP_REPORTS + args.reports, seed=args.seed))
    parsed = [parse_report(x) for x in lines]
    keyed = [(r.report_id.encode(), x) for r, x in zip(parsed, lines, strict=True)]
    warm, records = keyed[:WARMUP_REPORTS], keyed[WARMUP_REPORTS:]
    before_rule = expected_totals(parsed, "max_total")
    after_rule = expected_totals(parsed, args.rule)

    root = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    broker = start_broker(root)
    load_before = load_avg()
    try:
        broker.start()
        settings = make_settings(root, broker.bootstrap_servers, "replay")
        stack.up(settings, workers=1, push=False, say=lambda _m: None)
        try:
            wait_workers_assigned(settings, 1)
            publish(settings, warm)
            stack.wait_caught_up(settings, args.timeout)
            t0 = time.monotonic()
            publish(settings, records)
            if not stack.wait_caught_up(settings, args.timeout):
                raise RuntimeError("the load did not catch up")
            load_s = time.monotonic() - t0
            loaded = check_warehouse(settings, before_rule)
            rss_load = peak_rss(settings, ["worker-1", SINK])

            rule = settings.streams.model_copy(update={"casualty_rule": args.rule})
            new_settings = settings.model_copy(update={"streams": rule})
            rss_replay: dict[str, int | None] = {}

            def watch(_p: replay.Progress) -> None:
                rss_replay.update(
                    {k: v for k, v in peak_rss(settings, ["replay-1", SINK]).items() if v}
                )

            result = replay.replay(
                new_settings, stall_s=args.timeout, on_progress=watch, say=lambda _m: None
            )
            stack.wait_caught_up(settings, args.timeout)
            replayed = check_warehouse(settings, after_rule)
        finally:
            stack.down(settings)
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)

    n = len(keyed)
    print(
        f"replay: {result.reports:,} reports rebuilt in {result.seconds:.0f} s"
        f" ({result.reports / result.seconds:,.0f}/s); loading them took {load_s:.0f} s"
        f" ({args.reports / load_s:,.0f}/s)"
    )
    print(f"  machine: {machine()}; load avg before: {load_before}")
    print(f"  after the load ({n:,} reports, rule max_total): {loaded}")
    print(f"  after the replay (rule {args.rule}, generation {result.generation}): {replayed}")
    print(
        "  peak RSS (VmHWM): after the load "
        + ", ".join(f"{k} {mib(v)}" for k, v in rss_load.items())
        + "; during the replay "
        + ", ".join(f"{k} {mib(v)}" for k, v in rss_replay.items())
    )


if __name__ == "__main__":
    main()
