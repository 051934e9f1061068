"""The literal screen gives the same rows with hyperscan and with the Polars fallback."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from childguard.detect import screen
from childguard.detect.signals import patterns
from childguard.detect.textnorm import normalize_series

TERMS = [" son ", " filho ", " 5 anos ", "escola", " a b "]

needs_hs = pytest.mark.skipif(screen._hs is None, reason="hyperscan wheel not installed")


def _both(col, terms, monkeypatch) -> tuple[list[bool], list[bool]]:
    monkeypatch.setenv("CHILDGUARD_SCREEN", "polars")
    slow = screen.contains_any(col, terms).to_list()
    monkeypatch.delenv("CHILDGUARD_SCREEN")
    fast = screen.contains_any(col, terms).to_list()
    return slow, fast


def test_fallback_is_switchable(monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_SCREEN", "polars")
    assert screen.backend() == "polars"


@needs_hs
def test_rows_and_boundaries(monkeypatch) -> None:
    rows = [" my son ", " son", "son ", "  ", None, " x escola y ", " a  b ", " a b ", " 5 anos "]
    col = pa.chunked_array([pa.array(rows[:4]), pa.array(rows[4:])])
    slow, fast = _both(col, TERMS, monkeypatch)
    assert fast == slow == [True, False, False, False, False, True, False, True, True]


@needs_hs
def test_sliced_large_and_empty(monkeypatch) -> None:
    arr = pa.array([" son ", " x ", " filho ", " y "], pa.large_string()).slice(1, 3)
    slow, fast = _both(arr, TERMS, monkeypatch)
    assert fast == slow == [False, True, False]
    assert _both(pa.array([], pa.string()), TERMS, monkeypatch) == ([], [])
    assert _both(pa.array([" son "]), [], monkeypatch) == ([False], [False])


@needs_hs
@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="abson fil5\u00e9", max_size=12), max_size=30))
def test_padded_rows_agree(texts: list[str]) -> None:
    # textnorm's padding: no term can match across two rows
    col = normalize_series(pl.Series(texts, dtype=pl.String)).to_arrow()
    with pytest.MonkeyPatch.context() as mp:
        slow, fast = _both(col, TERMS, mp)
    assert fast == slow


@needs_hs
def test_context_terms_on_real_style_rows(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    terms = patterns(None).context_terms
    words = [t.strip() for t in terms[:400]] + ["casa", "praia", "mar", "red", "car", "sol"]
    rows = [" " + " ".join(rng.choice(words, size=rng.integers(0, 6))) + " " for _ in range(3000)]
    slow, fast = _both(pa.array(rows), terms, monkeypatch)
    assert fast == slow
    assert 0 < sum(fast) < len(rows)


@needs_hs
def test_signals_identical_both_ways(monkeypatch, make_batch) -> None:
    from childguard.detect import signals
    from childguard.detect.textnorm import prepare

    rows = [
        ("my son Lucas, 5, at Escola Pequeno Mundo", "https://x.com/festa-5-anos.jpg"),
        ("Sunset over the lake", "https://cdn.example/736x/27/3e/1a/abc.jpg"),
        ("baby girl nursery decor", None),
        (None, "https://www.escolinha.com.br/turma-3a/filho.jpg"),
        ("Primeira Comunhão da Ana", "https://a.b/c"),
    ] * 7
    out = []
    for mode in ("polars", "hyperscan"):
        monkeypatch.setenv("CHILDGUARD_SCREEN", mode)
        out.append(signals.compute(prepare(make_batch(rows))))
    assert out[0].equals(out[1])
    assert out[1]["ctx"].sum() > 0


def test_spread_matches_scatter() -> None:
    from childguard.detect._util import spread

    rng = np.random.default_rng(5)
    n = 500
    idx = np.sort(rng.choice(n, 40, replace=False))
    for values in (
        pl.Series(rng.random(40) < 0.5),
        pl.Series(rng.random(40)),
        pl.Series([f"w{i}" if i % 3 else None for i in range(40)], dtype=pl.String),
        pl.Series([True, None] * 20, dtype=pl.Boolean),
    ):
        fill = None if values.dtype == pl.String else values.dtype.to_python()()
        ref = pl.repeat(fill, n, dtype=values.dtype, eager=True).scatter(idx, values)
        assert spread(n, idx, values).equals(ref)
        assert spread(n, pl.Series(idx), values).equals(ref)
    assert spread(3, [], pl.Series([], dtype=pl.Boolean)).to_list() == [False] * 3


def _regex_both(col, monkeypatch) -> tuple[list[bool], list[bool]]:
    from childguard.detect.signals import RAW_PREFILTER, RAW_SHAPE

    monkeypatch.setenv("CHILDGUARD_SCREEN", "polars")
    slow = screen.contains_regex(col, RAW_SHAPE, RAW_PREFILTER).to_list()
    monkeypatch.delenv("CHILDGUARD_SCREEN")
    fast = screen.contains_regex(col, RAW_SHAPE, RAW_PREFILTER).to_list()
    return slow, fast


@needs_hs
def test_raw_shapes_rows(monkeypatch) -> None:
    rows = [
        "@lucas_2019 at the park", "mail me@x.y", "x@ab", "a@@handle", "Lucas (6) e Ana",
        "Vesteralen (8)", "Finn, 5, and Mia", "Finn, aged 5,", "finn, 5,", "Ébano, 7, ri",
        "Zoë (12) 🎂", None, "", "(7)", "Sofia (18) x", "Ana,5,", "Ana , 5,",
    ]  # fmt: skip
    col = pa.chunked_array([pa.array(rows[:6]), pa.array(rows[6:])])
    slow, fast = _regex_both(col, monkeypatch)
    assert fast == slow
    assert _regex_both(pa.array(rows, pa.large_string()).slice(3), monkeypatch)[1] == fast[3:]
    assert slow[:4] == [True, False, False, False] and slow[4] and not slow[5] and slow[6]
    assert _regex_both(pa.array([], pa.string()), monkeypatch) == ([], [])


@needs_hs
@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="@(), 0157aAgedÉéz_.\u00e7\n", max_size=16), max_size=30))
def test_raw_shapes_agree(texts: list[str]) -> None:
    # the prefilter finds every row the exact pattern matches, wherever rows meet
    with pytest.MonkeyPatch.context() as mp:
        slow, fast = _regex_both(pa.array(texts, pa.string()), mp)
    assert fast == slow


@needs_hs
def test_raw_shapes_on_the_real_pool(monkeypatch) -> None:
    from pathlib import Path

    import pyarrow.parquet as pq

    pool = Path(__file__).parents[3] / "shared" / "data" / "real_pool.parquet"
    if not pool.exists():
        pytest.skip("real pool not present")
    text = pq.read_table(pool, columns=["TEXT"]).column("TEXT")
    slow, fast = _regex_both(text, monkeypatch)
    assert fast == slow and sum(fast) > 20


@needs_hs
def test_a_stored_database_finds_what_a_compiled_one_does(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_CACHE", str(tmp_path))
    col = pa.chunked_array([pa.array([" my son ", None, " x escola y ", " a b ", " nada "])])
    terms = (*TERMS, "zzz-only-here")
    screen._database.cache_clear()
    cold = screen.contains_any(col, list(terms)).to_list()
    stored = list((tmp_path / "screen").glob("*.hsdb"))
    assert len(stored) == 1
    screen._database.cache_clear()
    warm = screen.contains_any(col, list(terms)).to_list()  # read back from the file
    assert cold == warm == [True, False, True, True, False]
    # a broken file is compiled again and replaced
    stored[0].write_bytes(b"not a database")
    screen._database.cache_clear()
    assert screen.contains_any(col, list(terms)).to_list() == cold
    assert stored[0].read_bytes() != b"not a database"
    screen._database.cache_clear()


@needs_hs
def test_an_unwritable_cache_still_compiles(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would be")
    monkeypatch.setenv("CHILDGUARD_CACHE", str(blocker))
    screen._database.cache_clear()
    col = pa.chunked_array([pa.array([" my son ", " nada "])])
    assert screen.contains_any(col, [*TERMS, "unwritable"]).to_list() == [True, False]
    screen._database.cache_clear()
