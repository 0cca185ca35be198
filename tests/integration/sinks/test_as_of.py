"""Figures as known at a moment: the as-of views (sinks/migrations/0014) are the semantics
written a second time, in SQL. Guarded here against the independent recomputation
(tests/reference.py) over the reports that had arrived by then, on random feeds with
revisions, retractions, cross-source duplicates, re-sends and late reports, and against the
live views the stream maintains (as of now, they must agree).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents_config.names import Ledger
from incidents_config.settings import Settings
from schemas.report import Report
from sinks.clickhouse import connect
from sinks.rows import KafkaCoordinates, report_row
from sinks.tables import REPORT_VERSIONS
from tests import reference
from tests.cli import run_incidents
from tests.integration.conftest import copy_warehouse
from tests.integration.revisions import revise_one_q1_report
from tests.strategies import make_report, report_specs, valid_reports

pytestmark = pytest.mark.integration

EPOCH = datetime(2024, 4, 1, tzinfo=UTC)
GROUPS = reference.GROUPS
MEASURES = (
    "incidents",
    "terror_attacks",
    "security_operations",
    *(f"killed_{g}" for g in GROUPS),
    "killed_total",
    *(f"injured_{g}" for g in GROUPS),
    "injured_total",
)
Arrival = tuple[Report, datetime]  # a report and when it was published to the raw topic


def insert(writer: Client, arrivals: list[Arrival]) -> None:
    """Write the rows the sink writes for these deliveries (report_versions only)."""
    rows = []
    for offset, (report, published) in enumerate(arrivals):
        at = KafkaCoordinates(
            "reports.valid", 0, offset, published + timedelta(seconds=1), published
        )
        values = report_row(report, at).values
        rows.append([values[c] for c in REPORT_VERSIONS.column_names])
    writer.insert(
        "incidents.report_versions",
        rows,
        column_names=REPORT_VERSIONS.column_names,
        column_type_names=REPORT_VERSIONS.column_types,
    )


def district_days(writer: Client, as_of: datetime) -> dict[tuple[str, str, str], dict[str, int]]:
    result = writer.query(
        "SELECT * FROM incidents.v_district_day_as_of(as_of = {t:String})",
        parameters={"t": as_of.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]},
    )
    out = {}
    for row in result.named_results():
        key = (row["day"].isoformat(), row["province"], row["district"])
        out[key] = {m: int(row[m]) for m in MEASURES}
    return out


def incidents(writer: Client, as_of: datetime) -> list[tuple[Any, ...]]:
    result = writer.query(
        "SELECT occurred_on, province, district, category, "
        f"{', '.join(f'killed_{g}' for g in GROUPS)}, "
        f"{', '.join(f'injured_{g}' for g in GROUPS)}, report_ids "
        "FROM incidents.v_incidents_as_of(as_of = {t:String}) ORDER BY report_ids",
        parameters={"t": as_of.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]},
    )
    return [(*row[:-1], list(row[-1])) for row in result.result_rows]


def expected_incidents(deliveries: list[Report]) -> list[tuple[Any, ...]]:
    rows = [
        (
            inc.occurred_on,
            inc.province,
            inc.district,
            inc.category,
            *(inc.killed[g] for g in GROUPS),
            *(inc.injured[g] for g in GROUPS),
            inc.reports,
        )
        for inc in reference.incidents(deliveries)
    ]
    return sorted(rows, key=lambda row: row[-1])


def check_every_moment(writer: Client, arrivals: list[Arrival]) -> None:
    """At each arrival time (arrivals at the moment count), a millisecond before the first
    and the last, and after all, as-of equals the reference."""
    times = sorted({published for _, published in arrivals})
    moments = {times[0] - timedelta(milliseconds=1), times[-1] + timedelta(days=1)}
    moments.update(times)
    moments.add(times[-1] - timedelta(milliseconds=1))
    for moment in sorted(moments):
        known = [report for report, published in arrivals if published <= moment]
        assert district_days(writer, moment) == reference.district_day_totals(known), moment
        assert incidents(writer, moment) == expected_incidents(known), moment


def on_one_warehouse(examples: int) -> Any:
    """Hypothesis settings for examples that share the test's warehouse (each truncates it)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


arrival_times = st.integers(0, 6).map(lambda hours: EPOCH + timedelta(hours=hours))


