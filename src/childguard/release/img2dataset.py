"""Purge img2dataset outputs: webdataset `.tar` shards and `files` folders, with companions.

img2dataset writes, per shard `NNNNN`: the samples (`NNNNN.tar`, or a folder `NNNNN/`) holding
`<key>.jpg`, `<key>.txt`, `<key>.json` per sample; `NNNNN.parquet` with one row per input row
(successes and failures, `url`, `key`, `status`, `error_message`); and `NNNNN_stats.json`.

A sample is removed when the URL (or LAION `hash`) in its `.json` sidecar, or in its parquet
row, matches the manifest. Every member of a removed sample goes. Tars are read twice: once for
headers and sidecars (payloads skipped by seeking), once to copy the kept members as raw byte
ranges (headers included), so they are byte-identical; memory holds one shard's member list.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from childguard.release.matcher import Matcher
from childguard.release.tarscan import member_spans

URL_KEYS = ("url", "URL")
HASH_KEYS = ("hash",)


def sample_key(member_name: str) -> str | None:
    """The img2dataset sample key of a member or file name (path + stem), or None."""
    base = member_name.rsplit("/", 1)[-1]
    if not base or base.startswith(".") or "." not in base:
        return None
    return member_name[: len(member_name) - len(base)] + base.split(".", 1)[0]


class SidecarError(ValueError):
    """A sample whose `.json` sidecar cannot be read: nobody can tell whether it is removed."""


def _sidecar_fields(raw: bytes) -> tuple[str | None, int | None]:
    try:
        obj = json.loads(raw)
    except ValueError:
        raise SidecarError("not JSON") from None
    if not isinstance(obj, dict):
        raise SidecarError("not a JSON object")
    url = next((obj[k] for k in URL_KEYS if isinstance(obj.get(k), str)), None)
    h = next((obj[k] for k in HASH_KEYS if isinstance(obj.get(k), int)), None)
    return url, h


def _match_keys(
    keys: list[str], urls: list[str | None], hashes: list[int | None], m: Matcher
) -> tuple[set[str], set[str]]:
    """(keys whose URL/hash the manifest matches, those of them only `held` entries match)."""
    if not keys:
        return set(), set()
    u, h = pl.Series(urls, dtype=pl.String), pl.Series(hashes, dtype=pl.Int64)
    hit = m.match(u, h)
    matched = {k for k, x in zip(keys, hit.tolist(), strict=True) if x}
    return matched, _held(keys, u, h, hit, m)


def _held(keys, urls: pl.Series, hashes: pl.Series | None, hit: np.ndarray, m: Matcher) -> set:
    """Keys of the hit rows that only `held` entries match (none when nothing is held)."""
    if m.held_urls is None or not hit.any():
        return set()
    mask = pl.Series(hit)
    only = m.held_only(urls.filter(mask), hashes.filter(mask) if hashes is not None else None)
    hit_keys = [k for k, x in zip(keys, hit.tolist(), strict=True) if x]
    return {k for k, x in zip(hit_keys, only.tolist(), strict=True) if x and k is not None}


def held_samples(
    removed: set[str], matched: set[str], held: set[str], extra: set[str], extra_held: set[str]
) -> set[str]:
    """Removed samples that every match says are only held for review (sidecar and row)."""
    return {
        k
        for k in removed
        if (k not in matched or k in held) and (k not in extra or k in extra_held)
    }


def companion_keys(
    parquet: Path | None, matcher: Matcher
) -> tuple[set[str], set[str], set[str]]:
    """(every sample key the companion parquet has a row for, the keys of those rows whose
    URL/hash matches, those of them only `held` entries match), in one read. A known key is
    decided by its row even when its sidecar is missing or unreadable."""
    if parquet is None or not parquet.exists():
        return set(), set(), set()
    pf = pq.ParquetFile(parquet)
    names = pf.schema_arrow.names
    if "key" not in names:
        return set(), set(), set()
    url_col = next((c for c in URL_KEYS if c in names), None)
    hash_col = "hash" if "hash" in names else None
    cols = ["key"] + [c for c in (url_col, hash_col) if c]
    known: set[str] = set()
    removed: set[str] = set()
    held: set[str] = set()
    for b in pf.iter_batches(columns=cols, batch_size=65_536):
        keys = pl.Series(b.column("key")).cast(pl.String)
        known.update(k for k in keys.to_list() if k is not None)
        urls = pl.Series(b.column(url_col)).cast(pl.String) if url_col else None
        hashes = pl.Series(b.column(hash_col)) if hash_col else None
        hit = matcher.match(urls, hashes)
        if hit.any():
            removed.update(k for k in keys.filter(pl.Series(hit)).to_list() if k is not None)
            if urls is not None:
                held.update(_held(keys.to_list(), urls, hashes, hit, matcher))
    return known, removed, held


@dataclass
class TarScan:
    """Pass 1 over a tar: where each member's bytes are (header included) and its sample."""

    spans: list[tuple[str | None, int, int]]  # (sample key, start, end) in file order
    removed: set[str]
    samples: int
    held: set[str] = field(default_factory=set)  # of `removed`, samples only held for review


