"""Synthetic rows and shard writers shared by the tests (imported as `datagen`)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import zstandard


def make_rows(n: int, start: int = 0) -> list[tuple[str, str]]:
    """Deterministic rows; every 7th mentions a girl, every 50th a school."""
    rows = []
    for i in range(start, start + n):
        if i % 50 == 0:
            text = f"girl at school number {i}"
        elif i % 7 == 0:
            text = f"little girl with kite {i}"
        else:
            text = f"mountain landscape {i}"
        rows.append((f"https://example.org/img/{i}.jpg", text))
    return rows


def write_jsonl(path: Path, records: list[dict], compression: str | None = None) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if compression == "gzip":
        data = gzip.compress(data, mtime=0)
    elif compression == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def cli_cmd(*args: object) -> list[str]:
    """The `childguard` command line as a subprocess argument list."""
    import sys

    return [sys.executable, "-m", "childguard.cli", *(str(a) for a in args)]
