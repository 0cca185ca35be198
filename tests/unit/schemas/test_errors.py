"""FieldError: the one error record, and the wire form it must keep (plain dicts' JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.errors import WHOLE_DOCUMENT, FieldError
from schemas.exceptions import ReportValidationError
from schemas.report import parse_report
from schemas.warehouse import DeadLetter

# A dead letter as the platform wrote it when errors were plain dicts (same bytes today).
LETTER_JSON = (
    '{"errors":[{"field":"killed.civilians","message":"must be >= 0"},'
    '{"field":"$","message":"not valid JSON: x"}],'
    '"raw_b64":"e30=","topic":"incidents.reports.raw","partition":1,"offset":7,'
    '"received_at":"2025-03-01T09:00:00Z","source":"dawn","source_event_id":"e-9",'
    '"stage":"validate","reason":"contract","raw_size":2,'
    '"raw_sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",'
    '"raw_truncated":false}'
)


def letter() -> DeadLetter:
    return DeadLetter(
        errors=[
            FieldError(field="killed.civilians", message="must be >= 0"),
            FieldError.whole("not valid JSON: x"),
        ],
        raw_b64="e30=",
        topic="incidents.reports.raw",
        partition=1,
        offset=7,
        received_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        source="dawn",
        source_event_id="e-9",
        stage="validate",
        reason="contract",
        raw_size=2,
        raw_sha256="44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    )


def test_whole_is_the_one_spelling_of_the_whole_document() -> None:
    assert WHOLE_DOCUMENT == "$"
    assert FieldError.whole("bad") == FieldError(field="$", message="bad")


def test_text_form_is_field_colon_message() -> None:
    assert str(FieldError(field="killed.civilians", message="too many")) == (
        "killed.civilians: too many"
    )
    assert str(FieldError.whole("expected a JSON object")) == "$: expected a JSON object"
    assert str(FieldError(field="", message="no field")) == "no field"


def test_a_field_error_is_frozen_and_hashable() -> None:
    error = FieldError.whole("bad")
    with pytest.raises(ValidationError):
        error.message = "other"  # type: ignore[misc]
    assert len({error, FieldError.whole("bad")}) == 1


def test_its_dict_and_json_forms_are_the_old_dicts() -> None:
    error = FieldError(field="notes", message="Input should be a valid string")
    assert error.model_dump() == {"field": "notes", "message": "Input should be a valid string"}
    assert list(error.model_dump()) == ["field", "message"]  # key order, as before
    assert error.model_dump_json() == json.dumps(error.model_dump(), separators=(",", ":"))


def test_a_dead_letter_serializes_exactly_as_before() -> None:
    assert letter().model_dump_json() == LETTER_JSON


def test_a_dead_letter_already_on_a_topic_decodes_and_round_trips() -> None:
    decoded = DeadLetter.model_validate_json(LETTER_JSON)
    assert decoded == letter()
    assert all(isinstance(e, FieldError) for e in decoded.errors)
    assert decoded.model_dump_json() == LETTER_JSON


def test_an_old_letter_with_extra_keys_in_an_error_still_decodes() -> None:
    old = json.loads(LETTER_JSON)
    old["errors"][0]["hint"] = "written by some older tool"
    decoded = DeadLetter.model_validate(old)
    assert decoded.errors[0] == FieldError(field="killed.civilians", message="must be >= 0")


def test_a_contract_rejection_lists_field_errors_and_joins_them_in_its_text() -> None:
    with pytest.raises(ReportValidationError) as info:
        parse_report(b"[1]")
    assert info.value.errors == [FieldError.whole("expected a JSON object")]
    assert str(info.value) == "$: expected a JSON object"
