"""Rewrite one metadata shard (parquet, CSV/TSV, JSONL) minus a set of rows, streaming.

Two passes, both bounded by one row group / batch in memory:
1. `find_removals`: read only the key columns (URL, LAION hash) and list the row indices that
   match the manifest. Row indices count exactly as `childguard.io.readers` counts them (the
   scan's `row_index`), so findings and decisions can be checked against this pass.
2. `write_without`: copy the shard minus those rows. Parquet keeps the schema (with its
   metadata), codec, format version and one output row group per input row group. Text
   formats are filtered as raw records, so every kept line is byte-identical to the original
   (quoting, delimiter, header, line endings); the compression codec is kept.
"""

from __future__ import annotations

import bz2
import gzip
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from childguard.io.readers import ShardInfo, _as_string, iter_batches
from childguard.release.matcher import Matcher


class ConservationError(RuntimeError):
    """Rows in != rows kept + rows removed: the rewrite must not be published."""


@dataclass
class Removals:
    """A shard's row count and the sorted row indices to remove from it."""
    rows_in: int
    removed: np.ndarray  # sorted unique int64 row indices
    # those of them only `held` entries match (awaiting review, not removed for cause)
    held: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _key_batches(info: ShardInfo) -> Iterator[tuple[int, pl.Series, pl.Series | None]]:
    """(first row_index, URL strings, LAION hashes or None) per batch."""
    cols = info.columns
    if info.shard.format == "parquet":
        wanted = [cols.url] + ([cols.laion_hash] if cols.laion_hash else [])
        offset = 0
        with info.shard.open_raw() as f:
            pf = pq.ParquetFile(f)
            for b in pf.iter_batches(batch_size=131_072, columns=wanted):
                col = b.column(0)
                if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                    # other types become text exactly as the scan's reader made them, so the
                    # hashes agree with the findings'
                    col = _as_string(pa.chunked_array([col]), info.shard.path, cols.url, offset)
                url = pl.Series("url", col)
                h = pl.Series("h", b.column(1)) if cols.laion_hash else None
                yield offset, url, h
                offset += b.num_rows
        return
    for t in iter_batches(info, batch_rows=131_072):
        if t.num_rows == 0:
            continue
        first = t.column("row_index")[0].as_py()
        h = pl.Series("h", t.column("laion_hash")) if "laion_hash" in t.column_names else None
        yield first, pl.Series("url", t.column("url")), h


def find_removals(info: ShardInfo, matcher: Matcher, extra: np.ndarray | None = None) -> Removals:
    """Row indices whose URL hash or LAION hash is in the manifest, plus `extra` indices."""
    parts: list[np.ndarray] = []
    held: list[np.ndarray] = []
    rows = 0
    if info.columns.convention != "empty":
        for first, urls, hashes in _key_batches(info):
            hit = matcher.match(urls, hashes)
            if hit.any():
                idx = np.nonzero(hit)[0].astype(np.int64)
                parts.append(idx + first)
                if matcher.held_urls is not None:  # which of the few hits are only held
                    pick = pl.Series(idx)
                    only = matcher.held_only(
                        urls.gather(pick), hashes.gather(pick) if hashes is not None else None
                    )
                    held.append(idx[only] + first)
            rows = first + len(urls)
    if extra is not None and len(extra):
        extra = np.asarray(extra, dtype=np.int64)
        bad = extra[(extra < 0) | (extra >= rows)]
        if len(bad):
            raise ConservationError(
                f"{info.shard.path}: row_index {int(bad[0])} is outside the shard ({rows} rows)"
            )
        parts.append(extra)
    removed = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    held_rows = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
    if extra is not None and len(extra):  # a row removed by position is removed, not held
        held_rows = np.setdiff1d(held_rows, extra)
    return Removals(rows, removed, held_rows)


# ------------------------------------------------------------------------------------------
# writing


def write_without(info: ShardInfo, removed: np.ndarray, dest: Path) -> int:
    """Write the shard minus `removed` rows to `dest`; returns the rows written."""
    fmt = info.shard.format
    if fmt == "parquet":
        return _parquet_without(info, removed, dest)
    if fmt in ("csv", "tsv", "jsonl"):
        return _text_without(info, removed, dest)
    raise ValueError(f"{info.shard.path}: cannot rewrite format {fmt!r}")


def copy_raw(info: ShardInfo, dest: Path) -> None:
    """Copy a shard's bytes unchanged to `dest`."""
    with info.shard.open_raw() as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 4 << 20)


