"""The service matches requests in batches (by count or by time), and what a requester sees
is the same before and after a batch, matched or not."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from childguard.registry.models import RemovalRequest, ReviewTask

from .conftest import csrf_of, login, make_client

BASE = {"contact": "guardian@example.org", "relationship": "parent", "declaration": True}
HIT = {**BASE, "urls": ["https://example.org/img/maria-clara-1.jpg"]}


def _counts(client: TestClient) -> tuple[int, int]:
    """(request tasks, requests whose matching is done)."""
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        tasks = s.scalar(
            select(func.count()).select_from(ReviewTask).where(ReviewTask.source == "request")
        )
        done = s.scalar(
            select(func.count()).select_from(RemovalRequest).where(RemovalRequest.matching_done)
        )
    return int(tasks or 0), int(done or 0)


def test_a_batch_runs_when_full(audit: Path) -> None:
    with make_client(audit, match_batch_size=3, match_batch_seconds=3600) as client:
        tokens = [client.post("/api/requests", json=HIT).json()["token"] for _ in range(2)]
        before = [client.get(f"/api/requests/{t}").json() for t in tokens]
        # two of three: nothing matched yet (no timer fires within the hour)
        assert client.app.state.matcher._pending == set()  # type: ignore[attr-defined]
        assert _counts(client) == (0, 0)
        tokens.append(client.post("/api/requests", json=HIT).json()["token"])
        client.app.state.matcher.drain()  # type: ignore[attr-defined]
        assert _counts(client) == (3, 3)
        after = [client.get(f"/api/requests/{t}").json() for t in tokens[:2]]
        assert after == before  # matching moved neither status nor updated_at


def test_a_batch_runs_when_the_oldest_has_waited(audit: Path) -> None:
    with make_client(audit, match_batch_size=100, match_batch_seconds=0.05) as client:
        matcher = client.app.state.matcher  # type: ignore[attr-defined]
        ran = threading.Event()
        real = matcher._run

        def run():
            try:
                return real()
            finally:
                ran.set()

        matcher._run = run
        client.post("/api/requests", json=HIT)
        assert ran.wait(30), "the timer never started the batch"
        matcher.drain()
        assert _counts(client) == (1, 1)


def test_matched_and_unmatched_requests_look_the_same(audit: Path) -> None:
    with make_client(audit, match_batch_size=2) as client:
        hit = client.post("/api/requests", json=HIT).json()["token"]
        miss = client.post(
            "/api/requests", json={**BASE, "urls": ["https://nowhere.test/none.jpg"]}
        ).json()["token"]
        client.app.state.matcher.drain()  # type: ignore[attr-defined]
        a, b = client.get(f"/api/requests/{hit}").json(), client.get(f"/api/requests/{miss}").json()
        assert set(a) == set(b) == {"status", "updated_at"}
        assert a["status"] == b["status"] == "received"
        assert _counts(client) == (1, 2)


def test_rematch_goes_through_the_next_batch(audit: Path) -> None:
    with make_client(audit, match_batch_size=1) as client:
        client.post("/api/requests", json=HIT)
        client.app.state.matcher.drain()  # type: ignore[attr-defined]
        with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
            rid = s.scalar(select(RemovalRequest.id))
            # the task is taken away behind the registry's back: a rematch queues it again
            s.query(ReviewTask).filter(ReviewTask.request_id == rid).delete()
            s.commit()
        assert _counts(client) == (0, 1)
        login(client)
        page = client.get(f"/review/requests/{rid}")
        r = client.post(f"/review/requests/{rid}/rematch", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        client.app.state.matcher.drain()  # type: ignore[attr-defined]
        assert _counts(client) == (1, 1)
