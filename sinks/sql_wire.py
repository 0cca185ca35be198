"""ClickHouse's HTTP interface details the SQL endpoint speaks: its own compressed blocks
(`compress=1`) and which request settings only tighten a session's limits.

Pure functions; :mod:`sinks.sql_endpoint` applies them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

import lz4.block
from clickhouse_cityhash.cityhash import CityHash128

from sinks.sql_policy import BAD_ARGUMENTS, READONLY, UNKNOWN_SETTING, QueryRefused

# ClickHouse's compressed block: a 16-byte CityHash128 (v1.0.2) of what follows, the method
# byte (0x82 = LZ4), the block's size with this 9-byte header and its size uncompressed
# (both UInt32 little-endian), then one raw LZ4 block.
LZ4_METHOD = 0x82
_HEADER = struct.Struct("<BII")
# ClickHouse cuts its output in blocks of at most 1 MiB (DBMS_DEFAULT_BUFFER_SIZE).
BLOCK_BYTES = 1 << 20

# Limits where 0 means "no limit" and a smaller positive value asks for less: a request may
# set one of them for itself when it tightens what its session allows.
TIGHTENING = frozenset(
    {
        "max_execution_time",
        "max_result_rows",
        "max_result_bytes",
        "max_rows_to_read",
        "max_bytes_to_read",
        "max_rows_to_read_leaf",
        "max_bytes_to_read_leaf",
        "max_memory_usage",
        "max_rows_to_group_by",
        "max_rows_to_sort",
        "max_bytes_to_sort",
        "max_rows_in_distinct",
        "max_bytes_in_distinct",
        "max_rows_in_join",
        "max_bytes_in_join",
        "max_columns_to_read",
    }
)


def compress_blocks(data: bytes | bytearray) -> bytes:
    """Return ``data`` as ClickHouse's own compressed blocks (its answer to `compress=1`)."""
    out = bytearray()
    for start in range(0, len(data), BLOCK_BYTES):
        chunk = bytes(data[start : start + BLOCK_BYTES])
        packed = lz4.block.compress(chunk, store_size=False)
        block = _HEADER.pack(LZ4_METHOD, _HEADER.size + len(packed), len(chunk)) + packed
        digest = CityHash128(block)
        out += struct.pack("<QQ", digest & 0xFFFFFFFFFFFFFFFF, digest >> 64) + block
    return bytes(out)


def tightened(requested: Mapping[str, str], session: Mapping[str, str]) -> dict[str, str]:
    """Return the request's settings that differ from the session's, if all only tighten.

    A setting equal to the session's value is no change (ClickHouse accepts it read-only
    too). A TIGHTENING limit may go down (to a positive value: 0 lifts it). Anything else is
    refused as ClickHouse refuses a read-only user (164), an unknown name with 115.
    """
    changes: dict[str, str] = {}
    for name, value in requested.items():
        current = session.get(name)
        if current is None:
            raise QueryRefused("setting", UNKNOWN_SETTING, f"Unknown setting '{name}'")
        if value == current:
            continue
        if name not in TIGHTENING:
            raise QueryRefused(
                "setting", READONLY, f"Cannot modify '{name}' setting in readonly mode"
            )
        wanted, limit = _number(name, value), _number(name, current)
        if wanted <= 0 or (limit > 0 and wanted > limit):
            allowed = f"(0, {current}]" if limit > 0 else "above 0"
            raise QueryRefused(
                "setting",
                READONLY,
                f"Cannot modify '{name}' setting in readonly mode: only values {allowed} "
                "tighten this endpoint's limit",
            )
        changes[name] = value.strip()
    return changes


def _number(name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise QueryRefused(
            "setting", BAD_ARGUMENTS, f"Cannot parse the value {text!r} of setting '{name}'"
        )
    return value
