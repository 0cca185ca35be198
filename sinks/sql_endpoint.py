"""A read-only, bounded subset of ClickHouse's HTTP interface over the embedded engine.

Enough of it for clickhouse-connect's HTTP client and SQLAlchemy dialect, the official JDBC
driver (DBeaver, DataGrip, Metabase) and the official Go client (Grafana): GET and POST on
`/` with the query in the `query` parameter and/or the body, `param_<name>` query
parameters, `database` or `X-ClickHouse-Database` (the warehouse's only), `default_format`
or `X-ClickHouse-Format` (any output format of the engine, RowBinaryWithNamesAndTypes and
Native included), `compress=1` (the answer in ClickHouse's own compressed blocks, see
sinks.sql_wire), `query_id`, `/ping`, and errors as `Code: N. DB::Exception: ...` with
`X-ClickHouse-Exception-Code`. User and password (Basic auth, `X-ClickHouse-User/Key`) are
accepted and ignored: the endpoint listens on the sink's host and is read-only for all.

Each request is one statement, checked by sinks.sql_policy with ClickHouse's own parser
before it runs. It then runs on one of `sql_max_concurrent` clients whose sessions carry the
limits (max_execution_time, max_result_bytes, max_memory_usage), the filters that show only
the warehouse database in `system.databases/tables/columns`, and then readonly=1, which
freezes every setting: a request cannot change them, and nothing a request does outlives it.

Request settings (URL parameters) that only tighten a limit (a lower max_execution_time,
max_result_rows, max_rows_to_read, ..., see sinks.sql_wire.TIGHTENING) are honoured: BI
clients send them with every query. readonly=1 forbids changing them on a pooled session,
and readonly=2 would allow it but would also let the session change the filters and the
limits upwards, and read host files through `file()`: the parser check would be the only
layer left. So such a request runs on a session opened for it (about 25 ms): the limits
with the tighter values, the filters, then readonly=1, like every other. Any other setting,
or a looser value, is refused with ClickHouse's 164 (READONLY) before anything runs; SET and
SETTINGS clauses are refused by the parser check whatever their value.

A request waits at most `sql_queue_timeout_s` for a free slot (then 503, code 202). The
result is read in chunks and never held beyond `sql_max_result_bytes`. When the client goes
away or the endpoint's own deadline passes, the query is killed through a separate control
client: each query carries a `/* sql-endpoint:<id> */` comment for that, put after the
client's text (before its FORMAT clause), so that error positions, lines and columns count
in the client's own text. Its client returns to the pool only once the engine has let go of
it. The sink's writer has a client of its own, so analysts' queries never wait on it or it
on them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lz4.frame
from aiohttp import web
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError

from incidents_config.metrics import SQL_REFUSALS, SQL_REQUESTS
from incidents_config.settings import ClickHouseSettings, Settings
from sinks.clickhouse import database_name, open_engine_reader
from sinks.exceptions import EndpointError
from sinks.sql_client import SqlParser
from sinks.sql_policy import (
    ACCESS_DENIED,
    BAD_ARGUMENTS,
    BAD_QUERY_PARAMETER,
    READONLY,
    QueryRefused,
    RawParam,
    ReadPolicy,
    Verdict,
    check_query,
    server_params,
)
from sinks.sql_wire import NativeUnsupported, compress_blocks, native_for_revision, tightened

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
SERVER_NAME = "incidents-sink"
TIMEOUT_EXCEEDED = 159
TOO_MANY_SIMULTANEOUS_QUERIES = 202
QUERY_WAS_CANCELLED = 394
TOO_MANY_ROWS_OR_BYTES = 396
NOT_IMPLEMENTED = 48
TAG_PREFIX = "/* sql-endpoint:"
_TAG = re.compile(r"\n?/\* sql-endpoint:[0-9a-f]{32} \*/\n?")
_CHUNK_BYTES = 1 << 20
_KILL_RETRY_S = 0.25
# The engine's max_execution_time ends a query first; this is the endpoint's backstop.
_DEADLINE_GRACE_S = 5.0

# URL parameters that are not engine settings: the HTTP transport's own, credentials, and
# `readonly`, which a client must not be able to ask for (the session is readonly=1 anyway).
CLIENT_ONLY_PARAMS = frozenset(
    {
        "query",
        "database",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "default_format",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "readonly",
    }
)
# A body ClickHouse reads as fields; any other body (curl -d's urlencoded too) is the query.
_FORM_TYPES = frozenset({"multipart/form-data"})
_STREAMED = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery"})
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUERY_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}\Z")
_TRAILING_END = re.compile(r"[\s;]+\Z")
_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}
# Request headers of ClickHouse's HTTP interface that stand for URL parameters.
_HEADER_PARAMS = {"X-ClickHouse-Format": "default_format", "X-ClickHouse-Database": "database"}
# ClickHouse's own mapping of error codes to HTTP statuses, for the codes a reader meets.
_STATUS_BY_CODE = {
    164: 403,  # READONLY
    497: 403,  # ACCESS_DENIED
    60: 404,  # UNKNOWN_TABLE
    81: 404,  # UNKNOWN_DATABASE
    62: 400,  # SYNTAX_ERROR
    26: 400,  # CANNOT_PARSE_QUOTED_STRING
    27: 400,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    36: 400,  # BAD_ARGUMENTS
    47: 400,  # UNKNOWN_IDENTIFIER
    115: 400,  # UNKNOWN_SETTING
    456: 400,  # UNKNOWN_QUERY_PARAMETER
    457: 400,  # BAD_QUERY_PARAMETER
    202: 503,  # TOO_MANY_SIMULTANEOUS_QUERIES
    48: 501,  # NOT_IMPLEMENTED
    6: 400,  # CANNOT_PARSE_TEXT
    38: 400,  # CANNOT_PARSE_DATE
    41: 400,  # CANNOT_PARSE_DATETIME
    72: 400,  # CANNOT_PARSE_NUMBER
    53: 400,  # TYPE_MISMATCH
    43: 400,  # ILLEGAL_TYPE_OF_ARGUMENT
    46: 404,  # UNKNOWN_FUNCTION
    # The client's query is at fault (too deep, no columns): 400, not a server error.
    167: 400,  # TOO_DEEP_AST
    168: 400,  # TOO_BIG_AST
    306: 400,  # TOO_DEEP_RECURSION (the parser's maximum depth)
    51: 400,  # EMPTY_LIST_OF_COLUMNS_QUERIED (an as-of view named without its parameter)
    90: 400,  # EMPTY_LIST_OF_COLUMNS_PASSED
    181: 400,  # ILLEGAL_FINAL
    73: 404,  # UNKNOWN_FORMAT
    50: 404,  # UNKNOWN_TYPE
}
# Request outcomes (SQL_REQUESTS) of engine errors, by code; anything else is "error".
_OUTCOME_BY_CODE = {
    TIMEOUT_EXCEEDED: "timeout",
    QUERY_WAS_CANCELLED: "cancelled",
    TOO_MANY_SIMULTANEOUS_QUERIES: "busy",
    READONLY: "refused",
}


def split_params(params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, RawParam]]:
    """Split URL parameters into engine settings and query parameters."""
    settings: dict[str, str] = {}
    query_params: dict[str, RawParam] = {}
    for key, value in params.items():
        if key.startswith("param_"):
            query_params[key[len("param_") :]] = RawParam(value)
        elif key not in CLIENT_ONLY_PARAMS and not key.startswith("http_"):
            settings[key] = value
    return settings, query_params


def output_format(query: str) -> str:
    """Return the query's trailing FORMAT, or TabSeparated, the HTTP interface's default."""
    match = _TRAILING_FORMAT.search(query)
    return match.group(1) if match else "TabSeparated"


_WRAPPED = re.compile(r"Code: (\d+)\. DB::Exception: (?=Code: \1\. DB::Exception: )")
_VERSION_TAIL = re.compile(
    r" \(version [^)]*\)\.?(?: \([A-Z][A-Z0-9_]*\)(?: \(version [^)]*\)\.?)?)*\s*$"
)


def unwrap_error(text: str) -> str:
    """One `Code: N. DB::Exception: <message> (NAME)`, where the engine wrapped its own
    exception in itself (chdb's streamed queries repeat the prefix and the tail)."""
    wrapped = _WRAPPED.match(text)
    if wrapped is None:
        return text
    while wrapped is not None:
        text = text[wrapped.end() :]
        wrapped = _WRAPPED.match(text)
    return _VERSION_TAIL.sub("", text)


def error_status(code: int | None) -> int:
    """Return the HTTP status ClickHouse uses for an error code."""
    return _STATUS_BY_CODE.get(code or 0, 500)


def tagged(text: str, tag: str) -> str:
    """Return ``text`` with the kill tag after the client's text and before its FORMAT.

    Nothing is put before the client's text, so the engine's error positions (position,
    line, column) count in what the client sent.
    """
    match = _TRAILING_FORMAT.search(text)
    if match is None:  # e.g. a comment after a final ';': it stays the last thing
        return f"{tag}\n{text}"
    return f"{text[: match.start()]}\n{tag}\n{text[match.start() :]}"


def untagged(message: str) -> str:
    """Return an engine error message without the endpoint's tag in the query it quotes."""
    return _TAG.sub(" ", message)


def request_params(query: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, str]:
    """The URL parameters, with the X-ClickHouse-* headers that stand for some of them."""
    params = dict(query)
    for header, name in _HEADER_PARAMS.items():
        value = headers.get(header)
        if value and name not in params:
            params[name] = value
    return params


def query_id_of(requested: str | None) -> str:
    """Return the client's query_id if it is a safe header value, else a new one."""
    if requested and _QUERY_ID.match(requested):
        return requested
    return str(uuid.uuid4())


class BodyTooLarge(QueryRefused):
    """The request body is over `sql_max_body_bytes` (HTTP 413)."""


@dataclass(frozen=True)
class EndpointLimits:
    """What one request may take (how many run at once is how many readers there are)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_execution_s: float = 30.0
    max_result_bytes: int = 64 * 1024 * 1024
    queue_timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: ClickHouseSettings) -> EndpointLimits:
        return cls(
            max_body_bytes=settings.sql_max_body_bytes,
            max_execution_s=settings.sql_max_execution_s,
            max_result_bytes=settings.sql_max_result_bytes,
            queue_timeout_s=settings.sql_queue_timeout_s,
        )


class SqlEndpoint:
    """The read-only endpoint; :meth:`start` serves it in a background thread.

    It owns the clients it is given and :meth:`stop` closes them: ``readers`` run the
    queries (one request each at a time), ``guard`` parses for sinks.sql_policy, ``killer``
    cancels. All must be read-only sessions on the embedded engine (see
    sinks.clickhouse.open_engine_reader) with the warehouse database selected.
    """

    def __init__(
        self,
        readers: Sequence[Client],
        guard: Client,
        killer: Client,
        database: str,
        limits: EndpointLimits,
        host: str = "127.0.0.1",
        port: int = 8123,
        open_session: Callable[[Mapping[str, str]], Client] | None = None,
    ) -> None:
        if not readers:
            raise EndpointError("the SQL endpoint needs at least one reader client")
        self._readers = list(readers)
        self._free = list(readers)
        # Opens a session like the readers' with some limits tighter (see the module doc).
        self._open_session = open_session
        self._killer = killer
        self._parser = SqlParser(guard.raw_query)
        self._policy = ReadPolicy(database)
        self._limits = limits
        self._host = host
        self._port = port
        self._guard_pool = concurrent.futures.ThreadPoolExecutor(1, "sql-endpoint-guard")
        self._kill_pool = concurrent.futures.ThreadPoolExecutor(1, "sql-endpoint-kill")
        self._query_pool = concurrent.futures.ThreadPoolExecutor(
            len(self._readers), "sql-endpoint-query"
        )
        self._clients = [*self._readers, guard, killer]
        self._slots: asyncio.Semaphore | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._timezone = "UTC"
        self._session_settings: dict[str, str] = {}

    @property
    def port(self) -> int:
        """The port it listens on (the real one when it was started on port 0)."""
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening; return once it accepts connections."""
        reader = self._readers[0]
        self._timezone = str(reader.command("SELECT timezone()", use_database=False))
        raw = reader.raw_query(
            "SELECT name, value FROM system.settings", fmt="JSONEachRow", use_database=False
        )
        rows = (json.loads(line) for line in raw.splitlines() if line)
        self._session_settings = {row["name"]: row["value"] for row in rows}
        self._thread = threading.Thread(target=self._run, name="sql-endpoint", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise EndpointError(f"the SQL endpoint did not start within {timeout_s}s")
        if self._error is not None:
            raise EndpointError(
                f"cannot serve SQL on {self._host}:{self._port}: {self._error}"
            ) from self._error
        logger.info("read-only SQL endpoint listening on %s", self.url)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop listening, kill the queries still running, and close the clients."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        for pool in (self._query_pool, self._guard_pool, self._kill_pool):
            pool.shutdown(wait=True)
        for client in self._clients:
            client.close()

    # --- serving ---------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # reported to start(); the thread must not die silently
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=self._limits.max_body_bytes)
        app.router.add_route("*", "/ping", self._ping)
        app.router.add_route("GET", "/", self._handle)
        app.router.add_route("POST", "/", self._handle)
        # handler_cancellation: a client that goes away cancels its handler, which kills
        # its query (see _execute).
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        self._slots = asyncio.Semaphore(len(self._readers))
        self._stopping = asyncio.Event()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
            self._port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            if self._ready.is_set():
                try:  # the sink is stopping: no analyst query may hold it up
                    await self._run_blocking(self._kill_pool, self._kill, TAG_PREFIX)
                except ClickHouseError:
                    logger.warning("cannot kill the SQL endpoint's queries", exc_info=True)
            await runner.cleanup()
            if self._background:
                await asyncio.wait(self._background, timeout=self._limits.max_execution_s)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def _handle(self, request: web.Request) -> web.Response:
        query_id = query_id_of(request.query.get("query_id"))
        try:
            response = await self._answer(request, query_id)
        except QueryRefused as e:
            SQL_REQUESTS.labels(outcome="refused").inc()
            SQL_REFUSALS.labels(reason=e.reason).inc()
            status = 413 if isinstance(e, BodyTooLarge) else None
            return self._error_response(e.code or BAD_ARGUMENTS, str(e), query_id, status)
        except ClickHouseError as e:
            code = getattr(e, "code", None) or BAD_ARGUMENTS
            outcome = _OUTCOME_BY_CODE.get(code, "error")
            SQL_REQUESTS.labels(outcome=outcome).inc()
            if code == READONLY:
                SQL_REFUSALS.labels(reason="readonly").inc()
            return self._error_response(code, untagged(str(e)), query_id)
        except asyncio.CancelledError:
            SQL_REQUESTS.labels(outcome="cancelled").inc()
            raise
        SQL_REQUESTS.labels(outcome="ok").inc()
        return response

    async def _answer(self, request: web.Request, query_id: str) -> web.Response:
        url_query, body_query, form = await self._read_query(request)
        query = "\n".join(part for part in (url_query, body_query) if part.strip())
        if not query.strip():
            return web.Response(text="Ok.\n")
        params = request_params({**request.query, **form}, request.headers)
        settings, raw_params = split_params(params)
        tighter = self._check_request(params.get("database"), settings, raw_params)
        default_format = params.get("default_format") or "TabSeparated"
        if not _NAME.match(default_format):
            default_format = "TabSeparated"
        text = _TRAILING_END.sub("", query)
        query_params = server_params(text, {name: p.text for name, p in raw_params.items()})
        try:
            verdict = await self._check(text, query_params)
        except QueryRefused as e:
            if e.reason != "syntax":
                raise
            raise await self._first_line_refusal(query, query_params) or e from None
        if verdict.output_format is None:
            # Name the format in the text so the engine streams it (chdb streams only
            # queries ending in a FORMAT clause). Checked again: it is what will run.
            with_format = f"{text}\nFORMAT {default_format}"
            try:
                verdict = await self._check(with_format, query_params)
                text = with_format
            except QueryRefused as e:
                if e.reason != "syntax":  # e.g. a comment after a final ';': run as written
                    raise
        tag = f"{TAG_PREFIX}{uuid.uuid4().hex} */"
        text = await self._tag(text, tag, verdict, query_params)
        fmt = verdict.output_format or "TabSeparated"
        streamed = verdict.statement in _STREAMED  # chdb streams SELECTs only
        result: bytes | bytearray = await self._execute(tag, text, query_params, streamed, tighter)
        revision = params.get("client_protocol_version", "")
        if fmt == "Native" and revision.isdigit():
            result = await self._native_for(result, int(revision))
        summary = {
            "read_rows": "0",
            "read_bytes": "0",
            "written_rows": "0",
            "written_bytes": "0",
            "result_rows": "0",
            "result_bytes": str(len(result)),
        }
        headers = {
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Summary": json.dumps(summary),
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self._timezone,
            "X-ClickHouse-Server-Display-Name": SERVER_NAME,
            "Content-Type": _CONTENT_TYPES.get(fmt, "application/octet-stream"),
        }
        body = compress_blocks(result) if params.get("compress") == "1" else result
        return web.Response(body=body, headers=headers)

    async def _native_for(self, result: bytes | bytearray, revision: int) -> bytes:
        """The Native answer as a server writes it for the client's protocol version."""
        try:
            # Not on the guard's thread: a large answer must not hold up other requests' checks.
            return await self._run_blocking(None, native_for_revision, result, revision)
        except NativeUnsupported as e:
            raise QueryRefused(
                "bad_request",
                NOT_IMPLEMENTED,
                f"{e} at client_protocol_version {revision}; ask for another format",
            ) from e

    async def _tag(self, text: str, tag: str, verdict: Verdict, params: Mapping[str, str]) -> str:
        """Return the text to run: ``text`` with the kill tag, checked like it."""
        with_tag = tagged(text, tag)
        try:
            if await self._check(with_tag, params) == verdict:
                return with_tag
        except QueryRefused as e:
            if e.reason != "syntax":
                raise
        return f"{tag}\n{text}"  # e.g. a FORMAT in a trailing comment: the tag goes first

    async def _first_line_refusal(
        self, query: str, params: Mapping[str, str]
    ) -> QueryRefused | None:
        """Return why the query's first line alone is refused, unless that is its syntax.

        Clients send INSERT data after the statement's line (clickhouse-connect puts both
        in the body): what to report is the INSERT (read-only), not the data's syntax.
        """
        first_line = query.strip().split("\n", 1)[0]
        if first_line == query.strip():
            return None
        try:
            await self._check(_TRAILING_END.sub("", first_line), params)
        except QueryRefused as e:
            return None if e.reason == "syntax" else e
        return None

    async def _read_query(self, request: web.Request) -> tuple[str, str, dict[str, str]]:
        """Return the `query` URL parameter, the (decompressed) body as text, and the
        fields of a form body.

        A multipart/form-data body (as clickhouse-connect sends a query whose parameters are
        large) carries `query` and `param_<name>` fields, as over ClickHouse's HTTP
        interface; other fields are ignored.
        """
        too_large = BodyTooLarge(
            "bad_request", BAD_ARGUMENTS, f"request body over {self._limits.max_body_bytes} bytes"
        )
        form: Any = None
        body = b""
        try:
            # A body that trickles in holds a connection: it must arrive within the time a
            # query may run.
            async with asyncio.timeout(self._limits.max_execution_s):
                if request.method == "POST" and request.content_type in _FORM_TYPES:
                    form = await request.post()
                elif request.method == "POST":
                    body = await request.read()
        except web.HTTPRequestEntityTooLarge as e:
            raise too_large from e
        except TimeoutError:
            raise QueryRefused(
                "bad_request",
                BAD_ARGUMENTS,
                f"the request body did not arrive within {self._limits.max_execution_s:g} s",
            ) from None
        except Exception as e:  # aiohttp's decoders raise many kinds on bad bytes
            raise QueryRefused(
                "bad_request", BAD_ARGUMENTS, f"cannot read the request body ({type(e).__name__})"
            ) from e
        if form is not None:
            fields = {
                name: value
                for name, value in form.items()
                if isinstance(value, str) and (name == "query" or name.startswith("param_"))
            }
            return request.query.get("query", ""), fields.pop("query", ""), fields
        if request.headers.get("Content-Encoding", "").lower() == "lz4":
            # aiohttp decodes gzip, deflate, br and zstd itself; clickhouse-connect also uses lz4.
            decompressor = lz4.frame.LZ4FrameDecompressor()
            unreadable = QueryRefused(
                "bad_request", BAD_ARGUMENTS, "cannot decompress the lz4 body (one whole frame)"
            )
            try:
                body = decompressor.decompress(body, max_length=self._limits.max_body_bytes)
            except RuntimeError as e:
                raise unreadable from e
            if not decompressor.eof:
                if len(body) >= self._limits.max_body_bytes:
                    raise too_large
                raise unreadable  # truncated, or empty
            if decompressor.unused_data:
                raise unreadable  # a second frame or trailing bytes: not what was checked
        return request.query.get("query", ""), body.decode("utf-8", errors="replace"), {}

    def _check_request(
        self, database: str | None, settings: Mapping[str, str], params: Mapping[str, RawParam]
    ) -> dict[str, str]:
        """Refuse another database, a setting that loosens or is unknown, a bad name.

        Return the settings that tighten the session's limits for this request.
        """
        if database and database != self._policy.database:
            raise QueryRefused(
                "forbidden_table",
                ACCESS_DENIED,
                f"database {database!r} is not readable here; use {self._policy.database}",
            )
        tighter = tightened(settings, self._session_settings)
        if tighter and self._open_session is None:
            name = next(iter(tighter))
            raise QueryRefused(
                "setting", READONLY, f"Cannot modify '{name}' setting in readonly mode"
            )
        for name in params:
            if not _NAME.match(name):
                raise QueryRefused(
                    "bad_request", BAD_QUERY_PARAMETER, f"bad query parameter name {name!r}"
                )
        return tighter

    async def _check(self, text: str, params: Mapping[str, str]) -> Verdict:
        return await self._run_blocking(
            self._guard_pool, check_query, self._parser, text, params, self._policy
        )

    async def _execute(
        self,
        tag: str,
        text: str,
        params: Mapping[str, str],
        streamed: bool,
        tighter: Mapping[str, str],
    ) -> bytearray:
        """Run ``text`` on a free reader (or, with tighter limits, a session of its own, in
        the same slot); kill it if the client leaves or time runs out."""
        reader = await self._acquire()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._query_pool, self._fetch_in, reader, tighter, text, params, streamed
        )
        # The reader goes back only when its thread is done with it, not when we stop waiting.
        future.add_done_callback(lambda _: self._release(reader))
        deadline = self._limits.max_execution_s + _DEADLINE_GRACE_S
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            self._cancel(tag, future)
            raise DatabaseError(
                f"Code: {TIMEOUT_EXCEEDED}. DB::Exception: Timeout exceeded: the query ran "
                f"over {deadline:g} s and was cancelled. (TIMEOUT_EXCEEDED)",
                code=TIMEOUT_EXCEEDED,
            ) from None
        except asyncio.CancelledError:
            self._cancel(tag, future)
            raise

    async def _acquire(self) -> Client:
        assert self._slots is not None
        try:
            async with asyncio.timeout(self._limits.queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise DatabaseError(
                f"Code: {TOO_MANY_SIMULTANEOUS_QUERIES}. DB::Exception: Too many simultaneous "
                f"queries: all {len(self._readers)} slots stayed busy for "
                f"{self._limits.queue_timeout_s:g} s. (TOO_MANY_SIMULTANEOUS_QUERIES)",
                code=TOO_MANY_SIMULTANEOUS_QUERIES,
            ) from None
        return self._free.pop()

    def _release(self, reader: Client) -> None:
        assert self._slots is not None
        self._free.append(reader)
        self._slots.release()

    def _fetch_in(
        self,
        reader: Client,
        tighter: Mapping[str, str],
        text: str,
        params: Mapping[str, str],
        streamed: bool,
    ) -> bytearray:
        """Run on ``reader``, or on a session opened with the ``tighter`` limits and closed."""
        if not tighter or self._open_session is None:
            return self._fetch(reader, text, params, streamed)
        session = self._open_session(tighter)
        try:
            return self._fetch(session, text, params, streamed)
        finally:
            session.close()

    def _fetch(
        self, reader: Client, text: str, params: Mapping[str, str], streamed: bool
    ) -> bytearray:
        """Run one query on ``reader`` (a worker thread); never hold more than the limit.

        Streamed, the result is read a chunk at a time and the query closed as soon as it
        goes over; otherwise (statements chdb cannot stream, formats with a header or
        footer) the engine's max_result_bytes bounds it first.
        """
        raw_params = {name: RawParam(value) for name, value in params.items()} or None
        if not streamed:
            result = bytearray(reader.raw_query(text, parameters=raw_params))
            self._check_size(len(result))
            return result
        stream: Any = reader.raw_stream(text, parameters=raw_params)
        result = bytearray()
        try:
            while chunk := stream.read(_CHUNK_BYTES):
                result += chunk
                self._check_size(len(result))
        finally:
            stream.close()
        return result

    def _check_size(self, size: int) -> None:
        if size > self._limits.max_result_bytes:
            raise DatabaseError(
                f"Code: {TOO_MANY_ROWS_OR_BYTES}. DB::Exception: Limit for result exceeded, "
                f"max bytes: {self._limits.max_result_bytes}. (TOO_MANY_ROWS_OR_BYTES)",
                code=TOO_MANY_ROWS_OR_BYTES,
            )

    def _cancel(self, tag: str, future: asyncio.Future[bytearray]) -> None:
        task = asyncio.get_running_loop().create_task(self._kill_until_done(tag, future))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _kill_until_done(self, tag: str, future: asyncio.Future[bytearray]) -> None:
        # Repeat: the first KILL can come before the engine has registered the query.
        while not future.done():
            try:
                await self._run_blocking(self._kill_pool, self._kill, tag)
            except ClickHouseError:
                logger.warning("cannot kill the SQL endpoint's query %s", tag, exc_info=True)
            await asyncio.wait({future}, timeout=_KILL_RETRY_S)
        if not future.cancelled() and future.exception() is not None:
            logger.debug("cancelled query %s ended: %s", tag, future.exception())

    def _kill(self, tag: str) -> None:
        self._killer.command(
            # The tag is a parameter, which the KILL's own text in the process list shows.
            "KILL QUERY WHERE position(query, {tag:String}) > 0 AND query_id != queryID() ASYNC",
            parameters={"tag": tag},
            use_database=False,
        )

    async def _run_blocking(
        self, pool: concurrent.futures.Executor | None, fn: Any, *args: Any
    ) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _error_response(
        self, code: int, message: str, query_id: str, status: int | None = None
    ) -> web.Response:
        text = message if message.startswith("Code:") else f"Code: {code}. DB::Exception: {message}"
        text = unwrap_error(text)
        logger.debug("query refused or failed: %s", text)
        return web.Response(
            status=status or error_status(code),
            text=text.rstrip("\n") + "\n",
            headers={
                "X-ClickHouse-Exception-Code": str(code),
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Server-Display-Name": SERVER_NAME,
            },
            content_type="text/plain",
            charset="utf-8",
        )


def open_sql_endpoint(settings: Settings) -> SqlEndpoint:
    """Open the endpoint's clients on the embedded engine this process owns, and serve.

    ``stop()`` closes what this opened.
    """
    ch = settings.clickhouse
    clients: list[Client] = []
    try:
        for _ in range(ch.sql_max_concurrent + 2):
            clients.append(open_engine_reader(settings))
        guard, killer, *readers = clients
        endpoint = SqlEndpoint(
            readers,
            guard,
            killer,
            database_name(settings),
            EndpointLimits.from_settings(ch),
            ch.sql_host,
            ch.sql_port,
            open_session=lambda tighter: open_engine_reader(settings, tighter),
        )
    except BaseException:
        for client in clients:
            client.close()
        raise
    try:
        endpoint.start()
    except BaseException:
        endpoint.stop()
        raise
    return endpoint
