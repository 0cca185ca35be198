"""The loop the file producers share: validate, count, publish, wait for deliveries.

A source turns its input into :class:`Candidate` (bytes to publish), :class:`Skip` (left out
on purpose) and :class:`Rejected` (cannot even be mapped) items. :func:`publish_items`
validates candidates against the contract (unless told not to), publishes the ORIGINAL
bytes keyed by ``source:source_event_id``, and counts everything into a
:class:`PublishSummary`. The stream's validator stays the single source of truth; the
producers only validate to reject early and to count.

One bad record never ends a run: input that cannot be read (binary, invalid UTF-8, JSON
nested 100,000 deep, a line larger than a Kafka message) becomes a :class:`Rejected` item
with its reason, like a contract violation. :class:`BoundedLines` reads the input so that
no line is held whole past ``KAFKA_MAX_MESSAGE_BYTES``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from incidents_config.settings import KafkaSettings, Settings
from producers.exceptions import InputNotFound, ProducerError
from producers.progress import ProgressArg, progress_task
from producers.publisher import Publisher, RecordSink, is_permanent, record_limit, too_large
from producers.summary import PublishSummary
from schemas import safe_json
from schemas.errors import FieldError
from schemas.report import ReportValidationError, parse_report

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # records between progress-bar updates
DEFAULT_MAX_MESSAGE_BYTES: int = KafkaSettings.model_fields["max_message_bytes"].default
PREVIEW_BYTES = 200  # how much of a record too large to keep a rejects file writes
READ_CHUNK = 64 * 1024  # how much of an over-long line is read at a time to skip it
# Validating processes: a file this large is validated beside the sending process, in
# tasks of CHECK_CHUNK records, with at most this many tasks per process in flight.
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
CHECK_CHUNK = 512
TASKS_IN_FLIGHT = 2
MAX_VALIDATORS = 4


@dataclass(frozen=True)
class Skip:
    """A record left out on purpose, with the reason the summary groups by."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """A record that could not be turned into a report at all."""

    line: int
    errors: list[FieldError]
    raw: str


@dataclass(frozen=True)
class Candidate:
    """Bytes to validate and publish; ``line`` is where the record starts in the input."""

    line: int
    value: bytes


Item = Skip | Rejected | Candidate


@dataclass(frozen=True)
class LongLine:
    """A line longer than the reader's limit: skipped, leaving its size and first bytes."""

    size: int  # bytes, without the line break
    head: bytes
    quotes: int  # double quotes in the whole line (the CSV reader needs them)


class BoundedLines:
    """Iterate a binary stream's lines, holding no more than ``max_line_bytes`` of one.

    A longer line is read on in chunks to its end and comes out as a :class:`LongLine`.
    ``bytes_read`` counts every byte read, for the progress bar.
    """

    def __init__(self, stream: BinaryIO, max_line_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.stream = stream
        self.max_line_bytes = max_line_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes | LongLine]:
        while line := self._read(self.max_line_bytes + 1):
            if line.endswith(b"\n") or len(line) <= self.max_line_bytes:
                yield line
            else:
                yield self._skip_rest(line)

    def _read(self, limit: int) -> bytes:
        chunk = self.stream.readline(limit)
        self.bytes_read += len(chunk)
        return chunk

    def _skip_rest(self, start: bytes) -> LongLine:
        size, quotes, chunk = len(start), start.count(b'"'), start
        while not chunk.endswith(b"\n") and (chunk := self._read(READ_CHUNK)):
            size += len(chunk)
            quotes += chunk.count(b'"')
        return LongLine(size - chunk.endswith(b"\n"), start[:PREVIEW_BYTES], quotes)


def preview(head: bytes) -> str:
    """Return the start of a record too large to keep whole, for a rejects file."""
    return head[:PREVIEW_BYTES].decode("utf-8", errors="replace") + "…"


def size_errors(size: int, max_message_bytes: int) -> list[FieldError]:
    """Return the rejection of a record of ``size`` bytes that cannot fit one message."""
    return [FieldError.whole(str(too_large(size, max_message_bytes)))]


def validate(value: bytes | dict[str, Any]) -> tuple[str | None, list[FieldError]]:
    """Return ``(report id, [])`` for a valid report, else ``(None, errors)``."""
    try:
        report = parse_report(value)
    except ReportValidationError as e:
        return None, e.errors
    return report.report_id, []


