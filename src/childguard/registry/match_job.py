"""Match every pending removal request in one job: one read of each shard for all of them.

    AUDIT/_match/<job-id>/job.json            request ids, targets fingerprint, shards
    AUDIT/_match/<job-id>/<shard-id>.parquet  (request_id, row_index, kind, url_sha256)

A job takes the requests whose matching is not done (`matching_done` false), in batches of
`batch_size`; each shard's matches are written atomically as it finishes (the resume marker:
a re-run reads the finished shards back and reads only the others), then the matches are
queued as review tasks one request at a time, each in one transaction that also marks the
request done, through the same `matching.queue_shard_matches` as the per-request path. A
kill at any point leaves either a finished request or one the re-run does again whole, so
the tasks are those of an uninterrupted run (tests/registry/test_match_job.py kills it at
each checkpoint).

Exact URLs are looked up in the URL index (`url_index.py`) when the audit has one for the
same shards; domains, folders, names and photos take the pass. No shard file holds a name:
targets stay in the registry and in memory; the job file keeps only request ids and a hash.
What a job finds goes only into review tasks; nothing a requester sees changes with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from filelock import FileLock
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from childguard.io.atomic import write_json_atomic, write_parquet_atomic
from childguard.registry.batch_match import (
    MATCHES_SCHEMA,
    CompiledRequests,
    best_kind,
    compile_requests,
    empty_matches,
    match_shard,
)
from childguard.registry.matching import (
    Targets,
    findings_for,
    finish_request,
    page_prefixes,
    queue_shard_matches,
    queued_count,
    targets_of,
)
from childguard.registry.models import RemovalRequest
from childguard.registry.source import ShardRef, load_inputs, read_rows
from childguard.registry.url_index import UrlIndex
from childguard.release.faults import checkpoint
from childguard.urls import list_key_column, url_sha256_column

log = logging.getLogger(__name__)
DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class MatchLayout:
    """Paths under `AUDIT/_match/`."""

    root: Path

    @classmethod
    def of(cls, audit_dir: Path) -> MatchLayout:
        """The batch-matching folder of an audit."""
        return cls(Path(audit_dir) / "_match")

    def job_dir(self, job_id: str) -> Path:
        """One job's folder."""
        return self.root / job_id

    def job_json(self, job_id: str) -> Path:
        """One job's record: request ids and targets fingerprint."""
        return self.job_dir(job_id) / "job.json"

    def result(self, job_id: str, shard_id: str) -> Path:
        """One shard's matches within a job (its presence marks the shard done)."""
        return self.job_dir(job_id) / f"{shard_id}.parquet"


@dataclass
class JobSummary:
    """What a `run_pending` call did: requests matched, tasks queued, shards read."""

    jobs: int = 0
    requests: int = 0
    tasks: int = 0
    shards_read: int = 0
    shards_resumed: int = 0
    index_used: bool = False
    job_ids: list[str] = field(default_factory=list)