def _parquet_without(info: ShardInfo, removed: np.ndarray, dest: Path) -> int:
    written = 0
    with info.shard.open_raw() as f:
        pf = pq.ParquetFile(f)
        meta = pf.metadata
        codecs = {meta.schema.column(i).path: "NONE" for i in range(meta.num_columns)}
        if meta.num_row_groups:
            rg0 = meta.row_group(0)
            for i in range(rg0.num_columns):
                c = rg0.column(i)
                codecs[c.path_in_schema] = (
                    "NONE" if c.compression == "UNCOMPRESSED" else c.compression
                )
        distinct = set(codecs.values())
        compression: str | dict[str, str] = distinct.pop() if len(distinct) == 1 else codecs
        version = meta.format_version if meta.format_version in ("1.0", "2.4", "2.6") else "2.6"
        try:
            writer = pq.ParquetWriter(
                dest, pf.schema_arrow, compression=compression, version=version
            )
        except (ValueError, pa.ArrowException):  # per-column codecs pyarrow cannot map back
            first = next(iter(codecs.values()), "NONE")
            writer = pq.ParquetWriter(dest, pf.schema_arrow, compression=first, version=version)
        try:
            offset = 0
            for rg in range(meta.num_row_groups):
                n = meta.row_group(rg).num_rows
                lo = np.searchsorted(removed, offset)
                hi = np.searchsorted(removed, offset + n)
                table = pf.read_row_group(rg)
                if hi > lo:
                    keep = np.ones(n, dtype=bool)
                    keep[removed[lo:hi] - offset] = False
                    table = table.filter(pa.array(keep))
                if table.num_rows:
                    writer.write_table(table, row_group_size=table.num_rows)
                written += table.num_rows
                offset += n
        finally:
            writer.close()
    return written


@contextmanager
def _open_out(dest: Path, compression: str | None) -> Iterator[IO[bytes]]:
    if compression is None:
        with open(dest, "wb") as f:
            yield f
    elif compression == "gzip":
        with (
            open(dest, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as f,
        ):
            yield f  # type: ignore[misc]
    elif compression == "zstd":
        with (
            open(dest, "wb") as raw,
            zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as f,
        ):
            yield f  # type: ignore[misc]
    elif compression == "bz2":
        with bz2.open(dest, "wb") as f:
            yield f  # type: ignore[misc]
    else:
        raise ValueError(f"unsupported compression {compression!r}")


_QUOTE, _CR, _LF = 0x22, 0x0D, 0x0A


def _in_quotes_after(line: bytes, in_q: bool, delim: int) -> bool:
    """CSV quote state at the end of `line`, given the state at its start.

    As pyarrow's and Python's CSV parsers do: a quote opens a quoted field only at the start
    of a field; inside one, `""` is a literal quote and a lone `"` closes it."""
    at_start = not in_q
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if in_q:
            if c == _QUOTE:
                if i + 1 < n and line[i + 1] == _QUOTE:
                    i += 1
                else:
                    in_q = False
        elif c == _QUOTE and at_start:
            in_q = True
            at_start = False
        elif c == delim:
            at_start = True
        elif c not in (_CR, _LF):
            at_start = False
        i += 1
    return in_q


def iter_records(info: ShardInfo, f: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Raw records of a text shard: (bytes incl. line ending, is_data_row).

    Counts rows the way the reader does: blank lines are not rows; the CSV header is not a
    row; a quoted CSV field may span lines (RFC 4180); TSV is one row per line, unquoted.
    Only lines holding a quote character go through the (Python) quote scanner."""
    quoted = info.shard.format == "csv" and info.delimiter != "\t"
    delim = ord(info.delimiter or ",")
    header_pending = info.shard.format in ("csv", "tsv") and info.header
    pending: list[bytes] = []
    in_q = False
    for line in f:
        if quoted and (in_q or b'"' in line):
            pending.append(line)
            in_q = _in_quotes_after(line, in_q, delim)
            if in_q:
                continue  # inside a quoted field that spans lines
            rec = pending[0] if len(pending) == 1 else b"".join(pending)
            pending = []
        else:
            rec = line
        if not rec.strip():
            yield rec, False
        elif header_pending:
            header_pending = False
            yield rec, False
        else:
            yield rec, True
    if pending:
        yield b"".join(pending), True


def _text_without(info: ShardInfo, removed: np.ndarray, dest: Path) -> int:
    rm = removed.tolist()
    j, nrm = 0, len(rm)
    next_rm = rm[0] if nrm else -1
    idx = written = 0
    with info.shard.open("rb") as src, _open_out(dest, info.shard.compression) as out:
        for rec, is_row in iter_records(info, src):
            if is_row:
                if idx == next_rm:
                    j += 1
                    next_rm = rm[j] if j < nrm else -1
                    idx += 1
                    continue
                idx += 1
                written += 1
            out.write(rec)
    if j != nrm:
        raise ConservationError(
            f"{info.shard.path}: {nrm - j} row(s) to remove not found while rewriting "
            f"({idx} rows read)"
        )
    return written


def count_rows(info: ShardInfo) -> int:
    """Data rows in a shard, counted as the reader counts them (for `verify`)."""
    if info.shard.format == "parquet":
        with info.shard.open_raw() as f:
            return pq.ParquetFile(f).metadata.num_rows
    with info.shard.open("rb") as f:
        return sum(1 for _, is_row in iter_records(info, f) if is_row)