def check_record(
    value: bytes, *, validated: bool = True, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> tuple[str | None, list[FieldError]]:
    """Return ``(key, [])`` for a record to send, else ``(None, errors)``.

    A record is refused when its key and value cannot fit one Kafka message, and, when
    ``validated``, when it breaks the contract. Unvalidated records get a best-effort key.
    """
    limit = record_limit(max_message_bytes)
    if len(value) > limit:  # too large whatever its key: do not even parse it
        return None, size_errors(len(value), max_message_bytes)
    if validated:
        key, errors = validate(value)
        if errors:
            return None, errors
    else:
        key = guess_key(value)
    size = len(value) + len(key.encode()) if key is not None else len(value)
    if size > limit:
        return None, size_errors(size, max_message_bytes)
    return key, []


def guess_key(value: bytes) -> str | None:
    """Best-effort ``source:source_event_id`` of unvalidated bytes (None if there is none)."""
    try:
        data = _loads(value.decode("utf-8"))
    except ValueError:  # not UTF-8, not JSON, nested too deeply
        return None
    if not isinstance(data, dict):
        return None
    source, event_id = data.get("source"), data.get("source_event_id")
    if isinstance(source, str | int) and isinstance(event_id, str | int):
        return f"{source}:{event_id}"
    return None


def _loads(text: str) -> Any:
    """:func:`schemas.safe_json.loads`, skipping its checks where they cannot find anything.

    Text with no more brackets than the depth limit cannot nest too deeply, and text no
    longer than the digit limit cannot hold a number too long: then the standard parser
    returns exactly what ``safe_json.loads`` would, without its pass over every token.
    """
    if len(text) <= safe_json.MAX_DIGITS and (
        text.count("[") + text.count("{") <= safe_json.MAX_DEPTH
    ):
        return json.loads(text)
    return safe_json.loads(text)


def rejection_line(line: int, errors: list[FieldError], raw: str) -> str:
    """One line of a rejects file: ``{"line": ..., "errors": [{"field", "message"}], "raw"}``."""
    fields = [e.model_dump() for e in errors]
    return json.dumps({"line": line, "errors": fields, "raw": raw}, ensure_ascii=False) + "\n"


class Rejections:
    """Count rejected records and write them to the rejects file, from any thread."""

    def __init__(self, summary: PublishSummary, rejects: TextIO | None) -> None:
        self.summary = summary
        self.rejects = rejects
        self._lock = threading.Lock()

    def add(self, line: int, errors: list[FieldError], raw: str) -> None:
        logger.debug("line %d rejected: %s", line, errors)
        with self._lock:
            self.summary.reject(errors)
            if self.rejects is not None:
                self.rejects.write(rejection_line(line, errors, raw))


def default_validators(size: int | None) -> int:
    """How many processes validate beside the sending one, for an input of `size` bytes
    (None: unknown, such as stdin): one per CPU beyond the first, at most
    :data:`MAX_VALIDATORS`, for a file of :data:`PARALLEL_FROM_BYTES` or more; else none
    (starting a process costs about a second of imports)."""
    if size is None or size < PARALLEL_FROM_BYTES:
        return 0
    return max(0, min((os.cpu_count() or 1) - 1, MAX_VALIDATORS))


Checked = tuple[Item, str | None, list[FieldError]]  # an item, its key and its errors


def check_records(
    values: list[bytes], validated: bool, max_message_bytes: int
) -> list[tuple[str | None, list[FieldError]]]:
    """:func:`check_record` of each value (one task of a validating process)."""
    return [
        check_record(v, validated=validated, max_message_bytes=max_message_bytes) for v in values
    ]


def checked_items(
    items: Iterable[Item], validated: bool, max_message_bytes: int, processes: int = 0
) -> Iterator[Checked]:
    """Each item with the key and errors of :func:`check_record` (candidates only), in the
    input's order: in this process, or, with `processes` > 0 and validation on, in that
    many other processes, a few tasks of :data:`CHECK_CHUNK` records ahead of the caller,
    which meanwhile sends what was checked. The order is kept: revisions of one report
    reach Kafka in the order of the file.

    Raise :class:`ProducerError` if a validating process dies (killed, out of memory).
    """
    if processes <= 0 or not validated:
        for item in items:
            if isinstance(item, Candidate):
                yield (
                    item,
                    *check_record(
                        item.value, validated=validated, max_message_bytes=max_message_bytes
                    ),
                )
            else:
                yield item, None, []
        return
    # spawn, not fork: the sending process has the Kafka producer's threads running.
    context = multiprocessing.get_context("spawn")
    pending: deque[tuple[list[Item], Future[list[tuple[str | None, list[FieldError]]]]]]
    pending = deque()
    source = iter(items)
    try:
        with ProcessPoolExecutor(
            processes, mp_context=context, initializer=_ignore_interrupts
        ) as pool:
            while chunk := list(islice(source, CHECK_CHUNK)):
                values = [i.value for i in chunk if isinstance(i, Candidate)]
                pending.append((chunk, pool.submit(check_records, values, True, max_message_bytes)))
                if len(pending) > TASKS_IN_FLIGHT * processes:
                    yield from _in_order(*pending.popleft())
            while pending:
                yield from _in_order(*pending.popleft())
    except BrokenProcessPool as e:
        raise ProducerError(
            f"a validating process stopped unexpectedly ({e}); the records checked before"
            " it were sent, the rest were not"
        ) from None


def _in_order(
    chunk: list[Item], checked: Future[list[tuple[str | None, list[FieldError]]]]
) -> Iterator[Checked]:
    results = iter(checked.result())
    for item in chunk:
        if isinstance(item, Candidate):
            yield (item, *next(results))
        else:
            yield item, None, []


def _ignore_interrupts() -> None:
    """A validating process leaves Ctrl-C to the sending one, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def publish_items(
    items: Iterable[Item],
    sink: RecordSink,
    summary: PublishSummary,
    *,
    rejects: TextIO | None = None,
    on_progress: Callable[[int], None] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    validators: int = 0,
) -> PublishSummary:
    """Validate (if ``summary.validated``), publish and count every item, then flush.

    ``validators``: processes that validate beside this one (:func:`checked_items`).
    A record Kafka refuses for good (too large for the topic) is counted as rejected, with
    its reason; other delivery failures count as failed.
    """
    started = time.monotonic()
    rejections = Rejections(summary, rejects)
    checked = checked_items(items, summary.validated, max_message_bytes, validators)
    for n, (item, key, errors) in enumerate(checked, 1):
        if isinstance(item, Skip):
            summary.skip(item.reason)
        elif isinstance(item, Rejected):
            rejections.add(item.line, item.errors, item.raw)
        elif isinstance(item, Candidate):
            if errors:
                too_big = len(item.value) > record_limit(max_message_bytes)
                raw = preview(item.value) if too_big else item.value.decode(errors="replace")
                rejections.add(item.line, errors, raw)
                continue
            sink.send(key, item.value, _on_delivery(summary, rejections, item))
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


def _on_delivery(
    summary: PublishSummary, rejections: Rejections, item: Candidate
) -> Callable[[BaseException | None], None]:
    """Count one delivery; a permanent refusal is a rejection of the record."""
    line, head = item.line, item.value[:PREVIEW_BYTES]

    def delivered(error: BaseException | None) -> None:
        if error is not None and is_permanent(error):
            rejections.add(line, [FieldError.whole(str(error))], preview(head))
        else:
            summary.delivered(error)

    return delivered


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
    to_items: Callable[[BoundedLines, int], Iterable[Item]],
    settings: Settings,
    *,
    validate: bool,
    rejects_path: str | Path | None,
    progress: ProgressArg,
    publisher: RecordSink | None,
    description: str,
    validators: int | None = None,
) -> PublishSummary:
    """Open the input (and rejects file and publisher), run :func:`publish_items`, close.

    ``to_items(lines, max_message_bytes)`` turns the input's lines into items.
    ``validators``: processes that validate beside this one; None:
    :func:`default_validators` of the input's size.
    """
    stream, name, total, owned = open_input(path_or_stdin)
    summary = PublishSummary(input=name, validated=validate)
    max_message_bytes = settings.kafka.max_message_bytes
    with ExitStack() as stack:
        if owned:
            stack.enter_context(stream)
        rejects = (
            stack.enter_context(Path(rejects_path).open("w", encoding="utf-8"))
            if rejects_path is not None
            else None
        )
        sink = publisher or stack.enter_context(Publisher(settings.kafka))
        lines = BoundedLines(stream, max_message_bytes)
        advance = stack.enter_context(progress_task(progress, description, total))
        publish_items(
            to_items(lines, max_message_bytes),
            sink,
            summary,
            rejects=rejects,
            on_progress=lambda n: advance(lines.bytes_read, n),
            max_message_bytes=max_message_bytes,
            validators=default_validators(total) if validators is None else validators,
        )
        advance(lines.bytes_read, summary.records)
    return summary
