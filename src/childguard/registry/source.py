"""Read back the scanned shards named in `AUDIT/run.json`: whole shards for request matching,
single rows for a reviewer's (logged) reveal, and image bytes where a shard carries them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Columns that hold image bytes in common layouts (img2dataset parquet, HF `datasets` images).
IMAGE_COLUMNS = ("jpg", "png", "webp", "image", "image_bytes", "img", "bytes")


class SourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class ShardRef:
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
        data = json.loads(run.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SourceError(f"{run}: unreadable run.json ({e})") from None
    out: dict[str, ShardRef] = {}
    for i, inp in enumerate(data.get("inputs") or []):
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
                return {"url": row.get("url"), "text": row.get("text")}
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


def has_images(ref: ShardRef) -> bool:
    if ref.format != "parquet":
        return False
    try:
        with _open(ref) as f:
            return _image_column(pq.ParquetFile(f).schema_arrow) is not None
    except (OSError, pa.ArrowException):
        return False


def _open(ref: ShardRef) -> Any:
    import fsspec

    return fsspec.open(ref.path, "rb").open()


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, dict):
        value = value.get("bytes")
    return value if isinstance(value, bytes) and value else None


def read_image(ref: ShardRef, row_index: int) -> bytes | None:
    """Image bytes of one row, where the shard carries them (parquet only); else None."""
    if ref.format != "parquet":
        return None
    with _open(ref) as f:
        pf = pq.ParquetFile(f)
        col = _image_column(pf.schema_arrow)
        if col is None:
            return None
        offset = 0
        for rg in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            if offset <= row_index < offset + n:
                table = pf.read_row_group(rg, columns=[col])
                return _as_bytes(table.column(col)[row_index - offset].as_py())
            offset += n
    return None


def iter_images(ref: ShardRef) -> Iterator[tuple[int, bytes]]:
    """(row_index, image bytes) for every row of a parquet shard that carries an image."""
    if ref.format != "parquet":
        return
    with _open(ref) as f:
        pf = pq.ParquetFile(f)
        col = _image_column(pf.schema_arrow)
        if col is None:
            return
        offset = 0
        for rg in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(rg, columns=[col])
            for i, v in enumerate(table.column(col).to_pylist()):
                b = _as_bytes(v)
                if b is not None:
                    yield offset + i, b
            offset += table.num_rows
