"""Alerting's pure parts: the statistics, the rules over a series, the lifecycle, payloads."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from incidents_alerting import stats
from incidents_alerting.evaluate import (
    Area,
    Day,
    Incident,
    area_episodes,
    mass_casualty_episode,
    quiet_district_episodes,
)
from incidents_alerting.lifecycle import FIRING, RESOLVED, Silence, Stored, changes
from incidents_alerting.rules import Lifecycle, Rules, RulesError, load_rules

START = date(2024, 1, 1)
TODAY = date(2024, 12, 31)
AREA = Area("Khyber Pakhtunkhwa", "Lakki Marwat")
NOW = datetime(2024, 12, 31, 12, tzinfo=UTC)


def poisson_exact(k: int, mean: float) -> float:
    return 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k))


@pytest.mark.parametrize(("k", "mean"), [(3, 1.0), (10, 1.2), (1, 0.1), (5, 5.0), (7, 2.8)])
def test_poisson_tail_matches_the_textbook_sum(k: int, mean: float) -> None:
    assert stats.poisson_sf(k, mean) == pytest.approx(poisson_exact(k, mean), rel=1e-9)


def test_tiny_tails_keep_their_precision() -> None:
    # 1 - cdf would round this to 0; the rules compare against 1e-4 and below.
    assert 0 < stats.poisson_sf(30, 0.7) < 1e-30


def test_a_zero_baseline_uses_the_floor_rate() -> None:
    test = stats.count_spike([1, 0, 0, 0, 0, 0, 0], [0] * 90, floor_rate=0.02)
    assert test.expected == pytest.approx(0.14)
    assert test.p_value == pytest.approx(stats.poisson_sf(1, 0.14))


def series(counts: dict[int, int], killed: int = 0) -> dict[date, Day]:
    return {START + timedelta(days=d): Day.of([killed] * n) for d, n in counts.items() if n}


def test_a_surge_is_one_episode_not_one_per_window() -> None:
    quiet = {d: 1 for d in range(0, 340, 15)}
    surge = {d: 3 for d in range(350, 354)}
    episodes = area_episodes(AREA, series({**quiet, **surge}), START, TODAY, Rules())
    spikes = [e for e in episodes if e.rule == "count_spike"]
    assert len(spikes) == 1
    (e,) = spikes
    assert e.start <= START + timedelta(days=350) <= e.end
    assert e.observed >= 9 and e.p_value < 1e-4
    assert e.summary.startswith("Lakki Marwat: ") and "incidents in 7 days" in e.summary
    assert not e.firing(TODAY, cooldown_days=3)  # long over by the end of the year
    assert e.firing(e.end + timedelta(days=3), cooldown_days=3)


def test_quiet_noise_fires_nothing() -> None:
    quiet = {d: 1 for d in range(0, 366, 5)}
    assert [e for e in area_episodes(AREA, series(quiet), START, TODAY, Rules())] == []


def test_episode_ids_are_stable_and_distinct() -> None:
    quiet = {d: 1 for d in range(0, 300, 15)}
    a = area_episodes(AREA, series({**quiet, 320: 9}), START, TODAY, Rules())
    b = area_episodes(AREA, series({**quiet, 320: 9}), START, TODAY, Rules())
    other = area_episodes(
        Area("Khyber Pakhtunkhwa", "Bannu"), series({**quiet, 320: 9}), START, TODAY, Rules()
    )
    assert [e.alert_id for e in a] == [e.alert_id for e in b]
    assert {e.alert_id for e in a}.isdisjoint(e.alert_id for e in other)


def test_a_quiet_district_fires_on_its_first_incident_after_the_quiet_days() -> None:
    days = [START, START + timedelta(days=10), START + timedelta(days=250)]
    (e,) = quiet_district_episodes(AREA, days, START, quiet_days=180)
    assert e.start == START + timedelta(days=250) and "first incident in 240 days" in e.summary
    # Not at the start of the data: there is no quiet to break yet.
    assert quiet_district_episodes(AREA, [START + timedelta(days=5)], START, 180) == []


def test_mass_casualty_is_active_only_at_the_threshold() -> None:
    incident = Incident(
        "i-1", Area("Khyber Pakhtunkhwa", "Shangla"), TODAY, 14, "Besham", "suicide_attack"
    )
    e = mass_casualty_episode(incident, 10)
    assert e.active and e.summary == "Besham, Shangla: 14 killed in one incident (suicide attack)"
    lowered = mass_casualty_episode(Incident("i-1", incident.area, TODAY, 4), 10)
    assert not lowered.active and lowered.alert_id == e.alert_id
    assert not lowered.firing(TODAY, cooldown_days=3)


LIFE = Lifecycle()


def episode_on(day: date, observed: int = 9):
    return mass_casualty_episode(Incident("i-9", AREA, day, observed), 5)


def stored(e, state: str, notified: str = FIRING, observed: int = 9) -> Stored:  # type: ignore[no-untyped-def]
    return Stored(e.alert_id, 1, state, observed, e.expected, e.p_value, e.end, notified, observed)


def test_a_new_recent_alert_fires_and_notifies_once() -> None:
    e = episode_on(TODAY)
    (c,) = changes([e], {}, {}, TODAY, NOW, LIFE, [])
    assert (c.event, c.state, c.notify, c.seq) == ("fired", FIRING, True, 1)
    again = changes([e], {e.alert_id: stored(e, FIRING)}, {}, TODAY, NOW, LIFE, [])
    assert again == []  # nothing changed: nothing recorded, nothing sent


def test_an_old_alert_is_history_and_never_notifies() -> None:
    e = episode_on(TODAY - timedelta(days=200))
    (c,) = changes([e], {}, {}, TODAY, NOW, LIFE, [])
    assert (c.event, c.state, c.notify) == ("resolved", RESOLVED, False)


def test_escalation_notifies_again_and_smaller_changes_do_not() -> None:
    e = episode_on(TODAY, observed=9)
    old = {e.alert_id: stored(e, FIRING, observed=9)}
    (bigger,) = changes([episode_on(TODAY, 14)], old, {}, TODAY, NOW, LIFE, [])
    assert (bigger.event, bigger.notify, bigger.notified_observed) == ("escalated", True, 14)
    (slightly,) = changes([episode_on(TODAY, 11)], old, {}, TODAY, NOW, LIFE, [])
    assert (slightly.event, slightly.notify) == ("updated", False)


def test_resolution_notifies_when_the_firing_was_sent() -> None:
    e = episode_on(TODAY)
    lowered = mass_casualty_episode(Incident("i-9", AREA, TODAY, 2), 5)
    (c,) = changes([lowered], {e.alert_id: stored(e, FIRING)}, {}, TODAY, NOW, LIFE, [])
    assert (c.event, c.state, c.notify) == ("resolved", RESOLVED, True)
    never_sent = {e.alert_id: stored(e, FIRING, notified="")}
    (quiet,) = changes([lowered], never_sent, {}, TODAY, NOW, LIFE, [])
    assert not quiet.notify


def test_a_silence_holds_the_notification_and_is_noted() -> None:
    e = episode_on(TODAY)
    silence = Silence(
        "s1", "mass_casualty", AREA.province, AREA.district, NOW, NOW + timedelta(hours=1)
    )
    (c,) = changes([e], {}, {}, TODAY, NOW, LIFE, [silence])
    assert (c.event, c.notify, c.silenced_by) == ("fired", False, "s1")
    later = NOW + timedelta(hours=2)  # the silence is over and the alert still fires
    (sent,) = changes(
        [e], {e.alert_id: stored(e, FIRING, notified="")}, {}, TODAY, later, LIFE, [silence]
    )
    assert (sent.event, sent.notify) == ("fired", True)


def test_an_alert_the_rules_no_longer_see_is_withdrawn() -> None:
    e = episode_on(TODAY)
    (c,) = changes([], {e.alert_id: stored(e, FIRING)}, {e.alert_id: e}, TODAY, NOW, LIFE, [])
    assert (c.event, c.state, c.notify) == ("withdrawn", "withdrawn", True)


def test_the_shipped_rules_load(tmp_path: Path) -> None:
    rules = load_rules()
    assert rules.count_spike.window_days == 7 and rules.mass_casualty.min_killed == 10


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[count_spike]\np_value = 2\n", "count_spike.p_value"),
        ("[count_spike]\nwindow = 7\n", "count_spike.window"),
        # the negative binomial's cap is gone with it: an old file says which key to drop
        ("[fatality_spike]\nmax_size = 0.1\n", "fatality_spike.max_size"),
        ("[fatality_spike]\nshrinkage = -1\n", "fatality_spike.shrinkage"),
        ("[lifecycle]\ncooldown_days = 'soon'\n", "lifecycle.cooldown_days"),
        ("[notifications]\ngroup_wait_s = -1\n", "notifications.group_wait_s"),
        ("[notifications]\ngroup_by = ['alertname', 'city']\n", "notifications.group_by.1"),
        ("[notifications]\nwait = 30\n", "notifications.wait"),
        ("x =", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_names_the_field(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=names.replace(".", r"\.")):
        load_rules(path)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"x = " + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\x9f\x00\xff binary", "not UTF-8"),
    ],
)
def test_a_hostile_rules_file_is_a_rules_error(tmp_path: Path, content: bytes, says: str) -> None:
    """A running sink keeps its old rules only on a RulesError: nothing else may escape."""
    path = tmp_path / "rules.toml"
    path.write_bytes(content)
    with pytest.raises(RulesError, match=says):
        load_rules(path)


def test_the_model_defaults_are_the_shipped_file() -> None:
    assert Rules() == load_rules()  # a rules file that leaves a key out gets the same value
