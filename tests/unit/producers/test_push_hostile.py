"""Hostile items pushed to the endpoint: each is a per-item rejection with its reason, its
neighbours are accepted, and a record Kafka refuses for good is never a 503."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from incidents_config.settings import Settings
from producers.exceptions import RecordTooLarge
from producers.http_push import JSON, NDJSON, REPORTS_PATH, create_app
from producers.publisher import RECORD_OVERHEAD_BYTES

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_MESSAGE = 262_144  # the smallest KAFKA_MAX_MESSAGE_BYTES allowed
LIMIT = MAX_MESSAGE - RECORD_OVERHEAD_BYTES
DEEP = 60_000  # deeper than any recursion limit, smaller than a message

Scenario = Callable[[TestClient[Any, Any]], Awaitable[None]]


def run(settings: Settings, scenario: Scenario, publisher: Any) -> None:
    async def main() -> None:
        async with TestClient(TestServer(create_app(settings, publisher=publisher))) as client:
            await scenario(client)

    asyncio.run(main())


def report(event_id: str, **changes: Any) -> bytes:
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
    return json.dumps({**base, **changes}).encode()


def padded(event_id: str, size: int) -> bytes:
    """A valid report whose key and value take exactly ``size`` bytes (JSON whitespace)."""
    value = report(event_id)
    value = value[:-1] + b" " * (size - len(f"dawn:{event_id}") - len(value)) + b"}"
    assert len(f"dawn:{event_id}") + len(value) == size
    return value


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(
        kafka={"bootstrap_servers": "127.0.0.1:1", "max_message_bytes": MAX_MESSAGE},
        push={"token": TOKEN, "max_body_bytes": 4 * 1024 * 1024},
    )


async def post(client: TestClient[Any, Any], body: bytes, content_type: str) -> Any:
    response = await client.post(
        REPORTS_PATH, data=body, headers={**AUTH, "Content-Type": content_type}
    )
    return response.status, await response.json()


# (item, field, start of the message)
HOSTILE: list[tuple[bytes, str, str]] = [
    (b"[" * DEEP, "$", "not valid JSON: nested too deeply"),
    (b'{"a":' * (DEEP // 5), "$", "not valid JSON: nested too deeply"),
    (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "$", "too large for one Kafka message"),
    (bytes(range(256)).replace(b"\n", b""), "$", "not valid JSON: not UTF-8"),
    (b"\x00", "$", "not valid JSON"),
    (b'{"source": "\xc3\x28"}', "$", "not valid JSON: not UTF-8"),
    (report("h-1", killed="__N__").replace(b'"__N__"', b"9" * 5000), "killed", "integer with"),
    (report("h-2").replace(b'"version": 1', b'"version": ' + b"9" * 5000), "version", "integer"),
    (report("h-3", latitude="__N__", longitude=70).replace(b'"__N__"', b"1e400"), "latitude", ""),
    (report("h-4", latitude="__N__", longitude=70).replace(b'"__N__"', b"NaN"), "latitude", ""),
    (report("h-5", occurred_on="1947-08-13"), "occurred_on", "1947-08-13 is before"),
    (report("h-6", reported_at="2299-01-01T00:00:00Z"), "reported_at", "must be between"),
    (padded("h-7", LIMIT + 1), "$", f"too large for one Kafka message: {LIMIT + 1:,} bytes"),
]


def test_hostile_items_are_rejected_one_by_one_and_neighbours_accepted(
    fake_publisher: Any, settings: Settings
) -> None:
    good = [report(f"g-{i}") for i in range(len(HOSTILE))] + [padded("g-limit", LIMIT)]
    items: list[bytes] = []
    for (bad, _field, _message), ok in zip(HOSTILE, good, strict=False):
        items += [ok, bad]
    items.append(good[-1])
    fake = fake_publisher()

    async def scenario(client: TestClient[Any, Any]) -> None:
        status, result = await post(client, b"\n".join(items), NDJSON)
        assert status == 202
        assert (result["accepted"], result["rejected"]) == (len(good), len(HOSTILE))
        assert [r["index"] for r in result["rejections"]] == list(range(1, 2 * len(HOSTILE), 2))
        for rejection, (_bad, field, message) in zip(result["rejections"], HOSTILE, strict=True):
            error = rejection["errors"][0]
            assert error["field"].split(".")[0] == field, error
            assert error["message"].startswith(message), error
            assert len(error["message"]) < 300

    run(settings, scenario, fake)
    assert [value for _key, value in fake.sent] == good


def test_json_nested_100000_deep_loses_no_neighbour(
    fake_publisher: Any, settings_factory: Any
) -> None:
    """The issue's case, with the default limits: it used to answer 500 for the batch."""
    settings = settings_factory(kafka={"bootstrap_servers": "127.0.0.1:1"}, push={"open": True})
    body = b"\n".join([report("a"), b"[" * 100_000, b'{"a":' * 100_000, report("b")])
    fake = fake_publisher()

    async def scenario(client: TestClient[Any, Any]) -> None:
        status, result = await post(client, body, NDJSON)
        assert status == 202
        assert (result["accepted"], result["rejected"]) == (2, 2)
        messages = [r["errors"][0]["message"] for r in result["rejections"]]
        assert messages == [
            "not valid JSON: nested too deeply (more than 200 levels) at line 1 column 201",
            "not valid JSON: nested too deeply (more than 200 levels) at line 1 column 1001",
        ]
        status, result = await post(client, b"[" * 100_000, JSON)
        assert (status, result["rejected"]) == (202, 1)

    run(settings, scenario, fake)
    assert [key for key, _value in fake.sent] == ["dawn:a", "dawn:b"]


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
def test_a_single_report_too_large_is_a_rejection_not_a_503(
    fake_publisher: Any, settings: Settings, content_type: str
) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        status, result = await post(client, padded("big", LIMIT + 1), content_type)
        assert status == 202
        assert result["rejections"] == [
            {
                "index": 0,
                "errors": [
                    {
                        "field": "$",
                        "message": f"too large for one Kafka message: {LIMIT + 1:,} bytes,"
                        f" at most {LIMIT:,} (KAFKA_MAX_MESSAGE_BYTES {MAX_MESSAGE:,} minus"
                        f" {RECORD_OVERHEAD_BYTES} bytes of record overhead)",
                    }
                ],
            }
        ]

    run(settings, scenario, fake_publisher())


