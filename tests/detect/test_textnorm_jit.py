"""The compiled normalisation pass (`_textnorm_jit`) gives the Polars chain's output byte for byte."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from childguard.detect import textnorm

POOL = Path(__file__).parents[2].parent / "shared" / "data" / "real_pool.parquet"


def _same(texts: list[str | None], urls: list[str | None] | None = None) -> None:
    """Both backends on one batch: equal columns, and equal to prepare's output."""
    urls = texts if urls is None else urls
    text = pa.chunked_array([pa.array(texts, pa.string())])
    url = pa.chunked_array([pa.array(urls, pa.string())])
    fast = textnorm._columns_numba(text, url)
    slow = textnorm._columns_polars(text, url)
    for name, f, s in zip(("text_norm", "url_words", "url_host"), fast, slow, strict=True):
        if not f.equals(s):
            bad = [i for i, (x, y) in enumerate(zip(f.to_pylist(), s.to_pylist(), strict=True)) if x != y]
            i = bad[0]
            src = texts[i] if name == "text_norm" else urls[i]
            raise AssertionError(f"{name} row {i} {src!r}: {f[i]!r} != {s[i]!r} ({len(bad)} rows)")


# pieces that steer the chain's branches: schemes, separators, percent-escapes (valid, invalid,
# high bytes), image extensions, ID tokens, camelCase, digits, and the Unicode cases (accents,
# Σ, İ, the Kelvin sign, ß, ligatures, full-width, fractions, emoji, CJK, combining marks)
FRAGMENTS = [
    "https://", "http://", "ftp://", "://", "/", "//", "?", "#", ";base64,", ":8080", ":", ".",
    "-", "_", " ", "  ", "\t", "\n", "\xa0", "%20", "%2F", "%41", "%c3%a7", "%C3%A7", "%E2%82",
    "%", "%4", "%G1", "%%41", "%00", "%FF", ".jpg", ".JPEG", ".png", ".tif", ".tiff", ".Webp",
    ".jfif", "-300x200", "AVvXsEhQ8mZ2kLp4", "AbCdEfGhIjKl", "a1b2", "x9y", "camelCase",
    "iPhone12", "5yo", "2anos", "festa", "Maria", "CLARA", "ação", "Łódź", "Straße", "ΣΟΦΙΑ",
    "Σ", "ς", "İstanbul", "K", "Å", "ﬃ", "Ｅｍｍａ", "３ª", "½", "²", "٣", "①", "😀", "👧🏽",
    "ベビーベッド", "ｶﾞ", "漢字", "e\u0301", "\u0300", "ǅ", "ᾈ", "ẞ", "\ufffd", "ﷺ", "𝔄",
    "www.", ".com.br", "Escola", "@", "&", "=", "+",
]

URL_FRAGMENTS = [
    "https://", "http://", "x://", "/", "?", "#", ":", ":80", ".", "-", "_", "+", "%41", "%e9",
    "%4", ".jpg", ".PNG", ".tiff", "jpg", "AbC", "aBcD", "a1", "1a", "x9y2", "Ab1", "W", "z",
    "0", "Σ", "é",
]


def test_fragment_pairs_and_triples_identical() -> None:
    # every ordered pair of pieces (and triple of the URL pieces), as a caption, a path and a
    # whole URL: each branch of the chain meets each neighbour at least once
    pairs = [a + b for a in FRAGMENTS for b in FRAGMENTS]
    triples = [a + b + c for a in URL_FRAGMENTS for b in URL_FRAGMENTS for c in URL_FRAGMENTS]
    for rows in (pairs, triples):
        _same(rows, rows)
        _same(rows, ["https://www.Ex-1.com.br:8080/" + r for r in rows])
        _same(rows, ["http://h/" + r + "/" + r for r in rows])


piece = st.one_of(st.sampled_from(FRAGMENTS), st.characters(exclude_categories=("Cs",)))
row = st.one_of(st.none(), st.lists(piece, max_size=12).map("".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=40), st.lists(row, min_size=1, max_size=40))
def test_random_rows_identical(texts: list[str | None], urls: list[str | None]) -> None:
    n = min(len(texts), len(urls))
    _same(texts[:n], urls[:n])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=20))
def test_arbitrary_text_identical(texts: list[str]) -> None:
    _same(texts)


def test_every_code_point_identical() -> None:
    # each character alone, between letters and next to digits: the lazily filled table
    # must agree with the chain for every code point of the BMP and the emoji plane
    cps = [c for c in range(0x80, 0x20000) if not 0xD800 <= c <= 0xDFFF]
    alone = [chr(c) for c in cps]
    framed = [f"Ab{chr(c)}9{chr(c)}x {chr(c)}" for c in cps]
    _same(alone, ["https://x.com/" + s for s in alone])
    _same(framed, ["https://x.com/p/" + s for s in framed])


