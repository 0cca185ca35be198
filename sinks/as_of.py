"""Figures as known at a moment (`incidents sql --as-of`, `incidents report --as-of`).

The warehouse answers "what did we know then?" with parameterized views
(sinks/migrations/0014): `v_<name>_as_of(as_of = ...)` beside each view the stream keeps
current. This module is what the commands share:

- :func:`parse_moment` reads the moment an analyst types;
- :func:`rewrite` turns a query over the live views into the same query over their as-of
  twins, and :func:`bind` adds the moment as a server-side query parameter (never spliced
  into the text);
- :func:`check_answerable` refuses, in one sentence, the moments and warehouses for which
  the as-of views would not be exact: a moment in the future or before the first report,
  a casualty rule other than max_total (the only one written in SQL), versions stored
  before migration 13 (no fingerprint or publication time), and reports the stream did not
  count because their state outgrew STREAMS_MAX_STATE_BYTES (a rule of the stream's
  history that SQL over the latest versions cannot see), and a places gazetteer changed
  since the keys were built (the sink stamps each version's incident key with the
  gazetteer it started with; until `incidents replay`, keys of two gazetteers would mix).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from incidents_config.settings import Settings
from sinks.exceptions import SinkError
from sinks.gazetteer import gazetteer_state
from sinks.migrate import AS_OF_PARAMETER, as_of_views
from sinks.sql_policy import IN_FUNCTIONS

AS_OF = "as_of"  # the query parameter's name
# What --as-of reads: a date, or a date and time (to the microsecond) with an optional
# offset or Z; ASCII digits only.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
# A query's text as tokens: the kinds that can never name a view (string literals, heredoc
# strings, quoted identifiers, comments, white space, punctuation) and plain words.
_TOKENS = re.compile(
    r"""(?P<skip>'(?:[^'\\]|\\.|'')*'?"""  # a string literal ('' or \' inside)
    r"""|\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|\Z)"""  # a heredoc string: $$...$$
    r"""|"(?:[^"\\]|\\.|"")*"?"""  # a quoted identifier
    r"""|`(?:[^`\\]|\\.|``)*`?"""  # a back-quoted identifier
    r"""|--[^\n]*|\#[^\n]*"""  # a line comment
    r"""|/\*.*?(?:\*/|\Z))"""  # a block comment
    r"""|(?P<space>\s+)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)?)"""
    r"""|(?P<other>.)""",
    re.DOTALL,
)
# Words after a table that end its expression rather than alias it.
_NOT_ALIASES = frozenset(
    {
        "where",
        "prewhere",
        "group",
        "order",
        "limit",
        "offset",
        "having",
        "window",
        "qualify",
        "union",
        "intersect",
        "except",
        "join",
        "inner",
        "left",
        "right",
        "full",
        "cross",
        "outer",
        "any",
        "all",
        "asof",
        "semi",
        "anti",
        "array",
        "global",
        "paste",
        "natural",
        "on",
        "using",
        "settings",
        "format",
        "final",
        "sample",
        "into",
    }
)
_QUOTED_NAME = re.compile(r'^(["`])(v_[a-z0-9_]+)\1$')


class AsOfRefused(SinkError):
    """The as-of question cannot be answered exactly; the message says why, in one line."""


