"""Labelled CLIP image embeddings for `childguard clip-probe train`: match labels to rows, gather.

Embeddings are LAION-layout `img_emb_NNNN.npy` files (or any 2-D float16/float32 `.npy`
array), memory-mapped and checked by `embeddings.ShardEmbeddings`. A labels file (parquet,
CSV, TSV or JSONL) names one embedding row per line:

- `file`: the embedding file's name (`img_emb_0003.npy`), its stem (`img_emb_0003`), or the name
  of its metadata shard (`metadata_0003.parquet`: LAION's files match by shard number). It may
  be left out when a single embedding file is given.
- `row_index`: the row in that file, from 0 (the same row of the metadata shard, as a scan's
  findings number it).
- `minor`: true/false, 1/0 or yes/no; empty where the row is not labelled (skipped).

Embedding rows without a label are skipped; a label naming a file or row that does not exist
is an error naming the labels file, its row (counted from 1 after the header) and the file.
Files are read in batches of `BATCH_ROWS` rows, only spans that hold labelled rows, and only
the labelled rows are copied out, so memory is the labelled rows' vectors, not the files'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from childguard.vision.embeddings import (
    EMB_DIR,
    EmbeddingError,
    EmbeddingIndex,
    ShardEmbeddings,
    shard_number,
)

BATCH_ROWS = 65536  # rows of a file mapped at a time (~100 MB of float16 768-d vectors)
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}


class ProbeError(ValueError):
    """Labels or embeddings that cannot train a probe; the message names file, row and column."""


@dataclass(frozen=True)
class Labelled:
    """The labelled rows' unit vectors, their labels and what was read and skipped."""

    x: np.ndarray  # (n, d) float32, L2-normalised
    y: np.ndarray  # (n,) bool: a minor is shown
    counts: dict[str, Any] = field(default_factory=dict)


def embedding_files(paths: list[Path]) -> list[Path]:
    """The `.npy` files named: files as given; a folder gives its `img_emb_NNNN.npy` files (or
    those of an `img_emb/` folder inside it), in shard order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            folder = p / EMB_DIR if (p / EMB_DIR).is_dir() else p
            found = EmbeddingIndex(folder).files
            if not found:
                raise ProbeError(f"{p}: no img_emb_NNNN.npy files in this folder")
            out.extend(found[k] for k in sorted(found))
        elif p.is_file():
            out.append(p)
        else:
            raise ProbeError(f"{p}: no such embedding file or folder")
    names = [p.name for p in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ProbeError(
            f"two embedding files are named {dup}: labels name files by name, so give them distinct names"
        )
    return out


def open_embeddings(files: list[Path]) -> list[ShardEmbeddings]:
    """Memory-map every file (shape and dtype checked); all must have the same width."""
    out = []
    for p in files:
        try:
            emb = ShardEmbeddings(p, str(p), None, None)
        except EmbeddingError as e:
            raise ProbeError(str(e)) from None
        if out and emb.array.shape[1] != out[0].array.shape[1]:
            raise ProbeError(
                f"{p}: {emb.array.shape[1]}-d vectors, but {out[0].path} has "
                f"{out[0].array.shape[1]}-d: embeddings of one probe come from one model"
            )
        out.append(emb)
    return out


def _file_lookup(files: list[Path]) -> dict[str, int]:
    """Every spelling a label's `file` may use for each embedding file -> its position."""
    look: dict[str, int] = {}
    numbers: dict[int, list[int]] = {}
    for i, p in enumerate(files):
        look[p.name] = look[p.stem] = i
        n = shard_number(p.stem)
        if n is not None and p.name.startswith("img_emb_"):
            numbers.setdefault(n, []).append(i)
    for n, idx in numbers.items():
        if len(idx) == 1:
            look[f"#{n}"] = idx[0]  # a metadata shard's name resolves through its number
    return look


def _resolve(value: str, look: dict[str, int]) -> int | None:
    name = Path(value).name
    for key in (value, name, Path(name).stem):
        if key in look:
            return look[key]
    n = shard_number(name)
    return look.get(f"#{n}") if n is not None else None


def _bad(path: Path, mask: pl.Series, column: str, what: str, df: pl.DataFrame) -> ProbeError:
    i = int(mask.arg_true()[0])
    return ProbeError(f"{path}, row {i + 1}, column {column!r}: {what} (got {df[column][i]!r})")


