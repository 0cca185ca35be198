"""Errors of the alerting package; every one derives from :class:`AlertingError`."""

from __future__ import annotations


class AlertingError(Exception):
    """Base of the errors raised by the alerting package."""


class RulesError(AlertingError):
    """The rules file cannot be read or does not validate; the message names the field."""
