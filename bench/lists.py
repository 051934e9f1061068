"""Takedown lists at scale: a URL list against scan rows, a PDQ list against query hashes.

Part 1, URLs: a list of --url-list entries (random SHA-256 digests plus the digests of
--planted (0.1%) of the rows' URLs) against --rows synthetic LAION-like rows (bench/corpus.py).
Reports the list's build and load time and memory, the `takedown_lists` detector's rows/s next
to a brute-force Python `set` of the same digests, identical results, and what the list costs
a scan: the per-batch scan work (`decide_batch`: every built-in detector + the default policy,
no I/O) and the full scan (`run_scan`, one worker), each with an empty store vs with the list.

Part 2, PDQ: a --pdq-list hash list (random, plus clusters of near copies) against --queries
query hashes (10% near copies of list entries at distance 0-31, 5% at 32-40, the rest random).
Reports the MIH index (numba), the same index in pure numpy, FAISS IndexBinaryFlat (C++ brute
force) and the numpy brute-force reference, all single-threaded, with identical results checked
on the queries each of them ran.

    python bench/lists.py            # 10 M URL list x 1 M rows; 1 M PDQ list x 100 k queries
    python bench/lists.py --small    # 200 k x 100 k; 100 k x 10 k (seconds)
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

from corpus import make_table

OUT = Path(__file__).parent / "out" / "lists"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def mapped_rss_mb(folder: Path) -> float:
    """Resident memory of this process's mappings of files under `folder` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5:  # a mapping header
                inside = len(parts) >= 6 and parts[5].startswith(str(folder))
            elif inside and parts[0] == "Rss:":
                total += int(parts[1])
    return total / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and CPU time of this process (all threads). Rates use CPU time: the bench machines
    are shared, and CPU seconds do not stretch when other processes take the cores."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def batches(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(s, size) for s in range(0, table.num_rows, size)]


def section(title: str) -> None:
    print(f"\n== {title}")


