"""`childguard release`: write a cleaned copy of the scanned dataset plus its removal manifest.

Order of work (all of it inside `.<RELEASE_DIR>.tmp-<pid>/`, renamed to RELEASE_DIR only
when complete, so a killed release never leaves anything under the final name):

1. Decide, per finding, remove / hold / keep from its action, the reviewers' decisions and
   the review default; guardian requests and reviewer removals of unflagged rows are added.
2. Merge with the parent release's manifest (removals carried forward, held rows a reviewer
   kept are restored).
3. Rewrite every shard minus the rows that match the final manifest, using the same matcher
   `childguard apply` uses, so applying the manifest to the original gives exactly this
   release. Per shard: rows in (checked against the scan's count) = kept + removed, and every
   row decided out is among the removed, else the release aborts.
4. Write manifest.parquet, restored.parquet, then manifest.json (checksums of every file).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from childguard import __version__
from childguard.executors import Executor, LocalExecutor
from childguard.formats import FormatError, Record, check_url_norm
from childguard.formats.manifest import FORMAT, ReleaseManifest
from childguard.formats.run import RunRecord
from childguard.formats.stats import ShardStats
from childguard.io.paths import InputError, file_sha256
from childguard.io.readers import ShardInfo
from childguard.io.reopen import ShardChanged, reopen_scanned_shard
from childguard.policy import Policy, load_policy
from childguard.release.faults import checkpoint
from childguard.release.manifest import (
    MANIFEST_SCHEMA,
    PL_MANIFEST,
    RESTORED_SCHEMA,
    merge_with_parent,
    to_arrow,
)
from childguard.release.matcher import Matcher
from childguard.release.shards import ConservationError, copy_raw, find_removals, write_without
from childguard.urls import URL_NORM_VERSION

R = TypeVar("R", bound=Record)

ReviewDefault = Literal["hold", "keep"]


class ReleaseError(RuntimeError):
    """A release that cannot be built or published; the message says why."""
    pass


@dataclass
class ReleaseResult:
    """A finished release: its folder, id, manifest.json contents and shard records."""
    out: Path
    release_id: str
    manifest: dict
    shards: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------
# inputs


def _read(model: type[R], path: Path) -> R:
    """A record file, or ReleaseError naming the file and what is wrong with it."""
    try:
        return model.read(path)
    except FormatError as e:
        raise ReleaseError(str(e)) from None


def _check_hashes(rec: RunRecord | ReleaseManifest, path: Path, redo: str) -> None:
    """Refuse url_sha256 values made with another URL normaliser than this childguard's."""
    try:
        check_url_norm(rec.url_norm_version, str(path), redo)
    except FormatError as e:
        raise ReleaseError(str(e)) from None


def _shard_info(entry: dict, audit_dir: Path) -> ShardInfo:
    """Reopen a scanned shard and check it is the file the scan saw."""
    try:
        return reopen_scanned_shard(entry, audit_dir)
    except ShardChanged as e:
        raise ReleaseError(str(e)) from None


def _release_names(paths: list[str]) -> list[str]:
    """Output names: each shard's path relative to the inputs' common folder."""
    stripped = [p.split("://", 1)[-1] for p in paths]
    if len(stripped) == 1:
        return [os.path.basename(stripped[0])]
    root = os.path.commonpath([os.path.dirname(p) or "." for p in stripped])
    names = [os.path.relpath(p, root) for p in stripped]
    if len(set(names)) != len(names):
        raise ReleaseError("two input shards map to the same release file name")
    return names


def _load_decisions(audit_dir: Path, db_url: str | None) -> pl.DataFrame:
    try:
        from childguard.registry.decisions import load_decisions
    except ImportError:  # registry extra not installed: no reviewer decisions
        return _empty_decisions()
    return load_decisions(audit_dir, db_url)


def _empty_decisions() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "shard_id": pl.String,
            "row_index": pl.Int64,
            "url_sha256": pl.String,
            "decision": pl.String,
            "request_id": pl.String,
        }
    )


