"""The pure parts of `--as-of`: reading the moment, rewriting a query, what it reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sinks.as_of import (
    AsOfRefused,
    check_reads_as_of,
    moment_text,
    parse_moment,
    rewrite,
    tables_read,
)
from sinks.exceptions import MigrationError
from sinks.migrate import as_of_statements, as_of_views
from sinks.sql_policy import ReadPolicy

CALL = "_as_of(as_of = {as_of:DateTime64(3, 'UTC')})"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-05", datetime(2024, 4, 5, tzinfo=UTC)),
        ("2024-04-05 17:30", datetime(2024, 4, 5, 17, 30, tzinfo=UTC)),
        ("2024-04-05T17:30:00+05:00", datetime(2024, 4, 5, 12, 30, tzinfo=UTC)),
        (" 2024-04-05 17:30:00.123456 ", datetime(2024, 4, 5, 17, 30, 0, 123000, tzinfo=UTC)),
        ("2024-04-05T17:30Z", datetime(2024, 4, 5, 17, 30, tzinfo=UTC)),
    ],
)
def test_moments_are_read_in_utc_to_the_millisecond(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5 April",
        "2024-13-01",
        "2024-02-30",
        "2024-04-05T25:00",
        "\x00",
        "2026-12-05 " + "1" * 1000,
        "20261205",
        "2024-W05-3",
        "2024-04-05 17:30 UTC",
        "\uff12\uff10\uff12\uff14-04-05",
        "0001-01-01T00:00+01:00",
        "9999-12-31T23:59-01:00",
    ],
)
def test_unreadable_moments_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(AsOfRefused, match="cannot read --as-of") as caught:
        parse_moment(text)
    assert "\n" not in str(caught.value)


def test_moment_text_is_what_the_views_read() -> None:
    assert moment_text(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01 00:00:00.000"
    assert moment_text(datetime(2024, 4, 5, 1, 2, 3, 45000, tzinfo=UTC)) == (
        "2024-04-05 01:02:03.045"
    )


def test_every_live_period_view_has_an_as_of_twin() -> None:
    views = as_of_views()
    for period in ("week", "month", "quarter", "year"):
        assert {f"v_province_{period}", f"v_national_{period}"} <= views
    assert {"v_district_day", "v_district_month", "v_incidents"} <= views


def test_rewrite_reads_views_as_of_and_leaves_strings_and_comments() -> None:
    text = (
        "SELECT 'v_province_quarter', \"v_incidents\" FROM v_province_quarter AS p "
        "JOIN incidents.v_national_quarter USING (quarter) -- v_incidents\n"
        "/* v_district_day */ WHERE p.province != 'it''s v_incidents' AND x IN other.v_incidents"
    )
    rewritten = rewrite(text, "incidents")
    assert f"FROM v_province_quarter{CALL} AS p" in rewritten
    assert f"JOIN incidents.v_national_quarter{CALL} AS v_national_quarter USING" in rewritten
    assert rewritten.count("_as_of(") == 2  # not in strings, comments or another database
    assert "'it''s v_incidents'" in rewritten and "other.v_incidents" in rewritten


WAREHOUSE = ("report_versions", "incidents", "v_incidents", "v_province_quarter")


def test_a_query_still_reading_live_tables_is_refused() -> None:
    tree = {
        "type": "SelectQuery",
        "with": [{"type": "WithElement", "name": "cte"}],
        "tables": [
            {"type": "TableIdentifier", "name": "cte"},
            {"type": "TableIdentifier", "name": "v_province_quarter_as_of"},
            {"type": "TableIdentifier", "name": "system.one"},
            {"type": "TableIdentifier", "name": "incidents.report_versions"},
        ],
    }
    assert tables_read(tree) == [
        "cte",
        "v_province_quarter_as_of",
        "system.one",
        "incidents.report_versions",
    ]
    with pytest.raises(AsOfRefused, match=r"incidents\.report_versions has no as-of form"):
        check_reads_as_of(tree, "incidents", WAREHOUSE)
    check_reads_as_of({"tables": tree["tables"][:3]}, "incidents", WAREHOUSE)
    # A CTE named like a table does not hide it (scopes are not followed): refused.
    shadow = {
        "with": [{"type": "WithElement", "name": "incidents"}],
        "tables": [{"type": "TableIdentifier", "name": "incidents"}],
    }
    with pytest.raises(AsOfRefused, match="incidents has no as-of form"):
        check_reads_as_of(shadow, "incidents", WAREHOUSE)


def test_a_table_read_by_in_is_a_table_read() -> None:
    tree = {
        "type": "Function",
        "name": "in",
        "arguments": {
            "children": [
                {"type": "Identifier", "name": "x"},
                {"type": "Identifier", "name": "report_versions"},
            ]
        },
    }
    assert tables_read(tree) == ["report_versions"]
    with pytest.raises(AsOfRefused, match="report_versions has no as-of form"):
        check_reads_as_of(tree, "incidents", WAREHOUSE)


def test_a_quoted_view_name_is_named_as_the_reason() -> None:
    tree = {"tables": [{"type": "TableIdentifier", "name": "v_incidents"}]}
    with pytest.raises(AsOfRefused, match="v_incidents is quoted"):
        check_reads_as_of(tree, "incidents", WAREHOUSE, 'SELECT * FROM "v_incidents"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SELECT v_incidents.killed_total FROM v_incidents LIMIT 1",
            f"SELECT v_incidents.killed_total FROM v_incidents{CALL} AS v_incidents LIMIT 1",
        ),
        (
            "SELECT count() AS v_incidents FROM v_incidents",
            f"SELECT count() AS v_incidents FROM v_incidents{CALL} AS v_incidents",
        ),
        (
            "WITH v_incidents AS (SELECT 1 AS x) SELECT * FROM v_incidents",
            "WITH v_incidents AS (SELECT 1 AS x) SELECT * FROM v_incidents",
        ),
        (
            "SELECT $$v_incidents$$, $a$v_reports$a$ FROM v_incidents i",
            f"SELECT $$v_incidents$$, $a$v_reports$a$ FROM v_incidents{CALL} i",
        ),
        (
            "SELECT * FROM v_incidents_as_of(as_of = now())",
            "SELECT * FROM v_incidents_as_of(as_of = now())",
        ),
        (
            "SELECT * FROM incidents . v_incidents WHERE 1",
            f"SELECT * FROM incidents.v_incidents{CALL} AS v_incidents WHERE 1",
        ),
    ],
)
def test_rewrite_keeps_aliases_ctes_and_strings(text: str, expected: str) -> None:
    assert rewrite(text, "incidents") == expected


def test_as_of_twins_need_exactly_one_read_of_the_day_table() -> None:
    live = "CREATE OR REPLACE VIEW db.v_x  AS SELECT * FROM db.agg_district_day FINAL"
    (twin,) = as_of_statements([live], "db")
    assert twin == (
        "CREATE OR REPLACE VIEW db.v_x_as_of  AS SELECT * FROM "
        "db.v_district_day_as_of(as_of = {as_of:DateTime64(3, 'UTC')})"
    )
    for bad in (
        "CREATE TABLE db.t (a Int8)",
        f"{live} UNION ALL SELECT * FROM db.agg_district_day FINAL",
    ):
        with pytest.raises(MigrationError):
            as_of_statements([bad], "db")


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("numbers", True),
        ("v_province_quarter_as_of", True),
        ("incidents.v_national_month_as_of", True),
        ("other.v_national_month_as_of", False),
        ("system.v_x_as_of", False),
        ("v_province_quarter", False),
        ("file", False),
        ("V_X_AS_OF", False),
    ],
)
def test_the_policy_allows_the_warehouse_as_of_views_as_table_functions(
    name: str, allowed: bool
) -> None:
    assert ReadPolicy("incidents").table_function_allowed(name) is allowed
