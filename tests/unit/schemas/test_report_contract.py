"""The report contract: parsing, normalization and every validation rule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import FieldError
from schemas.exceptions import SchemaError
from schemas.report import (
    SCHEMA_FILE,
    SCHEMA_ID,
    SCHEMA_VERSION,
    Casualties,
    Report,
    ReportValidationError,
    json_schema,
    json_schema_text,
    normalize_location,
    parse_report,
)
from tests.strategies import valid_report_dicts, valid_reports

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


def report(**changes: Any) -> dict[str, Any]:
    """BASE with changes applied; a value of ... removes the field."""
    merged = {**BASE, **changes}
    return {k: v for k, v in merged.items() if v is not ...}


def errors_of(raw: Any) -> list[FieldError]:
    with pytest.raises(ReportValidationError) as info:
        parse_report(raw)
    return info.value.errors


def fields_of(raw: Any) -> set[str]:
    return {e.field for e in errors_of(raw)}


# -- round trip --------------------------------------------------------------------


@settings(max_examples=300)
@given(valid_reports())
def test_valid_reports_survive_a_json_round_trip(r: Report) -> None:
    assert Report.model_validate_json(r.model_dump_json()) == r
    assert parse_report(r.model_dump_json().encode()) == r
    assert parse_report(r.model_dump(mode="json")) == r


@given(valid_report_dicts())
def test_bytes_text_and_dict_inputs_agree(raw: dict[str, Any]) -> None:
    text = json.dumps(raw)
    assert parse_report(text) == parse_report(text.encode()) == parse_report(raw)


@given(valid_reports())
def test_normalized_values_are_canonical(r: Report) -> None:
    assert r.reported_at.utcoffset() is not None
    assert r.reported_at.tzinfo == UTC
    assert r.report_id == f"{r.source}:{r.source_event_id}"
    assert (r.latitude is None) == (r.longitude is None)


# -- occurred_on ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "local"),
    [
        ("2024-03-31T22:00Z", date(2024, 4, 1)),
        ("2024-03-31T22:00:00+00:00", date(2024, 4, 1)),
        ("2024-03-31T18:59:59Z", date(2024, 3, 31)),
        ("2024-03-31T19:00:00Z", date(2024, 4, 1)),
        ("2024-03-31T14:00:00-05:00", date(2024, 4, 1)),
        ("2024-04-01T00:30:00+05:00", date(2024, 4, 1)),
        ("2024-03-31", date(2024, 3, 31)),
    ],
)
def test_occurred_on_is_the_karachi_date(sent: str, local: date) -> None:
    assert parse_report(report(occurred_on=sent)).occurred_on == local


def test_occurred_on_may_be_one_day_after_the_report() -> None:
    assert parse_report(report(occurred_on="2024-04-02")).occurred_on == date(2024, 4, 2)


def test_reported_at_is_stored_in_utc() -> None:
    r = parse_report(report())
    assert r.reported_at == datetime(2024, 4, 1, 4, 30, tzinfo=UTC)
    assert r.model_dump_json().count("2024-04-01T04:30:00Z") == 1


# -- each rule names its field -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"reported_at": "2024-04-01T09:30:00"}, "reported_at", "time zone"),
        ({"reported_at": 1711945800}, "reported_at", "ISO 8601"),
        ({"occurred_on": "2024-04-03"}, "occurred_on", "after the report's local date"),
        ({"occurred_on": "1947-08-13"}, "occurred_on", "before 1947-08-14"),
        ({"occurred_on": "2024-03-31T22:00:00"}, "occurred_on", "time zone"),
        ({"occurred_on": "yesterday"}, "occurred_on", "ISO 8601"),
        ({"latitude": 40.0, "longitude": 70.0}, "latitude", "outside Pakistan"),
        ({"latitude": 34.0, "longitude": 80.0}, "longitude", "outside Pakistan"),
        ({"latitude": 25.0, "longitude": 71.5}, "latitude", "bounding box of Khyber"),
        ({"latitude": 34.0, "longitude": 66.0}, "longitude", "bounding box of Khyber"),
        ({"latitude": float("nan"), "longitude": 71.5}, "latitude", "outside Pakistan"),
        ({"latitude": 34.0}, "longitude", "required when latitude"),
        ({"longitude": 71.5}, "latitude", "required when longitude"),
        ({"killed": {"civilians": 5001}}, "killed.civilians", "5000"),
        ({"injured": {"unknown": -1}}, "injured.unknown", "0"),
        ({"killed": {"security": "3"}}, "killed.security", "integer"),
        ({"source": "a" * 129}, "source", "128"),
        ({"source_event_id": "x" * 129}, "source_event_id", "128"),
        ({"location": "x" * 129}, "location", "128"),
        ({"perpetrator": "x" * 129}, "perpetrator", "128"),
        ({"notes": "x" * 4001}, "notes", "4000"),
        ({"url": "https://dawn.com/" + "x" * 2048}, "url", "2048"),
        ({"url": "ftp://dawn.com/a"}, "url", "http"),
        ({"url": "javascript:alert(1)"}, "url", "http"),
        ({"source": ""}, "source", "empty"),
        ({"source": " dawn"}, "source", "whitespace"),
        ({"source": "da:wn"}, "source", "':'"),
        ({"source_event_id": ""}, "source_event_id", "empty"),
        ({"source_event_id": "e1 "}, "source_event_id", "whitespace"),
        ({"version": 0}, "version", "greater than or equal to 1"),
        ({"version": 1.5}, "version", "integer"),
        ({"retracted": "yes"}, "retracted", "boolean"),
        ({"category": "riot"}, "category", "terror_attack"),
        ({"subtype": "bombing"}, "subtype", "suicide_attack"),
        ({"date_precision": "year"}, "date_precision", "day"),
        ({"schema_version": 2}, "schema_version", "1"),
        ({"province": "Pujnab", "district": ...}, "province", "did you mean 'Punjab'"),
        ({"district": "Peshwar"}, "district", "did you mean 'Peshawar'"),
        ({"province": "Sindh"}, "district", "not in Sindh"),
        ({"province": "Quetta", "district": ...}, "province", "district of Balochistan"),
        ({"district": "Karachi", "province": "Sindh"}, "district", "covers several districts"),
        ({"province": ..., "district": ...}, "province", "required"),
        ({"category": ...}, "category", "missing"),
        ({"kiled": {"civilians": 3}}, "kiled", "did you mean 'killed'"),
        ({"killed": {"civilans": 3}}, "killed.civilans", "did you mean 'civilians'"),
    ],
)
def test_each_rule_names_its_field(changes: dict[str, Any], field: str, fragment: str) -> None:
    errors = errors_of(report(**changes))
    assert [e.field for e in errors] == [field], errors
    assert fragment in errors[0].message


def test_every_problem_is_listed() -> None:
    raw = report(version=0, killed={"civilians": -1}, url="x", kiled=1)
    assert fields_of(raw) == {"version", "killed.civilians", "url", "kiled"}


def test_error_text_names_field_and_problem() -> None:
    with pytest.raises(ReportValidationError) as info:
        parse_report(report(kiled={"civilians": 1}))
    assert str(info.value).startswith("kiled: unknown field")
    assert isinstance(info.value, SchemaError)
    assert isinstance(info.value, ValueError)


# -- gazetteer normalization ----------------------------------------------------------


def test_aliases_become_canonical_names() -> None:
    r = parse_report(report(province="kpk", district="d.i. khan"))
    assert (r.province, r.district) == ("Khyber Pakhtunkhwa", "Dera Ismail Khan")


@pytest.mark.parametrize("missing", [..., None])
def test_district_alone_fills_the_province(missing: Any) -> None:
    r = parse_report(report(province=missing, district="Turbat"))
    assert (r.province, r.district) == ("Balochistan", "Kech")


def test_province_without_district() -> None:
    r = parse_report(report(province="Sind", district=...))
    assert (r.province, r.district) == ("Sindh", None)


def test_blank_optional_text_becomes_null() -> None:
    r = parse_report(report(district="  ", location=" Bara  ", notes=""))
    assert (r.district, r.location, r.notes) == (None, "Bara", None)


# -- raw input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON: Expecting value at line 1 column 1"),
        ("{", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b"\xff\xfe", "not valid JSON: not UTF-8"),
        ("[1, 2]", "expected a JSON object"),
        ('"report"', "expected a JSON object"),
        ("null", "expected a JSON object"),
    ],
)
def test_bad_documents_are_reported_at_the_root(raw: Any, message: str) -> None:
    errors = errors_of(raw)
    assert errors[0].field == "$"
    assert errors[0].message.startswith(message)


def test_non_mapping_python_input() -> None:
    assert errors_of([1, 2]) == [FieldError(field="$", message="expected a JSON object")]


def test_report_id() -> None:
    assert parse_report(report()).report_id == "dawn:2024-0412"


def test_casualties_total() -> None:
    assert Casualties(civilians=1, security=2, militants=3, unknown=4).total == 10


def test_reports_are_frozen() -> None:
    r = parse_report(report())
    with pytest.raises(ValueError):
        r.version = 2  # type: ignore[misc]


# -- normalize_location ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        (None, ""),
        ("   ", ""),
        ("  Mir   Ali ", "mir ali"),
        ("D.I. Khan", "di khan"),
        ("Kolai-Palas", "kolai palas"),
        ("Bara, Khyber", "bara khyber"),
        ("QUETTA's Hazara Town", "quettas hazara town"),
    ],
)
def test_normalize_location(written: str | None, normalized: str) -> None:
    assert normalize_location(written) == normalized


@given(st.text())
def test_normalize_location_is_idempotent(s: str) -> None:
    once = normalize_location(s)
    assert normalize_location(once) == once
    assert once == once.strip()


# -- JSON Schema -------------------------------------------------------------------------


def test_committed_json_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), (
        "schemas/report.schema.json is stale: run `python -m schemas.report`"
    )


def test_json_schema_identifies_itself() -> None:
    schema = json_schema()
    assert schema["$id"] == SCHEMA_ID
    assert schema["version"] == SCHEMA_VERSION
    assert schema["title"] == "Incident report"
    assert schema["additionalProperties"] is False
    assert "province" not in schema["required"]
