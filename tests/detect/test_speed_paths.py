"""The fast paths of the text stage give what the plain ones gave (see bench/scan_throughput.py)."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from childguard.detect import lexicon, signals
from childguard.detect.output import detector_output
from childguard.detect.places import LOCATIVE, Places


def test_lexicon_is_loaded_once_whatever_the_call() -> None:
    a = lexicon.load_lexicon()
    assert a is lexicon.load_lexicon(None)
    assert a is lexicon.load_lexicon(str(lexicon.LEXICON_DIR))


def test_lexicon_terms_normalised_per_category(tmp_path: Path) -> None:
    (tmp_path / "xx.toml").write_text(
        '[terms]\nchild = ["Criança", "  ", "BEBÊ"]\nschool = []\nhospital = ["Maternité"]\n',
        encoding="utf-8",
    )
    lex = lexicon.load_lexicon(str(tmp_path))
    assert lex.terms == {"child": ["bebe", "crianca"], "school": [], "hospital": ["maternite"]}


def test_label_where_the_score_is_positive() -> None:
    scores = pl.Series([0.0, 1.0, None, float("nan"), 0.5, -1.0])
    t = detector_output("x", 6, scores, None, "lab")
    assert t.schema.field("x__label").type == pa.string()
    assert t.column("x__label").to_pylist() == [None, "lab", None, "lab", "lab", None]
    assert t.column("x__score").to_pylist()[:3] == [0.0, 1.0, 0.0]


def test_child_words_that_nobody_calls_a_pet() -> None:
    table = signals.detail_table()
    ids = {t: i for i, t in enumerate(signals.patterns().detail_terms)}
    matches = [
        (0, " girl "),  # "little girl hugging her dog": a child
        (0, " dog "),
        (1, " baby "),  # "baby" alone may be a pet
        (2, " girl "),  # "girl" inside "baby girl": may be a pet
        (2, " baby girl "),
        (3, " kids "),
        (3, " baby "),
        (4, " baby girl "),  # "girl" again, after the pet word that holds it
        (4, " girl "),
    ]
    rows = np.array([r for r, _ in matches], np.int64)
    pids = np.array([ids[m] for _, m in matches], np.int64)
    assert signals._human_rows(rows, pids, table).tolist() == [0, 3]
    none = np.zeros(0, np.int64)
    assert signals._human_rows(none, none, table).tolist() == []


def test_detail_table_roles() -> None:
    table = signals.detail_table()
    terms = signals.patterns().detail_terms
    at = {t: i for i, t in enumerate(terms)}
    assert table.pet[at[" baby "]] and not table.kid[at[" baby "]]
    assert table.kid[at[" girl "]] and table.evidence[at[" girl "]]
    assert at[" baby girl "] in table.covers[at[" girl "]]
    assert table.words[at[" kids "]] == "kids" and table.words[len(terms)] is None


def test_places_longest_first_and_locatives() -> None:
    det = Places()
    det.ensure_setup()
    multi = next(p for p in sorted(det._places) if p.count(" ") >= 2)
    assert det._find(["foto", *multi.split(" "), "5", "anos"]) == multi
    assert det._find(["foto", "do", "menino"]) is None
    # a place that is also a given name needs a locative word right before it
    amb = next(p for p in sorted(det._ambiguous) if " " not in p)
    assert det._find(["menino", amb]) is None
    assert det._find(["menino", sorted(LOCATIVE)[0], amb]) == amb


def test_a_scan_leaves_the_gc_unfrozen(tmp_path: Path) -> None:
    from childguard.config import ScanConfig
    from childguard.engine.local import run_scan

    src = tmp_path / "in.parquet"
    pq.write_table(
        pa.table({"URL": ["https://x.example/a/festa-5-anos-maria.jpg"], "TEXT": ["Bolo"]}), src
    )
    run_scan(ScanConfig(inputs=[str(src)], out=str(tmp_path / "out"), workers=1), progress=False)
    assert gc.get_freeze_count() == 0


def test_sparse_strings_match_the_gather_path() -> None:
    from childguard.detect._util import scatter_strings, sparse_strings

    idx, values = [7, 2, 5], ["é Lú", "", "x:y"]  # any order, an empty string, UTF-8
    got = sparse_strings(9, idx, values)
    assert got.type == pa.string() and got.null_count == 6
    assert got.to_pylist() == scatter_strings(9, idx, values).to_list()
    assert sparse_strings(4, [], []).to_pylist() == [None] * 4
    with pytest.raises(ValueError, match="distinct"):
        sparse_strings(4, [1, 1], ["a", "b"])


def test_detector_output_takes_arrow_evidence() -> None:
    from childguard.detect._util import sparse_strings

    t = detector_output("x", 3, pl.Series([0.0, 1.0, 0.0]), sparse_strings(3, [1], ["e"]), "l")
    assert t.column("x__evidence").to_pylist() == [None, "e", None]
    assert t.column("x__label").to_pylist() == [None, "l", None]


def test_evidence_word_is_the_first_in_the_caption_in_any_batch(make_batch) -> None:
    from childguard.detect.textnorm import prepare

    # one row, and a batch with more matches than there are (pattern, category) rows (the join
    # that built this column gave pattern order below that): the same word
    few = signals.compute(prepare(make_batch([("a little girl smiling", None)])))
    assert few["child_word"].to_list() == ["little girl"]
    many_rows = signals.patterns(None).pattern_category.height // 3 + 1
    rows = [("a little girl smiling", None)] * many_rows
    many = signals.compute(prepare(make_batch(rows)))
    assert set(many["child_word"].to_list()) == {"little girl"}
