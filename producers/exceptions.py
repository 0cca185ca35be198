"""Errors raised by the ``producers`` package.

Every error derives from :class:`ProducerError`; each message is one line a person can act on.
"""

from __future__ import annotations

from schemas.errors import FieldError


class ProducerError(Exception):
    """Base of every error raised by the ``producers`` package."""


class KafkaUnavailable(ProducerError):
    """The brokers could not be reached (bootstrap failed or metadata timed out)."""

    def __init__(self, bootstrap_servers: str, detail: str = "") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.detail = detail
        message = f"cannot reach Kafka at {bootstrap_servers} — is the stack up? (`incidents up`)"
        super().__init__(f"{message} [{detail}]" if detail else message)


class InputNotFound(ProducerError):
    """The input file of a file producer does not exist or is not a file."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"input file not found: {path}")


class InputFormatError(ProducerError):
    """The input file is not in the expected format (e.g. a CSV without ACLED's columns)."""


class PushConfigError(ProducerError):
    """The push endpoint's settings are unsafe or incomplete; the app refuses to start."""


class AcledRowError(ProducerError, ValueError):
    """One ACLED row cannot be mapped to the contract; ``errors`` lists each problem."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


class DeliveryFailed(ProducerError):
    """Kafka refused or timed out on some records of a batch that had to be confirmed."""


class RecordTooLarge(ProducerError):
    """A record does not fit one Kafka message. Permanent: sending it again fails again."""

    def __init__(self, size: int, limit: int, why: str) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"too large for one Kafka message: {size:,} bytes, at most {limit:,} ({why})"
        )


class ProducerReset(ProducerError):
    """A record was lost with a Kafka producer that another record's failure broke.

    Transient: the publisher starts a new producer, and sending the record again is safe.
    """
