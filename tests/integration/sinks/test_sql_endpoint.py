"""The read-only endpoint through clickhouse-connect's own HTTP client."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from incidents.settings import Settings
from sinks.clickhouse import endpoint_answers, open_engine_reader, open_read_client
from sinks.sql_endpoint import SqlEndpoint
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

READONLY = 164


@pytest.fixture
def endpoint(writer: Client, warehouse_settings: Settings) -> Iterator[SqlEndpoint]:
    writer.command("INSERT INTO incidents.alerts (alert_id, kind) VALUES ('a1', 'spike')")
    reader = open_engine_reader(warehouse_settings)
    ep = SqlEndpoint(
        reader, "incidents", port=warehouse_settings.clickhouse.sql_port, max_body_bytes=64 * 1024
    )
    ep.start()
    try:
        yield ep
    finally:
        ep.stop()
        reader.close()


def test_clickhouse_connect_reads_through_the_endpoint(endpoint: SqlEndpoint) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    assert client.query("SELECT alert_id, kind FROM alerts").result_rows == [("a1", "spike")]
    assert client.query("SELECT {x:UInt32}", parameters={"x": 1}).result_rows == [(1,)]
    odd = "it's a \t tab \\ and 'quotes'"
    got = client.query(
        "SELECT {s:String}, {a:Array(String)}", parameters={"s": odd, "a": [odd, "b"]}
    ).result_rows
    assert got == [(odd, [odd, "b"])]
    assert client.command("SELECT 1") == 1
    assert client.query("SELECT count() FROM incidents.v_district_day").result_rows == [(0,)]
    assert client.query("SELECT 1", settings={"max_threads": 2}).result_rows == [(1,)]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO alerts (alert_id) VALUES ('x')",
        "ALTER TABLE alerts DELETE WHERE 1",
        "DROP TABLE alerts",
        "CREATE TABLE t (x Int8) ENGINE = Memory",
        "SET readonly = 0",
        "SELECT 1 SETTINGS readonly = 0",
    ],
)
def test_writes_are_refused(endpoint: SqlEndpoint, statement: str) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(DatabaseError) as refused:
        client.command(statement)
    assert refused.value.code == READONLY
    assert client.command("SELECT count() FROM alerts") == 1


def test_client_insert_is_refused(endpoint: SqlEndpoint) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(DatabaseError) as refused:
        client.insert("alerts", [["x"]], column_names=["alert_id"])
    assert refused.value.code == READONLY


def test_errors_carry_the_clickhouse_code(endpoint: SqlEndpoint) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(DatabaseError) as e:
        client.query("SELECT * FROM no_such_table")
    assert e.value.code == 60


def test_ping_get_and_body_limit(endpoint: SqlEndpoint) -> None:
    with urllib.request.urlopen(f"{endpoint.url}/ping", timeout=5) as r:
        assert r.read() == b"Ok.\n"
    url = f"{endpoint.url}/?query=SELECT%20count()%20FROM%20alerts&database=incidents"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.read() == b"1\n"
        assert r.headers["X-ClickHouse-Format"] == "TabSeparated"
    big = urllib.request.Request(endpoint.url, data=b"SELECT 1 -- " + b"x" * 70_000)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(big, timeout=5)
    assert e.value.code == 413


def test_writer_keeps_writing_next_to_the_read_only_client(
    endpoint: SqlEndpoint, writer: Client
) -> None:
    writer.command("INSERT INTO incidents.alerts (alert_id) VALUES ('a2')")
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    assert client.command("SELECT count() FROM alerts") == 2


def test_open_read_client_prefers_the_endpoint(
    endpoint: SqlEndpoint, warehouse_settings: Settings
) -> None:
    assert endpoint_answers(warehouse_settings)
    client = open_read_client(warehouse_settings)
    assert client.command("SELECT count() FROM alerts") == 1
    assert "http" in type(client).__name__.lower()


def test_port_in_use_is_a_typed_error(endpoint: SqlEndpoint, warehouse_settings: Settings) -> None:
    from sinks.exceptions import EndpointError

    reader = open_engine_reader(warehouse_settings)
    try:
        with pytest.raises(EndpointError):
            SqlEndpoint(reader, "incidents", port=endpoint.port).start()
    finally:
        reader.close()


def test_open_read_client_falls_back_to_the_folder(
    writer: Client, warehouse_settings: Settings
) -> None:
    # No endpoint on this port: the folder is opened directly (same process here), read-only.
    settings = warehouse_settings.model_copy(
        update={
            "clickhouse": warehouse_settings.clickhouse.model_copy(update={"sql_port": free_port()})
        }
    )
    client = open_read_client(settings)
    try:
        assert client.command("SELECT count() FROM alerts") == 0
        with pytest.raises(DatabaseError):
            client.command("INSERT INTO alerts (alert_id) VALUES ('x')")
    finally:
        client.close()
