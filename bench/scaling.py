"""`childguard scan --workers 1` vs `--workers 2` (or more) on the same shards, side by side.

Each run is a whole `childguard scan` process in its own process group; runs alternate, so a
change in the machine's load hits both. Reported per run: wall seconds, CPU seconds of the
whole tree (scan + workers), the 1-minute load average before it, and whether anything of
its process group was still running after it exited. Speed-up = median wall(1) / wall(N).
On a shared machine (load above its core count) the wall speed-up says more about the
neighbours than about the scan; compare the CPU seconds then.

    python bench/scaling.py [--rows 1000000] [--shards 4] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from childguard.executors.local import group_members
from corpus import write_corpus

OUT = Path(__file__).parent / "out"


def run_once(corpus: Path, out: Path, workers: int) -> dict:
    """One scan process: wall and tree CPU seconds, load before, processes left after."""
    exe = Path(sys.executable).with_name("childguard")
    cmd = [str(exe), "scan", str(corpus), "--out", str(out), "--workers", str(workers)]
    cmd += ["--no-progress", "--restart"]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    proc.wait()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(0.2)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "workers": workers,
        "rc": proc.returncode,
        "wall": wall,
        "cpu": cpu,
        "load": load,
        "left": len(group_members(proc.pid)),
    }


def main() -> int:
    """Alternate runs, print each and the median speed-up."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    corpus = OUT / f"corpus-{a.rows}-{a.shards}"
    write_corpus(corpus, a.rows, a.shards)
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="cg-scaling-") as tmp:
        for _ in range(a.repeat):
            for w in (1, a.workers):
                r = run_once(corpus, Path(tmp) / f"w{w}", w)
                runs.append(r)
                print(
                    f"workers={w}  wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  "
                    f"load {r['load']:5.2f}  left in group {r['left']}  rc {r['rc']}",
                    flush=True,
                )
    one = statistics.median(r["wall"] for r in runs if r["workers"] == 1)
    many = statistics.median(r["wall"] for r in runs if r["workers"] == a.workers)
    cpu1 = statistics.median(r["cpu"] for r in runs if r["workers"] == 1)
    cpun = statistics.median(r["cpu"] for r in runs if r["workers"] == a.workers)
    print(
        f"{a.rows} rows, {a.shards} shards, {os.cpu_count()} cores: speed-up "
        f"{one / many:.2f}x with {a.workers} workers (median wall {one:.2f} s -> {many:.2f} s; "
        f"CPU {cpu1:.2f} s -> {cpun:.2f} s)"
    )
    return 0 if all(r["rc"] == 0 and r["left"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
