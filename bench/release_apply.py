"""Throughput of `childguard apply` (and the release rewrite it shares) next to a plain copy.

Builds a synthetic LAION-like parquet shard set and img2dataset-style webdataset tars (random
payload bytes stand in for images: the purge never decodes them), a manifest removing ~1% of
the URLs, then times, each in a fresh subprocess (so peak RSS is its own):

  copy     shutil.copyfile of the same files: the floor
  apply    `apply_manifest(..., out=DIR)`: rows/s for parquet, MB/s for tars

Wall and CPU time are both reported: on a shared machine the CPU rate is the steadier one.

    python bench/release_apply.py --rows 1000000 --tar-mb 200
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from childguard.release.manifest import MANIFEST_SCHEMA
from childguard.urls import laion_hash, sha256_hex


def make_parquet(out: Path, rows: int, files: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    per = rows // files
    removed: list[str] = []
    for f in range(files):
        ids = np.arange(f * per, (f + 1) * per)
        urls = [f"https://img{i % 97}.example.com/p/{i:09d}/photo.jpg" for i in ids.tolist()]
        texts = [f"product photo number {i} on white background" for i in ids.tolist()]
        table = pa.table(
            {
                "URL": urls,
                "TEXT": texts,
                "WIDTH": rng.integers(64, 2048, per, dtype=np.int32),
                "HEIGHT": rng.integers(64, 2048, per, dtype=np.int32),
                "similarity": rng.random(per, dtype=np.float32),
                "hash": [laion_hash(u, t) for u, t in zip(urls, texts, strict=True)],
            }
        )
        pq.write_table(table, out / f"part-{f:05d}.parquet", row_group_size=100_000)
        pick = rng.random(per) < 0.01
        removed += [u for u, p in zip(urls, pick.tolist(), strict=True) if p]
    return removed


def make_tars(out: Path, total_mb: int, seed: int) -> list[str]:
    """img2dataset-like shards: 10k samples max, ~40 KB payload each, .jpg/.txt/.json."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    samples = max(1, total_mb * 1024 // 40)
    per_shard = 2500
    removed: list[str] = []
    for s in range(0, samples, per_shard):
        shard = s // per_shard
        recs = []
        with tarfile.open(out / f"{shard:05d}.tar", "w") as tf:
            for i in range(s, min(samples, s + per_shard)):
                key = f"{shard:05d}{i - s:04d}"
                url = f"https://cdn.example.net/i/{i:09d}.jpg"
                rec = {"url": url, "caption": f"photo {i}", "key": key, "status": "success"}
                recs.append({**rec, "error_message": None})
                for ext, data in (
                    ("jpg", rng.bytes(int(rng.integers(30_000, 50_000)))),
                    ("txt", rec["caption"].encode()),
                    ("json", json.dumps(rec).encode()),
                ):
                    ti = tarfile.TarInfo(f"{key}.{ext}")
                    ti.size = len(data)
                    tf.addfile(ti, io.BytesIO(data))
                if rng.random() < 0.01:
                    removed.append(url)
        pq.write_table(pa.Table.from_pylist(recs), out / f"{shard:05d}.parquet")
        (out / f"{shard:05d}_stats.json").write_text(
            json.dumps({"count": len(recs), "successes": len(recs), "status_dict": {}})
        )
    return removed


def write_manifest(path: Path, urls: list[str]) -> None:
    hashes = [sha256_hex(u) for u in urls]  # the URLs here are already normal
    table = pa.table(
        {
            "url_sha256": hashes,
            "laion_hash": pa.nulls(len(hashes), pa.int64()),
            "reason": ["blocked"] * len(hashes),
            "source": ["bench"] * len(hashes),
            "removed_in": ["bench"] * len(hashes),
        },
        schema=MANIFEST_SCHEMA,
    )
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path / "manifest.parquet")


CHILD = """
import shutil, sys, time, json
from pathlib import Path
mode, src, dst, man = sys.argv[1:5]
from childguard.release.apply import apply_manifest
t0, c0 = time.perf_counter(), time.process_time()
if mode == "copy":
    for p in sorted(Path(src).rglob("*")):
        if p.is_file():
            q = Path(dst) / p.relative_to(src)
            q.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, q)
else:
    apply_manifest(man, [src], out=dst)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (big) parent
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(json.dumps({"seconds": dt, "cpu": cpu, "rss_mb": int(hwm) / 1024}))
"""


def timed(mode: str, src: Path, dst: Path, man: Path) -> dict:
    shutil.rmtree(dst, ignore_errors=True)
    res = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(src), str(dst), str(man)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "POLARS_MAX_THREADS": "1"},
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=2)
    ap.add_argument("--tar-mb", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("bench/out/release_apply"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    root = a.out
    t0 = time.perf_counter()
    rm_pq = make_parquet(root / "parquet", a.rows, a.files, a.seed)
    rm_tar = make_tars(root / "tars", a.tar_mb, a.seed)
    write_manifest(root / "rel", rm_pq + rm_tar)
    print(f"generated in {time.perf_counter() - t0:.1f}s; manifest {len(rm_pq) + len(rm_tar)}")
    results = []
    for name, src, unit_count in (
        ("parquet", root / "parquet", a.rows),
        ("tars", root / "tars", None),
    ):
        mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 2**20
        for mode in ("copy", "apply"):
            r = timed(mode, src, root / f"out-{name}-{mode}", root / "rel")

            def rate(sec: float, mb=mb, unit_count=unit_count) -> str:
                if unit_count:
                    return f"{unit_count / sec / 1e6:.2f} M rows/s"
                return f"{mb / sec:.0f} MB/s"

            results.append(
                (
                    name,
                    mode,
                    mb,
                    r["seconds"],
                    rate(r["seconds"]),
                    r["cpu"],
                    rate(r["cpu"]),
                    r["rss_mb"],
                )
            )
    print(
        f"{'input':8} {'mode':6} {'MB':>7} {'wall s':>7} {'wall rate':>15} {'CPU s':>7} "
        f"{'CPU rate':>15} {'peak RSS':>9}"
    )
    for name, mode, mb, s, rate_w, cpu, rate_c, rss in results:
        print(
            f"{name:8} {mode:6} {mb:7.1f} {s:7.2f} {rate_w:>15} {cpu:7.2f} {rate_c:>15} "
            f"{rss:6.0f} MB"
        )


if __name__ == "__main__":
    main()
