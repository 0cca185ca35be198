"""Run a Faust worker: ``python -m streams [--worker-id N]``."""

from __future__ import annotations

import argparse
import logging

import faust
import mode.loop

from incidents.metrics import serve
from incidents.settings import load_settings
from incidents.stack import worker_name
from streams.app import build_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m streams", description=__doc__)
    parser.add_argument("--worker-id", type=int, default=1, help="distinct per worker process")
    parser.add_argument("--loglevel", default="info")
    args = parser.parse_args()
    settings = load_settings()
    mode.loop.use(settings.streams.loop)  # before the app creates its loop
    app, _ = build_app(settings, worker_id=args.worker_id)
    logging.basicConfig(level=args.loglevel.upper())
    base = settings.metrics.worker_port
    serve(settings, worker_name(args.worker_id), base + args.worker_id - 1 if base else 0)
    worker = faust.Worker(app, loglevel=args.loglevel)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
