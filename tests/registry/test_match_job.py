"""The batch-matching job: a kill at any checkpoint, then a re-run, gives the tasks of an
uninterrupted run; the local pool and Ray give the same tasks as one process."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from childguard.registry.db import default_db_url
from childguard.registry.match_job import MatchLayout, run_pending

from .match_world import add_request, make_world, random_targets
from .test_batch_match import _sessions, tasks_and_counts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, set, dict]:
    """(audit, requests, reference tasks, reference request counts) of one uninterrupted run."""
    root = tmp_path_factory.mktemp("job")
    audit = make_world(root, seed=11, rows=90)
    rng = random.Random(5)
    requests = [(f"req-{i:03d}", random_targets(audit, rng)) for i in range(30)]
    ref = _sessions(root / "ref")
    for rid, t in requests:
        add_request(ref, rid, t)
    run_pending(ref, audit, batch_size=12)
    tasks, reqs = tasks_and_counts(ref)
    assert tasks
    return audit, requests, tasks, {k: v[:3] for k, v in reqs.items()}


def _copy(audit: Path, tmp: Path) -> Path:
    dst = tmp / "audit"
    shutil.copytree(audit, dst)
    return dst


def _match(audit: Path, db: Path, kill_at: str | None = None, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CHILDGUARD_KILL_AT"}
    if kill_at:
        env["CHILDGUARD_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "childguard.cli", "match", str(audit), "--db", default_db_url(db)]
    return subprocess.run(
        [*cmd, "--batch-size", "12", *extra], env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize(
    "kill_at",
    ["match_shard_done:1", "match_shard_done:5", "match_request_queued:1", "match_request_queued:17"],
)
def test_killed_job_resumes_to_the_same_tasks(world, tmp_path: Path, kill_at: str) -> None:
    audit0, requests, want, want_reqs = world
    audit = _copy(audit0, tmp_path)
    sessions = _sessions(tmp_path / "db")
    for rid, t in requests:
        add_request(sessions, rid, t)
    r = _match(audit, tmp_path / "db", kill_at)
    assert r.returncode == -9, r.stderr
    assert any(MatchLayout.of(audit).root.glob("*/job.json"))  # the job is left to resume
    r = _match(audit, tmp_path / "db")
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stdout
    got, got_reqs = tasks_and_counts(sessions)
    assert got == want
    assert {k: v[:3] for k, v in got_reqs.items()} == want_reqs
    assert not any(MatchLayout.of(audit).root.glob("*/job.json"))
    # a further run finds nothing pending and reads nothing
    r = _match(audit, tmp_path / "db")
    assert r.returncode == 0 and "matched 0 request(s)" in r.stdout


def test_process_pool_gives_the_same_tasks(world, tmp_path: Path) -> None:
    audit0, requests, want, want_reqs = world
    audit = _copy(audit0, tmp_path)
    sessions = _sessions(tmp_path / "db")
    for rid, t in requests:
        add_request(sessions, rid, t)
    s = run_pending(sessions, audit, batch_size=12, workers=2)
    assert s.jobs == 3 and s.requests == 30
    got, got_reqs = tasks_and_counts(sessions)
    assert got == want
    assert {k: v[:3] for k, v in got_reqs.items()} == want_reqs


@pytest.mark.ray
def test_ray_engine_gives_the_same_tasks(world, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    audit0, requests, want, _ = world
    audit = _copy(audit0, tmp_path)
    sessions = _sessions(tmp_path / "db")
    for rid, t in requests:
        add_request(sessions, rid, t)
    started = not ray.is_initialized()
    if started:  # a Ray of this test's own, never another process's cluster on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_pending(sessions, audit, batch_size=100, engine="ray", workers=2)
    finally:
        if started:
            ray.shutdown()
    assert tasks_and_counts(sessions)[0] == want


def test_unknown_engine_is_refused(world, tmp_path: Path) -> None:
    audit0, requests, _, _ = world
    audit = _copy(audit0, tmp_path)
    sessions = _sessions(tmp_path / "db")
    add_request(sessions, *requests[0])
    r = _match(audit, tmp_path / "db", None, "--engine", "spark")
    assert r.returncode == 2 and "unknown engine 'spark'" in r.stderr
