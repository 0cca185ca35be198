"""Errors raised by the ``incidents`` package (settings, CLI, local stack).

Every error derives from :class:`IncidentsError`, so callers can catch one class.
"""

from __future__ import annotations


class IncidentsError(Exception):
    """Base of every error raised by the ``incidents`` package."""


class ToolMissing(IncidentsError):
    """An external program the local stack needs (java, mvn) is not on PATH."""


class JarsDownloadError(IncidentsError):
    """Maven could not fetch the local broker's jars."""


class BrokerStartError(IncidentsError):
    """The local broker could not be formatted or started, or did not answer in time."""


class BrokerStopError(IncidentsError):
    """The local broker did not stop."""


class TopicAdminError(IncidentsError):
    """Creating or describing Kafka topics failed."""
