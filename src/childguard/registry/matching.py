"""Match a removal request against the scanned shards; every matched row becomes a review task.

Kinds of match, all vectorised over each batch with Polars:
- `url`: the row's normalised URL equals a normalised URL the requester gave (image or page);
- `page`: a folder-like address the requester gave (no file name, no query) is a prefix of
  the row's URL (the images filed under it);
- `domain`: the row's host is the domain or one of its subdomains;
- `name`: the child's name, as whole words, in the caption or in the URL's path words (slug),
  normalised on both sides by the detectors' `textnorm` (the names detector reads the same
  columns);
- `pdq`: the PDQ hash of the reference photo within distance 31 of a row's image, where the
  shard carries image bytes and `pdqhash` is installed (the photo itself is never stored).

Nothing here returns rows to the requester: the result is tasks for reviewers and a count the
web layer never shows publicly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from childguard.detect.textnorm import normalize_terms, prepare
from childguard.registry.audit import record
from childguard.registry.models import RISK_RANK, RemovalRequest, ReviewTask, utcnow
from childguard.registry.queue import request_task_key
from childguard.registry.source import ShardRef, iter_images, iter_rows, load_inputs
from childguard.urls import (
    list_key,
    list_key_column,
    normalize_url,
    normalize_url_column,
    url_sha256_column,
)

log = logging.getLogger(__name__)
PDQ_MAX_DISTANCE = 31
# A request naming a whole photo-hosting domain could match millions of rows: queue this many
# and count the rest, so reviewers see the size and can ask the requester to narrow it.
MAX_TASKS_PER_REQUEST = 2000
# the host of a normalised URL (userinfo skipped), as domain and folder matching read it
HOST_PATTERN = r"^[a-z][a-z0-9+.-]*://(?:[^/@]*@)?([^/:?#]+)"


@dataclass
class Targets:
    """What a removal request names, normalised: URLs, domains, names and PDQ hashes."""
    urls: list[str] = field(default_factory=list)  # normalised
    domains: list[str] = field(default_factory=list)  # lower-case, IDNA
    names: list[str] = field(default_factory=list)  # normalised words, space separated
    pdq: list[str] = field(default_factory=list)  # 64 hex digits

    def empty(self) -> bool:
        """True when the request names nothing to match."""
        return not (self.urls or self.domains or self.names or self.pdq)


def targets_of(req: RemovalRequest) -> Targets:
    """A stored request's targets (as intake normalised them)."""
    t = Targets()
    for target in req.targets:
        getattr(
            t, {"url": "urls", "domain": "domains", "name": "names", "pdq": "pdq"}[target.kind]
        ).append(target.value)
    return t


def normalize_name(name: str) -> str:
    """A name normalised like captions are (textnorm), or '' when nothing is left."""
    terms = normalize_terms([name])
    return terms[0] if terms else ""


def normalize_domain(domain: str) -> str:
    """A domain lower-cased, IDNA-encoded, without scheme, path, port or `www.`."""
    d = domain.strip().lower()
    if "://" in d:
        d = d.split("://", 1)[1]
    d = d.split("/", 1)[0].split(":", 1)[0].strip(".")
    if d.startswith("www."):
        d = d[4:]
    norm = normalize_url(f"http://{d}/") or ""
    return norm[len("http://") : -1]


def normalize_target_url(url: str) -> str:
    """A requester's URL normalised like row URLs (http:// added when bare)."""
    u = url.strip()
    if "://" not in u:
        u = "http://" + u
    return normalize_url(u) or u


def url_variants(urls: list[str]) -> list[str]:
    """http and https of the same address are the same picture."""
    out = set(urls)
    for u in urls:
        if u.startswith("http://"):
            out.add("https://" + u[7:])
        elif u.startswith("https://"):
            out.add("http://" + u[8:])
    return sorted(out)


def page_prefixes(urls: list[str]) -> list[str]:
    """A folder-like address (`https://blog.test/2019/party/`, no file name, no query) also
    names the images filed under it: their URLs start with it. Pages with a file name
    (`party.html`) or a query match exactly only: their images live elsewhere."""
    out = set()
    for u in urls:
        if "?" in u:
            continue
        path = u.partition("://")[2].partition("/")[2]
        if not path.strip("/") or "." in path.rstrip("/").rsplit("/", 1)[-1]:
            continue  # a bare host is a domain request; a file is an exact address
        out.add(u.rstrip("/") + "/")
    return url_variants(sorted(out))


