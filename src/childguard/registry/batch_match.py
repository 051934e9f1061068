"""Match many removal requests in one read of each shard.

Every pending request's targets are compiled once into a few tables: all URL keys of all
requests in one hash join, all folder prefixes joined on their host, all domains joined on
the row host's dot-suffixes, all names in one Aho-Corasick automaton (Polars'
`str.extract_many`, the same engine as the per-request `contains_any`), all photo hashes in
one array compared at once. A shard is then read once whatever the number of requests, and
each (request, row) pair keeps the kind the per-request path (`matching.match_rows`) gives
it: url > page > domain > name > pdq. Tests assert both paths give the same tasks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from childguard.detect.textnorm import prepare
from childguard.registry.matching import (
    HOST_PATTERN,
    PDQ_MAX_DISTANCE,
    Targets,
    page_prefixes,
    pdq_hex_from_bytes,
    url_variants,
)
from childguard.registry.source import ShardRef, iter_images, iter_rows
from childguard.urls import list_key, list_key_column, normalize_url_column, url_sha256_column

log = logging.getLogger(__name__)

# what `matching.match_rows` lets win when several kinds match one row for one request
KIND_PRIORITY = {"url": 4, "page": 3, "domain": 2, "name": 1, "pdq": 0}
MATCHES_SCHEMA = {
    "request_id": pl.String,
    "row_index": pl.Int64,
    "kind": pl.String,
    "url_sha256": pl.String,
}


def empty_matches() -> pl.DataFrame:
    """A matches frame with no rows (request_id, row_index, kind, url_sha256)."""
    return pl.DataFrame(schema=MATCHES_SCHEMA)


def _frame(rows: list[tuple[str, str]], col: str) -> pl.DataFrame:
    return pl.DataFrame(
        {col: [v for v, _ in rows], "request_id": [r for _, r in rows]},
        schema={col: pl.String, "request_id": pl.String},
    ).unique(maintain_order=True)


@dataclass
class CompiledRequests:
    """Every request's targets as join tables (picklable: sent once to each worker)."""

    request_ids: list[str] = field(default_factory=list)
    url_keys: pl.DataFrame = field(default_factory=lambda: _frame([], "key"))
    pages: pl.DataFrame = field(default_factory=lambda: _frame([], "prefix"))
    domains: pl.DataFrame = field(default_factory=lambda: _frame([], "domain"))
    names: pl.DataFrame = field(default_factory=lambda: _frame([], "pattern"))
    pdq_requests: list[str] = field(default_factory=list)
    pdq_hashes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.uint64))
    use_index: bool = False  # exact URLs answered by the URL index, not by the pass

    @property
    def needs_pass(self) -> bool:
        """True when something must be checked by reading the rows."""
        return bool(
            (self.url_keys.height and not self.use_index)
            or self.pages.height
            or self.domains.height
            or self.names.height
        )

    @property
    def needs_images(self) -> bool:
        """True when some request gave a photo hash."""
        return bool(self.pdq_requests)


def compile_requests(requests: list[tuple[str, Targets]]) -> CompiledRequests:
    """Join tables for every request's URLs, folder prefixes, domains, names and photos."""
    keys, pages, domains, names, pdq = [], [], [], [], []
    for rid, t in requests:
        for u in url_variants(t.urls):
            k = list_key(u)
            if k:
                keys.append((k, rid))
        pages += [(p, rid) for p in page_prefixes(t.urls)]
        domains += [(d, rid) for d in t.domains]
        names += [(f" {n} ", rid) for n in t.names if n]
        pdq += [(rid, h) for h in t.pdq]
    pages_df = _frame(pages, "prefix")
    pages_df = pages_df.with_columns(host=_host(pages_df["prefix"]))
    hashes = np.array(
        [[int(h[i : i + 16], 16) for i in range(0, 64, 16)] for _, h in pdq], dtype=np.uint64
    ).reshape(-1, 4)
    return CompiledRequests(
        request_ids=[rid for rid, _ in requests],
        url_keys=_frame(keys, "key"),
        pages=pages_df,
        domains=_frame(domains, "domain"),
        names=_frame(names, "pattern"),
        pdq_requests=[rid for rid, _ in pdq],
        pdq_hashes=hashes,
    )


def _host(norm: pl.Series) -> pl.Series:
    return norm.str.extract(HOST_PATTERN, 1).fill_null("").str.to_lowercase().rename("host")


def _host_suffixes(rows: pl.Series, host: pl.Series) -> pl.DataFrame:
    """(row_index, suffix) for the host and every part of it after a dot: `host == d or
    host.endswith('.' + d)` holds exactly when d is one of them."""
    parts = []
    cur = host
    while True:
        live = cur.is_not_null()
        if not live.any():
            break
        parts.append(pl.DataFrame({"row_index": rows.filter(live), "domain": cur.filter(live)}))
        cur = cur.str.extract(r"^[^.]*\.(.*)$", 1)
    return pl.concat(parts)


