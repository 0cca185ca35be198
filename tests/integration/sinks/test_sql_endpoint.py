"""The read-only endpoint, through clickhouse-connect's HTTP client and raw HTTP.

Every probe that once got through (host files read and written, url() pushes, temporary
tables, sticky SET, multi-statements, KILL, unbounded results, a stuck query blocking
everyone, a CR/LF query_id) is asked again here and must be refused or bounded.
"""

from __future__ import annotations

import datetime
import gzip
import json
import socket
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import clickhouse_connect
import lz4.block
import lz4.frame
import pytest
import urllib3
from clickhouse_cityhash.cityhash import CityHash128
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from incidents.common import CliError, query
from incidents_config.metrics import SINK_REGISTRY
from incidents_config.names import sink_ready_file
from incidents_config.settings import Settings
from sinks.clickhouse import endpoint_answers, endpoint_url, open_engine_reader, open_read_client
from sinks.exceptions import EndpointError
from sinks.sql_client import SqlParser
from sinks.sql_endpoint import TAG_PREFIX, SqlEndpoint, open_sql_endpoint
from sinks.sql_policy import QueryRefused
from sinks.sql_wire import native_for_revision
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

READONLY = 164
ACCESS_DENIED = 497
SYNTAX_ERROR = 62
# Runs for minutes on any machine; only a limit or a kill ends it within a test.
ENDLESS = "SELECT sum(sipHash64(number)) FROM numbers(300000000000)"
TREES = Path(__file__).parents[2] / "unit" / "sinks" / "fixtures" / "sql_trees.json"


@pytest.fixture
def endpoint_factory(
    writer: Client, warehouse_settings: Settings
) -> Iterator[Callable[..., SqlEndpoint]]:
    """Start endpoints on the test's warehouse; keyword arguments override `clickhouse`."""
    started: list[SqlEndpoint] = []

    def start(**clickhouse: Any) -> SqlEndpoint:
        section = warehouse_settings.clickhouse.model_copy(update=clickhouse)
        endpoint = open_sql_endpoint(warehouse_settings.model_copy(update={"clickhouse": section}))
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()


@pytest.fixture
def endpoint(endpoint_factory: Callable[..., SqlEndpoint], writer: Client) -> SqlEndpoint:
    writer.command("INSERT INTO incidents.alerts (alert_id, rule) VALUES ('a1', 'spike')")
    return endpoint_factory(sql_max_body_bytes=64 * 1024)


def http(
    endpoint: SqlEndpoint,
    query: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> tuple[int, bytes, Message]:
    """Send one request; return (status, body, headers), errors included."""
    if query is not None:
        params["query"] = query
    url = f"{endpoint.url}/?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def refused_with(endpoint: SqlEndpoint, query: str, code: int, **params: str) -> bytes:
    status, body, headers = http(endpoint, query, **params)
    assert headers["X-ClickHouse-Exception-Code"] == str(code), body
    assert 400 <= status < 500, body
    return body


def start_request(endpoint: SqlEndpoint, query: str, path: str = "/") -> socket.socket:
    """Send a query over a raw connection and leave it open (close it to walk away)."""
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=60)
    data = query.encode()
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(data)}\r\n\r\n"
    sock.sendall(head.encode() + data)
    return sock


@contextmanager
def endless_query(endpoint: SqlEndpoint, writer: Client) -> Iterator[socket.socket]:
    """Hold a connection whose query only a kill ends, once the engine runs it.

    On exit the client walks away, and the block waits until the query is gone.
    """
    sock = start_request(endpoint, ENDLESS)
    try:
        wait_for("the query to run", lambda: len(running(writer)) == 1)
        yield sock
    finally:
        sock.close()
    wait_for("the query to be killed", lambda: not running(writer))


def running(writer: Client) -> list[str]:
    """The endpoint's queries the engine is running now (seen by the unrestricted writer)."""
    rows = writer.query(
        "SELECT query FROM system.processes"
        " WHERE position(query, {p:String}) > 0 AND query_id != queryID()",
        parameters={"p": TAG_PREFIX},
    ).result_rows
    return [row[0] for row in rows]


def counter(name: str, **labels: str) -> float:
    return SINK_REGISTRY.get_sample_value(f"{name}_total", labels) or 0.0


# --- clickhouse-connect keeps working ------------------------------------------------------