# ------------------------------------------------------------------------------------------
def bench_urls(
    n_list: int,
    n_rows: int,
    batch_rows: int,
    brute: bool,
    repeats: int,
    planted_rate: float,
    key: str = "sb1",
) -> dict:
    from childguard.detect import load_builtin
    from childguard.detect.base import REGISTRY
    from childguard.detect.takedown_lists import TakedownLists
    from childguard.engine.batch import decide_batch
    from childguard.lists.store import ListStore
    from childguard.policy import load_policy
    from childguard.urls import list_key_digests, url_sha256_digests

    # sb1: a `url` list keyed Safe-Browsing-style (urls.list_key, the default for new lists);
    # rfc3986: a `url_sha256` list, matched on the row identity
    list_type, digest_of = (
        ("url", list_key_digests) if key == "sb1" else ("url_sha256", url_sha256_digests)
    )
    section(
        f"URL list ({list_type}, key {key}): {n_list:,} entries vs {n_rows:,} rows "
        f"({planted_rate:.1%} of rows listed)"
    )
    src = make_table(n_rows, seed=11)
    table = pa.table(
        {
            "row_index": pa.array(np.arange(n_rows), pa.int64()),
            "url": src.column("URL"),
            "text": src.column("TEXT"),
            "laion_hash": src.column("hash"),
        }
    )
    rng = np.random.default_rng(0)
    planted_rows = np.sort(rng.choice(n_rows, max(1, int(n_rows * planted_rate)), replace=False))
    planted, _ = digest_of(table.column("url").take(pa.array(planted_rows)))
    digests = rng.integers(0, 256, (n_list - len(planted), 32), dtype=np.uint8)
    digests = np.concatenate([digests, planted])

    home = OUT / "home-urls"
    shutil.rmtree(home, ignore_errors=True)
    t = time.perf_counter()
    ListStore(home).add_digests("bench-urls", list_type, digests, "bench")
    build_s = time.perf_counter() - t
    del digests
    gc.collect()
    disk = sum(p.stat().st_size for p in (home / "lists" / "bench-urls").glob("v*.npy"))
    print(f"build + save: {build_s:.1f} s; on disk (current version): {disk / 2**20:.0f} MiB")

    # Load in a clean state: what a scan worker pays.
    r0 = rss_mb()
    t = time.perf_counter()
    det = TakedownLists(home=str(home))
    det.ensure_setup()
    load_s = time.perf_counter() - t
    r1 = rss_mb()
    print(f"load: {load_s * 1000:.0f} ms, RSS +{r1 - r0:.0f} MiB (prefixes in RAM, digests mmap)")

    parts = batches(table, batch_rows)
    with Clock() as c:
        outs = [det.score(b) for b in parts]
    det_s = c.cpu
    r2 = rss_mb()
    hits = np.concatenate([o.column("takedown_lists__score").to_numpy() for o in outs]) > 0
    mapped = mapped_rss_mb(home)
    print(
        f"detector: {n_rows / det_s:,.0f} rows/s, {int(hits.sum()):,} matches; "
        f"list digests resident after the lookups: {mapped:.0f} MiB of the mapping; "
        f"process RSS +{r2 - r0:.0f} MiB over pre-load (includes batch work)"
    )
    assert np.array_equal(np.flatnonzero(hits), planted_rows), "detector missed planted rows"

    result = {
        "rows_per_s_detector": n_rows / det_s,
        "load_rss_mb": r1 - r0,
        "lookup_rss_mb": r2 - r0,
        "load_ms": load_s * 1000,
    }
    if brute:
        r3 = rss_mb()
        t = time.perf_counter()
        lst = det.lists[0].digests.digests
        s = {bytes(r) for r in np.asarray(lst)}
        set_s = time.perf_counter() - t
        r4 = rss_mb()
        bf_hits = []
        with Clock() as c:
            for b in parts:
                d, valid = digest_of(b.column("url"))
                bf_hits.append(
                    np.array([v and bytes(x) in s for x, v in zip(d, valid, strict=True)])
                )
        bf_s = c.cpu
        bf = np.concatenate(bf_hits)
        same = np.array_equal(bf, hits)
        print(
            f"brute force (Python set): build {set_s:.1f} s, RSS +{r4 - r3:.0f} MiB; "
            f"{n_rows / bf_s:,.0f} rows/s; identical results: {same}"
        )
        assert same
        result.update(rows_per_s_brute=n_rows / bf_s, brute_rss_mb=r4 - r3)
        del s
        gc.collect()

    # What the list costs a scan: same batches, every built-in detector, default policy.
    load_builtin()
    policy = load_policy()
    others = [n for n in REGISTRY.names() if n != "takedown_lists"]
    empty_home = OUT / "home-empty"
    shutil.rmtree(empty_home, ignore_errors=True)
    timings: dict[str, float] = {}
    det_sets = {}
    for label, home_ in (("empty store", empty_home), ("with list", home)):
        dets = [*REGISTRY.create(others), TakedownLists(home=str(home_))]
        for d in dets:
            d.ensure_setup()
        decide_batch(parts[0].slice(0, 1000), dets, policy)  # warm caches/lexicons
        det_sets[label] = dets
    # Alternate the two configurations and keep each one's best, to damp noise.
    for _ in range(repeats):
        for label, dets in det_sets.items():
            blocked = 0
            with Clock() as c:
                for b in parts:
                    _, counts = decide_batch(b, dets, policy)
                    blocked += counts["blocked"]
            timings[label] = min(timings.get(label, float("inf")), c.cpu)
            print(f"scan work, {label}: {n_rows / c.cpu:,.0f} rows/s ({blocked:,} blocked)")
    cost = 1 - timings["empty store"] / timings["with list"]
    print(f"the list costs the per-batch scan work {cost:.1%} of its rows/s")

    # The whole scan as `childguard scan --workers 1` runs it: parquet read, detectors, policy,
    # findings and stats written; default policy, every built-in detector.
    from childguard.config import ScanConfig
    from childguard.engine.local import run_scan

    shard = OUT / "rows.parquet"
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "URL": table.column("url"),
                "TEXT": table.column("text"),
                "hash": table.column("laion_hash"),
            }
        ),
        shard,
        row_group_size=100_000,
    )
    full: dict[str, float] = {}
    for _ in range(repeats):
        for label, home_ in (("empty store", empty_home), ("with list", home)):
            cfg = ScanConfig(
                inputs=[str(shard)],
                out=str(OUT / "audit"),
                workers=1,
                batch_rows=batch_rows,
                detector_options={"takedown_lists": {"home": str(home_)}},
            )
            with Clock() as c:
                res = run_scan(cfg, policy, restart=True, progress=False)
            full[label] = min(full.get(label, float("inf")), c.cpu)
            print(
                f"full scan (1 worker), {label}: {n_rows / c.cpu:,.0f} rows/s "
                f"({res.risk_counts.get('blocked', 0):,} blocked)"
            )
    full_cost = 1 - full["empty store"] / full["with list"]
    print(f"the list costs the full scan {full_cost:.1%} of its rows/s (target < 20%)")
    result.update(
        scan_rows_per_s_empty=n_rows / timings["empty store"],
        scan_rows_per_s_list=n_rows / timings["with list"],
        scan_cost=cost,
        full_scan_rows_per_s_empty=n_rows / full["empty store"],
        full_scan_rows_per_s_list=n_rows / full["with list"],
        full_scan_cost=full_cost,
    )
    return result


