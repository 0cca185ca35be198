"""A real Prometheus scrapes a running stack with the rules of infra/prometheus/.

The Prometheus binary (Debian's `prometheus`; `make test` installs it) runs on loopback on
a free port, its data in the test's tmp folder, with infra/prometheus/prometheus.yml's
jobs pointed at the addresses the stack's processes recorded (var/run/<name>.metrics) and
with short scrape and evaluation intervals. While the stack is healthy (busy, then idle)
no rule is pending or firing, over many evaluations; once the sink is stopped,
IncidentsSinkStale fires.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from incidents_config import metrics
from incidents_config.names import SINK
from incidents_ops import processes, stack
from tests.integration.servers import Server, binary
from tests.integration.streams.conftest import Pipeline, random_reports
from tests.integration.streams.test_observability import push
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "infra" / "prometheus"
EXAMPLE = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "alerts.rules.yml"
GROUP = "incidents-platform"
# The example's jobs, and the stack's processes each one scrapes (one worker here).
PROCESSES = {
    "incidents-sink": ["sink"],
    "incidents-push": ["push"],
    "incidents-worker": ["worker-1"],
}
HEALTHY_EVALUATIONS = 15  # rule evaluations watched on a healthy, idle stack
SCRAPE_INTERVAL = "2s"  # and as long a timeout: the machine may be loaded


class Prometheus(Server):
    """A running Prometheus and its HTTP API."""

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def targets(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/targets", state="active")["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        """Every pending or firing alert."""
        return list(self.get("/api/v1/alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        groups = self.get("/api/v1/rules", type="alert")["groups"]
        return [rule for group in groups if group["name"] == GROUP for rule in group["rules"]]

    def last_evaluation(self) -> str:
        groups = self.get("/api/v1/rules", type="alert")["groups"]
        return str(next(g["lastEvaluation"] for g in groups if g["name"] == GROUP))

    def query(self, promql: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=promql)["result"])


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[Path], Prometheus]]:
    program = binary("prometheus", install="apt-get install prometheus")
    started: list[Prometheus] = []

    def start(config: Path) -> Prometheus:
        args = [
            program,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        ]
        started.append(Prometheus("Prometheus", args, tmp_path / "prometheus.log"))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def scrape_config(p: Pipeline, dest: Path) -> Path:
    """infra/prometheus/prometheus.yml, its targets the stack's recorded metrics addresses,
    with short intervals, loading the shipped rules file."""
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    config["global"] = {
        "scrape_interval": SCRAPE_INTERVAL,
        "scrape_timeout": SCRAPE_INTERVAL,
        "evaluation_interval": "1s",
    }
    config["rule_files"] = [str(RULES)]
    assert {job["job_name"] for job in config["scrape_configs"]} == set(PROCESSES)
    for job in config["scrape_configs"]:
        targets = []
        for name in PROCESSES[job["job_name"]]:
            url = metrics.recorded_address(p.settings, name)
            assert url, f"{name} recorded no metrics address"
            parts = urllib.parse.urlsplit(url)
            assert parts.path == job.get("metrics_path", "/metrics")
            targets.append(parts.netloc)
        job["static_configs"] = [{"targets": targets}]
    dest.write_text(yaml.safe_dump(config), encoding="utf-8")
    return dest


def all_up(prometheus: Prometheus) -> bool:
    targets = prometheus.targets()
    return len(targets) == 3 and all(t["health"] == "up" for t in targets)


def assert_quiet(prometheus: Prometheus, when: str) -> None:
    """No rule is pending or firing, and every rule evaluates without error."""
    alerts = prometheus.alerts()
    assert alerts == [], f"{when}: alerts on a healthy stack: {alerts}"
    rules = prometheus.rules()
    assert len(rules) == len(yaml.safe_load(RULES.read_text())["groups"][0]["rules"])
    broken = [
        (r["name"], r.get("lastError")) for r in rules if r["health"] not in ("ok", "unknown")
    ]
    assert not broken, f"{when}: rules failing to evaluate: {broken}"


def firing(prometheus: Prometheus, alert: str) -> list[dict[str, Any]]:
    return [
        a
        for a in prometheus.alerts()
        if a["labels"]["alertname"] == alert and a["state"] == "firing"
    ]


def test_no_rule_fires_on_a_healthy_stack_and_a_stopped_sink_is_stale(
    pipeline_factory: Callable[..., Pipeline],
    start_prometheus: Callable[[Path], Prometheus],
    tmp_path: Path,
) -> None:
    p = pipeline_factory()  # every port 0: each process records its metrics address
    stack.up(p.settings, workers=1, push=True, say=lambda _m: None)
    wait_for(  # `up` does not wait for a worker to start
        "every process to record its metrics address",
        lambda: all(
            metrics.recorded_address(p.settings, n) for ns in PROCESSES.values() for n in ns
        ),
    )
    prometheus = start_prometheus(scrape_config(p, tmp_path / "prometheus.yml"))
    wait_for(
        "Prometheus to scrape the sink, the worker and the push endpoint",
        lambda: all_up(prometheus),
    )

    # Busy: reports pushed through the whole pipeline.
    reports = random_reports(seed=11, n_events=20)
    answer = push(p, [r.model_dump_json().encode() for r in reports])
    assert answer["accepted"] == len(reports)
    p.wait()
    assert_quiet(prometheus, "while busy")

    # Idle: nothing to write any more; the rules keep being evaluated, and stay quiet.
    seen: set[str] = set()

    def evaluated_enough() -> bool:
        assert_quiet(prometheus, f"after {len(seen)} evaluations idle")
        assert all_up(prometheus), prometheus.targets()
        seen.add(prometheus.last_evaluation())
        return len(seen) > HEALTHY_EVALUATIONS

    wait_for(f"{HEALTHY_EVALUATIONS} rule evaluations", evaluated_enough)
    # Prometheus records every pending or firing alert of every evaluation in ALERTS:
    # none since it started, busy or idle (the polls above could miss a short one).
    history = prometheus.query("count_over_time(ALERTS[1h])")
    assert history == [], f"alerts on a healthy stack: {history}"

    # What each process exports, as Prometheus sees it.
    jobs = {s["metric"]["job"] for s in prometheus.query("incidents_build_info == 1")}
    assert jobs == set(PROCESSES)
    lag = prometheus.query("incidents_consumer_lag")
    assert {s["metric"]["job"] for s in lag} == {"incidents-sink", "incidents-worker"}
    assert not [s for s in lag if "changelog" in s["metric"]["topic"]], lag
    assert prometheus.query('{__name__=~"incidents_sink_.*", job!="incidents-sink"}') == []
    assert prometheus.query('{__name__=~"incidents_consumer_lag", job="incidents-push"}') == []
    counted = prometheus.query("incidents_publish_to_queryable_seconds_count")
    by_table = {s["metric"]["table"]: float(s["value"][1]) for s in counted}
    assert by_table["report_versions"] >= len(reports)
    assert by_table["agg_district_day"] >= 1
    flushes = prometheus.query("incidents_sink_flush_duration_seconds_count")
    assert flushes and float(flushes[0]["value"][1]) >= 1
    beat = prometheus.query("time() - incidents_sink_heartbeat_timestamp_seconds")
    assert beat and float(beat[0]["value"][1]) < 60  # an idle sink that is alive

    # The sink stops: its target goes down and the stale rule fires (after its `for: 1m`).
    assert processes.stop(p.settings.paths, SINK)
    wait_for(
        "IncidentsSinkStale to fire",
        lambda: bool(firing(prometheus, "IncidentsSinkStale")),
        timeout_s=300,
    )
    (stale,) = firing(prometheus, "IncidentsSinkStale")
    assert stale["labels"]["job"] == "incidents-sink"
    sink_target = next(t for t in prometheus.targets() if t["labels"]["job"] == "incidents-sink")
    assert sink_target["health"] == "down"
    others = [a for a in prometheus.alerts() if a["labels"]["alertname"] != "IncidentsSinkStale"]
    assert not [a for a in others if a["state"] == "firing"], others
