"""Synthetic datasets and audit dirs in the scan's exact layout, for the release tests.

`make_audit` writes run.json / findings / stats the way `childguard scan` does (inputs come
from the real `open_shard`, hashes from the real `childguard.urls`), with findings chosen by
the test instead of by detectors, so the release logic is tested on known decisions.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from PIL import Image, ImageDraw

from childguard.engine.batch import FINDINGS_SCHEMA
from childguard.io.paths import expand_inputs, file_sha256
from childguard.io.readers import iter_batches, open_shard
from childguard.urls import laion_hash, url_sha256

FLAGS = {
    "a.parquet": {3: "child", 50: "identifiable_child", 119: "blocked", 7: "child"},
    "b.csv.gz": {9: "identifiable_child", 0: "child"},
    "c.csv": {1: "blocked"},
    "d.tsv": {24: "blocked"},
    "e.jsonl.zst": {5: "identifiable_child"},
}

RISK_ACTION = {"blocked": "remove", "identifiable_child": "remove", "child": "review"}


def rows(n: int, start: int = 0, tag: str = "") -> list[dict]:
    return [
        {
            "url": f"https://img{i % 7}.example.com/p/{tag}{i}.jpg",
            "caption": f'photo {i}, "quoted"' if i % 5 == 0 else f"photo number {i}",
            "width": 100 + i,
        }
        for i in range(start, start + n)
    ]


def write_laion_parquet(
    path: Path, n: int, row_group: int = 40, codec: str = "zstd", tag: str = ""
) -> pa.Table:
    r = rows(n, tag=tag)
    table = pa.table(
        {
            "URL": pa.array([x["url"] for x in r], pa.string()),
            "TEXT": pa.array([x["caption"] for x in r], pa.string()),
            "WIDTH": pa.array([x["width"] for x in r], pa.int32()),
            "similarity": pa.array(np.linspace(0.2, 0.4, n), pa.float32()),
            "hash": pa.array([laion_hash(x["url"], x["caption"]) for x in r], pa.int64()),
        }
    ).replace_schema_metadata({b"origin": b"synthetic"})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group, compression=codec)
    return table


def _open_w(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", newline="", encoding="utf-8")
    if path.name.endswith(".zst"):
        return io.TextIOWrapper(
            zstandard.ZstdCompressor().stream_writer(open(path, "wb")), "utf-8", newline=""
        )
    return open(path, "w", newline="", encoding="utf-8")


def write_csv(path: Path, n: int, header: bool = True, tag: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_w(path) as f:
        w = csv.writer(f, lineterminator="\r\n")
        if header:
            w.writerow(["url", "caption", "width"])
        for x in rows(n, tag=tag):
            cap = x["caption"] + ("\nsecond line" if x["width"] % 9 == 0 else "")
            w.writerow([x["url"], cap, x["width"]])


def write_tsv(path: Path, n: int, tag: str = "") -> None:
    """CC3M style: caption<TAB>url, no header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_w(path) as f:
        for x in rows(n, tag=tag):
            f.write(f"{x['caption']}\t{x['url']}\n")


