"""What one abusive push request costs the endpoint's CPU: a 1 MiB body of one-byte lines,
judged line by line (the endpoint before PUSH_MAX_ITEMS) against counted against the cap
(the endpoint now, which then answers 413). Both in this process, same body, same run.

    .venv/bin/python -m bench.push_cap [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine
from incidents_config.settings import PushSettings
from producers.http_push import NDJSON, split_items, too_many, validate_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="Measurements of each.")
    args = parser.parse_args()
    body = b"x\n" * (512 * 1024)
    cap = PushSettings.model_fields["max_items"].default
    print(f"machine: {machine()}")
    lines = body.count(b"\n")
    print(f"body: {len(body):,} bytes, {lines:,} lines; cap {cap:,}")
    for _ in range(args.rounds):
        t0 = time.process_time()
        judged = validate_items(split_items(body, NDJSON), 1_000_000)
        every = time.process_time() - t0
        t0 = time.process_time()
        refused = body.count(b"\n") >= cap and too_many(body, cap)
        counted = time.process_time() - t0
        print(
            f"judge every line: {every:6.2f} s CPU ({len(judged.rejections):,} rejections)"
            f"   count against the cap: {counted * 1000:6.2f} ms CPU (refused: {refused})"
        )


if __name__ == "__main__":
    main()
