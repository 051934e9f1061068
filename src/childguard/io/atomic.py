"""Atomic writes: a file appears under its final name complete or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to `path` atomically (temp file, then rename)."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented, key-sorted UTF-8 JSON to `path` atomically."""
    data = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    write_bytes_atomic(path, data.encode("utf-8"))


def write_parquet_atomic(path: str | Path, table: pa.Table, **kwargs: Any) -> None:
    """Deterministic parquet: same table in, same bytes out (no timestamps in metadata)."""
    kwargs.setdefault("compression", "zstd")
    kwargs.setdefault("write_statistics", True)
    with atomic_write(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def clean_stale_temps(folder: Path) -> int:
    """Remove temp files a killed run left behind; they are never read."""
    n = 0
    if folder.is_dir():
        for p in folder.rglob(".*.tmp-*"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n
