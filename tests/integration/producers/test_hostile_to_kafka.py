"""Hostile input against the real broker: the size limit agrees with the topics', a record
the broker refuses is a rejection (never a 503), and `incidents publish` goes on past
every bad record, printing its summary, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidents_config.settings import Settings, child_env
from producers.http_push import JSON, NDJSON
from producers.publisher import RECORD_OVERHEAD_BYTES
from tests.integration.producers.test_push_to_kafka import TOKEN, post, report

pytestmark = pytest.mark.integration

ConsumeAll = Callable[[Settings, int], list[Any]]

MAX_MESSAGE = 262_144  # the topics' max.message.bytes in these tests
LIMIT = MAX_MESSAGE - RECORD_OVERHEAD_BYTES
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "acled_sample.csv"
INCIDENTS = Path(sys.executable).with_name("incidents")


def padded(event_id: str, size: int) -> bytes:
    """A valid report whose key and value take exactly ``size`` bytes (JSON whitespace)."""
    key = f"feedco:{event_id}".encode()
    value = json.dumps(report(event_id)).encode()
    value = value[:-1] + b" " * (size - len(key) - len(value)) + b"}"
    assert len(key) + len(value) == size
    return value


def line(event_id: str) -> bytes:
    return json.dumps(report(event_id)).encode()


def test_push_limit_is_the_topics_limit(
    kafka_settings: Callable[..., Settings],
    push_server: Callable[[Settings], str],
    consume_raw: ConsumeAll,
) -> None:
    settings = kafka_settings(
        kafka={"max_message_bytes": MAX_MESSAGE},
        push={"token": TOKEN, "max_body_bytes": 4 * MAX_MESSAGE},
    )
    url = push_server(settings)
    items = [
        line("s-1"),
        padded("s-limit", LIMIT),
        padded("s-over", LIMIT + 1),
        padded("s-huge", MAX_MESSAGE + 1),  # more than the broker takes
        line("s-2"),
    ]

    status, body = post(url, b"\n".join(items), NDJSON)

    assert status == 202, body
    assert (body["accepted"], body["rejected"]) == (3, 2)
    assert body["rejections"] == [
        {
            "index": index,
            "errors": [
                {
                    "field": "$",
                    "message": f"too large for one Kafka message: {size:,} bytes, at most"
                    f" {LIMIT:,} (KAFKA_MAX_MESSAGE_BYTES {MAX_MESSAGE:,} minus"
                    f" {RECORD_OVERHEAD_BYTES} bytes of record overhead)",
                }
            ],
        }
        # a value too large on its own is not parsed for its key: its size is the value's
        for index, size in [(2, LIMIT + 1), (3, len(items[3]))]
    ]
    records = consume_raw(settings, 3)
    assert sorted(r.value for r in records) == sorted([items[0], items[1], items[4]])


def test_a_record_the_broker_refuses_is_a_rejection_and_the_endpoint_recovers(
    kafka_settings: Callable[..., Settings],
    settings_factory: Callable[..., Settings],
    push_server: Callable[[Settings], str],
    consume_raw: ConsumeAll,
) -> None:
    # The topics take 64 KiB, but the endpoint is told 256 KiB: the broker has the last word.
    kafka_settings(kafka={"max_message_bytes": MAX_MESSAGE})
    settings = settings_factory(
        kafka={"max_message_bytes": 4 * MAX_MESSAGE},
        push={"token": TOKEN, "max_body_bytes": 8 * MAX_MESSAGE},
    )
    url = push_server(settings)
    big = padded("r-big", 2 * MAX_MESSAGE)

    status, body = post(url, big, JSON)
    assert status == 202, body
    assert (body["accepted"], body["rejected"]) == (0, 1)
    message = body["rejections"][0]["errors"][0]["message"]
    assert message.startswith(f"too large for one Kafka message: {2 * MAX_MESSAGE:,} bytes")
    assert "Kafka refused it" in message

    # kafka-python's idempotent producer is dead after such a refusal: the endpoint must
    # start a new one rather than fail every later request.
    assert post(url, line("r-1"), JSON) == (202, {"accepted": 1, "rejected": 0, "rejections": []})
    status, body = post(url, b"\n".join([line("r-2"), big]), NDJSON)
    assert (status, body["accepted"], body["rejected"]) == (202, 1, 1)
    assert body["rejections"][0]["index"] == 1

    records = consume_raw(settings, 2)
    assert sorted(r.key for r in records) == [b"feedco:r-1", b"feedco:r-2"]


# -- the publish command ---------------------------------------------------------------------

DEEP = 60_000  # deeper than any recursion limit, smaller than a message
HOSTILE = [
    b"[" * DEEP,
    b'{"a":' * (DEEP // 5),
    bytes(range(256)).replace(b"\n", b""),
    b"\x00\x00",
    b'{"source": "\xc3\x28"}',
    line("p-bad-1").replace(b'"version": 1', b'"version": ' + b"9" * 5000),
    line("p-bad-2").replace(b'"injured": {"civilians": 3}', b'"injured": {"civilians": 1e400}'),
    padded("p-bad-3", LIMIT + 1),
    b"x" * (5 * MAX_MESSAGE),
]


def run_cli(settings: Settings, *args: str, cwd: Path, stdin: bytes | None = None) -> Any:
    env = {
        **os.environ,
        **child_env(settings),
        "INCIDENTS_ENV_FILE": str(cwd / "none.env"),
        "COLUMNS": "500",  # one summary line, however long the path
    }
    return subprocess.run(
        [str(INCIDENTS), *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("from_stdin", [False, True], ids=["file", "stdin"])
def test_publish_goes_on_past_every_hostile_line(
    kafka_settings: Callable[..., Settings],
    consume_raw: ConsumeAll,
    tmp_path: Path,
    from_stdin: bool,
) -> None:
    settings = kafka_settings(kafka={"max_message_bytes": MAX_MESSAGE})
    good = [line(f"p-{i}") for i in range(len(HOSTILE) + 1)]
    lines = [good[0]]
    for bad, ok in zip(HOSTILE, good[1:], strict=True):
        lines += [bad, ok]
    data = b"\n".join(lines) + b"\n"
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(data)
    rejects = tmp_path / "rejects.jsonl"

    args = ["publish", "-" if from_stdin else str(feed), "--rejects", str(rejects)]
    done = run_cli(settings, *args, cwd=tmp_path, stdin=data if from_stdin else None)

    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr
    assert f"sent {len(good)}, skipped 0, rejected {len(HOSTILE)}, failed 0" in stdout
    rejected = [json.loads(r) for r in rejects.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rejected] == list(range(2, 2 * len(HOSTILE) + 1, 2))
    records = consume_raw(settings, len(good))
    assert sorted(r.value for r in records) == sorted(good)


def test_publish_acled_with_200_kb_notes(
    kafka_settings: Callable[..., Settings], consume_raw: ConsumeAll, tmp_path: Path
) -> None:
    settings = kafka_settings()  # default 1 MiB messages
    text = FIXTURE.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    notes = rows[0].index("notes")
    rows[1][notes] = "n" * 200_000
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    export = tmp_path / "acled.csv"
    export.write_text(out.getvalue(), encoding="utf-8")

    done = run_cli(settings, "publish", str(export), cwd=tmp_path)

    assert done.returncode == 0, done.stderr.decode()
    assert "sent 11, skipped 2, rejected 1, failed 0" in done.stdout.decode()
    first = [r for r in consume_raw(settings, 11) if r.key == f"acled:{rows[1][0]}".encode()]
    assert len(json.loads(first[0].value)["notes"]) == 4000


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["publish", "missing.jsonl"], None, "error: input file not found: missing.jsonl"),
        (["publish", "feed.csv"], b"\x00\xff" * 1000, "error: not an ACLED export"),
    ],
    ids=["missing-file", "binary-csv"],
)
def test_publish_fatal_problems_are_one_line(
    kafka_settings: Callable[..., Settings],
    tmp_path: Path,
    args: list[str],
    content: bytes | None,
    message: str,
) -> None:
    settings = kafka_settings()
    if content is not None:
        (tmp_path / args[-1]).write_bytes(content)

    done = run_cli(settings, *args, cwd=tmp_path)

    stderr = done.stderr.decode()
    assert done.returncode != 0
    assert stderr.startswith(message) and len(stderr.strip().splitlines()) == 1, stderr
