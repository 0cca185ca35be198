"""parse_report throughput on realistic reports, and the JSON round trip the stream does.

Lines of ``producers/samples/q1_2024/news.jsonl`` (or --synthetic reports) are
replicated to --reports lines and parsed with ``schemas.report.parse_report`` (what
``validate`` does per message); then each Report is dumped to JSON and validated again
(what ``validate`` sends and ``dedupe`` reads). Each phase runs --repeat times; the best
and median runs are reported. Pure CPU in one process.

    .venv/bin/python -m bench.parse --reports 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine
from bench.synth import jsonl_bytes, synthetic_reports
from schemas import gazetteer
from schemas.report import Report, ReportValidationError, parse_report


def sample_lines() -> list[bytes]:
    """The sample's valid lines (it also holds deliberately broken ones, left out here)."""
    text = resources.files("producers.samples.q1_2024").joinpath("news.jsonl").read_bytes()
    valid = []
    for line in text.splitlines():
        try:
            parse_report(line)
        except ReportValidationError:
            continue
        valid.append(line)
    return valid


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return runs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reports", type=int, default=20_000, help="lines per run (default 20000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per phase (default 5)")
    ap.add_argument(
        "--synthetic", action="store_true", help="use bench.synth reports instead of news.jsonl"
    )
    ap.add_argument("--profile", action="store_true", help="print the top functions of one parse")
    ap.add_argument(
        "--what-if-cached-gazetteer",
        action="store_true",
        help="experiment: memoize schemas.gazetteer._key_variants in this process only",
    )
    args = ap.parse_args(argv)
    if args.what_if_cached_gazetteer:
        cached = functools.lru_cache(maxsize=4096)(gazetteer._key_variants)
        gazetteer._key_variants = cached

    base = jsonl_bytes(synthetic_reports(args.reports)) if args.synthetic else sample_lines()
    lines = (base * (args.reports // len(base) + 1))[: args.reports]
    avg_bytes = sum(map(len, lines)) / len(lines)
    parse_report(lines[0])  # load the gazetteer outside the timing

    def parse_all() -> None:  # results dropped, like revalidate_all: no GC bias
        for line in lines:
            parse_report(line)

    parse_runs = timed(parse_all, args.repeat)
    reports = [parse_report(line) for line in lines]
    dumped: list[bytes] = []

    def dump_all() -> None:
        dumped[:] = [r.model_dump_json().encode() for r in reports]

    dump_runs = timed(dump_all, args.repeat)

    def revalidate_all() -> None:
        for d in dumped:
            Report.model_validate_json(d)

    reval_runs = timed(revalidate_all, args.repeat)
    n = len(lines)

    def rate(runs: list[float]) -> str:
        return f"best {n / min(runs):,.0f}/s, median {n / statistics.median(runs):,.0f}/s"

    src = "synthetic" if args.synthetic else "news.jsonl"
    if args.what_if_cached_gazetteer:
        src += ", gazetteer._key_variants memoized (experiment)"
    print(
        f"parse_report: {n / min(parse_runs):,.0f} reports/s (best of {args.repeat});"
        f" round trip dump+validate {n / (min(dump_runs) + min(reval_runs)):,.0f}/s"
    )
    print(f"  machine: {machine()}")
    print(f"  input: {n} lines from {src} ({len(base)} distinct), avg {avg_bytes:.0f} bytes")
    print(f"  parse_report(bytes)         {rate(parse_runs)}  ({min(parse_runs) / n * 1e6:.1f} us)")
    print(f"  Report.model_dump_json      {rate(dump_runs)}  ({min(dump_runs) / n * 1e6:.1f} us)")
    print(f"  Report.model_validate_json  {rate(reval_runs)}  ({min(reval_runs) / n * 1e6:.1f} us)")

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for line in lines[: min(n, 5000)]:
            parse_report(line)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
