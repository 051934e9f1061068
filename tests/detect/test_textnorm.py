"""Normalisation shared by every lexicon match: captions, URL slugs, hosts."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from childguard.detect import textnorm
from childguard.detect.textnorm import (
    FOLD_TABLE,
    fold_word,
    normalize_series,
    normalize_terms,
    prepare,
)


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Ação CRIANÇA", " acao crianca "),
        ("Łódź Straße ığüşöç", " lodz strasse igusoc "),
        ("Алёнушка, 4 годика!", " аленушка 4 годика "),
        ("#heitor2anos 5yo U10", " heitor 2 anos 5 yo u 10 "),
        ("３ªA", " 3 aa "),
        ("Ｅｍｍａ", " emma "),
        (None, "  "),
    ],
)
def test_caption_normalisation(raw: str | None, norm: str) -> None:
    assert normalize_series(pl.Series([raw], dtype=pl.String))[0] == norm


def test_kana_keep_voicing_marks() -> None:
    # ベッド (bed) must not become ヘット, which would read as ペット (pet) stripped alike
    out = normalize_series(pl.Series(["ベビーベッドで眠る赤ちゃん", "ペット"]))
    assert out[0] == " ベビーベッドで眠る赤ちゃん "
    assert "ペット" not in out[0]


def test_fold_word_matches_series() -> None:
    words = ["Ação", "Łukasz", "Алёна", "ÉCOLE", "Zoë", "İstanbul"]
    series = normalize_series(pl.Series(words)).str.strip_chars(" ").to_list()
    assert [fold_word(w) for w in words] == series


def test_terms_normalised_like_text() -> None:
    assert normalize_terms(["Primeira Comunhão", "  ", "bebê"]) == ["primeira comunhao", "bebe"]


@pytest.mark.parametrize(
    ("url", "words", "host"),
    [
        (
            "https://blog.com.br/wp-content/uploads/2014/03/festa-5-anos-maria-clara-300x200.jpg",
            " wp content uploads 2014 03 festa 5 anos maria clara ",
            " blog com br ",
        ),
        (
            "https://x.org/%C3%A9cole/MyDaughterEmma_2019.JPG?name=large#top",
            " ecole my daughter emma 2019 ",
            " x org ",
        ),
        (
            "https://blogger.googleusercontent.com/img/b/R29vZ2xl/AVvXsEh7kQ2pLm9Xz/s1600/jacob.jpg",
            " img b s 1600 jacob ",
            " blogger googleusercontent com ",
        ),
        ("https://a.allegroimg.com/original/1a2b3c/4d5e6f7a8b9c0d1e2f", " original ", None),
        ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAANwAAABN", "  ", None),
        (None, "  ", "  "),
        ("ftp://files.example:21/Kinder-Turnen+2019.png", " kinder turnen 2019 ", None),
        # non-ASCII before the query: the cut is at the `?`, not at its byte offset counted
        # as characters (which kept `jpg r` of `?resize=`)
        ("https://i1.wp.com/ex.net/2017/09/störbild2.jpg?resize=260", " ex net 2017 09 storbild 2 ", None),
        ("https://bücher.de/a/b.jpg", " a b ", " bücher de "),
        ("https://x.de/ä/b#frag?x", " a b ", " x de "),
    ],
)
def test_url_words(url: str | None, words: str, host: str | None, make_batch) -> None:
    t = prepare(make_batch([("x", url)]))
    assert t.column("url_words")[0].as_py() == words
    if host is not None:
        assert t.column("url_host")[0].as_py() == host


def test_prepare_adds_columns_once(make_batch) -> None:
    t = prepare(make_batch([("Olá", "https://a.b/c-d.jpg")]))
    assert t.column("both_norm")[0].as_py() == " ola  c d "
    assert prepare(t) is t


_FOLD_CHARS = "".join(sorted(FOLD_TABLE)[::7]) + "aZ 5ΣσçÉß\u0301東"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=_FOLD_CHARS, max_size=12), max_size=20))
def test_small_batches_fold_like_replace_many(texts: list[str]) -> None:
    # below _TRANSLATE_MAX_ROWS the table is applied by str.translate: same strings
    s = pl.Series(texts, dtype=pl.String)
    assert len(s) < textnorm._TRANSLATE_MAX_ROWS
    ref = s.str.replace_many(textnorm._FOLD_FROM, textnorm._FOLD_TO)
    assert textnorm._fold_chars(s).to_list() == ref.to_list()


def test_fold_paths_agree_across_the_size_switch() -> None:
    words = ["ação", "Ærøskøbing", "ΣΟΦΙΑ", "ﬁlho", "Ｆｕｌｌ", "é\u0301", "", "東京"]
    small = pl.Series(words, dtype=pl.String)
    big = pl.Series(words * (2 * textnorm._TRANSLATE_MAX_ROWS // len(words)), dtype=pl.String)
    assert normalize_series(big).to_list()[: len(words)] == normalize_series(small).to_list()
