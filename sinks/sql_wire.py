"""ClickHouse's HTTP interface details the SQL endpoint speaks: its own compressed blocks
(`compress=1`), Native for a client's protocol version, and which request settings only
tighten a session's limits.

Pure functions; :mod:`sinks.sql_endpoint` applies them.
"""

from __future__ import annotations

import math
import re
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
        # The binding's 128-bit int holds the first half in its high 64 bits.
        out += struct.pack("<QQ", digest >> 64, digest & 0xFFFFFFFFFFFFFFFF) + block
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
        seconds = name in _SECONDS
        # The engine reads seconds to the microsecond and counts as integers: a value it
        # would round to 0 (no limit) is no tightening. What runs is the normalized number.
        smallest = _SMALLEST_SECONDS if seconds else 1
        if (
            wanted < smallest
            or (not seconds and not wanted.is_integer())
            or wanted > _LARGEST
            or (limit > 0 and wanted > limit)
        ):
            allowed = f"[{smallest:g}, {current}]" if limit > 0 else f"from {smallest:g}"
            kind = "seconds" if seconds else "whole numbers"
            raise QueryRefused(
                "setting",
                READONLY,
                f"Cannot modify '{name}' setting in readonly mode: only {kind} {allowed} "
                "tighten this endpoint's limit",
            )
        changes[name] = f"{wanted:.6f}".rstrip("0").rstrip(".") if seconds else str(int(wanted))
    return changes


_SECONDS = frozenset({"max_execution_time"})
_SMALLEST_SECONDS = 0.001
_LARGEST = float(2**63 - 1)
_ASCII_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?\Z")


def _number(name: str, text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw) if _ASCII_NUMBER.match(raw) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise QueryRefused(
            "setting", BAD_ARGUMENTS, f"Cannot parse the value {text!r} of setting '{name}'"
        )
    return value


# Native for a client protocol version: clients that send `client_protocol_version` (the
# Go client) read each block with the fields that version adds, which the embedded engine
# never writes: the block info (since 51903) and a custom-serialization flag per column
# (since 54454).
_BLOCK_INFO_SINCE = 51903
_CUSTOM_SERIALIZATION_SINCE = 54454
# BlockInfo: field 1 is_overflows = 0, field 2 bucket_num = -1, then the end marker 0.
_BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"


_FIXED_WIDTH = {
    **dict.fromkeys(("UInt8", "Int8", "Bool", "Enum8"), 1),
    **dict.fromkeys(("UInt16", "Int16", "Date", "Enum16", "BFloat16"), 2),
    **dict.fromkeys(("UInt32", "Int32", "Float32", "Date32", "DateTime", "IPv4", "Time"), 4),
    **dict.fromkeys(("UInt64", "Int64", "Float64", "DateTime64", "Time64"), 8),
    **dict.fromkeys(("UInt128", "Int128", "UUID", "IPv6"), 16),
    **dict.fromkeys(("UInt256", "Int256"), 32),
    "Nothing": 1,
}
_DECIMAL_WIDTH = ((9, 4), (18, 8), (38, 16), (76, 32))


class NativeUnsupported(ValueError):
    """A column type whose Native layout native_for_revision does not know."""


def native_for_revision(data: bytes | bytearray, revision: int) -> bytes:
    """Return the engine's Native answer as a server writes it for ``revision``.

    Each block is walked column by column (the layout of each type tells where its data
    ends) and copied with the fields the revision adds. Raises NativeUnsupported for a type
    it cannot walk (JSON, Dynamic, Variant, aggregate states, ...).
    """
    if revision < _BLOCK_INFO_SINCE or not data:
        return bytes(data)
    reader = _Reader(bytes(data))
    out = bytearray()
    while not reader.done():
        start = reader.pos
        columns, rows = reader.varint(), reader.varint()
        out += _BLOCK_INFO + reader.since(start)
        for _ in range(columns):
            start = reader.pos
            reader.string()
            type_name = reader.string().decode()
            out += reader.since(start)
            if revision >= _CUSTOM_SERIALIZATION_SINCE:
                out += b"\x00"  # no custom serialization
            start = reader.pos
            if rows:
                _skip_prefix(reader, type_name)
                _skip_column(reader, type_name, rows)
            out += reader.since(start)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def since(self, start: int) -> bytes:
        return self.data[start : self.pos]

    def skip(self, size: int) -> None:
        if self.pos + size > len(self.data):
            raise NativeUnsupported("the Native answer ends inside a column")
        self.pos += size

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            self.skip(1)
            byte = self.data[self.pos - 1]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def uint64(self) -> int:
        self.skip(8)
        return int.from_bytes(self.data[self.pos - 8 : self.pos], "little")

    def string(self) -> bytes:
        size = self.varint()
        self.skip(size)
        return self.data[self.pos - size : self.pos]


