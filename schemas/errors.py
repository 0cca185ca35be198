"""The one shape of an error record: :class:`FieldError`, a field and what is wrong with it.

Contract violations, producer rejections and dead letters all list their problems as
``FieldError``s. The wire form is unchanged from the plain dicts used before,
``{"field": "killed.civilians", "message": "..."}`` (``model_dump()``/``model_dump_json()``
give exactly that, keys in that order), so dead letters already on a topic decode as
``FieldError``s and rejects files and push responses read the same.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["WHOLE_DOCUMENT", "FieldError"]

WHOLE_DOCUMENT = "$"  # the field of an error about the document as a whole


class FieldError(BaseModel):
    """One problem: ``field`` is a dotted path into the document, or ``"$"`` for all of it."""

    # Frozen, so one error can be shared between lists. Unknown keys are ignored rather than
    # refused: a dead letter written by an older version must still decode.
    model_config = ConfigDict(frozen=True)

    field: str
    message: str

    @classmethod
    def whole(cls, message: str) -> FieldError:
        """An error about the whole document (``field`` is :data:`WHOLE_DOCUMENT`)."""
        return cls(field=WHOLE_DOCUMENT, message=message)

    def __str__(self) -> str:
        """``field: message`` (just the message when there is no field)."""
        return f"{self.field}: {self.message}" if self.field else self.message