def read_labels(path: Path, files: list[Path], rows: list[int]) -> tuple[pl.DataFrame, int]:
    """Label rows as `file` (position in `files`), `row_index`, `minor`, `line` (from 1), in
    file then row order; and how many rows had no label (skipped). Errors name row and column."""
    from childguard.evaluate import EvalError, read_labelled_file

    try:
        df = read_labelled_file(path)
    except EvalError as e:
        raise ProbeError(str(e)) from None
    for col in ("row_index", "minor"):
        if col not in df.columns:
            raise ProbeError(f"{path}: no {col!r} column; columns: {df.columns}")
    if "file" not in df.columns and len(files) > 1:
        raise ProbeError(
            f"{path}: no 'file' column, and {len(files)} embedding files were given: "
            "say which file each row is in"
        )
    df = df.with_row_index("line", offset=1)
    minor = df["minor"].cast(pl.String).str.strip_chars().str.to_lowercase()
    unlabelled = minor.is_null() | (minor == "")
    bad = ~unlabelled & ~minor.is_in(sorted(_TRUE | _FALSE))
    if bad.any():
        raise _bad(path, bad, "minor", "not a label (true/false, 1/0, yes/no, or empty)", df)
    df = df.with_columns(minor=minor.is_in(sorted(_TRUE))).filter(~unlabelled)
    skipped = int(unlabelled.sum())
    row = df["row_index"].cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    bad = row.is_null() | (row < 0)
    if bad.any():
        raise _bad(path, bad, "row_index", "not a row number (an integer from 0)", df)
    if "file" in df.columns:
        look = _file_lookup(files)
        names = df["file"].cast(pl.String).fill_null("")
        mapping = {v: _resolve(v, look) for v in names.unique().to_list()}
        which = names.replace_strict(mapping, return_dtype=pl.Int64)
        if which.is_null().any():
            raise _bad(path, which.is_null(), "file",
                       f"no such embedding file among {', '.join(p.name for p in files)}", df)  # fmt: skip
    else:
        which = pl.Series([0] * df.height, dtype=pl.Int64)
    df = pl.DataFrame({"file": which, "row_index": row, "minor": df["minor"], "line": df["line"]})
    limit = pl.Series(np.asarray(rows, np.int64)[which.to_numpy()])
    past = df["row_index"] >= limit
    if past.any():
        i = int(past.arg_true()[0])
        f = files[int(df["file"][i])]
        raise ProbeError(
            f"{path}, row {df['line'][i]}: row_index {df['row_index'][i]} does not exist in "
            f"{f} ({rows[int(df['file'][i])]:,} rows)"
        )
    dup = df.select(pl.struct("file", "row_index").is_duplicated()).to_series()
    if dup.any():
        first = df.filter(dup).sort("line").row(0, named=True)
        lines = df.filter(
            (pl.col("file") == first["file"]) & (pl.col("row_index") == first["row_index"])
        )["line"].to_list()
        raise ProbeError(
            f"{path}, rows {', '.join(map(str, lines))}: row_index {first['row_index']} of "
            f"{files[first['file']]} is labelled more than once; label each row once"
        )
    return df.sort("file", "row_index"), skipped


def gather(embs: list[ShardEmbeddings], labels: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors (n, d) float32, kept (n,) bool) of the label rows, in their order; rows
    with an all-zero vector (no picture) are not kept. Reads span by span, labelled rows only."""
    n = labels.height
    dim = embs[0].array.shape[1] if embs else 0
    x = np.zeros((n, dim), np.float32)
    kept = np.zeros(n, bool)
    which = labels["file"].to_numpy()
    rows = labels["row_index"].to_numpy()
    for f, emb in enumerate(embs):
        pos = np.flatnonzero(which == f)  # ascending rows: labels are sorted by file, row
        i = 0
        while i < pos.size:
            lo = int(rows[pos[i]])
            hi = min(lo + BATCH_ROWS, emb.rows)
            j = i + int(np.searchsorted(rows[pos[i:]], hi))
            span = np.arange(lo, hi)
            got = np.asarray(emb.block(span)[rows[pos[i:j]] - lo], np.float32)
            emb.release(span)
            finite = np.isfinite(got).all(axis=1)
            if not finite.all():
                r = int(rows[pos[i + int(np.argmin(finite))]])
                raise ProbeError(f"{emb.path}, row {r}: the vector is not finite (NaN or inf)")
            norm = np.linalg.norm(got, axis=1)
            ok = norm > 0
            x[pos[i:j]] = got / np.where(ok, norm, 1.0)[:, None]
            kept[pos[i:j]] = ok
            i = j
    return x, kept


def load_labelled(paths: list[Path], labels_path: Path) -> Labelled:
    """The labelled rows of these embedding files/folders, ready to train on, with counts."""
    files = embedding_files(paths)
    embs = open_embeddings(files)
    labels, skipped = read_labels(labels_path, files, [e.rows for e in embs])
    x, kept = gather(embs, labels)
    y = labels["minor"].to_numpy().astype(bool)
    which = labels["file"].to_numpy()
    per_file = [
        {
            "file": p.name,
            "rows": embs[f].rows,
            "labelled": int(((which == f) & kept).sum()),
            "minor": int(((which == f) & kept & y).sum()),
        }
        for f, p in enumerate(files)
    ]
    counts = {
        "label_rows": labels.height + skipped,
        "unlabelled_skipped": skipped,
        "zero_vectors_skipped": int((~kept).sum()),
        "trained": int(kept.sum()),
        "minor": int((kept & y).sum()),
        "other": int((kept & ~y).sum()),
        "files": per_file,
    }
    if kept.all():  # the usual case: no second copy of the vectors
        return Labelled(x=x, y=y, counts=counts)
    return Labelled(x=x[kept], y=y[kept], counts=counts)
