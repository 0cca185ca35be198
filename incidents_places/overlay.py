"""The reviewed decisions on learnt spellings: the local alias overlay, and its export.

The overlay (``INCIDENTS_PLACES_OVERLAY``, by default ``var/places.overlay.jsonl``) is
append-only JSON Lines: every decision is a new line with who took it, when, and why, so
the file is its own history. For one text and place the latest line is in force;
:func:`schemas.places.places_with_overlay` reads it the same way in every process. The
shipped ``schemas/data/places.json`` is never written: :func:`export_patch` turns the
accepted aliases into a patch a maintainer reviews and merges (``git apply``).
"""

from __future__ import annotations

import difflib
import fcntl
import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from schemas.exceptions import AliasRefused
from schemas.places import (
    OverlayEntry,
    Places,
    alias_conflict,
    effective,
    places_with_overlay,
    read_overlay,
)
from schemas.report import normalize_location

MAX_TEXT = 512
SHIPPED_PATH = "schemas/data/places.json"  # in the repository: what the patch applies to


def reviewer() -> str:
    """Who decides: INCIDENTS_REVIEWER, else the login name."""
    name = os.environ.get("INCIDENTS_REVIEWER", "").strip()
    if name:
        return name[:128]
    try:
        return getpass.getuser()[:128]
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Decided:
    """What a decision did: the entry written, and the gazetteer version before and after."""

    entry: OverlayEntry
    before: str
    after: str

    @property
    def changes_keys(self) -> bool:
        return self.before != self.after


def decide(
    path: Path,
    text: str,
    place_id: str,
    decision: Literal["accept", "reject"],
    *,
    district: str | None = None,
    comment: str = "",
) -> Decided:
    """Check and append one decision; raise :class:`AliasRefused` (nothing written).

    `district` is the canonical district the reviewer means (None: the place's own).
    Refused: a text that is empty or over 512 characters, an unknown place, a place of
    another district, and for an accept every case of
    :func:`schemas.places.alias_conflict` (a text that already resolves, a false merge).
    """
    for what, value in (("text", text), ("place id", place_id), ("comment", comment)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise AliasRefused(f"the {what} is not valid UTF-8") from None
    if not normalize_location(text):
        raise AliasRefused("the text is empty once normalized")
    if len(text) > MAX_TEXT:
        raise AliasRefused(f"the text is longer than {MAX_TEXT} characters")
    if len(comment) > 1000:
        raise AliasRefused("the comment is longer than 1,000 characters")
    try:
        entry = OverlayEntry(
            text=text,
            place=place_id,
            decision=decision,
            who=reviewer(),
            when=datetime.now(UTC),
            comment=comment,
        )
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise AliasRefused(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
    with _locked(path):  # check and append as one step: two reviewers never both pass
        current = places_with_overlay(path)  # a broken overlay is never appended to
        _check(current, entry, district)
        _append(path, entry)
        return Decided(entry, current.version, places_with_overlay(path).version)


def _check(current: Places, entry: OverlayEntry, district: str | None) -> None:
    text, place_id = entry.text, entry.place
    place = current.by_id.get(place_id)
    if place is None:
        raise AliasRefused(f"unknown place id {place_id!r} (see `incidents places resolve`)")
    if district is not None and district != place.district:
        raise AliasRefused(f"{place_id} is a place of {place.district}, not of {district}")
    if entry.decision == "accept":
        # An accept the overlay already holds resolves now: say so rather than add a line.
        problem = alias_conflict(current, text, place_id)
        if problem is not None:
            raise AliasRefused(problem)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the overlay (``<overlay>.lock``) for one decision."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _append(path: Path, entry: OverlayEntry) -> None:
    """Append one line, durably (called under :func:`_locked`)."""
    line = entry.model_dump_json().encode("utf-8") + b"\n"
    with path.open("ab+") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a hand edit without a final newline
                line = b"\n" + line
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def rejected(path: Path) -> set[tuple[str, str]]:
    """The (normalized text, place id) pairs whose decision in force is a rejection."""
    return {
        key
        for key, (_, entry) in effective(read_overlay(path)).items()
        if entry.decision == "reject"
    }


def export_patch(path: Path) -> tuple[str, int]:
    """A unified diff adding the overlay's accepted aliases to places.json, and how many.

    places.json keeps one place per line, so each learnt alias changes its place's line
    only; a header before the diff lists who accepted what and why (``git apply`` skips it).
    """
    places: Places = places_with_overlay(path)
    entries = effective(read_overlay(path))
    original = resources.files("schemas").joinpath("data/places.json").read_text(encoding="utf-8")
    learnt: dict[str, list[str]] = {}
    for place_id, text in places.learnt:
        learnt.setdefault(place_id, []).append(text)
    lines = original.splitlines(keepends=True)
    changed = list(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith('{"id": '):
            continue
        comma = stripped.endswith(",")
        record = json.loads(stripped.rstrip(","))
        extra = learnt.get(record["id"])
        if not extra:
            continue
        record["aliases"] = [*record.get("aliases", []), *extra]
        indent = line[: len(line) - len(line.lstrip())]
        changed[i] = indent + json.dumps(record, ensure_ascii=False) + ("," if comma else "") + "\n"
    header = [f"Aliases learnt from corroborating reports ({len(places.learnt)}), from {path}:\n"]
    for place_id, text in places.learnt:
        _, entry = entries[(normalize_location(text), place_id)]
        # JSON strings: a comment or a name can never start a line of the patch itself.
        why = f": {json.dumps(entry.comment, ensure_ascii=True)}" if entry.comment else ""
        who = json.dumps(entry.who, ensure_ascii=True)
        header.append(
            f"  {json.dumps(text, ensure_ascii=True)} -> {place_id}"
            f" (accepted by {who} {entry.when:%Y-%m-%d}{why})\n"
        )
    header.append("\n")
    diff = difflib.unified_diff(
        lines, changed, fromfile=f"a/{SHIPPED_PATH}", tofile=f"b/{SHIPPED_PATH}"
    )
    body = "".join(diff)
    return ("".join(header) + body if body else ""), len(places.learnt)
