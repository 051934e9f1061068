"""The URL index: every scanned row's URL key (and LAION hash) -> (shard, row), for lookups
that read one small file instead of the dataset.

    AUDIT/index/index.json              shards (their ids are positions here), rows, layout
    AUDIT/index/url/<hex prefix>.parquet      key u64, shard u32, row u32; sorted by key
    AUDIT/index/laion/<hex prefix>.parquet    laion_u64, shard u32, row u32 (shards with `hash`)
    AUDIT/index/_shards/<shard-id>[.laion].parquet   per-shard parts while building

The key is the first 8 bytes (big-endian) of SHA-256 of the row URL's `urls.list_key`, the
normalised form a guardian's URL is matched with, so a URL spelt another way still finds its
row. 8 bytes are enough because every hit is checked against the row itself before it becomes
a task (a wrong hit, ~N/2^64 per lookup, is dropped there). Partitions are named by the key's
leading hex digits, as many as keep each near 100k rows (16^L partitions for N rows), so one
lookup reads one ~1 MB file.

Building is a job over shards (one part per shard, written atomically: the resume marker),
then one compaction that groups the parts by prefix range with Polars (row-group statistics
of the sorted parts skip what a range does not need). `index.json` is written last; an index
without it, or made from other shards than the audit's, is not used.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from childguard.io.atomic import write_json_atomic, write_parquet_atomic
from childguard.registry.source import ShardRef, iter_rows, load_inputs
from childguard.release.faults import checkpoint
from childguard.urls import list_key, list_key_column

INDEX_VERSION = 1
KEY_FORM = "sha256(urls.list_key sb1)[:8] big-endian"
TARGET_PARTITION_ROWS = 131_072
COMPACT_CHUNK_ROWS = 8_000_000  # rows held in memory at once while compacting (~200 MB)


class UrlIndexError(RuntimeError):
    """An index that cannot be built or read (names the file)."""
    pass


def url_keys(urls: pl.Series) -> np.ndarray:
    """uint64 index key of every URL (0 for a null or blank URL, which is never looked up)."""
    keys = list_key_column(urls).cast(pl.Binary).to_list()
    sha = hashlib.sha256
    zero = bytes(8)
    blob = b"".join([zero if k is None else sha(k).digest()[:8] for k in keys])
    return np.frombuffer(blob, dtype=">u8").astype(np.uint64)


def key_of(url: str) -> int | None:
    """The index key of one URL (None when it has no list key)."""
    k = list_key(url)
    if not k:
        return None
    return int.from_bytes(hashlib.sha256(k.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def prefix_digits(rows: int) -> int:
    """Hex digits in partition names for an index of `rows` rows (1 to 4)."""
    parts = max(1, rows / TARGET_PARTITION_ROWS)
    return max(1, min(4, math.ceil(math.log(parts, 16)))) if parts > 1 else 1


@dataclass(frozen=True)
class IndexLayout:
    """Paths under `AUDIT/index/`."""

    root: Path

    @classmethod
    def of(cls, audit_dir: Path) -> IndexLayout:
        """The index folder of an audit."""
        return cls(Path(audit_dir) / "index")

    @property
    def meta(self) -> Path:
        """`index.json`: written last, the index's completion marker."""
        return self.root / "index.json"

    def part(self, shard_id: str, kind: str = "url") -> Path:
        """A shard's part (`kind` url or laion) while the index is being built."""
        suffix = "" if kind == "url" else f".{kind}"
        return self.root / "_shards" / f"{shard_id}{suffix}.parquet"

    def partition(self, kind: str, prefix: int, digits: int) -> Path:
        """One partition file of the finished index."""
        return self.root / kind / f"{prefix:0{digits}x}.parquet"


