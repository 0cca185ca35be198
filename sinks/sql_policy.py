"""The SQL endpoint's read-only policy: whether a query only reads what analysts may read.

ClickHouse parses, this module judges. `SELECT parseQueryToJSON({q:String})` hands the query
text to the engine as a *parameter*: the engine parses it without running it, refuses more
than one statement (code 62) and returns the syntax tree as JSON. The pure functions here walk
that tree (pure functions; :mod:`sinks.sql_client` reaches the parser and guards a
client): one reading statement (SELECT/WITH with UNION/INTERSECT/EXCEPT, SHOW TABLES,
SHOW DATABASES, SHOW COLUMNS, EXPLAIN of one of those), no INTO OUTFILE, no SETTINGS clause,
no table functions but the number generators, no scalar function that reaches files,
dictionaries or the server's configuration, and only the configured database plus a few
harmless system tables (`system.databases/tables/columns` among them: the read-only sessions
filter those to the configured database, see sinks.clickhouse.system_table_filters).
DESCRIBE, EXISTS and SHOW CREATE have no JSON form; for them the engine prints `EXPLAIN AST`
(only after `formatQuerySingleLine` proved the text one such statement) and only a bare
table name is accepted.

The read-only engine session (readonly=1) still refuses writes, DDL and setting changes on
its own; this guard covers what readonly=1 lets through (the `file()` function, INTO OUTFILE,
KILL, USE, system tables, table functions like `python()` and `view()`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from clickhouse_connect.driver.binding import bind_query
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.exceptions import SinkError

# ClickHouse error codes the guard answers with (and branches on).
BAD_ARGUMENTS = 36
SYNTAX_ERROR = 62
UNKNOWN_SETTING = 115
READONLY = 164
UNKNOWN_QUERY_PARAMETER = 456
BAD_QUERY_PARAMETER = 457
ACCESS_DENIED = 497
_CODE_NAMES = {
    BAD_ARGUMENTS: "BAD_ARGUMENTS",
    SYNTAX_ERROR: "SYNTAX_ERROR",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
    READONLY: "READONLY",
    UNKNOWN_QUERY_PARAMETER: "UNKNOWN_QUERY_PARAMETER",
    BAD_QUERY_PARAMETER: "BAD_QUERY_PARAMETER",
    ACCESS_DENIED: "ACCESS_DENIED",
    48: "NOT_IMPLEMENTED",
}

# Table functions that only generate rows; every other one reads files, URLs, other
# servers, other tables or (chdb's `python()`) the host process's objects.
GENERATORS = frozenset(
    {"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generate_series", "generateseries"}
)
# System tables clients need and that reveal nothing about the host or other queries.
# `databases`, `tables` and `columns` are read through the session's filters
# (sinks.clickhouse.system_table_filters): only the warehouse database's rows.
SYSTEM_TABLES = frozenset(
    {
        "databases",
        "tables",
        "columns",
        "one",
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "settings",
        "functions",
        "table_functions",
        "data_type_families",
        "aggregate_function_combinators",
        "formats",
        "collations",
        "time_zones",
    }
)
# Scalar functions (lower case) that read host files, tables by name, dictionaries, the
# server's configuration or disks, or write to Keeper. Any name starting with "dict" too.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "file",
        "joinget",
        "joingetornull",
        "hascolumnintable",
        "catboostevaluate",
        "naivebayesclassifier",
        "naivebayesclassifierwithprob",
        "naivebayesclassifierwithallprobs",
        "getserversetting",
        "getmergetreesetting",
        "filesystemavailable",
        "filesystemcapacity",
        "filesystemunreserved",
        "generateserialid",
        "getclienthttpheader",
        "showcertificate",
    }
)
_FORBIDDEN_PREFIXES = ("dict",)
# `x IN db.table` reads a table named by a plain identifier.
IN_FUNCTIONS = frozenset(
    {
        "in",
        "notin",
        "globalin",
        "globalnotin",
        "nullin",
        "notnullin",
        "globalnullin",
        "globalnotnullin",
    }
)
_SELECTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery"})
_EXPLAIN_KINDS = frozenset(
    {
        "EXPLAIN",
        "EXPLAIN AST",
        "EXPLAIN SYNTAX",
        "EXPLAIN QUERY TREE",
        "EXPLAIN PIPELINE",
        "EXPLAIN ESTIMATE",
    }
)
# Boolean fields of ShowTablesQuery that keep it SHOW [FULL] TABLES or SHOW DATABASES (a
# true field not listed here is SHOW MERGES, CLUSTERS, DICTIONARIES, SETTINGS, ...).
_SHOW_TABLES_FLAGS = frozenset(
    {
        "full",
        "databases",
        "not_like",
        "case_insensitive_like",
        "is_outfile_append",
        "is_outfile_truncate",
        "is_into_outfile_with_stdout",
    }
)
# Statements without a JSON form, checked on their `EXPLAIN AST` text instead: how
# ClickHouse formats them, and their EXPLAIN AST roots.
_NAMED_TABLE_STATEMENTS = (
    "DESCRIBE TABLE ",
    "EXISTS TABLE ",
    "EXISTS VIEW ",
    "SHOW CREATE TABLE ",
    "SHOW CREATE VIEW ",
)
_NAMED_TABLE_ROOTS = frozenset(
    {"ExistsTableQuery", "ExistsViewQuery", "ShowCreateTableQuery", "ShowCreateViewQuery"}
)
_AS_OF_VIEW = re.compile(r"v_[a-z0-9_]+_as_of\Z")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_FORMAT_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
_LEADING_KEYWORDS = re.compile(r"[A-Z]+(?: [A-Z]+)*")


class QueryRefused(SinkError, DatabaseError):
    """The SQL guard refused a query before it ran.

    A clickhouse-connect DatabaseError, so callers that handle ClickHouse errors handle it:
    ``code`` is the ClickHouse error code a server would answer with, ``reason`` a short
    label (not_a_read, syntax, outfile, table_function, forbidden_table, forbidden_function,
    setting, bad_request).
    """

    def __init__(self, reason: str, code: int, message: str) -> None:
        name = _CODE_NAMES.get(code, "UNKNOWN_EXCEPTION")
        if not message.startswith("Code:"):  # ours, not the engine's: say it the same way
            message = f"Code: {code}. DB::Exception: {message.rstrip('.')}. ({name})"
        super().__init__(message, code=code, name=name)
        self.reason = reason


class RawParam:
    """A query parameter already in ClickHouse's escaped text form (`param_<name>` over HTTP).

    str() hands it to the engine untouched instead of escaping it again.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ReadPolicy:
    """What a guarded query may read: the warehouse database and a few system tables."""

    database: str
    system_tables: frozenset[str] = SYSTEM_TABLES

    def table_allowed(self, parts: Sequence[str]) -> bool:
        """Return True if a table named by ``parts`` (dot-split) may be read.

        One part is a table (or CTE) of the session's database, which is the warehouse's.
        """
        if len(parts) == 1:
            return True
        if len(parts) == 2:
            db, table = parts
            return db == self.database or (db == "system" and table in self.system_tables)
        return False

    def table_function_allowed(self, name: str) -> bool:
        """Return True for a row generator or a parameterized view of the warehouse.

        The warehouse's parameterized views are its as-of views, `v_<name>_as_of(as_of=...)`
        (sinks/migrations/0014), which ClickHouse parses as table functions.
        """
        if name.lower() in GENERATORS:
            return True
        parts = name.split(".")
        return bool(_AS_OF_VIEW.match(parts[-1])) and self.table_allowed(parts)


