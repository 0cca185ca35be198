"""ClickHouse clients from the settings: the embedded engine (chdb) or a server.

chdb locks its folder per process. The process that opens it first (the sink, when it runs)
owns the warehouse; everyone else reads through that process's read-only SQL endpoint.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, ProgrammingError

from incidents_config.names import sink_ready_file
from incidents_config.settings import Settings
from sinks.exceptions import InvalidDsn, InvalidIdentifier, WarehouseLocked, WarehouseUnavailable
from sinks.sql_client import guard_client
from sinks.sql_policy import ReadPolicy

logger = logging.getLogger(__name__)

CHDB_SCHEME = "chdb://"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# readonly=1: no writes, no DDL, and no setting may change any more (so a session's limits,
# set before it, hold). Applied last; the limits come from the settings, see _make_read_only.
READ_ONLY_SETTINGS = {"readonly": "1"}


def identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise InvalidIdentifier."""
    if not _IDENTIFIER.match(name):
        raise InvalidIdentifier(f"{what} {name!r} must match {_IDENTIFIER.pattern}")
    return name


def database_name(settings: Settings) -> str:
    """Return the warehouse database from the settings, validated as an identifier."""
    return identifier(settings.clickhouse.database, "CLICKHOUSE_DATABASE")


def chdb_path(dsn: str) -> Path | None:
    """Return the folder of an embedded DSN (`chdb:///abs/path`), None for a server DSN."""
    if dsn.startswith(CHDB_SCHEME):
        raw = dsn[len(CHDB_SCHEME) :]
        if not raw or raw.startswith(":memory:"):
            raise InvalidDsn(f"{dsn!r}: the embedded warehouse needs a folder, chdb:///abs/path")
        return Path(raw).expanduser().resolve()
    if dsn.startswith(("http://", "https://")):
        return None
    raise InvalidDsn(f"{dsn!r}: expected chdb:///<folder> or http(s)://user:pass@host:port")