def _batch_matches(c: CompiledRequests, df: pl.DataFrame, words: pl.Series | None) -> pl.DataFrame:
    """(request_id, row_index, kind) of one batch of rows (row_index, url, text)."""
    found: list[pl.DataFrame] = []
    rows = df["row_index"]
    if c.names.height and words is not None:
        hits = pl.DataFrame(
            {
                "row_index": rows,
                "pattern": words.str.extract_many(c.names["pattern"].unique().implode(), overlapping=True),
            }
        ).explode("pattern")
        hits = hits.filter(pl.col("pattern").is_not_null()).unique()
        found.append(hits.join(c.names, on="pattern").select("request_id", "row_index", kind=pl.lit("name")))
    if c.domains.height or c.pages.height:
        norm = normalize_url_column(df["url"])
        host = _host(norm)
        if c.domains.height:
            suff = _host_suffixes(rows, host).join(c.domains, on="domain")
            found.append(suff.select("request_id", "row_index", kind=pl.lit("domain")))
        if c.pages.height:
            cand = pl.DataFrame({"row_index": rows, "norm": norm, "host": host}).join(
                c.pages, on="host"
            )
            cand = cand.filter(pl.col("norm").str.starts_with(pl.col("prefix")).fill_null(False))
            found.append(cand.select("request_id", "row_index", kind=pl.lit("page")))
    if c.url_keys.height and not c.use_index:
        keys = pl.DataFrame({"row_index": rows, "key": list_key_column(df["url"])})
        hit = keys.join(c.url_keys, on="key")
        found.append(hit.select("request_id", "row_index", kind=pl.lit("url")))
    if not found:
        return pl.DataFrame(schema={"request_id": pl.String, "row_index": pl.Int64, "kind": pl.String})
    return pl.concat([f.with_columns(pl.col("row_index").cast(pl.Int64)) for f in found])


def best_kind(pairs: pl.DataFrame) -> pl.DataFrame:
    """One row per (request, row): the kind the per-request path would give it."""
    if not pairs.height:
        return pairs
    pr = pl.col("kind").replace_strict(KIND_PRIORITY, return_dtype=pl.Int8)
    return (
        pairs.with_columns(_p=pr)
        .sort("_p", descending=True)
        .unique(["request_id", "row_index"], keep="first")
        .drop("_p")
    )


def match_shard(c: CompiledRequests, ref: ShardRef) -> pl.DataFrame:
    """Every (request, row) of one shard that some request matches, with its kind and the
    row's url_sha256; one read of the rows (and one of the images when a photo was given)."""
    parts: list[pl.DataFrame] = []
    shas: list[pl.DataFrame] = []
    if c.needs_pass:
        for batch in iter_rows(ref):
            df = pl.from_arrow(batch.select(["row_index", "url", "text"]))
            assert isinstance(df, pl.DataFrame)
            words = None
            if c.names.height:
                # caption words and URL path words, exactly as `match_rows` reads them
                words = pl.Series(prepare(batch.select(["row_index", "url", "text"])).column("both_norm"))
            got = _batch_matches(c, df, words)
            if not got.height:
                continue
            parts.append(got)
            hit = df.filter(pl.col("row_index").is_in(got["row_index"].unique().implode()))
            shas.append(
                pl.DataFrame(
                    {"row_index": hit["row_index"].cast(pl.Int64), "url_sha256": url_sha256_column(hit["url"])}
                )
            )
    if c.needs_images:
        parts.append(_pdq_matches(c, ref))
    pairs = pl.concat(parts) if parts else empty_matches().drop("url_sha256")
    out = best_kind(pairs)
    sha = pl.concat(shas).unique("row_index") if shas else pl.DataFrame(schema={"row_index": pl.Int64, "url_sha256": pl.String})
    out = out.join(sha, on="row_index", how="left")
    # `match_rows` gives a photo match no url_sha256 (the queue takes it from the findings)
    out = out.with_columns(
        url_sha256=pl.when(pl.col("kind") == "pdq").then(None).otherwise(pl.col("url_sha256"))
    )
    return out.select(list(MATCHES_SCHEMA)).cast(MATCHES_SCHEMA).sort("request_id", "row_index")


def _pdq_matches(c: CompiledRequests, ref: ShardRef) -> pl.DataFrame:
    try:
        import pdqhash  # noqa: F401
    except ImportError:
        log.info("pdqhash not installed: photo matching skipped")
        return pl.DataFrame(schema={"request_id": pl.String, "row_index": pl.Int64, "kind": pl.String})
    rids, rows = [], []
    for ri, data in iter_images(ref):
        try:
            h = pdq_hex_from_bytes(data)
        except Exception:  # an undecodable image in the data set is not the request's fault
            continue
        if h is None:
            continue
        q = np.array([int(h[i : i + 16], 16) for i in range(0, 64, 16)], dtype=np.uint64)
        dist = np.bitwise_count(c.pdq_hashes ^ q).sum(axis=1)
        for j in np.flatnonzero(dist <= PDQ_MAX_DISTANCE):
            rids.append(c.pdq_requests[j])
            rows.append(ri)
    return pl.DataFrame(
        {"request_id": rids, "row_index": rows, "kind": ["pdq"] * len(rids)},
        schema={"request_id": pl.String, "row_index": pl.Int64, "kind": pl.String},
    )


__all__ = [
    "KIND_PRIORITY",
    "CompiledRequests",
    "best_kind",
    "compile_requests",
    "empty_matches",
    "match_shard",
]
