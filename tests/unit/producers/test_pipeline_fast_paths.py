"""The unvalidated path's JSON reading decides exactly as schemas.safe_json.loads (issue 20)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from producers import pipeline
from schemas import safe_json


def outcome(loads: Any, text: str) -> tuple[str, str]:
    try:
        return "ok", repr(loads(text))  # repr: NaN equals itself, int and float differ
    except ValueError as e:
        return type(e).__name__, str(e)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
texts = st.one_of(
    json_values.map(json.dumps),
    json_values.map(lambda v: json.dumps(v)[:-1]),  # cut short
    st.text(alphabet='[]{}",:0123456789.eE-+ \\ntrufalsNIiy', max_size=60),
    st.integers(1, 400).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 400).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(4200, 4400).map(lambda n: '{"n": ' + "9" * n + "}"),
    st.integers(4200, 4400).map(lambda n: '{"n": -' + "9" * n + ".5}"),
)


@settings(max_examples=1500, deadline=None)
@given(texts)
@example('{"source": "dawn", "source_event_id": 7}')
@example('{"a": NaN, "b": -Infinity, "c": 1e400}')
@example('"\\ud800"')
@example("[" * 200 + "]" * 200)
@example("[" * 201 + "]" * 201)
@example('["' + "[" * 300 + '"]')
@example("9" * 4300)
@example("9" * 4301)
def test_reading_json_decides_as_safe_json(text: str) -> None:
    assert outcome(pipeline._loads, text) == outcome(safe_json.loads, text)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none()),
    st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none()),
)
def test_guess_key_is_unchanged(source: Any, event_id: Any) -> None:
    value = json.dumps({"source": source, "source_event_id": event_id}).encode()
    key = pipeline.guess_key(value)
    with pytest.MonkeyPatch.context() as patch:  # the reference: safe_json.loads throughout
        patch.setattr(pipeline, "_loads", safe_json.loads)
        assert key == pipeline.guess_key(value)
