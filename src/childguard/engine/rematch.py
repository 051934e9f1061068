"""`childguard rematch AUDIT`: bring an audit up to date with the current takedown-list versions.

Only the `takedown_lists` detector reads every row of every finished shard. The rows whose list
result changed (a new match, a match gone, another list or version in the evidence, an image
error that came or went) are few; only those are scored again by the audit's other detectors
and decided by its policy, so their findings are exactly what a new scan with these lists
would write, and every other row's finding is left as it was. Per shard the findings, errors
and stats are rewritten atomically (findings before stats, as a scan does); run.json gets the
new list versions and configuration hash, so re-running the scan command resumes, and a
`rematches` entry (versions before and after, time, rows newly matched). While a rematch runs,
run.json says so and a scan of the folder is refused: an interrupted rematch is run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from childguard.config import ScanConfig
from childguard.detect.base import Detector
from childguard.detect.context import BatchContext
from childguard.engine.batch import (
    ERRORS_SCHEMA,
    FINDINGS_SCHEMA,
    decide_scored,
    empty_table,
    score_batch,
)
from childguard.engine.config_diff import LISTS_DETECTOR, compare, list_versions
from childguard.engine.facets import facet_counts, hashed, merge, seal
from childguard.engine.state import OutLayout, read_table
from childguard.engine.tasks import ScanContext, build_detectors
from childguard.formats import FormatError, check_url_norm
from childguard.formats.run import RunRecord
from childguard.formats.stats import ShardStats
from childguard.io.atomic import write_parquet_atomic
from childguard.io.readers import ShardError, iter_task_batches
from childguard.policy import RISKS, Policy

UNFINISHED = "rematch-unfinished"  # run.json's config_hash while a rematch is under way


class RematchError(RuntimeError):
    """An audit that cannot be re-matched; the message says why and what to do."""


@dataclass
class RematchResult:
    """What a rematch did: list versions before/after and rows changed, per audit."""

    audit: Path
    before: dict[str, int]
    after: dict[str, int]
    shards: int = 0
    rows: int = 0
    newly_matched: int = 0
    no_longer_matched: int = 0
    rows_rescored: int = 0
    discarded_unfinished: list[str] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False
    pinned: bool = False  # the list choice names versions (`name@N`): rematch keeps them


def _read_run(layout: OutLayout) -> dict:
    """run.json through its typed format (version and URL normaliser checked), as a dict."""
    if not layout.run_json.exists():
        raise RematchError(f"{layout.root}: no run.json; is this a scan's --out folder?")
    try:
        rec = RunRecord.read(layout.run_json)
        check_url_norm(rec.url_norm_version, str(layout.run_json), "scan it again in a new --out")
    except FormatError as e:
        raise RematchError(str(e)) from None
    return rec.dump()


def _write_run(layout: OutLayout, run: dict) -> None:
    RunRecord.parse(run, str(layout.run_json)).write(layout.run_json)


def _read_stats(layout: OutLayout, sid: str) -> dict:
    try:
        return ShardStats.read(layout.stats(sid)).dump()
    except FormatError as e:
        raise RematchError(str(e)) from None


def _write_stats(layout: OutLayout, sid: str, stats: dict) -> None:
    ShardStats.parse(stats, str(layout.stats(sid))).write(layout.stats(sid))


def _list_state(findings: pa.Table, errors: pa.Table | None) -> dict[int, tuple]:
    """row_index -> (label, evidence, error) of the list detector, as the audit recorded them."""
    out: dict[int, tuple] = {}
    rows = findings.column("row_index").to_pylist()
    for r, reasons in zip(rows, findings.column("reasons").to_pylist(), strict=True):
        for x in reasons or []:
            if x["detector"] == LISTS_DETECTOR:
                out[r] = (x["label"], x["evidence"], None)
    if errors is not None:
        for r, d, e in zip(
            *(errors.column(c).to_pylist() for c in ERRORS_SCHEMA.names), strict=True
        ):
            if d == LISTS_DETECTOR:
                label, ev, _ = out.get(r, (None, None, None))
                out[r] = (label, ev, e)
    return out


def _add_facets(facets: dict, more: dict) -> None:
    """Add a few rows' facet counts to a shard's: a platform the shard names already keeps
    its name, others are sealed as a scan's task would seal them."""
    named = facets.get("platform", {})
    raw = more.get("platform", {})
    known = {k: v for k, v in raw.items() if k in named}
    merge(facets, seal({**more, "platform": {k: v for k, v in raw.items() if k not in named}}))
    merge(facets, {"platform": known})


