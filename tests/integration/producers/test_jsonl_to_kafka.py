"""The JSON-lines producer against the real broker: exact counts, keys and partitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidents_config.settings import Settings
from producers.jsonl import BLANK_LINE, publish_jsonl

pytestmark = pytest.mark.integration


def report(event_id: str, version: int = 1, **changes: Any) -> str:
    base: dict[str, Any] = {
        "source": "dawn",
        "source_event_id": event_id,
        "version": version,
        "reported_at": f"2024-01-0{5 + version}T08:00:00+00:00",
        "occurred_on": "2024-01-05",
        "province": "Balochistan",
        "district": "Quetta",
        "category": "terror_attack",
        "subtype": "suicide_attack",
        "killed": {"civilians": 9 + version},
    }
    return json.dumps({**base, **changes})


GOOD = [
    report("q-1", 1),
    report("q-2"),
    report("q-1", 2),  # a revision: must share q-1's partition
    report("q-3"),
    report("q-1", 3),
    report("q-4", province="KPK", district="DI Khan"),
]
BAD = [
    "this is not json",
    report("q-bad-1", category="riot"),
    report("q-bad-2", killed={"civilians": -3}),
]
LINES = [GOOD[0], BAD[0], GOOD[1], "", GOOD[2], BAD[1], GOOD[3], "  ", GOOD[4], BAD[2], GOOD[5]]


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_validated_run_counts_exactly_and_lands_keyed(
    kafka_settings: Callable[..., Settings],
    consume_raw: Callable[[Settings, int], list[Any]],
    mixed_file: Path,
    tmp_path: Path,
) -> None:
    settings = kafka_settings()
    rejects = tmp_path / "rejects.jsonl"

    summary = publish_jsonl(mixed_file, settings, rejects_path=rejects)

    assert (summary.sent, summary.skipped, summary.rejected, summary.failed) == (6, 2, 3, 0)
    assert summary.skip_reasons == {BLANK_LINE: 2}
    assert [json.loads(line)["line"] for line in rejects.read_text().splitlines()] == [2, 6, 10]

    records = consume_raw(settings, 6)
    assert len(records) == 6
    # The original bytes, in file order per key, keyed source:source_event_id.
    assert sorted(r.value.decode() for r in records) == sorted(GOOD)
    assert {r.key.decode() for r in records} == {"dawn:q-1", "dawn:q-2", "dawn:q-3", "dawn:q-4"}
    q1 = [r for r in records if r.key == b"dawn:q-1"]
    assert len({r.partition for r in q1}) == 1
    assert [json.loads(r.value)["version"] for r in sorted(q1, key=lambda r: r.offset)] == [1, 2, 3]


def test_no_validate_sends_malformed_lines_too(
    kafka_settings: Callable[..., Settings],
    consume_raw: Callable[[Settings, int], list[Any]],
    mixed_file: Path,
) -> None:
    settings = kafka_settings()

    summary = publish_jsonl(mixed_file, settings, validate=False)

    assert (summary.sent, summary.skipped, summary.rejected, summary.failed) == (9, 2, 0, 0)
    records = consume_raw(settings, 9)
    assert sorted(r.value.decode() for r in records) == sorted(GOOD + BAD)
    unkeyed = [r for r in records if r.key is None]
    assert [r.value for r in unkeyed] == [b"this is not json"]
