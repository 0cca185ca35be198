"""The names of the topics the workers read and write, from settings."""

from __future__ import annotations

from dataclasses import dataclass

from incidents.settings import KafkaSettings, Settings


@dataclass(frozen=True)
class TopicNames:
    """The project's stream topics by role (full names, prefix included).

    The raw and dead-letter topics are shared by every pipeline generation; the others
    belong to one (``incidents replay`` builds the next generation beside the live one).
    """

    raw: str
    rekeyed: str
    valid: str
    dead_letter: str
    updates: str
    snapshots: str

    @classmethod
    def of(cls, settings: Settings, generation: int | None = None) -> TopicNames:
        """The topics of `generation`, by default the one these settings run."""
        g = settings.generation if generation is None else generation
        return cls.of_kafka(settings.kafka, g)

    @classmethod
    def of_kafka(cls, kafka: KafkaSettings, g: int) -> TopicNames:
        return cls(
            raw=kafka.raw_topic,
            rekeyed=kafka.topic("reports.rekeyed", g),
            valid=kafka.topic("reports.valid", g),
            dead_letter=kafka.dead_letter_topic,
            updates=kafka.topic("incidents.updates", g),
            snapshots=kafka.topic("warehouse.snapshots", g),
        )

    @property
    def of_generation(self) -> list[str]:
        """The topics that belong to this generation alone."""
        return [self.rekeyed, self.valid, self.updates, self.snapshots]
