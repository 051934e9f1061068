"""The compiled word split (`scorer/_words_jit`) gives the Polars path's token frames: random
captions and URL slugs of ASCII words, handles, digits, spaces and other characters, and the
real pool's candidates when it is there."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from childguard.scorer import features

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# ASCII letters, digits and punctuation, handles' "@" "_" ".", runs of spaces, control and
# other whitespace, non-ASCII letters, digits and marks, CJK and emoji
ALPHABET = [*"aZk09@@_.. -/\t\n\x0b\x7f", "é", "ß", "中文", "٥", "\u0301", "\u00a0", "🎂"]


def _random_strings(rng: random.Random, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(None)
            continue
        ascii_only = rng.random() < 0.6
        pool = [c for c in ALPHABET if c.isascii()] if ascii_only else ALPHABET
        out.append("".join(rng.choice(pool) for _ in range(rng.randrange(0, 30))))
    return out


def _both(col: pl.Series, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = pl.Series("row", np.arange(len(col), dtype=np.uint32))
    got = {}
    for backend in ("polars", "numba", "numba again"):  # again: words interned already
        monkeypatch.setenv("CHILDGUARD_TEXTNORM", backend.split()[0])
        got[backend] = features._token_frame(col, rows, kind)
    assert got["numba"].equals(got["polars"]), kind
    assert got["numba again"].equals(got["polars"]), kind
    assert got["numba"].height > 0
    # halves of the column, each against words the other interned
    half = len(col) // 2
    for part in (slice(half, None), slice(0, half)):
        sub = features._token_frame(col[part], rows[part], kind)
        monkeypatch.setenv("CHILDGUARD_TEXTNORM", "polars")
        assert sub.equals(features._token_frame(col[part], rows[part], kind)), kind
        monkeypatch.setenv("CHILDGUARD_TEXTNORM", "numba")


@pytest.mark.parametrize("kind", ["t", "u"])
def test_random_rows(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(17)
    col = pl.Series(_random_strings(rng, 3000), dtype=pl.String)
    if kind == "u":  # slugs are folded: lower-case words and spaces, mostly
        col = col.str.to_lowercase()
    _both(col, kind, monkeypatch)


def test_words_numbered_once_and_rows_sent_back() -> None:
    from childguard.scorer import _words_jit

    text = b"my son @ab_c9 son@x 12ab"
    off = np.array([0, len(text), len(text), len(text) + 3], np.int64)
    data = np.frombuffer(text + "é b".encode()[:3], np.uint8)
    null = np.zeros(3, np.uint8)
    interner = _words_jit.Interner()
    row, pos, e, glob, rest = _words_jit.split(off, data, null, 0, interner)
    woff, wdata = interner.strings(0, interner.nw)
    words = [bytes(wdata[woff[i] : woff[i + 1]]).decode() for i in range(len(woff) - 1)]
    assert [words[glob[i]] for i in e] == ["my", "son", "@ab_c9", "son", "x", "12", "ab", "é"]
    assert words == ["my", "son", "@ab_c9", "x", "12", "ab", "é"]  # each distinct word once
    assert row.tolist() == [0] * 7 + [2] and pos.tolist() == [i * 1000 for i in range(7)] + [0]
    assert rest.tolist() == [0, 0, 0]
    # a second call numbers its own words (in order of first sight), interned once for all
    row, pos, e, glob, rest = _words_jit.split(off[1:], data, null[1:], 0, interner)
    assert interner.nw == 7 and glob.tolist() == [6] and e.tolist() == [0]
    # a slug that is not plain ASCII goes to the Polars path
    assert _words_jit.split(off, data, null, 1, interner)[4].tolist() == [0, 0, 1]


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "real_pool.parquet").exists(), reason="no real pool")
def test_real_pool_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from childguard.detect.textnorm import prepare
    from childguard.io.paths import expand_inputs
    from childguard.io.readers import iter_batches, open_shard

    (shard,) = expand_inputs([str(DATA / "real_pool.parquet")])
    batch = next(iter_batches(open_shard(shard), 65_536))
    table = pl.from_arrow(prepare(batch))
    assert isinstance(table, pl.DataFrame)
    _both(table["text"], "t", monkeypatch)
    _both(table["url_words"], "u", monkeypatch)


def test_word_cache_starts_again_past_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from childguard.scorer import _words_jit

    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "numba")
    monkeypatch.setattr(_words_jit.Interner, "MAX_WORDS", 8)
    monkeypatch.setattr(features, "_WORD_CACHES", {})
    rng = random.Random(3)
    col = pl.Series(_random_strings(rng, 400), dtype=pl.String)
    rows = pl.Series("row", np.arange(len(col), dtype=np.uint32))
    first = features._token_frame(col, rows, "t")
    cache = features._WORD_CACHES["t"]
    assert cache.interner.nw > 8
    again = features._token_frame(col, rows, "t")
    assert features._WORD_CACHES["t"] is not cache  # a new cache, the same tokens
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "polars")
    assert first.equals(again) and first.equals(features._token_frame(col, rows, "t"))