def endpoint_url(settings: Settings) -> str | None:
    """Return the URL of the embedded read-only SQL endpoint of *this* var dir's sink.

    The running sink records the URL it serves on (a fixed ``CLICKHOUSE_SQL_PORT`` or one
    the system picked) in its ready file; None when no sink of this var dir recorded one.
    The configured port alone is never trusted: another stack (another checkout, another
    var dir) may answer on it, and its warehouse is not this one.
    """
    try:
        marker = json.loads(sink_ready_file(settings.paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = marker.get("sql_endpoint") if isinstance(marker, dict) else None
    return url if isinstance(url, str) and url.startswith("http://") else None


def connect(settings: Settings) -> Client:
    """Open a read-write client on the warehouse named by `settings.clickhouse_dsn`.

    Embedded: opens (and thereby owns, for this process's lifetime) the chdb folder,
    creating its parent if needed. Raises WarehouseLocked when another process owns it.
    """
    dsn = settings.clickhouse_dsn
    path = chdb_path(dsn)
    if path is None:
        return _connect_server(dsn)
    return _open_chdb(path, settings)


def open_engine_reader(settings: Settings, tighter: Mapping[str, str] | None = None) -> Client:
    """Open a read-only client on the embedded engine this process already owns.

    Its session carries the SQL endpoint's limits (``tighter`` replaces some of them, for one
    request; the caller checked they only tighten), the system-table filters and readonly=1
    (see _make_read_only), and the warehouse database is selected. readonly sticks to a chdb
    client's session, so this client must never be used to write and the writer client must
    never be given read-only settings.
    """
    path = chdb_path(settings.clickhouse_dsn)
    if path is None:
        raise InvalidDsn("open_engine_reader needs an embedded (chdb://) warehouse")
    client = _open_chdb(path, settings)
    try:
        _make_read_only(client, settings, tighter)
    except BaseException:
        client.close()
        raise
    client.database = database_name(settings)
    return client


def open_read_client(settings: Settings, probe_timeout_s: float = 0.5) -> Client:
    """Open a client for reading (the CLI's `incidents sql`).

    Embedded: the running sink's endpoint if it answers, else the folder itself, read-only
    and bounded like the endpoint, with every statement checked by the same guard
    (sinks.sql_policy; a refused one raises QueryRefused, a clickhouse-connect DatabaseError).
    Server: the server DSN (use a read-only user there, see docs/warehouse.md).
    """
    dsn = settings.clickhouse_dsn
    path = chdb_path(dsn)
    if path is None:
        return _connect_server(dsn, database=database_name(settings))
    url = endpoint_url(settings)
    if url is not None and _answers(url, probe_timeout_s):
        logger.debug("reading through the sink's endpoint %s", url)
        parts = urllib.parse.urlsplit(url)
        return clickhouse_connect.get_client(
            host=parts.hostname, port=parts.port, database=database_name(settings)
        )
    if not path.exists():
        raise WarehouseUnavailable(
            f"there is no warehouse at {path} yet; start the stack with `incidents up` "
            "(or create it with `incidents migrate`)"
        )
    client = _open_chdb(path, settings)
    try:
        _make_read_only(client, settings)
        db = database_name(settings)
        exists = client.command(
            "SELECT count() FROM system.databases WHERE name = {db:String}",
            parameters={"db": db},
        )
    except BaseException:
        client.close()
        raise
    if exists:
        client.database = db
    else:
        logger.warning("database %s does not exist yet; run `incidents migrate`", db)
    return guard_client(client, ReadPolicy(db))


def endpoint_answers(settings: Settings, timeout_s: float = 0.5) -> bool:
    """Return True if the embedded SQL endpoint answers its ping."""
    url = endpoint_url(settings)
    return url is not None and _answers(url, timeout_s)


def _answers(url: str, timeout_s: float) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _connect_server(dsn: str, database: str | None = None) -> Client:
    try:
        if database:
            return clickhouse_connect.get_client(dsn=dsn, database=database)
        return clickhouse_connect.get_client(dsn=dsn)
    except ClickHouseError as e:
        raise WarehouseUnavailable(f"cannot reach ClickHouse at {_redact(dsn)}: {e}") from e


def _open_chdb(path: Path, settings: Settings) -> Client:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Ask the lock first: chdb itself would print its raw lock error on stderr.
    owner = lock_owner(path)
    if owner is not None and owner[0] != os.getpid():
        raise WarehouseLocked(str(path), owner[0], owner[1], endpoint_url(settings))
    try:
        return clickhouse_connect.get_client(dsn=f"{CHDB_SCHEME}{path}")
    except ProgrammingError as e:
        owner = lock_owner(path)
        if owner is not None:
            pid, cmd = owner
            raise WarehouseLocked(str(path), pid, cmd, endpoint_url(settings)) from e
        raise WarehouseUnavailable(f"cannot open the embedded warehouse {path}: {e}") from e


def lock_owner(path: Path) -> tuple[int | None, str] | None:
    """Return (pid, command line) of the process holding the chdb folder's lock, or None.

    ClickHouse holds an exclusive flock on `<folder>/status` and writes its PID there; testing
    the lock tells a locked folder from other open failures without parsing error text.
    """
    status = path / "status"
    try:
        with status.open("rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                text = f.read(4096).decode("utf-8", "replace")
            else:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                return None
    except FileNotFoundError:
        return None
    match = re.search(r"^PID:\s*(\d+)", text, re.MULTILINE)
    pid = int(match.group(1)) if match else None
    return pid, _command_line(pid)


def _command_line(pid: int | None) -> str:
    if pid is None:
        return ""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)[:200]


def system_table_filters(database: str) -> str:
    """The `additional_table_filters` value that shows a reader only the warehouse database.

    The engine adds these as WHERE conditions to every read of the table, also through the
    `information_schema` views built on them: `system.tables` and `system.columns` list only
    the warehouse's tables (and their `create_table_query` only theirs), `system.databases`
    only the warehouse database itself.
    """
    db = identifier(database, "CLICKHOUSE_DATABASE")  # a plain name: nothing to escape
    filters = {
        "system.databases": f"name = \\'{db}\\'",
        "system.tables": f"database = \\'{db}\\'",
        "system.columns": f"database = \\'{db}\\'",
    }
    return "{" + ", ".join(f"'{table}': '{where}'" for table, where in filters.items()) + "}"


def read_only_limits(settings: Settings) -> dict[str, str]:
    """The limits of every read-only session (`max_execution_time`, result and memory)."""
    ch = settings.clickhouse
    return {
        "max_execution_time": f"{ch.sql_max_execution_s:g}",
        "timeout_overflow_mode": "throw",
        "max_result_bytes": str(ch.sql_max_result_bytes),
        "result_overflow_mode": "throw",
        "max_memory_usage": str(ch.sql_max_memory_bytes),
    }


def _make_read_only(
    client: Client, settings: Settings, tighter: Mapping[str, str] | None = None
) -> None:
    """Bound the session's queries and filter its system tables, then make it read-only:
    readonly=1 freezes every setting, so the limits and filters must come first and no query
    can lift them afterwards."""
    session = {
        **read_only_limits(settings),
        **(tighter or {}),
        "additional_table_filters": system_table_filters(database_name(settings)),
    }
    for key, value in {**session, **READ_ONLY_SETTINGS}.items():
        client.set_client_setting(key, value)


def _redact(dsn: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)
