"""Dead letters: built from anything, always small enough to send."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.errors import FieldError
from streams.letters import (
    MAX_ERRORS,
    MAX_RAW_BYTES,
    Reason,
    bounded_errors,
    contract_reason,
    dead_letter,
    identity,
    internal_error_letter,
)


@dataclass
class Message:
    topic: str = "incidents.reports.raw"
    partition: int = 3
    offset: int = 17
    key: bytes | None = None


@dataclass
class Event:
    value: Any
    message: Message


HOSTILE = [
    b"[" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"\x00\xff\xfe binary",
    b'{"source": "x", "killed": {"civilians": ' + b"9" * 5000 + b"}}",
    b"",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_dead_letter_is_built_from_anything(raw: bytes) -> None:
    event = Event(raw, Message())
    letter = dead_letter(raw, [FieldError.whole("bad")], event, stage="validate",
                         reason=Reason.INVALID_JSON)  # fmt: skip
    assert letter.raw_size == len(raw)
    assert letter.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert base64.b64decode(letter.raw_b64) == raw[:MAX_RAW_BYTES]
    assert (letter.topic, letter.partition, letter.offset) == ("incidents.reports.raw", 3, 17)


def test_a_large_message_is_truncated_with_its_size_and_hash() -> None:
    raw = b'{"notes": "' + b"x" * 10_000_000 + b'"}'
    letter = dead_letter(raw, [], Event(raw, Message()), stage="validate", reason=Reason.CONTRACT)
    assert letter.raw_truncated and letter.raw_size == len(raw)
    assert len(letter.model_dump_json()) < 2 * MAX_RAW_BYTES  # far under Kafka's 1 MB


def test_errors_are_capped_in_number_and_length() -> None:
    errors = [FieldError(field=f"f{i}" * 500, message="m" * 10_000) for i in range(1000)]
    bounded = bounded_errors(errors)
    assert len(bounded) == MAX_ERRORS + 1
    assert bounded[-1].message == f"... and {1000 - MAX_ERRORS} more errors"
    assert all(len(e.field) <= 200 and len(e.message) <= 500 for e in bounded)


def test_identity_comes_from_the_key_first_then_the_json() -> None:
    assert identity(b"garbage", b"dawn:e-1") == ("dawn", "e-1")
    assert identity(b'{"source": "acled", "source_event_id": 7}', None) == ("acled", "7")
    assert identity(b"[" * 100_000, None) == ("", "")
    assert identity(b'{"source": {"nested": 1}}', None) == ("", "")


def test_contract_reason_tells_bad_json_from_a_broken_contract() -> None:
    assert contract_reason([FieldError.whole("not valid JSON: x")]) is Reason.INVALID_JSON
    assert contract_reason([FieldError(field="killed", message="too many")]) is Reason.CONTRACT


def test_an_internal_error_names_the_stage_and_the_exception() -> None:
    event = Event(b'{"x": 1}', Message(key=b"news:1"))
    letter = internal_error_letter("rollup", event, RecursionError("deep"))
    assert letter.reason == "internal" and letter.stage == "rollup"
    assert letter.errors[0].message == "internal error in rollup: RecursionError('deep')"
    assert (letter.source, letter.source_event_id) == ("news", "1")