def index_shard(layout: IndexLayout, ref: ShardRef) -> dict[str, Any]:
    """Write one shard's sorted part(s); returns {shard_id, rows, laion}. Skips a shard whose
    part is already there (the job's resume)."""
    url_part, laion_part = layout.part(ref.shard_id), layout.part(ref.shard_id, "laion")
    if url_part.exists():
        meta = pq.read_metadata(url_part)
        return {"shard_id": ref.shard_id, "rows": meta.num_rows, "laion": laion_part.exists()}
    keys, rows, laion = [], [], []
    has_laion = True
    for batch in iter_rows(ref):
        df = pl.from_arrow(batch.select(["row_index", "url"]))
        assert isinstance(df, pl.DataFrame)
        keys.append(url_keys(df["url"]))
        rows.append(df["row_index"].to_numpy().astype(np.int64))
        if has_laion and "laion_hash" in batch.column_names:
            col = pl.Series(batch.column("laion_hash")).cast(pl.Int64)
            if col.null_count():
                has_laion = False  # a partial hash column cannot answer a lookup
            else:
                laion.append(col.to_numpy())
        else:
            has_laion = False
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if len(row) and row.max() >= 2**32:
        raise UrlIndexError(f"{ref.path}: more than 2^32 rows in one shard")
    if has_laion and laion:
        lh = np.concatenate(laion).view(np.uint64)
        order = np.argsort(lh, kind="stable")
        t = pa.table({"laion_u64": lh[order], "row": row[order].astype(np.uint32)})
        write_parquet_atomic(laion_part, t, row_group_size=65_536)
    else:
        has_laion = False
        laion_part.unlink(missing_ok=True)
    valid = key != 0
    order = np.argsort(key[valid], kind="stable")
    t = pa.table({"key": key[valid][order], "row": row[valid][order].astype(np.uint32)})
    # the url part is written last: its presence marks the shard done
    write_parquet_atomic(url_part, t, row_group_size=65_536)
    checkpoint("index_shard_done")
    return {"shard_id": ref.shard_id, "rows": len(row), "laion": has_laion}


def compact(layout: IndexLayout, refs: list[ShardRef], parts: list[dict[str, Any]]) -> dict:
    """Group the shards' parts into prefix partitions and write `index.json` (last)."""
    rows = sum(p["rows"] for p in parts)
    digits = prefix_digits(rows)
    for kind in ("url", "laion"):
        shutil.rmtree(layout.root / kind, ignore_errors=True)
    sizes = {"url": 0, "laion": 0}
    for kind, col in (("url", "key"), ("laion", "laion_u64")):
        files = [
            (i, layout.part(p["shard_id"], kind))
            for i, p in enumerate(parts)
            if kind == "url" or p["laion"]
        ]
        if not files:
            continue
        n = sum(pq.read_metadata(f).num_rows for _, f in files)
        sizes[kind] = _compact_kind(layout, kind, col, files, n, digits)
    meta = {
        "version": INDEX_VERSION,
        "key": KEY_FORM,
        "prefix_digits": digits,
        "rows": rows,
        "bytes": sizes,
        "shards": [
            {"shard_id": r.shard_id, "size": r.size, "rows": p["rows"], "laion": p["laion"]}
            for r, p in zip(refs, parts, strict=True)
        ],
    }
    write_json_atomic(layout.meta, meta)
    shutil.rmtree(layout.root / "_shards", ignore_errors=True)
    return meta


