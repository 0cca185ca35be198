"""A fake publisher for unit tests of the producers' counting logic (no Kafka)."""

from __future__ import annotations

import pytest

from producers.publisher import Delivery, DeliveryCallback


class FakePublisher:
    """Record what is sent; fail the deliveries whose key is in ``fail_keys`` with ``error``."""

    def __init__(
        self, fail_keys: frozenset[str | None] = frozenset(), error: BaseException | None = None
    ) -> None:
        self.fail_keys = fail_keys
        self.error = error or RuntimeError("broker said no")
        self.sent: list[tuple[str | None, bytes]] = []
        self.flushes = 0

    def send(
        self, key: str | None, value: bytes, on_delivery: DeliveryCallback | None = None
    ) -> Delivery:
        self.sent.append((key, value))
        error = self.error if key in self.fail_keys else None
        if on_delivery is not None:
            on_delivery(error)
        return Delivery.completed(error)

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def fake_publisher() -> type[FakePublisher]:
    """Return the FakePublisher class (call it, with fail_keys if needed)."""
    return FakePublisher
