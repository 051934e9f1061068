"""URL normalisation: trivial rewrites of a listed URL must match; near misses must not."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from childguard.urls import (
    laion_hash,
    laion_hash_column,
    normalize_url,
    normalize_url_column,
    url_sha256,
    url_sha256_column,
    url_sha256_digests,
)

LISTED = "https://example.com/photos/a.jpg"

# (rewrite, why) -- every one must normalise to the listed URL.
EVASIONS = [
    ("HTTPS://example.com/photos/a.jpg", "scheme case"),
    ("https://EXAMPLE.Com/photos/a.jpg", "host case"),
    ("https://example.com:443/photos/a.jpg", "default port"),
    ("https://example.com./photos/a.jpg", "trailing dot on host"),
    ("https://%65xample.com/photos/a.jpg", "percent-encoded host"),
    ("https://example.com/%70hotos/%61.jpg", "percent-encoded unreserved characters"),
    ("https://example.com/photos/a%2Ejpg", "encoded dot"),
    ("https://example.com/photos/./a.jpg", "single-dot segment"),
    ("https://example.com/x/../photos/a.jpg", "double-dot segment"),
    ("https://example.com/x/%2e%2e/photos/a.jpg", "encoded double-dot segment"),
    ("https://example.com/photos/a.jpg#page=2", "fragment"),
    ("https://example.com/photos/a.jpg#", "empty fragment"),
    ("  https://example.com/photos/a.jpg\n", "surrounding whitespace"),
    ("https://example.com:/photos/a.jpg", "empty port"),
    ("https://example.com/photos/a.jpg?", "empty query"),
    ("https://example.com/photos/a.jpg?#x", "empty query and fragment"),
]

NEAR_MISSES = [
    ("https://example.com/photos/a.jpg?w=200", "query added"),
    ("https://example.com/photos/A.jpg", "path case"),
    ("https://example.com/photos/a.jpeg", "other extension"),
    ("http://example.com/photos/a.jpg", "other scheme"),
    ("https://example.com:8443/photos/a.jpg", "non-default port"),
    ("https://www.example.com/photos/a.jpg", "other host"),
    ("https://example.co/photos/a.jpg", "other domain"),
    ("https://example.com/photos/a.jpg/", "trailing slash"),
    ("https://example.com/photos%2Fa.jpg", "encoded reserved slash"),
    ("https://example.com/photos/a.jpg%23x", "encoded hash is part of the path"),
    ("https://example.com/photo/a.jpg", "one letter off"),
    ("https://example.com//photos/a.jpg", "doubled slash"),
    ("https://user@example.com/photos/a.jpg", "userinfo added"),
]


@pytest.mark.parametrize(("url", "why"), EVASIONS, ids=[w for _, w in EVASIONS])
def test_evasion_matches(url: str, why: str) -> None:
    assert url_sha256(url) == url_sha256(LISTED), why


@pytest.mark.parametrize(("url", "why"), NEAR_MISSES, ids=[w for _, w in NEAR_MISSES])
def test_near_miss_does_not_match(url: str, why: str) -> None:
    assert url_sha256(url) != url_sha256(LISTED), why


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://bücher.de/a.jpg", "https://xn--bcher-kva.de/a.jpg"),  # IDNA
        ("https://BÜCHER.de/a.jpg", "https://xn--bcher-kva.de/a.jpg"),
        ("https://example.com/ü.jpg", "https://example.com/%C3%BC.jpg"),  # non-ASCII path
        ("https://example.com/%c3%bc.jpg", "https://example.com/%C3%BC.jpg"),  # escape case
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com", "https://example.com/"),  # empty path
        ("https://example.com?x=1", "https://example.com/?x=1"),
        ("https://example.com?", "https://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com/a b.jpg", "https://example.com/a%20b.jpg"),
        ("https://example.com/a.jpg?q=ü", "https://example.com/a.jpg?q=%C3%BC"),
    ],
)
def test_equivalent_spellings(a: str, b: str) -> None:
    assert normalize_url(a) == normalize_url(b)


def test_query_order_is_kept() -> None:
    assert url_sha256("https://e.com/a?x=1&y=2") != url_sha256("https://e.com/a?y=2&x=1")


def test_column_paths_agree_with_row_path() -> None:
    urls = [LISTED, None, ""] + [u for u, _ in EVASIONS + NEAR_MISSES] + ["not a url", "//x/y"]
    col = normalize_url_column(pl.Series(urls, dtype=pl.String)).to_list()
    assert col == [normalize_url(u) for u in urls]
    hexes = url_sha256_column(pl.Series(urls, dtype=pl.String)).to_list()
    assert hexes == [url_sha256(u) for u in urls]
    digests, valid = url_sha256_digests(pl.Series(urls, dtype=pl.String))
    assert valid.tolist() == [u is not None for u in urls]
    for d, v, h in zip(digests, valid, hexes, strict=True):
        if v:
            assert bytes(d).hex() == h


def test_url_sha256_is_sha256_of_normalised_url() -> None:
    assert url_sha256(LISTED) == hashlib.sha256(LISTED.encode()).hexdigest()
    assert url_sha256(None) is None


def test_laion_hash_matches_definition() -> None:
    import mmh3

    url, text = "https://example.com/a.jpg", "a caption"
    assert laion_hash(url, text) == mmh3.hash64((url + text).encode())[0]
    col = laion_hash_column(pl.Series([url, None]), pl.Series([text, "x"]))
    assert col.dtype == pl.Int64
    assert col.to_list() == [laion_hash(url, text), mmh3.hash64(b"x")[0]]


_host = st.from_regex(r"[A-Za-z0-9-]{1,8}(\.[A-Za-zü0-9-]{1,8}){0,2}\.?", fullmatch=True)
_path = st.lists(
    st.sampled_from(["a", "B", ".", "..", "%41", "%2f", "%7e", "ü", "x y", "", "~", "%"]),
    max_size=5,
).map(lambda segs: "/" + "/".join(segs))
_tail = st.sampled_from(["", "?", "?x=1", "#f", "?#", "?a=%62#c"])


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "HtTpS"]),
    host=_host,
    port=st.sampled_from(["", ":80", ":443", ":8080", ":"]),
    path=_path,
    tail=_tail,
)
def test_column_path_agrees_on_generated_urls(
    scheme: str, host: str, port: str, path: str, tail: str
) -> None:
    url = f"{scheme}://{host}{port}{path}{tail}"
    assert normalize_url_column(pl.Series([url])).to_list() == [normalize_url(url)]


def test_column_normalisation_leaves_its_input_alone() -> None:
    urls = ["https://E.com/a#x", "https://e.com", "https://e.com/%41", "https://e.com/b?"]
    s = pl.Series(urls)
    out = normalize_url_column(s)
    assert s.to_list() == urls
    assert out.to_list() == [normalize_url(u) for u in urls]
