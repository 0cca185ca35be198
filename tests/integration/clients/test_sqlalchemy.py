"""clickhouse-connect's SQLAlchemy dialect (Superset, pandas.read_sql) on the endpoint."""

from __future__ import annotations

import pandas
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DatabaseError

from sinks.sql_endpoint import SqlEndpoint

pytestmark = pytest.mark.integration


def test_sqlalchemy_inspects_and_reads(sample_endpoint: SqlEndpoint) -> None:
    engine = create_engine(f"clickhousedb://default:@127.0.0.1:{sample_endpoint.port}/incidents")
    try:
        inspector = inspect(engine)
        assert inspector.get_schema_names() == ["incidents"]
        assert {"incidents", "report_versions"} <= set(inspector.get_table_names())
        assert "v_province_quarter" in inspector.get_view_names()
        columns = {c["name"]: str(c["type"]) for c in inspector.get_columns("v_province_quarter")}
        assert columns["quarter"] == "Date32"
        assert columns["killed_total"] == "UInt64"
        with engine.connect() as conn:
            frame = pandas.read_sql(
                text(
                    "SELECT province, killed_total, fatality_share_pct FROM v_province_quarter"
                    " WHERE quarter_label = :q ORDER BY killed_total DESC"
                ),
                conn,
                params={"q": "2024-Q1"},
            )
            assert int(frame["killed_total"].sum()) == 432
            shares = dict(zip(frame["province"], frame["fatality_share_pct"], strict=True))
            assert round(shares["Khyber Pakhtunkhwa"]) == 51
            assert round(shares["Balochistan"]) == 41
            with pytest.raises(DatabaseError) as refused:
                conn.execute(text("SELECT * FROM system.processes"))
            assert "497" in str(refused.value)
            assert conn.execute(text("SELECT 41 + 1")).scalar() == 42
    finally:
        engine.dispose()
