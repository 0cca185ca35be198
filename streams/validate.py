"""validate: raw feed bytes -> a valid report, or a dead letter that says why."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from typing import Any

import faust

from incidents.settings import Settings
from schemas.report import Report, ReportValidationError, parse_report
from schemas.warehouse import DeadLetter
from streams.app import Send, Topics, batches, deliver

logger = logging.getLogger(__name__)


def check(raw: bytes) -> Report | list[dict[str, str]]:
    """Return the valid report in `raw`, or the list of what is wrong with it.

    Never raises: a bug in validation turns into an error entry, not a crashed worker.
    """
    try:
        return parse_report(raw)
    except ReportValidationError as e:
        return e.errors
    except Exception as e:  # never let one message stop the stream
        logger.exception("validation failed unexpectedly")
        return [{"field": "$", "message": f"internal error while validating: {e!r}"}]


def dead_letter(raw: bytes, errors: list[dict[str, str]], event: faust.EventT) -> DeadLetter:
    """Wrap a message that cannot be used with its reasons and origin."""
    source, event_id = _identity(raw)
    msg = event.message
    return DeadLetter(
        errors=errors,
        raw_b64=base64.b64encode(raw).decode(),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        received_at=datetime.now(UTC),
        source=source,
        source_event_id=event_id,
    )


def internal_error(
    stage: str, event: faust.EventT, exc: BaseException
) -> tuple[bytes | None, bytes]:
    """A dead letter for a message a later stage failed on (a bug, never a silent loss)."""
    logger.exception("%s failed on %s[%d]@%d", stage, *_where(event))
    raw = event.value if isinstance(event.value, bytes) else b""
    errors = [{"field": "$", "message": f"internal error in {stage}: {exc!r}"}]
    return (event.message.key, dead_letter(raw, errors, event).model_dump_json().encode())


def _where(event: faust.EventT) -> tuple[str, int, int]:
    return event.message.topic, event.message.partition, event.message.offset


def _identity(raw: bytes) -> tuple[str, str]:
    """Best-effort (source, source_event_id) of a rejected message."""
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        return "", ""
    if not isinstance(doc, dict):
        return "", ""
    return str(doc.get("source") or "")[:128], str(doc.get("source_event_id") or "")[:128]


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Register the validate agent on `app`."""

    @app.agent(topics.raw, name="validate")
    async def validate(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            sends: list[Send] = []
            for event in events:
                raw = event.value if isinstance(event.value, bytes) else b""
                result = check(raw)
                if isinstance(result, Report):
                    value = result.model_dump_json().encode()
                    sends.append((topics.valid, result.report_id.encode(), value))
                else:
                    letter = dead_letter(raw, result, event).model_dump_json().encode()
                    sends.append((topics.dead_letter, event.message.key, letter))
            await deliver(sends)
