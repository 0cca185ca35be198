"""Hostile input to the file producers: every bad record is rejected with its reason and
the run goes on (a fake publisher stands in for Kafka)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from incidents_config.settings import Settings
from producers.acled import COLUMNS, acled_items, map_row, publish_acled
from producers.exceptions import AcledRowError, InputFormatError
from producers.jsonl import BLANK_LINE, publish_jsonl
from producers.pipeline import (
    BoundedLines,
    Candidate,
    LongLine,
    Rejected,
    check_record,
    guess_key,
)
from producers.publisher import RECORD_OVERHEAD_BYTES

MAX_MESSAGE = 262_144  # the smallest KAFKA_MAX_MESSAGE_BYTES allowed
LIMIT = MAX_MESSAGE - RECORD_OVERHEAD_BYTES  # key and value together
DEEP = 60_000  # deeper than any recursion limit, smaller than a message
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
    }
    return {**base, **changes}


def line(event_id: str, **changes: Any) -> bytes:
    return json.dumps(report(event_id, **changes)).encode()


def padded(event_id: str, size: int) -> bytes:
    """A valid report whose key and value take exactly ``size`` bytes (JSON whitespace)."""
    key = f"dawn:{event_id}".encode()
    value = line(event_id)
    value = value[:-1] + b" " * (size - len(key) - len(value)) + b"}"
    assert len(key) + len(value) == size
    return value


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(
        kafka={"bootstrap_servers": "127.0.0.1:1", "max_message_bytes": MAX_MESSAGE}
    )


# What a hostile feed sends, each between good lines; (line, field, start of the message).
HOSTILE: list[tuple[bytes, str, str]] = [
    (b"[" * DEEP, "$", "not valid JSON: nested too deeply"),
    (b'{"a":' * (DEEP // 5), "$", "not valid JSON: nested too deeply"),
    (bytes(range(256)).replace(b"\n", b""), "$", "not valid JSON: not UTF-8"),
    (b"\x00\x00\x00", "$", "not valid JSON"),
    (line("h-1")[:-1] + b', "notes": "a\x00b"}', "$", "not valid JSON: Invalid control"),
    (b'{"source": "\xc3\x28"}', "$", "not valid JSON: not UTF-8"),
    (
        line("h-2").replace(b'"version": 1', b'"version": ' + b"9" * 5000),
        "version",
        "integer with 5,000 digits is out of range",
    ),
    (line("h-3", latitude=1e400, longitude=71.5).replace(b"Infinity", b"1e400"), "latitude", ""),
    (line("h-4", latitude=float("nan"), longitude=71.5), "latitude", ""),
    (line("h-5", occurred_on="1947-08-13"), "occurred_on", "1947-08-13 is before"),
    (line("h-6", reported_at="2299-01-01T00:00:00Z"), "reported_at", "must be between"),
    (padded("h-7", LIMIT + 1), "$", f"too large for one Kafka message: {LIMIT + 1:,} bytes"),
    (b"x" * (3 * MAX_MESSAGE), "$", f"too large for one Kafka message: {3 * MAX_MESSAGE:,}"),
]


def mixed_feed() -> tuple[bytes, list[bytes]]:
    good = [line(f"g-{i}") for i in range(len(HOSTILE) + 1)]
    good.append(padded("g-limit", LIMIT))  # exactly at the limit: sent
    lines = [good[0]]
    for (bad, _field, _message), ok in zip(HOSTILE, good[1:], strict=False):
        lines += [bad, ok]
    lines.append(good[-1])
    return b"\n".join(lines) + b"\n", good


def test_a_hostile_line_is_rejected_and_its_neighbours_are_sent(
    fake_publisher: Any, settings: Settings, tmp_path: Path
) -> None:
    data, good = mixed_feed()
    fake = fake_publisher()
    rejects = tmp_path / "rejects.jsonl"

    summary = publish_jsonl(io.BytesIO(data), settings, rejects_path=rejects, publisher=fake)

    assert [value for _key, value in fake.sent] == good
    assert (summary.sent, summary.rejected, summary.failed) == (len(good), len(HOSTILE), 0)
    rejected = [json.loads(r) for r in rejects.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rejected] == [2 * i for i in range(1, len(HOSTILE) + 1)]
    for r, (_line, field, message) in zip(rejected, HOSTILE, strict=True):
        assert r["errors"][0]["field"] == field, r["errors"]
        assert r["errors"][0]["message"].startswith(message), r["errors"]
        assert len(r["raw"]) < MAX_MESSAGE  # a line too large is cut, not copied whole


def test_too_large_names_its_size_and_the_limit(fake_publisher: Any, settings: Settings) -> None:
    data = padded("big", LIMIT + 1) + b"\n"
    summary = publish_jsonl(io.BytesIO(data), settings, publisher=fake_publisher())
    assert list(summary.reject_reasons) == [
        f"$: too large for one Kafka message: {LIMIT + 1:,} bytes, at most {LIMIT:,}"
        f" (KAFKA_MAX_MESSAGE_BYTES {MAX_MESSAGE:,} minus {RECORD_OVERHEAD_BYTES} bytes of"
        " record overhead)"
    ]


def test_without_validation_hostile_lines_are_sent_but_too_large_ones_are_not(
    fake_publisher: Any, settings: Settings
) -> None:
    data, good = mixed_feed()
    fake = fake_publisher()

    summary = publish_jsonl(io.BytesIO(data), settings, validate=False, publisher=fake)

    too_large = [bad for bad, _f, message in HOSTILE if message.startswith("too large")]
    assert summary.rejected == len(too_large)
    assert summary.sent == len(good) + len(HOSTILE) - len(too_large)
    keys = dict(zip([v for _k, v in fake.sent], [k for k, _v in fake.sent], strict=True))
    assert keys[b"[" * DEEP] is None


@pytest.mark.parametrize(
    "value", [b"[" * 100_000, b'{"a":' * 100_000, b"\xff\xfe", b"9" * 5000, b'{"source": 1e400}']
)
def test_guess_key_never_raises(value: bytes) -> None:
    assert guess_key(value) is None


def test_check_record_limit_counts_the_key() -> None:
    assert check_record(padded("k", LIMIT), max_message_bytes=MAX_MESSAGE) == ("dawn:k", [])
    key, errors = check_record(padded("k", LIMIT + 1), max_message_bytes=MAX_MESSAGE)
    assert key is None
    assert errors[0].message.startswith(f"too large for one Kafka message: {LIMIT + 1:,}")


class ReadRecorder(io.BytesIO):
    """A stream that remembers the largest read it was asked for and answered."""

    largest = 0

    def readline(self, size: int | None = -1, /) -> bytes:
        chunk = super().readline(size)
        self.largest = max(self.largest, len(chunk))
        return chunk


def test_a_line_over_the_limit_is_never_read_whole() -> None:
    stream = ReadRecorder(b"a\n" + b"x" * 10_000_000 + b'"\n' + b"b")
    lines = BoundedLines(stream, MAX_MESSAGE)
    assert list(lines) == [b"a\n", LongLine(10_000_001, b"x" * 200, 1), b"b"]
    assert stream.largest <= MAX_MESSAGE + 1
    assert lines.bytes_read == len(stream.getvalue())


def test_line_at_the_limit_is_a_line() -> None:
    exact = b"x" * MAX_MESSAGE
    assert list(BoundedLines(io.BytesIO(exact + b"\n" + exact), MAX_MESSAGE)) == [
        exact + b"\n",
        exact,
    ]
    assert list(BoundedLines(io.BytesIO(exact + b"x"), MAX_MESSAGE)) == [
        LongLine(MAX_MESSAGE + 1, b"x" * 200, 0)
    ]


# -- ACLED ---------------------------------------------------------------------------------


def acled_rows() -> tuple[bytes, list[list[str]]]:
    """The fixture's header line, and its rows that map to reports."""
    with FIXTURE.open("rb") as f:
        header = f.readline()
        rows = list(csv.reader(io.StringIO(f.read().decode())))

    def maps(row: list[str]) -> bool:
        try:
            return isinstance(map_row(dict(zip(COLUMNS, row, strict=True))), dict)
        except AcledRowError:
            return False

    return header, [row for row in rows if maps(row)]


