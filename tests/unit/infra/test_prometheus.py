"""infra/prometheus/: the alert rules are valid, unit-tested, and about metrics that exist.

promtool (Debian's `prometheus` package; `make test` installs it) checks the rules and the
example configuration and runs alerts.test.yml; without it those tests skip, saying why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from incidents_config.metrics import PUSH_REGISTRY, SINK_REGISTRY, WORKER_REGISTRY
from incidents_config.settings import MetricsSettings
from tests.unit.incidents_config.test_metrics import exported

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "infra" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
JOBS = {
    "incidents-sink": SINK_REGISTRY,
    "incidents-worker": WORKER_REGISTRY,
    "incidents-push": PUSH_REGISTRY,
}
# The rules docs/operations.md promises, at least.
REQUIRED = {
    "IncidentsSinkStale",
    "IncidentsLagGrowing",
    "IncidentsDeadLetterSurge",
    "IncidentsSinkRetrying",
    "IncidentsWorkerDown",
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool not found (Debian package `prometheus`): `make prometheus` installs it"
        )
    return path


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_rules_pass_their_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_example_configuration(promtool: str) -> None:
    result = run(promtool, "check", "config", CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_fails_when_a_rule_does_not_do_what_its_test_says(
    promtool: str, tmp_path: Path
) -> None:
    """The unit tests can fail: a stale rule that forgets a stopped sink is caught."""
    broken = RULES.read_text(encoding="utf-8").replace(
        'up{job="incidents-sink"} == 0', "vector(0) > 1"
    )
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / RULES.name).write_text(broken, encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "a stopped sink is stale" in result.stdout + result.stderr


def test_the_rules_include_the_required_ones_and_each_is_tested_firing_and_quiet() -> None:
    names = {rule["alert"] for rule in rules()}
    assert names >= REQUIRED
    tests = load(RULE_TESTS)["tests"]
    assert tests[0]["name"].startswith("a healthy stack")
    quiet = {t["alertname"] for t in tests[0]["alert_rule_test"] if not t["exp_alerts"]}
    firing = {t["alertname"] for test in tests for t in test["alert_rule_test"] if t["exp_alerts"]}
    assert quiet == names, "every rule is checked quiet on a healthy stack"
    assert firing == names, "every rule is seen firing"


def test_the_rules_use_only_metrics_the_processes_export_and_the_example_jobs() -> None:
    known = set().union(*(exported(r) for r in JOBS.values())) | {"up"}
    jobs = {c["job_name"] for c in load(CONFIG)["scrape_configs"]}
    assert jobs == set(JOBS)
    for rule in rules():
        used = set(re.findall(r"\b(incidents_\w+|up)\b", rule["expr"]))
        assert used <= known, f"{rule['alert']}: {used - known}"
        assert set(re.findall(r'job="([^"]+)"', rule["expr"])) <= jobs, rule["alert"]
        for metric in used - {"up"}:
            for job in re.findall(rf'{metric}\{{[^}}]*job="([^"]+)"', rule["expr"]):
                assert metric in exported(JOBS[job]), f"{rule['alert']}: {metric} in {job}"


def test_the_example_scrapes_each_process_on_its_default_port() -> None:
    defaults = MetricsSettings.model_fields
    ports = {
        c["job_name"]: [t.rsplit(":", 1)[1] for s in c["static_configs"] for t in s["targets"]]
        for c in load(CONFIG)["scrape_configs"]
    }
    assert ports == {
        "incidents-sink": [str(defaults["sink_port"].default)],
        "incidents-push": [str(defaults["push_port"].default)],
        "incidents-worker": [str(defaults["worker_port"].default)],  # `incidents up`: 1 worker
    }
    assert load(CONFIG)["rule_files"] == [RULES.name]