def read_manifest_dir(release_dir: Path) -> tuple[ReleaseManifest, pl.DataFrame]:
    """A release's manifest.json and its manifest.parquet, checked against its SHA-256."""
    meta = _read(ReleaseManifest, release_dir / "manifest.json")
    _check_hashes(meta, release_dir / "manifest.json", "its removals cannot be carried")
    mpath = release_dir / "manifest.parquet"
    rec = meta.files.get("manifest.parquet", {})
    if not mpath.exists() or file_sha256(mpath) != rec.get("sha256"):
        raise ReleaseError(f"{mpath}: missing or does not match manifest.json; run verify")
    df = pl.read_parquet(mpath).cast(PL_MANIFEST)  # type: ignore[arg-type]
    return meta, df


# ------------------------------------------------------------------------------------------
# deciding


def _findings(audit_dir: Path, shard_id: str) -> pl.DataFrame:
    p = audit_dir / "findings" / f"{shard_id}.parquet"
    if not p.exists():
        raise ReleaseError(f"{p}: missing; the shard's scan did not finish")
    return pl.read_parquet(p)


def _rule_detectors(run: RunRecord | dict) -> dict[str, list[str]]:
    """Detector names each rule of the scan's policy reads, in order of appearance (parsed by
    the policy module, the one place rules are parsed; an unparsable rule reads nothing)."""
    from childguard.policy import PolicyError, rules_read

    out: dict[str, list[str]] = {}
    policy = run.get("policy") if isinstance(run, dict) else run.policy
    for r in (policy or {}).get("rules", []):
        try:
            out.update(rules_read(((str(r.get("name", "")), str(r["when"])),)))
        except (PolicyError, KeyError, TypeError):
            continue
    return out


def _sources(findings: pl.DataFrame, rule_dets: dict[str, list[str]]) -> pl.Series:
    """Where each removal came from: a takedown list (`list:name@version`, from the reason's
    label or the list detector's evidence, which names only the list), else the detector the
    deciding rule reads (the first that fired), else the first reason's detector.

    Per-row Python, over flagged rows only."""
    out: list[str] = []
    for reasons, rule, risk in findings.select("reasons", "rule", "risk").iter_rows():
        reasons = reasons or []
        src = None
        for r in reasons:
            for v in (r.get("label"), r.get("evidence")):
                if isinstance(v, str) and v.startswith("list:"):
                    src = v.split()[0]
                    break
            if src:
                break
        if src is None:
            fired = [r.get("detector") for r in reasons if r.get("detector")]
            wanted = [d for d in rule_dets.get(rule or "", []) if d in fired]
            src = wanted[0] if wanted else (fired[0] if fired else (rule or risk))
        out.append(src)
    return pl.Series("_src", out, dtype=pl.String)


def decide_shard(
    findings: pl.DataFrame,
    decisions: pl.DataFrame,
    policy: Policy | None,
    review_default: ReviewDefault,
    rule_dets: dict[str, list[str]] | None = None,
) -> pl.DataFrame:
    """Per row out of this shard: row_index, url_sha256, laion_hash, reason, source."""
    f = findings
    if policy is not None:  # the release policy re-maps risks to actions
        f = f.with_columns(
            pl.col("risk").replace_strict(policy.actions, default="keep").alias("action")
        )
    f = f.with_columns(_sources(f, rule_dets or {})).join(
        decisions.select("row_index", "decision", "request_id"), on="row_index", how="left"
    )
    d, req = pl.col("decision"), pl.col("request_id")
    held = "held" if review_default == "hold" else "keep"
    status = (
        pl.when(d == "remove")
        .then(pl.lit("remove"))
        # a reviewer's keep overrides detectors, never a takedown-list hit
        .when((d == "keep") & (pl.col("risk") != "blocked"))
        .then(pl.lit("keep"))
        .when(pl.col("action") == "remove")
        .then(pl.lit("remove"))
        .when(pl.col("action") == "review")
        .then(pl.lit(held))
        .otherwise(pl.lit("keep"))
    )
    is_req = (d == "remove") & req.is_not_null()
    out = (
        f.with_columns(status.alias("_status"))
        .filter(pl.col("_status") != "keep")
        .select(
            "row_index",
            "url_sha256",
            pl.col("laion_hash").cast(pl.Int64),
            pl.when(pl.col("_status") == "held")
            .then(pl.lit("held"))
            .when(is_req)
            .then(pl.lit("request"))
            .otherwise(pl.col("risk"))
            .alias("reason"),
            pl.when(is_req)
            .then(pl.lit("request:") + req)
            .otherwise(pl.col("_src"))
            .alias("source"),
        )
    )
    # reviewer / guardian removals of rows the scan did not flag
    extra = decisions.filter(pl.col("decision") == "remove").join(
        findings.select("row_index"), on="row_index", how="anti"
    )
    if extra.height:
        out = pl.concat(
            [
                out,
                extra.select(
                    "row_index",
                    "url_sha256",
                    pl.lit(None, pl.Int64).alias("laion_hash"),
                    pl.when(pl.col("request_id").is_not_null())
                    .then(pl.lit("request"))
                    .otherwise(pl.lit("review"))
                    .alias("reason"),
                    pl.when(pl.col("request_id").is_not_null())
                    .then(pl.lit("request:") + pl.col("request_id"))
                    .otherwise(pl.lit("reviewer"))
                    .alias("source"),
                ),
            ]
        )
    return out.sort("row_index")


