"""Counting, rejecting and keying in the file producers, with a fake publisher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from incidents_config.settings import Settings
from producers.acled import OUTSIDE_PAKISTAN, publish_acled
from producers.exceptions import InputNotFound, KafkaUnavailable
from producers.jsonl import BLANK_LINE, publish_jsonl
from producers.pipeline import rejection_line
from producers.publisher import Publisher
from producers.summary import PublishSummary, format_summary
from schemas.errors import FieldError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "acled_sample.csv"


def report(event_id: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": "dawn",
        "source_event_id": event_id,
        "version": 1,
        "reported_at": "2024-01-06T08:00:00+00:00",
        "occurred_on": "2024-01-05",
        "province": "Khyber Pakhtunkhwa",
        "district": "Peshawar",
        "category": "terror_attack",
        "subtype": "ied",
        "killed": {"civilians": 2},
        "injured": {"civilians": 5},
    }
    base.update(changes)
    return base


GOOD = [json.dumps(report(f"d-{i}")) for i in range(3)]
BAD_JSON = '{"source": "dawn", "source_event_id":'
BAD_CATEGORY = json.dumps(report("d-bad-1", category="riot"))
BAD_KILLED = json.dumps(report("d-bad-2", killed={"civilians": -1}))
LINES = [GOOD[0], "", BAD_JSON, GOOD[1], "   ", BAD_CATEGORY, GOOD[2], BAD_KILLED]


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(kafka={"bootstrap_servers": "127.0.0.1:1"})


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "reports.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_no_validate_sends_every_non_blank_line_as_is(
    fake_publisher: Any, settings: Settings, mixed_file: Path
) -> None:
    fake = fake_publisher()
    summary = publish_jsonl(mixed_file, settings, validate=False, publisher=fake)
    assert (summary.sent, summary.skipped, summary.rejected, summary.failed) == (6, 2, 0, 0)
    assert summary.skip_reasons == {BLANK_LINE: 2}
    assert [v.decode() for _, v in fake.sent] == [
        GOOD[0],
        BAD_JSON,
        GOOD[1],
        BAD_CATEGORY,
        GOOD[2],
        BAD_KILLED,
    ]
    # Keys are source:source_event_id when the bytes have them, else None.
    assert [k for k, _ in fake.sent] == [
        "dawn:d-0",
        None,
        "dawn:d-1",
        "dawn:d-bad-1",
        "dawn:d-2",
        "dawn:d-bad-2",
    ]
    assert fake.flushes == 1
    assert not summary.validated


def test_validation_rejects_bad_lines_and_writes_the_rejects_file(
    fake_publisher: Any, settings: Settings, mixed_file: Path, tmp_path: Path
) -> None:
    fake = fake_publisher()
    rejects = tmp_path / "rejects.jsonl"
    summary = publish_jsonl(mixed_file, settings, rejects_path=rejects, publisher=fake)
    assert (summary.sent, summary.skipped, summary.rejected, summary.failed) == (3, 2, 3, 0)
    assert fake.sent == [(f"dawn:d-{i}", GOOD[i].encode()) for i in range(3)]
    written = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [w["line"] for w in written] == [3, 6, 8]
    assert [w["raw"] for w in written] == [BAD_JSON, BAD_CATEGORY, BAD_KILLED]
    assert all(w["errors"] and {"field", "message"} <= set(w["errors"][0]) for w in written)
    assert any(e["field"].startswith("category") for e in written[1]["errors"])
    assert any(e["field"].startswith("killed") for e in written[2]["errors"])
    assert sum(summary.reject_reasons.values()) >= 3


def test_delivery_failures_are_counted_not_raised(
    fake_publisher: Any, settings: Settings, mixed_file: Path
) -> None:
    fake = fake_publisher(fail_keys=frozenset({"dawn:d-1", None}))
    summary = publish_jsonl(mixed_file, settings, validate=False, publisher=fake)
    assert (summary.sent, summary.failed) == (4, 2)
    assert summary.failure_reasons == {"RuntimeError": 2}
    assert not summary.ok


def test_stdin_dash_and_streams(fake_publisher: Any, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_bytes(GOOD[0].encode() + b"\r\n\n")
    fake = fake_publisher()
    with path.open("rb") as stream:
        summary = publish_jsonl(stream, settings, validate=False, publisher=fake)
    assert fake.sent == [("dawn:d-0", GOOD[0].encode())]
    assert (summary.sent, summary.skipped) == (1, 1)


def test_missing_file_is_a_one_line_typed_error(
    fake_publisher: Any, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(InputNotFound) as info:
        publish_jsonl(tmp_path / "nope.jsonl", settings, publisher=fake_publisher())
    assert "\n" not in str(info.value) and "nope.jsonl" in str(info.value)


def test_progress_bar_on_request_does_not_change_counts(
    fake_publisher: Any, settings: Settings, mixed_file: Path
) -> None:
    summary = publish_jsonl(
        mixed_file, settings, validate=False, progress=True, publisher=fake_publisher()
    )
    assert summary.sent == 6


def test_acled_file_counts(fake_publisher: Any, settings: Settings) -> None:
    fake = fake_publisher()
    summary = publish_acled(FIXTURE, settings, validate=False, publisher=fake)
    # 14 rows: 11 mapped, the protest and the Afghan row skipped, the bad row rejected
    # even without validation (it cannot be mapped).
    assert (summary.sent, summary.skipped, summary.rejected) == (11, 2, 1)
    assert summary.skip_reasons[OUTSIDE_PAKISTAN] == 1
    keys = [k for k, _ in fake.sent]
    assert keys[0] == "acled:PAK1001" and len(set(keys)) == 11
    assert json.loads(fake.sent[0][1])["source_event_id"] == "PAK1001"


def test_acled_fixture_rows_pass_the_contract(fake_publisher: Any, settings: Settings) -> None:
    fake = fake_publisher()
    summary = publish_acled(FIXTURE, settings, publisher=fake)
    assert summary.reject_reasons.keys() <= {
        "occurred_on: bad event_date '31 Febuary 2024'",
        "killed: bad fatalities 'several'",
    }
    assert (summary.sent, summary.skipped, summary.rejected) == (11, 2, 1)


def test_a_rejects_file_line_keeps_its_json_form() -> None:
    errors = [FieldError(field="killed", message="bad ü"), FieldError.whole("not valid JSON")]
    assert rejection_line(3, errors, "{ü") == (
        '{"line": 3, "errors": [{"field": "killed", "message": "bad ü"},'
        ' {"field": "$", "message": "not valid JSON"}], "raw": "{ü"}\n'
    )


def test_format_summary_groups_and_limits_reasons() -> None:
    summary = PublishSummary(input="feed.jsonl", seconds=2.0)
    for _ in range(3):
        summary.delivered(None)
    summary.skip(BLANK_LINE)
    for n in range(7):
        summary.reject([FieldError(field=f"f{n}", message="bad [x]")] * (n + 1))
    text = format_summary(summary, top=5)
    assert text.splitlines()[0].startswith("feed.jsonl: sent 3, skipped 1, rejected 7, failed 0")
    assert "top 5 of 7 reasons" in text
    assert "1 × f0: bad \\[x]" in text  # escaped for rich markup
    assert summary.records == 11


def test_unreachable_kafka_is_a_typed_one_line_error(settings_factory: Any) -> None:
    settings = settings_factory(kafka={"bootstrap_servers": "127.0.0.1:9"})
    with (
        pytest.raises(KafkaUnavailable, match=r"^cannot reach Kafka at 127\.0\.0\.1:9 — is the"),
        Publisher(settings.kafka, bootstrap_timeout_s=1.0),
    ):
        pass