def write_jsonl(path: Path, n: int, tag: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_w(path) as f:
        for i, x in enumerate(rows(n, tag=tag)):
            f.write(json.dumps({"url": x["url"], "text": x["caption"], "n": x["width"]}) + "\n")
            if i == 3:
                f.write("\n")  # a blank line is not a row


def make_audit(
    audit: Path, inputs: list[Path], flagged: dict[str, dict[int, str]] | None = None
) -> dict[str, str]:
    """Audit dir over `inputs`; flagged: {file name: {row_index: risk}}. -> {name: shard_id}."""
    flagged = flagged or {}
    shards = expand_inputs([str(p) for p in inputs])
    (audit / "findings").mkdir(parents=True, exist_ok=True)
    (audit / "stats").mkdir(parents=True, exist_ok=True)
    run_inputs, ids = [], {}
    for shard in shards:
        info = open_shard(shard)
        name = Path(shard.path).name
        ids[name] = shard.shard_id
        want = flagged.get(name, {})
        recs, n = [], 0
        for b in iter_batches(info):
            n += b.num_rows
            for ri, u, t in zip(
                b.column("row_index").to_pylist(),
                b.column("url").to_pylist(),
                b.column("text").to_pylist(),
                strict=True,
            ):
                if ri in want:
                    risk = want[ri]
                    recs.append(
                        {
                            "row_index": ri,
                            "url_sha256": url_sha256(u),
                            "laion_hash": laion_hash(u, t),
                            "risk": risk,
                            "action": RISK_ACTION[risk],
                            "rule": f"rule_{risk}",
                            "reasons": [
                                {
                                    "detector": "list_match" if risk == "blocked" else "terms",
                                    "version": "1",
                                    "label": "list:ncmec@3" if risk == "blocked" else "child",
                                    "score": 1.0,
                                    "threshold": 0.5,
                                    "evidence": "M. E.",
                                }
                            ],
                        }
                    )
        pq.write_table(
            pa.Table.from_pylist(recs, FINDINGS_SCHEMA),
            audit / "findings" / f"{shard.shard_id}.parquet",
        )
        counts = {"blocked": 0, "identifiable_child": 0, "child": 0, "clean": n - len(recs)}
        for r in recs:
            counts[r["risk"]] += 1
        (audit / "stats" / f"{shard.shard_id}.json").write_text(
            json.dumps(
                {
                    "shard_id": shard.shard_id,
                    "path": shard.path,
                    "format": shard.format,
                    "rows": n,
                    "risk_counts": counts,
                    "seconds": 0.0,
                    "errors": [],
                    "status": "ok",
                    "sha256": file_sha256(shard.path),  # as a real scan records it
                }
            )
        )
        run_inputs.append(info.to_json())
    (audit / "run.json").write_text(
        json.dumps(
            {
                "tool": "childguard",
                "tool_version": "0.1.0",
                "status": "finished",
                "config": {},
                "config_hash": "cfg123",
                "policy": {},
                "policy_hash": "pol456",
                "detectors": [],
                "inputs": run_inputs,
            }
        )
    )
    return ids


def decisions_frame(rows_: list[tuple[str, int, str | None, str, str | None]]) -> pl.DataFrame:
    """(shard_id, row_index, url_sha256, decision, request_id) -> the registry's frame shape."""
    return pl.DataFrame(
        rows_,
        schema={
            "shard_id": pl.String,
            "row_index": pl.Int64,
            "url_sha256": pl.String,
            "decision": pl.String,
            "request_id": pl.String,
        },
        orient="row",
    )


# ------------------------------------------------------------------------------------------
# img2dataset layouts with drawn images


def drawn_jpeg(i: int) -> bytes:
    img = Image.new("RGB", (32, 24), (i * 37 % 256, i * 91 % 256, 120))
    ImageDraw.Draw(img).rectangle([i % 10, 3, 20, 18], fill=(255, 255 - i % 200, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def img2dataset_shard(
    folder: Path, shard_no: int, urls: list[str], captions: list[str], fmt: str = "webdataset"
) -> None:
    """One img2dataset output shard: NNNNN.tar (or NNNNN/ files), .parquet and _stats.json.

    Every 4th URL failed to download: it is in the parquet, not among the samples."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{shard_no:05d}"
    recs = []
    members: list[tuple[str, bytes]] = []
    for i, (u, c) in enumerate(zip(urls, captions, strict=True)):
        key = f"{shard_no:05d}{i:04d}"
        ok = i % 4 != 3
        rec = {
            "url": u,
            "caption": c,
            "key": key,
            "status": "success" if ok else "failed_to_download",
            "error_message": None if ok else "HTTP 404",
            "width": 32 if ok else None,
            "height": 24 if ok else None,
        }
        recs.append(rec)
        if ok:
            members += [
                (f"{key}.jpg", drawn_jpeg(shard_no * 100 + i)),
                (f"{key}.txt", c.encode()),
                (f"{key}.json", json.dumps(rec).encode()),
            ]
    pq.write_table(pa.Table.from_pylist(recs), folder / f"{stem}.parquet")
    if fmt == "webdataset":
        with tarfile.open(folder / f"{stem}.tar", "w") as tf:
            for name, data in members:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mtime = len(data), 1_700_000_000
                tf.addfile(ti, io.BytesIO(data))
    else:
        (folder / stem).mkdir(exist_ok=True)
        for name, data in members:
            (folder / stem / name).write_bytes(data)
    ok_n = sum(r["status"] == "success" for r in recs)
    (folder / f"{stem}_stats.json").write_text(
        json.dumps(
            {
                "count": len(recs),
                "successes": ok_n,
                "failed_to_download": len(recs) - ok_n,
                "failed_to_resize": 0,
                "duration": 1.5,
                "status_dict": {"success": ok_n, "HTTP 404": len(recs) - ok_n},
            },
            indent=4,
        )
    )
