"""Errors of the operations package (the local broker, topics, the stack, replay).

Every error derives from :class:`OpsError`, so callers can catch one class.
"""

from __future__ import annotations


class OpsError(Exception):
    """Base of every error raised by the operations package."""


class ToolMissing(OpsError):
    """An external program the local stack needs (java, mvn) is not on PATH."""


class JarsDownloadError(OpsError):
    """Maven could not fetch the local broker's jars."""


class BrokerStartError(OpsError):
    """The local broker could not be formatted or started, or did not answer in time."""


class BrokerStopError(OpsError):
    """The local broker did not stop."""


class TopicAdminError(OpsError):
    """Creating or describing Kafka topics failed."""
