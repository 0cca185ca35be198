"""What the sink tells the components that react to the rows it has written.

Alerting evaluates its rules after each write; it sits above ``sinks/`` and the sink must
not import it, so the sink speaks to it through this small interface. Whoever starts the
sink process (``incidents_ops.sink_process``) passes the observers in.
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
    """Told about every batch the sink writes, on the sink's own thread."""

    def start(self) -> None:
        """The sink is connected and about to write its first batch."""

    def written(self, batch: Written) -> None:
        """`batch` is written and its offsets are not committed yet (a crash re-delivers
        it, so the observer sees it again). The observer may only note it, and act on it
        at a later call (see :meth:`holding`). Must not raise."""

    def holding(self) -> bool:
        """True while the observer has noted written batches it has not acted on yet: the
        sink does not commit their offsets until it has (so a crash re-delivers them, and
        the observer is told again). Batches keep being written meanwhile."""

    def idle(self) -> None:
        """Nothing is buffered: a moment for periodic work, and to act on what was noted.
        Must not raise."""

    def stop(self) -> None:
        """The sink is stopping."""
