"""The Faust ceiling: a no-op agent over the raw topic, as our workers consume it.

A Faust app built like ``streams.app.build_app`` (same broker options, raw key/value
serializers, ``consumer_max_fetch_size``, commit interval, ``stream_wait_empty``, and the
event loop of ``STREAMS_LOOP``, set with ``mode.loop.use`` before the app exists), with
one agent that reads the raw topic with ``stream.take_events(STREAMS_BATCH_SIZE,
within=STREAMS_BATCH_TIMEOUT_S)`` like ``streams.runtime.batches`` and does nothing with
the events. Its consumer group is its own (``<prefix>-faust-noop-<random>``), reading
from the earliest offset. It runs in a real ``faust.Worker`` and exits as soon as it has
seen --count events, printing the rate.

The clock starts when the first batch arrives and stops at the batch holding the
--count-th event; the first batch is not counted (its events were waiting already), so
the rate is (events after the first batch) / (time between first and last batch).

With ``--floor`` the agent does the least our design needs per report instead of nothing:
one write to a table keyed by the message key (``reports``-like, with its changelog; the
event made current as ``streams.runtime.current`` does) and one send of the value to an
output topic, awaited per batch as ``streams.runtime.deliver`` awaits it. The difference
to the no-op is what Faust costs per table write and send. ``--floor`` writes through
Faust's ``table[key] = value``; ``--floor --direct`` as our agents write, through
``streams.runtime.table_write`` and ``deliver`` (the changelog record sent with the
batch's outputs).

Settings come from the environment like a worker's (``bench.e2e`` passes its stack's
``child_env``). The last line printed is ``RESULT {json}``.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT KAFKA_TOPIC_PREFIX=bench-x-w1 \\
        .venv/bin/python -m bench.faust_noop --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import faust
import mode.loop

from incidents_config.names import Topics

# Runnable as `python bench/<name>.py` too: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from incidents_config.settings import Settings, load_settings
from streams.app import app_options
from streams.runtime import (
    Send,
    current,
    deliver,
    key_partition,
    partitions_ready,
    table_write,
)


def build_noop_app(settings: Settings, app_id: str, worker_id: int) -> faust.App:
    """A Faust app with our workers' options (``streams.app.app_options``) and no agents yet."""
    return faust.App(app_id, **app_options(settings, worker_id))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, required=True, help="exit after this many events")
    ap.add_argument("--topic", default=None, help="topic to read (default: the raw topic)")
    ap.add_argument("--loglevel", default="warning")
    ap.add_argument(
        "--floor",
        action="store_true",
        help="one table write and one send per event (the design's least work per report)",
    )
    ap.add_argument(
        "--direct",
        action="store_true",
        help="with --floor: write the table's store and send its changelog records with the"
        " batch's outputs (streams.runtime.TableWrites) instead of Faust's per-key path",
    )
    args = ap.parse_args(argv)

    datadir = Path(tempfile.mkdtemp(prefix="bench-faust-noop-"))
    settings = load_settings(paths={"var_dir": datadir})  # the rest from the environment
    mode.loop.use(settings.streams.loop)  # before the app creates its loop
    topic_name = args.topic or Topics(settings.kafka.topic_prefix).raw
    app_id = f"{settings.kafka.topic_prefix}-faust-noop-{uuid.uuid4().hex[:8]}"
    app = build_noop_app(settings, app_id, worker_id=1)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    table = app.Table(
        "floor", key_type=bytes, value_type=bytes, partitions=settings.kafka.partitions
    )
    out = app.topic(
        f"{app_id}-out",
        key_type=bytes,
        value_type=bytes,
        partitions=settings.kafka.partitions,
        replicas=settings.kafka.replication_factor,
    )
    what = "faust no-op"
    if args.floor:
        what = "faust floor, direct" if args.direct else "faust floor"
    work = ", 1 table write + 1 send each" if args.floor else ""
    batch_size, within = settings.streams.batch_size, settings.streams.batch_timeout_s
    state: dict[str, Any] = {"seen": 0, "t0": None, "first": 0, "batches": 0}

    async def floor(stream: Any, events: list[Any]) -> None:
        if not state.get("declared"):
            await out.maybe_declare()  # the broker does not create topics on its own
            state["declared"] = True
        stored = await partitions_ready(app, table.changelog_topic.get_topic_name())
        await partitions_ready(app, out.get_topic_name())
        if args.direct:  # as the agents write: streams.runtime.table_write and deliver
            sends = []
            for event in events:
                key = event.message.key
                with current(stream, event):
                    partition = key_partition(key, stored)
                    sends.append(table_write(table, key, event.value, event, partition))
                sends.append(Send(out.get_topic_name(), event.message.key, event.value, event))
            await deliver(sends, "floor", app.producer, out.get_topic_name())
            return
        futures = []
        for event in events:
            with current(stream, event):
                table[event.message.key] = event.value
            futures.append(
                await app.producer.send(
                    out.get_topic_name(), event.message.key, event.value, None, None, None
                )
            )
        await asyncio.gather(*futures)

    @app.agent(topic, name="noop")
    async def noop(stream: Any) -> None:
        async for events in stream.take_events(batch_size, within=within):
            if args.floor:
                await floor(stream, events)
            now = time.monotonic()
            state["batches"] += 1
            state["seen"] += len(events)
            if state["t0"] is None:
                state["t0"], state["first"] = now, len(events)
            if state["seen"] >= args.count:
                seconds = now - state["t0"]
                counted = state["seen"] - state["first"]
                rate = counted / seconds if seconds > 0 else float("nan")
                result = {
                    "events": state["seen"],
                    "counted": counted,
                    "seconds": seconds,
                    "rate": rate,
                    "batches": state["batches"],
                    "loop": settings.streams.loop,
                    "cpu_s": time.process_time(),
                }
                print(
                    f"{what}: {rate:,.0f} events/s ({counted} events after the first batch"
                    f"{work} in {seconds:.2f} s, {state['batches']} batches, loop"
                    f" {settings.streams.loop})"
                )
                print("RESULT " + json.dumps(result), flush=True)
                logging.shutdown()
                shutil.rmtree(datadir, ignore_errors=True)
                os._exit(0)  # a benchmark: no graceful Faust shutdown needed

    logging.basicConfig(level=args.loglevel.upper())
    # redirect_stdouts=False: the RESULT line must reach stdout, not Faust's logger.
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
