"""The raw ceiling: aiokafka's ``AIOKafkaConsumer`` reading the raw topic, no processing.

No consumer group (manual assignment of every partition, from the beginning), the
event loop of ``STREAMS_LOOP``, ``getmany`` batches of up to ``STREAMS_BATCH_SIZE``
records and the workers' fetch size. Exits after --count records and prints the rate:
the clock starts at the first batch and stops at the batch holding the --count-th
record, counting every record. There is no group to join, so the clock starts right after
the partitions are assigned and sought to the beginning, before the first ``getmany``.

Settings come from the environment (``bench.e2e`` passes its stack's ``child_env``).
The last line printed is ``RESULT {json}``.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT KAFKA_TOPIC_PREFIX=bench-x-w1 \\
        .venv/bin/python -m bench.raw_consume --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from incidents_config.names import Topics

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from incidents_config.settings import Settings, load_settings


async def consume(settings: Settings, topic: str, count: int, timeout_s: float) -> dict[str, Any]:
    kafka = settings.kafka
    fetch = max(kafka.max_message_bytes, 1024**2)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=fetch,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + 30
        while not partitions and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()  # topic just created: refresh
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise SystemExit(f"topic {topic} not found")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        seen, batches = 0, 0
        t0 = now = time.monotonic()
        give_up = now + timeout_s
        while seen < count:
            got = await consumer.getmany(timeout_ms=500, max_records=settings.streams.batch_size)
            now = time.monotonic()
            n = sum(len(v) for v in got.values())
            if not n:
                if now > give_up:
                    raise SystemExit(f"only {seen} of {count} records within {timeout_s} s")
                continue
            give_up = now + timeout_s
            batches += 1
            seen += n
        seconds = now - t0
        counted = seen
        return {
            "events": seen,
            "counted": counted,
            "seconds": seconds,
            "rate": counted / seconds if seconds > 0 else float("nan"),
            "batches": batches,
            "loop": settings.streams.loop,
            "cpu_s": time.process_time(),
        }
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, required=True, help="stop after this many records")
    ap.add_argument("--topic", default=None, help="topic to read (default: the raw topic)")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up after this long idle")
    args = ap.parse_args(argv)
    settings = load_settings()
    topic = args.topic or Topics(settings.kafka.topic_prefix).raw
    coro = consume(settings, topic, args.count, args.timeout)
    if settings.streams.loop == "uvloop":
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    print(
        f"aiokafka raw: {result['rate']:,.0f} records/s ({result['counted']} records in"
        f" {result['seconds']:.2f} s, {result['batches']} batches)"
    )
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
