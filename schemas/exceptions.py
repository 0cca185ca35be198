"""Errors raised by the schemas package; all derive from :class:`SchemaError`."""

from __future__ import annotations

from schemas.errors import FieldError


class SchemaError(Exception):
    """Base class of every error the schemas package raises."""


class GazetteerDataError(SchemaError):
    """The gazetteer data file breaks one of its rules (found at load time)."""


class PlaceError(SchemaError, LookupError):
    """A place name could not be resolved to one canonical place."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.message = message
        self.name = name


class UnknownPlace(PlaceError):
    """No province or district has this name; ``suggestion`` is the closest known name."""

    def __init__(self, message: str, name: str, suggestion: str | None = None) -> None:
        super().__init__(message, name)
        self.suggestion = suggestion


class AmbiguousPlace(PlaceError):
    """The name fits several districts; ``candidates`` lists them as (province, district)."""

    def __init__(self, message: str, name: str, candidates: list[tuple[str, str]]) -> None:
        super().__init__(message, name)
        self.candidates = candidates


class DistrictNotInProvince(PlaceError):
    """The district exists, but in another province (``actual_province``)."""

    def __init__(self, message: str, name: str, province: str, actual_province: str) -> None:
        super().__init__(message, name)
        self.province = province
        self.actual_province = actual_province


class ReportValidationError(SchemaError, ValueError):
    """A report broke the contract; ``errors`` lists each problem with its field.

    Each error is a :class:`~schemas.errors.FieldError`; its field is a dotted path into
    the report, or ``"$"`` (``WHOLE_DOCUMENT``) for the document as a whole.
    """

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


class PlacesOverlayError(SchemaError, ValueError):
    """The places alias overlay cannot be used: ``str()`` names its file, line and reason."""


class AliasRefused(SchemaError, ValueError):
    """An alias decision was refused (unknown place, a text that resolves, a false merge)."""
