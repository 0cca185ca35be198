"""A read-only subset of ClickHouse's HTTP interface over the embedded engine.

Enough of it for clickhouse-connect's HTTP client (`get_client(host=..., port=...)`): GET
and POST on `/` with the query in the `query` parameter and/or the body, ClickHouse
settings as URL parameters, `param_<name>` query parameters, the `database` parameter,
`/ping`, and errors as `Code: N. DB::Exception: ...` with `X-ClickHouse-Exception-Code`.

Every query runs on a dedicated chdb client whose session is readonly=2, so the engine
itself refuses INSERT, ALTER, DROP and CREATE (code 164, READONLY). aiohttp serves it from
an event loop in a background thread; the queries run one at a time on a single worker
thread, because they share one chdb session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import uuid
from collections.abc import Mapping

import lz4.frame
from aiohttp import web
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from incidents.settings import Settings
from sinks.exceptions import EndpointError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
SERVER_NAME = "incidents-sink"

# URL parameters that are not engine settings: the HTTP transport's own, credentials, and
# `readonly`, which a client must not be able to ask for (the engine refuses changing it
# anyway).
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
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}
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
}
BAD_ARGUMENTS = 36


class RawParam:
    """A `param_<name>` value exactly as the client sent it (already in ClickHouse's
    escaped text form); str() hands it to the engine untouched instead of escaping it again."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def split_params(
    params: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, RawParam]]:
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
    """Return the query's FORMAT, or TabSeparated, the HTTP interface's default."""
    match = _TRAILING_FORMAT.search(query)
    return match.group(1) if match else "TabSeparated"


def error_status(code: int | None) -> int:
    """Return the HTTP status ClickHouse uses for an error code."""
    return _STATUS_BY_CODE.get(code or 0, 500)


class SqlEndpoint:
    """The read-only endpoint; :meth:`start` serves it in a background thread."""

    def __init__(
        self,
        reader: Client,
        database: str,
        host: str = "127.0.0.1",
        port: int = 8123,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._reader = reader
        self._database = database
        self._host = host
        self._port = port
        self._max_body = max_body_bytes
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "sql-endpoint-query")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._timezone = "UTC"
        self.owned: list[Client] = []  # clients stop() closes

    @property
    def port(self) -> int:
        """The port it listens on (the real one when it was started on port 0)."""
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening; return once it accepts connections."""
        self._timezone = str(self._reader.command("SELECT timezone()"))
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
        """Stop listening, finish the query in progress, and join the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._executor.shutdown(wait=True)
        for client in self.owned:
            client.close()

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
        app = web.Application(client_max_size=self._max_body)
        app.router.add_route("*", "/ping", self._ping)
        app.router.add_route("GET", "/", self._handle)
        app.router.add_route("POST", "/", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._stopping = asyncio.Event()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
            self._port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def _handle(self, request: web.Request) -> web.Response:
        too_large = self._error_response(
            BAD_ARGUMENTS, f"request body over {self._max_body} bytes", status=413
        )
        try:
            body = await request.read() if request.method == "POST" else b""
        except web.HTTPRequestEntityTooLarge:
            return too_large
        if request.headers.get("Content-Encoding", "").lower() == "lz4":
            # aiohttp decodes gzip, deflate, br and zstd itself; clickhouse-connect also uses lz4.
            decompressor = lz4.frame.LZ4FrameDecompressor()
            try:
                body = decompressor.decompress(body, max_length=self._max_body)
            except RuntimeError:
                return self._error_response(BAD_ARGUMENTS, "cannot decompress the lz4 body")
            if not decompressor.eof:
                return too_large
        parts = [request.query.get("query", ""), body.decode("utf-8", errors="replace")]
        query = "\n".join(p for p in parts if p.strip())
        if not query:
            return web.Response(text="Ok.\n")
        params = {k: v for k, v in request.query.items()}
        database = params.get("database") or self._database
        settings, query_params = split_params(params)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self._executor, self._query, query, settings, query_params, database
            )
        except ClickHouseError as e:
            code = getattr(e, "code", None) or BAD_ARGUMENTS
            return self._error_response(code, str(e))
        fmt = output_format(query)
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
            "X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Timezone": self._timezone,
            "X-ClickHouse-Server-Display-Name": SERVER_NAME,
            "Content-Type": _CONTENT_TYPES.get(fmt, "application/octet-stream"),
        }
        return web.Response(body=result, headers=headers)

    def _query(
        self, query: str, settings: dict[str, str], params: dict[str, RawParam], database: str
    ) -> bytes:
        self._reader.database = database
        return self._reader.raw_query(
            query, parameters=params or None, settings=settings or None, fmt=None
        )

    def _error_response(self, code: int, message: str, status: int | None = None) -> web.Response:
        text = message if message.startswith("Code:") else f"Code: {code}. DB::Exception: {message}"
        logger.debug("query refused: %s", text)
        return web.Response(
            status=status or error_status(code),
            text=text.rstrip("\n") + "\n",
            headers={
                "X-ClickHouse-Exception-Code": str(code),
                "X-ClickHouse-Server-Display-Name": SERVER_NAME,
            },
            content_type="text/plain",
            charset="utf-8",
        )


def open_sql_endpoint(settings: Settings) -> SqlEndpoint:
    """Open the endpoint's own clients on the embedded engine this process owns, and serve.

    ``stop()`` closes what this opened.
    """
    from sinks.clickhouse import database_name, open_engine_reader

    reader = open_engine_reader(settings)
    endpoint = SqlEndpoint(
        reader,
        database_name(settings),
        settings.clickhouse.sql_host,
        settings.clickhouse.sql_port,
        settings.clickhouse.sql_max_body_bytes,
    )
    endpoint.owned.append(reader)
    try:
        endpoint.start()
    except BaseException:
        endpoint.stop()
        raise
    return endpoint


def start_sql_endpoint(
    reader: Client,
    database: str,
    host: str = "127.0.0.1",
    port: int = 8123,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> SqlEndpoint:
    """Serve `reader` (a read-only client, see sinks.clickhouse.open_engine_reader) over HTTP."""
    endpoint = SqlEndpoint(reader, database, host, port, max_body_bytes)
    endpoint.start()
    return endpoint
