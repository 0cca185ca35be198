"""validate: raw feed bytes -> a valid report, or a dead letter that says why."""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from incidents.metrics import REPORTS_ACCEPTED, REPORTS_CONSUMED, source_label
from incidents.settings import Settings
from schemas.report import Report, ReportValidationError, parse_report
from streams.app import Send, Topics, batches, dead_letter_send, deliver, guarded
from streams.letters import contract_reason, dead_letter, internal_error_letter, raw_bytes

logger = logging.getLogger(__name__)

AGENT = "validate"


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


def outputs(event: faust.EventT, topics: Topics) -> Send:
    """Turn one raw message into its one output: a valid report or a dead letter."""
    raw = raw_bytes(event)
    result = check(raw)
    if isinstance(result, Report):
        source = source_label(result.source)
        REPORTS_CONSUMED.labels(source).inc()
        REPORTS_ACCEPTED.labels(source).inc()
        value = result.model_dump_json().encode()
        return Send(topics.valid, result.report_id.encode(), value, event)
    reason = contract_reason(result)
    letter = dead_letter(raw, result, event, stage=AGENT, reason=reason)
    REPORTS_CONSUMED.labels(source_label(letter.source)).inc()  # the letter found its source
    return dead_letter_send(letter, event, topics.dead_letter)


def register(app: faust.App, topics: Topics, settings: Settings, crash_file: Path) -> None:
    """Register the validate agent on `app`."""

    @app.agent(topics.raw, name=AGENT)
    @guarded(AGENT, crash_file)
    async def validate(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            sends: list[Send] = []
            for event in events:
                try:
                    sends.append(outputs(event, topics))
                except Exception as e:  # a bug must not lose the message or its neighbours
                    letter = internal_error_letter(AGENT, event, e)
                    sends.append(dead_letter_send(letter, event, topics.dead_letter))
            await deliver(sends, AGENT, topics.dead_letter)
