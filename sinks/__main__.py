"""`python -m sinks`: run the sink process until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from kafka.errors import KafkaError

from incidents.metrics import serve
from incidents.settings import load_settings
from sinks.exceptions import SinkError
from sinks.service import run_sink

logger = logging.getLogger("sinks")


def main() -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    settings = load_settings()
    serve(settings, "sink", settings.metrics.sink_port)
    try:
        run_sink(settings, stop)
    except (SinkError, KafkaError) as e:
        logger.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
