"""`feature_frame` equals its previous implementation (kept in `features_reference`): the same
(row, token) pairs with and without a vocabulary, and so the same model probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from childguard.engine.batch import score_batch_with_context
from childguard.scorer import features
from childguard.scorer.features import feature_frame
from childguard.scorer.model import load_model
from childguard.scorer.train import read_labelled, text_detectors

from . import features_reference
from .features_reference import reference_feature_frame

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# captions and URLs that steer every branch: names and capitalised words, ages, years, ids,
# handles, slugs, CJK runs (inside and beside other words), many languages, marks, empties
ROWS: list[tuple[str | None, str | None]] = [
    ("https://x.example/festa-5-anos-lucas.jpg", "Feliz aniversário Lucas! 5 anos na Escola Pequeno Mundo"),
    ("https://cdn.example/2019/05/a8f3c2d9e1/my-son-karter-age-7-300x200.jpg", "my son Karter, age 7, first day at Oak Hill Primary School"),
    ("https://x.example/img/IMG_20190512_123456.JPG", "Happy 2nd birthday to my daughter Emma @emma.mom #family"),
    ("https://x.example/b.jpg", "Maria lê para seu filho Pedro em Campinas, 2019"),
    ("https://x.example/c.jpg", "Maria liest ihrem Sohn Lukas in Köln vor (3 Jahre)"),
    ("https://x.example/d.jpg", "Ma fille Chloé, 4 ans, à l'école maternelle de Lyon"),
    ("https://x.example/e.jpg", "Mi hijo Mateo cumple 6 años en el colegio San José"),
    ("https://x.example/f.jpg", "Il mio bambino Luca al primo giorno di scuola"),
    ("https://x.example/g.jpg", "我的儿子小明 今天 5岁 生日快乐 at 幼儿园"),
    ("https://x.example/h.jpg", "うちの娘 はなちゃん 3歳 の誕生日 🎂"),
    ("https://x.example/i.jpg", "우리 아들 민준 7살 생일 축하해"),
    ("https://x.example/j.jpg", "Мой сын Иван, 5 лет, в детском саду"),
    ("https://x.example/k.jpg", "ابني أحمد عمره ٥ سنوات في المدرسة"),
    ("https://x.example/l.jpg", "मेरा बेटा राहुल 6 साल का है स्कूल में"),
    ("https://x.example/m.jpg", "Oğlum Ali 4 yaşında ilk gün okulda"),
    ("https://x.example/n.jpg", "Baby boy Noah, 3 months old, newborn photos at St. Mary's Hospital"),
    ("https://x.example/o.jpg", "kids soccer team U10 youth league 2023 champions"),
    ("https://x.example/p.jpg", "Puppy for sale, 8 weeks old, golden retriever"),
    ("https://x.example/q.jpg", "Barbie doll for girls age 3+ toy"),
    ("https://x.example/r.jpg", "Grandma with her grandson Oliver and granddaughter Ava"),
    ("https://x.example/s.jpg", "Student ID 20230415 class 5B, Lincoln Elementary, born 12/03/2015"),
    ("https://x.example/t.jpg", "e\u0301cole de mon fils Jean\ufe0f \u200d"),
    ("https://x.example/u.jpg", "Sunset over the lake"),
    ("https://x.example/v.jpg", ""),
    ("https://x.example/w.jpg", None),
    (None, "my little girl Sophia at the park"),
    ("", "her son Liam plays football"),
    ("https://x.example/little-boy-james-birthday-party-kids.png", None),
    ("https://x.example/x.jpg", "ΣΟΦΙΑ η κόρη μου 5 χρονών στο σχολείο"),
    ("https://x.example/y.jpg", "Con trai tôi bé Minh 4 tuổi đi học mẫu giáo"),
    ("https://x.example/z.jpg", "我的女儿 and my son Tom, 2 y.o., @tom_2019 中文字"),
]  # fmt: skip


def _scored(frame: pl.DataFrame) -> list[tuple[pa.Table, pl.DataFrame]]:
    """(table with the caption detectors' columns, signals) per 65,536-row batch, as scans
    and `featurise` build them."""
    dets = text_detectors()
    out = []
    for off in range(0, frame.height, 65536):
        part = frame.slice(off, 65536)
        batch = pa.table(
            {
                "row_index": pa.array(np.arange(off, off + part.height), pa.int64()),
                "url": part["url"].cast(pl.String).to_arrow(),
                "text": part["text"].cast(pl.String).to_arrow(),
            }
        )
        table, ctx = score_batch_with_context(batch, dets)
        out.append((table, ctx.signals))
    return out


def _assert_same(table: pa.Table, sig: pl.DataFrame, rows: np.ndarray) -> None:
    """Both implementations on some rows: equal pairs, vocabulary or not, equal probabilities."""
    model = load_model(None)
    for vocab in (model.vocab_series, None):
        # the reference predates the names detector's anchor tokens (features v6) and the
        # false-friend token (v8)
        new = feature_frame(table, sig, rows, vocab).filter(
            ~pl.col("token").str.starts_with("d:names@") & (pl.col("token") != "s:false_friend")
        )
        ref = reference_feature_frame(table, sig, rows, vocab)
        assert new.schema == ref.schema
        assert new.height == new.unique().height, "duplicate (row, token) pairs"
        key = ["row", "token"]
        extra = new.join(ref, on=key, how="anti")
        lost = ref.join(new, on=key, how="anti")
        assert extra.height == 0 and lost.height == 0, (extra.head(5).rows(), lost.head(5).rows())
        assert new.height == ref.height
        if vocab is not None:
            p_new = model.predict_frame(new, len(rows))
            p_ref = model.predict_frame(ref, len(rows))
            for head in p_new:  # sums of the same weights, maybe in another order
                np.testing.assert_allclose(p_new[head], p_ref[head], rtol=0, atol=1e-12)


def test_same_tokens_on_built_rows() -> None:
    frame = pl.DataFrame(
        {"url": [u for u, _ in ROWS], "text": [t for _, t in ROWS]},
        schema={"url": pl.String, "text": pl.String},
    )
    ((table, sig),) = _scored(frame)
    cand = sig["candidate"].arg_true().to_numpy()
    assert len(cand) >= 15, "the rows should exercise the screen's candidates"
    _assert_same(table, sig, cand)
    _assert_same(table, sig, np.arange(frame.height))  # every row, passed ones included
    _assert_same(table, sig, np.array([ROWS.index(r) for r in ROWS if r[1] is None]))


def test_same_tokens_without_detector_columns_and_on_no_rows() -> None:
    frame = pl.DataFrame({"url": [u for u, _ in ROWS], "text": [t for _, t in ROWS]})
    ((table, sig),) = _scored(frame)
    bare = table.select([c for c in table.column_names if "__" not in c])
    _assert_same(bare, sig, np.arange(frame.height))
    only_scores = table.drop([c for c in table.column_names if c.endswith("__label")])
    _assert_same(only_scores, sig, np.arange(frame.height))
    model = load_model(None)
    for vocab in (model.vocab_series, None):
        empty = feature_frame(table, sig, np.array([], dtype=np.int64), vocab)
        assert empty.height == 0 and empty.schema == {"row": pl.UInt32, "token": pl.String}


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "real_pool.parquet").exists(), reason="no real pool")
def test_same_tokens_on_the_real_pool() -> None:
    pool = pl.read_parquet(DATA / "real_pool.parquet", columns=["URL", "TEXT"])
    frame = pool.select(url="URL", text="TEXT")
    for table, sig in _scored(frame):
        _assert_same(table, sig, sig["candidate"].arg_true().to_numpy())


@pytest.mark.skipif(not (DATA / "labelled.parquet").exists(), reason="no labelled rows")
def test_same_tokens_on_the_labelled_rows() -> None:
    repo = Path(__file__).resolve().parents[2]
    files = [DATA / "labelled.parquet", *sorted((repo / "labels" / "written").glob("*.jsonl"))]
    frame = pl.concat([read_labelled(f).select("url", "text") for f in files])
    for table, sig in _scored(frame):
        _assert_same(table, sig, sig["candidate"].arg_true().to_numpy())


def test_caption_and_url_tokens_match_the_reference() -> None:
    rid = pl.Series([0], dtype=pl.UInt32)
    for kind, values in (
        ("t", [t for _, t in ROWS]),
        ("u", [None, "", "  ", "festa 5 anos lucas", "a8f3c2d9e1 my son karter 300x200", "x  y"]),
    ):
        for v in values:
            col = pl.Series([v], dtype=pl.String)
            new = features._token_frame(col, rid, kind)
            ref = features_reference._token_frame(col, rid, kind)
            assert new.select("row", "pos", "w", "tok").equals(ref), (kind, v)


def test_class_grams_by_codes_equal_the_string_path() -> None:
    tf = pl.DataFrame(
        {
            "row": pl.Series([0, 0, 0, 0, 1, 1, 2, 3, 3, 3], dtype=pl.UInt32),
            "tok": ["my", "son", "<name>", "x", "<age>", "anos", "y", "z", "<cap>", "<year>"],
            "cls": ["possessive", "relation", None, None, None, "age_years", None, None, None, None],
        }
    )
    for prefix in ("k:", "ku:"):
        fast = features._class_grams(tf, prefix).sort("row", "token")
        slow = features._class_grams_strings(tf, prefix).sort("row", "token")
        assert fast.equals(slow) and fast.height > 10
    # a symbol outside the known ones takes the string path, with the same result
    odd = tf.with_columns(tok=pl.col("tok").replace("<year>", "<new>"))
    assert "k:<cap>_<new>" in features._class_grams(odd, "k:")["token"].to_list()


def test_ids_give_the_frame_probabilities_and_top_features() -> None:
    """`feature_ids` are `feature_frame`'s pairs as vocabulary positions, and the model's id
    path (logits, top features) gives what its frame path gives."""
    frame = pl.DataFrame(
        {"url": [u for u, _ in ROWS], "text": [t for _, t in ROWS]},
        schema={"url": pl.String, "text": pl.String},
    )
    ((table, sig),) = _scored(frame)
    model = load_model(None)
    vocab = model.vocab_series
    rows = np.arange(frame.height)
    r, v = features.feature_ids(table, sig, rows, vocab)
    ff = feature_frame(table, sig, rows, vocab)
    got = pl.DataFrame({"row": pl.Series(r, dtype=pl.UInt32), "token": vocab.gather(v)})
    assert got.height == ff.height == got.unique().height
    assert got.sort(pl.all()).equals(ff.sort(pl.all()))
    p_ids = model.probabilities(model.id_logits(r, v, len(rows)))
    p_frame = model.predict_frame(ff, len(rows))
    for head in p_frame:
        np.testing.assert_array_equal(p_ids[head], p_frame[head])
    ident, minor = rows[::2], rows[1::2]
    tr, tv = model.top_ids(r, v, {"identifiable": ident, "minor": minor})
    tops = features_reference.reference_top_features(model, ff, ident, "identifiable")
    tops.update(features_reference.reference_top_features(model, ff, minor, "minor"))
    by_ids: dict[int, list[str]] = {}
    for k, t in zip(tr.tolist(), vocab.gather(tv).to_list(), strict=True):
        by_ids.setdefault(k, []).append(t)
    assert by_ids == tops and len(tops) > 20
    empty = features.feature_ids(table, sig, np.array([], dtype=np.int64), vocab)
    assert [len(x) for x in empty] == [0, 0]
