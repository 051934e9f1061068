"""The vectorised pre-filters of the names and places detectors drop only rows their per-row
rules find nothing in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from childguard.detect._word_table import WordTable
from childguard.detect.context import BatchContext
from childguard.detect.names import Names
from childguard.detect.places import Places

ROOT = Path(__file__).parents[2]
POOL = ROOT.parent / "shared" / "data" / "real_pool.parquet"


@pytest.fixture(scope="module")
def names() -> Names:
    det = Names()
    det.ensure_setup()
    return det


def _batch(texts: list[str | None], urls: list[str | None]) -> pa.Table:
    return pa.table(
        {
            "row_index": pa.array(range(len(texts)), pa.int64()),
            "url": pa.array(urls, pa.string()),
            "text": pa.array(texts, pa.string()),
        }
    )


def _with_and_without(det: Names, batch: pa.Table, monkeypatch) -> tuple[pa.Table, pa.Table]:
    """The detector's output with its pre-filter, and with every context row let through."""
    ctx = BatchContext.of(batch)
    fast = det.score(ctx.table, ctx)
    with monkeypatch.context() as m:
        m.setattr(det, "_candidates", lambda _b, idx, _f: np.ones(len(idx), bool))
        slow = det.score(ctx.table, ctx)
    return fast, slow


def _written_rows() -> tuple[list[str | None], list[str | None]]:
    texts, urls = [], []
    for path in sorted((ROOT / "labels").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            texts.append(rec.get("TEXT") or rec.get("text"))
            urls.append(rec.get("URL") or rec.get("url"))
    return texts, urls


def test_written_rows_identical(names: Names, monkeypatch) -> None:
    texts, urls = _written_rows()
    assert len(texts) > 1000
    fast, slow = _with_and_without(names, _batch(texts, urls), monkeypatch)
    assert fast.equals(slow)
    assert fast.column("names__score").to_numpy().sum() > 50  # the rows do name children


def test_contract_examples_identical(names: Names, monkeypatch) -> None:
    ex = Names.examples()
    fast, slow = _with_and_without(names, _batch([e.text for e in ex], [e.url for e in ex]), monkeypatch)
    assert fast.equals(slow)


# words that steer the per-row rules: names (listed, ordinary-word, Turkish, unknown),
# kinship, possessives, ages, units, events, group words, conjunctions, adult ages
WORDS = [
    "Lucas", "Maria", "Clara", "Rosa", "Sol", "Baby", "Emmas", "Maximilians", "Wilhelmina",
    "Bartolomeu", "Clément", "Ela'nın", "Соня", "наша", "filho", "filha", "son", "daughter",
    "my", "our", "nosso", "notre", "meu", "little", "girl", "kids", "(6)", "(35)", "6,", "5",
    "12", "35", "anos", "ans", "years", "old", "aged", "age", "de", "do", "of", "festa",
    "aniversário", "birthday", "cumpleaños", "premiers", "pas", "batizado", "escola", "turma",
    "class", "team", "e", "and", "und", ",", "na", "foto:", "with", "the", "at", "結菜ちゃん",
    "息子の悠真", "陽翔、3歳", "Happy", "Feliz", "Vitória", "photo", "2019",
]  # fmt: skip
SLUG = ["festa", "5", "anos", "maria", "clara", "premiers", "pas", "timeo", "eymen", "8",
        "yas", "batizado", "lucas", "img", "2014", "emmas", "aniversario"]  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=12),
            st.lists(st.sampled_from(SLUG), max_size=6),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_random_rows_identical(names: Names, monkeypatch, rows) -> None:
    texts = [" ".join(w) for w, _ in rows]
    urls = ["https://x.com/" + "-".join(s) + ".jpg" for _, s in rows]
    fast, slow = _with_and_without(names, _batch(texts, urls), monkeypatch)
    assert fast.equals(slow)


@pytest.mark.skipif(not POOL.exists(), reason="no real pool")
def test_real_pool_identical_and_fewer_rows(names: Names, monkeypatch) -> None:
    t = pq.read_table(POOL, columns=["URL", "TEXT"]).slice(0, 120_000)
    batch = _batch(t["TEXT"].to_pylist(), t["URL"].to_pylist())
    calls = []
    real = names._candidates
    monkeypatch.setattr(names, "_candidates", lambda *a: calls.append(real(*a)) or calls[-1])
    ctx = BatchContext.of(batch)
    fast = names.score(ctx.table, ctx)
    monkeypatch.setattr(names, "_candidates", lambda _b, idx, _f: np.ones(len(idx), bool))
    assert fast.equals(names.score(ctx.table, ctx))
    # the per-row rules see under half of the context rows
    assert calls[0].mean() < 0.5


def test_word_table_lookup_is_exact() -> None:
    table = WordTable({"lucas": 1, "filho": 2, "anos": 4 | 8, "x y": 16})
    col = pa.chunked_array([pa.array([" meu filho lucas 5 anos ", "  ", None, " lucasx  anos "])])
    tok = table.tokens(col, np.array([0, 1, 2, 3]))
    assert tok.row.tolist() == [0, 0, 0, 0, 0, 3, 3]
    assert tok.bits.tolist() == [0, 2, 1, 0, 12, 0, 12]
    assert tok.has(1).tolist() == [True, False, False, False]
    assert tok.near(1, 2, (-1,)).tolist() == [True, False, False, False]
    assert tok.near(1, 4, (1,)).tolist() == [False, False, False, False]
    assert tok.near(1, 4, (2,)).tolist() == [True, False, False, False]
    assert tok.followed(2, 4).tolist() == [True, False, False, False]
    assert tok.followed(2, 1).tolist() == [False, False, False, False]


