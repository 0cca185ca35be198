"""Batching sinks: rows are added as messages arrive and written per table per batch."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError
from clickhouse_connect.driver.insert import InsertContext

from incidents_config.metrics import (
    SINK_BATCHES,
    SINK_FLUSH_SECONDS,
    SINK_LAST_FLUSH,
    SINK_QUARANTINED,
    SINK_ROWS,
)
from sinks.exceptions import SinkError, SinkWriteError
from sinks.rows import UNSTORABLE, KafkaCoordinates, TableRow, undecodable_row
from sinks.tables import REJECTED_REPORTS, SINK_TABLES, TableSpec

logger = logging.getLogger(__name__)

# ClickHouse error codes that say "this data can never be stored", whatever the retries:
# a row carrying them is quarantined instead of blocking every row behind it.
PERMANENT_DATA_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    }
)
# Python errors of the client-side serialization (a value that does not fit its column).
_SERIALIZATION_ERRORS = (struct.error, OverflowError, TypeError, ValueError, UnicodeError)


def is_permanent(error: BaseException) -> bool:
    """Tell an error about the data itself (never storable) from one about the server."""
    if isinstance(error, (DataError, *_SERIALIZATION_ERRORS)):
        return True
    return getattr(error, "code", None) in PERMANENT_DATA_CODES


@dataclass(frozen=True)
class Origin:
    """The Kafka message a row came from: what a quarantined row keeps."""

    at: KafkaCoordinates
    raw: bytes | None


class BatchingSink(Protocol):
    """What the sink service needs from a destination (after quix's BatchingSink)."""

    def setup(self) -> None:
        """Prepare the destination once, before the first add."""

    def add(self, rows: Iterable[TableRow], origin: Origin) -> None:
        """Buffer the rows of one message; nothing is written yet."""

    def flush(self) -> int:
        """Write every buffered row; return how many were written.

        A row the destination can never store is quarantined (written to
        `rejected_reports` with the reason) instead; a failure that may pass (server down)
        raises :class:`SinkWriteError` and keeps every row buffered.
        """

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""


_Row = tuple[list[Any], Origin]


class ClickHouseSink:
    """Write buffered rows with one INSERT per table per flush.

    The insert contexts are built once in :meth:`setup` from the explicit columns and types
    of `sinks.tables`, so inserting never asks the server to describe a table.
    """

    def __init__(
        self,
        client: Client,
        database: str,
        tables: Sequence[TableSpec] = SINK_TABLES,
        *,
        rename: dict[str, str] | None = None,
    ) -> None:
        self._client = client
        self._database = database
        self._rename = rename or {}  # table -> the table rows of it go to (a replay's copy)
        # rejected_reports last: quarantined rows of the other tables join it in the flush.
        ordered = sorted(tables, key=lambda t: t.name == REJECTED_REPORTS.name)
        self._specs = {spec.name: spec for spec in ordered}
        self._names = {spec.name: spec.column_names for spec in ordered}  # per row: once here
        self._contexts: dict[str, InsertContext] = {}
        self._buffers: dict[str, list[_Row]] = {name: [] for name in self._specs}

    def setup(self) -> None:
        for name, spec in self._specs.items():
            self._contexts[name] = self._client.create_insert_context(
                table=self._rename.get(name, name),
                database=self._database,
                column_names=spec.column_names,
                column_type_names=spec.column_types,
            )

    def add(self, rows: Iterable[TableRow], origin: Origin) -> None:
        for row in rows:
            names = self._names.get(row.table)
            if names is None:
                raise SinkError(f"no table {row.table!r} in this sink")
            values = row.values
            self._buffers[row.table].append(([values[c] for c in names], origin))

    @property
    def pending(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def flush(self) -> int:
        if not self._contexts:
            raise SinkError("ClickHouseSink.setup() must run before flush()")
        started = time.monotonic()
        written = 0
        for name in self._specs:
            buffer = self._buffers[name]
            if not buffer:
                continue
            stored, refused = self._insert_storable(name, buffer)
            self._buffers[name] = []
            for row, origin, error in refused:
                self._quarantine(name, row, origin, error)
            written += stored
            if stored:
                SINK_ROWS.labels(name).inc(stored)
            logger.debug("wrote %d rows to %s", stored, name)
        SINK_FLUSH_SECONDS.observe(time.monotonic() - started)
        SINK_BATCHES.inc()
        SINK_LAST_FLUSH.set(time.time())
        return written

    def _insert(self, name: str, rows: list[list[Any]]) -> None:
        context = self._contexts[name]
        context.data = rows
        try:
            self._client.insert(context=context)
        finally:
            context.data = None

    def _insert_storable(
        self, name: str, buffer: list[_Row]
    ) -> tuple[int, list[tuple[list[Any], Origin, BaseException]]]:
        """Insert the rows; split a batch that fails for data reasons to find the bad rows.

        Rows inserted twice on the way are harmless: every table is a ReplacingMergeTree
        keyed by what identifies the row.
        """
        try:
            self._insert(name, [row for row, _ in buffer])
            return len(buffer), []
        except Exception as e:
            if not is_permanent(e):
                raise SinkWriteError(name, len(buffer), e) from e
            if len(buffer) == 1:
                row, origin = buffer[0]
                return 0, [(row, origin, e)]
        middle = len(buffer) // 2
        left = self._insert_storable(name, buffer[:middle])
        right = self._insert_storable(name, buffer[middle:])
        return left[0] + right[0], left[1] + right[1]

    def _quarantine(self, name: str, row: list[Any], origin: Origin, error: BaseException) -> None:
        SINK_QUARANTINED.labels(name).inc()
        at = origin.at
        if name == REJECTED_REPORTS.name:
            # Nowhere left to put it: say so loudly. The message stays in Kafka.
            logger.critical(
                "cannot store the rejection of %s[%d]@%d at all: %s; it stays only in Kafka",
                at.topic,
                at.partition,
                at.offset,
                error,
            )
            return
        message = f"ClickHouse cannot store this row in {name}: {_first_line(error)}"
        logger.error("quarantined %s[%d]@%d: %s", at.topic, at.partition, at.offset, message)
        rejected = undecodable_row(origin.raw, at, [("", message)], reason=UNSTORABLE)
        names = self._names[REJECTED_REPORTS.name]
        self._buffers[REJECTED_REPORTS.name].append(([rejected.values[c] for c in names], origin))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
