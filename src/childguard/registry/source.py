"""Read back the scanned shards named in `AUDIT/run.json`: whole shards for request matching,
single rows for a reviewer's (logged) reveal, and image bytes where a shard carries them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from childguard.formats import FormatError
from childguard.formats.run import RunRecord

# Columns that hold image bytes in common layouts (img2dataset parquet, HF `datasets` images).
IMAGE_COLUMNS = ("jpg", "png", "webp", "image", "image_bytes", "img", "bytes")


class SourceError(RuntimeError):
    """A scan's run.json that cannot be read or lists an input without its fields."""
    pass


@dataclass(frozen=True)
class ShardRef:
    """Where a scanned shard's source lives and how to read it (from run.json)."""
    shard_id: str
    path: str
    format: str
    compression: str | None
    size: int | None
    url_col: str | None
    text_col: str | None


def load_inputs(audit_dir: Path) -> dict[str, ShardRef]:
    """shard_id -> where its source lives, from `run.json` (empty when there is no run yet)."""
    run = Path(audit_dir) / "run.json"
    if not run.exists():
        return {}
    try:
        data = RunRecord.read(run)
    except FormatError as e:
        raise SourceError(f"unreadable run.json: {e}") from None
    out: dict[str, ShardRef] = {}
    for i, inp in enumerate(data.inputs):
        try:
            cols = inp.get("columns") or {}
            out[inp["shard_id"]] = ShardRef(
                shard_id=inp["shard_id"],
                path=inp["path"],
                format=inp["format"],
                compression=inp.get("compression"),
                size=inp.get("size"),
                url_col=cols.get("url"),
                text_col=cols.get("text"),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise SourceError(f"{run}: inputs[{i}] lacks {e}") from None
    return out


def _info(ref: ShardRef) -> Any:
    from childguard.io.paths import Shard
    from childguard.io.readers import open_shard

    shard = Shard(ref.path, ref.format, ref.compression, ref.size, ref.shard_id)
    return open_shard(shard, url_col=ref.url_col, text_col=ref.text_col)


def iter_rows(ref: ShardRef, batch_rows: int = 65_536) -> Iterator[pa.Table]:
    """Standard-column batches (row_index, url, text, ...) of one shard."""
    from childguard.io.readers import iter_batches

    yield from iter_batches(_info(ref), batch_rows)


def read_row(ref: ShardRef, row_index: int) -> dict[str, Any] | None:
    """The original url and text of one row (None when the shard has fewer rows)."""
    from childguard.io.readers import iter_task_batches

    info = _info(ref)
    for task in info.tasks:
        if task.num_rows is not None and not (
            task.row_offset <= row_index < task.row_offset + task.num_rows
        ):
            continue
        for batch in iter_task_batches(info, task, 65_536):
            first = batch.column("row_index")[0].as_py() if batch.num_rows else 0
            if first <= row_index < first + batch.num_rows:
                row = batch.slice(row_index - first, 1).to_pylist()[0]
                return {"url": row.get("url"), "text": row.get("text"), "key": row.get("key")}
    return None


def _image_column(schema: pa.Schema) -> str | None:
    for name in IMAGE_COLUMNS:
        if name in schema.names:
            t = schema.field(name).type
            if pa.types.is_binary(t) or pa.types.is_large_binary(t):
                return name
            if pa.types.is_struct(t) and t.get_field_index("bytes") >= 0:
                return name
    return None


def _side_source(ref: ShardRef) -> Any:
    """img2dataset's tar or folder of images beside the shard (joined on `key`), if any."""
    try:
        from childguard.images.source import find_image_source
    except ImportError:
        return None
    try:
        return find_image_source(ref.path)
    except (OSError, ValueError):
        return None


def _parquet_image_column(ref: ShardRef) -> str | None:
    if ref.format != "parquet":
        return None
    try:
        with _open(ref) as f:
            return _image_column(pq.ParquetFile(f).schema_arrow)
    except (OSError, pa.ArrowException):
        return None


def has_images(ref: ShardRef) -> bool:
    """True when the shard has an image column or a tar/folder of images beside it."""
    return _parquet_image_column(ref) is not None or _side_source(ref) is not None


def _open(ref: ShardRef) -> Any:
    import fsspec

    return fsspec.open(ref.path, "rb").open()


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, dict):
        value = value.get("bytes")
    return value if isinstance(value, bytes) and value else None


def read_image(ref: ShardRef, row_index: int) -> bytes | None:
    """Image bytes of one row, where the shard (or a tar/folder beside it) carries them."""
    col = _parquet_image_column(ref)
    if col is not None:
        with _open(ref) as f:
            pf = pq.ParquetFile(f)
            offset = 0
            for rg in range(pf.metadata.num_row_groups):
                n = pf.metadata.row_group(rg).num_rows
                if offset <= row_index < offset + n:
                    table = pf.read_row_group(rg, columns=[col])
                    return _as_bytes(table.column(col)[row_index - offset].as_py())
                offset += n
        return None
    side = _side_source(ref)
    if side is None:
        return None
    row = read_row(ref, row_index)
    key = row.get("key") if row else None
    return side.read([key]).get(key) if key else None


def iter_images(ref: ShardRef, chunk: int = 256) -> Iterator[tuple[int, bytes]]:
    """(row_index, image bytes) for every row that carries an image."""
    col = _parquet_image_column(ref)
    if col is not None:
        with _open(ref) as f:
            pf = pq.ParquetFile(f)
            offset = 0
            for rg in range(pf.metadata.num_row_groups):
                table = pf.read_row_group(rg, columns=[col])
                for i, v in enumerate(table.column(col).to_pylist()):
                    b = _as_bytes(v)
                    if b is not None:
                        yield offset + i, b
                offset += table.num_rows
        return
    side = _side_source(ref)
    if side is None:
        return
    for batch in iter_rows(ref):
        if "key" not in batch.column_names:
            return
        pairs = [
            (ri, k)
            for ri, k in zip(
                batch.column("row_index").to_pylist(), batch.column("key").to_pylist(), strict=True
            )
            if k
        ]
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            found = side.read([k for _, k in part])
            for ri, k in part:
                if k in found:
                    yield ri, found[k]


def read_rows(ref: ShardRef, row_indexes: list[int]) -> pa.Table:
    """The standard columns of the given rows of one shard (reads only the tasks, i.e. row
    groups, that hold them); rows the shard does not have are left out."""
    import pyarrow.compute as pc

    from childguard.io.readers import iter_task_batches

    want = sorted(set(row_indexes))
    if not want:
        return pa.table({"row_index": pa.array([], pa.int64())})
    info = _info(ref)
    parts = []
    wanted = pa.array(want, pa.int64())
    for task in info.tasks:
        if task.num_rows is not None:
            lo, hi = task.row_offset, task.row_offset + task.num_rows
            if not any(lo <= r < hi for r in want):
                continue
        for batch in iter_task_batches(info, task, 65_536):
            hit = batch.filter(pc.is_in(batch.column("row_index"), value_set=wanted))
            if hit.num_rows:
                parts.append(hit)
    if not parts:
        return pa.table({"row_index": pa.array([], pa.int64())})
    return pa.concat_tables(parts)
