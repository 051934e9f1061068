"""Word tables kept in the user cache folder: read back identical, rebuilt when broken, and
built in memory when the folder cannot be written."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from childguard.detect import _table_cache
from childguard.detect._table_cache import cached_frame, cached_word_table, table_path
from childguard.detect._word_table import WordTable
from childguard.detect.names import Names

CLASSES = {"lucas": 1, "filho": 2 | 4, "são": 8, "x": 16, "": 1, "two words": 1}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHILDGUARD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _never() -> dict[str, int]:
    raise AssertionError("the cached table should have been read")


def test_round_trip_through_arrow() -> None:
    table = WordTable(CLASSES)
    back = WordTable.from_arrow(table.to_arrow())
    assert back.same_as(table)
    col = pa.array(["o filho lucas x", "são", None, "nada"])
    rows = np.arange(4)
    ta, tb = table.tokens(col, rows), back.tokens(col, rows)
    assert (ta.row == tb.row).all() and (ta.bits == tb.bits).all()
    assert ta.has(2).tolist() == [True, False, False, False]


def test_from_arrow_refuses_other_tables() -> None:
    with pytest.raises(ValueError, match="not a word table"):
        WordTable.from_arrow(pa.table({"word": ["a"], "hash": [1], "bits": [1]}))
    bad = WordTable(CLASSES).to_arrow().cast(
        pa.schema([("word", pa.string()), ("hash", pa.int64()), ("bits", pa.int64())]),
    ).replace_schema_metadata({"seed": "1"})
    with pytest.raises(ValueError, match="not a word table"):
        WordTable.from_arrow(bad)


def test_built_once_then_read(cache) -> None:
    first = cached_word_table("t", lambda: CLASSES)
    assert table_path("t").is_file() and table_path("t").parent.parent == cache
    again = cached_word_table("t", _never)
    assert again.same_as(first) and again.same_as(WordTable(CLASSES))


def test_a_broken_file_is_rebuilt(cache) -> None:
    path = table_path("t")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not arrow")
    table = cached_word_table("t", lambda: CLASSES)
    assert table.same_as(WordTable(CLASSES))
    assert cached_word_table("t", _never).same_as(table)  # the rebuilt file replaced it


def test_an_unwritable_cache_builds_in_memory(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would be")
    monkeypatch.setenv("CHILDGUARD_CACHE", str(blocker))
    assert cached_word_table("t", lambda: CLASSES).same_as(WordTable(CLASSES))
    assert not table_path("t").exists()


def test_names_table_from_the_cache_is_the_one_built(cache) -> None:
    cold = Names()
    cold.setup()
    assert table_path("names").is_file()
    warm = Names()
    warm.setup()
    fresh = WordTable(warm._word_classes())
    assert cold._table.same_as(fresh) and warm._table.same_as(fresh)


def test_the_key_covers_the_detect_package() -> None:
    digest = _table_cache.source_digest()
    assert len(digest) == 64 and digest[:24] in table_path("names").name


def test_a_frame_is_built_once_then_read(cache, tmp_path) -> None:
    import polars as pl

    source = tmp_path / "source.txt"
    source.write_text("v1")
    frame = pl.DataFrame({"w": ["a", "b", None], "flag": [True, None, False]})
    built = cached_frame("f", lambda: frame, (source,))
    assert built.equals(frame) and table_path("f", (source,)).is_file()
    again = cached_frame("f", _never, (source,))
    assert again.equals(frame) and again.schema == frame.schema
    source.write_text("v2")  # another source: another file, built again
    assert table_path("f", (source,)) != table_path("f")
    assert cached_frame("f", lambda: frame.head(1), (source,)).equals(frame.head(1))


def test_a_word_table_file_is_no_frame(cache) -> None:
    import polars as pl

    cached_word_table("t", lambda: CLASSES)
    frame = pl.DataFrame({"w": ["a"]})
    assert cached_frame("t", lambda: frame).equals(frame)


def test_the_scorer_lookup_from_the_cache_is_the_one_built(cache) -> None:
    from childguard.scorer import features

    features._word_lookup.cache_clear()
    cold = features._word_lookup()
    features._word_lookup.cache_clear()
    warm = features._word_lookup()
    assert cold.equals(warm) and warm.equals(features._build_word_lookup())
    assert warm.schema == features._build_word_lookup().schema
    features._word_lookup.cache_clear()
