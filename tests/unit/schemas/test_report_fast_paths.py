"""The validators' fast paths decide exactly as the full checks they shortcut (issue 20).

Each fast path is compared with the code it replaced, kept here as the reference: same
value returned, or the same error with the same message, on generated and hostile input.
"""

from __future__ import annotations

import re
import string
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from schemas import report
from schemas.exceptions import PlaceError, UnknownPlace
from schemas.gazetteer import PAKISTAN_BBOX, load_gazetteer

_WHITESPACE = re.compile(r"\s")


def reference_check_url(value: str) -> str:
    """``Report._check_url`` before the fast path, verbatim."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise report._fail("must be an http:// or https:// URL with a host")
    if _WHITESPACE.search(value):
        raise report._fail("must not contain whitespace")
    return value


def outcome(check: Any, *args: Any) -> tuple[str, Any]:
    """What a check did: ``("ok", value)`` or ``(error type, message)``."""
    try:
        return "ok", check(*args)
    except PydanticCustomError as e:
        return "contract", e.message()
    except ValueError as e:  # urlsplit's own ("Invalid IPv6 URL" ...): pydantic reports it
        return "ValueError", str(e)


# Pieces of URLs, hostile ones included: brackets, control characters, Unicode spaces,
# non-ASCII letters that NFKC-normalise to URL delimiters, backslashes, '@' and ':'.
HOSTILE = [
    "[",
    "]",
    "[::1]",
    "[v1.x]",
    "[127.0.0.1]",
    "\x00",
    "\x1f",
    "\x7f",
    "\t",
    "\n",
    "\r",
    " ",
    "\x0b",
    "\x1c",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\ufeff",
    "é",
    "℀",
    "／",
    "？",
    "＃",
    "＠",
    "\\",
    "@",
    ":",
    "%",
    "%20",
    "//",
    "#",
    "?",
    "/",
    "\ud7ff",
]
SCHEMES = ["http", "https", "HTTP", "HtTpS", "ftp", "httpx", "http ", " http", "h", ""]
ASCII = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/?#[]\\ \"<>^`{|}"
pieces = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=ASCII, max_size=12),
    st.text(max_size=6),
)
urls = st.builds(
    lambda scheme, sep, parts: scheme + sep + "".join(parts),
    st.sampled_from(SCHEMES),
    st.sampled_from(["://", ":/", ":", "//", ":///", "", "://\t", " ://"]),
    st.lists(pieces, max_size=8),
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(urls, st.text(), st.text(alphabet=ASCII)))
@example("https://acled.example.org/pac-0000001/1")
@example("http://host")
@example("http://host:8080?q=1#f")
@example("http://[::1]/x")
@example("http://[::1/x")
@example("http://::1]/x")
@example("http://[127.0.0.1]/")
@example("http:///path")
@example("http://")
@example("http://a b")
@example("http://ab\x1c")
@example("\x00http://host/")
@example(" http://host/")
@example("http://ho\tst/")
@example("http://hoé/")
@example("http://ho℀st/")
@example("http://h" + "o" * 3000 + "/")
@example("http://host/" + "x" * 3000)
@example("http://host/é")
@example("http://host/\u00a0")
def test_the_url_check_decides_as_urlsplit_did(url: str) -> None:
    assert outcome(report._check_url_value, url) == outcome(reference_check_url, url)


def test_the_common_url_shape_skips_urlsplit(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> Any:
        raise AssertionError("urlsplit called on the common shape")

    monkeypatch.setattr(report, "urlsplit", refuse)
    assert report._check_url_value("https://acled.example.org/pac-0000001/1?x=1#y")
    with pytest.raises(AssertionError):  # anything unusual still takes the full check
        report._check_url_value("https://[::1]/")


# -- place look-ups ------------------------------------------------------------------


def reference_province(value: str) -> tuple[str, str]:
    """``Report._canonical_province`` before the cache, verbatim but for raising."""
    gazetteer = load_gazetteer()
    try:
        return "ok", gazetteer.province(value).name
    except UnknownPlace as e:
        try:
            district = gazetteer.district(value)
        except PlaceError:
            return "error", e.message
        return "error", (
            f"unknown province '{value}' ('{district.name}' is a district of"
            f" {district.province}: send it as district)"
        )


def reference_district(value: str, province: str | None) -> tuple[str, str]:
    try:
        return "ok", load_gazetteer().district(value, province).name
    except PlaceError as e:
        return "error", e.message


def reference_fill(district: str) -> str | None:
    with suppress(PlaceError):
        return load_gazetteer().district(district).province
    return None


def cached(pair: tuple[str | None, str | None]) -> tuple[str, str]:
    name, error = pair
    return ("ok", name) if name is not None else ("error", str(error))


G = load_gazetteer()
NAMES = sorted(
    {p.name for p in G.provinces}
    | {a for p in G.provinces for a in p.aliases}
    | {d.name for d in G.districts}
    | {a for d in G.districts for a in d.aliases}
)
place_names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES).map(str.upper),
    st.sampled_from(NAMES).map(lambda s: s + " District"),
    st.sampled_from(["Karachi", "Kurram", "Nowhere", "", " ", "khyber", "KPK", "Punjab "]),
    st.text(max_size=20),
)
provinces = st.one_of(st.none(), st.sampled_from([p.name for p in G.provinces]))


@settings(max_examples=1500, deadline=None)
@given(place_names, provinces)
def test_cached_place_look_ups_agree_with_the_gazetteer(name: str, province: str | None) -> None:
    for _ in range(2):  # the first call fills the cache, the second reads it
        assert cached(report._province_name(name)) == reference_province(name)
        assert cached(report._district_name(name, province)) == reference_district(name, province)
        assert report._province_of_district(name) == reference_fill(name)


@pytest.mark.parametrize("province", [None, *(p.name for p in G.provinces)])
def test_cached_bounds_are_the_boxes(province: str | None) -> None:
    box = PAKISTAN_BBOX if province is None else G.bbox(province)
    assert report._bounds("latitude", province) == (box.min_lat, box.max_lat)
    assert report._bounds("longitude", province) == (box.min_lon, box.max_lon)


def test_the_caches_are_bounded() -> None:
    for cache in (
        report._province_name,
        report._district_name,
        report._province_of_district,
        report._bounds,
    ):
        assert cache.cache_info().maxsize == report.PLACE_CACHE_SIZE


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none()))
@example("2024-03-31")
@example("2024-03-31T22:00Z")
@example("２０２４-03-31")
@example("2024-3-31")
def test_iso_string_fast_path_agrees(value: Any) -> None:
    def reference(value: Any) -> Any:
        if isinstance(value, bool | int | float):
            raise report._fail("expected an ISO 8601 string, not a number")
        if isinstance(value, str) and not report._ISO_DATE_START.match(value):
            raise report._fail(
                f"expected an ISO 8601 date or timestamp (YYYY-MM-DD...), got {value!r:.60}"
            )
        return value

    assert outcome(report._iso_string_only, value) == outcome(reference, value)
