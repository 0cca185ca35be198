"""The SQL guard's judgement over syntax trees, without the engine.

fixtures/sql_trees.json holds `parseQueryToJSON` trees as ClickHouse produced them;
tests/integration/sinks/test_sql_endpoint.py checks the engine still produces exactly these.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.exceptions import SinkError
from sinks.sql_client import SqlParser
from sinks.sql_endpoint import query_id_of
from sinks.sql_policy import (
    QueryRefused,
    ReadPolicy,
    check_explained,
    check_query,
    check_tree,
    server_params,
)

TREES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "sql_trees.json").read_text()
)
POLICY = ReadPolicy("incidents")
PARAMS = {"k": "spike", "t": "alerts", "db": "incidents", "tbl": "alerts"}

ACCEPTED = [
    "SELECT alert_id, count() FROM alerts WHERE kind = {k:String} GROUP BY alert_id",
    "SELECT 1 UNION ALL SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4",
    "WITH recent AS (SELECT * FROM incidents.incidents FINAL) SELECT count() FROM recent",
    "SELECT * FROM (SELECT province FROM v_province_quarter) AS p "
    "JOIN incidents.alerts AS a ON p.province = a.province",
    "SELECT number FROM numbers(10) UNION ALL SELECT * FROM zeros(3) "
    "UNION ALL SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM values('x UInt8', 1, 2)",
    "SELECT dummy FROM system.one",
    "SELECT name, value FROM system.settings WHERE name LIKE 'max%'",
    # Read through the session's filters: only the warehouse database's rows.
    "SELECT (SELECT count() FROM system.tables)",
    "SELECT count() FROM {t:Identifier}",
    "SELECT * FROM {db:Identifier}.{tbl:Identifier}",
    "SELECT x FROM t WHERE x IN (SELECT 1) AND x IN incidents.alerts",
    "SHOW TABLES",
    "SHOW FULL TABLES FROM incidents LIKE 'v_%'",
    "SHOW DATABASES",
    "SHOW COLUMNS FROM alerts",
    "EXPLAIN PIPELINE SELECT count() FROM alerts",
    "EXPLAIN PLAN actions = 1 SELECT 1",
]

REFUSED = {
    "SELECT * FROM file('/etc/shadow', 'LineAsString')": ("table_function", 497),
    "SELECT * FROM url('http://127.0.0.1:8088/', 'CSV') AS u JOIN numbers(1) AS n ON 1": (
        "table_function",
        497,
    ),
    "SELECT * FROM python('df')": ("table_function", 497),
    "SELECT * FROM view(SELECT 1)": ("table_function", 497),
    "SELECT file('/etc/hostname')": ("forbidden_function", 497),
    "SELECT dictGet('d', 'v', 1)": ("forbidden_function", 497),
    "SELECT joinGet('db.j', 'v', 1)": ("forbidden_function", 497),
    "SELECT getServerSetting('path')": ("forbidden_function", 497),
    "SELECT * FROM system.processes": ("forbidden_table", 497),
    "SELECT query FROM system.stack_trace": ("forbidden_table", 497),
    "SELECT 1 WHERE 1 IN system.processes": ("forbidden_table", 497),
    "SELECT * FROM INFORMATION_SCHEMA.tables": ("forbidden_table", 497),
    "SELECT * FROM `system.disks`": ("forbidden_table", 497),
    "SELECT 1 INTO OUTFILE '/tmp/out.txt'": ("outfile", 497),
    "SELECT 1 INTO OUTFILE '/tmp/out.txt' APPEND": ("outfile", 497),
    "SELECT 1 INTO OUTFILE '/tmp/out.txt' AND STDOUT": ("outfile", 497),
    "EXPLAIN SELECT 1 INTO OUTFILE '/tmp/out.txt'": ("outfile", 497),
    "SELECT * FROM numbers(10) SETTINGS limit = 2": ("setting", 164),
    "SELECT 1 FORMAT CSV SETTINGS max_threads = 1": ("setting", 164),
    "EXPLAIN SELECT 1 SETTINGS max_threads = 1": ("setting", 164),
    "INSERT INTO FUNCTION file('/tmp/x', 'CSV') SELECT 1": ("not_a_read", 164),
    "CREATE TEMPORARY TABLE tmp (x UInt8)": ("not_a_read", 164),
    "SET limit = 2": ("not_a_read", 164),
    "USE system": ("not_a_read", 164),
    "KILL QUERY WHERE query LIKE 'INSERT%'": ("not_a_read", 164),
    "SYSTEM STOP MERGES": ("not_a_read", 164),
    "SHOW MERGES": ("not_a_read", 164),
    "SHOW TABLES FROM system": ("forbidden_table", 497),
    "SHOW COLUMNS FROM system.processes": ("forbidden_table", 497),
    "EXPLAIN CURRENT TRANSACTION": ("not_a_read", 164),
    "ALTER TABLE alerts DELETE WHERE 1": ("not_a_read", 164),
    "DROP TABLE alerts": ("not_a_read", 164),
}


def test_every_stored_tree_is_judged_here() -> None:
    assert set(TREES) == {*ACCEPTED, *REFUSED, "SELECT 1 FORMAT JSONEachRow"}


@pytest.mark.parametrize("query", ACCEPTED)
def test_reads_of_the_warehouse_are_accepted(query: str) -> None:
    verdict = check_tree(TREES[query], POLICY, PARAMS)
    assert verdict.output_format is None
    assert verdict.statement == TREES[query]["type"]


@pytest.mark.parametrize(("query", "expected"), sorted(REFUSED.items()))
def test_everything_else_is_refused_with_a_reason(query: str, expected: tuple[str, int]) -> None:
    with pytest.raises(QueryRefused) as refused:
        check_tree(TREES[query], POLICY, PARAMS)
    assert (refused.value.reason, refused.value.code) == expected


def test_the_format_clause_is_reported() -> None:
    verdict = check_tree(TREES["SELECT 1 FORMAT JSONEachRow"], POLICY, {})
    assert verdict.output_format == "JSONEachRow"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"t": "system.processes"}, "forbidden_table"),
        ({"t": "system.one"}, None),
        ({"t": "alerts`; DROP"}, "bad_request"),
        ({"t": "a\\nb"}, "bad_request"),
        ({}, "bad_request"),
    ],
)
def test_identifier_parameters_are_judged_by_their_value(
    params: dict[str, str], reason: str | None
) -> None:
    tree = TREES["SELECT count() FROM {t:Identifier}"]
    if reason is None:
        check_tree(tree, POLICY, params)
        return
    with pytest.raises(QueryRefused) as refused:
        check_tree(tree, POLICY, params)
    assert refused.value.reason == reason


def test_a_two_part_parameter_name_reads_another_database_only_if_allowed() -> None:
    tree = TREES["SELECT * FROM {db:Identifier}.{tbl:Identifier}"]
    check_tree(tree, POLICY, {"db": "system", "tbl": "time_zones"})
    with pytest.raises(QueryRefused):
        check_tree(tree, POLICY, {"db": "system", "tbl": "disks"})
    with pytest.raises(QueryRefused):
        check_tree(tree, POLICY, {"db": "incidents.x", "tbl": "y"})


def test_another_configured_database_moves_the_boundary() -> None:
    tree = TREES[
        "WITH recent AS (SELECT * FROM incidents.incidents FINAL) SELECT count() FROM recent"
    ]
    with pytest.raises(QueryRefused) as refused:
        check_tree(tree, ReadPolicy("warehouse"), {})
    assert refused.value.reason == "forbidden_table"


@pytest.mark.parametrize(
    ("parts", "allowed"),
    [
        (["alerts"], True),
        (["incidents", "alerts"], True),
        (["system", "one"], True),
        (["system", "settings"], True),
        (["system", "disks"], False),
        (["system", "query_log"], False),
        (["default", "alerts"], False),
        (["incidents", "a", "b"], False),
    ],
)
def test_table_policy(parts: list[str], allowed: bool) -> None:
    assert POLICY.table_allowed(parts) is allowed


# --- DESCRIBE, EXISTS and SHOW CREATE: EXPLAIN AST text, as the engine prints it -----------

DESCRIBE = "DescribeQuery (children 1)\n TableExpression (children 1)\n  TableIdentifier {}\n"


@pytest.mark.parametrize(
    ("text", "statement", "fmt"),
    [
        (DESCRIBE.format("alerts"), "DescribeQuery", None),
        (DESCRIBE.format("incidents.alerts") + " Identifier JSON\n", "DescribeQuery", "JSON"),
        ("ExistsTableQuery  alerts (children 1)\n Identifier alerts\n", "ExistsTableQuery", None),
        (
            "ExistsTableQuery  alerts (children 2)\n Identifier alerts\n Identifier JSON\n",
            "ExistsTableQuery",
            "JSON",
        ),
        (
            "ShowCreateTableQuery system one (children 2)\n Identifier system\n Identifier one\n",
            "ShowCreateTableQuery",
            None,
        ),
    ],
)
def test_named_table_statements_are_accepted(text: str, statement: str, fmt: str | None) -> None:
    verdict = check_explained(text, POLICY)
    assert (verdict.statement, verdict.output_format) == (statement, fmt)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (DESCRIBE.format("system.processes"), "forbidden_table"),
        (
            "DescribeQuery (children 1)\n TableExpression (children 1)\n"
            "  Function file (children 1)\n   ExpressionList (children 1)\n"
            "    Literal \\'/etc/hostname\\'\n",
            "table_function",
        ),
        (
            "DescribeQuery (children 1)\n TableExpression (children 1)\n  Subquery (children 1)\n"
            "   SelectWithUnionQuery (children 1)\n",
            "not_a_read",
        ),
        (DESCRIBE.format("alerts") + " Literal \\'/tmp/x\\'\n", "outfile"),
        (DESCRIBE.format("alerts") + " Set\n", "setting"),
        (
            "ShowCreateTableQuery system processes (children 2)\n"
            " Identifier system\n Identifier processes\n",
            "forbidden_table",
        ),
        (
            "ExistsTableQuery system disks (children 3)\n"
            " Identifier system\n Identifier disks\n Identifier JSON\n",
            "forbidden_table",
        ),
        ("ShowCreateDatabaseQuery incidents  (children 1)\n Identifier incidents\n", "not_a_read"),
        ("ShowProcesslistQuery\n", "not_a_read"),
        # A name with a line break prints as two lines: more lines than the shape allows.
        (
            "ExistsTableQuery incidents x\n Identifier y (children 2)\n"
            " Identifier incidents x\n Identifier y\n Identifier t\n",
            "not_a_read",
        ),
        ("ExistsTableQuery  t (children 1)\nIdentifier t\n", "syntax"),
    ],
)
def test_other_shapes_are_refused(text: str, reason: str) -> None:
    with pytest.raises(QueryRefused) as refused:
        check_explained(text, POLICY)
    assert refused.value.reason == reason


# --- the engine calls, faked ---------------------------------------------------------------


class FakeEngine:
    """Answers the guard's engine calls like chdb does, from canned results."""

    def __init__(
        self,
        tree: dict[str, Any] | None = None,
        error: int | None = None,
        canonical: str | None = None,
    ) -> None:
        self.tree = tree
        self.error = error
        self.canonical = canonical
        self.calls: list[tuple[str, Any]] = []

    def raw_query(self, query: str, parameters: Any = None, fmt: str | None = None) -> bytes:
        self.calls.append((query, parameters))
        if query.startswith("EXPLAIN AST"):
            return DESCRIBE.format("alerts").encode()
        if query.startswith("SELECT formatQuerySingleLine"):
            if self.canonical is None:
                raise DatabaseError("Code: 62. DB::Exception: no", code=62)
            return (json.dumps({"q": self.canonical}) + "\n").encode()
        if self.error is not None:
            raise DatabaseError(f"Code: {self.error}. DB::Exception: no", code=self.error)
        return (json.dumps({"ast": json.dumps(self.tree)}) + "\n").encode()

    @property
    def explained(self) -> bool:
        return any(query.startswith("EXPLAIN") for query, _ in self.calls)


