"""Where a scan's time goes outside `decide_batch`: CPU µs/row per part of a warm scan.

Runs the scan's own loop (`ScanRun`, `setup_worker`, `scan_job`, `on_result`) twice in one
process on one core, and reports the second pass (numba's cache, lazy tables and first calls
loaded by the first): reading and standardising batches, `decide_batch`, writing each task's
part and marker, the rest of `run_task`, and finalising shards (parts read back, findings and
stats written). Start-up (imports, set-up) is what `scan_throughput.py`'s wall figure adds.

    POLARS_MAX_THREADS=1 python bench/scan_parts.py bench/out/corpus-300000 [--batch-rows N]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    """Time the parts of a warm scan and print CPU µs/row for each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--batch-rows", type=int, default=None, help="default: the scan's")
    args = ap.parse_args()

    import childguard.engine.tasks as tasks
    from childguard.config import ScanConfig
    from childguard.engine.run import ScanRun
    from childguard.engine.state import OutLayout

    clock = time.process_time
    spent = dict.fromkeys(("read", "decide", "write part"), 0.0)

    def timed(part: str, fn):
        def wrapper(*a, **k):
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                spent[part] += clock() - t0

        return wrapper

    def timed_batches(*a, **k):
        batches = iter_task_batches(*a, **k)
        while (batch := timed("read", next)(batches, None)) is not None:
            yield batch

    iter_task_batches = tasks.iter_task_batches
    tasks.iter_task_batches = timed_batches
    tasks.decide_batch_with_errors = timed("decide", tasks.decide_batch_with_errors)
    OutLayout.write_task = timed("write part", OutLayout.write_task)

    def scan(out: str) -> tuple[int, float, float]:
        fields = {"batch_rows": args.batch_rows} if args.batch_rows else {}
        cfg = ScanConfig(inputs=args.inputs, out=out, workers=1, **fields)
        run = ScanRun(cfg, None, restart=True, progress=False)
        worker = tasks.setup_worker(tasks.ScanWorker(run.ctx, run.dets))
        for k in spent:
            spent[k] = 0.0
        rows, in_tasks, finalize = 0, 0.0, 0.0
        with run:
            for info, task in run.work:
                t0 = clock()
                result = tasks.scan_job(worker, info, task)
                t1 = clock()
                run.on_result(result)  # a shard's last task finalises it
                finalize += clock() - t1
                in_tasks += t1 - t0
                rows += result.rows
            run.close()
        return rows, in_tasks, finalize

    with tempfile.TemporaryDirectory() as tmp:
        scan(f"{tmp}/warm-up")
        rows, in_tasks, finalize = scan(f"{tmp}/audit")
    per = {k: v / rows * 1e6 for k, v in spent.items()}
    per["rest of run_task"] = in_tasks / rows * 1e6 - sum(per.values())
    per["finalise shards"] = finalize / rows * 1e6
    print(f"{rows:,} rows, warm pass, CPU µs/row:")
    for k, v in per.items():
        print(f"  {k:18s} {v:7.3f}")
    outside = sum(v for k, v in per.items() if k != "decide")
    total = outside + per["decide"]
    print(f"  {'outside decide':18s} {outside:7.3f}  ({outside / total:.0%} of {total:.3f})")


if __name__ == "__main__":
    main()