@dataclass(frozen=True)
class Verdict:
    """A query the guard accepted: its statement kind and its FORMAT clause, if any."""

    statement: str
    output_format: str | None


class Parser(Protocol):
    """ClickHouse's parser, as :class:`sinks.sql_client.SqlParser` reaches it."""

    def parse(self, text: str) -> dict[str, Any] | None: ...

    def canonical(self, text: str) -> str: ...

    def explain_ast(self, text: str, params: Mapping[str, str]) -> str: ...


def check_query(
    parser: Parser, text: str, params: Mapping[str, str], policy: ReadPolicy
) -> Verdict:
    """Parse ``text`` (with its query parameters, escaped text form) and judge it.

    Raises QueryRefused when the query is not one allowed read.
    """
    tree = parser.parse(text)
    if tree is not None:
        return check_tree(tree, policy, params)
    canonical = parser.canonical(text)
    if not canonical.startswith(_NAMED_TABLE_STATEMENTS):
        kind = _LEADING_KEYWORDS.match(canonical)
        refuse_not_a_read(f"{kind.group(0) if kind else 'this'} is not a reading statement")
    return check_explained(parser.explain_ast(text, params), policy)


def check_tree(tree: Mapping[str, Any], policy: ReadPolicy, params: Mapping[str, str]) -> Verdict:
    """Judge a statement's `parseQueryToJSON` tree; raise QueryRefused if it is not allowed."""
    kind = str(tree.get("type", ""))
    body: Mapping[str, Any] = tree
    if kind == "ExplainQuery":
        inner = tree.get("query")
        if tree.get("kind") not in _EXPLAIN_KINDS or not isinstance(inner, dict):
            refuse_not_a_read(f"{tree.get('kind', 'EXPLAIN')} is not a reading statement")
        _check_statement(inner, policy, params)
        # EXPLAIN's own options (`EXPLAIN PLAN actions = 1`) are not engine settings.
        body = {key: value for key, value in tree.items() if key != "settings"}
    else:
        _check_statement(tree, policy, params)
    _walk(body, policy, params)
    return Verdict(kind, _format_of(tree))


