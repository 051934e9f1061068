"""Materialise the labelled rows that childguard's shipped model is trained on.

The repo keeps only keys and labels of the rows we labelled ourselves (`labels/*.csv`: key =
SHA-256 of URL + "\\x1f" + TEXT of a `real_pool.parquet` row); the rows' text is third-party and
stays in ../shared/data. This joins the keys back to the pool and writes one parquet file
with URL, TEXT, label, lang, note, source, selected_as, ready for `childguard train`.

    python tools/build_training_set.py --shared ../shared/data --out /tmp/added.parquet
    python tools/build_training_set.py --import-jsonl out.jsonl --batch batch.jsonl \\
        --provenance "..." --labels labels/real_pool_added.csv   # add a labelling round

Rows from public files outside ../shared (labels/external/README.md says where each one is):
`--external LABELS.csv=ROWS` joins a labels file to its rows file instead of the pool
(parquet with URL/TEXT columns, or CC3M's headerless caption<TAB>url .tsv), with `--source` as
the rows' source name:

    python tools/build_training_set.py --external labels/external/laion2b_en_10k.csv=laion2b-en-10K.parquet \\
        --source laion2b-en --out /tmp/laion2b.parquet
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import polars as pl

from childguard.scorer.model import row_key

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "labels" / "real_pool_added.csv"
FIELDS = ["key", "label", "lang", "note", "provenance"]


def redact_note(note: str) -> str:
    """Capitalised words (names, places) to initials: notes never carry a child's name."""
    return re.sub(
        r"\b([^\W\d_])[^\W\d_]*",
        lambda m: (
            m.group(1) + "."
            if m.group(1).isupper() and m.group(0) not in ("AMBIG",)
            else m.group(0)
        ),
        note,
    )


def import_round(out_jsonl: Path, batch_jsonl: Path, provenance: str, labels: Path) -> int:
    batch = {}
    for ln in batch_jsonl.read_text(encoding="utf-8").split("\n"):
        if not ln.strip():
            continue
        r = json.loads(ln)
        batch[r["id"]] = r
    rows = [
        json.loads(ln) for ln in out_jsonl.read_text(encoding="utf-8").split("\n") if ln.strip()
    ]
    ids = [r["id"] for r in rows]
    if sorted(ids) != sorted(batch) or len(set(ids)) != len(ids):
        raise SystemExit(f"{out_jsonl}: ids do not match {batch_jsonl} one to one")
    existing = {}
    if labels.exists():
        with labels.open(encoding="utf-8") as f:
            existing = {r["key"]: r for r in csv.DictReader(f)}
    for r in rows:
        if r["label"] not in ("identifiable_child", "child", "none"):
            raise SystemExit(f"{out_jsonl}: id {r['id']}: bad label {r['label']!r}")
        b = batch[r["id"]]
        k = row_key(b["URL"], b["TEXT"])
        existing[k] = {
            "key": k,
            "label": r["label"],
            "lang": r.get("lang") or "und",
            "note": redact_note(r.get("note") or ""),
            "provenance": provenance,
        }
    labels.parent.mkdir(parents=True, exist_ok=True)
    with labels.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for k in sorted(existing):
            w.writerow(existing[k])
    return len(rows)


def read_rows(path: Path, source: str | None = None) -> pl.DataFrame:
    """URL, TEXT, source of a rows file: parquet with URL/TEXT columns, or CC3M's headerless
    caption<TAB>url .tsv (its captions hold tabs never, quotes often: no quoting)."""
    if path.suffix == ".tsv":
        df = pl.read_csv(
            path, separator="\t", has_header=False, quote_char=None, new_columns=["TEXT", "URL"]
        )
    else:
        df = pl.read_parquet(path)
    missing = {"URL", "TEXT"} - set(df.columns)
    if missing:
        raise SystemExit(f"{path}: no {sorted(missing)} column; columns: {df.columns}")
    df = df.select(
        pl.col("URL").cast(pl.String).fill_null(""), pl.col("TEXT").cast(pl.String).fill_null("")
    )
    if "source" not in df.columns:
        df = df.with_columns(source=pl.lit(source or path.stem))
    return df


def with_keys(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows with their label key (`row_key` of URL and TEXT), the labels files' join key."""
    keys = [row_key(u, t) for u, t in zip(rows["URL"].to_list(), rows["TEXT"].to_list(), strict=True)]
    return rows.with_columns(key=pl.Series(keys, dtype=pl.String))


def build(
    shared: Path, labels: Path, out: Path, rows_file: Path | None = None, source: str | None = None
) -> int:
    pool = (
        read_rows(rows_file, source)
        if rows_file is not None
        else pl.read_parquet(shared / "real_pool.parquet")
    )
    pool = with_keys(pool).unique("key", keep="first", maintain_order=True)
    lab = pl.read_csv(labels, infer_schema_length=0)
    rows = lab.join(pool, on="key", how="left")
    missing = rows["URL"].is_null().sum()
    if missing:
        where = rows_file or "the pool"
        print(f"warning: {missing} labelled keys are not in {where}", file=sys.stderr)
    rows = rows.filter(pl.col("URL").is_not_null())
    rows = rows.with_columns(selected_as=pl.col("provenance").str.extract(r"^(\S+)"))
    rows.select(
        "URL", "TEXT", "label", "lang", "note", "source", "selected_as", "key"
    ).write_parquet(out)
    return rows.height


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--import-jsonl", type=Path)
    ap.add_argument("--batch", type=Path)
    ap.add_argument("--provenance", default="")
    ap.add_argument(
        "--external",
        metavar="LABELS.csv=ROWS",
        help="join LABELS.csv to the rows file ROWS instead of ../shared's pool",
    )
    ap.add_argument("--source", help="source name of --external rows (default: file stem)")
    a = ap.parse_args()
    rows_file = None
    if a.external:
        lab, sep, rows = a.external.partition("=")
        if not sep:
            raise SystemExit(f"--external: expected LABELS.csv=ROWS, got {a.external!r}")
        a.labels, rows_file = Path(lab), Path(rows)
    if a.import_jsonl:
        n = import_round(a.import_jsonl, a.batch, a.provenance, a.labels)
        print(f"{n} labels from {a.import_jsonl} -> {a.labels}")
    if a.out:
        n = build(a.shared, a.labels, a.out, rows_file, a.source)
        print(f"{n} rows -> {a.out}")


if __name__ == "__main__":
    main()
