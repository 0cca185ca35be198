"""What a hostile feed sends: parse_report refuses it with a short reason, and never raises
anything but ReportValidationError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import safe_json
from schemas.errors import FieldError
from schemas.report import Report, ReportValidationError, parse_report

BASE: dict[str, Any] = {
    "source": "dawn",
    "source_event_id": "2024-0412",
    "version": 1,
    "reported_at": "2024-04-01T09:30:00+05:00",
    "occurred_on": "2024-04-01",
    "province": "Khyber Pakhtunkhwa",
    "district": "Peshawar",
    "category": "terror_attack",
}
DEEP = 100_000
DIGITS = "9" * 5000
MAX_MESSAGE = 300  # no message echoes megabytes of input


def with_raw(field: str, raw_value: str, base: dict[str, Any] = BASE) -> bytes:
    """BASE as JSON with ``field`` set to raw JSON text (which json.dumps cannot write)."""
    marker = "__RAW__"
    return json.dumps({**base, field: marker}).replace(f'"{marker}"', raw_value).encode()


def errors_of(raw: Any) -> list[FieldError]:
    with pytest.raises(ReportValidationError) as info:
        parse_report(raw)
    errors = info.value.errors
    assert errors, "a rejection names at least one problem"
    for error in errors:
        assert len(error.message) <= MAX_MESSAGE and len(error.field) <= 200, error
    return errors


# -- nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * DEEP,
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        "[" * DEEP,  # text as well as bytes
        with_raw("notes", "[" * DEEP + "]" * DEEP),
        with_raw("killed", '{"a":' * DEEP + "1" + "}" * DEEP),
    ],
    ids=["arrays", "closed-arrays", "objects", "closed-objects", "text", "in-notes", "in-killed"],
)
def test_deep_nesting_is_a_rejection_with_its_reason(raw: bytes | str) -> None:
    errors = errors_of(raw)
    assert errors[0].field == "$"
    assert errors[0].message.startswith(
        f"not valid JSON: nested too deeply (more than {safe_json.MAX_DEPTH} levels) at line 1"
    )


def test_nesting_the_parser_takes_is_judged_on_its_content() -> None:
    """Only nesting past the limit is "too deep"; 150 levels in notes is a wrong type."""
    errors = errors_of(with_raw("notes", "[" * 150 + "]" * 150))
    assert errors == [FieldError(field="notes", message="Input should be a valid string")]


# -- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (
            with_raw("killed", f'{{"civilians": {DIGITS}}}'),
            "killed.civilians",
            "integer with 5,000 digits is out of range (at most 5000)",
        ),
        (
            with_raw("injured", f'{{"militants": -{DIGITS}}}'),
            "injured.militants",
            "integer with 5,000 digits is out of range (at most 5000)",
        ),
        (
            with_raw("version", DIGITS),
            "version",
            "integer with 5,000 digits is out of range (at most 2147483647)",
        ),
        (
            with_raw("latitude", DIGITS + ".5"),
            "latitude",
            "number with 5,000 digits is out of range (numbers may have at most 4300 digits)",
        ),
        (
            with_raw("kiled", DIGITS),
            "kiled",
            "integer with 5,000 digits is out of range (numbers may have at most 4300 digits)",
        ),
        (
            DIGITS.encode(),
            "$",
            "integer with 5,000 digits is out of range (numbers may have at most 4300 digits)",
        ),
    ],
    ids=["killed", "negative-injured", "version", "float", "unknown-field", "document"],
)
def test_huge_numbers_are_named_at_their_field(raw: bytes, field: str, message: str) -> None:
    assert errors_of(raw) == [FieldError(field=field, message=message)]


def test_every_huge_number_is_named() -> None:
    raw = with_raw("killed", f'{{"civilians": {DIGITS}, "security": {DIGITS}}}')
    assert [e.field for e in errors_of(raw)] == ["killed.civilians", "killed.security"]


def test_numbers_python_can_still_convert_keep_the_usual_rule() -> None:
    assert errors_of(with_raw("killed", '{"civilians": ' + "9" * 4000 + "}")) == [
        FieldError(field="killed.civilians", message="Input should be less than or equal to 5000")
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latitude", "1e400"),
        ("latitude", "-1e400"),
        ("latitude", "NaN"),
        ("latitude", "Infinity"),
        ("longitude", "-Infinity"),
        ("killed", '{"civilians": 1e400}'),
        ("killed", '{"civilians": NaN}'),
        ("version", "Infinity"),
    ],
)
def test_infinite_and_nan_numbers_are_refused_at_their_field(field: str, value: str) -> None:
    coordinates = {"latitude": 34.0, "longitude": 71.5}
    errors = errors_of(with_raw(field, value, {**BASE, **coordinates}))
    assert errors[0].field.split(".")[0] == field


# -- bytes that are not text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bytes(range(256)), "not valid JSON: not UTF-8"),
        (b"\x00\x00\x00", "not valid JSON: Expecting value at line 1 column 1"),
        (b'{"source": "da\x00wn"}', "not valid JSON: Invalid control character at line 1"),
        (b'{"source": "\xc3\x28"}', "not valid JSON: not UTF-8"),
        (b"\x89PNG\r\n\x1a\n" + bytes(500), "not valid JSON: not UTF-8"),
    ],
    ids=["all-bytes", "nul", "nul-in-string", "invalid-utf8", "png"],
)
def test_binary_input_is_refused_at_the_root(raw: bytes, message: str) -> None:
    errors = errors_of(raw)
    assert errors[0].field == "$"
    assert errors[0].message.startswith(message)


def test_an_escaped_nul_is_just_a_character() -> None:
    errors = errors_of(json.dumps({**BASE, "source": "da\x00wn", "version": 0}).encode())
    assert {e.field for e in errors} == {"version"}


def test_a_huge_unknown_field_name_is_cut_short() -> None:
    errors = errors_of(json.dumps({**BASE, "k" * 1_000_000: 1}).encode())
    assert errors[0].field.startswith("kkk") and errors[0].field.endswith("…")


# -- dates at the contract's edges ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({"occurred_on": "1947-08-14", "reported_at": "1947-08-14T12:00:00+05:00"}, True),
        ({"occurred_on": "1947-08-13", "reported_at": "1947-08-14T12:00:00+05:00"}, False),
        ({"occurred_on": "1947-08-14", "reported_at": "1946-12-31T23:59:59Z"}, False),
        ({"occurred_on": "2298-12-31", "reported_at": "2298-12-31T18:59:59Z"}, True),
        ({"occurred_on": "2299-01-02", "reported_at": "2298-12-31T23:59:59Z"}, True),
        ({"occurred_on": "2299-01-01", "reported_at": "2299-01-01T00:00:00Z"}, False),
        ({"occurred_on": "2298-12-31", "reported_at": "2298-12-31T23:00:00-05:00"}, False),
        ({"occurred_on": "9999-12-31", "reported_at": "9999-12-31T23:59:59-05:00"}, False),
        ({"occurred_on": "0001-01-01", "reported_at": "0001-01-01T00:00:00+05:00"}, False),
        ({"occurred_on": "9999-12-31T23:00:00-05:00"}, False),
        ({"occurred_on": "0001-01-01T00:00:00+14:00"}, False),
    ],
)
def test_dates_at_the_edges(changes: dict[str, str], valid: bool) -> None:
    raw = json.dumps({**BASE, **changes}).encode()
    if valid:
        assert isinstance(parse_report(raw), Report)
    else:
        errors_of(raw)


# -- anything at all ---------------------------------------------------------------------------


def _only_rejections(raw: bytes | str) -> None:
    try:
        parse_report(raw)
    except ReportValidationError as e:
        assert all(len(error.message) <= MAX_MESSAGE for error in e.errors)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_report_or_a_rejection(raw: bytes) -> None:
    _only_rejections(raw)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["[", "]", "{", "}", '"a":', ",", "1", '"', "\\", "9" * 4400])))
def test_any_bracket_soup_gives_a_report_or_a_rejection(parts: list[str]) -> None:
    _only_rejections("".join(parts) * 500)


# -- the safe parser itself ---------------------------------------------------------------------


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"notes": "[" * DEEP + '\\" {' * 10})
    assert safe_json.too_deep(text) is None
    assert safe_json.loads(text) == json.loads(text)


def test_loads_marks_numbers_too_long_and_finds_them() -> None:
    doc = safe_json.loads(f'{{"a": [1, {DIGITS}], "b": {{"c": -{DIGITS}.5e3}}}}')
    assert list(safe_json.out_of_range(doc)) == [
        (("a", 1), safe_json.OutOfRange(5000, integer=True)),
        (("b", "c"), safe_json.OutOfRange(5000, integer=False)),
    ]


def test_loads_refuses_deep_nesting_as_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="nested too deeply") as info:
        safe_json.loads("\n" + "{" * DEEP)
    assert (info.value.lineno, info.value.colno) == (2, safe_json.MAX_DEPTH + 1)