def parse_moment(text: str) -> datetime:
    """Read `2024-04-05` (midnight UTC), `2024-04-05 12:00` (UTC) or an ISO 8601 time with
    an offset (`2024-04-05T17:00+05:00`); return it in UTC, to the millisecond."""
    raw = text.strip(" ")
    shown = text if len(text) <= 60 else text[:59] + "…"
    unreadable = AsOfRefused(
        f"cannot read --as-of {shown!r}: use a date (2024-04-05, midnight UTC) or a time"
        " (2024-04-05 17:30, UTC; or 2024-04-05T17:30+05:00)"
    )
    if not _MOMENT.fullmatch(raw):
        raise unreadable
    try:
        if len(raw) == len("2024-04-05"):
            moment = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        else:
            moment = datetime.fromisoformat(raw.replace(" ", "T", 1).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # no such day, or out of range once in UTC
        raise unreadable from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def moment_text(moment: datetime) -> str:
    """The moment as the views' DateTime64(3, 'UTC') parameter reads it."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "milliseconds")


def rewrite(text: str, database: str, views: Iterable[str] | None = None) -> str:
    """Return ``text`` with every live view that has an as-of twin read as of `{as_of}`.

    `v_province_quarter` and `<database>.v_province_quarter` in a table position become
    `v_province_quarter_as_of(as_of = {as_of:DateTime64(3, 'UTC')}) AS v_province_quarter`
    (the alias keeps `v_province_quarter.column` working; an alias of the query's own is
    kept instead). Left alone: words inside strings, quoted identifiers and comments, a
    name after AS (an alias), CTE names, and names qualified by another database. Pass
    the moment as the query parameter ``as_of`` (:func:`bind` does both).
    """
    names = frozenset(views if views is not None else as_of_views())
    tokens = [(m.lastgroup or "other", m.group(0)) for m in _TOKENS.finditer(text)]
    significant = [i for i, (kind, _) in enumerate(tokens) if kind not in ("space", "skip")]
    words = {i: _squash(tokens[i][1]).lower() for i in significant if tokens[i][0] == "word"}
    position = {token: n for n, token in enumerate(significant)}

    def neighbour(i: int, step: int) -> str:
        n = position[i] + step
        if 0 <= n < len(significant):
            j = significant[n]
            return words.get(j, tokens[j][1])
        return ""

    # CTE names: `WITH name AS (` (and `, name AS (` among them): never rewritten.
    ctes = {
        words[i]
        for i in words
        if neighbour(i, 1) == "as" and neighbour(i, 2) == "(" and neighbour(i, -1) in ("with", ",")
    }
    call = f"_as_of({AS_OF} = {AS_OF_PARAMETER})"
    out = []
    for i, (_, value) in enumerate(tokens):
        word = words.get(i)
        if word is None or neighbour(i, -1) == "as" or neighbour(i, 1) == "(":
            out.append(value)
            continue
        qualifier, _, name = _squash(value).rpartition(".")
        if name not in names or name in ctes or qualifier not in ("", database):
            out.append(value)
            continue
        following = neighbour(i, 1)
        aliased = following == "as" or (following.isidentifier() and following not in _NOT_ALIASES)
        out.append(f"{_squash(value)}{call}" + ("" if aliased else f" AS {name}"))
    return "".join(out)


def _squash(word: str) -> str:
    """`incidents . v_x` -> `incidents.v_x`."""
    return "".join(word.split())


def quoted_twins(text: str, views: Iterable[str] | None = None) -> list[str]:
    """Views with an as-of twin that ``text`` names in quotes (which rewrite leaves alone)."""
    names = frozenset(views if views is not None else as_of_views())
    found = []
    for match in _TOKENS.finditer(text):
        quoted = _QUOTED_NAME.match(match.group(0)) if match.lastgroup == "skip" else None
        if quoted and quoted.group(2) in names:
            found.append(quoted.group(2))
    return found


def tables_read(tree: Any) -> list[str]:
    """The tables and views a parsed query (`parseQueryToJSON`) reads by name: in FROM and
    JOIN, and on the right of IN (`x IN report_versions`). CTE names included: a CTE's
    name shadows a table only in its own scope, which this does not follow."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "TableIdentifier":
            names.append(str(node.get("name", "")))
        if node.get("type") == "Function" and str(node.get("name", "")).lower() in IN_FUNCTIONS:
            arguments = node.get("arguments")
            args = arguments.get("children", []) if isinstance(arguments, dict) else []
            if len(args) >= 2 and isinstance(args[1], dict) and args[1].get("type") == "Identifier":
                names.append(str(args[1].get("name", "")))
        for value in node.values():
            walk(value)

    walk(tree)
    return names


def check_reads_as_of(tree: Any, database: str, warehouse: Iterable[str], text: str = "") -> None:
    """Refuse a rewritten query that still reads a table or view of the warehouse (whose
    names are ``warehouse``) as it is now.

    ``text``: the query as the analyst wrote it, to say when a quoted view name is why.
    """
    objects = frozenset(warehouse)
    live = sorted(
        {
            name
            for name in tables_read(tree)
            if name.rpartition(".")[0] in ("", database)
            and name.rpartition(".")[2] in objects
            and not name.endswith("_as_of")
        }
    )
    if not live:
        return
    quoted = sorted(set(quoted_twins(text)) & {name.rpartition(".")[2] for name in live})
    if quoted:
        raise AsOfRefused(
            f"{', '.join(quoted)} is quoted, so --as-of cannot read it through its as-of twin:"
            " write the view's name without quotes"
        )
    known = ", ".join(sorted(as_of_views()))
    raise AsOfRefused(
        f"{', '.join(live)} {'has' if len(live) == 1 else 'have'} no as-of form, so the"
        f" answer would mix now and then; as of a moment, read {known}"
    )


def bind(
    text: str, database: str, moment: datetime, parameters: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any] | None]:
    """Return ``text`` rewritten (:func:`rewrite`) and its parameters with the moment.

    The moment is added only when the rewritten text has a placeholder for it: with
    parameters but no placeholder, clickhouse-connect would %-format the text itself.
    """
    rewritten = rewrite(text, database)
    if "{" + AS_OF + ":" not in rewritten:
        return rewritten, parameters
    return rewritten, {**(parameters or {}), AS_OF: moment_text(moment)}