@pytest.mark.parametrize("backend", ["numba", "polars"])
def test_word_table_backends_agree(backend: str, monkeypatch) -> None:
    pytest.importorskip("numba")
    words = {"lucas": 1, "filho": 2, "anos": 12, "ação": 32, "a": 64, "": 128}
    words |= {f"w{i}": 1 << (i % 8) for i in range(2000)}  # a table with many slots
    values = [" meu filho lucas 5 anos ", "  ", None, " lucasx  anos ", " ação w17 w1999 a "]
    col = pa.chunked_array([pa.array(values[:2]), pa.array(values[2:])])
    rows = np.array([4, 0, 1, 2, 3, 0])
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", backend)
    got = WordTable(words).tokens(col, rows)
    want = WordTable(words)._tokens_polars(col, rows)
    assert got.row.tolist() == want.row.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 4, 4, 5, 5, 5, 5, 5]
    assert got.bits.tolist() == want.bits.tolist()
    assert want.bits.tolist()[:4] == [32, 1 << (17 % 8), 1 << (1999 % 8), 64]


@pytest.mark.parametrize("backend", ["numba", "polars"])
def test_written_rows_identical_both_lookups(names: Names, backend: str, monkeypatch) -> None:
    pytest.importorskip("numba")
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", backend)
    texts, urls = _written_rows()
    fast, slow = _with_and_without(names, _batch(texts, urls), monkeypatch)
    assert fast.equals(slow)


def _places_with_and_without(batch: pa.Table, monkeypatch) -> tuple[pa.Table, pa.Table, float]:
    """Places' output with its filter and without, and the share of per-row searches kept."""
    det = Places()
    det.ensure_setup()
    ctx = BatchContext.of(batch)
    calls = []
    find = det._find
    monkeypatch.setattr(det, "_find", lambda toks: calls.append(1) or find(toks))
    fast = det.score(ctx.table, ctx)
    n_fast = len(calls)
    # every word a place may start with: the filter lets every row through
    monkeypatch.setattr(det, "_starts", WordTable({}))
    monkeypatch.setattr(det._starts, "tokens", lambda col, rows: _all_rows(rows))
    slow = det.score(ctx.table, ctx)
    return fast, slow, n_fast / max(len(calls) - n_fast, 1)


def _all_rows(rows: np.ndarray):
    from childguard.detect._word_table import Tokens

    return Tokens(len(rows), np.arange(len(rows)), np.ones(len(rows), np.int64))


def test_places_written_rows_identical(monkeypatch) -> None:
    texts, urls = _written_rows()
    extra = ["Menino de 7 anos em Uberlândia", "Festa de 5 anos da Maria em São Paulo",
             "meu filho em vitória", "Our son (4) in New York", "Kids in Santa Catarina"]  # fmt: skip
    batch = _batch(texts + extra, urls + [None] * len(extra))
    fast, slow, _ = _places_with_and_without(batch, monkeypatch)
    assert fast.equals(slow)
    assert fast.column("places__score").to_numpy().sum() >= 3


@pytest.mark.skipif(not POOL.exists(), reason="no real pool")
def test_places_real_pool_identical(monkeypatch) -> None:
    t = pq.read_table(POOL, columns=["URL", "TEXT"]).slice(0, 120_000)
    fast, slow, kept = _places_with_and_without(
        _batch(t["TEXT"].to_pylist(), t["URL"].to_pylist()), monkeypatch
    )
    assert fast.equals(slow)
    assert kept < 0.5  # under half of the rows about a minor reach the per-row search


def _institutions_with_and_without(batch: pa.Table, monkeypatch) -> tuple[pa.Table, pa.Table, float]:
    """Institutions' output with its filter and without, and the share of per-row checks kept."""
    from childguard.detect.institutions import Institutions

    det = Institutions()
    det.ensure_setup()
    ctx = BatchContext.of(batch)
    calls = []
    specific = det._specific
    monkeypatch.setattr(det, "_specific", lambda text: calls.append(1) or specific(text))
    fast = det.score(ctx.table, ctx)
    n_fast = len(calls)
    monkeypatch.setattr(det, "_may_be_specific", lambda _b, rows: pl.Series(rows))
    slow = det.score(ctx.table, ctx)
    return fast, slow, n_fast / max(len(calls) - n_fast, 1)


def test_institutions_written_rows_identical(monkeypatch) -> None:
    texts, urls = _written_rows()
    extra = ["Lily's first day at Larkfield Primary", "Escolinha Pingo de Gente", "朝霧台小学校 運動会",
             "Escola\u0301x Municipal", "school trip", "Creche 3", None]  # fmt: skip
    batch = _batch(texts + extra, urls + ["https://escola.com.br/a.jpg"] * len(extra))
    fast, slow, _ = _institutions_with_and_without(batch, monkeypatch)
    assert fast.equals(slow)
    assert (fast.column("institutions__score").to_numpy() == 1.0).sum() >= 3


@pytest.mark.skipif(not POOL.exists(), reason="no real pool")
def test_institutions_real_pool_identical(monkeypatch) -> None:
    t = pq.read_table(POOL, columns=["URL", "TEXT"]).slice(0, 120_000)
    fast, slow, kept = _institutions_with_and_without(
        _batch(t["TEXT"].to_pylist(), t["URL"].to_pylist()), monkeypatch
    )
    assert fast.equals(slow)
    assert kept < 1.0