def test_sliced_chunked_and_typed_columns() -> None:
    values = ["Festa de 5 anos", None, "https://a.b/Maria-2anos.jpg?x=1", "Ação", ""]
    arr = pa.array(values * 3, pa.string())
    for col in (
        pa.chunked_array([arr.slice(2, 7), arr.slice(9)]),
        pa.chunked_array([arr.cast(pa.large_string())]),
        pa.chunked_array([arr.cast(pa.string_view())]),
        pa.chunked_array([], pa.string()),
        pa.chunked_array([pa.nulls(3)]),
    ):
        fast = textnorm._columns_numba(col, col)
        slow = textnorm._columns_polars(col, col)
        assert [f.to_pylist() for f in fast] == [s.to_pylist() for s in slow]
        assert all(f.type == pa.string() and f.null_count == 0 for f in fast)


def test_non_text_columns_take_the_chain() -> None:
    col = pa.chunked_array([pa.array([1, None, 30])])
    fast = textnorm._columns_numba(col, col)
    assert [f.to_pylist() for f in fast] == [
        s.to_pylist() for s in textnorm._columns_polars(col, col)
    ]


def test_backend_switch(monkeypatch) -> None:
    batch = pa.table({"text": ["Ação 5yo"], "url": ["https://x.com/festa-5-anos.jpg"]})
    monkeypatch.setattr(textnorm, "_rows_seen", 0)
    # auto: small scans keep to the chain (numba's start-up is not repaid), big ones compile
    assert textnorm.backend(10) == "polars"
    assert textnorm.backend(textnorm.AUTO_MIN_ROWS) == "numba"
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "numba")
    assert textnorm.backend(1) == "numba"
    fast = textnorm.prepare(batch)
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "polars")
    assert textnorm.backend(10**9) == "polars"
    assert textnorm.prepare(batch).equals(fast)
    assert fast["both_norm"].to_pylist() == [" acao 5 yo  festa 5 anos "]


@pytest.mark.skipif(not POOL.exists(), reason="no real pool")
def test_real_pool_identical() -> None:
    t = pq.read_table(POOL, columns=["URL", "TEXT"])
    fast = textnorm._columns_numba(t["TEXT"], t["URL"])
    slow = textnorm._columns_polars(t["TEXT"], t["URL"])
    for f, s in zip(fast, slow, strict=True):
        assert f.equals(s)


def test_compiled_scan_does_not_import_pandas(tmp_path) -> None:
    # numba, the kernels' buffers and the word tables keep a scan pandas-free (0.15 s a process)
    import os
    import subprocess
    import sys

    src = tmp_path / "rows.parquet"
    pq.write_table(
        pa.table(
            {
                "url": ["https://x.com/festa-5-anos-lucas.jpg", "https://a.b/%C3%A7/ΣΟΦΙΑ.jpg",
                        "https://x.com/c.jpg", None],
                # a null caption and URL: the kernels' null flags come without pandas too
                "caption": ["meu filho Lucas, 5 anos, na Escola Pequeno Mundo em São Paulo", "Σ",
                            None, "sunset"],
            }
        ),
        src,
    )
    script = (
        "import sys\nfrom childguard.cli import app\n"
        "sys.argv = ['childguard', 'scan', sys.argv[1], '--out', sys.argv[2], '--workers', '1']\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('PANDAS' if 'pandas' in sys.modules else 'NO-PANDAS', 'numba' in sys.modules)\n"
    )
    env = {**os.environ, "CHILDGUARD_TEXTNORM": "numba"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(src), str(tmp_path / "audit")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "NO-PANDAS True"


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.binary(max_size=6), max_size=12),
    data=st.data(),
)
def test_merge_replaces_exactly_the_given_rows(values: list[bytes], data) -> None:
    """`merge` (runs of kept rows copied at once) equals replacing the rows one by one: first
    and last rows, neighbours, none and all."""
    import numpy as np

    from childguard.detect import _textnorm_jit as jit

    n = len(values)
    rows = sorted(data.draw(st.sets(st.integers(0, n - 1), max_size=n)) if n else [])
    new = data.draw(st.lists(st.binary(max_size=6), min_size=len(rows), max_size=len(rows)))

    def pack(vs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        off = np.cumsum([0] + [len(v) for v in vs]).astype(np.int64)
        return off, np.frombuffer(b"".join(vs), np.uint8).copy()

    off, buf = pack(values)
    foff, fbuf = pack(new)
    o, d = jit.merge(off, buf, np.asarray(rows, np.int64), foff, fbuf)
    want = list(values)
    for r, v in zip(rows, new, strict=True):
        want[r] = v
    wo, wd = pack(want)
    assert o.tolist() == wo.tolist()
    assert d.tobytes() == wd.tobytes()