def check_explained(text: str, policy: ReadPolicy) -> Verdict:
    """Judge DESCRIBE, EXISTS and SHOW CREATE from their `EXPLAIN AST` text.

    Only the exact shapes of a bare table name pass: any other line (a table function, a
    subquery, INTO OUTFILE, SETTINGS) is refused.
    """
    rows = [(len(line) - len(line.lstrip(" ")), line.strip(" ")) for line in text.split("\n")]
    rows = [(depth, line) for depth, line in rows if line]
    if not rows or rows[0][0] != 0 or any(depth == 0 for depth, _ in rows[1:]):
        raise QueryRefused("syntax", SYNTAX_ERROR, "cannot read the statement's syntax tree")
    root = rows[0][1].split(" ", 1)[0]
    children = rows[1:]
    if any(depth == 1 and line.split(" ", 1)[0] == "Literal" for depth, line in children):
        _refuse_outfile()
    if any(depth == 1 and line.split(" ", 1)[0] == "Set" for depth, line in children):
        refuse_settings()
    if root == "DescribeQuery":
        return _check_describe(children, policy)
    if root in _NAMED_TABLE_ROOTS:
        return _check_named_table(root, rows[0][1], children, policy)
    refuse_not_a_read(f"{root} is not a reading statement")


def server_params(text: str, params: Mapping[str, str]) -> dict[str, str]:
    """Return ``params`` if clickhouse-connect will send them as server-side parameters.

    With no `{name:Type}` placeholder in ``text`` it would format them into the text itself
    (Python %-style), so the text that runs would differ from the text checked: then the
    parameters are dropped (ClickHouse ignores unused parameters too).
    """
    if not params:
        return {}
    raw = {name: RawParam(value) for name, value in params.items()}
    try:
        bound, _ = bind_query(text, raw)
    except (ValueError, TypeError, KeyError):  # %-formatting failed: it would not bind them
        return {}
    return dict(params) if bound == text.rstrip(";") else {}


