"""`incidents places ...`: how a location resolves to a place of the gazetteer, which
location strings do not, and the reviewed queue of spellings learnt from corroborating
reports (suggest, accept, reject, export; docs/analysts.md, "Spellings nobody listed")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from incidents.commands.stack import replay as replay_command
from incidents.common import CliError, err, out, parse_duration, query, settings_of
from incidents_config.settings import Settings
from incidents_places import evidence, overlay
from schemas.exceptions import AliasRefused, PlaceError
from schemas.gazetteer import load_gazetteer
from schemas.places import Places, activate, fold
from schemas.report import normalize_location

places_app = typer.Typer(
    help=(
        "The places gazetteer: resolve a spelling, list what did not resolve, and review"
        " the spellings learnt from corroborating reports (suggest, accept, reject, export)."
    ),
    no_args_is_help=True,
)


def _places(settings: Settings) -> Places:
    """The gazetteer the workers load: places.json plus the alias overlay."""
    return activate(settings.paths.overlay)


def _area(province: str | None, district: str | None) -> tuple[str, str | None]:
    """Canonical (province, district) from any gazetteer spelling; one line if unknown."""
    gazetteer = load_gazetteer()
    try:
        if district:
            d = gazetteer.district(district, province)
            return d.province, d.name
        if province:
            return gazetteer.province(province).name, None
    except PlaceError as e:
        raise CliError(e.message) from e
    raise CliError("give --district (or --province for a report that names no district)")


@places_app.command("resolve")
def resolve(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The location as a report writes it.")],
    district: Annotated[str | None, typer.Option(help="The report's district.")] = None,
    province: Annotated[str | None, typer.Option(help="The report's province.")] = None,
    lat: Annotated[float | None, typer.Option(help="The report's latitude.")] = None,
    lon: Annotated[float | None, typer.Option(help="The report's longitude.")] = None,
) -> None:
    """Show which place a location resolves to, and why (exit 1 when it does not)."""
    if len(text) > 512:
        raise CliError("the location is longer than 512 characters")
    prov, dist = _area(province, district)
    r = _places(settings_of(ctx)).resolve(text, prov, dist, lat, lon)
    out.print(
        f"text: {text!r}  normalized: {normalize_location(text)!r}  folded: {fold(text)!r}",
        markup=False,
    )
    out.print(f"area: {dist + ', ' if dist else ''}{prov}", highlight=False)
    if r.place is None:
        out.print(f"[red]unresolved[/red] ({r.how}): {escape(r.detail)}", highlight=False)
        for p in r.candidates:
            out.print(f"  candidate {p.id}: {p.name} ({p.lat:.3f}, {p.lon:.3f})", highlight=False)
        out.print("the incident key uses the normalized text")
        raise typer.Exit(1)
    p = r.place
    out.print(
        f"[green]{p.id}[/green]: {p.name}, {p.district}, {p.province}"
        f" ({p.kind}; {p.lat:.3f}, {p.lon:.3f})",
        highlight=False,
    )
    out.print(f"how: {r.how}: {r.detail}", highlight=False, markup=False)
    if p.aliases:
        out.print(f"spellings in the gazetteer: {', '.join(p.spellings)}", highlight=False)


UNRESOLVED_QUERY = """
SELECT province, ifNull(district, '') AS district, location,
       count() AS reports, countIf(latitude IS NOT NULL) AS with_coordinates,
       groupUniqArray(3)(source) AS sources, max(occurred_on) AS last_day
FROM report_versions FINAL
WHERE received_at >= {since:DateTime64(3)} AND retracted = 0
  AND location IS NOT NULL AND location != ''
