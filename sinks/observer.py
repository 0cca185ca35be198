"""What the sink tells the components that react to the rows it has written.

Alerting evaluates its rules after the writes, on a thread of its own; it sits above
``sinks/`` and the sink must not import it, so the sink speaks to it through this small
interface. Whoever starts the sink process (``incidents_ops.sink_process``) passes the
observers in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

DistrictDay = tuple[str, str, date]  # (province, district, day)


@dataclass(frozen=True)
class SuiteRun:
    """One suite of one data-quality run, as the sink wrote it to ``dq_runs``."""

    run_id: str
    suite: str
    finished_at: datetime
    success: bool
    expectations: int
    failed: int


@dataclass
class Written:
    """What one written batch changed."""

    district_days: set[DistrictDay] = field(default_factory=set)
    suite_runs: list[SuiteRun] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.district_days or self.suite_runs)


class SinkObserver(Protocol):
    """Told about every batch the sink writes. The sink calls it from its own thread; an
    observer that acts on its own thread (alerting) says how far it has got in :meth:`acted`.
    """

    def start(self) -> None:
        """The sink is connected and about to write its first batch."""

    def written(self, batch: Written) -> None:
        """`batch` is written and its offsets are not committed yet (a crash re-delivers
        it, so the observer sees it again). The observer only notes it, quickly, and acts
        on it later. Must not raise."""

    def acted(self) -> int:
        """How many of the batches :meth:`written` was told of the observer has acted on.
        The sink commits a batch's offsets only once every observer has acted on it (so a
        crash before that re-delivers it, and the observer is told again); it keeps
        writing meanwhile."""

    def alive_at(self) -> float:
        """When (Unix time) the observer last showed it is not stuck: the sink's heartbeat
        is never newer, since an observer that never acts again holds every commit back."""

    def stop(self) -> None:
        """The sink is stopping."""
