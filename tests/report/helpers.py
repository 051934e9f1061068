"""Synthetic sources with canary captions/URLs, a probe detector, and real scans over them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from childguard.config import ScanConfig
from childguard.detect import Detector, Example, register
from childguard.detect.base import LABELLED_OUTPUTS, REGISTRY
from childguard.engine.local import run_scan
from childguard.policy import Policy

# Strings that exist only in the source data: none may reach the report.
CANARY_NAME = "Zyxandra Quillfeather"
CANARY_HOST = "canary-host-7f3a.example"
CANARIES = ("Zyxandra", "Quillfeather", "canary-host-7f3a", "kite-over-Wexmoor")
EVIDENCE_HTML = '<script>alert("x")</script> Z. Q. & school'

if "report_probe" not in REGISTRY._classes:

    @register
    class ReportProbe(Detector):
        """Fires on 'school' (1.0, evidence with HTML in it) and 'girl' (0.7)."""

        name = "report_probe"
        version = "2"
        outputs = LABELLED_OUTPUTS

        def score(self, batch: pa.Table) -> pa.Table:
            text = pc.utf8_lower(pc.fill_null(batch.column("text"), ""))
            school = pc.match_substring(text, "school")
            girl = pc.match_substring(text, "girl")
            none = pa.scalar(None, pa.string())
            return pa.table(
                {
                    "report_probe__score": pc.if_else(school, 1.0, pc.if_else(girl, 0.7, 0.0)),
                    "report_probe__evidence": pc.if_else(
                        school, EVIDENCE_HTML, pc.if_else(girl, "child term: girl", none)
                    ),
                    "report_probe__label": pc.if_else(
                        school, "name+school", pc.if_else(girl, "child_term", none)
                    ),
                }
            )

        @staticmethod
        def examples() -> list[Example]:
            return [
                Example("a girl", fires=True, label="child_term"),
                Example("at school", fires=True, label="name+school"),
                Example("a dog", fires=False),
            ]


POLICY = Policy.model_validate(
    {
        "version": "report-test-1",
        "detectors": ["report_probe"],
        "rules": [
            {"name": "probe_school", "risk": "identifiable_child", "when": "report_probe >= 1.0"},
            {"name": "probe_any", "risk": "child", "when": "report_probe"},
        ],
    }
)


def caption(i: int, hits: bool = True) -> str:
    """Every caption carries the canaries; 1 in 50 names a school, 1 in 7 a girl."""
    if hits and i % 50 == 0:
        return f"{CANARY_NAME} at school, age 7, kite-over-Wexmoor {i}"
    if hits and i % 7 == 0:
        return f"little girl {CANARY_NAME} with kite-over-Wexmoor {i}"
    return f"mountain landscape by {CANARY_NAME}, kite-over-Wexmoor {i}"


def expected_risk(i: int, hits: bool = True) -> str:
    if hits and i % 50 == 0:
        return "identifiable_child"
    if hits and i % 7 == 0:
        return "child"
    return "clean"


def url(i: int) -> str:
    return f"https://{CANARY_HOST}/u/{CANARY_NAME.replace(' ', '_')}/{i}.jpg"


def write_sources(root: Path, hits: bool = True, bad_csv: bool = True) -> dict[str, list[int]]:
    """A parquet shard (400 rows), a JSONL shard (300 rows), and a CSV with a broken row.

    Returns each good shard's row numbers (its global i values) by file name."""
    root.mkdir(parents=True, exist_ok=True)
    a, b = list(range(400)), list(range(400, 700))
    pq.write_table(
        pa.table({"URL": [url(i) for i in a], "TEXT": [caption(i, hits) for i in a]}),
        root / "part-a.parquet",
        row_group_size=150,
    )
    with open(root / "part-b.jsonl", "w", encoding="utf-8") as f:
        for i in b:
            f.write(json.dumps({"url": url(i), "caption": caption(i, hits)}) + "\n")
    if bad_csv:
        # pyarrow quotes the broken row (URL and caption) in its error message
        (root / "broken.csv").write_text(
            f"url,caption\n{url(1)},ok\n{url(2)},{CANARY_NAME} age 7,extra\n", encoding="utf-8"
        )
    return {"part-a": a, "part-b": b}