def csv_line(row: list[str], **changes: str) -> bytes:
    row = list(row)
    for column, value in changes.items():
        row[COLUMNS.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode()


def items_of(data: bytes) -> list[Any]:
    return list(acled_items(io.BytesIO(data), MAX_MESSAGE))


def publish_csv(data: bytes, settings: Settings, fake: Any, rejects: Path) -> Any:
    stream: BinaryIO = io.BytesIO(data)
    return publish_acled(stream, settings, rejects_path=rejects, publisher=fake)


def test_acled_notes_of_200_kb_are_cut_to_the_contract(
    fake_publisher: Any, settings_factory: Any, tmp_path: Path
) -> None:
    header, rows = acled_rows()
    data = header + csv_line(rows[0], notes="n" * 200_000) + csv_line(rows[1])
    fake = fake_publisher()
    default = settings_factory(kafka={"bootstrap_servers": "127.0.0.1:1"})  # 1 MiB messages

    summary = publish_csv(data, default, fake, tmp_path / "rejects.jsonl")

    assert (summary.sent, summary.rejected) == (2, 0)
    assert len(json.loads(fake.sent[0][1])["notes"]) == 4000


def test_acled_bad_rows_are_rejected_and_the_run_goes_on(
    fake_publisher: Any, settings: Settings, tmp_path: Path
) -> None:
    header, rows = acled_rows()
    multi_line = csv_line(rows[2], notes="first\nsecond\n" + "m" * MAX_MESSAGE)
    lines = [
        header,  # 1
        csv_line(rows[0]),  # 2
        csv_line(rows[1], notes="q" * (2 * MAX_MESSAGE)),  # 3: over the limit on one line
        csv_line(rows[2]),  # 4
        multi_line,  # 5-7: over the limit across lines
        b"PAK9999,2024-01-05\rmore,fields\n",  # 8: csv.Error
        csv_line(rows[3]),  # 9-10 (its notes hold a line break)
        b"\x00\x01\xff\xfe garbage\n",  # 11: not a row of the header's width
        csv_line(rows[4], notes="a NUL \x00 inside"),  # 12: sent
        csv_line(rows[5]),  # 13
    ]
    fake = fake_publisher()
    rejects = tmp_path / "rejects.jsonl"

    summary = publish_csv(b"".join(lines), settings, fake, rejects)

    sent = [json.loads(value)["source_event_id"] for _key, value in fake.sent]
    assert sent == [rows[i][0] for i in (0, 2, 3, 4, 5)]
    rejected = [json.loads(r) for r in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["errors"][0]["message"].split(":")[0]) for r in rejected] == [
        (3, "row too large"),
        (5, "row too large"),
        (8, "not valid CSV"),
        (11, "row has 1 fields; the header has 22"),
    ]
    assert rejected[0]["errors"][0]["message"] == (
        f"row too large: {len(lines[2]) - 1:,} bytes, at most {MAX_MESSAGE:,}"
        " (KAFKA_MAX_MESSAGE_BYTES)"
    )
    assert summary.rejected == 4 and summary.sent == 5