def test_the_query_text_goes_to_the_parser_as_a_parameter() -> None:
    engine = FakeEngine(TREES["SHOW TABLES"])
    text = "SHOW TABLES -- ');  DROP TABLE alerts"
    check_query(SqlParser(engine.raw_query), text, {}, POLICY)
    assert engine.calls == [("SELECT parseQueryToJSON({q:String}) AS ast", {"q": text})]


def test_a_syntax_error_or_a_second_statement_is_refused() -> None:
    engine = FakeEngine(error=62)
    with pytest.raises(QueryRefused) as refused:
        check_query(SqlParser(engine.raw_query), "SELECT 1; SELECT 2", {}, POLICY)
    assert (refused.value.reason, refused.value.code) == ("syntax", 62)
    assert len(engine.calls) == 1  # never handed to EXPLAIN


def test_statements_without_a_json_form_fall_back_to_explain_ast() -> None:
    engine = FakeEngine(error=36, canonical="DESCRIBE TABLE {t:Identifier}")
    verdict = check_query(
        SqlParser(engine.raw_query), "DESCRIBE {t:Identifier}", {"t": "x"}, POLICY
    )
    assert verdict.statement == "DescribeQuery"
    explain, params = engine.calls[-1]
    assert explain == "EXPLAIN AST DESCRIBE {t:Identifier}"
    assert {k: str(v) for k, v in params.items()} == {"t": "x"}


