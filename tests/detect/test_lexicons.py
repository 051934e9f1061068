"""Lexicons are data: every language file parses, and a new language needs no Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from childguard.detect.lexicon import (
    CATEGORIES,
    LEXICON_DIR,
    LexiconError,
    load_file,
    load_lexicon,
    load_name_list,
)

LANGS = ["de", "en", "es", "fr", "id", "it", "ja", "nl", "pl", "pt", "ru", "sq", "tr", "zh"]


def test_fourteen_languages_ship() -> None:
    assert sorted(p.stem for p in LEXICON_DIR.glob("*.toml")) == LANGS


@pytest.mark.parametrize("lang", LANGS)
def test_language_file(lang: str) -> None:
    terms = load_file(LEXICON_DIR / f"{lang}.toml")
    assert set(terms) <= set(CATEGORIES)
    for cat in ("child", "relation", "school", "age_years", "neg_product", "neg_pet"):
        assert terms.get(cat), f"{lang}: {cat} is empty"


def test_unknown_category_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "xx.toml"
    bad.write_text('language = "xx"\n[terms]\nkids = ["a"]\n', encoding="utf-8")
    with pytest.raises(LexiconError, match=r"xx\.toml.*unknown category 'kids'"):
        load_file(bad)


def test_new_language_without_python(tmp_path: Path) -> None:
    """A Swedish file dropped into a lexicon folder makes Swedish child words match."""
    import polars as pl

    from childguard.detect import signals
    from childguard.detect.textnorm import prepare

    for f in LEXICON_DIR.glob("*.toml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "sv.toml").write_text(
        'language = "sv"\n[terms]\nchild = ["småbarn", "förskolebarn"]\nage_years = ["år"]\n',
        encoding="utf-8",
    )
    lex = load_lexicon(str(tmp_path))
    assert "smabarn" in lex.get("child") and "sv" in lex.languages
    import pyarrow as pa

    t = prepare(
        pa.table(
            {
                "row_index": pa.array([0, 1], pa.int64()),
                "url": pa.array([None, None], pa.string()),
                "text": ["Småbarn leker i parken, 3 år", "Sunset"],
            }
        )
    )
    s = signals.compute(t, lex_dir=str(tmp_path))
    assert s["child"].to_list() == [True, False]
    assert s["age_child"].to_list() == [True, False]
    assert isinstance(s, pl.DataFrame)


def test_name_list_is_packaged() -> None:
    names = load_name_list()
    assert len(names) > 10_000
    assert {"maria", "lucas", "helena", "yusuf", "sofia"} <= set(names)
    # nothing at runtime reads the shared development data
    import childguard.detect.lexicon as lexmod

    assert "shared" not in Path(lexmod.__file__).read_text(encoding="utf-8")


def test_plural_forms_reach_the_screen() -> None:
    """Plurals of child and kinship words are child words too (they were missed: "teens",
    "garçons", "netos"); school plurals stay out (generic talk about schools, not a child's)."""
    import pyarrow as pa

    from childguard.detect import signals
    from childguard.detect.textnorm import prepare

    texts = [
        "Teens at the mall", "Les garçons jouent au parc", "Os netos da vizinha",
        "las nietas de Ana", "studenti in gita", "made this for my nephews",
        "These schools reopen", "neonate copperhead on a leaf",
    ]  # fmt: skip
    t = prepare(
        pa.table(
            {
                "row_index": pa.array(range(len(texts)), pa.int64()),
                "url": pa.array([None] * len(texts), pa.string()),
                "text": texts,
            }
        )
    )
    got = signals.compute(t)["candidate"].to_list()
    assert got == [True] * 6 + [False, False]


def test_load_file_parses_once_and_hands_out_copies(tmp_path: Path) -> None:
    f = tmp_path / "xx.toml"
    f.write_text('language = "xx"\n[terms]\nchild = ["a", "b"]\n', encoding="utf-8")
    first = load_file(f)
    first["child"].append("mutated")
    assert load_file(f) == {"child": ["a", "b"]}  # a caller's change stays its own
    f.write_text('language = "xx"\n[terms]\nchild = ["a", "b", "c"]\n', encoding="utf-8")
    assert load_file(f) == {"child": ["a", "b", "c"]}  # a changed file is read again


def _signals(texts: list[str], lex_dir: str | None = None):
    import pyarrow as pa

    from childguard.detect import signals
    from childguard.detect.textnorm import prepare

    t = prepare(
        pa.table(
            {
                "row_index": pa.array(range(len(texts)), pa.int64()),
                "url": pa.array([None] * len(texts), pa.string()),
                "text": texts,
            }
        )
    )
    return signals.compute(t, lex_dir=lex_dir)


def test_chinese_rows_reach_the_screen() -> None:
    s = _signals(["今天给儿子过生日啦", "妈妈和儿子小宇（5岁）在广州", "两个小男孩在沙滩上", "海外留学生看两会"])
    assert s["candidate"].to_list() == [True, True, True, False]
    assert s["age_child"].to_list()[1]  # 5岁: a Chinese age unit


def test_chinese_terms_leave_japanese_rows_alone(tmp_path: Path) -> None:
    """Chinese terms are substrings matched in every row: none may change a Japanese row
    (生日 is inside お誕生日, 少年 is Japanese too), which ja.toml already decides."""
    for f in LEXICON_DIR.glob("*.toml"):
        if f.stem != "zh":
            (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    ja = [
        "陽翔、3歳のお誕生日おめでとう", "昇級審査 少年部", "小学校の入学式", "娘の七五三",
        "還暦祝い 60歳 誕生日", "中学生の息子と", "病院で誕生しました",
    ]  # fmt: skip
    assert _signals(ja).equals(_signals(ja, str(tmp_path)))


def test_not_alone_terms_are_terms_of_a_screen_category() -> None:
    """A `not_alone` term only takes a screen term out: one listed in no positive category
    (a typo, a word moved) would do nothing, silently."""
    from childguard.detect.lexicon import load_lexicon
    from childguard.detect.signals import POSITIVE

    lex = load_lexicon()
    positive = {t for c in POSITIVE for t in lex.get(c)}
    weak = lex.get("not_alone")
    assert weak and not [t for t in weak if t not in positive]


def test_everyday_words_hold_no_given_name() -> None:
    # the names detector refuses everyday words as unknown names; a given name among them
    # would hide children's names from its structural rules
    from childguard.detect.names import load_word_set

    everyday = load_word_set("everyday_words")
    assert len(everyday) > 50_000
    assert {"desk", "exercise", "symptome", "premium"} <= everyday
    assert not everyday & load_word_set("given_names")
