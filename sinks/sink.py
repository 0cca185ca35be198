"""Batching sinks: rows are added as messages arrive and written per table per batch."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.insert import InsertContext

from sinks.exceptions import SinkError, SinkWriteError
from sinks.rows import TableRow
from sinks.tables import SINK_TABLES, TableSpec

logger = logging.getLogger(__name__)


class BatchingSink(Protocol):
    """What the sink service needs from a destination (after quix's BatchingSink)."""

    def setup(self) -> None:
        """Prepare the destination once, before the first add."""

    def add(self, rows: Iterable[TableRow]) -> None:
        """Buffer rows; nothing is written yet."""

    def flush(self) -> int:
        """Write every buffered row; return how many were written."""

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""


class ClickHouseSink:
    """Write buffered rows with one INSERT per table per flush.

    The insert contexts are built once in :meth:`setup` from the explicit columns and types
    of `sinks.tables`, so inserting never asks the server to describe a table.
    """

    def __init__(
        self, client: Client, database: str, tables: Sequence[TableSpec] = SINK_TABLES
    ) -> None:
        self._client = client
        self._database = database
        self._specs = {spec.name: spec for spec in tables}
        self._contexts: dict[str, InsertContext] = {}
        self._buffers: dict[str, list[list[Any]]] = {name: [] for name in self._specs}

    def setup(self) -> None:
        for name, spec in self._specs.items():
            self._contexts[name] = self._client.create_insert_context(
                table=name,
                database=self._database,
                column_names=spec.column_names,
                column_type_names=spec.column_types,
            )

    def add(self, rows: Iterable[TableRow]) -> None:
        for row in rows:
            spec = self._specs.get(row.table)
            if spec is None:
                raise SinkError(f"no table {row.table!r} in this sink")
            self._buffers[row.table].append([row.values[c] for c in spec.column_names])

    @property
    def pending(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def flush(self) -> int:
        if not self._contexts:
            raise SinkError("ClickHouseSink.setup() must run before flush()")
        written = 0
        for name, buffer in self._buffers.items():
            if not buffer:
                continue
            context = self._contexts[name]
            context.data = buffer
            try:
                self._client.insert(context=context)
            except ClickHouseError as e:
                raise SinkWriteError(name, len(buffer), e) from e
            finally:
                context.data = None
            logger.debug("wrote %d rows to %s", len(buffer), name)
            written += len(buffer)
            self._buffers[name] = []
        return written
