"""The official ClickHouse JDBC driver (DBeaver, DataGrip, Metabase) on the endpoint."""

from __future__ import annotations

import pytest

from sinks.sql_endpoint import SqlEndpoint
from tests.integration.clients.conftest import JDBC_PROBE, probe, require

pytestmark = pytest.mark.integration


def test_jdbc_lists_reads_and_is_refused_like_clickhouse(
    sample_endpoint: SqlEndpoint, jdbc_classpath: str
) -> None:
    url = f"jdbc:clickhouse://127.0.0.1:{sample_endpoint.port}/incidents"
    got = probe([require("java")["java"], "-cp", jdbc_classpath, str(JDBC_PROBE), url])

    # DatabaseMetaData: only the warehouse database, its tables and views, their types.
    assert got["schemas"] == ["incidents"]
    tables = {t["name"]: t for t in got["tables"]}
    assert {t["schema"] for t in got["tables"]} == {"incidents"}
    assert tables["v_province_quarter"]["type"] == "VIEW"
    assert tables["incidents"]["type"] == "TABLE"
    assert {"v_national_quarter", "v_district_month", "report_versions"} <= set(tables)
    assert got["columns"]["quarter"] == "Date32"
    assert got["columns"]["killed_total"] == "UInt64"
    assert got["columns"]["killed_change_pct"] == "Nullable(Float64)"

    # Prepared statements with `?`: the Q1 2024 figures.
    assert got["national"] == [432, 370, 245]
    shares = {row["province"]: row for row in got["provinces"]}
    assert round(shares["Khyber Pakhtunkhwa"]["share"]) == 51
    assert round(shares["Balochistan"]["share"]) == 41
    assert sum(row["killed"] for row in got["provinces"]) == 432
    assert got["max_rows_3"] == 3

    # A tighter limit on a statement applies; other settings are ClickHouse's 164.
    assert float(got["tighter_setting"]["result"]) == 10
    assert got["refused_setting"]["code"] == 164
    assert got["refused_looser"]["code"] == 164
    assert got["refused_settings_clause"]["code"] == 164
    assert got["refused_table"]["code"] == 497
    assert got["syntax_error"]["code"] == 62
    assert "failed at position 7" in got["syntax_error"]["message"]
    # A missing parameter is the driver's own error; an ill-typed one is the engine's.
    assert "not set" in got["missing_parameter"]["message"]
    assert got["ill_typed_parameter"]["code"] == 38  # CANNOT_PARSE_DATE
    # ... and the connection is still usable after every refusal.
    assert got["after_refusals"] == 42
