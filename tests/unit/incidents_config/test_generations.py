"""Pipeline generations: what each one is called, and which one is live."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from incidents_config.names import Generation, Ledger
from incidents_config.settings import Settings
from incidents_ops.topics import topic_specs
from sinks.generations import REBUILT


def test_generation_zero_keeps_the_names_of_a_stack_that_never_replayed(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kafka={"topic_prefix": "x"})
    g = Generation.of(settings)
    assert g.number == 0
    names = g.topics
    assert (names.raw, names.valid, names.updates) == (
        "x.reports.raw",
        "x.reports.valid",
        "x.incidents.updates",
    )
    assert g.app == "x-streams"
    assert g.sink_group == settings.sink.group_id
    assert g.worker_dir(settings.paths.var_dir, 2).parts[-2:] == ("faust", "worker-2")


def test_a_later_generation_has_its_own_topics_group_and_app_but_shares_raw_and_letters(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kafka={"topic_prefix": "x"}).for_generation(3)
    g = Generation.of(settings)
    names = g.topics
    assert names.raw == "x.reports.raw" and names.dead_letter == "x.reports.deadletter"
    assert names.of_generation == [
        "x.g3.reports.rekeyed",
        "x.g3.reports.valid",
        "x.g3.incidents.updates",
        "x.g3.warehouse.snapshots",
    ]
    assert g.app == "x-streams-g3"
    assert g.sink_group == f"{settings.sink.group_id}-g3"
    assert g.worker_dir(settings.paths.var_dir, 1).parts[-3:] == ("faust", "g3", "worker-1")
    specs = {s.name for s in topic_specs(settings.kafka, 3)}
    assert set(names.of_generation) | {names.raw, names.dead_letter} <= specs
    assert [g.build_table(t) for t in REBUILT] == [
        "report_versions_g3",
        "incidents_g3",
        "agg_district_day_g3",
    ]


def test_the_live_generation_is_the_recorded_one_unless_pinned(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    ledger = Ledger(settings.paths)
    assert ledger.live() == 0 == ledger.last()
    ledger.make_live(2)
    assert ledger.live() == 2 == Generation.of(settings).number
    assert Generation.of(settings.for_generation(5)).number == 5
    (settings.paths.run_dir / "generation").write_text("two\n")
    with pytest.raises(ValueError, match="generation number"):
        ledger.live()


def test_a_replay_claims_a_number_never_used_before(
    settings_factory: Callable[..., Settings],
) -> None:
    ledger = Ledger(settings_factory().paths)
    assert ledger.start_next() == 1
    assert ledger.start_next() == 2  # the failed replay's 1 is not reused
    ledger.make_live(2)
    assert ledger.last() == 2 and ledger.start_next() == 3