GROUP BY province, district, location
ORDER BY reports DESC, province, district, location
LIMIT 100000
"""


@places_app.command("unresolved")
def unresolved(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="Reports received this recently, e.g. 90d, 24h.")
    ] = "90d",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rows to show.")] = 30,
) -> None:
    """The most frequent location strings that did not resolve to a place."""
    settings = settings_of(ctx)
    places = _places(settings)
    first = datetime.now(UTC) - parse_duration(since)
    rows = query(settings, UNRESOLVED_QUERY, {"since": first}).result_rows
    table = Table(
        "reports",
        "location",
        "district",
        "province",
        "with coordinates",
        "sources",
        "last day",
        title=f"location strings that did not resolve (reports received in the last {since})",
    )
    shown = total = 0
    for province, district, location, reports, with_xy, sources, last_day in rows:
        if places.resolve(location, province, district or None).place is not None:
            continue
        total += reports
        if shown < limit:
            table.add_row(
                str(reports),
                escape(location),
                district,
                province,
                str(with_xy),
                escape(", ".join(sources)),
                str(last_day),
            )
            shown += 1
    out.print(table)
    out.print(
        f"{total} report(s) with a location that does not resolve; `incidents places suggest`"
        " proposes the places that corroborating reports name"
    )


@places_app.command("suggest")
def suggest(
    ctx: typer.Context,
    min_evidence: Annotated[
        int, typer.Option(min=1, help="Fewest distinct days of corroborating report pairs.")
    ] = 2,
    since: Annotated[
        str, typer.Option(help="Reports received this recently, e.g. 90d, 24h.")
    ] = "90d",
    fmt: Annotated[str, typer.Option("--format", help="table or json (for scripts).")] = "table",
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Suggestions to show.")] = 50,
) -> None:
    """Unresolved spellings with the place corroborating reports say they name.

    Evidence: a report of another source on the same day, district and category whose
    location resolves. Scored by that evidence, the similarity of the spellings and, when
    both reports carry them, their coordinates. Rejected suggestions do not come back.
    """
    if fmt not in ("table", "json"):
        raise CliError(f"unknown --format {fmt!r}; use table or json")
    settings = settings_of(ctx)
    places = _places(settings)
    first = datetime.now(UTC) - parse_duration(since)
    rows = query(settings, evidence.CANDIDATES_QUERY, {"since": first}).result_rows
    found = evidence.suggest(
        (evidence.Group.from_row(r) for r in rows),
        places,
        rejected=overlay.rejected(settings.paths.overlay),
        min_evidence=min_evidence,
    )[:limit]
    if fmt == "json":
        out.print_json(json.dumps([s.as_json() for s in found]))
        return
    if not found:
        out.print(
            f"no suggestions: no spelling received in the last {since} that does not resolve"
            f" has {min_evidence} or more days of corroborating reports"
        )
        return
    table = Table(
        "text",
        "district",
        "place",
        "score",
        "evidence",
        "pairs",
        "sources",
        "example (unresolved / resolved)",
        title=f"suggested places (evidence >= {min_evidence} days, received in the last {since})",
    )
    for s in found:
        table.add_row(
            escape(s.text),
            s.district,
            f"{s.place.id}\n{s.place.name}",
            f"{s.score:.2f}",
            f"{s.days} day(s)",
            str(s.pairs),
            escape(", ".join(s.sources)),
            escape(f"{s.example[0]}\n{s.example[1]}"),
        )
    out.print(table)
    first_one = found[0]
    out.print(
        f"{len(found)} suggestion(s); accept one with `incidents places accept"
        f" {first_one.text!r} --place {first_one.place.id}`, or reject it"
        " (`incidents places reject`)",
        highlight=False,
        markup=False,
    )


Decision = Literal["accept", "reject"]


def _decide(
    ctx: typer.Context,
    text: str,
    place: str,
    decision: Decision,
    district: str | None,
    comment: str,
) -> overlay.Decided:
    settings = settings_of(ctx)
    canonical = None
    if district is not None and not district.strip():
        raise CliError(f"{decision} refused: --district is empty; name it or leave it out")
    if district is not None:
        gazetteer_place = _places(settings).by_id.get(place)
        province = gazetteer_place.province if gazetteer_place is not None else None
        _, canonical = _area(province, district)
    try:
        return overlay.decide(
            settings.paths.overlay, text, place, decision, district=canonical, comment=comment
        )
    except AliasRefused as e:
        raise CliError(f"{decision} refused: {e}") from e


def _after(ctx: typer.Context, decided: overlay.Decided, run_replay: bool) -> None:
    path = settings_of(ctx).paths.overlay
    if not decided.changes_keys:
        out.print(f"recorded in {path}; the gazetteer is unchanged ({decided.after})", markup=False)
        return
    out.print(
        f"recorded in {path}; the gazetteer is now version {decided.after} (was {decided.before})",
        highlight=False,
        markup=False,
    )
    if run_replay:
        replay_command(ctx)
        return
    err.print(
        "[yellow]the running workers still build keys with the old version, and restarted"
        " workers refuse to start until history is rebuilt: run `incidents replay`[/yellow]"
    )


TextArg = Annotated[str, typer.Argument(help="The location as reports write it.")]
PlaceOpt = Annotated[str, typer.Option("--place", help="The place id (incidents places resolve).")]
DistrictOpt = Annotated[
    str | None, typer.Option(help="The district you mean; refused if the place is elsewhere.")
]
CommentOpt = Annotated[str, typer.Option(help="Why (kept in the overlay).")]


@places_app.command("accept")
def accept(
    ctx: typer.Context,
    text: TextArg,
    place: PlaceOpt,
    district: DistrictOpt = None,
    comment: CommentOpt = "",
    run_replay: Annotated[
        bool, typer.Option("--replay", help="Then run `incidents replay` to rebuild history.")
    ] = False,
) -> None:
    """Accept TEXT as a spelling of a place: appended to the local alias overlay.

    Refused, with nothing written: an unknown place, a place of another district, an empty
    text or one over 512 characters, a text that already resolves, a text that would merge
    two places. New keys reach the warehouse by `incidents replay` (or --replay).
    """
    decided = _decide(ctx, text, place, "accept", district, comment)
    out.print(f"accepted: {text!r} is {decided.entry.place}", highlight=False, markup=False)
    _after(ctx, decided, run_replay)


@places_app.command("reject")
def reject(
    ctx: typer.Context,
    text: TextArg,
    place: PlaceOpt,
    district: DistrictOpt = None,
    comment: CommentOpt = "",
) -> None:
    """Reject a suggestion (TEXT is not that place): it is not proposed again.

    Rejecting an alias accepted before withdraws it (then run `incidents replay`).
    """
    decided = _decide(ctx, text, place, "reject", district, comment)
    out.print(f"rejected: {text!r} is not {decided.entry.place}", highlight=False, markup=False)
    _after(ctx, decided, False)


@places_app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the patch here (default: stdout).")
    ] = None,
) -> None:
    """The accepted aliases as a patch of schemas/data/places.json (`git apply` it)."""
    path = settings_of(ctx).paths.overlay
    if output is not None and output.exists() and path.exists() and output.samefile(path):
        raise CliError(f"{output} is the overlay itself; write the patch elsewhere")
    patch, count = overlay.export_patch(path)
    if not patch:
        err.print(
            f"nothing to export: {path} holds no accepted alias that places.json lacks",
            markup=False,
        )
        raise typer.Exit(1)
    if output is None:
        typer.echo(patch, nl=False)
        return
    try:
        output.write_text(patch, encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write {output}: {e.strerror or e}") from e
    err.print(
        f"wrote {count} alias(es) as a patch to {output}; apply it with `git apply {output}`",
        markup=False,
    )