def _sub_facets(facets: dict, gone: dict) -> None:
    """Take a few rows' facet counts out of a shard's (a platform may be kept hashed)."""
    for facet, counts in gone.items():
        dst = facets.setdefault(facet, {})
        for k, v in counts.items():
            key = k if k in dst or facet != "platform" else hashed(k)
            left = dst.get(key, 0) - v
            if left > 0:
                dst[key] = left
            else:
                dst.pop(key, None)


class _Rescorer:
    """The audit's other detectors, built and set up only when a row needs them."""

    def __init__(self, ctx: ScanContext, list_det: Detector) -> None:
        self.ctx, self.list_det = ctx, list_det
        self._dets: list[Detector] | None = None

    @property
    def detectors(self) -> list[Detector]:
        """Every detector of the audit, the list detector being the new one."""
        if self._dets is None:
            dets = build_detectors(self.ctx)
            self._dets = [self.list_det if d.name == LISTS_DETECTOR else d for d in dets]
        return self._dets


def rematch_audit(
    audit_dir: str | Path, lists: list[str] | None = None, *, log=None
) -> RematchResult:
    """Re-match an audit's finished shards against the current versions of its lists.

    `lists`: the lists to use from now on (as `scan --lists`); default the audit's choice
    (every list in the store when the scan named none)."""
    from childguard.io.reopen import ShardChanged, reopen_scanned_shard

    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    layout = OutLayout(Path(audit_dir).resolve())
    run = _read_run(layout)
    config = ScanConfig.model_validate(run["config"])
    policy = Policy.model_validate(run["policy"])
    old_described: list[dict] = run.get("detectors") or []
    if not any(d.get("name") == LISTS_DETECTOR for d in old_described):
        raise RematchError(f"{layout.root}: the scan did not run the takedown_lists detector")
    interrupted = run.get("config_hash") == UNFINISHED
    if not interrupted and config.fingerprint(policy, old_described) != run.get("config_hash"):
        raise RematchError(
            f"{layout.run_json}: its configuration hash does not match its contents; "
            "start a new audit"
        )
    if lists is not None:
        opts = dict(config.detector_options.get(LISTS_DETECTOR) or {})
        config.detector_options[LISTS_DETECTOR] = {**opts, "lists": list(lists)}
    # what a plain re-run of the scan would build now: the audit's options, the lists' current
    # versions; every detector but the list one must describe itself as the audit recorded
    ctx = ScanContext(
        out=str(layout.root),
        policy=policy,
        detector_names=[d["name"] for d in old_described],
        detector_options={
            **{d["name"]: dict(d.get("options") or {}) for d in old_described},
            LISTS_DETECTOR: dict(config.detector_options.get(LISTS_DETECTOR) or {}),
        },
        batch_rows=config.batch_rows,
        url_col=config.url_col,
        text_col=config.text_col,
        plugins=config.plugins,
    )
    try:
        built = build_detectors(ctx)
    except Exception as e:  # a detector or list that cannot be built: nothing written
        raise RematchError(f"cannot rebuild the audit's detectors: {e}") from None
    new_described = [d.describe() for d in built]
    diff = compare(run, {**run, "detectors": new_described})
    if diff.other:
        raise RematchError(
            f"{layout.root}: more than the takedown lists changed since the scan ("
            + "; ".join(diff.other)
            + "); rematch only updates lists: start a new audit in another --out"
        )
    list_det = next(d for d in built if d.name == LISTS_DETECTOR)
    ctx.detector_options = {d["name"]: dict(d["options"]) for d in new_described}
    new_hash = config.fingerprint(policy, new_described)
    before = list_versions(
        run.get("rematch_unfinished", {}).get("before_detectors") or old_described
    )
    result = RematchResult(layout.root, before, list_versions(new_described))
    choice = (config.detector_options.get(LISTS_DETECTOR) or {}).get("lists") or []
    result.pinned = any("@" in str(x) for x in choice)
    if new_hash == run.get("config_hash"):
        result.up_to_date = True
        return result

    # mark the rematch: a scan of this folder is refused until it has finished
    old_hash = run.get("rematch_unfinished", {}).get("config_hash_before", run.get("config_hash"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    run["rematch_unfinished"] = {
        "started": started,
        "config_hash_before": old_hash,
        "before_detectors": run.get("rematch_unfinished", {}).get("before_detectors")
        or old_described,
    }
    run["config_hash"] = UNFINISHED
    _write_run(layout, run)

    rescorer = _Rescorer(ctx, list_det)
    list_det.ensure_setup()
    for entry in run.get("inputs") or []:
        sid = entry.get("shard_id")
        if sid is None:
            continue
        if not layout.shard_done(sid):
            # parts of an unfinished shard were matched against the old lists: they go, and
            # re-running the scan scans the shard with the new ones
            if layout.state_dir(sid).exists():
                layout.clear_state(sid)
                result.discarded_unfinished.append(sid)
            continue
        try:
            info = reopen_scanned_shard(entry, layout.root)
        except ShardChanged as e:
            raise RematchError(f"{e}; rematch stopped (run it again once fixed)") from None
        _rematch_shard(info, layout, ctx, list_det, rescorer, result)
        result.shards += 1
        say(f"{info.shard.path}: re-matched")

    # the list choice goes on record, so a later rematch (or re-run) starts from it
    run["config"] = config.model_dump(mode="json")
    _finish_run_json(layout, run, new_described, new_hash, result, started)
    if result.discarded_unfinished:
        say(
            f"{len(result.discarded_unfinished)} unfinished shard(s): their partial work "
            "(matched against the old lists) was discarded; re-running the scan scans them"
        )
    from childguard.lists.refs import record

    record(list_det.store.root, layout.root, result.after)  # type: ignore[attr-defined]
    result.seconds = time.perf_counter() - t0
    return result


def _rematch_shard(info, layout: OutLayout, ctx, list_det, rescorer, result) -> None:
    sid = info.shard.shard_id
    stats = _read_stats(layout, sid)
    if info.shard.is_local and stats.get("sha256"):
        from childguard.io.paths import file_sha256

        if file_sha256(info.shard.path.removeprefix("file://")) != stats["sha256"]:
            raise RematchError(
                f"{info.shard.path}: content changed since the scan; start a new audit"
            )
    findings = read_table(layout.findings(sid))
    errors = read_table(layout.errors(sid)) if layout.errors(sid).exists() else None
    old = _list_state(findings, errors)
    flagged_before = set(findings.column("row_index").to_pylist())
    new_findings: list[pa.Table] = []
    new_errors: list[pa.Table] = []
    redo: list[int] = []
    add_facets: dict = {}
    gone_facets: dict = {}
    rows = 0
    from childguard.redact import allow_evidence
    from childguard.scorer.features import _evidence_words

    vocab = _evidence_words()
    try:
        for task in info.tasks:
            for batch in iter_task_batches(info, task, ctx.batch_rows):
                rows += batch.num_rows
                out = list_det.run(batch, BatchContext(batch))
                idx = batch.column("row_index").to_numpy()
                score = out.column(list_det.col("score")).to_numpy()
                ev = out.column(list_det.col("evidence"))
                lab = out.column(list_det.col("label"))
                err = out.column(list_det.col("error"))
                lo = int(idx[0]) if len(idx) else 0
                if len(idx) and int(idx[-1]) - lo + 1 != len(idx):
                    raise RematchError(f"{info.shard.path}: row_index not contiguous in a batch")
                # rows whose list result is not what the audit recorded for them
                # (per-row Python only on rows with a list result now or in the audit)
                has_err = err.is_valid().to_numpy()
                hi = lo + len(idx)
                cand = {*np.flatnonzero((score > 0) | has_err).tolist()}
                cand.update(r - lo for r in old if lo <= r < hi)
                pick = []
                for j in sorted(cand):
                    e_j = err[j].as_py()
                    if score[j] > 0:
                        label = lab[j].as_py() or LISTS_DETECTOR
                        now = (label, allow_evidence(ev[j].as_py(), vocab), e_j)
                    elif e_j is not None:
                        now = (None, None, e_j)
                    else:
                        now = None
                    if old.get(lo + j) != now:
                        pick.append(j)
                if not pick:
                    continue
                for j in pick:
                    was = old.get(lo + j, (None,))[0] is not None
                    result.newly_matched += int(score[j] > 0 and not was)
                    result.no_longer_matched += int(score[j] <= 0 and was)
                sub = batch.take(pa.array(pick, pa.int64()))
                scored = score_batch(sub, rescorer.detectors)
                f, _, e, facets = decide_scored(scored, rescorer.detectors, ctx.policy)
                new_findings.append(f)
                new_errors.append(e)
                merge(add_facets, facets)
                before = [int(idx[j]) for j in pick if int(idx[j]) in flagged_before]
                if before:
                    frame = pl.from_arrow(scored.select(["row_index", "url", *_facet_cols(scored)]))
                    assert isinstance(frame, pl.DataFrame)
                    merge(
                        gone_facets, facet_counts(frame.filter(pl.col("row_index").is_in(before)))
                    )
                redo.extend(int(idx[j]) for j in pick)
                result.rows_rescored += len(pick)
    except ShardError as e:
        raise RematchError(f"{e}; rematch stopped (run it again once fixed)") from None
    if rows != stats.get("rows"):
        raise RematchError(
            f"{info.shard.path}: read {rows} rows, the scan counted {stats.get('rows')}; "
            "start a new audit"
        )
    result.rows += rows
    if not redo:
        return
    keep = pa.array(np.isin(findings.column("row_index").to_numpy(), redo, invert=True))
    merged = pa.concat_tables([findings.filter(keep).cast(FINDINGS_SCHEMA), *new_findings])
    merged = merged.take(pc.sort_indices(merged, [("row_index", "ascending")]))
    errs = [t.cast(ERRORS_SCHEMA) for t in new_errors if t.num_rows]
    if errors is not None:
        keep_e = pa.array(np.isin(errors.column("row_index").to_numpy(), redo, invert=True))
        errs.insert(0, errors.filter(keep_e).cast(ERRORS_SCHEMA))
    all_errors = pa.concat_tables(errs) if errs else empty_table(ERRORS_SCHEMA)
    all_errors = all_errors.take(
        pc.sort_indices(all_errors, [("row_index", "ascending"), ("detector", "ascending")])
    )
    # errors, findings, then stats: the order a scan finalises a shard in
    if all_errors.num_rows:
        write_parquet_atomic(layout.errors(sid), all_errors)
    else:
        layout.errors(sid).unlink(missing_ok=True)
    write_parquet_atomic(layout.findings(sid), merged)
    counts = dict.fromkeys(RISKS, 0)
    for risk in merged.column("risk").to_pylist():
        counts[risk] += 1
    counts["clean"] = rows - merged.num_rows
    row_errors: dict[str, int] = {}
    for d in all_errors.column("detector").to_pylist():
        row_errors[d] = row_errors.get(d, 0) + 1
    facets = {k: dict(v) for k, v in (stats.get("facets") or {}).items()}
    _sub_facets(facets, gone_facets)
    _add_facets(facets, add_facets)
    stats.update(
        risk_counts=counts,
        findings=merged.num_rows,
        row_errors=dict(sorted(row_errors.items())),
        facets={k: dict(sorted(v.items())) for k, v in facets.items()},
    )
    _write_stats(layout, sid, stats)


def _facet_cols(scored: pa.Table) -> list[str]:
    return [c for c in ("language", "places__region") if c in scored.column_names]


def _finish_run_json(layout, run, new_described, new_hash, result, started) -> None:
    run = dict(run)
    pending = run.pop("rematch_unfinished", {})
    run["detectors"] = new_described
    run["config_hash"] = new_hash
    entry = {
        "started": pending.get("started", started),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "lists_before": [f"{k}@{v}" for k, v in sorted(result.before.items())],
        "lists_after": [f"{k}@{v}" for k, v in sorted(result.after.items())],
        "config_hash_before": pending.get("config_hash_before"),
        "config_hash_after": new_hash,
        "shards": result.shards,
        "rows": result.rows,
        "rows_newly_matched": result.newly_matched,
        "rows_no_longer_matched": result.no_longer_matched,
        "rows_rescored": result.rows_rescored,
        "unfinished_shards_discarded": result.discarded_unfinished,
    }
    run["rematches"] = [*run.get("rematches", []), entry]
    if "summary" in run:  # totals over the stats as they are now
        counts = dict.fromkeys(RISKS, 0)
        row_errors: dict[str, int] = {}
        for i in run.get("inputs") or []:
            p = layout.stats(i.get("shard_id", ""))
            if not p.exists():
                continue
            s = _read_stats(layout, i.get("shard_id", ""))
            if s.get("status") != "ok":
                continue
            for k, v in s["risk_counts"].items():
                counts[k] = counts.get(k, 0) + v
            for k, v in s.get("row_errors", {}).items():
                row_errors[k] = row_errors.get(k, 0) + v
        run["summary"] = {**run["summary"], "risk_counts": counts, "row_errors": row_errors}
    _write_run(layout, run)
