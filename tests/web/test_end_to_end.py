"""A real scan, then the service on its audit, then a release that reads the decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from childguard.cli import app as cli

from .conftest import drain, login, make_client

ROWS = [
    ("https://blog.test/2019/festa-5-anos-lucas.jpg", "Aniversário de 5 anos do nosso filho Lucas"),
    ("https://shop.test/shoe.jpg", "red shoe <script>alert(1)</script>"),
    ("https://fam.test/p/1.jpg", "minha filha Ana, 7 anos, na escola Municipal Santos"),
]


def test_scan_review_release_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(
        pa.table({"URL": [u for u, _ in ROWS], "TEXT": [t for _, t in ROWS]}),
        data / "part.parquet",
    )
    audit = tmp_path / "audit"
    runner = CliRunner()
    r = runner.invoke(cli, ["scan", str(data), "--out", str(audit), "--workers", "1"])
    assert r.exit_code == 0, r.output

    with make_client(audit) as client:
        token = client.post(
            "/api/requests",
            json={
                "child_name": "Lucas",
                "contact": "guardian@example.org",
                "relationship": "parent",
                "declaration": True,
            },
        ).json()["token"]
        drain(client)
        csrf = login(client)
        queue = client.get("/review/api/tasks").json()
        by_row: dict[int, list[dict[str, object]]] = {}
        for t in queue:
            by_row.setdefault(int(t["row_index"]), []).append(t)  # type: ignore[arg-type]
        assert 1 not in by_row  # the clean row is not queued
        assert {t["source"] for t in by_row[0]} == {"scan", "request"}
        page = client.get(f"/review/tasks/{by_row[0][0]['id']}").text
        assert "Lucas" not in page  # redacted until revealed
        for t in by_row[0]:
            client.post(
                f"/review/tasks/{t['id']}/decide", data={"decision": "remove", "csrf_token": csrf}
            )
        for t in by_row[2]:
            client.post(
                f"/review/tasks/{t['id']}/decide", data={"decision": "keep", "csrf_token": csrf}
            )
        assert client.get(f"/api/requests/{token}").json()["status"] == "removal_scheduled"

    rel = tmp_path / "rel"
    r = runner.invoke(cli, ["release", str(audit), "--out", str(rel), "--id", "r1"])
    assert r.exit_code == 0, r.output
    kept = pq.read_table(next(rel.joinpath("data").rglob("*.parquet"))).column("URL").to_pylist()
    assert kept == [ROWS[1][0], ROWS[2][0]]  # row 0 removed; row 2 kept by the reviewer
    manifest = json.loads((rel / "manifest.json").read_text())
    assert manifest  # written

    # `childguard release` tells the registry (record_release): the requester sees it
    with make_client(audit) as client:
        assert client.get(f"/api/requests/{token}").json() == {
            "status": "removed",
            "updated_at": client.get(f"/api/requests/{token}").json()["updated_at"],
            "release": "r1",
        }
