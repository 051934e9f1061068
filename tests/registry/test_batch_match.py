"""Batch matching gives exactly the review tasks that per-request matching gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from childguard.registry import matching
from childguard.registry.db import default_db_url, session_factory, upgrade
from childguard.registry.match_job import run_pending
from childguard.registry.models import RemovalRequest, ReviewTask
from childguard.registry.url_index import build_index

from .match_world import add_request, make_world, random_targets


def _sessions(folder: Path) -> sessionmaker[Session]:
    return session_factory(upgrade(default_db_url(folder)))


def tasks_and_counts(sessions: sessionmaker[Session]) -> tuple[set[tuple], dict[str, tuple]]:
    """Every request task as comparable tuples, and each request's (matched, done)."""
    with sessions() as s:
        tasks = {
            (
                t.task_key,
                t.request_id,
                t.shard_id,
                t.row_index,
                t.match_kind,
                t.url_sha256,
                t.laion_hash,
                t.risk,
                t.risk_rank,
                t.action,
                t.status,
            )
            for t in s.scalars(select(ReviewTask).where(ReviewTask.source == "request"))
        }
        reqs = {r.id: (r.matched, r.matching_done, r.status, r.updated_at) for r in s.scalars(select(RemovalRequest))}
    return tasks, reqs


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("world")
    audit = make_world(root)
    rng = random.Random(7)
    requests = [(f"req-{i:03d}", random_targets(audit, rng)) for i in range(40)]
    return audit, requests


def _per_request(tmp: Path, audit: Path, requests: list) -> sessionmaker[Session]:
    sessions = _sessions(tmp)
    for rid, t in requests:
        add_request(sessions, rid, t)
        matching.match_request(sessions, audit, rid, t)
    return sessions


@pytest.mark.parametrize("cap", [None, 3])
@pytest.mark.parametrize("batch_size", [1000, 7])
def test_batch_gives_the_per_request_tasks(
    world, tmp_path: Path, cap: int | None, batch_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit, requests = world
    if cap is not None:
        monkeypatch.setattr(matching, "MAX_TASKS_PER_REQUEST", cap)
    ref = _per_request(tmp_path / "a", audit, requests)
    batch = _sessions(tmp_path / "b")
    for rid, t in requests:
        add_request(batch, rid, t)
    summary = run_pending(batch, audit, batch_size=batch_size)
    assert summary.requests == len(requests)
    want, want_reqs = tasks_and_counts(ref)
    got, got_reqs = tasks_and_counts(batch)
    assert got == want
    assert {k: v[:3] for k, v in got_reqs.items()} == {k: v[:3] for k, v in want_reqs.items()}
    if cap is None:  # every kind is exercised (a cap of 3 leaves the photo matches out)
        assert {t[4] for t in want} == {"url", "page", "domain", "name", "pdq"}
    else:
        assert any(v[0] > cap for v in want_reqs.values())  # the cap did bite
    assert not (audit / "_match").exists() or not any((audit / "_match").glob("*/job.json"))
    assert run_pending(batch, audit).requests == 0  # nothing left pending


def test_index_path_gives_the_same_tasks(world, tmp_path: Path) -> None:
    audit, requests = world
    build_index(audit)
    try:
        ref = _per_request(tmp_path / "a", audit, requests)
        batch = _sessions(tmp_path / "b")
        for rid, t in requests:
            add_request(batch, rid, t)
        summary = run_pending(batch, audit)
        assert summary.index_used
        assert tasks_and_counts(batch)[0] == tasks_and_counts(ref)[0]
        # URL-only requests need no pass over the rows at all
        only = _sessions(tmp_path / "c")
        url_reqs = [(rid, t) for rid, t in requests if t.urls and not (t.domains or t.names or t.pdq)]
        url_reqs = [(rid, t) for rid, t in url_reqs if not matching.page_prefixes(t.urls)]
        assert url_reqs
        for rid, t in url_reqs:
            add_request(only, rid, t)
        s = run_pending(only, audit)
        want = {x for x in tasks_and_counts(ref)[0] if x[1] in {r for r, _ in url_reqs}}
        assert tasks_and_counts(only)[0] == want
        assert s.shards_read <= len({x[2] for x in want})  # only shards the index named
    finally:
        import shutil

        shutil.rmtree(audit / "index")


def test_matching_never_moves_what_the_requester_sees(world, tmp_path: Path) -> None:
    audit, requests = world
    batch = _sessions(tmp_path / "b")
    for rid, t in requests:
        add_request(batch, rid, t)
    before = tasks_and_counts(batch)[1]
    run_pending(batch, audit)
    after = tasks_and_counts(batch)[1]
    # status and updated_at are what the status page shows: the same whether a request
    # matched many rows, one, or none
    assert {k: v[2:] for k, v in after.items()} == {k: v[2:] for k, v in before.items()}
    assert {v[2] for v in after.values()} == {"received"}