def test_clickhouse_connect_reads_through_the_endpoint(endpoint: SqlEndpoint) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    assert client.query("SELECT alert_id, rule FROM alerts").result_rows == [("a1", "spike")]
    assert client.query("SELECT {x:UInt32}", parameters={"x": 1}).result_rows == [(1,)]
    odd = "it's a \t tab \\ and 'quotes'"
    got = client.query(
        "SELECT {s:String}, {a:Array(String)}", parameters={"s": odd, "a": [odd, "b"]}
    ).result_rows
    assert got == [(odd, [odd, "b"])]
    day = datetime.date(2024, 3, 31)
    got = client.query("SELECT {d:Date} + 1", parameters={"d": day}).result_rows
    assert got == [(datetime.date(2024, 4, 1),)]
    assert client.command("SELECT 1") == 1
    assert client.query("SELECT count() FROM incidents.v_district_day").result_rows == [(0,)]
    frame = client.query_df("SELECT number AS n FROM numbers(3) ORDER BY n")
    assert frame["n"].tolist() == [0, 1, 2]
    # Large parameters: clickhouse-connect sends the query and them as a multipart form.
    big = "x" * 20_000
    assert client.query("SELECT length({s:String})", parameters={"s": big}).result_rows == [
        (20_000,)
    ]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"hello", {"Content-Encoding": "gzip"}),
        (b"hello", {"Content-Encoding": "lz4"}),
        (b"", {"Content-Encoding": "lz4"}),
        (
            lz4.frame.compress(b"SELECT 5") + lz4.frame.compress(b" + 1"),
            {"Content-Encoding": "lz4"},
        ),
        (
            b"--b\r\nContent-Disposition: form-data; name=query\r\n"
            b"Content-Type: text/plain; charset=nope-xx\r\n\r\nSELECT 1\r\n--b--\r\n",
            {"Content-Type": "multipart/form-data; boundary=b"},
        ),
        (
            b"--b\r\nContent-Disposition: form-data; name=query\r\n"
            b"Content-Transfer-Encoding: x-foo\r\n\r\nSELECT 1\r\n--b--\r\n",
            {"Content-Type": "multipart/form-data; boundary=b"},
        ),
        (b"x" * 600_000, {"Content-Type": "multipart/form-data; boundary=b"}),
    ],
)
def test_a_body_that_cannot_be_read_is_a_client_error(
    endpoint: SqlEndpoint, body: bytes, headers: dict[str, str]
) -> None:
    status, answer, answer_headers = http(endpoint, body=body, headers=headers)
    assert status == 400, answer[:300]
    assert answer_headers["X-ClickHouse-Exception-Code"] == "36", answer[:300]
    assert http(endpoint, "SELECT 1")[:2] == (200, b"1\n")


def test_a_body_that_never_arrives_is_answered_and_the_connection_closed(
    endpoint_factory: Callable[..., SqlEndpoint],
) -> None:
    endpoint = endpoint_factory(sql_max_execution_s=1.0)
    sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=60)
    try:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nSELECT")
        answer = b""
        while chunk := sock.recv(65536):  # waits for the answer, then the close
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"did not arrive within 1 s" in answer


def test_form_bodies_carry_the_query_and_its_parameters(endpoint: SqlEndpoint) -> None:
    form, content_type = urllib3.encode_multipart_formdata(
        {"query": "SELECT {n:UInt8} + 1", "param_n": "41", "other": "ignored"}
    )
    status, body, _ = http(endpoint, body=form, headers={"Content-Type": content_type})
    assert (status, body) == (200, b"42\n")
    # The guard judges what a form carries like any query.
    form, content_type = urllib3.encode_multipart_formdata(
        {"query": "SELECT * FROM system.processes"}
    )
    status, body, headers = http(endpoint, body=form, headers={"Content-Type": content_type})
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == str(ACCESS_DENIED)
    # An urlencoded body (curl -d) is the query itself, as ClickHouse reads it.
    status, body, _ = http(
        endpoint,
        body=b"SELECT 6 * 7",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, body) == (200, b"42\n")
    with_db = clickhouse_connect.get_client(
        host="127.0.0.1", port=endpoint.port, database="incidents", compress="lz4"
    )
    assert with_db.command("SELECT count() FROM alerts") == 1


def test_compressed_request_bodies(endpoint: SqlEndpoint) -> None:
    query = b"SELECT count() FROM alerts"
    status, body, _ = http(
        endpoint, body=lz4.frame.compress(query), headers={"Content-Encoding": "lz4"}
    )
    assert (status, body) == (200, b"1\n")
    status, body, _ = http(
        endpoint, body=gzip.compress(query), headers={"Content-Encoding": "gzip"}
    )
    assert (status, body) == (200, b"1\n")


def test_show_describe_exists_and_explain(endpoint: SqlEndpoint) -> None:
    status, body, _ = http(endpoint, "SHOW TABLES")
    assert status == 200 and b"alerts\n" in body
    status, body, _ = http(endpoint, "DESCRIBE TABLE alerts FORMAT JSONEachRow")
    assert status == 200 and json.loads(body.splitlines()[0])["name"] == "alert_id"
    assert http(endpoint, "EXISTS incidents.alerts")[:2] == (200, b"1\n")
    status, body, _ = http(endpoint, "SHOW CREATE TABLE alerts")
    assert status == 200 and b"CREATE TABLE incidents.alerts" in body
    status, body, _ = http(endpoint, "EXPLAIN SELECT count() FROM alerts")
    assert status == 200 and body
    status, body, headers = http(endpoint, "SHOW DATABASES", default_format="JSONEachRow")
    assert status == 200 and headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert {"name": "incidents"} in [json.loads(line) for line in body.splitlines()]


