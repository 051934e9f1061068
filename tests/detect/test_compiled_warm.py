"""Warming the compiled normalisation before workers start: `textnorm.warm_compiled` compiles
(or loads) every kernel signature a scan's batches use, and a scan with several workers warms
it in the caller only when its workers will switch to the compiled pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

from childguard.detect import textnorm
from childguard.engine.tasks import resolve_detector_names
from childguard.io.paths import expand_inputs
from childguard.io.readers import iter_batches, open_shard
from childguard.scan_cli import demo_sample_dir


def _signatures() -> dict[str, int]:
    import numba

    from childguard.detect import _textnorm_jit, _word_table_jit

    return {
        f"{mod.__name__}.{name}": len(fn.signatures)
        for mod in (_textnorm_jit, _word_table_jit)
        for name, fn in vars(mod).items()
        if isinstance(fn, numba.core.registry.CPUDispatcher)
    }


def test_warm_up_covers_what_a_scan_compiles(monkeypatch) -> None:
    from childguard.detect import REGISTRY
    from childguard.engine.batch import decide_batch
    from childguard.policy import load_policy

    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "numba")
    textnorm.warm_compiled()
    warmed = _signatures()
    assert warmed["childguard.detect._textnorm_jit.norm_text"] == 1
    assert warmed["childguard.detect._word_table_jit.lookup"] == 1
    # a real batch from Parquet (writable buffers) and one through Polars (read-only ones):
    # no kernel needs a signature the warm-up did not make
    policy = load_policy(None)
    dets = REGISTRY.create(resolve_detector_names(policy, None), {})
    for d in dets:
        d.ensure_setup()
    shard = expand_inputs([str(demo_sample_dir() / "laion-part-00000.parquet")])[0]
    for batch in iter_batches(open_shard(shard), 700):
        decide_batch(batch, dets, policy)
    assert _signatures() == warmed


WARM_PROBE = """
import sys
from childguard.engine.local import _warm_compiled
from childguard.executors import LocalExecutor
from childguard.io.readers import Task
rows, workers = int(sys.argv[1]), int(sys.argv[2])
work = [(None, Task("s", i, i, 0, rows // 4)) for i in range(4)]
_warm_compiled(work, LocalExecutor(workers))
print("WARMED" if "childguard.detect._textnorm_jit" in sys.modules else "COLD")
"""


@pytest.mark.parametrize(
    "rows, workers, mode, expect",
    [
        (1_000_000, 2, "auto", "WARMED"),  # 500k rows a worker: they switch
        (200_000, 2, "auto", "COLD"),  # 100k a worker: they keep to the Polars chain
        (1_000_000, 1, "auto", "COLD"),  # no other process to compile for
        (1_000, 2, "numba", "WARMED"),
        (1_000_000, 2, "polars", "COLD"),
    ],
)
def test_the_caller_warms_only_for_workers_that_compile(
    rows, workers, mode, expect, tmp_path
) -> None:
    stamp = tmp_path / "warm-stamp"  # no process has warmed these kernels yet
    env = {**os.environ, "CHILDGUARD_TEXTNORM": mode, "CHILDGUARD_WARM_STAMP": str(stamp)}
    out = subprocess.run(
        [sys.executable, "-c", WARM_PROBE, str(rows), str(workers)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == expect
    assert stamp.exists() == (expect == "WARMED")


def test_a_caller_skips_the_warm_up_once_done(tmp_path) -> None:
    """After one warm-up of the current kernels, a scan's caller loads nothing for its
    workers: they find numba's cached machine code themselves."""
    env = {
        **os.environ,
        "CHILDGUARD_TEXTNORM": "auto",
        "CHILDGUARD_WARM_STAMP": str(tmp_path / "s"),
    }
    got = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", WARM_PROBE, "1000000", "2"],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        got.append(out.stdout.split()[-1])
    assert got == ["WARMED", "COLD"]


def test_the_warm_stamp_follows_the_kernels(monkeypatch) -> None:
    monkeypatch.delenv("CHILDGUARD_WARM_STAMP", raising=False)
    stamp = textnorm.warm_stamp()
    assert stamp is not None and stamp.parent.name == "__pycache__"
    from childguard.detect import _textnorm_jit

    assert stamp.parent == Path(_textnorm_jit.__file__).parent / "__pycache__"
    textnorm.warm_compiled()
    assert textnorm.is_warm()


def test_uses_compiled_follows_the_backend_rule(monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "auto")
    assert textnorm.uses_compiled(textnorm.AUTO_MIN_ROWS)
    assert not textnorm.uses_compiled(textnorm.AUTO_MIN_ROWS - 1)
    monkeypatch.setenv("CHILDGUARD_TEXTNORM", "polars")
    assert not textnorm.uses_compiled(10**9)
    assert json.dumps(textnorm.backend(10**9)) == '"polars"'
