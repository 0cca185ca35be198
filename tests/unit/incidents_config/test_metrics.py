"""incidents_config.metrics: each kind of process serves its own metrics, and only those."""

from __future__ import annotations

import importlib.metadata
import platform
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from incidents_config import metrics
from incidents_config.metrics import (
    PUSH_REGISTRY,
    SINK_REGISTRY,
    WORKER_REGISTRY,
    published_header,
    published_ms,
)
from incidents_config.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = ROOT / "docs" / "operations.md"
REGISTRIES = {"sink": SINK_REGISTRY, "worker": WORKER_REGISTRY, "push": PUSH_REGISTRY}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def families(registry: CollectorRegistry) -> dict[str, str]:
    """The project's metric families in `registry` (incidents_*): exposed name -> type."""
    out = {}
    for family in registry.collect():
        if family.name.startswith("incidents_"):
            suffix = "_total" if family.type == "counter" else ""
            out[family.name + suffix] = family.type
    return out


def exported(registry: CollectorRegistry) -> set[str]:
    """Every sample name `registry` can expose for the project's metrics."""
    names = set()
    for family in registry.collect():
        if family.name.startswith("incidents_"):
            names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    return names


def documented() -> dict[str, set[str]]:
    """docs/operations.md's metrics table: metric -> the processes it names."""
    rows = re.findall(
        r"^\| `(incidents_\w+)` \|[^|]*\|[^|]*\| ([^|]+) \|", OPERATIONS.read_text(), re.M
    )
    return {name: {p.strip() for p in processes.split(",")} for name, processes in rows}


def test_a_worker_serves_no_sink_or_push_metric_and_the_other_way_round() -> None:
    worker, sink, push = (set(families(REGISTRIES[role])) for role in ("worker", "sink", "push"))
    assert not {n for n in worker if n.startswith(("incidents_sink_", "incidents_push_"))}
    assert not {n for n in worker if n.startswith(("incidents_sql_", "incidents_alert_"))}
    assert "incidents_reports_consumed_total" in worker
    assert "incidents_sink_last_flush_timestamp_seconds" in sink
    assert not {n for n in sink if n.startswith(("incidents_reports_", "incidents_push_"))}
    assert push == {
        "incidents_build_info",
        "incidents_push_requests_total",
        "incidents_push_items_total",
    }
    # Lag is a worker's and the sink's, each on the topics it consumes; never the push's.
    assert "incidents_consumer_lag" in worker & sink


@pytest.mark.parametrize("role", sorted(REGISTRIES))
def test_every_process_says_which_build_runs(role: str) -> None:
    registry = REGISTRIES[role]
    labels = {
        "version": importlib.metadata.version(metrics.DISTRIBUTION),
        "python_version": platform.python_version(),
    }
    assert registry.get_sample_value("incidents_build_info", labels) == 1.0
    assert registry.get_sample_value("process_start_time_seconds") is not None


def test_the_operations_doc_lists_every_metric_with_the_processes_that_serve_it() -> None:
    served: dict[str, set[str]] = {}
    for role, registry in REGISTRIES.items():
        for name in families(registry):
            served.setdefault(name, set()).add(role)
    listed = documented()
    everywhere = set(REGISTRIES)
    assert set(listed) == set(served)
    for name, roles in served.items():
        want = {"every process"} if roles == everywhere else roles
        assert listed[name] == want, name


def test_serve_serves_the_registry_it_is_given_and_records_where(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()  # metrics ports 0: any free port
    url = metrics.serve(settings, "worker-7", 0, WORKER_REGISTRY)
    assert url is not None and url.startswith("http://127.0.0.1:")
    assert metrics.recorded_address(settings, "worker-7") == url
    names = {name for name, _, _ in metrics.scrape(url)}
    assert "incidents_build_info" in names
    assert not {n for n in names if n.startswith("incidents_sink_")}
    assert "python_info" in names  # the platform collector, in every process


def test_serve_does_nothing_when_metrics_are_off(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(metrics={"enabled": False})
    assert metrics.serve(settings, "sink", 0, SINK_REGISTRY) is None
    assert metrics.recorded_address(settings, "sink") is None


def test_the_published_header_round_trips_and_garbage_reads_as_absent() -> None:
    assert published_ms([published_header(1_700_000_000_123)]) == 1_700_000_000_123
    assert published_ms([("other", b"1"), published_header(5)]) == 5
    assert published_ms({metrics.PUBLISHED_HEADER: b"42"}) == 42  # Faust may give a mapping
    assert published_ms(None) is None
    assert published_ms([]) is None
    assert published_ms([(metrics.PUBLISHED_HEADER, b"not a number")]) is None


def test_a_process_listening_on_every_address_records_a_loopback_url(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(metrics={"host": "0.0.0.0"})  # for a Prometheus elsewhere
    url = metrics.serve(settings, "push", 0, PUSH_REGISTRY)
    assert url is not None and url.startswith("http://127.0.0.1:")
    assert {name for name, _, _ in metrics.scrape(url)} >= {"incidents_build_info"}