def test_errors_carry_the_clickhouse_code(endpoint: SqlEndpoint) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(DatabaseError) as e:
        client.query("SELECT * FROM no_such_table")
    assert e.value.code == 60


def test_ping_get_and_body_limit(endpoint: SqlEndpoint) -> None:
    with urllib.request.urlopen(f"{endpoint.url}/ping", timeout=5) as r:
        assert r.read() == b"Ok.\n"
    status, body, headers = http(endpoint, "SELECT count() FROM alerts", database="incidents")
    assert (status, body, headers["X-ClickHouse-Format"]) == (200, b"1\n", "TabSeparated")
    status, _, _ = http(endpoint, body=b"SELECT 1 -- " + b"x" * 70_000)
    assert status == 413
    big = lz4.frame.compress(b"SELECT 1 -- " + b"x" * 70_000)  # small, but not once decoded
    assert http(endpoint, body=big, headers={"Content-Encoding": "lz4"})[0] == 413


# --- only reads, one statement, nothing outlives a request ---------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO alerts (alert_id) VALUES ('x')",
        "ALTER TABLE alerts DELETE WHERE 1",
        "DROP TABLE alerts",
        "CREATE TABLE t (x Int8) ENGINE = Memory",
        "CREATE TEMPORARY TABLE t (x Int8)",
        "SET readonly = 0",
        "SELECT 1 SETTINGS readonly = 0",
        "KILL QUERY WHERE query LIKE 'INSERT%'",
        "SYSTEM STOP MERGES",
        "SHOW PROCESSLIST",
        "USE system",
        "OPTIMIZE TABLE alerts FINAL",
    ],
)
def test_anything_but_a_read_is_refused(endpoint: SqlEndpoint, statement: str) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(DatabaseError) as refused:
        client.command(statement)
    assert refused.value.code == READONLY
    assert client.command("SELECT count() FROM alerts") == 1
    assert client.command("SELECT currentDatabase()") == "incidents"


def test_client_insert_is_refused(endpoint: SqlEndpoint, writer: Client) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(DatabaseError) as refused:
        client.insert("alerts", [["x"]], column_names=["alert_id"])
    assert refused.value.code == READONLY
    assert writer.command("SELECT count() FROM incidents.alerts") == 1


def test_a_temporary_table_cannot_be_created_or_filled(endpoint: SqlEndpoint) -> None:
    refused_with(endpoint, "CREATE TEMPORARY TABLE big (x UInt64)", READONLY)
    refused_with(endpoint, "INSERT INTO big SELECT number FROM numbers(1000)", READONLY)
    refused_with(endpoint, "SELECT count() FROM big", 60)  # 60: UNKNOWN_TABLE, nothing was made


def test_settings_never_outlive_a_request(endpoint: SqlEndpoint) -> None:
    refused_with(endpoint, "SET limit = 2", READONLY)
    refused_with(endpoint, "SELECT number FROM numbers(7) SETTINGS limit = 2", READONLY)
    refused_with(endpoint, "SELECT number FROM numbers(7)", READONLY, limit="2")
    refused_with(endpoint, "SELECT 1", 115, no_such_setting="1")
    for _ in range(4):  # every pool client, whichever answers
        status, body, _ = http(endpoint, "SELECT number FROM numbers(7)")
        assert (status, body.count(b"\n")) == (200, 7)
    # A setting equal to the session's own value is no change: accepted, like ClickHouse.
    current = str(64 * 1024 * 1024)
    assert http(endpoint, "SELECT 1", max_result_bytes=current)[:2] == (200, b"1\n")
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    with pytest.raises(ProgrammingError):  # clickhouse-connect sees every setting read-only
        client.query("SELECT 1", settings={"max_threads": 2})


def test_one_statement_per_request(endpoint: SqlEndpoint) -> None:
    refused_with(endpoint, "SELECT 1; SELECT 2", SYNTAX_ERROR)
    refused_with(endpoint, "SELECT 'first'; SELECT throwIf(1)", SYNTAX_ERROR)
    refused_with(endpoint, "SELECT 1; INSERT INTO alerts (alert_id) VALUES ('x')", SYNTAX_ERROR)
    # Nothing of the refused requests is prepended to the next answer.
    assert http(endpoint, "SELECT 3")[:2] == (200, b"3\n")
    assert http(endpoint, "SELECT 4;  ")[:2] == (200, b"4\n")
    assert http(endpoint, "SELECT 5; -- done")[:2] == (200, b"5\n")


# --- the host and other servers are out of reach ------------------------------------------