def _compact_kind(
    layout: IndexLayout, kind: str, col: str, files: list[tuple[int, Path]], n: int, digits: int
) -> int:
    nparts = 16**digits
    shift = 64 - 4 * digits
    chunks = max(1, min(nparts, math.ceil(n / COMPACT_CHUNK_ROWS)))
    frame = pl.concat(
        [pl.scan_parquet(f).with_columns(shard=pl.lit(i, pl.UInt32)) for i, f in files]
    )
    written = 0
    for c in range(chunks):
        lo_p, hi_p = c * nparts // chunks, (c + 1) * nparts // chunks
        cond = pl.col(col) >= pl.lit(lo_p << shift, pl.UInt64)
        if hi_p < nparts:
            cond = cond & (pl.col(col) < pl.lit(hi_p << shift, pl.UInt64))
        chunk = frame.filter(cond).collect().sort(col, "shard", "row")
        if not chunk.height:
            continue
        chunk = chunk.with_columns(_p=(pl.col(col) // pl.lit(1 << shift, pl.UInt64)).cast(pl.UInt32))
        for (p,), part in chunk.partition_by("_p", as_dict=True, maintain_order=True).items():
            path = layout.partition(kind, int(p), digits)  # type: ignore[arg-type]
            write_parquet_atomic(path, part.drop("_p").select(col, "shard", "row").to_arrow())
            written += path.stat().st_size
    return written


class UrlIndex:
    """A finished index, opened for lookups."""

    def __init__(self, layout: IndexLayout, meta: dict[str, Any]) -> None:
        self.layout = layout
        self.meta = meta
        self.digits = int(meta["prefix_digits"])
        self.shard_ids = [s["shard_id"] for s in meta["shards"]]

    @classmethod
    def open(cls, audit_dir: Path) -> UrlIndex | None:
        """The audit's index, or None when it has none (or one still being built)."""
        layout = IndexLayout.of(audit_dir)
        try:
            meta = json.loads(layout.meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise UrlIndexError(f"{layout.meta}: unreadable ({e})") from None
        if meta.get("version") != INDEX_VERSION or meta.get("key") != KEY_FORM:
            return None
        return cls(layout, meta)

    def covers(self, refs: dict[str, ShardRef]) -> bool:
        """True when the index was built from exactly these shards (same sizes)."""
        mine = {s["shard_id"]: s.get("size") for s in self.meta["shards"]}
        return mine == {sid: r.size for sid, r in refs.items()}

    def _lookup(self, kind: str, col: str, values: list[int]) -> pl.DataFrame:
        out: list[pl.DataFrame] = []
        shift = 64 - 4 * self.digits
        wanted = np.unique(np.array(values, dtype=np.uint64))
        for p in np.unique(wanted >> np.uint64(shift)):
            path = self.layout.partition(kind, int(p), self.digits)
            if not path.exists():
                continue
            with pq.ParquetFile(path) as f:
                t = f.read()
            keys = t.column(col).to_numpy()
            q = wanted[(wanted >> np.uint64(shift)) == p]
            lo = np.searchsorted(keys, q, side="left")
            hi = np.searchsorted(keys, q, side="right")
            idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
            if not len(idx):
                continue
            sel = t.take(pa.array(idx.astype(np.int64)))
            out.append(pl.from_arrow(sel))  # type: ignore[arg-type]
        if not out:
            return pl.DataFrame(schema={col: pl.UInt64, "shard_id": pl.String, "row_index": pl.Int64})
        df = pl.concat(out)
        ids = dict(enumerate(self.shard_ids))
        return df.select(
            col,
            shard_id=pl.col("shard").replace_strict(ids, return_dtype=pl.String),
            row_index=pl.col("row").cast(pl.Int64),
        )

    def lookup_keys(self, keys: list[int]) -> pl.DataFrame:
        """(key, shard_id, row_index) of every row with one of these keys (`key_of`)."""
        return self._lookup("url", "key", keys)

    def lookup_url(self, url: str) -> list[tuple[str, int]]:
        """(shard_id, row_index) of rows whose URL has this URL's key; hits are candidates
        (see the module doc): callers check the row before acting on it."""
        k = key_of(url)
        if k is None:
            return []
        df = self.lookup_keys([k])
        return sorted(zip(df["shard_id"].to_list(), df["row_index"].to_list(), strict=True))

    def lookup_laion(self, hashes: list[int]) -> pl.DataFrame:
        """(laion_hash, shard_id, row_index) of rows with these LAION hashes (signed int64)."""
        u = [h & (2**64 - 1) for h in hashes]
        df = self._lookup("laion", "laion_u64", u)
        return df.select(
            laion_hash=pl.col("laion_u64").reinterpret(signed=True), shard_id="shard_id", row_index="row_index"
        )


def build_index(
    audit_dir: Path,
    *,
    engine: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Build (or finish building) the audit's URL index; returns its `index.json`."""
    from childguard.registry.jobs import map_shards

    refs = load_inputs(audit_dir)
    if not refs:
        raise UrlIndexError(f"{Path(audit_dir) / 'run.json'}: no scanned shards to index")
    layout = IndexLayout.of(audit_dir)
    layout.meta.unlink(missing_ok=True)  # the old index is not valid while this one builds
    (layout.root / "_shards").mkdir(parents=True, exist_ok=True)
    jobs = [(r,) for r in refs.values()]
    parts = list(
        map_shards(
            index_shard,
            jobs,
            layout,
            engine=engine,
            workers=workers,
            ray_address=ray_address,
            shared_dir=layout.root,
        )
    )
    return compact(layout, list(refs.values()), parts)


__all__ = [
    "IndexLayout",
    "UrlIndex",
    "UrlIndexError",
    "build_index",
    "compact",
    "index_shard",
    "key_of",
    "prefix_digits",
    "url_keys",
]
