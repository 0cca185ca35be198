"""Fixtures of the producers' integration tests: topics on the real broker, a consumer,
and the push endpoint served on a free port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from kafka import KafkaConsumer

from incidents_config.names import Topics
from incidents_config.settings import Settings
from incidents_ops.topics import ensure_topics
from producers.http_push import create_app

ConsumeAll = Callable[[Settings, int], list[Any]]


@pytest.fixture
def kafka_settings(settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    """Return a factory of settings on the session broker whose topics already exist."""

    def factory(**sections: dict[str, Any]) -> Settings:
        settings = settings_factory(**sections)
        ensure_topics(settings.kafka)
        return settings

    return factory


@pytest.fixture
def consume_raw() -> ConsumeAll:
    """Return ``consume(settings, n)``: read ``n`` records of the raw topic (30 s at most)."""

    def consume(settings: Settings, expected: int) -> list[Any]:
        consumer = KafkaConsumer(
            Topics(settings.kafka.topic_prefix).raw,
            **settings.kafka.client_kwargs(),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=1000,
        )
        records: list[Any] = []
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend(batch)
                if len(records) >= expected:
                    # One more short poll: more than expected would be a failure too.
                    for batch in consumer.poll(timeout_ms=500).values():
                        records.extend(batch)
                    break
        finally:
            consumer.close()
        return records

    return consume


@pytest.fixture
def push_server() -> Iterator[Callable[[Settings], str]]:
    """Return ``serve(settings) -> base URL``: the real push app on a port the system picks
    (port 0: no race for a "free" one), in a thread."""
    stops: list[Callable[[], None]] = []

    def serve(settings: Settings) -> str:
        app = create_app(settings)
        bound: list[int] = []
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
            bound.append(int(runner.addresses[0][1]))
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=run, name="push-server", daemon=True)
        thread.start()
        assert started.wait(10), "push server did not start"

        def stop() -> None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)

        stops.append(stop)
        return f"http://127.0.0.1:{bound[0]}"

    yield serve
    for stop in stops:
        stop()
