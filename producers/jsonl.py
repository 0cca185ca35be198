"""JSON lines -> Kafka: one contract report per line (see docs/producers.md).

Each non-blank line is published as it is (its original bytes), keyed by
``source:source_event_id``. With validation on (the default) lines that break the
contract are not published: they are counted by reason and, when asked, written to a
rejects file. ``validate=False`` sends every non-blank line, so the stream's dead-letter
path can be demonstrated. A line larger than a Kafka message is rejected either way, read
in chunks to its end rather than held whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from incidents_config.settings import Settings
from producers.pipeline import (
    DEFAULT_MAX_MESSAGE_BYTES,
    BoundedLines,
    Candidate,
    Item,
    LongLine,
    Rejected,
    Skip,
    preview,
    run_file_source,
    size_errors,
)
from producers.progress import ProgressArg
from producers.publisher import RecordSink
from producers.summary import PublishSummary

logger = logging.getLogger(__name__)

BLANK_LINE = "blank line"


def jsonl_items(
    lines: BoundedLines | BinaryIO, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> Iterator[Item]:
    """Turn a binary stream of JSON lines into items, streaming (one line in memory).

    A line longer than ``max_message_bytes`` is rejected as too large without being held.
    """
    if not isinstance(lines, BoundedLines):
        lines = BoundedLines(lines, max_message_bytes)
    for number, line in enumerate(lines, 1):
        if isinstance(line, LongLine):
            yield Rejected(number, size_errors(line.size, max_message_bytes), preview(line.head))
            continue
        value = line.strip()
        yield Candidate(number, value) if value else Skip(BLANK_LINE)


def publish_jsonl(
    path_or_stdin: str | Path | BinaryIO,
    settings: Settings,
    *,
    validate: bool = True,
    rejects_path: str | Path | None = None,
    progress: ProgressArg = None,
    publisher: RecordSink | None = None,
    validators: int | None = None,
) -> PublishSummary:
    """Publish a JSON-lines file (``"-"`` = stdin) to the raw topic and summarize the run.

    ``progress`` is a rich ``Progress`` to add a task to, ``True`` for a bar on stderr, or
    None. ``publisher`` replaces the Kafka publisher (tests). ``validators``: processes
    that validate beside the sending one (None: one per CPU beyond the first, for a file
    of 4 MiB or more; see :func:`producers.pipeline.default_validators`). Raise
    ``InputNotFound`` for a missing file and ``KafkaUnavailable`` when no broker answers.
    """
    return run_file_source(
        path_or_stdin,
        jsonl_items,
        settings,
        validate=validate,
        rejects_path=rejects_path,
        progress=progress,
        publisher=publisher,
        description="JSON lines",
        validators=validators,
    )