@pytest.mark.parametrize(
    "error",
    [MessageSizeTooLargeError(), RecordTooLarge(70_000, 60_000, "the topic refused it")],
    ids=["kafka-python", "publisher"],
)
def test_kafka_refusing_a_record_for_good_is_a_per_item_rejection(
    fake_publisher: Any, settings: Settings, error: BaseException
) -> None:
    fake = fake_publisher(fail_keys=frozenset({"dawn:refused"}), error=error)
    body = b"\n".join([report("a"), b"{broken", report("refused"), report("b")])

    async def scenario(client: TestClient[Any, Any]) -> None:
        status, result = await post(client, body, NDJSON)
        assert status == 202
        assert (result["accepted"], result["rejected"]) == (2, 2)
        assert [r["index"] for r in result["rejections"]] == [1, 2]
        assert result["rejections"][1]["errors"] == [{"field": "$", "message": str(error)}]

    run(settings, scenario, fake)


def test_a_transient_delivery_failure_is_still_a_503(
    fake_publisher: Any, settings: Settings
) -> None:
    fake = fake_publisher(fail_keys=frozenset({"dawn:slow"}), error=KafkaTimeoutError())

    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.post(
            REPORTS_PATH,
            data=b"\n".join([report("a"), report("slow")]),
            headers={**AUTH, "Content-Type": NDJSON},
        )
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"

    run(settings, scenario, fake)