def pdq_hex_from_bytes(data: bytes) -> str | None:
    """PDQ (hex) of an image held in memory; nothing touches the disk. None when the image is
    too flat for PDQ to mean anything (quality below ThreatExchange's 50): such hashes match
    unrelated pictures. Raises `ImageError` for bytes that are not an image."""
    from childguard.images.hashing import MIN_PDQ_QUALITY, pdq_hash

    digest, quality = pdq_hash(data)
    return digest.hex() if quality >= MIN_PDQ_QUALITY else None


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def match_rows(ref: ShardRef, targets: Targets) -> dict[int, tuple[str, str | None]]:
    """row_index -> (match kind, url_sha256) for one shard."""
    found: dict[int, tuple[str, str | None]] = {}
    urls = url_variants(targets.urls)
    pages = page_prefixes(targets.urls)
    names = [f" {n} " for n in targets.names if n]
    if urls or targets.domains or names:
        for batch in iter_rows(ref):
            df = pl.from_arrow(batch.select(["row_index", "url", "text"]))
            assert isinstance(df, pl.DataFrame)
            norm = normalize_url_column(df["url"])
            kinds = pl.Series("k", [None] * df.height, dtype=pl.String)
            if names:
                # caption words and URL path words (slug percent-decoded), as the name detector
                # reads them; the host is left out (it is often the photographer's name)
                words = prepare(batch.select(["row_index", "url", "text"])).column("both_norm")
                hit = pl.Series(words).str.contains_any(names).fill_null(False)
                kinds = pl.select(pl.when(hit).then(pl.lit("name")).otherwise(kinds)).to_series()
            if targets.domains:
                host = norm.str.extract(HOST_PATTERN, 1)
                host = host.fill_null("").str.to_lowercase()
                hit = pl.Series([False] * df.height)
                for d in targets.domains:
                    hit = hit | (host == d) | host.str.ends_with("." + d)
                kinds = pl.select(pl.when(hit).then(pl.lit("domain")).otherwise(kinds)).to_series()
            if pages:
                hit = pl.Series([False] * df.height)
                for p in pages:
                    hit = hit | norm.str.starts_with(p).fill_null(False)
                kinds = pl.select(pl.when(hit).then(pl.lit("page")).otherwise(kinds)).to_series()
            if urls:
                # the Safe-Browsing-style key on both sides: a guardian's URL and the row's
                # match however either is spelt (escapes, IPv4 forms, `//`, case)
                keys = list_key_column(df["url"])
                want = pl.Series(sorted({k for k in map(list_key, urls) if k}), dtype=pl.String)
                hit = keys.is_in(want.implode()).fill_null(False)
                kinds = pl.select(pl.when(hit).then(pl.lit("url")).otherwise(kinds)).to_series()
            mask = kinds.is_not_null()
            if not mask.any():
                continue
            sel = df.filter(mask)
            shas = url_sha256_column(sel["url"]).to_list()
            for ri, k, sha in zip(
                sel["row_index"].to_list(), kinds.filter(mask).to_list(), shas, strict=True
            ):
                found[int(ri)] = (k, sha)
    if targets.pdq:
        try:
            import pdqhash  # noqa: F401
        except ImportError:
            log.info("pdqhash not installed: photo matching skipped")
            return found
        for ri, data in iter_images(ref):
            if ri in found:
                continue
            try:
                h = pdq_hex_from_bytes(data)
            except Exception:  # an undecodable image in the data set is not the request's fault
                continue
            if h is not None and any(_hamming(h, t) <= PDQ_MAX_DISTANCE for t in targets.pdq):
                found[ri] = ("pdq", None)
    return found


def findings_for(audit_dir: Path, shard_id: str, rows: list[int]) -> dict[int, dict[str, Any]]:
    """The scan's findings rows (risk, action, reasons...) of these rows of one shard."""
    path = Path(audit_dir) / "findings" / f"{shard_id}.parquet"
    if not path.exists() or not rows:
        return {}
    df = pl.from_arrow(pq.read_table(path))
    assert isinstance(df, pl.DataFrame)
    df = df.filter(pl.col("row_index").is_in(rows))
    return {int(r["row_index"]): r for r in df.iter_rows(named=True)}


