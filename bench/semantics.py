"""Throughput of the pure semantics, and how a district-day's cost grows with its size.

Part 1 runs ``streams.semantics.run`` (``dedupe`` -> ``apply_membership`` ->
``snapshot``) over a synthetic feed (bench.synth: revisions, retractions, moves, several
sources per incident) the way the agents do: memberships are applied per district-day
and one snapshot is taken per changed district-day per batch of --batch reports
(``STREAMS_BATCH_SIZE``). It is timed twice: the pure functions alone, and with the JSON
the agents add (Report parse in dedupe, table values and messages dumped and loaded).
Reports are parsed before the timing.

Part 2 builds one district-day with k incidents (two reports each) and times one more
update to it: ``apply_membership``, ``snapshot`` (every row), and the agent's whole step
(load the table value, ``fold``, which dumps the value and the snapshot), with the JSON
sizes. The step is timed twice: with every incident decoded at load, and as the agent
loads it, decoding only the incidents the update touches.

    .venv/bin/python -m bench.semantics --reports 20000
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine
from bench.synth import jsonl_bytes, synthetic_reports
from schemas.report import Category, Report, parse_report
from schemas.warehouse import (
    Counts,
    IncidentKey,
    Membership,
    MembershipBundle,
    ReportEntry,
    decode,
    encode,
)
from streams.semantics import (
    DistrictDayState,
    apply_membership,
    dedupe,
    dump_state,
    fold,
    load_district_day,
    load_report_state,
    run,
    snapshot,
)


def run_pure(reports: list[Report], batch: int) -> tuple[int, int, int]:
    """The semantics without serialization; return (memberships, snapshots, district-days).

    ``streams.semantics.run``: dedupe per report, then per batch ``fold`` per district-day
    (the agent's step, its state and snapshot JSON included).
    """
    outcome = run(reports, "max_total", batch=batch)
    return outcome.memberships, outcome.published, len(outcome.snapshot_json)


def run_with_json(lines: list[bytes], batch: int) -> None:
    """Like :func:`run_pure` with the agents' JSON: what one worker's CPU must do per report."""
    states: dict[bytes, bytes] = {}
    days: dict[bytes, bytes] = {}
    for start in range(0, len(lines), batch):
        updates: dict[bytes, list[Membership]] = {}
        for raw in lines[start : start + batch]:
            report = parse_report(raw)  # ingest: validate ...
            report_json = report.model_dump_json().encode()  # ... for reports.valid
            key = report.report_id.encode()
            known = states.get(key)
            state = load_report_state(known) if known else None
            new, memberships = dedupe(state, report, report_json=report_json)
            if new is not None and new is not state:
                states[key] = dump_state(new)
            joined = b",".join(encode(m) for m in memberships)
            origins = b",".join(b'["raw",0,%d]' % i for i in range(len(memberships)))
            bundle = b'{"memberships":[' + joined + b'],"origins":[' + origins + b"]}"
            for m in decode(bundle, MembershipBundle).memberships:  # rollup reads it
                updates.setdefault(m.incident.district_day.key.encode(), []).append(m)
        for key, items in updates.items():
            known = days.get(key)
            dd = load_district_day(known) if known else None
            result = fold(dd, items)
            if result.changed:
                days[key] = result.state_json


T0 = datetime(2024, 1, 2, 6, 0, tzinfo=UTC)


def membership(i: int, source: str) -> Membership:
    key = IncidentKey(
        occurred_on=date(2024, 1, 1),
        province="Khyber Pakhtunkhwa",
        district="Bannu",
        category=Category.TERROR_ATTACK,
        location=f"town {i}",
    )
    entry = ReportEntry(
        source=source,
        source_event_id=f"e{i}",
        version=1,
        present=True,
        reported_at=T0 + timedelta(minutes=i),
        fingerprint=f"{i:064x}",
        subtype="ied",
        location=f"Town {i}",
        killed=Counts(civilians=i % 5, security=1),
        injured=Counts(civilians=i % 3),
    )
    return Membership(incident=key, entry=entry)


def district_day(k: int) -> DistrictDayState:
    """A district-day of k incidents, two reports each, with its aggregate (as rollup keeps it)."""
    state = fold(
        None, [membership(i, source) for i in range(k) for source in ("news", "dawn")]
    ).state
    assert state is not None
    return state


def best_of(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return min(runs)


def growth(sizes: list[int], repeat: int) -> None:
    print(
        "  incidents/district-day | state JSON | snapshot JSON | apply_membership | snapshot()"
        " | agent step (load+fold+dump): incidents decoded all | when touched"
        " | k updates in one batch"
    )
    for k in sizes:
        state = district_day(k)
        new = membership(k, "news")
        state_json = dump_state(state)
        snap_json = encode(snapshot(state))

        def step(state_json: bytes = state_json, new: Membership = new) -> None:
            fold(load_district_day(state_json), [new])  # the agent's step: see streams.rollup

        def eager_step(state_json: bytes = state_json, new: Membership = new) -> None:
            fold(decode(state_json, DistrictDayState), [new])  # every incident decoded

        t_apply = best_of(functools.partial(apply_membership, state, new), repeat)
        t_snap = best_of(functools.partial(snapshot, state), repeat)
        t_step = best_of(step, repeat)
        t_eager = best_of(eager_step, repeat)
        fresh = [membership(i, "news") for i in range(k)]

        def one_batch(fresh: list[Membership] = fresh) -> None:
            s: DistrictDayState | None = None
            for m in fresh:
                s, _ = apply_membership(s, m)

        t_batch = best_of(one_batch, max(1, repeat // 4))
        print(
            f"  {k:>22} | {len(state_json) / 1024:>8.1f} KiB | {len(snap_json) / 1024:>9.1f} KiB"
            f" | {t_apply * 1e6:>12.0f} us | {t_snap * 1e3:>7.2f} ms"
            f" | {t_eager * 1e3:>10.2f} ms | {t_step * 1e3:>7.2f} ms"
            f" | {t_batch * 1e3:>8.1f} ms ({t_batch / k * 1e6:.0f} us each)"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reports", type=int, default=20_000, help="report versions (default 20000)")
    ap.add_argument("--batch", type=int, default=500, help="reports per batch (default 500)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    ap.add_argument("--shuffle", action="store_true", help="deliver in random order")
    ap.add_argument(
        "--sizes",
        default="1,4,16,64,256,1024",
        help="incidents per district-day for part 2 (default 1,4,16,64,256,1024)",
    )
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    feed = synthetic_reports(args.reports, seed=args.seed)
    lines = jsonl_bytes(feed)
    if args.shuffle:
        random.Random(args.seed).shuffle(lines)
    reports = [parse_report(line) for line in lines]

    stats: tuple[int, int, int] = (0, 0, 0)
    pure_runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        stats = run_pure(reports, args.batch)
        pure_runs.append(time.perf_counter() - t0)
    json_runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        run_with_json(lines, args.batch)
        json_runs.append(time.perf_counter() - t0)
    n = len(reports)
    memberships, snapshots, days = stats
    print(
        f"semantics: {n / min(pure_runs):,.0f} reports/s pure"
        f" (dedupe+apply_membership+snapshot), {n / min(json_runs):,.0f} reports/s with the"
        f" agents' JSON (best of {args.repeat})"
    )
    print(f"  machine: {machine()}")
    print(
        f"  input: {n} versions of {len({r.report_id for r in reports})} reports,"
        f" {days} district-days, {memberships} memberships, {snapshots} snapshots"
        f" (batch {args.batch}{', shuffled' if args.shuffle else ''})"
    )
    print(f"  pure:      {min(pure_runs):.2f} s ({min(pure_runs) / n * 1e6:.0f} us/report)")
    print(f"  with JSON: {min(json_runs):.2f} s ({min(json_runs) / n * 1e6:.0f} us/report)")
    print("growth of one district-day (one more update to a district-day of k incidents):")
    growth([int(s) for s in args.sizes.split(",")], args.repeat * 3)


if __name__ == "__main__":
    main()
