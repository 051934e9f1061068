"""Turn the user's INPUT arguments (files, folders, globs, fsspec URLs) into shards.

A shard id is readable and stable: the file's stem plus 8 hex of the SHA-256 of its full
canonical path, so two `part-00000.parquet` in different folders never collide and the same
file always gets the same id.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# In folders, `.json` files are usually sidecars (img2dataset `_stats.json`), not data.
FOLDER_FORMATS = {k: v for k, v in FORMATS.items() if k != ".json"}
_GLOB = re.compile(r"[*?\[]")


class InputError(ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    path: str  # absolute local path, or a full fsspec URL (s3://..., hf://..., https://...)
    format: str | None  # parquet | csv | tsv | jsonl; None when unknown (the shard fails)
    compression: str | None
    size: int | None
    shard_id: str

    @property
    def is_local(self) -> bool:
        return "://" not in self.path or self.path.startswith("file://")

    def open(self, mode: str = "rb"):  # -> binary file-like, decompressed
        if self.compression == "zstd":
            # fsspec's zstd file cannot readline(); a buffered zstandard reader can
            import io

            import zstandard

            raw = self.open_raw()
            dec = zstandard.ZstdDecompressor().stream_reader(
                raw, read_across_frames=True, closefd=True
            )
            return io.BufferedReader(dec, 1 << 20)
        return fsspec.open(self.path, mode, compression=self.compression).open()

    def open_raw(self):
        return fsspec.open(self.path, "rb").open()

    def to_json(self) -> dict:
        return asdict(self)


def detect_format(name: str) -> tuple[str | None, str | None]:
    """('parquet'|'csv'|'tsv'|'jsonl'|None, compression|None) from a file name."""
    lower = name.lower()
    comp = None
    for ext, c in COMPRESSIONS.items():
        if lower.endswith(ext):
            comp, lower = c, lower[: -len(ext)]
            break
    for ext, f in FORMATS.items():
        if lower.endswith(ext):
            return f, comp
    return None, comp


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    lower = base.lower()
    for ext in (*COMPRESSIONS, ""):
        if ext and lower.endswith(ext):
            base, lower = base[: -len(ext)], lower[: -len(ext)]
            break
    for ext in FORMATS:
        if lower.endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "shard"


def shard_id_for(path: str) -> str:
    return f"{_stem(path)}-{hashlib.sha256(path.encode('utf-8')).hexdigest()[:8]}"


def _canonical(fs: fsspec.AbstractFileSystem, path: str, original: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return os.path.abspath(path)
    return fs.unstrip_protocol(path)


def expand_inputs(inputs: list[str]) -> list[Shard]:
    """Every data file the inputs name, in a stable order, without duplicates."""
    shards: list[Shard] = []
    seen: set[str] = set()
    for inp in inputs:
        if "://" not in inp:
            inp = str(Path(inp).expanduser())
        try:
            fs, root = url_to_fs(inp)
        except (ImportError, ValueError) as e:
            raise InputError(f"{inp}: cannot open ({e})") from None
        if _GLOB.search(root):
            found = sorted(fs.glob(root))
            if not found:
                raise InputError(f"{inp}: the pattern matches no file")
            paths = [p for p in found if not fs.isdir(p)]
            explicit = True
        elif fs.isdir(root):
            paths = sorted(
                p
                for p in fs.find(root)
                if detect_format(p)[0] is not None
                and detect_format(p)[0] in FOLDER_FORMATS.values()
                and not p.lower().endswith((".json", ".json.gz"))
            )
            if not paths:
                raise InputError(f"{inp}: the folder has no parquet, CSV, TSV or JSONL file")
            explicit = False
        elif fs.exists(root):
            paths = [root]
            explicit = True
        else:
            raise InputError(f"{inp}: no such file or folder")
        for p in paths:
            fmt, comp = detect_format(p)
            if fmt is None and not explicit:
                continue
            canon = _canonical(fs, p, inp)
            if canon in seen:
                continue
            seen.add(canon)
            try:
                size = fs.size(p)
            except Exception:
                size = None
            shards.append(Shard(canon, fmt, comp, size, shard_id_for(canon)))
    ids = [s.shard_id for s in shards]
    if len(set(ids)) != len(ids):  # 8 hex digits of SHA-256: astronomically rare, but check
        raise InputError("shard id collision; rename one of the inputs")
    return shards