def scan_tar(
    path: Path,
    matcher: Matcher,
    extra: set[str],
    known: frozenset[str] | set[str] = frozenset(),
    extra_held: frozenset[str] | set[str] = frozenset(),
) -> TarScan:
    """Walk the headers (payloads skipped), read the `.json` sidecars, match them."""
    keys: list[str] = []
    urls: list[str | None] = []
    hashes: list[int | None] = []
    samples: set[str] = set()
    unreadable: list[str] = []
    spans: list[tuple[str | None, int, int]] = []
    with open(path, "rb") as f:
        for sp in member_spans(path):
            k = sample_key(sp.name) if sp.is_file else None
            spans.append((k, sp.start, sp.end))
            if k is None:
                continue
            samples.add(k)
            if sp.name.endswith(".json"):
                f.seek(sp.data)
                try:
                    u, h = _sidecar_fields(f.read(sp.size))
                except SidecarError:
                    unreadable.append(k)
                    continue
                keys.append(k)
                urls.append(u)
                hashes.append(h)
    matched, held = _match_keys(keys, urls, hashes, matcher)
    removed = matched | (extra & samples)
    _refuse_unreadable(path, unreadable, removed | set(known))
    return TarScan(
        spans, removed, len(samples), held_samples(removed, matched, held, extra, set(extra_held))
    )


def _refuse_unreadable(where: Path, unreadable: list[str], decided: set[str]) -> None:
    """A sample whose sidecar cannot be read is undecided unless the companion parquet has
    its row (and so decided it); kept blindly, it could be a row the manifest removes."""
    left = [k for k in unreadable if k not in decided]
    if left:
        raise SidecarError(
            f"{where}: {len(left)} sample(s) with an unreadable .json sidecar (first: key "
            f"{left[0]}): cannot tell whether they are to be removed; left untouched"
        )


def write_tar_without(src: Path, dest: Path, scan: TarScan) -> tuple[int, int]:
    """Copy `src` minus every member of the removed samples -> (members kept, dropped).

    Kept members are copied as raw byte ranges (header blocks, long-name/PAX headers and
    padded payload), so they are byte-identical to the original, and the copy runs at disk
    speed; then the end-of-archive blocks, padded to tar's 10240-byte records."""
    kept = dropped = 0
    runs: list[list[int]] = []
    for k, start, end in scan.spans:
        if k is not None and k in scan.removed:
            dropped += 1
            continue
        kept += 1
        if runs and runs[-1][1] == start:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    written = 0
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        for start, end in runs:
            fin.seek(start)
            left = end - start
            while left:
                chunk = fin.read(min(left, 4 << 20))
                if not chunk:
                    raise OSError(f"{src}: truncated tar (member at byte {start})")
                fout.write(chunk)
                left -= len(chunk)
            written += end - start
        tail = 1024
        total = written + tail
        tail += (-total) % tarfile.RECORDSIZE
        fout.write(b"\0" * tail)
    return kept, dropped


def folder_samples(folder: Path) -> dict[str, list[Path]]:
    """A `files`-format folder's sample files, grouped by sample key."""
    samples: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        # links count as sample files (copied as links, removed with their sample)
        if (p.is_file() or p.is_symlink()) and not p.name.startswith("."):
            k = sample_key(p.name)
            if k is not None:
                samples.setdefault(k, []).append(p)
    return samples


def folder_removed_keys(
    samples: dict[str, list[Path]],
    matcher: Matcher,
    extra: set[str],
    known: frozenset[str] | set[str] = frozenset(),
    extra_held: frozenset[str] | set[str] = frozenset(),
) -> tuple[set[str], set[str]]:
    """(keys of a folder's samples whose sidecar URL/hash matches, plus `extra`; those of
    them only held for review)."""
    keys, urls, hashes = [], [], []
    unreadable: list[str] = []
    for k, files in samples.items():
        side = next((p for p in files if p.name.endswith(".json")), None)
        if side is None:
            continue
        try:
            if side.is_symlink():  # never read through a link out of the target
                raise SidecarError("a symbolic link")
            u, h = _sidecar_fields(side.read_bytes())
        except SidecarError:
            unreadable.append(k)
            continue
        keys.append(k)
        urls.append(u)
        hashes.append(h)
    matched, held = _match_keys(keys, urls, hashes, matcher)
    removed = matched | (extra & set(samples))
    if unreadable:
        _refuse_unreadable(next(iter(samples.values()))[0].parent, unreadable, removed | set(known))
    return removed, held_samples(removed, matched, held, extra, set(extra_held))


def recount_stats(stats: dict, parquet: Path, removed_rows: set[int]) -> dict:
    """img2dataset stats recomputed from the companion parquet minus removed rows.

    Derived from the parquet (not decremented), so a re-run after a kill gives the same
    numbers. Only fields img2dataset wrote are updated."""
    pf = pq.ParquetFile(parquet)
    names = pf.schema_arrow.names
    if "status" not in names:
        return stats
    cols = ["status"] + (["error_message"] if "error_message" in names else [])
    df = pl.from_arrow(pf.read(columns=cols))
    assert isinstance(df, pl.DataFrame)
    if removed_rows:
        df = df.with_row_index("_i").filter(~pl.col("_i").is_in(sorted(removed_rows))).drop("_i")
    new = dict(stats)
    status = df["status"]
    upd = {
        "count": df.height,
        "successes": int((status == "success").sum()),
        "failed_to_download": int((status == "failed_to_download").sum()),
        "failed_to_resize": int((status == "failed_to_resize").sum()),
    }
    for k, v in upd.items():
        if k in new:
            new[k] = v
    if "status_dict" in new:
        label = (
            pl.when(pl.col("status") == "success")
            .then(pl.lit("success"))
            .otherwise(
                pl.coalesce(
                    pl.col("error_message") if "error_message" in df.columns else pl.lit(None),
                    pl.col("status"),
                )
            )
        )
        counts = df.select(label.alias("l"))["l"].value_counts()
        new["status_dict"] = {str(k): int(v) for k, v in sorted(counts.rows(), key=str)}
    return new
