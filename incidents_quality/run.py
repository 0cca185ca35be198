"""Run the data-quality suites with Great Expectations and hand back what they found.

Datasource: GX's pandas datasource, fed by clickhouse-connect's ``query_df``. GX's SQL
datasources need a SQLAlchemy dialect, and the platform reaches ClickHouse only through
clickhouse-connect (which is also the only way into the embedded chdb engine, and the
read-only endpoint the running sink serves). Each suite's query does the heavy work in
ClickHouse, so the frames GX sees are small: checks and recomputations, not raw tables,
except the two row-level suites (reports, incidents), which read only the checked columns.

The GX project is a file context under ``<var dir>/gx``: suites, validation definitions
and one checkpoint per suite are written there from incidents_quality.suites on every run,
and each run updates the Data Docs site at ``<var dir>/gx/uncommitted/data_docs``.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import great_expectations as gx
from clickhouse_connect.driver.client import Client
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig

from incidents_config.settings import Settings
from incidents_quality.suites import SUITE_NAMES, Suite, all_suites
from schemas.gazetteer import load_gazetteer
from schemas.warehouse import DqExpectationResult, DqRunMessage, DqSuiteResult

logger = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Karachi")
MAX_EXAMPLES = 20
DOCS_SITE = "local_site"


class UnknownSuite(ValueError):
    """`--suite` named a suite that does not exist."""


def gx_root(settings: Settings) -> Path:
    return settings.paths.var_dir / "gx"


def docs_index(settings: Settings) -> Path:
    return gx_root(settings) / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"


def select_suites(settings: Settings, names: Sequence[str] = ()) -> list[Suite]:
    """The suites to run: all of them, or those named (in the order given)."""
    now = datetime.now(UTC)
    suites = all_suites(settings.dq, load_gazetteer(), now.astimezone(LOCAL_TZ).date(), now)
    if not names:
        return suites
    by_name = {s.name: s for s in suites}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UnknownSuite(
            f"unknown suite {unknown[0]!r}; the suites are: {', '.join(SUITE_NAMES)}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]  # each once, in the order given


@dataclass(frozen=True)
class Run:
    """What a run found, and where its Data Docs are."""

    message: DqRunMessage
    data_docs: Path

    @property
    def success(self) -> bool:
        return self.message.success


def run_suites(
    settings: Settings,
    client: Client,
    suites: Sequence[Suite],
    *,
    trigger: str = "cli",
    on_suite: Callable[[str], None] | None = None,
) -> Run:
    """Read each suite's rows, validate them with its checkpoint, and build the Data Docs."""
    context = _context(gx_root(settings))
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    suite_results: list[DqSuiteResult] = []
    results: list[DqExpectationResult] = []
    for suite in suites:
        if on_suite is not None:
            on_suite(suite.name)
        frame = client.query_df(suite.sql, parameters=suite.parameters or None)
        checkpoint = _checkpoint(context, suite)
        outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=_run_id(run_id))
        found = [
            _result(suite.name, i, r)
            for validation in outcome.run_results.values()
            for i, r in enumerate(validation.results)
        ]
        failed = sum(not r.success for r in found)
        suite_results.append(
            DqSuiteResult(
                suite=suite.name,
                success=failed == 0,
                expectations=len(found),
                failed=failed,
                data_docs=_page(context, list(outcome.run_results)),
            )
        )
        results += found
    docs = docs_index(settings)
    message = DqRunMessage(
        run_id=run_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        trigger=trigger,
        data_docs=str(docs.resolve()),
        suites=suite_results,
        results=results,
    )
    return Run(message, docs)


def _page(context: Any, keys: list[Any]) -> str:
    """The Data Docs page of a suite's validation (a local path), or ''."""
    for key in keys:
        for site in context.get_docs_sites_urls(resource_identifier=key):
            url = str(site.get("site_url") or "")
            if url.startswith("file://"):
                return url.removeprefix("file://")
    return ""


def _run_id(name: str) -> Any:
    return RunIdentifier(run_name=name)


def _context(root: Path) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # read when a context is made
    root.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = gx.get_context(mode="file", project_root_dir=str(root.parent))
    bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if context.variables.progress_bars != bars:
        context.variables.progress_bars = bars
        context.variables.save()
    return context


def _checkpoint(context: Any, suite: Suite) -> Any:
    """Write the suite, its validation definition and its checkpoint into the project."""
    source = context.data_sources.add_or_update_pandas(name="warehouse")
    asset = next((a for a in source.assets if a.name == suite.name), None)
    if asset is None:
        asset = source.add_dataframe_asset(name=suite.name)
    batch = next((b for b in asset.batch_definitions if b.name == "whole"), None)
    if batch is None:
        batch = asset.add_batch_definition_whole_dataframe("whole")
    expectations = gx.ExpectationSuite(name=suite.name, expectations=list(suite.expectations))
    expectations.meta["description"] = suite.description
    stored = context.suites.add_or_update(expectations)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=stored)
    )
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": MAX_EXAMPLES,
    }
    if suite.index_columns:
        result_format["unexpected_index_column_names"] = list(suite.index_columns)
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format=result_format,
        )
    )


def _result(suite: str, position: int, r: Any) -> DqExpectationResult:
    config = r.expectation_config
    kwargs = config.kwargs
    result = r.result or {}
    error = _exception(r.exception_info)
    examples = result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list")
    column = kwargs.get("column") or ", ".join(
        str(c)
        for c in (kwargs.get("column_list") or (kwargs.get("column_A"), kwargs.get("column_B")))
        if c
    )
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and "column" in condition:  # a GX Condition, serialized
        name = condition["column"].get("name")
        column += f" where {name} {condition.get('operator')} {condition.get('parameter')}"
    observed: Any = result.get("observed_value")
    if error:
        observed = {"error": error[:500]}
    return DqExpectationResult(
        suite=suite,
        position=position,
        expectation=config.type,
        column=column[:256],
        description=(config.description or "")[:2000],
        success=bool(r.success),
        observed=_json(observed)[:10_000],
        unexpected_count=int(result.get("unexpected_count") or 0),
        unexpected_examples=_json((examples or [])[:MAX_EXAMPLES])[:20_000],
    )


def _exception(info: Any) -> str:
    """GX's exception info: flat, or one entry per metric that failed to compute."""
    if not isinstance(info, dict):
        return ""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")
    return ""


def _json(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, default=_plain, ensure_ascii=False, sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