# ------------------------------------------------------------------------------------------
def _flip(rng: np.random.Generator, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
    out = rows.copy()
    for i, kk in enumerate(k):
        bits = rng.choice(256, int(kk), replace=False)
        np.bitwise_xor.at(out[i], bits // 8, (1 << (bits % 8)).astype(np.uint8))
    return out


def bench_pdq(n_list: int, n_queries: int, n_bf: int, n_faiss: int, n_numpy: int) -> dict:
    from childguard.lists.pdq import PDQIndex, brute_force_search

    section(f"PDQ list: {n_list:,} hashes vs {n_queries:,} queries, distance <= 31")
    rng = np.random.default_rng(1)
    db = rng.integers(0, 256, (n_list, 32), dtype=np.uint8)
    # Clusters: 1% of entries get a near copy in the list (hotlines list variants).
    base = rng.choice(n_list, n_list // 100, replace=False)
    db[base[: len(base) // 2]] = _flip(
        rng, db[base[len(base) // 2 :]], rng.integers(1, 20, len(base) // 2)
    )
    n_near, n_miss = n_queries // 10, n_queries // 20
    src = rng.integers(0, n_list, n_near + n_miss)
    queries = np.concatenate(
        [
            _flip(rng, db[src[:n_near]], rng.integers(0, 32, n_near)),
            _flip(rng, db[src[n_near:]], rng.integers(32, 41, n_miss)),
            rng.integers(0, 256, (n_queries - n_near - n_miss, 32), dtype=np.uint8),
        ]
    )
    queries = queries[rng.permutation(len(queries))]

    r0 = rss_mb()
    t = time.perf_counter()
    index = PDQIndex.build(db)
    build_s = time.perf_counter() - t
    r1 = rss_mb()
    print(
        f"MIH build: {build_s:.1f} s, RSS +{r1 - r0:.0f} MiB (tables: "
        f"{index.order.nbytes / 2**20:.0f} MiB ids + {db.nbytes / 2**20:.0f} MiB hashes)"
    )

    index.search(queries[:10])  # JIT compile (cached on disk after the first run)
    with Clock() as c:
        q, e, d = index.search(queries)
    mih_s = c.cpu
    mih_qps = n_queries / mih_s
    print(
        f"MIH index (numba): {mih_qps:,.0f} queries/s, {len(q):,} pairs "
        f"({len(np.unique(q)):,} queries matched)"
    )

    def subset(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = q < k
        return q[m], e[m], d[m]

    res = {"mih_qps": mih_qps, "mih_build_s": build_s, "mih_rss_mb": r1 - r0}

    with Clock() as c:
        got = index.search(queries[:n_numpy], engine="numpy")
    np_qps = n_numpy / c.cpu
    same = all(np.array_equal(a, b) for a, b in zip(got, subset(n_numpy), strict=True))
    print(f"MIH index (pure numpy): {np_qps:,.0f} queries/s on {n_numpy:,}; identical: {same}")
    assert same
    res["mih_numpy_qps"] = np_qps

    try:
        import faiss

        faiss.omp_set_num_threads(1)
        flat = faiss.IndexBinaryFlat(256)
        flat.add(db)
        with Clock() as c:
            lims, fd, fi = flat.range_search(queries[:n_faiss], 32)  # strict: distance < 32
        faiss_qps = n_faiss / c.cpu
        fq = np.repeat(np.arange(n_faiss), np.diff(lims).astype(np.int64))
        order = np.lexsort((fi, fq))
        sq, se, sd = subset(n_faiss)
        same = (
            np.array_equal(fq[order], sq)
            and np.array_equal(fi[order], se)
            and np.array_equal(fd[order], sd)
        )
        print(
            f"brute force, FAISS IndexBinaryFlat: {faiss_qps:,.0f} queries/s on {n_faiss:,}; "
            f"identical: {same}"
        )
        assert same
        res["faiss_flat_qps"] = faiss_qps
        del flat
    except ImportError:
        print("FAISS not installed: skipped")

    with Clock() as c:
        bq, be, bd = brute_force_search(db, queries[:n_bf])
    bf_qps = n_bf / c.cpu
    sq, se, sd = subset(n_bf)
    same = np.array_equal(bq, sq) and np.array_equal(be, se) and np.array_equal(bd, sd)
    print(f"brute force, numpy reference: {bf_qps:,.0f} queries/s on {n_bf:,}; identical: {same}")
    assert same
    res["numpy_bf_qps"] = bf_qps
    print(
        f"MIH speed-up: {mih_qps / bf_qps:,.0f}x numpy brute force"
        + (
            f", {mih_qps / res['faiss_flat_qps']:.1f}x FAISS flat"
            if "faiss_flat_qps" in res
            else ""
        )
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small", action="store_true", help="quick run (seconds)")
    ap.add_argument("--url-list", type=int)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--pdq-list", type=int)
    ap.add_argument("--queries", type=int)
    ap.add_argument("--batch-rows", type=int, default=65_536)
    ap.add_argument("--no-brute-urls", action="store_true", help="skip the Python-set baseline")
    ap.add_argument("--only", choices=["urls", "pdq"])
    ap.add_argument("--repeats", type=int, default=2, help="scan passes per configuration")
    ap.add_argument(
        "--planted",
        type=float,
        default=0.001,
        help="share of rows whose URL is on the list (LAION-5B's known CSAM: ~5e-7)",
    )
    ap.add_argument(
        "--key",
        choices=["sb1", "rfc3986", "both"],
        default="both",
        help="URL list key: sb1 (`url` lists, Safe-Browsing-style) and/or rfc3986 (url_sha256)",
    )
    a = ap.parse_args()
    url_list = a.url_list or (200_000 if a.small else 10_000_000)
    rows = a.rows or (100_000 if a.small else 1_000_000)
    pdq_list = a.pdq_list or (100_000 if a.small else 1_000_000)
    queries = a.queries or (10_000 if a.small else 100_000)
    print(f"childguard bench/lists.py  (cpu count {os.cpu_count()}; rates per CPU-second)")
    if a.only in (None, "urls"):
        for key in ("rfc3986", "sb1") if a.key == "both" else (a.key,):
            bench_urls(
                url_list,
                rows,
                a.batch_rows,
                brute=not a.no_brute_urls,
                repeats=a.repeats,
                planted_rate=a.planted,
                key=key,
            )
    if a.only in (None, "pdq"):
        bench_pdq(
            pdq_list,
            queries,
            n_bf=min(queries, 200 if not a.small else 500),
            n_faiss=min(queries, 2000),
            n_numpy=min(queries, 5000),
        )
    print(f"\npeak RSS of this process: {peak_mb():,.0f} MiB")


if __name__ == "__main__":
    main()
