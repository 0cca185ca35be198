"""The sink process (`incidents run sink`): the sink, with alerting attached, until SIGTERM.

``sinks/`` does not know alerting (it sits above it); this module puts the two together:
the sink is started with the alert engine as its observer when ``ALERTS_ENABLED``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from clickhouse_connect.driver.client import Client
from kafka.errors import KafkaError

from incidents_alerting.engine import AlertEngine
from incidents_alerting.exceptions import AlertingError
from incidents_config.metrics import SINK_REGISTRY, serve
from incidents_config.names import SINK
from incidents_config.settings import Settings
from incidents_ops.progress import PipelineProbe
from schemas.exceptions import PlacesOverlayError
from sinks.exceptions import SinkError
from sinks.gazetteer import export_metrics
from sinks.service import ObserverFactory, run_sink

logger = logging.getLogger("sinks")


def observers(settings: Settings) -> list[ObserverFactory]:
    """What the sink tells about each written batch: the alert engine, unless disabled."""
    if not settings.alerts.enabled:
        return []

    def alerting(writer: Client, database: str) -> AlertEngine:
        # Not the writer: the engine evaluates on its own thread, with a client of its own.
        return AlertEngine(settings, None, database, probe=PipelineProbe(settings))

    return [alerting]


def main(settings: Settings) -> int:
    """Run the sink until SIGTERM or SIGINT; return the process's exit code."""
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
    export_metrics(settings)
    serve(settings, SINK, settings.metrics.sink_port, SINK_REGISTRY)
    try:
        run_sink(settings, stop, observers(settings))
    except (SinkError, AlertingError, KafkaError, PlacesOverlayError) as e:
        logger.error("%s", e)
        return 1
    return 0
