"""The loop the file producers share: validate, count, publish, wait for deliveries.

A source turns its input into :class:`Candidate` (bytes to publish), :class:`Skip` (left out
on purpose) and :class:`Rejected` (cannot even be mapped) items. :func:`publish_items`
validates candidates against the contract (unless told not to), publishes the ORIGINAL
bytes keyed by ``source:source_event_id``, and counts everything into a
:class:`PublishSummary`. The stream's validator stays the single source of truth; the
producers only validate to reject early and to count.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from incidents.settings import Settings
from producers.exceptions import InputNotFound
from producers.progress import ProgressArg, progress_task
from producers.publisher import Publisher, RecordSink
from producers.summary import PublishSummary
from schemas.report import ReportValidationError, parse_report

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # records between progress-bar updates


@dataclass(frozen=True)
class Skip:
    """A record left out on purpose, with the reason the summary groups by."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """A record that could not be turned into a report at all."""

    line: int
    errors: list[dict[str, str]]
    raw: str


@dataclass(frozen=True)
class Candidate:
    """Bytes to validate and publish; ``line`` is where the record starts in the input."""

    line: int
    value: bytes


Item = Skip | Rejected | Candidate


class ByteCountingLines:
    """Iterate a binary stream's lines, remembering how many bytes were read."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.bytes_read += len(line)
            yield line


def validate(value: bytes | dict[str, Any]) -> tuple[str | None, list[dict[str, str]]]:
    """Return ``(report id, [])`` for a valid report, else ``(None, errors)``."""
    try:
        report = parse_report(value)
    except ReportValidationError as e:
        return None, e.errors
    except ValueError as e:  # undecodable bytes etc.: never let one record crash a run
        return None, [{"field": "", "message": str(e) or type(e).__name__}]
    return report.report_id, []


def guess_key(value: bytes) -> str | None:
    """Best-effort ``source:source_event_id`` of unvalidated bytes (None if there is none)."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    source, event_id = data.get("source"), data.get("source_event_id")
    if isinstance(source, str | int) and isinstance(event_id, str | int):
        return f"{source}:{event_id}"
    return None


def rejection_line(line: int, errors: list[dict[str, str]], raw: str) -> str:
    return json.dumps({"line": line, "errors": errors, "raw": raw}, ensure_ascii=False) + "\n"


def publish_items(
    items: Iterable[Item],
    sink: RecordSink,
    summary: PublishSummary,
    *,
    rejects: TextIO | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PublishSummary:
    """Validate (if ``summary.validated``), publish and count every item, then flush."""
    started = time.monotonic()
    for n, item in enumerate(items, 1):
        if isinstance(item, Skip):
            summary.skip(item.reason)
        elif isinstance(item, Rejected):
            _reject(summary, rejects, item.line, item.errors, item.raw)
        else:
            if summary.validated:
                key, errors = validate(item.value)
                if errors:
                    raw = item.value.decode("utf-8", errors="replace")
                    _reject(summary, rejects, item.line, errors, raw)
                    continue
            else:
                key = guess_key(item.value)
            sink.send(key, item.value, summary.delivered)
        if on_progress is not None and n % PROGRESS_EVERY == 0:
            on_progress(n)
    sink.flush()
    summary.seconds = time.monotonic() - started
    logger.info(
        "%s: sent %d, skipped %d, rejected %d, failed %d in %.1f s",
        summary.input,
        summary.sent,
        summary.skipped,
        summary.rejected,
        summary.failed,
        summary.seconds,
    )
    return summary


def _reject(
    summary: PublishSummary,
    rejects: TextIO | None,
    line: int,
    errors: list[dict[str, str]],
    raw: str,
) -> None:
    summary.reject(errors)
    logger.debug("line %d rejected: %s", line, errors)
    if rejects is not None:
        rejects.write(rejection_line(line, errors, raw))


def open_input(path_or_stdin: str | Path | BinaryIO) -> tuple[BinaryIO, str, int | None, bool]:
    """Open a producer's input: ``(stream, display name, size or None, caller must close)``.

    ``"-"`` means standard input. Raise :class:`InputNotFound` for a missing file.
    """
    if not isinstance(path_or_stdin, str | Path):
        return path_or_stdin, getattr(path_or_stdin, "name", "<stream>"), None, False
    if str(path_or_stdin) == "-":
        return sys.stdin.buffer, "<stdin>", None, False
    path = Path(path_or_stdin)
    if not path.is_file():
        raise InputNotFound(str(path))
    return path.open("rb"), str(path), path.stat().st_size, True


def run_file_source(
    path_or_stdin: str | Path | BinaryIO,
    to_items: Callable[[ByteCountingLines], Iterable[Item]],
    settings: Settings,
    *,
    validate: bool,
    rejects_path: str | Path | None,
    progress: ProgressArg,
    publisher: RecordSink | None,
    description: str,
) -> PublishSummary:
    """Open the input (and rejects file and publisher), run :func:`publish_items`, close."""
    stream, name, total, owned = open_input(path_or_stdin)
    summary = PublishSummary(input=name, validated=validate)
    with ExitStack() as stack:
        if owned:
            stack.enter_context(stream)
        rejects = (
            stack.enter_context(Path(rejects_path).open("w", encoding="utf-8"))
            if rejects_path is not None
            else None
        )
        sink = publisher or stack.enter_context(Publisher(settings.kafka))
        lines = ByteCountingLines(stream)
        advance = stack.enter_context(progress_task(progress, description, total))
        publish_items(
            to_items(lines),
            sink,
            summary,
            rejects=rejects,
            on_progress=lambda n: advance(lines.bytes_read, n),
        )
        advance(lines.bytes_read, summary.records)
    return summary
