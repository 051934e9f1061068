"""The local executor: same results as one process, errors home as themselves, dead workers
retried, and nothing left running after an error, an early stop or Ctrl-C."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from childguard.executors import LocalExecutor, RetryPolicy, WorkerDied, threads_per_worker
from childguard.executors.local import group_members
from childguard.io.readers import ShardError


def _scale(state: int, x: int) -> int:
    return state * x


def _env(state: None, _: int) -> tuple[str | None, int]:
    return os.environ.get("POLARS_MAX_THREADS"), os.getpid()


def _setup_pid(payload: str) -> tuple[str, int]:
    return payload, os.getpid()


def _state_and_pid(state: tuple[str, int], _: int) -> tuple[tuple[str, int], int]:
    return state, os.getpid()


def _shard_error(_: None, x: int) -> int:
    if x == 3:
        raise ShardError("some/shard.parquet", "bad row", row=7)
    time.sleep(0.01)
    return x


def _die_once(sentinel: str, x: int) -> int:
    if x == 2 and not os.path.exists(sentinel):
        Path(sentinel).write_text(str(os.getpid()))
        os._exit(9)  # a worker killed mid-job (OOM killer, segfault)
    return x


def _always_die(_: None, x: int) -> int:
    if x == 1:
        os._exit(9)
    return x


def _no_children() -> None:
    from multiprocessing import resource_tracker

    assert mp.active_children() == []
    assert resource_tracker._resource_tracker._pid is None


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_order_as_in_one_process(workers: int) -> None:
    jobs = [(i,) for i in range(23)]
    with LocalExecutor(workers) as ex:
        assert list(ex.map_ordered(_scale, jobs, 3)) == [3 * i for i in range(23)]
        got = dict(ex.map_unordered(_scale, jobs, 5))
    assert got == {i: 5 * i for i in range(23)}
    _no_children()


def test_payload_set_up_once_per_worker_with_its_thread_share() -> None:
    with LocalExecutor(2) as ex:
        out = list(ex.map_ordered(_state_and_pid, [(i,) for i in range(40)], "p", _setup_pid))
        envs = list(ex.map_ordered(_env, [(0,), (1,)]))
    assert all(state == ("p", pid) for state, pid in out)  # built where it ran
    assert len({pid for _, pid in out}) <= 2  # the caller and one spawned worker
    spawned = {e for e, pid in envs if pid != os.getpid()}
    assert spawned <= {str(threads_per_worker(2))}
    with LocalExecutor(2, caller_works=False) as ex:
        out = list(ex.map_ordered(_state_and_pid, [(i,) for i in range(40)], "p", _setup_pid))
        envs = list(ex.map_ordered(_env, [(0,), (1,)]))
    assert all(state == ("p", pid) for state, pid in out)
    assert len({pid for _, pid in out}) <= 2 and os.getpid() not in {pid for _, pid in out}
    assert {e for e, _ in envs} == {str(threads_per_worker(2))}
    _no_children()


def test_in_process_when_one_worker() -> None:
    with LocalExecutor(1) as ex:
        out = list(ex.map_ordered(_state_and_pid, [(0,), (1,)], "p", _setup_pid))
    assert out == [(("p", os.getpid()), os.getpid())] * 2


@pytest.mark.parametrize("caller_works", [False, True])
def test_a_job_error_reaches_the_caller_as_itself(caller_works: bool) -> None:
    with pytest.raises(ShardError, match="bad row") as e, LocalExecutor(
        2, caller_works=caller_works
    ) as ex:
        list(ex.map_ordered(_shard_error, [(i,) for i in range(8)]))
    assert "some/shard.parquet" in str(e.value)
    if not caller_works:
        assert any("raised in a worker" in n for n in e.value.__notes__)
    _no_children()


def test_a_dead_worker_is_retried_then_gives_up(tmp_path: Path) -> None:
    sentinel = tmp_path / "died"
    with LocalExecutor(2, caller_works=False) as ex:  # a death in the caller ends the caller
        assert list(ex.map_ordered(_die_once, [(i,) for i in range(6)], str(sentinel))) == [
            0,
            1,
            2,
            3,
            4,
            5,
        ]
    assert sentinel.exists() and int(sentinel.read_text()) != os.getpid()
    with pytest.raises(WorkerDied, match="job 1"), LocalExecutor(
        2, retry=RetryPolicy(worker_deaths=2), caller_works=False
    ) as ex:
        list(ex.map_ordered(_always_die, [(i,) for i in range(4)]))
    _no_children()


def test_stopping_early_leaves_no_worker() -> None:
    with LocalExecutor(2) as ex:
        for i, _ in ex.map_unordered(_scale, [(i,) for i in range(50)], 1):
            if i >= 0:
                break
    _no_children()


CTRL_C = """
import sys, time
from childguard.executors import LocalExecutor

def slow(_, x):
    time.sleep(30)
    return x

if __name__ == "__main__":
    with LocalExecutor(2) as ex:
        print("started", flush=True)
        list(ex.map_ordered(slow, [(i,) for i in range(4)]))
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_leaves_nothing_in_the_process_group(tmp_path: Path) -> None:
    script = tmp_path / "ctrl_c.py"
    script.write_text(textwrap.dedent(CTRL_C))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell gives a command
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 30
    while len(group_members(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # the spawned worker is up (plus the resource tracker)
    assert len(group_members(proc.pid)) >= 3
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    deadline = time.monotonic() + 10
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(proc.pid) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_cli_scan_with_workers_leaves_nothing_in_its_process_group(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    data.mkdir()
    for s in range(4):
        urls = [f"https://example.org/{s}/{i}.jpg" for i in range(200)]
        texts = ["little girl with kite" if i % 9 == 0 else "a lake" for i in range(200)]
        pq.write_table(pa.table({"URL": urls, "TEXT": texts}), data / f"{s}.parquet")
    cmd = [str(Path(sys.executable).with_name("childguard")), "scan", str(data)]
    cmd += ["--out", str(tmp_path / "audit"), "--workers", "2", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert len(list((tmp_path / "audit" / "stats").glob("*.json"))) == 4
    assert group_members(proc.pid) == []
