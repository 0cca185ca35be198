"""streams.app: a worker reports lag on the topics its agents read, never on a changelog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from incidents_config.names import Topics
from incidents_config.settings import Settings
from streams.app import build_app, consumed_topics, lag_by_topic


class Partition(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    """Faust's consumer as the lag timer sees it: partitions with (position, highwater)."""

    def __init__(self, owned: dict[Partition, tuple[int | None, int | None]]) -> None:
        self.owned = owned

    def assignment(self) -> set[Partition]:
        return set(self.owned)

    async def position(self, tp: Partition) -> int | None:
        return self.owned[tp][0]

    def highwater(self, tp: Partition) -> int | None:
        return self.owned[tp][1]


def test_a_worker_consumes_its_agents_sources_and_no_changelog(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    app, names = build_app(settings)
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    assert len(changelogs) == 2  # reports, district_days
    assert consumed_topics(app) == {names.raw, names.rekeyed, names.updates}
    assert not consumed_topics(app) & changelogs


def test_lag_counts_owned_partitions_of_consumed_topics_only() -> None:
    names = Topics("p")
    changelog = "p-streams-reports-changelog"
    consumer = FakeConsumer(
        {
            Partition(names.raw, 0): (10, 15),
            Partition(names.raw, 1): (3, 3),
            Partition(names.updates, 2): (None, 9),  # not fetched yet: unknown, not lag
            # An active table's changelog: written, never read back; its lag only grows.
            Partition(changelog, 0): (0, 50_000),
        }
    )
    consumed = [names.raw, names.rekeyed, names.updates]
    lag = asyncio.run(lag_by_topic(consumer, consumed))
    assert lag == {names.raw: 5, names.rekeyed: 0, names.updates: 0}
