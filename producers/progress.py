"""Optional rich progress bars for the file producers (never used by the push endpoint).

The CLI passes its own :class:`rich.progress.Progress`, or ``progress=True`` makes one on
stderr. :func:`wants_progress` is the CLI's default: a bar only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.text import Text

ProgressArg = Progress | bool | None
Advance = Callable[[int, int], None]  # (bytes read so far, records read so far)


def wants_progress(requested: bool | None = None) -> bool:
    """Show a bar when asked to, or by default when stderr is a terminal."""
    return sys.stderr.isatty() if requested is None else requested


class RecordRateColumn(ProgressColumn):
    """Records read and the records/s rate since the start."""

    def render(self, task: Task) -> Text:
        records = int(task.fields.get("records", 0))
        elapsed = task.elapsed or 0.0
        rate = records / elapsed if elapsed > 0 else 0.0
        return Text(f"{records:,} records  {rate:,.0f}/s", style="progress.data.speed")


def make_progress(console: Console | None = None) -> Progress:
    """Build the producers' progress bar (on stderr unless given a console)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
        RecordRateColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )


@contextmanager
def progress_task(progress: ProgressArg, description: str, total: int | None) -> Iterator[Advance]:
    """Yield ``advance(bytes_read, records)``; a no-op when there is no bar."""
    if progress is None or progress is False:
        yield lambda _bytes, _records: None
        return
    owned = progress is True
    bar = make_progress() if progress is True else progress
    task = bar.add_task(description, total=total, records=0)
    if owned:
        bar.start()
    try:
        yield lambda done, records: bar.update(task, completed=done, records=records)
    finally:
        if owned:
            bar.stop()
