"""Every name the platform gives to things outside its own memory, spelled once.

A pipeline *generation* (``incidents replay`` builds the next one beside the live one) owns
its internal topics, its Faust app (consumer group, changelogs), the sink's consumer
group, the warehouse tables it is being built into and its workers' state folders.
:class:`Generation` derives every one of those names; nothing else spells them. The
raw, dead-letter, alerting and data-quality topics are shared by every generation.

Which generation is live, and the highest one ever started, are recorded in
``var/run/generation`` and ``var/run/generation.last``: :class:`Ledger` reads and writes
both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from incidents_config.settings import PathsSettings, Settings

# Long-running processes of the local stack, by name (pid, log and metrics files).
SINK = "sink"
PUSH = "push"
DQ = "dq"
BROKER = "kafka"
WORKER_PREFIX = "worker-"
REPLAY_WORKER_PREFIX = "replay-"


def worker_name(worker_id: int) -> str:
    """The process name of Faust worker `worker_id` (also its metrics and crash files)."""
    return f"{WORKER_PREFIX}{worker_id}"


def replay_worker_name(i: int) -> str:
    """The process name of replay worker `i` (`incidents replay`)."""
    return f"{REPLAY_WORKER_PREFIX}{i}"


def topic_name(prefix: str, name: str, generation: int = 0) -> str:
    """The full name of one of the project's topics (``<prefix>.g<N>.<name>`` after the
    first generation)."""
    return f"{prefix}.g{generation}.{name}" if generation else f"{prefix}.{name}"


@dataclass(frozen=True)
class Topics:
    """The project's topics by role (full names, prefix included), for one generation."""

    prefix: str
    generation: int = 0

    @classmethod
    def of(cls, settings: Settings, generation: int | None = None) -> Topics:
        """The topics of `generation`, by default the one `settings` run."""
        number = Ledger(settings.paths).current(settings) if generation is None else generation
        return cls(settings.kafka.topic_prefix, number)

    # --- shared by every generation ----------------------------------------------------
    @property
    def raw(self) -> str:
        return topic_name(self.prefix, "reports.raw")

    @property
    def dead_letter(self) -> str:
        return topic_name(self.prefix, "reports.deadletter")

    @property
    def alerts(self) -> str:
        return topic_name(self.prefix, "alerts")

    @property
    def silences(self) -> str:
        return topic_name(self.prefix, "alerts.silences")

    @property
    def dq_results(self) -> str:
        return topic_name(self.prefix, "dq.results")

    # --- this generation's own ------------------------------------------------------------
    @property
    def rekeyed(self) -> str:
        return topic_name(self.prefix, "reports.rekeyed", self.generation)

    @property
    def valid(self) -> str:
        return topic_name(self.prefix, "reports.valid", self.generation)

    @property
    def updates(self) -> str:
        return topic_name(self.prefix, "incidents.updates", self.generation)

    @property
    def snapshots(self) -> str:
        return topic_name(self.prefix, "warehouse.snapshots", self.generation)

    @property
    def of_generation(self) -> list[str]:
        """The topics that belong to this generation alone."""
        return [self.rekeyed, self.valid, self.updates, self.snapshots]


@dataclass(frozen=True)
class Generation:
    """One pipeline generation and every name it owns."""

    number: int
    topics: Topics
    app: str  # the Faust app id: also its consumer group and changelog prefix
    sink_group: str  # the sink's consumer group for this generation's topics

    @classmethod
    def of(cls, settings: Settings, number: int | None = None) -> Generation:
        """Generation `number`, by default the one `settings` run (see :meth:`Ledger.current`)."""
        n = Ledger(settings.paths).current(settings) if number is None else number
        suffix = f"-g{n}" if n else ""
        return cls(
            number=n,
            topics=Topics(settings.kafka.topic_prefix, n),
            app=f"{settings.kafka.topic_prefix}-{settings.streams.app_id}{suffix}",
            sink_group=f"{settings.sink.group_id}{suffix}",
        )

    def build_table(self, table: str) -> str:
        """The copy of warehouse table `table` this generation is built into by a replay."""
        return f"{table}_g{self.number}"

    def worker_dir(self, var_dir: Path, worker_id: int) -> Path:
        """Faust's data folder of worker `worker_id`: generations never share one."""
        generation_dir = f"g{self.number}" if self.number else ""
        return Path(var_dir, "faust", generation_dir, worker_name(worker_id)).resolve()


class Ledger:
    """Which generation is live and which was started last (``var/run/generation*``)."""

    def __init__(self, paths: PathsSettings) -> None:
        self._live = paths.run_dir / "generation"
        self._last = paths.run_dir / "generation.last"

    def current(self, settings: Settings) -> int:
        """The generation `settings` run: STREAMS_GENERATION when set, else the live one."""
        pinned = settings.streams.generation
        return pinned if pinned is not None else self.live()

    def live(self) -> int:
        """The live generation (0 before any replay)."""
        try:
            return int(self._live.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError as e:
            raise ValueError(f"{self._live} does not hold a generation number") from e

    def last(self) -> int:
        """The highest generation ever started (a failed replay's number is not reused)."""
        try:
            started = int(self._last.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            started = 0
        return max(started, self.live())

    def start_next(self) -> int:
        """Claim the next generation number for a replay and record it; return it."""
        number = self.last() + 1
        self._last.parent.mkdir(parents=True, exist_ok=True)
        self._last.write_text(f"{number}\n")
        return number

    def gazetteer(self, number: int) -> str | None:
        """The gazetteer version generation `number`'s incident keys are built with
        (:attr:`schemas.places.Places.version`), or None before its first worker started."""
        try:
            return self._gazetteer(number).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def record_gazetteer(self, number: int, version: str) -> None:
        """Record the gazetteer version generation `number` is built with."""
        path = self._gazetteer(number)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{version}\n", encoding="utf-8")

    def _gazetteer(self, number: int) -> Path:
        return self._live.parent / f"generation.{number}.gazetteer"

    def make_live(self, number: int) -> None:
        """Record `number` as the live generation (the replay's switch)."""
        self._live.parent.mkdir(parents=True, exist_ok=True)
        self._live.write_text(f"{number}\n")


def crash_file(paths: PathsSettings, process: str) -> Path:
    """Where worker `process` records why it stopped itself (``incidents status`` reads it)."""
    return paths.run_dir / f"{process}.crash"


def sink_ready_file(paths: PathsSettings) -> Path:
    """Where the running sink says it is ready, and where its SQL endpoint listens."""
    return paths.run_dir / "sink.ready"


def url_file(paths: PathsSettings, process: str) -> Path:
    """Where process `process` records the URL it serves on (its port may be chosen by the
    system: a port setting of 0)."""
    return paths.run_dir / f"{process}.url"


def recorded_url(paths: PathsSettings, process: str) -> str | None:
    """The URL process `process` recorded, if it did."""
    try:
        return url_file(paths, process).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
