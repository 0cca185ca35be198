"""The official Go client over HTTP (what Grafana's ClickHouse data source uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.sql_endpoint import SqlEndpoint
from tests.integration.clients.conftest import probe

pytestmark = pytest.mark.integration


def test_go_client_pings_lists_and_reads(sample_endpoint: SqlEndpoint, go_probe: Path) -> None:
    got = probe([str(go_probe), f"127.0.0.1:{sample_endpoint.port}"])

    assert got["ping"] is None
    assert "26." in got["server"]
    assert got["databases"] == ["incidents"]
    assert {"v_province_quarter", "v_national_quarter", "incidents"} <= set(got["tables"])
    assert got["national"] == [432, 370, 245] and got["national_error"] is None
    shares = {row["province"]: row for row in got["provinces"]}
    assert round(shares["Khyber Pakhtunkhwa"]["share"]) == 51
    assert round(shares["Balochistan"]["share"]) == 41

    # Settings the endpoint does not allow, a looser deadline, a forbidden table and bad
    # parameters: ClickHouse's codes, and the connection keeps working.
    assert got["refused_setting"]["code"] == 164
    assert got["refused_deadline"]["code"] == 164
    assert got["refused_table"]["code"] == 497
    assert got["missing_parameter"]["code"] == 456  # UNKNOWN_QUERY_PARAMETER
    assert got["ill_typed_parameter"]["code"] == 457  # BAD_QUERY_PARAMETER
    assert got["after_refusals"] == 42 and got["after_error"] is None