@pytest.fixture
def secret(warehouse_settings: Settings) -> Path:
    path = warehouse_settings.paths.var_dir / "push-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s3cr3t-token\n")
    return path


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM file('{secret}', 'LineAsString')",
        "SELECT * FROM file('/etc/shadow', 'LineAsString')",
        "SELECT * FROM file('/proc/self/environ', 'RawBLOB')",
        "SELECT file('{secret}')",
        "SELECT FILE('/etc/hostname')",
        "DESCRIBE file('{secret}', 'LineAsString')",
        "SELECT 1 WHERE 's3cr3t-token' IN (SELECT * FROM file('{secret}', 'LineAsString'))",
        "SELECT * FROM python('secret')",
        "SELECT * FROM filesystem('/etc')",
    ],
)
def test_host_files_cannot_be_read(endpoint: SqlEndpoint, secret: Path, query: str) -> None:
    body = refused_with(endpoint, query.format(secret=secret), ACCESS_DENIED)
    assert b"s3cr3t" not in body


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1 INTO OUTFILE '{out}'",
        "SELECT 1 INTO OUTFILE '{out}' APPEND",
        "SELECT 1 INTO OUTFILE '{out}' TRUNCATE FORMAT CSV",
        "SELECT 1 INTO OUTFILE '{out}' AND STDOUT",
        "SHOW TABLES INTO OUTFILE '{out}'",
        "EXPLAIN SELECT 1 INTO OUTFILE '{out}'",
        "INSERT INTO FUNCTION file('{out}', 'CSV') SELECT 1",
    ],
)
def test_host_files_cannot_be_written(endpoint: SqlEndpoint, tmp_path: Path, query: str) -> None:
    out = tmp_path / "written.txt"
    status, body, _ = http(endpoint, query.format(out=out))
    assert status == 403, body
    assert not out.exists()


def test_other_servers_are_never_contacted(endpoint: SqlEndpoint) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        for query in [
            f"INSERT INTO FUNCTION url('http://127.0.0.1:{port}/v1/reports', 'JSONEachRow', "
            "'x String') SELECT 'x'",
            f"SELECT * FROM url('http://127.0.0.1:{port}/', 'CSV', 'x String')",
            f"SELECT * FROM remote('127.0.0.1:{port}', system.one)",
        ]:
            status, _, _ = http(endpoint, query)
            assert status == 403  # refused before any connection was tried
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


# --- the warehouse database and a few harmless system tables only -------------------------


@pytest.mark.parametrize(
    "table",
    ["disks", "processes", "parts", "query_log", "stack_trace", "mutations", "users"],
)
def test_revealing_system_tables_are_refused(endpoint: SqlEndpoint, table: str) -> None:
    refused_with(endpoint, f"SELECT * FROM system.{table}", ACCESS_DENIED)
    refused_with(endpoint, f"SELECT count() FROM (SELECT * FROM system.{table})", ACCESS_DENIED)


@pytest.mark.parametrize(
    "table", ["one", "settings", "functions", "data_type_families", "time_zones"]
)
def test_system_tables_clients_need_are_readable(endpoint: SqlEndpoint, table: str) -> None:
    status, body, _ = http(endpoint, f"SELECT count() > 0 FROM system.{table}")
    assert (status, body) == (200, b"1\n")


def test_catalog_tables_show_only_the_warehouse(endpoint: SqlEndpoint) -> None:
    _, body, _ = http(endpoint, "SELECT name FROM system.databases")
    assert body == b"incidents\n"
    _, body, _ = http(endpoint, "SELECT DISTINCT database FROM system.tables")
    assert body == b"incidents\n"
    _, body, _ = http(endpoint, "SELECT name FROM system.tables WHERE name LIKE 'v\\_%'")
    assert b"v_province_quarter\n" in body
    _, body, _ = http(endpoint, "SELECT count() FROM system.tables WHERE database = 'system'")
    assert body == b"0\n"
    status, body, _ = http(
        endpoint,
        "SELECT type FROM system.columns WHERE table = 'v_province_quarter' AND name = 'quarter'",
    )
    assert (status, body) == (200, b"Date32\n")
    _, body, _ = http(endpoint, "SELECT DISTINCT database FROM system.columns")
    assert body == b"incidents\n"
    # A query cannot lift the filters: SET and SETTINGS are refused, the session is frozen.
    refused_with(endpoint, "SET additional_table_filters = ''", READONLY)
    refused_with(
        endpoint, "SELECT 1 FROM system.tables SETTINGS additional_table_filters = ''", READONLY
    )
    refused_with(endpoint, "SELECT 1", READONLY, additional_table_filters="{}")


def test_only_the_warehouse_database(endpoint: SqlEndpoint) -> None:
    refused_with(endpoint, "SELECT * FROM INFORMATION_SCHEMA.tables", ACCESS_DENIED)
    refused_with(endpoint, "SHOW TABLES FROM system", ACCESS_DENIED)
    refused_with(endpoint, "SELECT 1", ACCESS_DENIED, database="system")
    refused_with(endpoint, "SELECT * FROM {t:Identifier}", ACCESS_DENIED, param_t="system.disks")
    status, body, _ = http(endpoint, "SELECT count() FROM {t:Identifier}", param_t="alerts")
    assert (status, body) == (200, b"1\n")


