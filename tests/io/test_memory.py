"""A scan's Arrow memory pool: jemalloc (or the system allocator), unless the user names one."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import pyarrow as pa
from childguard.engine.tasks import ScanContext, ScanWorker, setup_worker
from childguard.policy import load_policy
policy = load_policy()
setup_worker(ScanWorker(ScanContext("unused", policy, [], {}, 1000), detectors=[]))
print(pa.default_memory_pool().backend_name)
"""


def _pool_after_setup(env_pool: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_a_scan_worker_leaves_mimalloc() -> None:
    assert _pool_after_setup(None) in ("jemalloc", "system")


def test_a_pool_the_user_names_is_kept() -> None:
    assert _pool_after_setup("mimalloc") == "mimalloc"
