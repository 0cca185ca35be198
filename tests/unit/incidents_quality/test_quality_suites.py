"""The data-quality suites: their queries, bounds and expectations, on hand-built frames."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import great_expectations as gx
import pandas as pd
import pytest

from incidents_config.settings import DqSettings
from incidents_quality.suites import SUITE_NAMES, Suite, all_suites, place_pairs
from schemas.gazetteer import load_gazetteer
from schemas.warehouse import DqExpectationResult, DqRunMessage, DqSuiteResult
from sinks.rows import KafkaCoordinates, MessageKind, dq_rows, message_rows
from sinks.tables import DQ_RESULTS, DQ_RUNS

TODAY = date(2024, 6, 30)
NOW = datetime(2024, 6, 30, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def suites() -> dict[str, Suite]:
    made = all_suites(DqSettings(), load_gazetteer(), TODAY, NOW)
    return {s.name: s for s in made}


@pytest.fixture(scope="module")
def context() -> Any:
    return gx.get_context(mode="ephemeral")


def _failing(context: Any, suite: Suite, frame: pd.DataFrame) -> set[str]:
    """Descriptions of the suite's expectations the frame fails."""
    source = context.data_sources.add_or_update_pandas(name=f"unit-{suite.name}")
    batch = source.add_dataframe_asset(name=suite.name).add_batch_definition_whole_dataframe("b")
    got = batch.get_batch(batch_parameters={"dataframe": frame})
    failed = set()
    for e in suite.expectations:
        result = got.validate(e)
        assert not (result.exception_info or {}).get("raised_exception"), result.exception_info
        if not result.success:
            failed.add(e.description or "")
    return failed


def test_suites_and_their_queries(suites: dict[str, Suite]) -> None:
    assert tuple(suites) == SUITE_NAMES
    for s in suites.values():
        assert s.expectations
        assert all(e.description for e in s.expectations)  # the CLI table shows them
        placeholders = set(re.findall(r"\{(\w+):", s.sql))
        assert placeholders == set(s.parameters), s.name


def test_place_pairs_come_from_the_gazetteer() -> None:
    pairs = place_pairs(load_gazetteer())
    assert "Khyber Pakhtunkhwa / Bannu" in pairs
    assert "Balochistan / Quetta" in pairs
    assert "Punjab / " in pairs  # a report that names no district
    assert "Khyber Pakhtunkhwa / Quetta" not in pairs
    assert len(pairs) == len(set(pairs))


def _incidents(**changes: list[Any]) -> pd.DataFrame:
    rows = 3
    frame: dict[str, list[Any]] = {
        "incident_id": ["a", "b", "c"],
        "occurred_on": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-06-30"]),
        "province": ["Balochistan"] * rows,
        "district": ["Quetta"] * rows,
        "province_district": ["Balochistan / Quetta"] * rows,
        "category": ["terror_attack", "security_operation", "terror_attack"],
        "reports": [1, 2, 1],
    }
    for kind in ("killed", "injured"):
        for g in ("civilians", "security", "militants", "unknown"):
            frame[f"{kind}_{g}"] = [1, 0, 2]
        frame[f"{kind}_total"] = [4, 0, 8]
        frame[f"{kind}_total_gap"] = [0, 0, 0]
    frame.update(changes)
    return pd.DataFrame(frame)


def test_clean_incidents_pass(context: Any, suites: dict[str, Suite]) -> None:
    assert _failing(context, suites["incidents"], _incidents()) == set()


@pytest.mark.parametrize(
    ("changes", "fails"),
    [
        ({"incident_id": ["a", "a", "c"]}, "one live row per incident"),
        ({"incident_id": ["a", "", "c"]}, "every incident has an id"),
        (
            {"province_district": ["Balochistan / Quetta", "Balochistan / Atlantis", "Punjab / "]},
            "province and district are in the gazetteer",
        ),
        ({"killed_civilians": [1, 4294967295, 2]}, "incidents: killed_civilians is non-negative"),
        ({"killed_civilians": [1, 5001, 2]}, "incidents: killed_civilians is non-negative"),
        ({"injured_total_gap": [0, -1, 0]}, "incidents: injured_total is the sum"),
        ({"reports": [1, 0, 1]}, "every incident is explained by at least one report"),
        (
            {"occurred_on": pd.to_datetime(["2024-01-02", "2024-07-01", "2024-06-30"])},
            "occurred_on is not in the future",
        ),
        (
            {"occurred_on": pd.to_datetime(["2024-01-02", "1947-08-13", "1947-08-14"])},
            "occurred_on is not in the future",
        ),
        ({"category": ["terror_attack", "riot", "terror_attack"]}, "category is one"),
    ],
)
def test_each_incident_defect_fails_its_expectation(
    context: Any, suites: dict[str, Suite], changes: dict[str, list[Any]], fails: str
) -> None:
    failed = _failing(context, suites["incidents"], _incidents(**changes))
    assert len(failed) == 1, failed
    assert next(iter(failed)).startswith(fails)