def test_refusals_are_counted(endpoint: SqlEndpoint, tmp_path: Path) -> None:
    refusals = counter("incidents_sql_refusals", reason="outfile")
    ok = counter("incidents_sql_requests", outcome="ok")
    http(endpoint, f"SELECT 1 INTO OUTFILE '{tmp_path / 'x'}'")
    http(endpoint, "SELECT 1")
    assert counter("incidents_sql_refusals", reason="outfile") == refusals + 1
    assert counter("incidents_sql_requests", outcome="ok") == ok + 1


# --- bounded -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["TabSeparated", "JSON"])  # streamed / materialized by chdb
def test_results_are_bounded(endpoint_factory: Callable[..., SqlEndpoint], fmt: str) -> None:
    endpoint = endpoint_factory(sql_max_result_bytes=256 * 1024)
    status, body, headers = http(endpoint, f"SELECT number FROM numbers(10000000) FORMAT {fmt}")
    assert headers["X-ClickHouse-Exception-Code"] == "396", body  # TOO_MANY_ROWS_OR_BYTES
    assert status == 500
    assert http(endpoint, "SELECT number FROM numbers(100)")[0] == 200


def test_memory_is_bounded(endpoint_factory: Callable[..., SqlEndpoint]) -> None:
    endpoint = endpoint_factory(sql_max_memory_bytes=16 * 1024 * 1024)
    _, body, headers = http(endpoint, "SELECT length(groupArray(number)) FROM numbers(1e8)")
    assert headers["X-ClickHouse-Exception-Code"] == "241", body  # MEMORY_LIMIT_EXCEEDED


def test_execution_time_is_bounded(endpoint_factory: Callable[..., SqlEndpoint]) -> None:
    endpoint = endpoint_factory(sql_max_execution_s=1.0)
    timeouts = counter("incidents_sql_requests", outcome="timeout")
    _, body, headers = http(endpoint, ENDLESS)
    assert headers["X-ClickHouse-Exception-Code"] == "159", body  # TIMEOUT_EXCEEDED
    assert counter("incidents_sql_requests", outcome="timeout") == timeouts + 1


def test_a_client_that_leaves_cancels_its_query_and_frees_its_slot(
    endpoint_factory: Callable[..., SqlEndpoint], writer: Client
) -> None:
    endpoint = endpoint_factory(
        sql_max_concurrent=1, sql_max_execution_s=600.0, sql_queue_timeout_s=30.0
    )
    cancelled = counter("incidents_sql_requests", outcome="cancelled")
    with endless_query(endpoint, writer):
        pass  # leaves, and waits until the engine no longer runs the query
    # The only slot is free again (a busy slot would answer 503 after the queue timeout).
    assert http(endpoint, "SELECT 1")[:2] == (200, b"1\n")
    assert counter("incidents_sql_requests", outcome="cancelled") == cancelled + 1


def test_a_query_with_tighter_settings_is_killed_too(
    endpoint_factory: Callable[..., SqlEndpoint], writer: Client
) -> None:
    endpoint = endpoint_factory(sql_max_concurrent=1, sql_max_execution_s=600.0)
    sock = start_request(endpoint, ENDLESS, path="/?max_execution_time=500")
    try:  # it runs on a session of its own, opened with the lower limit
        wait_for("the query to run", lambda: len(running(writer)) == 1)
    finally:
        sock.close()
    wait_for("the query to be killed", lambda: not running(writer))
    assert http(endpoint, "SELECT 1")[:2] == (200, b"1\n")


def test_all_slots_busy_past_the_queue_timeout_is_503(
    endpoint_factory: Callable[..., SqlEndpoint], writer: Client
) -> None:
    endpoint = endpoint_factory(
        sql_max_concurrent=1, sql_max_execution_s=600.0, sql_queue_timeout_s=0.5
    )
    with endless_query(endpoint, writer):
        status, body, headers = http(endpoint, "SELECT 1")
        assert status == 503, body
        assert headers["X-ClickHouse-Exception-Code"] == "202"  # TOO_MANY_SIMULTANEOUS_QUERIES
        # Refusals are decided before a slot is needed.
        refused_with(endpoint, "SELECT * FROM system.processes", ACCESS_DENIED)
    assert http(endpoint, "SELECT 1")[:2] == (200, b"1\n")


