"""JSON parsing that is safe on hostile input: bounded nesting, no crash on huge numbers.

The standard library's :func:`json.loads` recurses once per nesting level, so a line of
100,000 ``[`` raises :class:`RecursionError`, and it turns a 5,000-digit integer into an
``int``, which raises :class:`ValueError` past Python's 4,300-digit limit. :func:`loads`
checks the nesting first, without recursion, and parses over-long numbers into
:class:`OutOfRange` markers, so it raises nothing but :class:`json.JSONDecodeError`.

The limits are about those of pydantic's own JSON parser (which refuses 201 nested objects
and 202 nested arrays, and integer parts over 4,300 digits).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "JsonPath",
    "OutOfRange",
    "loads",
    "out_of_range",
    "too_deep",
]

# About where pydantic's parser (jiter) stops too; a report nests two levels.
MAX_DEPTH = 200
# Python's own limit on int() of a decimal string; jiter refuses longer integer parts too.
MAX_DIGITS = getattr(sys.int_info, "default_max_str_digits", 4300) or 4300

# A string (closed or not: an unclosed one runs to the end) or a bracket; strings are
# matched whole so brackets inside them are not counted.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class OutOfRange:
    """A number whose integer part has more digits than :data:`MAX_DIGITS`."""

    digits: int
    integer: bool

    def describe(self) -> str:
        kind = "integer" if self.integer else "number"
        return f"{kind} with {self.digits:,} digits is out of range"


def too_deep(text: str, max_depth: int = MAX_DEPTH) -> int | None:
    """Return the index where ``text`` nests deeper than ``max_depth``, or None."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return match.start()
        elif token in ("]", "}"):
            depth = max(0, depth - 1)
    return None


def _integer_digits(number: str) -> int:
    """Count the digits before the decimal point or exponent of a JSON number."""
    end = len(number)
    for mark in ".eE":
        found = number.find(mark)
        if found != -1:
            end = min(end, found)
    return end - number.startswith("-")


def _parse_int(text: str) -> int | OutOfRange:
    digits = _integer_digits(text)
    return OutOfRange(digits, integer=True) if digits > MAX_DIGITS else int(text)


def _parse_float(text: str) -> float | OutOfRange:
    digits = _integer_digits(text)
    return OutOfRange(digits, integer=False) if digits > MAX_DIGITS else float(text)


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text; raise only :class:`json.JSONDecodeError` (a ``ValueError``).

    Nesting deeper than ``max_depth`` is an error ("nested too deeply"); numbers too long
    to convert become :class:`OutOfRange` markers (find them with :func:`out_of_range`).
    """
    where = too_deep(text, max_depth)
    if where is not None:
        raise json.JSONDecodeError(f"nested too deeply (more than {max_depth} levels)", text, where)
    return json.loads(text, parse_int=_parse_int, parse_float=_parse_float)


def out_of_range(doc: Any) -> Iterator[tuple[JsonPath, OutOfRange]]:
    """Yield ``(path, marker)`` for every :class:`OutOfRange` in a parsed document."""
    stack: list[tuple[JsonPath, Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, OutOfRange):
            yield path, value
        elif isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
