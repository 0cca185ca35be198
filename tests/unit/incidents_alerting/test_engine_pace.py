"""When the sink's alert engine evaluates: noted batches wait for the next due evaluation,
which comes ALERTS_EVALUATE_S after the last, or nine times its duration if longer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from incidents_alerting.engine import AlertEngine
from sinks.observer import DistrictDay, Written

DAY = date(2025, 6, 29)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Dispatcher:
    """Nothing to deliver in these tests."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def make_engine(
    settings_factory: Any, clock: Clock, cost_s: float
) -> tuple[AlertEngine, list[set[DistrictDay]]]:
    settings = settings_factory(alerts={"evaluate_s": 2.0})
    engine = AlertEngine(
        settings,
        client=None,  # type: ignore[arg-type]  # evaluate is replaced below: no queries
        database="incidents",
        dispatcher=Dispatcher(),  # type: ignore[arg-type]
        delivery_client=object(),  # type: ignore[arg-type]
        clock=clock,
    )
    evaluated: list[set[DistrictDay]] = []

    def evaluate(days: Iterable[DistrictDay]) -> list[Any]:
        evaluated.append(set(days))
        clock.now += cost_s  # an evaluation of every area takes this long
        return []

    engine.evaluate = evaluate  # type: ignore[method-assign]
    engine.tick = lambda: None  # type: ignore[method-assign]
    engine.send_settled = lambda: None  # type: ignore[method-assign]
    return engine, evaluated


def day(district: str) -> DistrictDay:
    return ("Khyber Pakhtunkhwa", district, DAY)


def test_batches_written_between_evaluations_wait_and_are_evaluated_together(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=3.0)
    engine.written(Written({day("Bannu")}))  # the first is evaluated at once
    assert evaluated == [{day("Bannu")}] and not engine.holding()
    # It took 3 s, so the next is due 27 s after it ended (not ALERTS_EVALUATE_S = 2 s).
    clock.now += 26.0
    engine.written(Written({day("Tank")}))
    engine.written(Written({day("Swat")}))
    assert len(evaluated) == 1 and engine.holding()  # the sink's commit waits
    clock.now += 1.0
    engine.written(Written({day("Dir")}))
    assert evaluated[1] == {day("Tank"), day("Swat"), day("Dir")}
    assert not engine.holding()


def test_a_quick_evaluation_is_followed_by_the_next_after_evaluate_s(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=0.1)
    engine.written(Written({day("Bannu")}))
    clock.now += 1.9
    engine.written(Written({day("Tank")}))
    assert len(evaluated) == 1 and engine.holding()
    clock.now += 0.1
    engine.written(Written({day("Tank")}))
    assert len(evaluated) == 2 and not engine.holding()


def test_idle_evaluates_when_due_and_a_failure_does_not_hold_the_commit(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=0.0)
    engine.written(Written({day("Bannu")}))
    engine.written(Written({day("Tank")}))
    engine.idle()  # idle between two batches of a catch-up: not due yet
    assert len(evaluated) == 1 and engine.holding()
    clock.now += 2.0
    engine.idle()
    assert evaluated[-1] == {day("Tank")} and not engine.holding()

    def failing(days: Iterable[DistrictDay]) -> list[Any]:
        raise RuntimeError("warehouse away")

    engine.evaluate = failing  # type: ignore[method-assign]
    engine.written(Written({day("Swat")}))
    clock.now += 2.0
    engine.idle()
    assert not engine.holding()  # retried later, in memory, as before
    assert engine._pending == {day("Swat")}


def test_once_the_sink_stops_writing_what_it_holds_is_evaluated_without_the_long_pause(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=60.0)
    engine.written(Written({day("Bannu")}))  # a minute-long evaluation: next due in 540 s
    clock.now += 0.5
    engine.written(Written({day("Tank")}))  # the catch-up's last batch
    clock.now += 1.0
    engine.idle()  # the sink may be between two batches: the pace holds
    assert len(evaluated) == 1 and engine.holding()
    clock.now += 1.0  # nothing written for ALERTS_EVALUATE_S (2 s)
    engine.idle()
    assert evaluated[-1] == {day("Tank")} and not engine.holding()  # the commit can go
    clock.now += 5.0
    engine.idle()  # nothing held: no evaluation before the pause ends
    assert len(evaluated) == 2
