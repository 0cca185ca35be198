"""Pipeline generations: what each one is called, and which one is live."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from incidents.settings import Settings, live_generation
from incidents.topics import topic_specs
from sinks.generations import REBUILT, build_table
from streams.app import app_name
from streams.topics import TopicNames


def test_generation_zero_keeps_the_names_of_a_stack_that_never_replayed(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kafka={"topic_prefix": "x"})
    assert settings.generation == 0
    names = TopicNames.of(settings)
    assert (names.raw, names.valid, names.updates) == (
        "x.reports.raw",
        "x.reports.valid",
        "x.incidents.updates",
    )
    assert app_name(settings) == "x-streams"
    assert settings.sink.group(0) == settings.sink.group_id


def test_a_later_generation_has_its_own_topics_group_and_app_but_shares_raw_and_letters(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kafka={"topic_prefix": "x"}).for_generation(3)
    names = TopicNames.of(settings)
    assert names.raw == "x.reports.raw" and names.dead_letter == "x.reports.deadletter"
    assert names.of_generation == [
        "x.g3.reports.rekeyed",
        "x.g3.reports.valid",
        "x.g3.incidents.updates",
        "x.g3.warehouse.snapshots",
    ]
    assert app_name(settings) == "x-streams-g3"
    assert settings.sink.group(3) == f"{settings.sink.group_id}-g3"
    specs = {s.name for s in topic_specs(settings.kafka, 3)}
    assert set(names.of_generation) | {names.raw, names.dead_letter} <= specs
    assert [build_table(t, 3) for t in REBUILT] == [
        "report_versions_g3",
        "incidents_g3",
        "agg_district_day_g3",
    ]


def test_the_live_generation_is_the_recorded_one_unless_pinned(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    settings.paths.run_dir.mkdir(parents=True, exist_ok=True)
    settings.paths.generation_file.write_text("2\n")
    assert live_generation(settings.paths) == 2 == settings.generation
    assert settings.for_generation(5).generation == 5
    settings.paths.generation_file.write_text("two\n")
    with pytest.raises(ValueError, match="generation number"):
        live_generation(settings.paths)
