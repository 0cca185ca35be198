"""A Faust worker process: ``incidents run worker --worker-id N`` (or ``python -m streams``)."""

from __future__ import annotations

import argparse
import logging

import faust
import mode.loop

from incidents_config.metrics import WORKER_REGISTRY, serve
from incidents_config.names import worker_name
from incidents_config.settings import Settings, load_settings
from streams.app import build_app


def run_worker(settings: Settings, worker_id: int = 1, loglevel: str = "info") -> None:
    """Run Faust worker `worker_id` (distinct per worker process) until it is stopped."""
    mode.loop.use(settings.streams.loop)  # before the app creates its loop
    app, _ = build_app(settings, worker_id=worker_id)
    logging.basicConfig(level=loglevel.upper())
    # The CLI silences the Kafka client below CRITICAL for its one-shot commands; a
    # worker must keep its warnings (failed sends, heartbeats, rebalances) in its log.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    base = settings.metrics.worker_port
    serve(settings, worker_name(worker_id), base + worker_id - 1 if base else 0, WORKER_REGISTRY)
    worker = faust.Worker(app, loglevel=loglevel)
    worker.execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m streams", description=__doc__)
    parser.add_argument("--worker-id", type=int, default=1, help="distinct per worker process")
    parser.add_argument("--loglevel", default="info")
    args = parser.parse_args()
    run_worker(load_settings(), args.worker_id, args.loglevel)


if __name__ == "__main__":
    main()
