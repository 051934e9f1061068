"""Bounded load test of `childguard serve` on localhost.

Starts the server in its own process on a free port (over a synthetic audit: one parquet shard,
its findings and run.json), then sends N requests from C concurrent httpx clients: removal
requests (POST /api/requests, each then matched in the background against the shard), status
lookups (GET /api/requests/{token}) and public pages. Reports lost requests (no answer), 5xx,
status counts, p50/p95/p99 latency and requests per second.

    .venv/bin/python bench/web_load.py --requests 1000 --concurrency 50

Rate limiting is off by default here (`--no-rate-limit`): every client is 127.0.0.1, so the
per-IP buckets would answer 429 to almost everything. `--rate-limit` keeps it on, to check that
the limiter sheds load with 429s and never with 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def make_audit(root: Path, rows: int) -> Path:
    from childguard.engine.batch import FINDINGS_SCHEMA
    from childguard.urls import url_sha256

    data = root / "data"
    data.mkdir(parents=True)
    urls = [f"https://img{i % 97}.example.org/p/{i}/photo-{i}.jpg" for i in range(rows)]
    texts = [
        f"kid number {i} at the park" if i % 10 == 0 else f"landscape {i}" for i in range(rows)
    ]
    shard = data / "part-0.parquet"
    pq.write_table(pa.table({"url": urls, "caption": texts}), shard)
    audit = root / "audit"
    (audit / "findings").mkdir(parents=True)
    flagged = list(range(0, rows, 10))
    pq.write_table(
        pa.table(
            {
                "row_index": flagged,
                "url_sha256": [url_sha256(urls[i]) for i in flagged],
                "laion_hash": [0] * len(flagged),
                "risk": ["child"] * len(flagged),
                "action": ["review"] * len(flagged),
                "rule": ["child_terms"] * len(flagged),
                "reasons": [[] for _ in flagged],
            },
            schema=FINDINGS_SCHEMA,
        ),
        audit / "findings" / "part-0-bench.parquet",
    )
    run = {
        "inputs": [
            {
                "shard_id": "part-0-bench",
                "path": str(shard.resolve()),
                "format": "parquet",
                "compression": None,
                "size": shard.stat().st_size,
                "columns": {"url": "url", "text": "caption"},
                "convention": "custom",
            }
        ]
    }
    (audit / "run.json").write_text(json.dumps(run))
    return audit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(audit: Path, port: int, rate_limit: bool) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "childguard.cli",
        "serve",
        "--audit",
        str(audit),
        "--port",
        str(port),
    ]
    if not rate_limit:
        cmd.append("--no-rate-limit")
    log = open(audit / "serve.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {audit / 'serve.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


async def run_load(base: str, total: int, concurrency: int, rows: int, seed: int) -> dict:
    rnd = random.Random(seed)
    tokens: list[str] = []
    latencies: list[float] = []
    codes: dict[str, int] = {}
    lost = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        nonlocal lost
        kind = rnd.random()
        t0 = time.perf_counter()
        try:
            if kind < 0.4 or not tokens:
                row = rnd.randrange(rows)
                body = {
                    "urls": [f"https://img{row % 97}.example.org/p/{row}/photo-{row}.jpg"],
                    "contact": f"guardian{i}@example.org",
                    "relationship": "parent",
                    "declaration": True,
                }
                if i % 5 == 0:
                    body["child_name"] = f"kid number {row}"
                r = await client.post(f"{base}/api/requests", json=body)
                if r.status_code == 201:
                    tokens.append(r.json()["token"])
            elif kind < 0.9:
                r = await client.get(f"{base}/api/requests/{rnd.choice(tokens)}")
            else:
                r = await client.get(f"{base}{rnd.choice(['/', '/request', '/status'])}")
            key = str(r.status_code)
            codes[key] = codes.get(key, 0) + 1
            latencies.append(time.perf_counter() - t0)
        except httpx.HTTPError as e:
            lost += 1
            codes[type(e).__name__] = codes.get(type(e).__name__, 0) + 1

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await one(client, i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else 0.0

    return {
        "requests": total,
        "concurrency": concurrency,
        "answered": len(latencies),
        "lost": lost,
        "status_5xx": sum(n for c, n in codes.items() if c.startswith("5")),
        "status_counts": dict(sorted(codes.items())),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else 0.0,
        "wall_s": round(wall, 2),
        "req_per_s": round(len(latencies) / wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rows", type=int, default=20_000, help="rows in the synthetic shard")
    ap.add_argument("--rate-limit", action="store_true", help="keep per-client rate limits on")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-web-load-") as tmp:
        audit = make_audit(Path(tmp), args.rows)
        port = free_port()
        proc = start_server(audit, port, args.rate_limit)
        try:
            result = asyncio.run(
                run_load(
                    f"http://127.0.0.1:{port}",
                    args.requests,
                    args.concurrency,
                    args.rows,
                    args.seed,
                )
            )
        finally:
            proc.terminate()
            proc.wait(30)
        result["rate_limit"] = args.rate_limit
        result["rows"] = args.rows
        result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["lost"] == 0 and result["status_5xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
