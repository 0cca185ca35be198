"""Dead letters: a message the stream cannot use, with its reason, always small enough to send.

Every agent builds its dead letters here. Building one never raises and never parses more
of the message than it must: the bytes may be anything a hostile client sends (JSON
nested 100,000 deep, megabytes of garbage, binary).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import faust

from incidents_config.metrics import AGENT_ERRORS
from schemas import safe_json
from schemas.errors import FieldError
from schemas.warehouse import DeadLetter

logger = logging.getLogger(__name__)

MAX_RAW_BYTES = 64 * 1024  # of the original bytes kept in a dead letter
MAX_ERRORS = 20
MAX_FIELD = 200
MAX_MESSAGE = 500
MAX_ID = 128
IDENTITY_PARSE_LIMIT = 256 * 1024  # larger bodies are not parsed to find their source


class Reason(StrEnum):
    """Why a message was dead-lettered: the label metrics and `incidents status` group by."""

    INVALID_JSON = "invalid_json"
    CONTRACT = "contract"
    TOO_LARGE = "too_large"  # an output would exceed Kafka's message limit
    STATE_LIMIT = "state_limit"  # a table value would exceed STREAMS_MAX_STATE_BYTES
    INTERNAL = "internal"  # a bug: the agent failed on this message


def bounded_errors(errors: list[FieldError]) -> list[FieldError]:
    """Cap the number and length of errors, saying how many were left out."""
    out = [
        e
        if len(e.field) <= MAX_FIELD and len(e.message) <= MAX_MESSAGE
        else FieldError(field=e.field[:MAX_FIELD], message=e.message[:MAX_MESSAGE])
        for e in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        out.append(FieldError.whole(f"... and {len(errors) - MAX_ERRORS} more errors"))
    return out


def contract_reason(errors: list[FieldError]) -> Reason:
    """Tell undecodable bytes from a decodable report that breaks the contract."""
    if any(e.message.startswith("not valid JSON") for e in errors):
        return Reason.INVALID_JSON
    return Reason.CONTRACT


def identity(raw: bytes, key: bytes | None) -> tuple[str, str]:
    """Best-effort ``(source, source_event_id)`` of a message: its key, else its JSON."""
    if key:
        text = key[: 2 * MAX_ID + 1].decode("utf-8", errors="replace")
        source, sep, event_id = text.partition(":")
        if sep and source:
            return source[:MAX_ID], event_id[:MAX_ID]
    if len(raw) > IDENTITY_PARSE_LIMIT:
        return "", ""
    try:
        doc: Any = safe_json.loads(raw.decode("utf-8"))
    except ValueError:  # not UTF-8, not JSON, nested too deeply
        return "", ""
    if not isinstance(doc, dict):
        return "", ""
    found = doc.get("source"), doc.get("source_event_id")
    return (
        str(found[0])[:MAX_ID] if isinstance(found[0], str | int) else "",
        str(found[1])[:MAX_ID] if isinstance(found[1], str | int) else "",
    )


def dead_letter(
    raw: bytes,
    errors: list[FieldError],
    event: faust.EventT,
    *,
    stage: str,
    reason: Reason,
    at: tuple[str, int, int] | None = None,
) -> DeadLetter:
    """Wrap a message that cannot be used with its reasons and origin; never raises.

    The origin is the event's topic, partition and offset, or `at` when the letter is for
    one item of a bundle that came from another message.
    """
    msg = event.message
    topic, partition, offset = at if at is not None else (msg.topic, msg.partition, msg.offset)
    key = msg.key if isinstance(msg.key, bytes) else None
    try:
        source, event_id = identity(raw, key)
    except Exception:  # identity is best effort; the letter must still be sent
        logger.exception(
            "cannot tell the source of %s[%d]@%d", msg.topic, msg.partition, msg.offset
        )
        source, event_id = "", ""
    return DeadLetter(
        errors=bounded_errors(errors),
        raw_b64=base64.b64encode(raw[:MAX_RAW_BYTES]).decode(),
        topic=topic,
        partition=partition,
        offset=offset,
        received_at=datetime.now(UTC),
        source=source,
        source_event_id=event_id,
        stage=stage,
        reason=str(reason),
        raw_size=len(raw),
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        raw_truncated=len(raw) > MAX_RAW_BYTES,
    )


def raw_bytes(event: faust.EventT) -> bytes:
    """The event's value as bytes (a key-less or value-less message gives b"")."""
    value = event.value
    return value if isinstance(value, bytes) else b""


def internal_error_letter(
    stage: str,
    event: faust.EventT,
    exc: BaseException,
    raw: bytes | None = None,
    at: tuple[str, int, int] | None = None,
) -> DeadLetter:
    """A dead letter for a message an agent failed on: a bug, never a silent loss.

    `raw` and `at` are what the letter keeps and where it points when the failing item is
    part of the event (one membership of a bundle); by default the event's bytes and place.
    """
    msg = event.message
    AGENT_ERRORS.labels(stage).inc()
    logger.error(
        "%s failed on %s[%d]@%d: %r", stage, msg.topic, msg.partition, msg.offset, exc, exc_info=exc
    )
    errors = [FieldError.whole(f"internal error in {stage}: {exc!r}")]
    data = raw_bytes(event) if raw is None else raw
    return dead_letter(data, errors, event, stage=stage, reason=Reason.INTERNAL, at=at)
