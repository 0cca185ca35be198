"""ClickHouse's HTTP details the SQL endpoint speaks, without the engine."""

from __future__ import annotations

import struct

import lz4.block
import pytest

from sinks.sql_policy import QueryRefused
from sinks.sql_wire import (
    BLOCK_BYTES,
    NativeUnsupported,
    compress_blocks,
    native_for_revision,
    tightened,
)

SESSION = {"max_execution_time": "30", "max_rows_to_read": "0", "max_threads": "2"}


def test_only_tighter_limits_pass() -> None:
    assert tightened({"max_execution_time": "10"}, SESSION) == {"max_execution_time": "10"}
    assert tightened({"max_rows_to_read": "5"}, SESSION) == {"max_rows_to_read": "5"}
    assert tightened({"max_threads": "2"}, SESSION) == {}  # equal: no change
    for looser in ({"max_execution_time": "31"}, {"max_execution_time": "0"}, {"max_threads": "1"}):
        with pytest.raises(QueryRefused) as refused:
            tightened(looser, SESSION)
        assert refused.value.code == 164
    with pytest.raises(QueryRefused) as refused:
        tightened({"no_such": "1"}, SESSION)
    assert refused.value.code == 115
    for bad in ("-1", "nan", "inf", "lots", "\uff15", "0x10"):
        with pytest.raises(QueryRefused) as refused:
            tightened({"max_execution_time": bad}, SESSION)
        assert refused.value.code == 36


@pytest.mark.parametrize(
    "looser",
    [
        {"max_execution_time": "0.0000001"},  # the engine would read 0: no limit
        {"max_execution_time": "1e-7"},
        {"max_rows_to_read": "0.5"},  # counts are whole numbers
        {"max_rows_to_read": "99999999999999999999999"},  # would wrap around
    ],
)
def test_values_the_engine_would_read_as_no_limit_are_refused(looser: dict[str, str]) -> None:
    with pytest.raises(QueryRefused) as refused:
        tightened(looser, SESSION)
    assert refused.value.code == 164


def test_what_runs_is_the_normalized_number() -> None:
    assert tightened({"max_execution_time": " 2.50 "}, SESSION) == {"max_execution_time": "2.5"}
    assert tightened({"max_execution_time": "1e-3"}, SESSION) == {"max_execution_time": "0.001"}
    assert tightened({"max_rows_to_read": "1e3"}, SESSION) == {"max_rows_to_read": "1000"}


def test_compressed_blocks_carry_their_sizes() -> None:
    data = bytes(range(256)) * (BLOCK_BYTES // 256 + 10)
    body = compress_blocks(data)
    out, offset = bytearray(), 0
    while offset < len(body):
        method, size, raw_size = struct.unpack_from("<BII", body, offset + 16)
        assert method == 0x82
        out += lz4.block.decompress(body[offset + 25 : offset + 16 + size], raw_size)
        offset += 16 + size
    assert bytes(out) == data


def native_block(columns: list[tuple[str, str, bytes]], rows: int) -> bytes:
    def string(text: str) -> bytes:
        return bytes([len(text)]) + text.encode()

    head = bytes([len(columns), rows])
    return head + b"".join(string(n) + string(t) + data for n, t, data in columns)


def test_native_gets_the_fields_of_the_client_revision() -> None:
    block = native_block(
        [
            ("n", "UInt32", struct.pack("<II", 1, 2)),
            ("s", "Nullable(String)", b"\x00\x01" + b"\x01a" + b"\x00"),
            ("a", "Array(UInt8)", struct.pack("<QQ", 1, 3) + b"\x07\x08\x09"),
        ],
        rows=2,
    )
    data = block + block
    assert native_for_revision(data, 0) == data
    converted = native_for_revision(data, 54460)
    info = b"\x01\x00\x02\xff\xff\xff\xff\x00"
    expected_block = info + bytes([3, 2])
    expected_block += b"\x01n\x06UInt32\x00" + struct.pack("<II", 1, 2)
    expected_block += b"\x01s\x10Nullable(String)\x00" + b"\x00\x01\x01a\x00"
    expected_block += b"\x01a\x0cArray(UInt8)\x00" + struct.pack("<QQ", 1, 3) + b"\x07\x08\x09"
    assert converted == expected_block + expected_block


def test_native_refuses_a_layout_it_does_not_know() -> None:
    with pytest.raises(NativeUnsupported):
        native_for_revision(native_block([("j", "JSON", b"\x00")], rows=1), 54460)
