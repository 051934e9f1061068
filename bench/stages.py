"""Where a scan's time goes: CPU µs per row for each stage of `decide_batch`, in one process.

Reads the input's batches once (as `childguard scan` does: 131,072-row batches of the standard
columns), then runs the default policy's detectors over them `--repeat` times, timing each stage
with the process's CPU clock: normalisation (`textnorm.prepare`), the shared signals (the
screen), each detector, the policy and findings. The first pass also loads numba's cached
kernels and fills lazy tables, so the minimum over the passes after it is the steady state.
Run with `POLARS_MAX_THREADS=1` for one core's figures.

    POLARS_MAX_THREADS=1 python bench/stages.py ../shared/data/real_pool.parquet [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

os.environ.setdefault("CHILDGUARD_TEXTNORM", "numba")


def main() -> None:
    """Parse arguments, time the stages, print µs/row per stage (min over the passes)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rows", type=int, default=0, help="read at most this many rows (0: all)")
    ap.add_argument("--profile", help="write a cProfile of the last pass to this file")
    ap.add_argument("--batch-rows", type=int, default=131_072, help="rows per batch (the scan's)")
    args = ap.parse_args()

    from childguard.detect.context import BatchContext
    from childguard.detect.output import check_output
    from childguard.detect.textnorm import prepare
    from childguard.engine.batch import decide_scored
    from childguard.engine.tasks import ScanContext, build_detectors, resolve_detector_names
    from childguard.io.memory import use_scan_pool
    from childguard.io.paths import expand_inputs
    from childguard.io.readers import iter_batches, open_shard
    from childguard.policy import load_policy

    use_scan_pool()  # the scan's Arrow allocator (`setup_worker` does the same)
    policy = load_policy()
    names = resolve_detector_names(policy, None)
    ctx = ScanContext("/tmp/unused", policy, names, {}, args.batch_rows)
    dets = build_detectors(ctx)
    for d in dets:
        d.ensure_setup()
    batches = []
    total = 0
    for shard in expand_inputs(args.inputs):
        # tasks of row groups as the scan plans them (`task_rows`), so batches are the scan's
        for b in iter_batches(open_shard(shard, task_rows=args.batch_rows), args.batch_rows):
            batches.append(b)
            total += b.num_rows
            if args.rows and total >= args.rows:
                break
        if args.rows and total >= args.rows:
            break

    clock = time.process_time
    passes: list[dict[str, float]] = []
    for rep in range(args.repeat):
        prof = None
        if args.profile and rep == args.repeat - 1:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t: dict[str, float] = defaultdict(float)
        for b in batches:
            t0 = clock()
            bctx = BatchContext(prepare(b))
            t1 = clock()
            t["prepare"] += t1 - t0
            bctx.signals  # noqa: B018 - computed once, on first use
            t0 = clock()
            t["signals"] += t0 - t1
            table = bctx.table
            for det in dets:
                t1 = clock()
                out = det.run(table, bctx)
                check_output(det.name, out, table.num_rows, det.outputs)
                for name in out.column_names:
                    table = table.append_column(name, out.column(name))
                t[det.name] += clock() - t1
            t1 = clock()
            decide_scored(table, dets, policy)
            t["decide"] += clock() - t1
        if prof is not None:
            prof.disable()
            prof.dump_stats(args.profile)
        passes.append(t)
    best = {k: min(p[k] for p in passes[1:] or passes) for k in passes[0]}
    # the first pass's extra CPU seconds over the steady state: lazy tables, numba's cached
    # kernels, Polars plans built once; what a fresh worker pays before its steady rate
    print(
        f"{total:,} rows, {len(batches)} batches, min of passes 2..{args.repeat}, CPU µs/row;"
        " first pass's warm-up (CPU s over the steady state):"
    )
    first = passes[0]
    for k, v in best.items():
        print(f"  {k:16s} {v / total * 1e6:7.3f}   {first[k] - v:6.3f}")
    s = sum(best.values())
    w = sum(first.values()) - s
    print(f"  {'total':16s} {s / total * 1e6:7.3f}   {w:6.3f}   ({total / s:,.0f} rows/s)")


if __name__ == "__main__":
    main()
