"""The names of the topics the workers read and write, from settings."""

from __future__ import annotations

from dataclasses import dataclass

from incidents.settings import KafkaSettings


@dataclass(frozen=True)
class TopicNames:
    """The project's stream topics by role (full names, prefix included)."""

    raw: str
    rekeyed: str
    valid: str
    dead_letter: str
    updates: str
    snapshots: str

    @classmethod
    def of(cls, kafka: KafkaSettings) -> TopicNames:
        return cls(
            raw=kafka.raw_topic,
            rekeyed=kafka.rekeyed_topic,
            valid=kafka.valid_topic,
            dead_letter=kafka.dead_letter_topic,
            updates=kafka.incident_updates_topic,
            snapshots=kafka.snapshots_topic,
        )
