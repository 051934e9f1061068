"""tools/build_training_set.py: labels (keys) joined back to their rows, pool or external file."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest

from childguard.scorer.model import row_key

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bts", ROOT / "tools" / "build_training_set.py")
bts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bts)

ROWS = [
    ("https://e.x/a/first-day-of-school.jpg", 'little "girl" on her first day'),
    ("https://e.x/b/red-shoes.jpg", "red shoes for kids"),
    ("https://e.x/c/x.jpg", "the actor attends the premiere"),
]


def _round(tmp_path: Path, labels: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    out = tmp_path / "out.jsonl"
    batch.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "URL": u, "TEXT": t}) + "\n" for i, (u, t) in enumerate(ROWS)
        )
    )
    out.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "label": lab, "lang": "en", "note": note}) + "\n"
            for i, (lab, note) in enumerate(
                [("child", "stock photo Little G."), ("none", "kids product"), ("none", "adult")]
            )
        )
    )
    assert bts.import_round(out, batch, "test-round", labels) == 3


@pytest.mark.parametrize("layout", ["parquet", "tsv"])
def test_external_rows_join_by_key(tmp_path: Path, layout: str) -> None:
    labels = tmp_path / "labels.csv"
    _round(tmp_path, labels)
    with labels.open() as f:
        got = {r["key"]: r for r in csv.DictReader(f)}
    assert set(got) == {row_key(u, t) for u, t in ROWS}
    assert all("Little" not in r["note"] for r in got.values())  # notes redacted to initials
    rows = tmp_path / f"rows.{layout}"
    if layout == "parquet":
        pl.DataFrame({"URL": [u for u, _ in ROWS], "TEXT": [t for _, t in ROWS]}).write_parquet(
            rows
        )
    else:  # CC3M layout: caption<TAB>url, no header, quotes kept as text
        rows.write_text("".join(f"{t}\t{u}\n" for u, t in ROWS))
    out = tmp_path / "built.parquet"
    assert bts.build(tmp_path, labels, out, rows, "ext-src") == 3
    built = pl.read_parquet(out).sort("TEXT")
    assert built["TEXT"].to_list() == sorted(t for _, t in ROWS)
    assert set(built["source"]) == {"ext-src"}
    assert set(built["selected_as"]) == {"test-round"}
    assert (
        dict(zip(built["TEXT"], built["label"], strict=True))['little "girl" on her first day']
        == "child"
    )


def test_rows_file_without_columns_names_the_file(tmp_path: Path) -> None:
    rows = tmp_path / "bad.parquet"
    pl.DataFrame({"url": ["u"], "caption": ["c"]}).write_parquet(rows)
    with pytest.raises(SystemExit, match=r"bad\.parquet"):
        bts.read_rows(rows)