@on_one_warehouse(30)
@given(
    st.lists(st.tuples(report_specs, arrival_times), min_size=1, max_size=20),
    st.randoms(use_true_random=False),
)
def test_as_of_equals_the_reference_over_what_had_arrived(
    writer: Client, arrivals: list[Arrival], rnd: random.Random
) -> None:
    writer.command("TRUNCATE TABLE incidents.report_versions")
    # Re-sends: some deliveries arrive again later (same body, a later publication).
    again = [
        (r, t + timedelta(hours=rnd.randint(0, 3)))
        for r, t in rnd.sample(arrivals, len(arrivals) // 3)
    ]
    feed = arrivals + again
    rnd.shuffle(feed)  # insertion order must not matter
    insert(writer, feed)
    check_every_moment(writer, feed)


@on_one_warehouse(15)
@given(
    st.lists(st.tuples(valid_reports(), arrival_times), min_size=1, max_size=10),
    st.randoms(use_true_random=False),
)
def test_as_of_equals_the_reference_on_any_valid_reports(
    writer: Client, drawn: list[Arrival], rnd: random.Random
) -> None:
    writer.command("TRUNCATE TABLE incidents.report_versions")
    # Few report ids, so versions of one report compete and move between incidents.
    feed = [
        (r.model_copy(update={"source": "feed", "source_event_id": str(rnd.randrange(3))}), t)
        for r, t in drawn
    ]
    insert(writer, feed)
    check_every_moment(writer, feed)


def test_two_bodies_of_one_version_are_both_kept_and_the_tie_rule_picks(writer: Client) -> None:
    """Both bodies stay in report_versions (fingerprint in the sorting key); the later
    reported_at wins whichever arrived first, also after the table is merged."""
    early = make_report(version=7, killed=(1, 0, 0, 0))
    late = early.model_copy(update={"reported_at": early.reported_at + timedelta(microseconds=1)})
    for body in (late, early):  # the winner first: the loser arriving later must not win
        insert(writer, [(body, EPOCH)])
    writer.command("OPTIMIZE TABLE incidents.report_versions FINAL")
    count = writer.command("SELECT count() FROM incidents.report_versions")
    assert int(count) == 2
    chosen = writer.command(
        "SELECT toUnixTimestamp64Micro(reported_at) FROM "
        "incidents.v_reports_as_of(as_of = '2030-01-01 00:00:00')"
    )
    unix_epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert int(chosen) == (late.reported_at - unix_epoch) // timedelta(microseconds=1)


def test_a_report_sent_again_keeps_its_first_arrival(writer: Client) -> None:
    report = make_report(killed=(2, 1, 0, 0))
    insert(writer, [(report, EPOCH), (report, EPOCH + timedelta(days=30))])
    writer.command("OPTIMIZE TABLE incidents.report_versions FINAL")
    between = EPOCH + timedelta(days=1)
    assert district_days(writer, between) == reference.district_day_totals([report])
    assert district_days(writer, EPOCH - timedelta(seconds=1)) == {}


# --- against the live views the real pipeline maintains ------------------------------------


@pytest.fixture
def sample_copy(sample_warehouse: Settings, tmp_path: Path) -> Iterator[Client]:
    client = connect(copy_warehouse(sample_warehouse, tmp_path))
    try:
        yield client
    finally:
        client.close()
        shutil.rmtree(tmp_path / "var", ignore_errors=True)


LIVE_AND_AS_OF = [
    ("v_province_quarter", "quarter, province"),
    ("v_national_quarter", "quarter"),
    ("v_province_month", "month, province"),
    ("v_national_month", "month"),
    ("v_district_month", "month, province, district"),
    ("v_province_week", "week, province"),
    ("v_national_year", "year"),
]


def test_as_of_now_equals_the_live_views_of_the_sample(sample_copy: Client) -> None:
    client = sample_copy
    published = client.query(
        "SELECT min(published_at), max(published_at), countIf(published_at = 0), "
        "countIf(fingerprint = '') FROM incidents.report_versions"
    ).result_rows[0]
    first, last, unpublished, unfingerprinted = published
    # The worker carried the raw topic's timestamp onto reports.valid, and the sink kept it.
    assert unpublished == 0 and unfingerprinted == 0
    now = (last + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    for view, order in LIVE_AND_AS_OF:
        live = client.query(f"SELECT * FROM incidents.{view} ORDER BY {order}").result_rows
        as_of = client.query(
            f"SELECT * FROM incidents.{view}_as_of(as_of = {{t:String}}) ORDER BY {order}",
            parameters={"t": now},
        ).result_rows
        assert live, view
        assert as_of == live, view
    live_incidents = client.query(
        "SELECT incident_id, killed_total, injured_total, killed_from, injured_from, "
        "report_ids FROM incidents.v_incidents ORDER BY incident_id"
    ).result_rows
    as_of_incidents = client.query(
        "SELECT incident_id, killed_total, injured_total, killed_from, injured_from, "
        "report_ids FROM incidents.v_incidents_as_of(as_of = {t:String}) ORDER BY incident_id",
        parameters={"t": now},
    ).result_rows
    assert len(live_incidents) == 245
    assert as_of_incidents == [(*row[:-1], sorted(row[-1])) for row in live_incidents]
    before = (first - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    empty = client.command(
        "SELECT count() FROM incidents.v_national_quarter_as_of(as_of = {t:String})",
        parameters={"t": before},
    )
    assert int(empty) == 0


# --- `incidents sql --as-of` -------------------------------------------------------------


@pytest.fixture
def revised_sample(sample_warehouse: Settings, tmp_path: Path) -> tuple[Settings, str]:
    settings = copy_warehouse(sample_warehouse, tmp_path)
    _, between = revise_one_q1_report(settings)
    return settings, between


def test_sql_as_of_answers_the_figure_published_before_a_revision(
    revised_sample: tuple[Settings, str],
) -> None:
    settings, between = revised_sample
    sql = "SELECT sum(killed_total) FROM v_province_quarter WHERE quarter = '2024-01-01'"
    then = run_incidents(settings, "sql", "--format", "csv", "--as-of", between, sql)
    assert then.returncode == 0, then.stderr
    assert then.stdout.splitlines()[1] == "432"
    now = run_incidents(settings, "sql", "--format", "csv", "--as-of", "2100-01-01", sql)
    assert now.returncode == 1 and "in the future" in now.stderr
    latest = run_incidents(
        settings,
        "sql",
        "--format",
        "csv",
        "--as-of",
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        sql,
    )
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.splitlines()[1] == "452"


@pytest.mark.parametrize(
    ("as_of", "query", "message"),
    [
        ("5 April", "SELECT 1", "cannot read --as-of '5 April'"),
        ("2100-01-01", "SELECT 1", "is in the future"),
        ("2000-01-01", "SELECT 1", "before the first report arrived"),
        ("2024-12-31", "SELECT count() FROM report_versions", "report_versions has no as-of form"),
        ("2024-12-31", "SELEC 1", "Syntax error"),
        (
            "2024-12-31",
            "SELECT * FROM (WITH report_versions AS (SELECT 1) SELECT * FROM report_versions),"
            " (SELECT count() FROM report_versions)",
            "report_versions has no as-of form",
        ),
        (
            "2024-12-31",
            "SELECT count() FROM v_reports WHERE tuple(*) IN report_versions",
            "report_versions has no as-of form",
        ),
        ("2024-12-31", 'SELECT count() FROM "v_incidents"', "v_incidents is quoted"),
    ],
)
def test_sql_as_of_refuses_in_one_line(
    revised_sample: tuple[Settings, str], as_of: str, query: str, message: str
) -> None:
    settings, between = revised_sample
    moment = between if as_of == "2024-12-31" else as_of
    result = run_incidents(settings, "sql", "--as-of", moment, query)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_sql_as_of_answers_what_analysts_write(revised_sample: tuple[Settings, str]) -> None:
    settings, between = revised_sample
    queries = {
        "SELECT '100%' AS s": "100%",
        f"SELECT length('{'x' * 5000}') FROM v_national_quarter LIMIT 1": "5000",
        "SELECT v_incidents.killed_total FROM v_incidents ORDER BY killed_total DESC LIMIT 1": (
            "18"
        ),
        "WITH q AS (SELECT sum(killed_total) AS k FROM v_national_quarter) SELECT k FROM q": (
            "432"
        ),
    }
    for query, expected in queries.items():
        result = run_incidents(settings, "sql", "--format", "csv", "--as-of", between, query)
        assert result.returncode == 0, (query, result.stderr)
        assert result.stdout.splitlines()[1] == expected, query


def test_sql_as_of_refuses_while_an_accepted_alias_awaits_its_replay(
    revised_sample: tuple[Settings, str],
) -> None:
    settings, between = revised_sample
    sql = "SELECT sum(killed_total) FROM v_national_quarter"
    assert run_incidents(settings, "sql", "--as-of", between, sql).returncode == 0
    # The live generation's keys were built with another gazetteer than the one on disk.
    Ledger(settings.paths).record_gazetteer(0, "0" * 16)
    result = run_incidents(settings, "sql", "--as-of", between, sql)
    assert result.returncode == 1
    assert "gazetteer is not the one the keys were built with" in result.stderr
    assert "run `incidents replay`" in result.stderr
