"""Local engine vs Ray engine on the same input, on this machine, printed side by side.

Makes (or reuses) the synthetic LAION-like corpus of bench/corpus.py, runs `childguard scan`
once per engine in a subprocess, and reports rows/s (the scan's own clock, which for Ray
includes starting a local Ray instance, and the command's wall time, which adds imports),
peak memory of the whole process tree (driver + pool workers, or driver + Ray's GCS, raylet
and workers; PSS, so shared pages are counted once), and whether the findings are identical.
`ray-warm` joins a Ray head started beforehand, as a job on a running cluster does.

    python bench/engines.py [--rows 400000] [--shards 4] [--row-group 25000] [--workers 2]
                            [--engines local,ray,ray-warm] [--policy FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from corpus import write_corpus

OUT = Path(__file__).parent / "out"


class TreeMemory:
    """Peak PSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            with contextlib.suppress(psutil.Error):  # a process that just ended
                total += p.memory_full_info().pss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def run(engine: str, corpus: Path, workers: int, policy: str | None) -> dict:
    audit = OUT / f"engines-{engine}"
    shutil.rmtree(audit, ignore_errors=True)
    exe = Path(sys.executable).with_name("childguard")
    kind = "ray" if engine.startswith("ray") else engine
    cmd = [str(exe), "scan", str(corpus), "--out", str(audit), "--engine", kind]
    cmd += ["--workers", str(workers), "--no-progress", "--restart"]
    if policy:
        cmd += ["--policy", policy]
    if engine == "ray-warm":
        with WarmRay(workers) as address:
            return _timed(engine, [*cmd, "--ray-address", address], audit, env=WarmRay.ENV)
    return _timed(engine, cmd, audit)


class WarmRay:
    """A Ray head started before the scan (as on a cluster), on its own port and temp dir,
    so the scan's clock leaves out starting Ray. Its processes are not the command's
    children: memory is then the driver's tree only."""

    ENV: ClassVar[dict[str, str]] = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.tmp = Path(tempfile.mkdtemp(prefix="cg-ray-"))
        # a throwaway head on this machine: no token auth, so the scan joins without setup
        self.env = {**os.environ, **self.ENV}
        self.ray = str(Path(sys.executable).with_name("ray"))

    def __enter__(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [self.ray, "start", "--head", "--port", str(port), "--num-cpus", str(self.cpus)]
        cmd += ["--temp-dir", str(self.tmp), "--include-dashboard", "false"]
        cmd += ["--disable-usage-stats"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=self.env)
        found = re.search(r"--address='([^']+)'", out.stdout + out.stderr)
        if not found:
            raise SystemExit(f"ray start printed no address:\n{out.stdout}\n{out.stderr}")
        return found.group(1)

    def __exit__(self, *exc) -> None:
        # `ray stop` would stop every Ray instance of this user; end only this one's processes
        mine = []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(str(self.tmp) in a for a in p.info["cmdline"] or []):
                    mine.append(p)
                    p.terminate()
        _, alive = psutil.wait_procs(mine, timeout=5)
        for p in alive:  # the GCS server does not always stop on SIGTERM
            with contextlib.suppress(psutil.Error):
                p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _timed(engine: str, cmd: list[str], audit: Path, env: dict | None = None) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    with TreeMemory(proc.pid) as mem:
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{engine}: childguard scan failed ({proc.returncode}):\n{out}\n{err}")
    run_json = audit / "run.json"
    summary = json.loads(run_json.read_text()).get("summary") if run_json.exists() else None
    if summary is None:
        raise SystemExit(f"{engine}: the scan did not finish:\n{err[-3000:]}")
    return {
        "engine": engine,
        "rows": summary["rows"],
        "seconds": summary["seconds"],
        "wall": wall,
        "peak_mb": mem.peak / 2**20,
        "risk_counts": summary["risk_counts"],
        "audit": audit,
    }


def same_findings(a: Path, b: Path) -> bool:
    fa = sorted((a / "findings").glob("*.parquet"))
    fb = sorted((b / "findings").glob("*.parquet"))
    return [p.name for p in fa] == [p.name for p in fb] and all(
        x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb, strict=True)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--row-group", type=int, default=25_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--policy", help="Policy file (default: the built-in one).")
    args = ap.parse_args()

    corpus = OUT / f"engines-corpus-{args.rows}-{args.shards}-{args.row_group}"
    write_corpus(corpus, args.rows, shards=args.shards, row_group=args.row_group)
    tasks = args.shards * -(-args.rows // args.shards // args.row_group)
    print(
        f"corpus: {args.rows:,} rows, {args.shards} shards, ~{tasks} tasks; "
        f"{args.workers} worker(s), {os.cpu_count()} cores",
        flush=True,
    )
    results = [run(e, corpus, args.workers, args.policy) for e in args.engines.split(",")]

    head = f"{'':24}" + "".join(f"{r['engine']:>14}" for r in results)
    print(head)
    lines = [
        ("rows", lambda r: f"{r['rows']:,}"),
        ("scan seconds", lambda r: f"{r['seconds']:.2f}"),
        ("rows/s (scan clock)", lambda r: f"{r['rows'] / r['seconds']:,.0f}"),
        ("command wall seconds", lambda r: f"{r['wall']:.2f}"),
        ("rows/s (wall)", lambda r: f"{r['rows'] / r['wall']:,.0f}"),
        ("peak memory MiB (PSS)", lambda r: f"{r['peak_mb']:,.0f}"),
        ("flagged rows", lambda r: f"{r['rows'] - r['risk_counts'].get('clean', 0):,}"),
    ]
    for label, f in lines:
        print(f"{label:24}" + "".join(f"{f(r):>14}" for r in results))
    if len(results) > 1:
        same = all(same_findings(results[0]["audit"], r["audit"]) for r in results[1:])
        print(f"{'identical findings':24}{'yes' if same else 'NO':>14}")


if __name__ == "__main__":
    main()
