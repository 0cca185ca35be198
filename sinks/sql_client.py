"""The SQL guard's transport: ClickHouse's parser reached through a client, and a client
that checks every statement with :mod:`sinks.sql_policy` before it runs it.

The embedded SQL endpoint and `incidents sql` on a folder (no sink running) both judge a
query this way; the policy itself is pure and lives in :mod:`sinks.sql_policy`.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, BinaryIO

from clickhouse_connect.driver.binding import bind_query
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.external import ExternalData
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.query import QueryContext, QueryResult
from clickhouse_connect.driver.summary import QuerySummary

from sinks.sql_policy import (
    BAD_ARGUMENTS,
    READONLY,
    SYNTAX_ERROR,
    QueryRefused,
    RawParam,
    ReadPolicy,
    check_query,
    refuse_not_a_read,
    refuse_settings,
)

# The engine's errors about a text given to the parser quote the parser's own query too:
# "...: In scope SELECT parseQueryToJSON('<text>') AS ast. (SYNTAX_ERROR)".
_PARSER_SCOPE = re.compile(
    r": In scope SELECT (?:parseQueryToJSON|formatQuerySingleLine)\(.*\) AS (?:ast|q)"
    r"(?=\. \([A-Z_]+\)(?: \(version [^)]*\))?\s*\Z)",
    re.DOTALL,
)


def client_text(message: str) -> str:
    """Return a parser error without the parser's own query: only the client's text."""
    return _PARSER_SCOPE.sub("", message)


class SqlParser:
    """ClickHouse's parser, reached through a client's ``raw_query``; it never runs the query."""

    def __init__(self, raw_query: Callable[..., bytes]) -> None:
        self._raw_query = raw_query

    def parse(self, text: str) -> dict[str, Any] | None:
        """Return the statement's syntax tree, or None when it has no JSON form.

        Raises QueryRefused (syntax) for a syntax error or more than one statement.
        """
        try:
            raw = self._raw_query(
                "SELECT parseQueryToJSON({q:String}) AS ast",
                parameters={"q": text},
                fmt="JSONEachRow",
            )
        except DatabaseError as e:
            if e.code == SYNTAX_ERROR:
                raise QueryRefused("syntax", SYNTAX_ERROR, client_text(str(e))) from e
            if e.code == BAD_ARGUMENTS:  # parsed, but this statement kind has no JSON form
                return None
            raise
        tree = json.loads(json.loads(raw)["ast"])
        if not isinstance(tree, dict):
            raise QueryRefused("syntax", SYNTAX_ERROR, "the parser returned no statement")
        return tree

    def canonical(self, text: str) -> str:
        """Return the statement as ClickHouse formats it on one line (comments dropped).

        Raises QueryRefused (syntax) unless ``text`` is exactly one complete statement.
        """
        try:
            raw = self._raw_query(
                "SELECT formatQuerySingleLine({q:String}) AS q",
                parameters={"q": text},
                fmt="JSONEachRow",
            )
        except DatabaseError as e:
            raise QueryRefused("syntax", e.code or SYNTAX_ERROR, client_text(str(e))) from e
        return str(json.loads(raw)["q"])

    def explain_ast(self, text: str, params: Mapping[str, str]) -> str:
        """Return `EXPLAIN AST` of one statement.

        Only for a text :meth:`canonical` proved one statement of a kind without inline data
        (chdb runs every statement of a text it is given, and splits INSERT data its own way).
        """
        raw_params = {name: RawParam(value) for name, value in params.items()}
        try:
            raw = self._raw_query(f"EXPLAIN AST {text}", parameters=raw_params or None)
        except DatabaseError as e:
            if e.code == SYNTAX_ERROR:
                raise QueryRefused("syntax", SYNTAX_ERROR, str(e)) from e
            if e.code == READONLY:  # EXPLAIN applies the statement's SETTINGS clause
                refuse_settings()
            raise
        return raw.decode("utf-8", "replace")


class GuardedClient(Client):
    """Mixed into a chdb client's class: every statement passes the guard before it runs.

    Use :func:`guard_client`; inserts are refused outright.
    """

    _sql_policy: ReadPolicy

    def _unguarded(self) -> Any:
        """The client class the guard was mixed into (see guard_client)."""
        return super()

    def _sql_check(self, query: str | bytes, bind_params: Mapping[str, str]) -> None:
        if isinstance(query, bytes):
            raise QueryRefused("bad_request", BAD_ARGUMENTS, "binary query parameters")
        params = {key.removeprefix("param_"): str(value) for key, value in bind_params.items()}
        check_query(SqlParser(self._unguarded().raw_query), query, params, self._sql_policy)

    def _query_with_context(self, context: QueryContext) -> QueryResult:
        self._sql_check(context.final_query, context.bind_params)
        return self._unguarded()._query_with_context(context)

    def command(
        self,
        cmd: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        data: str | bytes | None = None,
        settings: dict[str, Any] | None = None,
        use_database: bool = True,
        external_data: ExternalData | None = None,
        transport_settings: dict[str, str] | None = None,
    ) -> str | int | Sequence[str] | QuerySummary:
        if data is not None:
            refuse_not_a_read("a command with data")
        self._sql_check(*bind_query(cmd, parameters, self.server_tz))
        return self._unguarded().command(
            cmd, parameters, data, settings, use_database, external_data, transport_settings
        )

    def raw_query(
        self,
        query: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        fmt: str | None = None,
        use_database: bool = True,
        external_data: ExternalData | None = None,
        transport_settings: dict[str, str] | None = None,
    ) -> bytes:
        self._sql_check(*bind_query(query, parameters, self.server_tz))
        return self._unguarded().raw_query(
            query, parameters, settings, fmt, use_database, external_data, transport_settings
        )

    def raw_stream(
        self,
        query: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        fmt: str | None = None,
        use_database: bool = True,
        external_data: ExternalData | None = None,
        transport_settings: dict[str, str] | None = None,
    ) -> Any:
        self._sql_check(*bind_query(query, parameters, self.server_tz))
        return self._unguarded().raw_stream(
            query, parameters, settings, fmt, use_database, external_data, transport_settings
        )

    def data_insert(self, context: InsertContext) -> QuerySummary:
        refuse_not_a_read("INSERT")

    def raw_insert(
        self,
        table: str,
        column_names: Sequence[str] | None = None,
        insert_block: str | bytes | Generator[bytes, None, None] | BinaryIO | None = None,
        settings: dict[str, Any] | None = None,
        fmt: str | None = None,
        compression: str | None = None,
        transport_settings: dict[str, str] | None = None,
    ) -> QuerySummary:
        refuse_not_a_read("INSERT")


_GUARDED_CLASSES: dict[type, type] = {}


def guard_client(client: Client, policy: ReadPolicy) -> Client:
    """Make ``client`` (an embedded chdb client) check every statement with the guard first.

    The client keeps its connection (and the folder lock handling that opened it); only its
    class changes, to a subclass that checks before it delegates.
    """
    base = type(client)
    guarded = _GUARDED_CLASSES.get(base)
    if guarded is None:
        guarded = types.new_class(f"Guarded{base.__name__}", (GuardedClient, base))
        _GUARDED_CLASSES[base] = guarded
    client.__class__ = guarded
    client._sql_policy = policy  # type: ignore[attr-defined]
    return client