@pytest.mark.parametrize(
    ("canonical", "reason"),
    [
        # INSERT data is split by chdb its own way: such a text is never handed to EXPLAIN.
        ("INSERT INTO alerts FORMAT CSV", "not_a_read"),
        ("SHOW PROCESSLIST", "not_a_read"),
        (None, "syntax"),  # not one complete statement
    ],
)
def test_only_named_table_statements_reach_explain(canonical: str | None, reason: str) -> None:
    engine = FakeEngine(error=36, canonical=canonical)
    text = "INSERT INTO alerts FORMAT CSV\n1\n;\nSELECT 1 INTO OUTFILE '/tmp/x'"
    with pytest.raises(QueryRefused) as refused:
        check_query(SqlParser(engine.raw_query), text, {}, POLICY)
    assert refused.value.reason == reason
    assert not engine.explained


def test_other_engine_errors_are_not_refusals() -> None:
    engine = FakeEngine(error=241)
    with pytest.raises(DatabaseError) as error:
        check_query(SqlParser(engine.raw_query), "SELECT 1", {}, POLICY)
    assert not isinstance(error.value, QueryRefused)
    assert error.value.code == 241


def test_refusals_are_clickhouse_errors_and_sink_errors() -> None:
    refused = QueryRefused("outfile", 497, "INTO OUTFILE is not allowed")
    assert isinstance(refused, DatabaseError)
    assert isinstance(refused, SinkError)
    assert str(refused) == "Code: 497. DB::Exception: INTO OUTFILE is not allowed. (ACCESS_DENIED)"
    assert refused.code == 497


def test_parameters_are_kept_only_when_they_bind_on_the_server() -> None:
    assert server_params("SELECT {x:String}", {"x": "a"}) == {"x": "a"}
    # Without a placeholder clickhouse-connect would %-format them into the text itself.
    assert server_params("SELECT 1 %(x)s", {"x": "1; DROP TABLE alerts"}) == {}
    assert server_params("SELECT '100%'", {"x": "a"}) == {}
    assert server_params("SELECT 1", {}) == {}


@pytest.mark.parametrize(
    ("requested", "echoed"),
    [("q-1.2_3", True), ("x\r\nX-Injected: 1", False), ("", False), ("a" * 129, False)],
)
def test_only_safe_query_ids_are_echoed(requested: str, echoed: bool) -> None:
    answer = query_id_of(requested)
    assert (answer == requested) is echoed
    assert "\r" not in answer and "\n" not in answer
