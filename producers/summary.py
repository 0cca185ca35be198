"""What a producer run did: :class:`PublishSummary` and its text form for the CLI."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from rich.markup import escape

from schemas.errors import FieldError

DEFAULT_TOP = 5


def error_reason(error: FieldError) -> str:
    """Return the grouping key of one contract error: ``field: message``."""
    return str(error)


@dataclass
class PublishSummary:
    """Counts of one producer run.

    ``sent`` counts records the broker acknowledged; ``failed`` records it did not
    (delivery error or timeout). ``skipped`` records were deliberately left out (blank
    lines, ACLED rows outside Pakistan ...), ``rejected`` ones broke the contract.
    A rejected record adds one to each distinct reason it had, so reasons can sum to
    more than ``rejected``.
    """

    input: str
    validated: bool = True
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    rejected: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def records(self) -> int:
        """Records read from the input (sent + failed + skipped + rejected)."""
        return self.sent + self.failed + self.skipped + self.rejected

    @property
    def ok(self) -> bool:
        """True when nothing failed to deliver (rejections are the input's fault, not ours)."""
        return self.failed == 0

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons[reason] += 1

    def reject(self, errors: list[FieldError]) -> None:
        self.rejected += 1
        for reason in dict.fromkeys(error_reason(e) for e in errors):
            self.reject_reasons[reason] += 1

    def delivered(self, error: BaseException | None) -> None:
        """Count one delivery report; called from the producer's I/O thread."""
        with self._lock:
            if error is None:
                self.sent += 1
            else:
                self.failed += 1
                self.failure_reasons[type(error).__name__] += 1

    def top_rejections(self, n: int = DEFAULT_TOP) -> list[tuple[str, int]]:
        return self.reject_reasons.most_common(n)


def format_summary(summary: PublishSummary, *, top: int = DEFAULT_TOP) -> str:
    """Render a summary as a few lines of text for the CLI.

    Text taken from the input (file name, rejection reasons) is escaped for rich markup,
    so ``console.print(format_summary(s))`` shows it verbatim.
    """
    rate = summary.records / summary.seconds if summary.seconds > 0 else 0.0
    lines = [
        f"{escape(summary.input)}: sent {summary.sent:,}, skipped {summary.skipped:,}, "
        f"rejected {summary.rejected:,}, failed {summary.failed:,} "
        f"in {summary.seconds:.1f} s ({rate:,.0f} records/s)"
        + ("" if summary.validated else " (not validated)")
    ]
    if summary.skip_reasons:
        lines.append("  skipped:")
        lines += [
            f"    {n:>6,} × {escape(reason)}" for reason, n in summary.skip_reasons.most_common()
        ]
    if summary.reject_reasons:
        shown = summary.top_rejections(top)
        hidden = len(summary.reject_reasons) - len(shown)
        lines.append(
            f"  rejected, top {len(shown)} of {len(summary.reject_reasons)} reasons:"
            if hidden
            else "  rejected:"
        )
        lines += [f"    {n:>6,} × {escape(reason)}" for reason, n in shown]
    if summary.failure_reasons:
        lines.append("  failed deliveries:")
        lines += [f"    {n:>6,} × {reason}" for reason, n in summary.failure_reasons.most_common()]
    return "\n".join(lines)
