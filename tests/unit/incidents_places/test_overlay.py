"""The alias overlay: reviewed decisions appended, refusals that write nothing, a corrupt
file named with its line, the gazetteer version, and the patch for places.json."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import pytest

from incidents_places import overlay
from schemas.exceptions import AliasRefused, PlacesOverlayError
from schemas.places import Places, alias_conflict, places_with_overlay, shipped_places

KP = "Khyber Pakhtunkhwa"
NW = "North Waziristan"
MIRANSHAH = "kp-north-waziristan-miranshah"
MIR_ALI = "kp-north-waziristan-mir-ali"
ROOT = Path(__file__).resolve().parents[3]


def test_an_accepted_alias_resolves_and_changes_the_version(tmp_path: Path) -> None:
    path = tmp_path / "overlay.jsonl"
    assert shipped_places().resolve("Miranshaw", KP, NW).place is None
    decided = overlay.decide(path, "Miranshaw", MIRANSHAH, "accept", comment="wire spelling")
    assert decided.changes_keys and decided.before == shipped_places().version
    places = places_with_overlay(path)
    assert places.resolve("Miranshaw", KP, NW).place_id == MIRANSHAH
    assert places.version == decided.after != decided.before
    line = path.read_text().splitlines()[0]
    assert '"decision":"accept"' in line and '"comment":"wire spelling"' in line
    assert decided.entry.who  # from INCIDENTS_REVIEWER or the login


def test_the_reviewer_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENTS_REVIEWER", "analyst.a")
    decided = overlay.decide(tmp_path / "o.jsonl", "Miranshaw", MIRANSHAH, "accept")
    assert decided.entry.who == "analyst.a"


def test_a_rejection_changes_no_key_and_a_later_rejection_withdraws_an_accept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "overlay.jsonl"
    base = shipped_places().version
    assert not overlay.decide(path, "Miranshaw", MIR_ALI, "reject").changes_keys
    assert overlay.rejected(path) == {("miranshaw", MIR_ALI)}
    assert overlay.decide(path, "Miranshaw", MIRANSHAH, "accept").changes_keys
    withdrawn = overlay.decide(path, "Miranshaw", MIRANSHAH, "reject")
    assert withdrawn.changes_keys and withdrawn.after == base
    assert places_with_overlay(path).resolve("Miranshaw", KP, NW).place is None
    assert len(path.read_text().splitlines()) == 3  # the file is its own history


@pytest.mark.parametrize(
    ("text", "place", "district", "reason"),
    [
        ("Miranshaw", "kp-nowhere", None, "unknown place id 'kp-nowhere'"),
        ("Miranshaw", MIRANSHAH, "Bannu", "is a place of North Waziristan, not of Bannu"),
        ("x" * 513, MIRANSHAH, None, "longer than 512 characters"),
        ("", MIRANSHAH, None, "empty"),
        (" .,- ", MIRANSHAH, None, "empty"),
        ("Miram Shah", MIRANSHAH, None, "already resolves to kp-north-waziristan-miranshah"),
        ("Mir Ali", MIRANSHAH, None, "already resolves to another place"),
        ("Datta Khel", MIRANSHAH, None, "would merge two places"),
    ],
)
def test_refusals_write_nothing(
    tmp_path: Path, text: str, place: str, district: str | None, reason: str
) -> None:
    path = tmp_path / "overlay.jsonl"
    with pytest.raises(AliasRefused, match=reason):
        overlay.decide(path, text, place, "accept", district=district)
    assert not path.exists()


def test_an_alias_folding_like_another_places_spelling_is_refused() -> None:
    """Shewa and Shiwa share a folded key, so "Shyewa" resolves to neither; as an alias
    of Shewa it would fold like Shiwa's name: refused (Shiwa's folded spellings would stop
    resolving, a false merge in waiting)."""
    places = Places(
        {
            "places": [
                {"id": i, "name": n, "province": KP, "district": NW, "lat": 33.0, "lon": lon}
                for i, n, lon in (("shewa", "Shewa", 70.0), ("shiwa", "Shiwa", 70.5))
            ]
        }
    )
    assert places.resolve("Shyewa", KP, NW).place is None
    problem = alias_conflict(places, "Shyewa", "shewa")
    assert problem is not None and "folds like shiwa's spelling 'Shiwa'" in problem


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"{not json\n", ":1: "),
        (b'\n\n{"text": "x"}\n', ":3: "),
        (b"\xff\xfe\x00garbage\n", ":1: "),
        (
            b'{"text":"Miranshaw","place":"kp-nowhere","decision":"accept","when":"2026-01-01T00:00:00Z"}\n',
            ":1: unknown place id",
        ),
        (
            b'{"text":"Mir Ali","place":"'
            + MIRANSHAH.encode()
            + b'","decision":"accept","when":"2026-01-01T00:00:00Z"}\n',
            ":1: 'Mir Ali' already resolves to another place",
        ),
        (
            b'{"text":"Miranshaw","place":"'
            + MIRANSHAH.encode()
            + b'","decision":"maybe","when":"2026-01-01T00:00:00Z"}\n',
            ":1: decision",
        ),
        (
            b'{"text":"Miranshaw","place":"'
            + MIRANSHAH.encode()
            + b'","decision":"accept","when":"2026-01-01T00:00:00Z","extra":1}\n',
            ":1: extra",
        ),
    ],
)
def test_a_corrupt_overlay_is_refused_with_file_line_and_reason(
    tmp_path: Path, content: bytes, where: str
) -> None:
    path = tmp_path / "overlay.jsonl"
    path.write_bytes(content)
    with pytest.raises(PlacesOverlayError) as e:
        places_with_overlay(path)
    assert str(e.value).startswith(str(path) + where.split(" ")[0]), str(e.value)
    assert where.split(" ", 1)[-1].strip() in str(e.value)
    with pytest.raises(PlacesOverlayError):  # and never appended to
        overlay.decide(path, "Miranshaw", MIRANSHAH, "accept")
    assert path.read_bytes() == content


def test_a_hand_edit_without_a_final_newline_is_appended_to_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "overlay.jsonl"
    overlay.decide(path, "Miranshaw", MIRANSHAH, "accept")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    overlay.decide(path, "Jhob", "ba-zhob-zhob", "accept")
    assert len(places_with_overlay(path).learnt) == 2


def test_the_export_is_a_patch_git_applies_to_places_json(tmp_path: Path) -> None:
    path = tmp_path / "overlay.jsonl"
    overlay.decide(path, "Miranshaw", MIRANSHAH, "accept", comment="seen in wire copy")
    overlay.decide(path, "Jhob", "ba-zhob-zhob", "accept")
    patch, count = overlay.export_patch(path)
    assert count == 2
    assert '"Miranshaw" -> kp-north-waziristan-miranshah' in patch and "seen in wire copy" in patch
    assert patch.count("\n+    {") == 2 and patch.count("\n-    {") == 2  # two lines change
    patch_file = tmp_path / "aliases.patch"
    patch_file.write_text(patch)
    check = subprocess.run(
        ["git", "apply", "--check", "--verbose", str(patch_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_an_exported_alias_merged_into_places_json_is_tolerated(tmp_path: Path) -> None:
    """An accept for a spelling places.json learnt since is redundant, not an error."""
    path = tmp_path / "overlay.jsonl"
    path.write_text(
        '{"text":"Miram Shah","place":"' + MIRANSHAH + '","decision":"accept",'
        '"when":"2026-01-01T00:00:00Z"}\n'
    )
    places = places_with_overlay(path)
    assert places.learnt == () and places.version == shipped_places().version


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Miranshah\u200f", "invisible or control character (U+200F)"),
        ("Miran\u200bshah", "invisible or control character (U+200B)"),
        ("\u0301\u0302", "no letter or digit"),
        ("Jh\udcffob", "not valid UTF-8"),
        ("Jhob\nJhob", "invisible or control character (U+000A)"),
    ],
)
def test_texts_that_look_like_another_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "overlay.jsonl"
    with pytest.raises(AliasRefused, match=re.escape(reason)):
        overlay.decide(path, text, "ba-zhob-zhob", "accept")
    assert not path.exists()


def test_a_spelling_is_refused_when_reports_without_a_district_would_lose_their_place(
    tmp_path: Path,
) -> None:
    """ "Mir Ali" names one place of the province; as an alias of a place elsewhere it would
    make province-only reports of Mir Ali unresolved."""
    assert shipped_places().resolve("Mir Ali", KP).place_id == MIR_ALI
    with pytest.raises(AliasRefused, match="in reports that name no district"):
        overlay.decide(tmp_path / "o.jsonl", "Mir Ali", "kp-lakki-marwat-bettani", "accept")


def test_a_comment_or_a_name_cannot_smuggle_lines_into_the_patch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "overlay.jsonl"
    evil = "x\n\ndiff --git a/evil.sh b/evil.sh\n+++ b/evil.sh\n"
    with pytest.raises(AliasRefused, match="comment"):
        overlay.decide(path, "Jhob", "ba-zhob-zhob", "accept", comment=evil)
    monkeypatch.setenv("INCIDENTS_REVIEWER", evil)
    with pytest.raises(AliasRefused, match="who"):
        overlay.decide(path, "Jhob", "ba-zhob-zhob", "accept")
    # A hand-edited line is refused on load; a legal comment is quoted as JSON in the header.
    monkeypatch.setenv("INCIDENTS_REVIEWER", 'a"b')
    overlay.decide(path, "Jhob", "ba-zhob-zhob", "accept", comment='quote " and [/x]')
    patch, _ = overlay.export_patch(path)
    header = patch.split("--- a/")[0]
    assert '"quote \\" and [/x]"' in header and '"a\\"b"' in header
    assert [ln for ln in patch.splitlines() if ln.startswith(("diff", "+++", "---"))] == [
        "--- a/schemas/data/places.json",
        "+++ b/schemas/data/places.json",
    ]


def test_racing_reviewers_never_both_accept_clashing_spellings(tmp_path: Path) -> None:
    """Check and append happen under one lock: of two accepts of one text for two places,
    one is refused, and the overlay stays usable."""
    path = tmp_path / "overlay.jsonl"
    places = (MIRANSHAH, MIR_ALI) * 6
    outcomes: list[str] = []

    def one(place: str) -> None:
        try:
            overlay.decide(path, "Qorvatun", place, "accept")
            outcomes.append(place)
        except AliasRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(p,)) for p in places]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([o for o in outcomes if o != "refused"]) == 1
    assert len(places_with_overlay(path).learnt) == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('"when":"2026-01-01T00:00:00"', "timezone"),
        ('"when":"2026-01-01"', "when"),
        ('"when":1700000000', "when"),
        ('"when":"2026-01-01T00:00:00Z","place":"kp-nowhere"', "appears twice"),
    ],
)
def test_dubious_hand_edits_are_refused(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "overlay.jsonl"
    path.write_text('{"text":"Jhob","place":"ba-zhob-zhob","decision":"accept",' + line + "}\n")
    with pytest.raises(PlacesOverlayError, match=f"^{re.escape(str(path))}:1: .*{reason}"):
        places_with_overlay(path)


def test_an_overlay_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    link = tmp_path / "overlay.jsonl"
    link.symlink_to("/dev/zero")
    with pytest.raises(PlacesOverlayError, match="not a regular file"):
        places_with_overlay(link)


def test_clashing_hand_edited_accepts_name_the_later_line(tmp_path: Path) -> None:
    path = tmp_path / "overlay.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"text": "Qorvatun", "place": p, "decision": "accept", "when": "2026-01-01T00:00Z"}
            )
            + "\n"
            for p in (MIRANSHAH, MIR_ALI)
        )
    )
    with pytest.raises(PlacesOverlayError, match=f"^{re.escape(str(path))}:2: accepted aliases"):
        places_with_overlay(path)
