"""When the sink's alert engine evaluates: noted batches wait for the next due evaluation,
which comes ALERTS_EVALUATE_S after the last, or nine times its duration if longer; the
sink commits a batch once an evaluation that began after it was noted has ended."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import pytest

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
    settings_factory: Any, clock: Callable[[], float], cost_s: float
) -> tuple[AlertEngine, list[set[DistrictDay]]]:
    settings = settings_factory(alerts={"evaluate_s": 2.0})
    engine = AlertEngine(
        settings,
        client=object(),  # type: ignore[arg-type]  # evaluate is replaced below: no queries
        database="incidents",
        dispatcher=Dispatcher(),  # type: ignore[arg-type]
        delivery_client=object(),  # type: ignore[arg-type]
        clock=clock,
    )
    evaluated: list[set[DistrictDay]] = []

    def evaluate(days: Iterable[DistrictDay]) -> list[Any]:
        evaluated.append(set(days))
        if isinstance(clock, Clock):
            clock.now += cost_s  # an evaluation of every area takes this long
        return []

    engine.evaluate = evaluate  # type: ignore[method-assign]
    engine.tick = lambda: None  # type: ignore[method-assign]
    engine.send_settled = lambda: None  # type: ignore[method-assign]
    return engine, evaluated


def day(district: str) -> DistrictDay:
    return ("Khyber Pakhtunkhwa", district, DAY)


def write(engine: AlertEngine, *districts: str) -> None:
    """The sink wrote a batch, and the engine's thread, woken, takes a step."""
    engine.written(Written({day(d) for d in districts}))
    engine.step()


def test_batches_written_between_evaluations_wait_and_are_evaluated_together(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=3.0)
    write(engine, "Bannu")  # the first is evaluated at once
    assert evaluated == [{day("Bannu")}] and engine.acted() == 1
    # It took 3 s, so the next is due 27 s after it ended (not ALERTS_EVALUATE_S = 2 s).
    clock.now += 26.0
    write(engine, "Tank")
    write(engine, "Swat")
    assert len(evaluated) == 1 and engine.acted() == 1  # the sink's commit waits
    clock.now += 1.0
    write(engine, "Dir")
    assert evaluated[1] == {day("Tank"), day("Swat"), day("Dir")}
    assert engine.acted() == 4


def test_a_quick_evaluation_is_followed_by_the_next_after_evaluate_s(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=0.1)
    write(engine, "Bannu")
    clock.now += 1.9
    write(engine, "Tank")
    assert len(evaluated) == 1 and engine.acted() == 1
    clock.now += 0.1
    write(engine, "Tank")
    assert len(evaluated) == 2 and engine.acted() == 3


def test_a_batch_that_changes_nothing_to_evaluate_is_acted_on_at_once(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=0.0)
    engine.written(Written())  # dead letters only, say
    assert engine.acted() == 1 and evaluated == []
    engine.written(Written({day("Bannu")}))
    engine.written(Written())  # behind a batch that waits: waits too
    assert engine.acted() == 1


def test_a_batch_written_during_an_evaluation_waits_for_the_next(
    settings_factory: Any,
) -> None:
    """The evaluation under way may have read the warehouse before that batch was written:
    the sink must not commit it on that evaluation's account."""
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=0.0)
    during: list[int] = []

    def evaluate(days: Iterable[DistrictDay]) -> list[Any]:
        evaluated.append(set(days))
        if len(evaluated) == 1:
            engine.written(Written({day("Tank")}))  # the sink's thread, meanwhile
            engine.written(Written())
            during.append(engine.acted())
        return []

    engine.evaluate = evaluate  # type: ignore[method-assign]
    write(engine, "Bannu")
    assert during == [0]  # nothing acted on while the first evaluation ran
    assert engine.acted() == 1  # the batch it began with; Tank and the empty one wait
    clock.now += 2.0
    engine.step()
    assert evaluated[-1] == {day("Tank")} and engine.acted() == 3


def test_step_evaluates_when_due_and_a_failure_does_not_hold_the_commit(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=0.0)
    write(engine, "Bannu")
    write(engine, "Tank")
    engine.step()  # between two batches of a catch-up: not due yet
    assert len(evaluated) == 1 and engine.acted() == 1
    clock.now += 2.0
    engine.step()
    assert evaluated[-1] == {day("Tank")} and engine.acted() == 2

    def failing(days: Iterable[DistrictDay]) -> list[Any]:
        raise RuntimeError("warehouse away")

    engine.evaluate = failing  # type: ignore[method-assign]
    engine.written(Written({day("Swat")}))
    clock.now += 2.0
    engine.step()
    assert engine.acted() == 3  # retried later, in memory, as before
    assert engine._pending == {day("Swat")}


def test_once_the_sink_stops_writing_what_it_holds_is_evaluated_without_the_long_pause(
    settings_factory: Any,
) -> None:
    clock = Clock()
    engine, evaluated = make_engine(settings_factory, clock, cost_s=60.0)
    write(engine, "Bannu")  # a minute-long evaluation: next due in 540 s
    clock.now += 0.5
    write(engine, "Tank")  # the catch-up's last batch
    clock.now += 1.0
    engine.step()  # the sink may be between two batches: the pace holds
    assert len(evaluated) == 1 and engine.acted() == 1
    clock.now += 1.0  # nothing written for ALERTS_EVALUATE_S (2 s)
    engine.step()
    assert evaluated[-1] == {day("Tank")} and engine.acted() == 2  # the commit can go
    clock.now += 5.0
    engine.step()  # nothing held: no evaluation before the pause ends
    assert len(evaluated) == 2


def test_the_engines_thread_evaluates_while_the_sink_goes_on(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started, the engine steps on its own thread: what the sink notes gets acted on
    without the sink calling anything else, and stop ends the thread."""
    engine, evaluated = make_engine(settings_factory, time.monotonic, cost_s=0.0)
    monkeypatch.setattr(engine, "_resend_undelivered", lambda: None)
    started = time.time()
    engine.start()
    try:
        engine.written(Written({day("Bannu")}))
        deadline = time.monotonic() + 30.0
        while (engine.acted() < 1 or engine.alive_at() < started) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.acted() == 1 and evaluated == [{day("Bannu")}]
        assert engine.alive_at() >= started  # a step ended: the sink's heartbeat may move
    finally:
        engine.stop()
    assert engine._thread is not None and not engine._thread.is_alive()
