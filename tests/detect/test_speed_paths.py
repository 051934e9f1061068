"""The fast paths of the text stage give what the plain ones gave (see bench/scan_throughput.py)."""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

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


def _pairs(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    schema = {"r": pl.UInt32, "m": pl.String, "category": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_child_words_that_nobody_calls_a_pet() -> None:
    pets = [" baby ", " baby girl "]
    pairs = _pairs(
        [
            (0, " girl ", "child_ambiguous"),  # "little girl hugging her dog": a child
            (0, " dog ", "neg_pet"),
            (1, " baby ", "child_ambiguous"),  # "baby" alone may be a pet
            (1, " baby ", "pet_words"),
            (2, " girl ", "child_ambiguous"),  # "girl" inside "baby girl": may be a pet
            (2, " baby girl ", "pet_words"),
            (3, " kids ", "child"),
            (3, " baby ", "pet_words"),
        ]
    )
    assert signals._human_rows(pairs, pets) == [0, 3]
    assert signals._human_rows(_pairs([]), pets) == []


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