def _fingerprint(requests: list[tuple[str, Targets]]) -> str:
    blob = json.dumps(
        [[rid, t.urls, t.domains, t.names, t.pdq] for rid, t in requests], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def job_id_of(request_ids: list[str]) -> str:
    """A job's id: a hash of its request ids (the same batch resumes the same job)."""
    return hashlib.sha256("\n".join(sorted(request_ids)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Payload:
    compiled: CompiledRequests
    layout: MatchLayout
    job_id: str


def _index_hits(index: UrlIndex, c: CompiledRequests) -> dict[str, pl.DataFrame]:
    """shard_id -> (key, request_id, row_index) candidates for every request URL."""
    if not c.url_keys.height:
        return {}
    keys = c.url_keys.with_columns(
        ikey=pl.col("key").map_elements(_key_int, return_dtype=pl.UInt64)
    )
    hits = index.lookup_keys(keys["ikey"].unique().to_list()).rename({"key": "ikey"})
    joined = hits.join(keys, on="ikey").select("shard_id", "key", "request_id", "row_index")
    return {
        str(sid): part.drop("shard_id")
        for (sid,), part in joined.partition_by("shard_id", as_dict=True).items()
    }


def _key_int(key: str) -> int:
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def _verify_hits(ref: ShardRef, hits: pl.DataFrame) -> pl.DataFrame:
    """Index candidates checked against the rows themselves (one read of the row groups that
    hold them): the row's list key must be the request's (the index keeps only 8 bytes of its
    hash); the task takes the row's url_sha256."""
    rows = read_rows(ref, hits["row_index"].unique().to_list())
    if "url" not in rows.column_names or not rows.num_rows:
        return empty_matches()
    df = pl.DataFrame(
        {
            "row_index": pl.Series(rows.column("row_index")).cast(pl.Int64),
            "row_key": list_key_column(rows.column("url")),
            "url_sha256": url_sha256_column(rows.column("url")),
        }
    )
    ok = hits.join(df, on="row_index").filter(pl.col("key") == pl.col("row_key"))
    return ok.select("request_id", "row_index", kind=pl.lit("url"), url_sha256="url_sha256")


def _match_one(payload: _Payload, ref: ShardRef, hits: pl.DataFrame | None) -> dict[str, Any]:
    """One shard of a job: the pass (and index hits), written atomically; skipped if done."""
    out = payload.layout.result(payload.job_id, ref.shard_id)
    if out.exists():
        return {"shard_id": ref.shard_id, "resumed": True}
    try:
        found = match_shard(payload.compiled, ref)
        if hits is not None and hits.height:
            both = pl.concat([found, _verify_hits(ref, hits).cast(MATCHES_SCHEMA)])
            found = best_kind(both).select(list(MATCHES_SCHEMA)).sort("request_id", "row_index")
    except Exception as e:  # as the per-request path: one unreadable shard loses no request
        log.warning("batch matching: shard %s failed: %s", ref.shard_id, type(e).__name__)
        found = empty_matches()
    write_parquet_atomic(out, found.to_arrow())
    checkpoint("match_shard_done")
    return {"shard_id": ref.shard_id, "resumed": False}


def _load_requests(sessions: sessionmaker[Session], ids: list[str]) -> list[tuple[str, Targets]]:
    with sessions() as s:
        reqs = {r.id: r for r in s.scalars(select(RemovalRequest).where(RemovalRequest.id.in_(ids)))}
        return [(rid, targets_of(reqs[rid])) for rid in ids if rid in reqs]


def run_job(
    sessions: sessionmaker[Session],
    audit_dir: Path,
    request_ids: list[str],
    *,
    engine: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    use_index: bool = True,
) -> JobSummary:
    """Match these requests together and queue their tasks (resuming an unfinished job)."""
    from childguard.registry.jobs import map_shards

    summary = JobSummary(jobs=1)
    layout = MatchLayout.of(audit_dir)
    requests = _load_requests(sessions, sorted(request_ids))
    if not requests:
        return summary
    ids = [rid for rid, _ in requests]
    jid = job_id_of(ids)
    summary.job_ids.append(jid)
    refs = load_inputs(audit_dir)
    fp = _fingerprint(requests)
    jpath = layout.job_json(jid)
    if jpath.exists():
        prev = json.loads(jpath.read_text(encoding="utf-8"))
        if prev.get("fingerprint") != fp or prev.get("shards") != list(refs):
            shutil.rmtree(layout.job_dir(jid))  # other targets or another scan: start over
    if not jpath.exists():
        write_json_atomic(jpath, {"request_ids": ids, "fingerprint": fp, "shards": list(refs)})
    compiled = compile_requests(requests)
    index = UrlIndex.open(audit_dir) if use_index else None
    hits: dict[str, pl.DataFrame] = {}
    url_only = not (compiled.pages.height or compiled.domains.height or compiled.names.height)
    if (
        index is not None
        and url_only
        and not compiled.needs_images
        and compiled.url_keys.height
        and index.covers(refs)
    ):
        # a batch that needs a pass anyway checks its URLs in that pass at no extra read
        compiled.use_index = True
        summary.index_used = True
        hits = _index_hits(index, compiled)
    need_rows = compiled.needs_pass or compiled.needs_images
    jobs = [
        (ref, hits.get(sid))
        for sid, ref in refs.items()
        if need_rows or sid in hits or layout.result(jid, sid).exists()
    ]
    payload = _Payload(compiled, layout, jid)
    for r in map_shards(
        _match_one,
        jobs,
        payload,
        engine=engine,
        workers=workers,
        ray_address=ray_address,
        shared_dir=layout.job_dir(jid),
    ):
        if r["resumed"]:
            summary.shards_resumed += 1
        else:
            summary.shards_read += 1
    summary.tasks = _queue(sessions, audit_dir, layout, jid, ids, refs)
    summary.requests = len(ids)
    shutil.rmtree(layout.job_dir(jid), ignore_errors=True)
    return summary


def _queue(
    sessions: sessionmaker[Session],
    audit_dir: Path,
    layout: MatchLayout,
    jid: str,
    ids: list[str],
    refs: dict[str, ShardRef],
) -> int:
    """Queue each request's matches in shard order, one transaction per request."""
    per_shard: dict[str, dict[str, dict[int, tuple[str, str | None]]]] = {}
    for sid in refs:
        path = layout.result(jid, sid)
        if not path.exists():
            continue
        df = pl.read_parquet(path)
        for (rid,), part in df.partition_by("request_id", as_dict=True).items():
            per_shard.setdefault(str(rid), {})[sid] = {
                int(ri): (k, sha)
                for ri, k, sha in part.select("row_index", "kind", "url_sha256").iter_rows()
            }
    # the scan's findings of every matched row, read once per shard for the whole job
    flagged: dict[str, dict[int, dict[str, Any]]] = {}
    for sid in refs:
        rows = sorted({ri for shards in per_shard.values() for ri in shards.get(sid, {})})
        if rows:
            flagged[sid] = findings_for(audit_dir, sid, rows)
    added_all = 0
    for rid in ids:
        with sessions() as session, session.begin():
            req = session.get(RemovalRequest, rid)
            if req is None or req.matching_done:
                continue  # queued before a kill, or gone
            queued = start = queued_count(session, rid)
            seen = 0
            mine = per_shard.get(rid, {})
            for sid in refs:
                if sid in mine:
                    n, queued = queue_shard_matches(
                        session, audit_dir, rid, sid, mine[sid], queued, flagged.get(sid, {})
                    )
                    seen += n
            finish_request(session, rid, seen, queued - start)
            added_all += queued - start
        checkpoint("match_request_queued")
    return added_all


def _exact_urls_only(t: Targets) -> bool:
    return bool(t.urls) and not (t.domains or t.names or t.pdq or page_prefixes(t.urls))


def pending_request_ids(sessions: sessionmaker[Session]) -> list[str]:
    """Requests whose matching is not done, oldest first."""
    with sessions() as s:
        return list(
            s.scalars(
                select(RemovalRequest.id)
                .where(RemovalRequest.matching_done.is_(False))
                .order_by(RemovalRequest.created_at, RemovalRequest.id)
            )
        )


def run_pending(
    sessions: sessionmaker[Session],
    audit_dir: Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    engine: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    use_index: bool = True,
) -> JobSummary:
    """Finish any job a kill interrupted, then match every pending request, `batch_size` at a
    time. One process at a time per audit (a lock file), so a server and a CLI job never
    match the same request twice."""
    layout = MatchLayout.of(audit_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    total = JobSummary()
    opts: dict[str, Any] = {
        "engine": engine,
        "workers": workers,
        "ray_address": ray_address,
        "use_index": use_index,
    }
    with FileLock(str(layout.root / ".lock")):
        batches: list[list[str]] = []
        for jpath in sorted(layout.root.glob("*/job.json")):
            try:
                batches.append(json.loads(jpath.read_text(encoding="utf-8"))["request_ids"])
            except (OSError, ValueError, KeyError):
                shutil.rmtree(jpath.parent, ignore_errors=True)  # a torn job: redo its requests
        pending = pending_request_ids(sessions)
        in_jobs = {rid for b in batches for rid in b}
        rest = [rid for rid in pending if rid not in in_jobs]
        groups = [rest]
        if use_index and UrlIndex.open(audit_dir) is not None:
            # exact-URL requests go in batches of their own: the index answers those without
            # reading the dataset; the rest share one pass
            exact = {rid for rid, t in _load_requests(sessions, rest) if _exact_urls_only(t)}
            groups = [[r for r in rest if r in exact], [r for r in rest if r not in exact]]
        for g in groups:
            batches += [g[i : i + batch_size] for i in range(0, len(g), max(1, batch_size))]
        for ids in batches:
            s = run_job(sessions, audit_dir, ids, **opts)
            total.jobs += 1
            total.requests += s.requests
            total.tasks += s.tasks
            total.shards_read += s.shards_read
            total.shards_resumed += s.shards_resumed
            total.index_used = total.index_used or s.index_used
            total.job_ids += s.job_ids
    return total


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "JobSummary",
    "MatchLayout",
    "job_id_of",
    "pending_request_ids",
    "run_job",
    "run_pending",
]