def test_acled_row_whose_quotes_never_close_ends_the_run_with_one_rejection(
    fake_publisher: Any, settings: Settings, tmp_path: Path
) -> None:
    header, rows = acled_rows()
    open_quote = b'PAK9999,"' + b"u" * (2 * MAX_MESSAGE) + b"\n"
    data = header + csv_line(rows[0]) + open_quote + csv_line(rows[1]) + csv_line(rows[2])
    fake = fake_publisher()

    summary = publish_csv(data, settings, fake, tmp_path / "rejects.jsonl")

    assert summary.sent == 1 and summary.rejected == 1
    (reason,) = summary.reject_reasons
    assert reason.endswith(
        "its quotes never close, so lines 3-5 (the rest of the input) were skipped"
    )


def test_acled_stray_quote_shows_the_lines_it_swallowed() -> None:
    header, rows = acled_rows()
    items = items_of(header + b'PAK9999,"oops\n' + csv_line(rows[0]) + csv_line(rows[1]))
    assert isinstance(items[0], Rejected)
    assert items[0].errors[0].message.endswith("(lines 2-3)")
    assert isinstance(items[1], Candidate)


def test_acled_header_too_large_is_a_format_error() -> None:
    with pytest.raises(InputFormatError, match="unreadable header"):
        items_of(b"x" * (2 * MAX_MESSAGE) + b"\n")


def test_blank_lines_are_still_counted(fake_publisher: Any, settings: Settings) -> None:
    data = b"\n" + line("b-1") + b"\n \n"
    summary = publish_jsonl(io.BytesIO(data), settings, publisher=fake_publisher())
    assert summary.skip_reasons == {BLANK_LINE: 2} and summary.sent == 1
