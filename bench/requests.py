"""Guardians' requests at dataset scale: batch matching against the per-request path, and the
URL index (build time, size per million rows, lookup latency).

Builds a synthetic LAION-like audit (`bench/corpus.py`: URL, TEXT, hash; invented names
only) and 1,000 requests shaped like a campaign's: 1-3 image/page URLs each (a third of them
in the data, some spelt another way), a child's name on 60% (names with accents; 5% a first
name the corpus uses often, the rest full names), a personal domain on 15% (a few in the data). Then, in one run:

  per-request  `matching.match_rows` for each of a sample of the requests (every row of
               every shard read once per request), extrapolated to all of them
  batch        `batch_match.match_shard` for all requests at once (one read of each shard)
  batch+queue  `match_job.run_pending` into a fresh SQLite registry: the whole job
  index        `url_index.build_index`; size; one-URL lookups (open once, then per lookup)
  batch+index  the job again with exact URLs answered from the index

Wall and CPU time of the matching itself are both reported: on a shared machine the CPU
time is the steadier one.

    python bench/requests.py --rows 1000000 --requests 1000 --sample 10
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from childguard.io.paths import expand_inputs  # noqa: E402
from childguard.io.readers import open_shard  # noqa: E402
from childguard.registry.matching import (  # noqa: E402
    Targets,
    match_rows,
    normalize_domain,
    normalize_name,
    normalize_target_url,
)
from childguard.registry.source import load_inputs  # noqa: E402
from corpus import NAMES, write_corpus  # noqa: E402

LAION_5B = 5_850_000_000
SURNAMES = ["Araújo", "Conceição", "Gonçalves", "Brandão", "Lima", "Assunção", "Simões"]
EXTRA_NAMES = ["Luísa Beatriz", "Conceição", "Thaís", "Iago", "Benício", "Cecília", "Anaí"]


def make_audit(root: Path, rows: int, shards: int) -> Path:
    """Corpus shards + a run.json naming them as a scan does (matching needs no findings)."""
    data = root / "data"
    write_corpus(data, rows, shards=shards, row_group=100_000)
    audit = root / "audit"
    audit.mkdir(parents=True, exist_ok=True)
    inputs = [{**open_shard(s).to_json()} for s in expand_inputs([str(data)])]
    (audit / "run.json").write_text(json.dumps({"inputs": inputs}), encoding="utf-8")
    return audit


def make_requests(audit: Path, n: int, seed: int = 0) -> list[tuple[str, Targets]]:
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    first = next(iter(load_inputs(audit).values()))
    urls = pq.read_table(first.path, columns=["URL"]).column("URL").to_pylist()
    out = []
    for i in range(n):
        t = Targets()
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.33:
                u = rng.choice(urls)
                u = rng.choice([u, u.replace("https://", "HTTPS://"), u.replace("https://", "")])
            else:
                u = f"https://blog-{rng.randint(0, 10**6)}.example.test/fotos/{rng.randint(0, 999)}.jpg"
            t.urls.append(normalize_target_url(u))
        if rng.random() < 0.6:
            r = rng.random()
            if r < 0.05:  # a name the corpus uses often (its matches are capped per request)
                name = rng.choice(NAMES)
            elif r < 0.3:
                name = f"{rng.choice(EXTRA_NAMES)} {rng.choice(SURNAMES)}"
            else:
                name = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)} {i}"
            t.names.append(normalize_name(name))
        if rng.random() < 0.15:
            host = f"cdn{rng.randint(0, 96)}.example-{rng.randint(0, 12)}.com"
            d = host if rng.random() < 0.1 else f"familia-{i}.example.test"
            t.domains.append(normalize_domain(d))
        t.urls = sorted(set(t.urls))
        out.append((f"req-{i:05d}", t))
    return out


def _store(sessions, requests: list[tuple[str, Targets]]) -> None:
    from childguard.registry.models import RemovalRequest, RequestTarget

    with sessions() as s, s.begin():
        for rid, t in requests:
            req = RemovalRequest(
                id=rid,
                token_sha256=f"{rid:0<64}"[:64],
                contact="guardian@example.test",
                relationship_to_child="parent",
            )
            for kind, values in (("url", t.urls), ("domain", t.domains), ("name", t.names)):
                for v in values:
                    req.targets.append(RequestTarget(kind=kind, value=v))
            s.add(req)


def _registry(folder: Path, requests: list[tuple[str, Targets]]):
    from childguard.registry.db import default_db_url, session_factory, upgrade

    sessions = session_factory(upgrade(default_db_url(folder)))
    _store(sessions, requests)
    return sessions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=10, help="requests timed on the per-request path")
    ap.add_argument("--lookups", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "requests")
    a = ap.parse_args()

    from childguard.registry.batch_match import compile_requests, match_shard
    from childguard.registry.match_job import run_pending
    from childguard.registry.url_index import UrlIndex, build_index

    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    audit = make_audit(a.out, a.rows, a.shards)
    gen_s = time.perf_counter() - t0
    requests = make_requests(audit, a.requests)
    refs = list(load_inputs(audit).values())
    res: dict = {"rows": a.rows, "shards": a.shards, "requests": a.requests, "workers": a.workers}
    res["generate_s"] = round(gen_s, 1)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    log(f"audit ready: {a.rows:,} rows")

    # per-request path: every row of every shard read once per request
    sample = requests[:: max(1, len(requests) // a.sample)][: a.sample]
    t0, c0 = time.perf_counter(), time.process_time()
    per_found = 0
    for _, t in sample:
        for ref in refs:
            per_found += len(match_rows(ref, t))
    per_s = (time.perf_counter() - t0) / len(sample)
    res["per_request_cpu_s_each"] = round((time.process_time() - c0) / len(sample), 3)
    res["per_request_s_each"] = round(per_s, 3)
    res["per_request_s_per_million_rows"] = round(per_s / (a.rows / 1e6), 3)
    res["per_request_all_s_extrapolated"] = round(per_s * len(requests), 1)

    log(f"per-request: {per_s:.2f} s each")
    # batch: all requests, one read of each shard (matching only)
    t0, c0 = time.perf_counter(), time.process_time()
    c = compile_requests(requests)
    found = sum(match_shard(c, ref).height for ref in refs)
    batch_s = time.perf_counter() - t0
    res["batch_match_cpu_s"] = round(time.process_time() - c0, 2)
    res["batch_match_s"] = round(batch_s, 2)
    res["batch_s_per_million_rows"] = round(batch_s / (a.rows / 1e6), 3)
    res["batch_pairs_found"] = found
    res["speedup"] = round(res["per_request_all_s_extrapolated"] / batch_s, 1)

    log(f"batch: {batch_s:.2f} s")
    # the whole job: matching + queueing review tasks in a registry
    with tempfile.TemporaryDirectory(dir=a.out) as tmp:
        sessions = _registry(Path(tmp), requests)
        t0 = time.perf_counter()
        s = run_pending(sessions, audit, workers=a.workers, use_index=False)
        res["batch_job_s"] = round(time.perf_counter() - t0, 2)
        res["batch_job_tasks"] = s.tasks

    log(f"batch job: {res['batch_job_s']} s")
    # the URL index
    t0 = time.perf_counter()
    meta = build_index(audit, workers=a.workers)
    res["index_build_s"] = round(time.perf_counter() - t0, 2)
    size = sum(meta["bytes"].values())
    res["index_bytes"] = size
    res["index_partitions"] = 16 ** meta["prefix_digits"]
    res["index_mb_per_million_rows"] = round(size / 1e6 / (a.rows / 1e6), 2)
    res["index_url_mb_per_million_rows"] = round(meta["bytes"]["url"] / a.rows, 2)
    res["index_laion_5b_gb"] = round(size / a.rows * LAION_5B / 1e9, 1)
    t0 = time.perf_counter()
    index = UrlIndex.open(audit)
    assert index is not None
    res["index_open_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
    import pyarrow.parquet as pq

    urls = pq.read_table(refs[-1].path, columns=["URL"]).column("URL").to_pylist()
    rng = random.Random(1)
    lat = []
    for _ in range(a.lookups):
        u = rng.choice(urls)
        t0 = time.perf_counter()
        hits = index.lookup_url(u)
        lat.append((time.perf_counter() - t0) * 1e3)
        assert hits, u
    lat.sort()
    res["lookup_ms_median"] = round(statistics.median(lat), 2)
    res["lookup_ms_p95"] = round(lat[int(0.95 * (len(lat) - 1))], 2)
    # a URL request answered whole: lookup, then the hit checked in its row's row group
    from childguard.registry.source import read_rows

    by_id = {r.shard_id: r for r in refs}
    answer = []
    for _ in range(20):
        u = rng.choice(urls)
        t0 = time.perf_counter()
        for sid, row in index.lookup_url(u):
            assert read_rows(by_id[sid], [row]).num_rows == 1
        answer.append((time.perf_counter() - t0) * 1e3)
    res["url_request_answer_ms_median"] = round(statistics.median(answer), 1)

    # the job again: exact-URL requests in batches of their own, answered by the index; the
    # others share one pass
    with tempfile.TemporaryDirectory(dir=a.out) as tmp:
        sessions = _registry(Path(tmp), requests)
        t0 = time.perf_counter()
        s2 = run_pending(sessions, audit, workers=a.workers)
        res["batch_job_with_index_s"] = round(time.perf_counter() - t0, 2)
        assert s2.index_used and s2.tasks == res["batch_job_tasks"]
    url_only = [(rid, Targets(urls=t.urls)) for rid, t in requests]
    with tempfile.TemporaryDirectory(dir=a.out) as tmp:
        sessions = _registry(Path(tmp), url_only)
        t0 = time.perf_counter()
        s3 = run_pending(sessions, audit, workers=a.workers)
        res["url_only_job_with_index_s"] = round(time.perf_counter() - t0, 2)
        res["url_only_shards_read"] = s3.shards_read
    print(json.dumps(res, indent=2))
    (a.out / "results.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