# --- the tree walk -------------------------------------------------------------------


def _check_statement(
    node: Mapping[str, Any], policy: ReadPolicy, params: Mapping[str, str]
) -> None:
    kind = node.get("type")
    if kind in _SELECTS:
        return
    if kind == "ShowTablesQuery":
        flags = {key for key, value in node.items() if value is True}
        if flags - _SHOW_TABLES_FLAGS:
            refuse_not_a_read("only SHOW [FULL] TABLES and SHOW DATABASES are allowed")
        source = node.get("from")
        if isinstance(source, dict) and _name_parts(source, params) != [policy.database]:
            _refuse_table(f"only tables of {policy.database} may be listed")
        return
    if kind == "ShowColumnsQuery":
        db, table = node.get("database") or "", str(node.get("table", ""))
        parts = [*db.split("."), *table.split(".")] if db else table.split(".")
        if not policy.table_allowed(parts):
            _refuse_table(f"{'.'.join(parts)} is not readable here")
        return
    refuse_not_a_read(f"{kind} is not a reading statement")


def _walk(node: Any, policy: ReadPolicy, params: Mapping[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, policy, params)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if "out_file" in node or node.get("is_into_outfile_with_stdout") is True:
        _refuse_outfile()
    if kind == "SetQuery":
        refuse_settings()
    elif kind == "ExplainQuery" and node.get("kind") not in _EXPLAIN_KINDS:  # in a subquery
        refuse_not_a_read(f"{node.get('kind')} is not a reading statement")
    elif kind == "TableExpression" and isinstance(node.get("table_function"), dict):
        name = str(node["table_function"].get("name", ""))
        if not policy.table_function_allowed(name):
            allowed = ", ".join(sorted(GENERATORS))
            raise QueryRefused(
                "table_function",
                ACCESS_DENIED,
                f"table function {name}() is not allowed here (only {allowed}, and the"
                f" warehouse's as-of views v_<name>_as_of)",
            )
    elif kind == "TableIdentifier":
        parts = _name_parts(node, params)
        if not policy.table_allowed(parts):
            _refuse_table(f"table {'.'.join(parts)} is not readable here")
    elif kind == "Function":
        _check_function(node, policy, params)
    elif kind == "QueryParameter" and node.get("param_type") == "Identifier":
        _identifier_param(node, params)
    for value in node.values():
        _walk(value, policy, params)


def _check_function(node: Mapping[str, Any], policy: ReadPolicy, params: Mapping[str, str]) -> None:
    name = str(node.get("name", ""))
    lower = name.lower()
    if lower in FORBIDDEN_FUNCTIONS or lower.startswith(_FORBIDDEN_PREFIXES):
        raise QueryRefused(
            "forbidden_function", ACCESS_DENIED, f"function {name}() is not allowed here"
        )
    if lower in IN_FUNCTIONS:
        arguments = node.get("arguments")
        args = arguments.get("children", []) if isinstance(arguments, dict) else []
        if len(args) >= 2 and isinstance(args[1], dict) and args[1].get("type") == "Identifier":
            parts = _name_parts(args[1], params)
            if not policy.table_allowed(parts):
                _refuse_table(f"table {'.'.join(parts)} is not readable here")


def _name_parts(node: Mapping[str, Any], params: Mapping[str, str]) -> list[str]:
    """Return an identifier's parts, `{name:Identifier}` parameters substituted.

    A part containing a dot is split too: a quoted `system.disks` is judged like
    system.disks (conservative).
    """
    raw_parts = node.get("name_parts") or [node.get("name", "")]
    children = node.get("children")
    parameters: Iterator[Any] = iter(
        child
        for child in (children if isinstance(children, list) else [])
        if isinstance(child, dict) and child.get("type") == "QueryParameter"
    )
    parts: list[str] = []
    for part in raw_parts:
        if part:
            parts.extend(str(part).split("."))
            continue
        parameter = next(parameters, None)
        if parameter is None:
            raise QueryRefused("bad_request", BAD_ARGUMENTS, "an identifier without a name")
        parts.extend(_identifier_param(parameter, params).split("."))
    return parts


def _identifier_param(node: Mapping[str, Any], params: Mapping[str, str]) -> str:
    name = str(node.get("name", ""))
    value = params.get(name)
    if value is None:
        raise QueryRefused(
            "bad_request", UNKNOWN_QUERY_PARAMETER, f"Substitution `{name}` is not set"
        )
    if not _PLAIN_NAME.match(value):
        raise QueryRefused(
            "bad_request",
            BAD_QUERY_PARAMETER,
            f"parameter {name} must be a plain identifier (letters, digits, _ and .)",
        )
    return value


def _format_of(tree: Mapping[str, Any]) -> str | None:
    fmt = tree.get("format_ast")
    if not isinstance(fmt, dict):
        return None
    return _format_name(str(fmt.get("name", "")))


def _format_name(name: str) -> str:
    if not _FORMAT_NAME.match(name):
        raise QueryRefused("bad_request", BAD_ARGUMENTS, "unknown output format")
    return name


# --- DESCRIBE, EXISTS, SHOW CREATE ---------------------------------------------------------


def _check_describe(children: list[tuple[int, str]], policy: ReadPolicy) -> Verdict:
    if len(children) < 2 or children[0] != (1, "TableExpression (children 1)"):
        refuse_not_a_read("DESCRIBE takes a table name here")
    depth, line = children[1]
    head, _, name = line.partition(" ")
    if head == "Function":
        raise QueryRefused("table_function", ACCESS_DENIED, "DESCRIBE of a table function")
    if depth != 2 or head != "TableIdentifier" or not name or " (" in name:
        refuse_not_a_read("DESCRIBE takes a table name here")
    names = _identifiers(children[2:])
    if len(names) > 1:
        refuse_not_a_read("DESCRIBE takes a table name here")
    if not policy.table_allowed(name.split(".")):
        _refuse_table(f"table {name} is not readable here")
    return Verdict("DescribeQuery", _format_name(names[0]) if names else None)


def _check_named_table(
    root: str, root_line: str, children: list[tuple[int, str]], policy: ReadPolicy
) -> Verdict:
    # The root line is `<Root> <database> <table>`; an empty database (unqualified name)
    # leaves two spaces. Children: the names, then the FORMAT identifier if any.
    qualified = not root_line[len(root) + 1 :].startswith(" ")
    names = _identifiers(children)
    arity = 2 if qualified else 1
    if len(names) not in (arity, arity + 1):
        refuse_not_a_read(f"{root} takes a table name here")
    table = names[:arity]
    parts = [part for name in table for part in name.split(".")]
    if not policy.table_allowed(parts):
        _refuse_table(f"table {'.'.join(table)} is not readable here")
    return Verdict(root, _format_name(names[arity]) if len(names) > arity else None)


def _identifiers(rows: list[tuple[int, str]]) -> list[str]:
    names: list[str] = []
    for depth, line in rows:
        head, _, name = line.partition(" ")
        if depth != 1 or head != "Identifier" or not name or " (" in name:
            refuse_not_a_read("unexpected clause")
        names.append(name)
    return names


def refuse_not_a_read(message: str) -> NoReturn:
    raise QueryRefused("not_a_read", READONLY, f"{message}: the SQL endpoint only reads")


def _refuse_table(message: str) -> NoReturn:
    raise QueryRefused("forbidden_table", ACCESS_DENIED, message)


def _refuse_outfile() -> NoReturn:
    raise QueryRefused("outfile", ACCESS_DENIED, "INTO OUTFILE is not allowed")


def refuse_settings() -> NoReturn:
    raise QueryRefused(
        "setting", READONLY, "a SETTINGS clause is not allowed: settings are fixed read-only"
    )