def test_the_writer_is_never_held_up_by_an_analyst_query(
    endpoint_factory: Callable[..., SqlEndpoint], writer: Client
) -> None:
    endpoint = endpoint_factory(sql_max_execution_s=600.0)
    with endless_query(endpoint, writer):
        writer.command("INSERT INTO incidents.alerts (alert_id, rule) VALUES ('w1', 'spike')")
        # The insert returned while the analyst's (600 s) query still ran: not held up by it.
        assert len(running(writer)) == 1
    assert writer.command("SELECT count() FROM incidents.alerts WHERE alert_id = 'w1'") == 1


def test_stop_kills_running_queries(
    endpoint_factory: Callable[..., SqlEndpoint], writer: Client
) -> None:
    endpoint = endpoint_factory(sql_max_execution_s=600.0)
    with endless_query(endpoint, writer):
        endpoint.stop()
        assert not running(writer)


# --- headers ---------------------------------------------------------------------------------


def test_a_query_id_with_a_line_break_gets_a_normal_reply(endpoint: SqlEndpoint) -> None:
    status, body, headers = http(endpoint, "SELECT 1", query_id="q1\r\nX-Injected: yes")
    assert (status, body) == (200, b"1\n")
    assert headers["X-Injected"] is None
    assert "\n" not in headers["X-ClickHouse-Query-Id"]
    assert http(endpoint, "SELECT 1", query_id="report-2024.q1")[2]["X-ClickHouse-Query-Id"] == (
        "report-2024.q1"
    )


# --- opening ---------------------------------------------------------------------------------


def test_writer_keeps_writing_next_to_the_read_only_client(
    endpoint: SqlEndpoint, writer: Client
) -> None:
    writer.command("INSERT INTO incidents.alerts (alert_id) VALUES ('a2')")
    client = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    assert client.command("SELECT count() FROM alerts") == 2


def on_port(settings: Settings, port: int) -> Settings:
    """The same settings with CLICKHOUSE_SQL_PORT=port."""
    section = settings.clickhouse.model_copy(update={"sql_port": port})
    return settings.model_copy(update={"clickhouse": section})


def test_open_read_client_prefers_the_endpoint(
    endpoint: SqlEndpoint, warehouse_settings: Settings
) -> None:
    settings = on_port(warehouse_settings, endpoint.port)
    # Something answers on the configured port, but this var dir's sink recorded nothing:
    # it is not this warehouse's endpoint (another stack's, say), so it is not used.
    assert endpoint_url(settings) is None and not endpoint_answers(settings)
    ready = sink_ready_file(settings.paths)
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.write_text(json.dumps({"pid": 1, "sql_endpoint": endpoint.url}))
    try:
        assert endpoint_answers(settings)
        client = open_read_client(settings)
        assert client.command("SELECT count() FROM alerts") == 1
        assert "http" in type(client).__name__.lower()
    finally:
        ready.unlink()


def test_port_in_use_is_a_typed_error(endpoint: SqlEndpoint, warehouse_settings: Settings) -> None:
    with pytest.raises(EndpointError):
        open_sql_endpoint(on_port(warehouse_settings, endpoint.port))


def test_open_read_client_falls_back_to_the_folder_and_guards_it(
    writer: Client, warehouse_settings: Settings, secret: Path, tmp_path: Path
) -> None:
    # No sink recorded an endpoint (port 0): the folder is opened directly (same process
    # here), read-only.
    settings = warehouse_settings
    assert endpoint_url(settings) is None
    client = open_read_client(settings)
    out = tmp_path / "out.txt"
    try:
        assert client.command("SELECT count() FROM alerts") == 0
        assert client.query("SELECT {x:UInt8} + 1", parameters={"x": 2}).result_rows == [(3,)]
        for statement, reason in [
            ("INSERT INTO alerts (alert_id) VALUES ('x')", "not_a_read"),
            (f"SELECT * FROM file('{secret}', 'LineAsString')", "table_function"),
            (f"SELECT file('{secret}')", "forbidden_function"),
            (f"SELECT 1 INTO OUTFILE '{out}'", "outfile"),
            ("SELECT * FROM system.processes", "forbidden_table"),
            ("KILL QUERY WHERE 1", "not_a_read"),
        ]:
            with pytest.raises(QueryRefused) as refused:
                client.query(statement)
            assert refused.value.reason == reason
        with pytest.raises(DatabaseError):
            client.insert("alerts", [["x"]], column_names=["alert_id"])
        assert not out.exists()
    finally:
        client.close()


def test_the_cli_reports_a_refusal_on_one_line(
    writer: Client, warehouse_settings: Settings, secret: Path
) -> None:
    settings = warehouse_settings  # no endpoint recorded: the folder, guarded
    with pytest.raises(CliError) as error:
        query(settings, f"SELECT * FROM file('{secret}', 'LineAsString')")
    message = str(error.value)
    assert message.endswith("(code 497)") and "Code:" not in message
    assert "\n" not in message and "s3cr3t" not in message


# --- the parser's trees behind the unit tests ------------------------------------------------