# ------------------------------------------------------------------------------------------
# the release


def _clean_stale(out: Path) -> None:
    for p in out.parent.glob(f".{out.name}.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        alive = False
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                alive = int(pid) != os.getpid()
            except OSError:
                alive = False
        if alive:
            raise ReleaseError(f"{p}: another release into {out} is running (pid {pid})")
        shutil.rmtree(p, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*"), reverse=True):
        with contextlib.suppress(OSError):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def release_shard(
    info: ShardInfo,
    name: str,
    scan_rows: int | None,
    rows_decided: pl.DataFrame,
    matcher: Matcher,
    tmp: Path,
) -> dict:
    """Write one shard of the release to `tmp/data/<name>`; return its manifest record.

    Self-contained, so an executor can run it on any node that sees the inputs and `tmp`
    (`childguard release --engine ray` maps it over shards)."""
    sid = info.shard.shard_id
    need = rows_decided["row_index"].to_numpy().astype(np.int64)
    # rows without a URL cannot be matched by hash: remove them by position
    no_key_decided = rows_decided.filter(pl.col("url_sha256").is_null())
    no_key = no_key_decided["row_index"]
    try:
        rem = find_removals(info, matcher, no_key.to_numpy().astype(np.int64))
    except ConservationError as e:
        raise ReleaseError(str(e)) from None
    if rem.rows_in != scan_rows:
        raise ReleaseError(
            f"{info.shard.path}: read {rem.rows_in} rows, the scan counted "
            f"{scan_rows}; the shard changed since the scan"
        )
    missing = np.setdiff1d(need, rem.removed)
    if len(missing):
        raise ReleaseError(
            f"{info.shard.path}: row {int(missing[0])} is decided out but its "
            "hashes do not match the shard's row; findings are stale, scan again"
        )
    dest = tmp / "data" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if len(rem.removed):
        try:
            rows_out = write_without(info, rem.removed, dest)
        except ConservationError as e:
            raise ReleaseError(str(e)) from None
    else:
        copy_raw(info, dest)
        rows_out = rem.rows_in
    removed = len(rem.removed)
    # rows left out only because they await review (held), apart from rows removed for cause
    held = len(rem.held) + no_key_decided.filter(pl.col("reason") == "held").height
    if rows_out + removed != rem.rows_in:
        raise ReleaseError(
            f"{info.shard.path}: conservation failed: {rem.rows_in} rows in != "
            f"{rows_out} kept + {removed} removed"
        )
    rec = {
        "shard_id": sid,
        "name": f"data/{name}",
        "format": info.shard.format,
        "compression": info.shard.compression,
        "rows_in": rem.rows_in,
        "rows_out": rows_out,
        # every row left out (kept under this name for older readers) = the two below
        "rows_removed": removed,
        "rows_removed_for_cause": removed - held,
        "rows_held": held,
        "rows_decided_out": len(need),
        "size": dest.stat().st_size,
        "sha256": file_sha256(dest),
    }
    if info.shard.format in ("csv", "tsv"):
        rec.update(header=info.header, delimiter=info.delimiter)
    return rec


def _pool_shard(
    matcher: Matcher, info: ShardInfo, name: str, rows: int | None, dec: pl.DataFrame, tmp: Path
) -> dict:
    return release_shard(info, name, rows, dec, matcher, tmp)


def _say_shard(say, rec: dict) -> None:
    name = rec["name"].removeprefix("data/")
    say(f"{name}: {rec['rows_in']} rows, {rows_left_out(rec)}, {rec['rows_out']} kept")


def rows_left_out(counts: dict) -> str:
    """`N removed, M held for review` from a manifest's counts or shard record (a manifest
    from before the split counts held rows in rows_removed, and says so)."""
    if "rows_held" not in counts:
        return f"{counts['rows_removed']} removed or held"
    cause = counts.get("rows_removed_for_cause", counts["rows_removed"] - counts["rows_held"])
    return f"{cause} removed, {counts['rows_held']} held for review"


def build_release(
    audit_dir: str | Path,
    out: str | Path,
    *,
    parent: str | Path | None = None,
    policy: str | Path | Policy | None = None,
    db_url: str | None = None,
    decisions: pl.DataFrame | None = None,
    release_id: str | None = None,
    review_default: ReviewDefault = "hold",
    log=None,
    executor: Executor | None = None,
    workers: int = 1,
) -> ReleaseResult:
    """Build the release `out` from the scan in `audit_dir` (module docstring: the order of
    work). The per-shard writes run on `executor` (default: `workers` local processes; it is
    closed at the end), in shard order whatever runs them."""
    audit_dir, out = Path(audit_dir), Path(out)
    say = log or (lambda msg: None)
    if out.exists():
        raise ReleaseError(f"{out}: already exists; a release directory is written once")
    run = _read(RunRecord, audit_dir / "run.json")
    _check_hashes(run, audit_dir / "run.json", "scan it again with this childguard")
    pol = load_policy(policy) if isinstance(policy, str | Path) else policy
    from_registry = decisions is None
    if decisions is None:
        decisions = _load_decisions(audit_dir, db_url)
    created = datetime.now(UTC).replace(microsecond=0)

    parent_meta: ReleaseManifest | None = None
    parent_df: pl.DataFrame | None = None
    if parent is not None:
        parent_meta, parent_df = read_manifest_dir(Path(parent))
    rid = release_id or "r" + created.strftime("%Y%m%dT%H%M%SZ")
    if parent_meta is not None and rid == parent_meta.release_id:
        rid += "-2"

    inputs = run.inputs
    if not inputs:
        raise ReleaseError(f"{audit_dir}/run.json lists no inputs")
    infos: list[ShardInfo] = []
    stats: list[ShardStats] = []
    for entry in inputs:
        sid = entry.get("shard_id", "?")
        st = _read(ShardStats, audit_dir / "stats" / f"{sid}.json")
        if not st.ok:
            raise ReleaseError(
                f"{audit_dir}/stats/{sid}.json: shard {sid} status {st.status!r}; "
                "every shard must be scanned before a release"
            )
        info = _shard_info(entry, audit_dir)
        if info.shard.is_local and st.sha256:
            now = file_sha256(Path(info.shard.path.removeprefix("file://")))
            if now != st.sha256:
                raise ReleaseError(
                    f"{info.shard.path}: content changed since the scan (same size, SHA-256 "
                    f"{now[:12]}... != {st.sha256[:12]}...); scan it again"
                )
        infos.append(info)
        stats.append(st)
    names = _release_names([i.shard.path for i in infos])

    # 1. decide
    decided: dict[str, pl.DataFrame] = {}
    rule_dets = _rule_detectors(run)
    shard_ids = {i.shard.shard_id for i in infos}
    unknown = decisions.filter(~pl.col("shard_id").is_in(list(shard_ids)))
    if unknown.height:
        say(f"warning: {unknown.height} decision(s) name shards not in this audit; ignored")
    for info in infos:
        sid = info.shard.shard_id
        decided[sid] = decide_shard(
            _findings(audit_dir, sid),
            decisions.filter(pl.col("shard_id") == sid),
            pol,
            review_default,
            rule_dets,
        )
    current = pl.concat(
        [d.select(list(PL_MANIFEST)[:-1]) for d in decided.values()]
        or [pl.DataFrame(schema={k: v for k, v in PL_MANIFEST.items() if k != "removed_in"})]
    )
    # A row with neither URL nor LAION hash is removed from the release by position, but no
    # copy can match it, so it has no manifest entry (counted as `unmatchable`).
    keyless = pl.col("url_sha256").is_null() & pl.col("laion_hash").is_null()
    unmatchable = current.filter(keyless).height
    current = current.filter(~keyless)
    kept_urls = decisions.filter(pl.col("decision") == "keep")["url_sha256"]
    merged = merge_with_parent(current, parent_df, kept_urls, rid)
    matcher = Matcher.from_manifest(merged.manifest)

    # 2. write everything into a temp dir beside the final one
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    try:
        jobs = [
            (info, name, st.rows, decided[info.shard.shard_id])
            for info, name, st in zip(infos, names, stats, strict=True)
        ]
        shard_recs: list[dict] = []
        with executor or LocalExecutor(workers) as ex:
            try:
                ex.check_shared(tmp)
                for rec in ex.map_ordered(_pool_shard, [(*j, tmp) for j in jobs], matcher):
                    shard_recs.append(rec)
                    _say_shard(say, rec)
                    checkpoint("release:shard")
            except InputError as e:  # the executor's own (e.g. an unreachable cluster)
                raise ReleaseError(str(e)) from None

        files = {}
        for fname, df, schema in (
            ("manifest.parquet", merged.manifest, MANIFEST_SCHEMA),
            ("restored.parquet", merged.restored, RESTORED_SCHEMA),
        ):
            pq.write_table(to_arrow(df, schema), tmp / fname, compression="zstd")
            files[fname] = {
                "sha256": file_sha256(tmp / fname),
                "size": (tmp / fname).stat().st_size,
                "rows": df.height,
            }
        by_reason = {
            r: int(n) for r, n in merged.manifest["reason"].value_counts().sort("reason").rows()
        }
        meta = {
            "format": FORMAT,
            "release_id": rid,
            "parent_id": parent_meta.release_id if parent_meta else None,
            "created": created.isoformat().replace("+00:00", "Z"),
            "tool_version": __version__,
            "audit": {
                "config_hash": run.config_hash,
                "policy_hash": run.policy_hash,
                "tool_version": run.tool_version,
            },
            "config_hash": run.config_hash,
            "policy_hash": pol.fingerprint() if pol is not None else run.policy_hash,
            "url_norm_version": URL_NORM_VERSION,
            "review_default": review_default,
            "counts": {
                "rows_in": sum(s["rows_in"] for s in shard_recs),
                "rows_out": sum(s["rows_out"] for s in shard_recs),
                "rows_removed": sum(s["rows_removed"] for s in shard_recs),
                "rows_removed_for_cause": sum(s["rows_removed_for_cause"] for s in shard_recs),
                "rows_held": sum(s["rows_held"] for s in shard_recs),
                "manifest_entries": merged.manifest.height,
                "new_entries": merged.new,
                "carried_entries": merged.carried,
                "restored": merged.restored.height,
                "unmatchable": unmatchable,
                "by_reason": by_reason,
            },
            "shards": shard_recs,
            "files": files,
        }
        checkpoint("release:before-json")
        (tmp / "manifest.json").write_bytes(ReleaseManifest.new(**meta).to_bytes())
        _fsync_tree(tmp)
        checkpoint("release:before-rename")
        try:
            os.rename(tmp, out)
        except OSError as e:
            raise ReleaseError(f"{out}: cannot publish the release ({e.strerror})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if from_registry:
        _tell_registry(audit_dir, rid, merged.manifest, db_url, say)
    return ReleaseResult(out, rid, meta, shard_recs)


def _tell_registry(audit_dir: Path, rid: str, manifest: pl.DataFrame, db_url, say) -> None:
    """Guardian requests whose rows this release leaves out become `removed` in it. The
    release is already published: a registry failure is reported, not fatal."""
    ids = (
        manifest.filter(pl.col("source").str.starts_with("request:"))["source"]
        .str.slice(len("request:"))
        .unique()
        .to_list()
    )
    if not ids:
        return
    try:
        from childguard.registry.review import record_release

        n = record_release(audit_dir, rid, ids, db_url)
        say(f"registry: {n} removal request(s) marked removed in {rid}")
    except Exception as e:  # published already; say so loudly, do not unpublish
        say(f"warning: could not update the registry with release {rid}: {e}")
