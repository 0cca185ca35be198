"""The push endpoint served for real, publishing to the real broker."""

from __future__ import annotations

import concurrent.futures
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from incidents_config.settings import Settings
from producers.http_push import JSON, NDJSON, REPORTS_PATH

pytestmark = pytest.mark.integration

TOKEN = "push-test-token"
MAX_BODY = 4096


def post(
    url: str, body: bytes | Iterator[bytes], content_type: str, token: str | None = TOKEN
) -> tuple[int, dict[str, Any]]:
    """POST and return (status, JSON body); an iterator body is sent chunked."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + REPORTS_PATH, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def report(event_id: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": "feedco",
        "source_event_id": event_id,
        "version": version,
        "reported_at": "2024-02-10T10:00:00+00:00",
        "occurred_on": "2024-02-09",
        "province": "Sindh",
        "district": "Karachi East",
        "category": "terror_attack",
        "subtype": "grenade",
        "injured": {"civilians": 3},
    }
    return {**base, **changes}


@pytest.fixture
def served(
    kafka_settings: Callable[..., Settings], push_server: Callable[[Settings], str]
) -> tuple[Settings, str]:
    settings = kafka_settings(push={"token": TOKEN, "max_body_bytes": MAX_BODY})
    return settings, push_server(settings)


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["missing", "wrong"])
def test_auth_rejects_missing_and_wrong_tokens(
    served: tuple[Settings, str], token: str | None
) -> None:
    _settings, url = served
    status, body = post(url, json.dumps(report("a-1")).encode(), JSON, token=token)
    assert status == 401
    assert body == {"error": "missing or wrong bearer token"}


def test_size_limit(served: tuple[Settings, str]) -> None:
    _settings, url = served
    big = json.dumps(report("big", notes="x" * MAX_BODY)).encode()
    assert post(url, big, JSON)[0] == 413
    chunks = iter([big[i : i + 512] for i in range(0, len(big), 512)])
    assert post(url, chunks, JSON)[0] == 413


def test_batch_is_validated_per_item_and_accepted_items_reach_kafka(
    served: tuple[Settings, str], consume_raw: Callable[[Settings, int], list[Any]]
) -> None:
    settings, url = served
    items = [
        json.dumps(report("b-1")),
        json.dumps(report("b-2", category="riot")),
        "",
        json.dumps(report("b-1", version=2, injured={"civilians": 4})),
        "{broken",
        json.dumps(report("b-3", province="Atlantis")),
        json.dumps(report("b-4")),
    ]
    status, body = post(url, "\n".join(items).encode(), NDJSON)

    assert status == 202
    assert (body["accepted"], body["rejected"]) == (3, 3)
    assert [r["index"] for r in body["rejections"]] == [1, 4, 5]
    fields = [{e["field"].split(".")[0] for e in r["errors"]} for r in body["rejections"]]
    assert "category" in fields[0] and "province" in fields[2]

    single = json.dumps(report("b-5")).encode()
    assert post(url, single, JSON) == (202, {"accepted": 1, "rejected": 0, "rejections": []})

    records = consume_raw(settings, 4)
    assert sorted((r.key, r.value) for r in records) == sorted(
        [
            (b"feedco:b-1", items[0].encode()),
            (b"feedco:b-1", items[3].encode()),
            (b"feedco:b-4", items[6].encode()),
            (b"feedco:b-5", single),
        ]
    )
    b1 = [r for r in records if r.key == b"feedco:b-1"]
    assert b1[0].partition == b1[1].partition


def test_bodies_of_tiny_invalid_lines_are_refused_whole_and_a_valid_push_goes_on(
    kafka_settings: Callable[..., Settings],
    push_server: Callable[[Settings], str],
    consume_raw: Callable[[Settings, int], list[Any]],
) -> None:
    """20 requests of 1 MiB of one-byte lines (524,288 items each) at once are each one
    cheap 413 naming the cap; a valid push sent among them is accepted and reaches Kafka.
    (What they cost is measured in docs/benchmarks.md, not timed here.)"""
    settings = kafka_settings(push={"token": TOKEN})
    url = push_server(settings)
    abusive = b"x\n" * (512 * 1024)
    with concurrent.futures.ThreadPoolExecutor(21) as pool:
        floods = [pool.submit(post, url, abusive, NDJSON) for _ in range(20)]
        valid = pool.submit(post, url, json.dumps(report("amid-flood")).encode(), JSON)
        answers = [f.result() for f in floods]
        status, body = valid.result()
    cap = settings.push.max_items
    assert all(s == 413 and f"more than {cap} reports" in b["error"] for s, b in answers)
    assert (status, body["accepted"]) == (202, 1)
    assert [r.key for r in consume_raw(settings, 1)] == [b"feedco:amid-flood"]