def test_stored_parser_trees_match_the_engine(writer: Client, warehouse_settings: Settings) -> None:
    trees = json.loads(TREES.read_text())
    reader = open_engine_reader(warehouse_settings)
    try:
        parser = SqlParser(reader.raw_query)
        changed = [query for query, tree in trees.items() if parser.parse(query) != tree]
    finally:
        reader.close()
    assert not changed, f"parseQueryToJSON changed; update {TREES.name} for: {changed}"


# --- what analysts' tools send ---------------------------------------------------------------


def test_format_and_database_headers(endpoint: SqlEndpoint) -> None:
    headers = {
        "X-ClickHouse-Format": "JSONEachRow",
        "X-ClickHouse-Database": "incidents",
        "X-ClickHouse-User": "default",
        "X-ClickHouse-Key": "",
    }
    status, body, reply = http(endpoint, "SELECT count() AS n FROM alerts", headers=headers)
    assert (status, json.loads(body)) == (200, {"n": 1})
    assert reply["X-ClickHouse-Format"] == "JSONEachRow"
    status, body, _ = http(endpoint, "SELECT 1", headers={"X-ClickHouse-Database": "system"})
    assert status == 403, body
    # The RowBinaryWithNamesAndTypes header: column count, names, types, then the row.
    status, body, _ = http(
        endpoint,
        "SELECT toUInt8(7) AS x",
        headers={"X-ClickHouse-Format": "RowBinaryWithNamesAndTypes"},
    )
    assert (status, body) == (200, b"\x01\x01x\x05UInt8\x07")


def test_compress_answers_in_clickhouse_blocks(endpoint: SqlEndpoint) -> None:
    plain = http(endpoint, "SELECT number FROM numbers(300000)")[1]
    status, body, _ = http(endpoint, "SELECT number FROM numbers(300000)", compress="1")
    assert status == 200
    out, offset = bytearray(), 0
    while offset < len(body):  # checksum (16), method, sizes, LZ4 block
        method, size, raw_size = struct.unpack_from("<BII", body, offset + 16)
        assert method == 0x82
        block = body[offset + 16 : offset + 16 + size]
        digest = CityHash128(block)  # as clickhouse-driver writes it: high half first
        assert body[offset : offset + 16] == struct.pack(
            "<QQ", digest >> 64, digest & 0xFFFFFFFFFFFFFFFF
        )
        out += lz4.block.decompress(block[9:], uncompressed_size=raw_size)
        offset += 16 + size
    assert bytes(out) == plain and len(plain) > len(body)


def test_settings_that_tighten_apply_to_that_query_only(endpoint: SqlEndpoint) -> None:
    status, body, headers = http(endpoint, "SELECT number FROM numbers(10)", max_result_rows="3")
    assert headers["X-ClickHouse-Exception-Code"] == "396", body  # TOO_MANY_ROWS_OR_BYTES
    status, body, headers = http(
        endpoint, "SELECT count() FROM numbers(100000)", max_rows_to_read="10"
    )
    assert headers["X-ClickHouse-Exception-Code"] == "158", body  # TOO_MANY_ROWS
    assert http(endpoint, "SELECT 1", max_execution_time="5")[:2] == (200, b"1\n")
    # ... and to that query only: the next ones on every session have the endpoint's limits.
    for _ in range(4):
        status, body, _ = http(endpoint, "SELECT number FROM numbers(10)")
        assert (status, body.count(b"\n")) == (200, 10)
    assert http(endpoint, "SELECT getSetting('max_execution_time')")[1] == b"30\n"


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("SELECT 1", {"max_execution_time": "31"}),
        ("SELECT 1", {"max_execution_time": "0"}),  # 0: no limit at all
        ("SELECT 1", {"max_result_bytes": str(64 * 1024 * 1024 + 1)}),
        ("SELECT 1", {"max_memory_usage": "0"}),
        ("SELECT 1", {"result_overflow_mode": "break"}),
        ("SELECT 1", {"readonly": "0", "max_execution_time": "3600"}),
        ("SELECT 1 SETTINGS max_execution_time = 5", {}),  # even tighter: clauses never
        ("SET max_execution_time = 5", {}),
        ("SET max_execution_time = 3600", {}),
        ("SELECT 1 SETTINGS max_execution_time = 3600", {}),
    ],
)
def test_nothing_loosens_a_limit(endpoint: SqlEndpoint, query: str, params: dict[str, str]) -> None:
    refused_with(endpoint, query, READONLY, **params)
    assert http(endpoint, "SELECT getSetting('max_execution_time')")[1] == b"30\n"


def test_a_bad_setting_value_is_a_clickhouse_error(endpoint: SqlEndpoint) -> None:
    refused_with(endpoint, "SELECT 1", 36, max_result_rows="lots")
    refused_with(endpoint, "SELECT 1", 36, max_result_rows="-1")