def _split_type(type_name: str) -> tuple[str, list[str]]:
    """`Map(String, Array(UInt8))` -> ("Map", ["String", "Array(UInt8)"])."""
    head, paren, rest = type_name.partition("(")
    if not paren:
        return type_name.strip(), []
    args, depth, current, quoted = [], 0, "", False
    for char in rest[:-1]:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            args.append(current.strip())
            current = ""
        else:
            current += char
    args.append(current.strip())
    return head.strip(), args


def _tuple_elements(args: list[str]) -> list[str]:
    """Tuple(a UInt8, String) -> the element types, names dropped."""
    elements = []
    for arg in args:
        name, _, rest = arg.partition(" ")
        named = rest and not name.endswith(")") and "(" not in name
        elements.append(rest.strip() if named else arg)
    return elements


def _skip_prefix(reader: _Reader, type_name: str) -> None:
    """Skip the column's serialization prefixes (LowCardinality's keys version)."""
    head, args = _split_type(type_name)
    if head == "LowCardinality":
        reader.skip(8)
    elif head in ("Array", "Nullable"):
        _skip_prefix(reader, args[0])
    elif head == "SimpleAggregateFunction":
        _skip_prefix(reader, args[-1])
    elif head == "Map":
        for arg in args:
            _skip_prefix(reader, arg)
    elif head == "Tuple":
        for element in _tuple_elements(args):
            _skip_prefix(reader, element)


def _skip_column(reader: _Reader, type_name: str, rows: int) -> None:
    head, args = _split_type(type_name)
    if head in _FIXED_WIDTH:
        reader.skip(_FIXED_WIDTH[head] * rows)
    elif head.startswith("Interval"):  # IntervalDay, IntervalSecond, ...: Int64
        reader.skip(8 * rows)
    elif head == "SimpleAggregateFunction":  # stored as its value type
        _skip_column(reader, args[-1], rows)
    elif head == "String":
        for _ in range(rows):
            reader.skip(reader.varint())
    elif head == "FixedString":
        reader.skip(int(args[0]) * rows)
    elif head.startswith("Decimal"):
        precision = int(args[0]) if head == "Decimal" else {"32": 9, "64": 18}.get(head[7:], 38)
        if head in ("Decimal128", "Decimal256"):
            precision = 38 if head == "Decimal128" else 76
        width = next(size for digits, size in _DECIMAL_WIDTH if precision <= digits)
        reader.skip(width * rows)
    elif head == "Nullable":
        reader.skip(rows)
        _skip_column(reader, args[0], rows)
    elif head in ("Array", "Map"):
        reader.skip(8 * (rows - 1))
        nested = reader.uint64()
        inner = args if head == "Map" else args[:1]
        for arg in inner:
            _skip_column(reader, arg, nested)
    elif head == "Tuple":
        for element in _tuple_elements(args):
            _skip_column(reader, element, rows)
    elif head == "LowCardinality":
        flags = reader.uint64()
        if flags & (1 << 9):  # HasAdditionalKeysBit: the dictionary follows
            keys = reader.uint64()
            inner_head, inner_args = _split_type(args[0])
            _skip_column(reader, inner_args[0] if inner_head == "Nullable" else args[0], keys)
        indexes = reader.uint64()
        reader.skip((1, 2, 4, 8)[flags & 0xFF] * indexes)
    else:
        raise NativeUnsupported(f"no Native layout known for {type_name}")
