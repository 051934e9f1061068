"""Takedown-list URLs that survive evasion (issue 15): Safe Browsing's 33 published
canonicalisation pairs map to one list key, the key's variants agree, distinct URLs never do,
the vectorised column path equals the per-row one, and a list built with the key matches an
evasive spelling of its URL in a scan."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from childguard.urls import list_key, list_key_column, url_sha256

# (input, canonical) from developers.google.com/safe-browsing/v4/urls-hashing. The C table's
# raw byte 0x80 is written as the character U+0080 (a dataset URL is text: its UTF-8 is C2 80).
SAFE_BROWSING = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    ),
    (
        "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    ("http://\x01\u0080.com/", "http://%01%C2%80.com/"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
]
# Safe Browsing drops every port; a port is part of a dataset URL's identity here
PORT_RULE = {"http://www.gotaport.com:1234/"}


def test_the_33_published_pairs() -> None:
    assert len(SAFE_BROWSING) == 33
    for raw, canonical in SAFE_BROWSING:
        if raw in PORT_RULE:
            assert list_key(raw) == "http://www.gotaport.com:1234/"
            assert list_key("http://www.gotaport.com:80/") == list_key(canonical)
            continue
        assert list_key(raw) == list_key(canonical), raw
        assert list_key(canonical) == canonical  # the key is the canonical form itself


def _over_encode(s: str, rng: random.Random) -> str:
    out = []
    for ch in s:
        if rng.random() < 0.3 and ch.isalnum():
            enc = f"%{ord(ch):02X}"
            for _ in range(rng.randint(0, 2)):  # escape the escape: %41 -> %2541 -> %252541
                enc = "%25" + enc[1:]
            out.append(enc)
        else:
            out.append(ch)
    return "".join(out)


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_seg = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_~", min_size=1, max_size=10
)


@settings(max_examples=200, deadline=None)
@given(
    host=st.lists(_label, min_size=1, max_size=3).map(lambda x: ".".join(x) + ".com"),
    segs=st.lists(_seg, min_size=1, max_size=4),
    query=st.one_of(st.none(), _seg),
    seed=st.integers(0, 10**6),
)
def test_variants_share_a_key(host: str, segs: list[str], query: str | None, seed: int) -> None:
    rng = random.Random(seed)
    path = "/" + "/".join(segs)
    url = f"http://{host}{path}" + (f"?{query}" if query else "")
    key = list_key(url)
    variants = [
        "http://" + _over_encode(url[len("http://") :], rng),  # a scheme is never escaped
        f"HTTP://{host.upper()}{path}" + (f"?{query}" if query else ""),
        f"http://{host}/./{'/'.join(segs)}/../{segs[-1]}" + (f"?{query}" if query else ""),
        f"http://{host}//{'//'.join(segs)}" + (f"?{query}" if query else ""),
        f"http://{host}.{path}" + (f"?{query}" if query else "") + "#fragment",
        f"{host}{path}" + (f"?{query}" if query else ""),
    ]
    for v in variants:
        assert list_key(v) == key, (url, v)
    # distinct paths, queries and hosts never share it
    assert list_key(url + "x") != key
    assert list_key(f"http://x{host}{path}") != key
    assert list_key(url + ("&z" if query else "?z")) != key


@pytest.mark.parametrize(
    "ip",
    ["3279880203", "0xc37f000b", "0303.0177.0.013", "195.127.11", "195.8323083", "0xC3.0x7F.0.11"],
)
def test_ipv4_forms(ip: str) -> None:
    assert list_key(f"http://{ip}/a.jpg") == "http://195.127.0.11/a.jpg"


def test_column_path_equals_the_row_path() -> None:
    rng = random.Random(5)
    urls = [u for u, _ in SAFE_BROWSING] + [c for _, c in SAFE_BROWSING]
    urls += [f"https://cdn{i}.example.com/p/{rng.randrange(10**6)}.jpg?w={i}" for i in range(300)]
    urls += ["https://" + _over_encode(u[8:], rng) for u in urls[-100:]]
    urls += [None, "", "not a url"]
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_pool.parquet"
    if shared.exists():
        urls += pl.read_parquet(shared, columns=["URL"])["URL"].head(50_000).to_list()
    col = list_key_column(pl.Series(urls, dtype=pl.String)).to_list()
    assert col == [list_key(u) for u in urls]


def test_row_identity_is_unchanged() -> None:
    """`url_sha256` (manifests, findings) keeps its normalisation: no version bump needed."""
    assert url_sha256("http://www.google.com/") == url_sha256("HTTP://www.Google.com")
    assert url_sha256("http://host/%2525") != url_sha256("http://host/%25")  # identity, not key


def test_a_list_matches_an_evasive_spelling_in_a_scan(tmp_path: Path, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from childguard.cli import app

    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    (tmp_path / "list.txt").write_text("http://195.127.0.11/photos/kid.jpg\n")
    res = CliRunner().invoke(
        app, ["lists", "add", "hotline", str(tmp_path / "list.txt"), "--type", "url"]
    )
    assert res.exit_code == 0, res.output
    data = tmp_path / "data"
    data.mkdir()
    urls = [
        "http://3279880203/photos/%256Bid.jpg",  # decimal IP + double-escaped "k"
        "HTTP://195.127.0.11//photos/./kid.jpg#x",
        "http://195.127.0.11/photos/kid2.jpg",  # another picture: no match
    ]
    pq.write_table(pa.table({"url": urls, "caption": ["a lake"] * 3}), data / "p.parquet")
    out = tmp_path / "audit"
    res = CliRunner().invoke(
        app, ["scan", str(data), "--out", str(out), "--no-progress", "--lists", "hotline"]
    )
    assert res.exit_code == 0, res.output
    f = pl.read_parquet(next((out / "findings").glob("*.parquet")))
    assert sorted(f.filter(pl.col("risk") == "blocked")["row_index"].to_list()) == [0, 1]
