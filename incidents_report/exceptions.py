"""Errors of the report package; every one derives from :class:`ReportError`."""

from __future__ import annotations


class ReportError(Exception):
    """Base of the errors raised by the report package."""


class QuarterError(ValueError):
    """A quarter that cannot be parsed (``2024Q1`` is the form)."""


class NoData(ReportError):
    """The warehouse has no incident in the quarter asked for."""


class RenderError(ReportError):
    """A report could not be written in the format asked for (e.g. no Chromium for PDF)."""
