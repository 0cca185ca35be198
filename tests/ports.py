"""Free ports for what tests start, in this pytest-xdist worker's own slice of the range.

``make test`` runs the suite in parallel workers (pytest-xdist). Each worker chooses the
ports of its brokers, Prometheus and Alertmanager from a slice no other worker uses, so two
workers never race for one port.
"""

from __future__ import annotations

import os

from incidents_ops.kafka_local import free_ports as free_ports_in

MAX_WORKERS = 16


def worker_slot() -> int:
    """This xdist worker's number ("gw3" -> 3), 0 outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw")) % MAX_WORKERS


def free_ports(count: int) -> list[int]:
    """`count` free ports on 127.0.0.1 in this worker's slice."""
    return free_ports_in(count, slot=worker_slot(), slots=MAX_WORKERS)