def test_errors_point_into_the_clients_own_text(endpoint: SqlEndpoint) -> None:
    _, body, headers = http(endpoint, "SELEC 1")
    message = body.decode()
    assert headers["X-ClickHouse-Exception-Code"] == "62"
    assert "failed at position 7" in message, message
    assert "parseQueryToJSON" not in message and "sql-endpoint" not in message
    _, body, _ = http(endpoint, "SELECT 1\nFROM alerts WHERE (")
    assert "(line 2, col" in body.decode() and "parseQueryToJSON" not in body.decode()
    _, body, headers = http(endpoint, "SELECT no_such_column FROM alerts")
    assert headers["X-ClickHouse-Exception-Code"] == "47", body
    assert b"sql-endpoint" not in body


def test_a_missing_or_ill_typed_parameter_is_a_clickhouse_error(endpoint: SqlEndpoint) -> None:
    _, body, headers = http(endpoint, "SELECT {x:UInt32}")
    assert headers["X-ClickHouse-Exception-Code"] == "456", body  # UNKNOWN_QUERY_PARAMETER
    status, body, headers = http(endpoint, "SELECT {x:UInt32}", param_x="seven")
    assert 400 <= status < 500, body
    assert headers["X-ClickHouse-Exception-Code"] in {"27", "72", "457"}, body
    assert http(endpoint, "SELECT {x:UInt32}", param_x="7")[:2] == (200, b"7\n")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT count() FROM v_national_quarter_as_of(as_of = 'garbage')", "41"),
        ("SELECT count() FROM v_national_quarter_as_of()", "456"),
        ("SELECT count() FROM v_national_quarter_as_of", "90"),
        ("SELECT count() FROM system.tables FINAL", "181"),
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "306"),
    ],
)
def test_the_as_of_views_answer_a_bad_call_with_a_client_error(
    endpoint: SqlEndpoint, query: str, code: str
) -> None:
    status, body, headers = http(endpoint, body=query.encode())
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, code), body[:300]
    assert http(endpoint, "SELECT count() FROM v_national_quarter_as_of(as_of = now())")[:2] == (
        200,
        b"0\n",
    )


def test_the_cli_reports_a_syntax_error_in_the_users_text(
    endpoint: SqlEndpoint, warehouse_settings: Settings
) -> None:
    for settings in (warehouse_settings, on_port(warehouse_settings, endpoint.port)):
        ready = sink_ready_file(settings.paths)
        if settings is not warehouse_settings:  # the second time through the endpoint
            ready.parent.mkdir(parents=True, exist_ok=True)
            ready.write_text(json.dumps({"pid": 1, "sql_endpoint": endpoint.url}))
        try:
            with pytest.raises(CliError) as error:
                query(settings, "SELECT 1,\nSELEC 2")
        finally:
            ready.unlink(missing_ok=True)
        message = str(error.value)
        assert message.endswith("(code 62)") and "\n" not in message, message
        assert "(line 2, col 7)" in message, message
        assert "parseQueryToJSON" not in message and "sql-endpoint" not in message


def test_native_for_a_client_revision_walks_what_the_engine_writes(writer: Client) -> None:
    """Every type the walker knows, as the engine writes it: the walk ends where it ends."""
    data = writer.raw_query(
        "SELECT number AS n, toString(number) AS s, toLowCardinality(toString(number % 3))"
        " AS lc, toLowCardinality(toNullable('x')) AS lcn, [number, 1] AS arr,"
        " if(number % 2 = 0, NULL, number / 2) AS nf, map('k', [toString(number)]) AS m,"
        " tuple(1, 'a') AS t, CAST((1, 'b') AS Tuple(a UInt8, b String)) AS nt,"
        " toDecimal64(1.5, 2) AS d, toDecimal128(1, 20) AS d128, toDate32('2024-01-01') AS dd,"
        " toDate('2024-01-01') AS d16, now64(3, 'UTC') AS ts, now() AS dt,"
        " toFixedString('ab', 2) AS fs, generateUUIDv4() AS u, toIPv4('1.2.3.4') AS ip,"
        " toIntervalDay(1) AS iv, CAST('a' AS Enum8('a' = 1)) AS e, true AS b"
        " FROM numbers(5000) SETTINGS max_block_size = 1500",
        fmt="Native",
    )
    blocks = 4
    columns = 21
    converted = native_for_revision(data, 54460)
    assert len(converted) == len(data) + blocks * (8 + columns)


@pytest.mark.parametrize(
    ("query", "params", "code"),
    [
        ("SELECT 1 FORMAT Nope", {}, "73"),
        ("SELECT 1", {"default_format": "Nope"}, "73"),
        ("SELECT CAST(1 AS Nope)", {}, "50"),
    ],
)
def test_an_unknown_format_or_type_is_not_found(
    endpoint: SqlEndpoint, query: str, params: dict[str, str], code: str
) -> None:
    status, body, headers = http(endpoint, query, **params)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, code), body[:300]
    assert body.count(b"Code:") == 1, body[:300]
