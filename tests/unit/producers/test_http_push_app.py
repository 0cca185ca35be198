"""The push app's HTTP rules (auth, size, content type, config) with a fake publisher."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from incidents_config.settings import Settings
from producers.exceptions import PushConfigError
from producers.http_push import JSON, NDJSON, REPORTS_PATH, create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Scenario = Callable[[TestClient[Any, Any]], Awaitable[None]]


def run(settings: Settings, scenario: Scenario, publisher: Any = None) -> None:
    async def main() -> None:
        async with TestClient(TestServer(create_app(settings, publisher=publisher))) as client:
            await scenario(client)

    asyncio.run(main())


async def body(response: ClientResponse) -> dict[str, Any]:
    data = await response.json()
    assert isinstance(data, dict)
    return data


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    return settings_factory(
        kafka={"bootstrap_servers": "127.0.0.1:1"},
        push={"token": TOKEN, "max_body_bytes": 1024},
    )


def test_no_token_refuses_to_start_unless_open(settings_factory: Any) -> None:
    with pytest.raises(PushConfigError, match="PUSH_TOKEN"):
        create_app(settings_factory(push={}))
    create_app(settings_factory(push={"open": True}))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_auth_is_required(fake_publisher: Any, settings: Settings, headers: dict[str, str]) -> None:
    fake = fake_publisher()

    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.post(
            REPORTS_PATH, data=b"{}", headers={**headers, "Content-Type": JSON}
        )
        assert response.status == 401
        assert "token" in (await body(response))["error"]
        assert response.headers["WWW-Authenticate"] == "Bearer"

    run(settings, scenario, fake)
    assert fake.sent == []


def test_body_size_limit_with_and_without_content_length(
    fake_publisher: Any, settings: Settings
) -> None:
    big = b'{"notes": "' + b"x" * 2000 + b'"}'

    async def chunks() -> Any:
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    async def scenario(client: TestClient[Any, Any]) -> None:
        headers = {**AUTH, "Content-Type": JSON}
        sized = await client.post(REPORTS_PATH, data=big, headers=headers)
        assert sized.status == 413
        assert "1024" in (await body(sized))["error"]
        chunked = await client.post(REPORTS_PATH, data=chunks(), headers=headers)
        assert chunked.status == 413

    run(settings, scenario, fake_publisher())


def test_content_type_and_empty_body(fake_publisher: Any, settings: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        text = await client.post(
            REPORTS_PATH, data=b"{}", headers={**AUTH, "Content-Type": "text/plain"}
        )
        assert text.status == 415
        empty = await client.post(
            REPORTS_PATH, data=b"\n \n", headers={**AUTH, "Content-Type": NDJSON}
        )
        assert empty.status == 400

    run(settings, scenario, fake_publisher())


def test_unparseable_items_are_rejected_per_index(fake_publisher: Any, settings: Settings) -> None:
    fake = fake_publisher()

    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.post(
            REPORTS_PATH,
            data=b"not json\n\n[1, 2]\n",
            headers={**AUTH, "Content-Type": NDJSON},
        )
        assert response.status == 202
        result = await body(response)
        assert (result["accepted"], result["rejected"]) == (0, 2)
        assert [r["index"] for r in result["rejections"]] == [0, 2]

    run(settings, scenario, fake)
    assert fake.sent == []


def test_healthz(fake_publisher: Any, settings: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.get("/healthz")
        assert response.status == 200
        assert (await body(response))["status"] == "ok"

    run(settings, scenario, fake_publisher())


def test_kafka_unreachable_is_503(settings_factory: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_factory(
        kafka={"bootstrap_servers": f"127.0.0.1:{port}"},
        push={"token": TOKEN, "connect_timeout_s": 1.0},
    )
    report = {
        "source": "dawn",
        "source_event_id": "d-1",
        "version": 1,
        "reported_at": "2024-01-06T08:00:00+00:00",
        "occurred_on": "2024-01-05",
        "province": "Khyber Pakhtunkhwa",
        "district": "Peshawar",
        "category": "terror_attack",
        "subtype": "ied",
    }

    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.post(
            REPORTS_PATH, data=json.dumps(report), headers={**AUTH, "Content-Type": JSON}
        )
        assert response.status == 503
        assert "cannot reach Kafka" in (await body(response))["error"]
        assert (await body(await client.get("/healthz")))["kafka"] is False

    run(settings, scenario)


def test_more_items_than_the_cap_is_413_before_any_is_judged(
    fake_publisher: Any, settings_factory: Any
) -> None:
    """A body of tiny invalid lines is refused whole, with the cap named; blank lines do
    not count, and a batch at the cap is judged as usual."""
    settings = settings_factory(
        kafka={"bootstrap_servers": "127.0.0.1:1"}, push={"token": TOKEN, "max_items": 3}
    )
    fake = fake_publisher()

    async def scenario(client: TestClient[Any, Any]) -> None:
        headers = {**AUTH, "Content-Type": NDJSON}
        over = await client.post(REPORTS_PATH, data=b"x\n" * 4, headers=headers)
        assert over.status == 413
        assert "more than 3 reports" in (await body(over))["error"]
        at_cap = await client.post(REPORTS_PATH, data=b"x\n\n\n\nx\nx\n\n", headers=headers)
        assert at_cap.status == 202
        assert (await body(at_cap))["rejected"] == 3

    run(settings, scenario, fake)
    assert fake.sent == []