def queued_count(session: Session, request_id: str) -> int:
    """How many tasks earlier runs queued for a request (a re-match counts them)."""
    n = session.scalar(
        select(func.count()).select_from(ReviewTask).where(ReviewTask.request_id == request_id)
    )
    return int(n or 0)


def queue_shard_matches(
    session: Session,
    audit_dir: Path,
    request_id: str,
    shard_id: str,
    found: dict[int, tuple[str, str | None]],
    queued: int,
    flagged: dict[int, dict[str, Any]] | None = None,
) -> tuple[int, int]:
    """Add one shard's matched rows of a request as review tasks, in row order, up to
    `MAX_TASKS_PER_REQUEST` in all; returns (rows newly seen, tasks queued so far). Both the
    per-request and the batch path queue through here, so their tasks are the same."""
    if not found:
        return 0, queued
    if flagged is None:
        flagged = findings_for(audit_dir, shard_id, list(found))
    have = set(
        session.scalars(
            select(ReviewTask.row_index).where(
                ReviewTask.request_id == request_id, ReviewTask.shard_id == shard_id
            )
        )
    )
    seen = 0
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for ri, (kind, sha) in sorted(found.items()):
        if ri in have:
            continue
        seen += 1
        if queued >= MAX_TASKS_PER_REQUEST:
            continue
        f = flagged.get(ri) or {}
        risk = f.get("risk") or "request"
        rows.append(
            {
                "task_key": request_task_key(request_id, shard_id, ri),
                "source": "request",
                "request_id": request_id,
                "shard_id": shard_id,
                "row_index": ri,
                "url_sha256": sha or f.get("url_sha256"),
                "laion_hash": f.get("laion_hash"),
                "risk": risk,
                "risk_rank": min(RISK_RANK.get(risk, 9), RISK_RANK["request"]),
                "action": f.get("action") or "review",
                "rule": f.get("rule"),
                "reasons": _plain_reasons(f.get("reasons")),
                "match_kind": kind,
                "status": "open",
                "created_at": now,
            }
        )
        queued += 1
    if rows:  # one statement for the shard's tasks (a domain request can bring thousands)
        session.execute(insert(ReviewTask), rows)
    return seen, queued


def finish_request(session: Session, request_id: str, seen: int, added: int) -> None:
    """Record that a request's matching is done (count kept for reviewers, never shown to
    the requester; `updated_at`, what the requester sees, does not move)."""
    req = session.get(RemovalRequest, request_id)
    if req is None:
        return
    req.matched = (req.matched or 0) + seen
    req.matching_done = True
    if seen > added:
        record(
            session,
            "system",
            "match_capped",
            f"request:{request_id}",
            {"matched": seen, "queued": added},
        )


def match_request(
    sessions: sessionmaker[Session], audit_dir: Path, request_id: str, targets: Targets
) -> int:
    """Match one request against every scanned shard and queue the matches; returns the count.

    Runs after the HTTP response has gone (a background task), so neither the answer nor its
    timing depends on what matched.
    """
    refs = load_inputs(audit_dir)
    seen = 0
    with sessions() as session:  # a re-match counts what earlier runs queued
        queued = start = queued_count(session, request_id)
    for ref in refs.values():
        try:
            found = match_rows(ref, targets)
        except Exception as e:  # one unreadable shard must not lose the whole request
            log.warning("request matching: shard %s failed: %s", ref.shard_id, type(e).__name__)
            continue
        if not found:
            continue
        with sessions() as session, session.begin():
            n, queued = queue_shard_matches(
                session, audit_dir, request_id, ref.shard_id, found, queued
            )
            seen += n
    with sessions() as session, session.begin():
        finish_request(session, request_id, seen, queued - start)
    return queued - start


def _plain_reasons(value: Any) -> list[dict[str, Any]] | None:
    if not value:
        return None
    return [dict(r) for r in value]


__all__ = [
    "HOST_PATTERN",
    "MAX_TASKS_PER_REQUEST",
    "PDQ_MAX_DISTANCE",
    "Targets",
    "findings_for",
    "finish_request",
    "match_request",
    "match_rows",
    "normalize_domain",
    "normalize_name",
    "normalize_target_url",
    "page_prefixes",
    "pdq_hex_from_bytes",
    "queue_shard_matches",
    "queued_count",
    "targets_of",
    "url_variants",
]