def test_reconciliation_compares_each_check_on_its_own_rows(
    context: Any, suites: dict[str, Suite]
) -> None:
    frame = pd.DataFrame(
        {
            "check": ["province_quarter", "district_month", "national_quarter"],
            "cell": ["2024-01-01 Punjab", "2024-01-01 Punjab / Lahore", "2024-01-01"],
            "measure": ["killed_total"] * 3,
            "in_view": [5, 7, 9],
            "recomputed": [5, 6, 9],
        }
    )
    failed = _failing(context, suites["reconciliation"], frame)
    assert failed == {
        "v_district_month (agg_district_day) equals the live incidents summed per district"
        " and month"
    }


def test_dead_letter_rate_and_freshness_bounds(context: Any, suites: dict[str, Suite]) -> None:
    rates = pd.DataFrame(
        {
            "source": ["a", "b"],
            "accepted": [100, 100],
            "dead_letters": [5, 6],
            "dead_letter_rate": [0.05, 0.06],
        }
    )
    assert len(_failing(context, suites["dead_letters"], rates)) == 1
    ages = pd.DataFrame({"source": ["a", "b"], "newest": [NOW, NOW], "age_h": [47.9, 48.1]})
    assert len(_failing(context, suites["freshness"], ages)) == 1
    empty = pd.DataFrame({"source": [], "newest": [], "age_h": []})
    assert _failing(context, suites["freshness"], empty) == {
        "the warehouse has reports from at least one source"
    }


def test_a_run_becomes_one_row_per_suite_and_per_expectation() -> None:
    run = DqRunMessage(
        run_id="r1",
        started_at=NOW,
        finished_at=NOW,
        suites=[DqSuiteResult(suite="incidents", success=False, expectations=2, failed=1)],
        results=[
            DqExpectationResult(
                suite="incidents", position=i, expectation="expect_x", success=bool(i)
            )
            for i in range(2)
        ],
    )
    rows = dq_rows(run)
    assert [r.table for r in rows] == [DQ_RUNS.name, DQ_RESULTS.name, DQ_RESULTS.name]
    for r in rows:
        spec = DQ_RUNS if r.table == DQ_RUNS.name else DQ_RESULTS
        assert set(r.values) == set(spec.column_names)
    assert rows[0].values["success"] == 0 and rows[0].values["failed"] == 1
    assert [r.values["success"] for r in rows[1:]] == [0, 1]
    assert not run.success


@pytest.mark.parametrize(
    "raw",
    [
        b"{" * 100_000,
        b"\xff\xfe\x00binary",
        b"[]",
        b'{"run_id": "r"}',
        b'{"run_id": "r", "started_at": "2024-01-01T00:00:00Z",'
        b' "finished_at": "2024-01-01T00:00:00Z", "suites": [], "results": ['
        + b",".join([b'{"suite": "s", "position": 1, "expectation": "e", "success": true}'] * 2001)
        + b"]}",
    ],
)
def test_a_poisoned_dq_message_is_one_rejected_row(raw: bytes) -> None:
    at = KafkaCoordinates("x.dq.results", 0, 7, NOW)
    rows = message_rows(MessageKind.DQ_RUN, raw, at)
    assert [r.table for r in rows] == ["rejected_reports"]
    assert rows[0].values["reasons"]


def test_suites_named_twice_run_once() -> None:
    from incidents_config.settings import load_settings
    from incidents_quality.run import UnknownSuite, select_suites

    settings = load_settings(env_file="/nonexistent")
    chosen = select_suites(settings, ["freshness", "reports", "freshness"])
    assert [s.name for s in chosen] == ["freshness", "reports"]
    with pytest.raises(UnknownSuite, match="the suites are: reports, incidents"):
        select_suites(settings, ["nope"])
