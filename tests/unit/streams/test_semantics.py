"""The pure semantics against the independent recomputation in tests/reference.py."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.report import Report
from schemas.warehouse import Counts, DistrictDaySnapshot, Membership, decode
from streams.semantics import (
    CASUALTY_RULES,
    DistrictDayState,
    ReportState,
    casualty_rule,
    dedupe,
    dump_state,
    fold,
    load_district_day,
    pick_max_total,
    report_entry,
    run,
    snapshot,
)
from tests import reference
from tests.strategies import make_report, report_specs, valid_reports


def run_pipeline(deliveries: list[Report]) -> dict[str, DistrictDaySnapshot]:
    """Feed deliveries through dedupe and rollup as the agents do, one report a batch."""
    return run(deliveries, "max_total", batch=1).snapshots()


def totals(snapshots: dict[str, DistrictDaySnapshot]) -> dict[tuple[str, str, str], dict[str, int]]:
    out = {}
    for snap in snapshots.values():
        a = snap.aggregate
        if a.incidents == 0:
            continue
        dd = snap.district_day
        row = {
            "incidents": a.incidents,
            "terror_attacks": a.terror_attacks,
            "security_operations": a.security_operations,
            "killed_total": a.killed.total,
            "injured_total": a.injured.total,
        }
        for g in reference.GROUPS:
            row[f"killed_{g}"] = getattr(a.killed, g)
            row[f"injured_{g}"] = getattr(a.injured, g)
        out[(dd.occurred_on.isoformat(), dd.province, dd.district)] = row
    return out


def incidents(snapshots: dict[str, DistrictDaySnapshot]) -> list[tuple[object, ...]]:
    """The current incidents, comparable with reference.incidents()."""
    return sorted(
        (
            row.occurred_on,
            row.province,
            row.district,
            str(row.category),
            tuple(getattr(row.killed, g) for g in reference.GROUPS),
            tuple(getattr(row.injured, g) for g in reference.GROUPS),
            row.report_ids,
        )
        for snap in snapshots.values()
        for row in snap.incidents
        if not row.deleted
    )


def reference_incidents(deliveries: list[Report], rule: str) -> list[tuple[object, ...]]:
    return sorted(
        (
            i.occurred_on,
            i.province,
            i.district,
            i.category,
            tuple(i.killed[g] for g in reference.GROUPS),
            tuple(i.injured[g] for g in reference.GROUPS),
            i.reports,
        )
        for i in reference.incidents(deliveries, rule)
    )


# --- examples from docs/semantics.md -------------------------------------------------


def test_highest_version_wins_and_resend_changes_nothing() -> None:
    v1 = make_report(version=1, killed=(2, 0, 0, 0))
    v2 = make_report(version=2, killed=(5, 1, 0, 0), hours=3)
    snaps = run_pipeline([v2, v1, v2])
    (snap,) = snaps.values()
    assert snap.aggregate.incidents == 1
    assert snap.aggregate.killed.total == 6


def test_retraction_withdraws_and_incident_disappears() -> None:
    v1 = make_report(killed=(3, 0, 0, 0))
    v2 = make_report(version=2, retracted=True, hours=1)
    (snap,) = run_pipeline([v1, v2]).values()
    assert snap.aggregate.incidents == 0
    assert snap.incidents[0].deleted


def test_sources_merge_and_killed_and_injured_are_chosen_independently() -> None:
    news = make_report(
        "news", "n1", killed=(4, 1, 0, 0), injured=(2, 0, 0, 0), location="D.I. Khan"
    )
    acled = make_report("acled", "PAK1", killed=(0, 0, 0, 7), location="di khan", hours=5)
    third = make_report(
        "dawn", "d9", killed=(1, 0, 0, 0), injured=(10, 3, 0, 0), location="DI Khan"
    )
    (snap,) = run_pipeline([news, acled, third]).values()
    (row,) = snap.incidents
    assert snap.aggregate.incidents == 1
    assert row.killed == Counts(unknown=7) and row.killed_from == "acled:PAK1"
    assert row.injured.total == 13 and row.injured_from == "dawn:d9"
    assert row.report_ids == ["acled:PAK1", "dawn:d9", "news:n1"]


def test_ties_prefer_fewer_unknown_then_later_then_smaller_id() -> None:
    split = make_report("b", "1", killed=(3, 0, 0, 0))
    total_only = make_report("a", "1", killed=(0, 0, 0, 3), hours=9)
    assert pick_max_total([report_entry(total_only), report_entry(split)], "killed").source == "b"
    early = make_report("a", "2", killed=(3, 0, 0, 0), hours=1)
    late = make_report("z", "2", killed=(2, 1, 0, 0), hours=2)
    assert pick_max_total([report_entry(early), report_entry(late)], "killed").source == "z"
    same_a = make_report("a", "3", killed=(3, 0, 0, 0))
    same_b = make_report("b", "3", killed=(3, 0, 0, 0))
    assert pick_max_total([report_entry(same_b), report_entry(same_a)], "killed").source == "a"


def test_revision_that_moves_a_report_leaves_its_old_incident() -> None:
    v1 = make_report(day=2, killed=(1, 0, 0, 0))
    v2 = make_report(version=2, day=3, killed=(2, 0, 0, 0), hours=30)
    snaps = run_pipeline([v1, v2])
    by_day = {s.district_day.occurred_on.day: s.aggregate for s in snaps.values()}
    assert by_day[2].incidents == 0 and by_day[3].incidents == 1
    # and in the opposite order the old incident never appears
    snaps = run_pipeline([v2, v1])
    assert {s.district_day.occurred_on.day for s in snaps.values() if s.aggregate.incidents} == {3}


def test_missing_location_matches_only_missing_location() -> None:
    a = make_report("a", "1", killed=(1, 0, 0, 0))
    b = make_report("b", "1", killed=(1, 0, 0, 0), location="Bannu city")
    (snap,) = run_pipeline([a, b]).values()
    assert snap.aggregate.incidents == 2 and snap.aggregate.killed.total == 2


# --- the invariant, as a property ----------------------------------------------------


def without_revision(snapshots: dict[str, DistrictDaySnapshot]) -> dict[str, DistrictDaySnapshot]:
    return {key: msgspec.structs.replace(snap, revision=0) for key, snap in snapshots.items()}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(report_specs, min_size=1, max_size=25),
    st.randoms(use_true_random=False),
    st.sampled_from(sorted(CASUALTY_RULES)),
    st.none() | st.integers(1, 8),
)
def test_run_equals_reference_in_any_order_with_duplicates(
    deliveries: list[Report], rnd: random.Random, rule: str, batch: int | None
) -> None:
    expected = reference.district_day_totals(deliveries, rule)
    expected_incidents = reference_incidents(deliveries, rule)
    shuffled = deliveries + rnd.sample(deliveries, k=len(deliveries) // 2)
    rnd.shuffle(shuffled)
    for feed in (deliveries, shuffled):
        snapshots = run(feed, rule, batch=batch).snapshots()
        assert totals(snapshots) == expected
        assert incidents(snapshots) == expected_incidents
        # batching changes only the revisions, not what the snapshots hold
        assert without_revision(snapshots) == without_revision(run(feed, rule).snapshots())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(valid_reports(), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
    st.sampled_from(sorted(CASUALTY_RULES)),
)
def test_run_equals_reference_on_any_valid_reports(
    drawn: list[Report], rnd: random.Random, rule: str
) -> None:
    # Few report ids, so versions of one report compete and move between incidents.
    deliveries = [
        r.model_copy(update={"source": "feed", "source_event_id": str(rnd.randrange(4))})
        for r in drawn
    ]
    shuffled = deliveries + rnd.sample(deliveries, k=len(deliveries) // 2)
    rnd.shuffle(shuffled)
    snapshots = run(shuffled, rule, batch=rnd.randint(1, 5)).snapshots()
    assert totals(snapshots) == reference.district_day_totals(deliveries, rule)
    assert incidents(snapshots) == reference_incidents(deliveries, rule)


def test_the_latest_rule_takes_the_most_recent_report_whatever_its_figures() -> None:
    early = report_entry(make_report(source="a", killed=(9, 0, 0, 0), hours=1))
    late = report_entry(make_report(source="b", killed=(2, 0, 0, 0), hours=5))
    assert casualty_rule("latest")([early, late], "killed") is late
    assert casualty_rule("max_total")([early, late], "killed") is early


# --- a snapshot carries the incidents its batch changed --------------------------------------


def test_a_snapshot_carries_the_aggregate_of_all_incidents_and_the_rows_of_the_changed_ones() -> (
    None
):
    towns = [f"village {i}" for i in range(5)]
    first = [
        make_report(event=str(i), location=t, killed=(1, 0, 0, 0)) for i, t in enumerate(towns)
    ]
    revision = make_report(event="2", version=2, location=towns[2], killed=(4, 0, 0, 0))
    retraction = make_report(event="3", version=2, location=towns[3], retracted=True)
    outcome = run([*first, revision, retraction], "max_total", batch=5)
    (key,) = outcome.snapshot_json
    last = decode(outcome.snapshot_json[key], DistrictDaySnapshot)
    assert last.aggregate.incidents == 4 and last.aggregate.killed.total == 1 + 1 + 4 + 1
    # Only the two incidents the second batch changed; the retracted one as a deleted row.
    assert sorted((r.killed.total, r.deleted) for r in last.incidents) == [(0, True), (4, False)]
    # Merged, the warehouse's view holds every incident's newest row.
    (merged,) = outcome.snapshots().values()
    assert len(merged.incidents) == 5 and sum(r.deleted for r in merged.incidents) == 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(report_specs, min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.sampled_from(sorted(CASUALTY_RULES)),
)
def test_the_aggregate_kept_by_differences_equals_the_sum_over_every_incident(
    deliveries: list[Report], rnd: random.Random, rule: str
) -> None:
    pick = casualty_rule(rule)
    reports: dict[str, ReportState] = {}
    days: dict[str, DistrictDayState] = {}
    feed = deliveries + rnd.sample(deliveries, k=len(deliveries) // 2)
    rnd.shuffle(feed)
    while feed:
        size = rnd.randint(1, 4)
        batch, feed = feed[:size], feed[size:]
        updates: dict[str, list[Membership]] = {}
        for report in batch:
            state, announced = dedupe(reports.get(report.report_id), report)
            if state is not None:
                reports[report.report_id] = state
            for m in announced:
                updates.setdefault(m.incident.district_day.key, []).append(m)
        for key, items in updates.items():
            result = fold(days.get(key), items, pick)
            if result.changed and result.state is not None:
                days[key] = result.state
                assert result.state.aggregate == snapshot(result.state, pick).aggregate
                assert result.snapshot is not None
                assert result.snapshot.aggregate == result.state.aggregate
                if rnd.random() < 0.5:  # as the agent keeps it: stored, incidents left as JSON
                    days[key] = load_district_day(dump_state(result.state))
    assert days


def test_a_loaded_district_day_decodes_only_the_incidents_a_change_touches() -> None:
    reports = [
        make_report("news", str(i), location=f"town {i}", killed=(i, 0, 0, 0)) for i in range(3)
    ]
    memberships = [m for r in reports for m in dedupe(None, r)[1]]
    first = fold(None, memberships)
    assert first.state is not None
    stored = dump_state(first.state)
    loaded = load_district_day(stored)
    assert all(isinstance(v, msgspec.Raw) for v in loaded.incidents.values())
    assert dump_state(loaded) == stored  # stored again unchanged, byte for byte
    assert dict(loaded.each_incident()) == first.state.incidents
    # A revision of report 1 decodes its incident only; the aggregate moves by its change.
    revised = make_report("news", "1", version=2, location="town 1", killed=(9, 0, 0, 0))
    second = fold(loaded, dedupe(None, revised)[1])
    assert second.state is not None and second.snapshot is not None
    kinds = {k: isinstance(v, msgspec.Raw) for k, v in second.state.incidents.items()}
    assert sorted(kinds.values()) == [False, True, True]
    assert second.state.aggregate == snapshot(second.state).aggregate
    assert second.snapshot.aggregate.killed.civilians == 0 + 9 + 2
    assert dict(load_district_day(second.state_json).each_incident()) == dict(
        second.state.each_incident()
    )