def check_answerable(client: Client, settings: Settings, moment: datetime) -> None:
    """Raise AsOfRefused unless the as-of views answer exactly for ``moment``.

    ``client`` reads the warehouse (the read-only endpoint or folder is enough).
    """
    now = datetime.now(UTC)
    if moment > now + timedelta(seconds=1):
        raise AsOfRefused(
            f"--as-of {moment_text(moment)} UTC is in the future (now: {moment_text(now)} UTC)"
        )
    gazetteer = gazetteer_state(settings)
    if gazetteer.stale:
        raise AsOfRefused(
            f"the places gazetteer is not the one the keys were built with"
            f" ({gazetteer.describe()}): report versions stored since carry keys of another"
            " gazetteer, and as-of answers would mix them"
        )
    rule = str(settings.streams.casualty_rule)
    if rule != "max_total":
        raise AsOfRefused(
            f"the as-of views implement the casualty rule max_total only, and"
            f" STREAMS_CASUALTY_RULE is {rule}: as-of figures would not be this warehouse's"
        )
    row = client.query(
        "SELECT count(), min(if(published_at = toDateTime64(0, 3, 'UTC'), received_at,"
        " published_at)), countIf(fingerprint = '' OR published_at = toDateTime64(0, 3, 'UTC'))"
        " FROM report_versions"
    ).result_rows[0]
    versions, first, unstamped = int(row[0]), row[1], int(row[2])
    if versions == 0:
        raise AsOfRefused("the warehouse holds no reports yet: there is nothing to go back to")
    first = first if first.tzinfo else first.replace(tzinfo=UTC)
    if moment < first:
        raise AsOfRefused(
            f"--as-of {moment_text(moment)} UTC is before the first report arrived"
            f" ({moment_text(first)} UTC): nothing was known then"
        )
    if unstamped:
        raise AsOfRefused(
            f"{unstamped} report versions were stored before migration 13 and lack the"
            " fingerprint and publication time the as-of rules need; run `incidents replay`"
            " to restore them from the raw topic"
        )
    uncounted = int(
        client.query(
            "SELECT count() FROM rejected_reports WHERE reason = 'state_limit'"
        ).result_rows[0][0]
    )
    if uncounted:
        raise AsOfRefused(
            f"{uncounted} report versions were not counted by the stream (state over"
            " STREAMS_MAX_STATE_BYTES), a rule of the stream's history the as-of views cannot"
            " apply; see `incidents status` for the dead letters"
        )
