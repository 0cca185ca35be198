"""Errors of the sinks package; every one derives from :class:`SinkError`."""

from __future__ import annotations


class SinkError(Exception):
    """Base of the errors raised by the sinks package."""


class InvalidDsn(SinkError):
    """`CLICKHOUSE_DSN` is neither `chdb://<path>` nor `http(s)://...`."""


class InvalidIdentifier(SinkError):
    """A database or cluster name from the settings is not a plain SQL identifier."""


class WarehouseUnavailable(SinkError):
    """The warehouse could not be opened or reached."""


class WarehouseLocked(WarehouseUnavailable):
    """Another process owns the embedded warehouse folder (chdb locks it per process)."""

    def __init__(
        self, path: str, owner_pid: int | None, owner_cmd: str, endpoint: str | None
    ) -> None:
        self.path = path
        self.owner_pid = owner_pid
        self.owner_cmd = owner_cmd
        self.endpoint = endpoint
        owner = f"process {owner_pid}" if owner_pid else "another process"
        if owner_cmd:
            owner += f" ({owner_cmd})"
        through = (
            f"goes through the sink's read-only endpoint at {endpoint}"
            if endpoint
            else "goes through the sink's read-only endpoint, which this folder's sink has not"
            " recorded (it is starting, or the owner is not the sink)"
        )
        super().__init__(
            f"The embedded warehouse {path} is in use by {owner}; only one process can open it. "
            f"Stop that process to open the folder directly. While the sink runs, `incidents sql` "
            f"{through}."
        )


class MigrationError(SinkError):
    """A migration file is malformed or failed to apply."""


class SinkWriteError(SinkError):
    """A batch could not be written; its rows stay buffered for the next flush."""

    def __init__(self, table: str, rows: int, cause: Exception) -> None:
        self.table = table
        self.rows = rows
        super().__init__(f"writing {rows} rows to {table} failed: {cause}")


class EndpointError(SinkError):
    """The embedded SQL endpoint could not start (for example, its port is taken)."""