def scan(src: Path, out: Path) -> None:
    run_scan(ScanConfig(inputs=[str(src)], out=str(out), workers=1), POLICY, progress=False)


def expected_counts(ids: list[int], hits: bool = True) -> dict[str, int]:
    counts = {"blocked": 0, "identifiable_child": 0, "child": 0, "clean": 0}
    for i in ids:
        counts[expected_risk(i, hits)] += 1
    return counts


def add_decisions(audit: Path, rows: list[tuple[str, int, str, str | None]]) -> str:
    """Record reviewers' decisions (shard_id, row_index, decision, request_id) in the registry
    database beside the audit, through the shipped migrations and models."""
    from sqlalchemy.orm import Session

    from childguard.registry.db import default_db_url, upgrade
    from childguard.registry.models import Decision, ReviewTask, User

    db_url = default_db_url(audit)
    engine = upgrade(db_url)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as s:
        user = User(username="reviewer", password_hash="x", role="reviewer")
        s.add(user)
        s.flush()
        for n, (shard, row, decision, request_id) in enumerate(rows):
            task = ReviewTask(
                task_key=f"scan:{shard}:{row}:{n}",
                source="scan" if request_id is None else "request",
                shard_id=shard,
                row_index=row,
                url_sha256="00" * 32,
                risk="child",
                risk_rank=2,
                action="review",
                status="done",
            )
            s.add(task)
            s.flush()
            s.add(
                Decision(
                    task_id=task.id,
                    shard_id=shard,
                    row_index=row,
                    url_sha256="00" * 32,
                    decision=decision,
                    request_id=request_id,
                    user_id=user.id,
                    decided_at=t0,
                )
            )
        s.commit()
    engine.dispose()
    return db_url


def write_audit(root: Path, shards: list[tuple[str, int, dict[str, int]]]) -> Path:
    """An audit folder in the scan's layout, written directly: (shard_id, rows, risk counts).

    For shapes a scan of test data would be slow to make (hundreds of shards)."""
    from childguard.engine.batch import FINDINGS_SCHEMA
    from childguard.policy import REASON_TYPE

    actions = {"blocked": "remove", "identifiable_child": "remove", "child": "review"}
    (root / "findings").mkdir(parents=True)
    (root / "stats").mkdir()
    inputs = []
    for sid, rows, counts in shards:
        risks = [r for r in ("blocked", "identifiable_child", "child") for _ in range(counts[r])]
        n = len(risks)
        reason = {
            "detector": "probe",
            "version": "1",
            "label": "probe",
            "score": 1.0,
            "threshold": 0.5,
            "evidence": "A. B.",
        }
        table = pa.table(
            {
                "row_index": pa.array(range(n), pa.int64()),
                "url_sha256": [f"{sid}-{i:060d}"[:64] for i in range(n)],
                "laion_hash": pa.array(range(n), pa.int64()),
                "risk": risks,
                "action": [actions[r] for r in risks],
                "rule": [f"rule_{r}" for r in risks],
                "reasons": pa.array([[reason]] * n, pa.list_(REASON_TYPE)),
                "picture": [None] * n,  # no images detector in this audit
            },
            schema=FINDINGS_SCHEMA,
        )
        pq.write_table(table, root / "findings" / f"{sid}.parquet")
        stats = {
            "shard_id": sid,
            "path": f"/data/{sid}.parquet",
            "format": "parquet",
            "convention": "laion",
            "rows": rows,
            "risk_counts": {**counts, "clean": rows - n},
            "errors": [],
            "status": "ok",
        }
        (root / "stats" / f"{sid}.json").write_text(json.dumps(stats))
        inputs.append({"shard_id": sid, "path": stats["path"], "size": 1000})
    run = {
        "tool_version": "0.1.0",
        "status": "finished",
        "policy": {"version": "direct-1", "actions": {**actions, "clean": "keep"}, "rules": []},
        "policy_hash": "0" * 16,
        "detectors": [{"name": "probe", "version": "1", "options": {}}],
        "inputs": inputs,
    }
    (root / "run.json").write_text(json.dumps(run))
    return root
